"""A lightweight embedded ParagonSR2 trainer (fidelity pretrain, optional perceptual finetune).

Python API: :func:`train` with a :class:`TrainConfig` and callbacks (progress, loss, cancel).
CLI: ``python -m trainer --config FILE`` (TOML or YAML).
"""
from .config import TrainConfig, load_config
from .loop import TrainCancelled, train

__all__ = ["TrainCancelled", "TrainConfig", "load_config", "train"]
