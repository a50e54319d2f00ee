"""Safe reading and atomic writing of checkpoint files.

Reads .safetensors (with metadata) and .pth/.pt/.ckpt/.bin through ``torch.load(weights_only=True)``
only; unwraps trainer wrapper dicts and strips key prefixes.
"""
from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..errors import CheckpointError, UnsafeCheckpointError
from ..filekind import CHECKPOINT_KINDS, file_kind

StateDict = dict[str, torch.Tensor]

# spandrel's order: EMA weights win over plain params.
WRAPPER_KEYS = ("model_state_dict", "state_dict", "params_ema", "params-ema", "params", "model", "net", "netG")
PREFIXES = ("module.", "netG.", "model.", "net.", "generator.")
SAFETENSORS_EXT = (".safetensors", ".sft")
PICKLE_EXT = (".pth", ".pt", ".ckpt", ".bin")


def _read_safetensors(path: Path) -> tuple[StateDict, dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            return {k: f.get_tensor(k) for k in f.keys()}, metadata  # noqa: SIM118
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError / OSError types
        raise CheckpointError(f"{path}: the .safetensors file is truncated or corrupt ({e}). "
                              "Download it again or re-export it.") from None


def _read_pickle(path: Path) -> tuple[object, dict[str, str]]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "weights_only" in text or "global" in text.lower():
            raise UnsafeCheckpointError(
                f"{path}: this pickle needs arbitrary Python objects to load, and running them could "
                "execute code, so it is refused. Convert it to .safetensors with the tool that made it, "
                "or save only its state dict.") from None
        raise CheckpointError(f"{path}: the file is truncated or corrupt ({text.splitlines()[0]}).") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        first = str(e).splitlines()[0].split(". ")[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: the file is truncated or corrupt, or not a PyTorch checkpoint "
                              f"({first}). Download it again.") from None
    metadata = {}
    if isinstance(obj, Mapping) and isinstance(obj.get("metadata"), Mapping):
        metadata = {str(k): text for k, v in obj["metadata"].items() if (text := _metadata_text(v)) is not None}
    return obj, metadata


def _plain(value):
    """JSON stand-in for objects a weights-only pickle may hold: small tensors as numbers, others by type."""
    if isinstance(value, torch.Tensor) and value.numel() <= 16:
        return value.item() if value.numel() == 1 else value.tolist()
    return f"<{type(value).__name__}>"


def _metadata_text(value) -> str | None:
    """A pickle's metadata value as safetensors-style text (small tensors as numbers); None when unusable."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=_plain)
    except (TypeError, ValueError, RecursionError):
        return None


def unwrap_state_dict(obj: object, source: str = "state dict") -> StateDict:
    """Finds the tensor dict inside trainer wrappers and strips a common key prefix."""
    for _ in range(4):
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None and len(obj) == 1 and isinstance(next(iter(obj.values())), Mapping):
            inner = next(iter(obj.values()))
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: holds a {type(obj).__name__}, not a state dict of tensors.")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise CheckpointError(f"{source}: contains no tensors; it is not a model checkpoint.")
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def read_checkpoint(path: str | os.PathLike) -> tuple[StateDict, dict[str, str]]:
    """(flat state dict, metadata) from a file; raises CheckpointError with the path on failure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file.")
    try:
        kind = file_kind(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror or e}).") from None
    if kind not in CHECKPOINT_KINDS and not kind.startswith(("unknown", "a damaged")):
        raise CheckpointError(f"{path}: this is {kind}, not a model checkpoint. Pass a ParagonSR2 .safetensors "
                              "or .pth file, or the name of a bundled model.")
    suffix = path.suffix.lower()
    if kind == "safetensors" or (suffix in SAFETENSORS_EXT and kind not in CHECKPOINT_KINDS):
        sd, metadata = _read_safetensors(path)
        return unwrap_state_dict(sd, str(path)), metadata
    if kind in CHECKPOINT_KINDS or suffix in PICKLE_EXT:
        obj, metadata = _read_pickle(path)
        return unwrap_state_dict(obj, str(path)), metadata
    raise CheckpointError(f"{path}: unsupported file type {suffix!r}; use .safetensors, .pth, .pt or .ckpt.")


def write_safetensors(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor],
                      metadata: Mapping[str, str] | None = None) -> Path:
    """Writes a flat state dict atomically (contiguous CPU copies) with string metadata."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
