"""load_model = read -> detect -> build -> load strictly -> repair/fuse -> describe; and save_model."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ..arch.network import DEFAULT_ALPHA, ParagonConfig, ParagonSR2
from ..arch.upsampler import Scale, scale_pair
from ..arch.variants import variant_name
from ..description import ModelDescription
from ..errors import CheckpointError
from ..fuse import DeployParagonSR2, deploy_fuse, release_fuse
from .detect import detect_config, scale_from_filename
from .files import read_checkpoint, unwrap_state_dict, write_safetensors

FORMAT_NAME = "paragonsr2"
FORMAT_VERSION = "1"
EMA_WARNING = ("EMA file: {n} block(s) hold trained tracked kernels but tracked_initialized=False (upstream's "
               "EMA bug), so upstream runs them with identity kernels. Using the trained kernels; pass "
               "strict_upstream=True to reproduce upstream's output.")


def _few(keys, n: int = 5) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def _check_finite(sd: Mapping[str, torch.Tensor], source: str) -> None:
    bad = [k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{source}: non-finite (NaN/Inf) weights in {_few(bad)}; the training run "
                              "that wrote it diverged. Use an earlier checkpoint.")


def _check_shapes(model: ParagonSR2, sd: Mapping[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = set(expected) - set(sd)
    unexpected = set(sd) - set(expected)
    if missing or unexpected:
        parts = [f"missing keys: {_few(missing)}" if missing else "",
                 f"unexpected keys: {_few(unexpected)}" if unexpected else ""]
        raise CheckpointError(f"{source}: does not match a ParagonSR2 generation {model.config.generation} "
                              f"network ({'; '.join(p for p in parts if p)}). The file is incomplete or "
                              "from another architecture.")
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if tuple(sd[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"{source}: wrong tensor shapes: {_few(wrong, 3)}. The file is corrupt or "
                              "mixes two models.")


def repair_ema_flags(model: ParagonSR2) -> int:
    """Sets tracked_initialized where trained kernels sit behind a False flag; returns the count."""
    count = 0
    for module in model.modules():
        flag = getattr(module, "tracked_initialized", None)
        if flag is not None and not bool(flag) and bool(module.tracked_kernel.abs().sum() > 0):
            flag.fill_(True)
            count += 1
    return count


def _meta_value(metadata: Mapping[str, str], key: str):
    if key in metadata:
        return json.loads(metadata[key]) if metadata[key][:1] in "[{0123456789.-" else metadata[key]
    for value in metadata.values():  # trainers that store one JSON blob of hyperparameters
        if isinstance(value, str) and value.startswith("{"):
            try:
                blob = json.loads(value)
            except ValueError:
                continue
            if isinstance(blob, dict) and key in blob:
                return blob[key]
    return None


def resolve_scale(scale, metadata, name) -> tuple[tuple[float, float], str]:
    """Scale: argument > file metadata > file name > 2."""
    if scale is not None:
        return scale_pair(scale), "argument"
    meta = _meta_value(metadata, "scale")
    if meta is not None:
        return scale_pair(meta), "metadata"
    from_name = scale_from_filename(name) if name else None
    if from_name is not None:
        return scale_pair(from_name), "file name"
    return (2.0, 2.0), "default"


def resolve_alpha(alpha, metadata, generation) -> tuple[float, str]:
    """Alpha: argument > metadata > generation default (A 1.0, B 0.5)."""
    if alpha is not None:
        return float(alpha), "argument"
    meta = _meta_value(metadata, "upsampler_alpha")
    if meta is not None:
        return float(meta), "metadata"
    return DEFAULT_ALPHA[generation], "generation default"


def load_model(source, *, scale: Scale | None = None, upsampler_alpha: float | None = None,
               strict_upstream: bool = False, fuse: bool | str = False, device=None, dtype=None):
    """Loads a ParagonSR2 checkpoint of any generation and variant.

    source: a path (.safetensors/.pth/.pt/.ckpt) or a state dict (wrappers and prefixes allowed).
    fuse: False, "release" (drop the kernel generator) or True/"deploy" (fold for speed).
    Returns an eval-mode module: [B,3,H,W] float in [0,1] -> raw [B,3,round(H*sh),round(W*sw)];
    its ``.description`` is a :class:`ModelDescription`.
    """
    if isinstance(source, (str, os.PathLike)):
        name = Path(source).name
        sd, metadata = read_checkpoint(source)
    elif isinstance(source, Mapping):
        name, metadata = "state dict", {}
        sd = unwrap_state_dict(source)
    else:
        raise TypeError(f"load_model takes a file path or a state dict, not {type(source).__name__}")
    label = str(source) if isinstance(source, (str, os.PathLike)) else name
    try:
        config = detect_config({k: tuple(v.shape) for k, v in sd.items()})
    except CheckpointError as e:
        hint = _spandrel_hint(sd) if "looks like" not in str(e) else None
        raise type(e)(f"{label}: {e}" + (f"; spandrel recognises it as {hint}: load it with ComfyUI's "
                                         "'Load Upscale Model' or chaiNNer" if hint else "")) from None
    _check_finite(sd, label)

    scale_value, scale_source = resolve_scale(scale, metadata, name)
    alpha, alpha_source = resolve_alpha(upsampler_alpha, metadata, config.generation)
    model = ParagonSR2(config, scale_value, alpha)
    _check_shapes(model, sd, label)
    model.load_state_dict(sd, strict=True)
    params = sum(p.numel() for p in model.parameters())

    warnings: list[str] = []
    repaired = 0 if strict_upstream else repair_ema_flags(model)
    if repaired:
        warnings.append(EMA_WARNING.format(n=repaired))
    fused = "release" if not config.has_generator and config.generation != "A0" else "no"
    if config.a0_fused:
        fused = "release"
    if fuse in (True, "deploy"):
        model = deploy_fuse(model)
        fused = "deploy"
    elif fuse == "release":
        model = release_fuse(model)
        fused = "release"
    elif fuse not in (False, None, "no"):
        raise ValueError(f"fuse must be False, 'release' or 'deploy', got {fuse!r}")
    model.eval()
    if device is not None or dtype is not None:
        model.to(device=device, dtype=dtype)
    model.description = ModelDescription(
        source=name, generation=config.generation, variant=_variant(config, metadata),
        num_feat=config.num_feat, num_groups=config.num_groups, num_blocks=config.num_blocks,
        ffn_expansion=config.ffn_expansion, band=config.band, hr_blocks=config.hr_blocks,
        in_chans=config.in_chans, out_chans=config.out_chans, params=params, fused=fused,
        scale=scale_value, scale_source=scale_source, upsampler_alpha=alpha, alpha_source=alpha_source,
        ema_repaired_blocks=repaired, warnings=warnings)
    return model


def _spandrel_hint(sd: Mapping[str, torch.Tensor]) -> str | None:
    """The architecture spandrel detects in a state dict, if spandrel is installed."""
    try:
        from spandrel import MAIN_REGISTRY
    except ImportError:
        return None
    for support in MAIN_REGISTRY.architectures("detection"):
        try:
            if support.architecture.id != "ParagonSR2" and support.detect(sd):
                return support.architecture.name
        except Exception:  # noqa: BLE001, S112 - a detector failing on foreign keys means "not this one"
            continue
    return None


def _variant(config: ParagonConfig, metadata: Mapping[str, str]) -> str:
    name = variant_name(config)
    return name if name != "custom" else str(metadata.get("variant", "custom"))


def model_metadata(model: ParagonSR2 | DeployParagonSR2) -> dict[str, str]:
    """This project's safetensors metadata for a model."""
    cfg = model.config
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": "ParagonSR2",
        "generation": cfg.generation,
        "variant": variant_name(cfg),
        "config": json.dumps(cfg.as_dict()),
        "scale": json.dumps(list(model.scale) if model.scale[0] != model.scale[1] else model.scale[0]),
        "upsampler_alpha": json.dumps(model.upsampler_alpha),
    }


def save_model(model: ParagonSR2, path, extra_metadata: Mapping[str, str] | None = None) -> Path:
    """Writes upstream-layout flat keys to .safetensors with this project's metadata, atomically."""
    if isinstance(model, DeployParagonSR2):
        raise CheckpointError("a deploy-fused model has no upstream layout; save the model loaded with "
                              "fuse=False or fuse='release' instead (deploy fusion is redone at load).")
    path = Path(path)
    if path.suffix.lower() not in (".safetensors", ".sft"):
        raise CheckpointError(f"{path}: save as .safetensors (this project never writes pickles).")
    metadata = model_metadata(model)
    metadata.update(extra_metadata or {})
    return write_safetensors(path, model.state_dict(), metadata)
