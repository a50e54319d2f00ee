"""`pip install .` into a fresh virtual environment, then `paragonsr2-train` from another folder: --data works,
a shipped config is found by name and its data path starts at the current folder. Opt-in (about a minute:
pip builds the wheel): PARAGONSR2_INSTALL_TEST=1."""
import os
import shutil
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(os.environ.get("PARAGONSR2_INSTALL_TEST") != "1",
                                reason="opt-in: PARAGONSR2_INSTALL_TEST=1 (builds and installs the package)")


def test_installed_command_works_from_any_folder(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)  # torch etc. come from the system
    bin_dir = env_dir / "bin"
    source = tmp_path / "source"  # a copy: the build leaves nothing in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "data", "runs", "build", "*.egg-info",
                                                                "__pycache__", "bench"))
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", str(source)], check=True)
    work = tmp_path / "elsewhere"
    (work / "photos").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((112, 112, 3)) * 255).astype(np.uint8)).save(work / "photos" / f"{i}.png")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def cli(*args):
        return subprocess.run([str(bin_dir / "paragonsr2-train"), *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)
    done = cli("--data", "photos", "--steps", "2", "--name", "smoke")
    assert done.returncode == 0, done.stderr
    published = work / "runs" / "2x_smoke" / "2x_smoke.safetensors"
    assert f"published {published}" in done.stdout and published.is_file()
    assert "images: 4 found, 3 for training, 1 for validation" in done.stderr
    origin = subprocess.run([str(bin_dir / "python"), "-c", "import trainer; print(trainer.__file__)"], cwd=work,
                            env=env, capture_output=True, text=True, check=True).stdout
    assert str(env_dir) in origin and str(source) not in origin  # the installed copy ran, not a checkout
    missing = cli("--config", "default_nano_x2")
    assert missing.returncode == 2 and str(work / "data" / "templates") in missing.stderr
    assert "paragonsr2-train --fetch-data" in missing.stderr
