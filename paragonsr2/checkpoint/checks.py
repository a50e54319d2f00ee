"""Checks on a state dict against its detected configuration, all before a network is built.

Order matters for hostile files: limits (from key names and shapes only) -> the number of keys the names
imply -> the complete key/shape table (arithmetic, :func:`~paragonsr2.arch.shapes.state_dict_shapes`, listed
only when about as long as the file's) -> every tensor holds the values its shape
claims (a stride-0 view in a pickle can claim gigabytes) -> finite values. Each raises CheckpointError
naming the file and the key.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from ..arch.network import ParagonConfig
from ..arch.shapes import key_count, state_dict_shapes
from ..arch.variants import LIMIT_FACTOR, LIMITS
from ..errors import CheckpointError
from .detect import Detection


def few(keys, n: int = 5) -> str:
    """The first n of ``keys`` (sorted) and how many more there are."""
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def _value(config: ParagonConfig, field: str) -> int:
    return config.hidden if field == "hidden" else getattr(config, field)


def check_limits(detection: Detection, source: str) -> None:
    """Every size the file declares lies in arch.variants.LIMITS (up to 10x the largest variant), band odd."""
    config = detection.config
    for field, (lo, hi) in LIMITS.items():
        value = _value(config, field)
        if not lo <= value <= hi:
            key = detection.evidence.get(field, "?")
            raise CheckpointError(
                f"{source}: key {key!r} declares {field} = {value}, outside {lo}..{hi} (the largest known "
                f"ParagonSR2 variant x{LIMIT_FACTOR}). The file is corrupt or crafted; it is not loaded.")
    if config.band % 2 == 0:
        raise CheckpointError(f"{source}: key {detection.evidence['band']!r} declares an even band "
                              f"{config.band}; ParagonSR2 bands are odd. The file is corrupt or crafted.")


KEY_TABLE_SLACK = 4096  # key-table entries listed beyond twice the file's keys (about 1 MB, a millisecond)


def check_key_count(shapes: Mapping[str, tuple[int, ...]], detection: Detection, source: str) -> None:
    """Refuses a file whose key names describe a network of far more tensors than it holds (a stray
    ``body.119.x`` key), before the key table of that network is listed."""
    config, expected = detection.config, key_count(detection.config)
    if expected > 2 * len(shapes) + KEY_TABLE_SLACK:
        keys = ", ".join(repr(detection.evidence[f]) for f in ("num_groups", "num_blocks", "hr_blocks"))
        raise CheckpointError(
            f"{source}: keys {keys} describe a network of {expected} tensors ({config.num_groups} groups x "
            f"{config.num_blocks} blocks, {config.hr_blocks} HR blocks) but the file holds {len(shapes)}: "
            "stray or missing keys. The file is corrupt or crafted; it is not loaded.")


def check_keys_and_shapes(shapes: Mapping[str, tuple[int, ...]], config: ParagonConfig, source: str) -> None:
    """The keys are exactly those of ``config``'s network and every shape matches."""
    expected = state_dict_shapes(config)
    missing = expected.keys() - shapes.keys()
    unexpected = shapes.keys() - expected.keys()
    if missing or unexpected:
        parts = [f"missing keys: {few(missing)}" if missing else "",
                 f"unexpected keys: {few(unexpected)}" if unexpected else ""]
        raise CheckpointError(f"{source}: does not match a ParagonSR2 generation {config.generation} "
                              f"network ({'; '.join(p for p in parts if p)}). The file is incomplete or "
                              "from another architecture.")
    wrong = [f"{k} {tuple(shapes[k])} (expected {shape})"
             for k, shape in expected.items() if tuple(shapes[k]) != shape]
    if wrong:
        raise CheckpointError(f"{source}: wrong tensor shapes: {few(wrong, 3)}. The file is corrupt or "
                              "mixes two models.")


def check_storage(state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Every tensor is backed by as many stored values as its shape has (no overlapping/stride-0 views)."""
    thin = [k for k, v in state_dict.items()
            if v.numel() and v.untyped_storage().nbytes() < v.numel() * v.element_size()]
    if thin:
        raise CheckpointError(f"{source}: tensors {few(thin)} claim more values than the file stores "
                              "(overlapping views); the file is crafted or corrupt and is not loaded.")


def check_finite(state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """No NaN or Inf in floating-point tensors."""
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{source}: non-finite (NaN/Inf) weights in {few(bad)}; the training run "
                              "that wrote it diverged. Use an earlier checkpoint.")


def check_state_dict(state_dict: Mapping[str, torch.Tensor], detection: Detection, source: str) -> None:
    """All checks, cheapest and most protective first."""
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    check_limits(detection, source)
    check_key_count(shapes, detection, source)
    check_keys_and_shapes(shapes, detection.config, source)
    check_storage(state_dict, source)
    check_finite(state_dict, source)
