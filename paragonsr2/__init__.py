"""ParagonSR2: load, run, fuse, export and train ParagonSR2 super-resolution models.

Public API: :func:`load_model`, :func:`save_model`, :func:`upscale`, :func:`export_onnx`.
This package imports nothing of ComfyUI; heavy optional packages are imported lazily.
"""
from .arch import ParagonConfig, ParagonSR2, variant_config
from .checkpoint import load_model, save_model
from .description import ModelDescription
from .engine import make_backend, upscale
from .errors import CheckpointError, NotParagonError, ParagonError, UnsafeCheckpointError, UpscaleCancelled
from .fuse import DeployParagonSR2, deploy_fuse, release_fuse
from .version import __version__

__all__ = ["CheckpointError", "DeployParagonSR2", "ModelDescription", "NotParagonError", "ParagonConfig",
           "ParagonError", "ParagonSR2", "UnsafeCheckpointError", "UpscaleCancelled", "__version__",
           "deploy_fuse", "load_model", "make_backend", "release_fuse", "save_model", "upscale",
           "variant_config"]
