"""Run-time settings (scale, upsampler_alpha) carried inside the state dict itself.

ComfyUI's core "Load Upscale Model" hands spandrel the state dict only (no file name, no metadata), so
files this project writes also hold their settings as tiny float32 tensors under ``paragonsr2_*`` keys.
No upstream key starts with ``paragonsr2_`` (upstream keys are module paths such as ``conv_in.weight``),
so the keys cannot clash; :func:`upstream_state_dict` removes them for upstream code, which loads
state dicts strictly.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

SETTINGS_PREFIX = "paragonsr2_"
SCALE_KEY = SETTINGS_PREFIX + "scale"  # float32 [2]: (sh, sw)
ALPHA_KEY = SETTINGS_PREFIX + "upsampler_alpha"  # float32 [1]
MAX_SETTING_VALUES = 2  # a settings tensor holds at most a pair of numbers


def is_setting(key: str) -> bool:
    """True for this project's settings keys (never a weight)."""
    return key.startswith(SETTINGS_PREFIX)


def settings_tensors(scale: tuple[float, float], upsampler_alpha: float) -> dict[str, torch.Tensor]:
    """The settings keys for a model's scale (sh, sw) and alpha."""
    return {SCALE_KEY: torch.tensor([float(scale[0]), float(scale[1])], dtype=torch.float32),
            ALPHA_KEY: torch.tensor([float(upsampler_alpha)], dtype=torch.float32)}


def split_settings(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """(weights, settings): settings maps each ``paragonsr2_*`` key to its numbers (a list of floats, or the
    text "unreadable" when the tensor is not one or two numbers). Unknown settings keys are kept too."""
    settings: dict[str, object] = {}
    for key, tensor in state_dict.items():
        if is_setting(key):
            usable = 0 < tensor.numel() <= MAX_SETTING_VALUES and not tensor.is_complex()
            settings[key] = [float(v) for v in tensor.detach().flatten().tolist()] if usable else "unreadable"
    return upstream_state_dict(state_dict), settings


def upstream_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict without this project's settings keys: exactly upstream's keys, for upstream code."""
    return {k: v for k, v in state_dict.items() if not is_setting(k)}
