"""The documented install (requirements.txt, what ComfyUI-Manager and comfy-cli install) brings the fast CPU path
only where PyPI has wheels for it, stays installable line by line, and equals the slim install plus that path."""
import tomllib
from pathlib import Path

import pytest

packaging = pytest.importorskip("packaging.requirements")
from packaging.requirements import Requirement  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAST_PATH = {"openvino", "onnx", "onnxruntime"}  # OpenVINO runs the ONNX graph that ONNX Runtime verified


def _lines(name: str) -> list[str]:
    return [line.strip() for line in (ROOT / name).read_text().splitlines() if line.strip()
            and not line.lstrip().startswith("#")]


def _env(system: str, machine: str, python: str = "3.12") -> dict:
    return {"sys_platform": system, "platform_machine": machine, "python_version": python,
            "python_full_version": f"{python}.0", "implementation_name": "cpython", "os_name": "posix",
            "platform_system": {"linux": "Linux", "win32": "Windows", "darwin": "Darwin"}[system]}


def test_each_line_installs_on_its_own():
    """ComfyUI-Manager runs `pip install <line>` for each line that does not start with '#': every line must be
    one complete requirement (no -r, no options, no trailing comment)."""
    for line in _lines("requirements.txt") + _lines("requirements-slim.txt"):
        assert not line.startswith("-") and " #" not in line, line
        Requirement(line)


def test_documented_install_is_the_slim_one_plus_the_fast_path():
    full = [Requirement(line) for line in _lines("requirements.txt")]
    slim = [Requirement(line) for line in _lines("requirements-slim.txt")]
    assert [str(r) for r in full[:len(slim)]] == [str(r) for r in slim]
    assert {r.name for r in full[len(slim):]} == FAST_PATH
    assert not any(r.name in ("torch", "torchvision") for r in full)  # never replace ComfyUI's torch
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["fast"]
    assert sorted(extras) == sorted(str(r) for r in full[len(slim):])


@pytest.mark.parametrize(("env", "installs"), [
    (_env("linux", "x86_64"), True), (_env("win32", "AMD64", "3.10"), True), (_env("darwin", "arm64", "3.14"), True),
    (_env("linux", "aarch64"), False),  # wheels need glibc >= 2.31, which a marker cannot check
    (_env("win32", "ARM64"), False), (_env("darwin", "x86_64"), False), (_env("linux", "x86_64", "3.15"), False),
])
def test_fast_path_only_where_wheels_exist(env, installs):
    full = [Requirement(line) for line in _lines("requirements.txt")]
    for req in full:
        if req.name in FAST_PATH:
            assert req.marker.evaluate(env) is installs, (req.name, env)
        else:
            assert req.marker is None
