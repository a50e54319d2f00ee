"""The package version, read from its one source: `pyproject.toml` (a checkout, e.g. under ComfyUI's
custom_nodes) or the installed distribution's metadata (`pip install .`)."""
from __future__ import annotations

from pathlib import Path


def _read_version() -> str:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        with open(pyproject, "rb") as f:
            project = tomllib.load(f).get("project", {})
        if project.get("name") == "paragonsr2" and "version" in project:
            return str(project["version"])
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paragonsr2")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _read_version()
