"""ParagonSR2: load, run, fuse, export and train ParagonSR2 super-resolution models.

Public API: :func:`load_model`, :func:`save_model`, :func:`upscale`, :func:`export_onnx`.
This package imports nothing of ComfyUI; heavy optional packages are imported lazily, and so is torch:
the names below are resolved on first use (PEP 562), so that ``python -m paragonsr2 --help`` stays fast.
"""
from importlib import import_module

from .errors import CheckpointError, NotParagonError, ParagonError, UnsafeCheckpointError, UpscaleCancelled
from .version import __version__

_LAZY = {"ParagonConfig": "arch", "ParagonSR2": "arch", "variant_config": "arch", "load_model": "checkpoint",
         "save_model": "checkpoint", "ModelDescription": "description", "make_backend": "engine",
         "upscale": "engine", "DeployParagonSR2": "fuse", "deploy_fuse": "fuse", "release_fuse": "fuse"}

__all__ = ["CheckpointError", "DeployParagonSR2", "ModelDescription", "NotParagonError", "ParagonConfig",
           "ParagonError", "ParagonSR2", "UnsafeCheckpointError", "UpscaleCancelled", "__version__",
           "deploy_fuse", "load_model", "make_backend", "release_fuse", "save_model", "upscale",
           "variant_config"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # resolved once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
