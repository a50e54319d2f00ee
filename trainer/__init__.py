"""A lightweight embedded ParagonSR2 trainer (fidelity pretrain, optional perceptual finetune).

Python API: :func:`train` with a :class:`TrainConfig` and callbacks (progress, loss, cancel); failures that a
user can fix raise :class:`TrainError` (one line). CLI: ``python -m trainer --config FILE`` (TOML or YAML).
"""
from ._core import TrainError
from .config import TrainConfig, load_config
from .loop import TrainCancelled, TrainResult, train

__all__ = ["TrainCancelled", "TrainConfig", "TrainError", "TrainResult", "load_config", "train"]
