"""load_model in named steps: read -> detect -> validate -> resolve -> build -> load -> repair -> fuse ->
describe; and save_model.

Nothing is allocated for the network before the file's keys and shapes are checked against the detected
configuration (checks.py), so a small crafted file cannot make the loader allocate gigabytes.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..arch.network import DEFAULT_ALPHA, ParagonConfig, ParagonSR2
from ..arch.upsampler import Scale, scale_pair
from ..arch.variants import variant_name
from ..description import ModelDescription
from ..errors import CheckpointError, NotParagonError
from ..fuse import DeployParagonSR2, deploy_fuse, release_fuse
from ..validate import InvalidValueError, check_alpha, check_scale, parse_metadata_alpha, parse_metadata_scale
from .bundled import resolve_model, scale_warning
from .checks import check_state_dict
from .detect import Detection, detect, other_architecture, scale_from_filename
from .files import PREFIXES, StateDict, read_checkpoint, unwrap_state_dict, write_safetensors
from .settings import ALPHA_KEY, SCALE_KEY, settings_tensors, split_settings

log = logging.getLogger("paragonsr2")

FORMAT_NAME = "paragonsr2"
FORMAT_VERSION = "1"
EMA_WARNING = ("EMA file: {n} block(s) hold trained tracked kernels but tracked_initialized=False (upstream's "
               "EMA bug), so upstream runs them with identity kernels. Using the trained kernels; pass "
               "strict_upstream=True to reproduce upstream's output.")
DEFAULT_SCALE = (2.0, 2.0)  # every upstream config trains x2
FUSE_MODES = {False: "no", None: "no", "no": "no", "release": "release", True: "deploy", "deploy": "deploy"}


@dataclass
class Checkpoint:
    """A file or state dict after reading: weights, this project's settings keys, metadata, names."""

    weights: StateDict
    settings: dict[str, object]  # settings.SCALE_KEY / ALPHA_KEY -> list of floats (or "unreadable")
    metadata: Mapping[str, str]
    name: str  # file name ("state dict" for dicts): scales are read from it
    label: str  # how messages name the source (the full path for files)
    is_file: bool


@dataclass
class Settings:
    """Scale and alpha for this load, where each came from, and what the file says it was trained for."""

    scale: tuple[float, float]
    scale_source: str
    upsampler_alpha: float
    alpha_source: str
    trained_scale: tuple[float, float] | None
    warnings: list[str] = field(default_factory=list)


# -- read ---------------------------------------------------------------------------------------------------

def read_source(source) -> Checkpoint:
    """A path (.safetensors/.pth/.pt/.ckpt), the name of a bundled model, or a state dict (wrappers and prefixes
    allowed) -> Checkpoint."""
    if isinstance(source, (str, os.PathLike)):
        source = resolve_model(source)
        state_dict, metadata = read_checkpoint(source)
        name, label = Path(source).name, str(source)
    elif isinstance(source, Mapping):
        state_dict, metadata = unwrap_state_dict(source), {}
        name = label = "state dict"
    else:
        raise TypeError(f"load_model takes a file path or a state dict, not {type(source).__name__}")
    weights, settings = split_settings(state_dict)
    return Checkpoint(weights, settings, metadata, name, label, is_file=isinstance(source, (str, os.PathLike)))


# -- detect -------------------------------------------------------------------------------------------------

def detect_architecture(ckpt: Checkpoint) -> Detection:
    """Generation and hyperparameters from key names and shapes; NotParagonError names the source and what
    the file is instead: the architecture spandrel recognises (then spandrel-based loaders load it), else our
    own guess (``other_architecture``)."""
    shapes = {k: tuple(v.shape) for k, v in ckpt.weights.items()}
    try:
        return detect(shapes)
    except NotParagonError as e:
        spandrel_name = _spandrel_hint(ckpt.weights)
        ours = other_architecture(shapes)
        where = (f"; spandrel recognises it as {spandrel_name}: load it with a spandrel-based loader (ComfyUI's "
                 "core 'Load Upscale Model', chaiNNer)" if spandrel_name else "")
        raise NotParagonError(f"{ckpt.label}: {e}{where}", architecture=spandrel_name or (ours and ours.value),
                              spandrel_loads=spandrel_name is not None) from None


def _spandrel_hint(sd: Mapping[str, torch.Tensor]) -> str | None:
    """The architecture spandrel detects in a state dict, if spandrel is installed. The keys are tried as read
    and with each common prefix put back (reading strips a prefix that all keys share; ESRGAN's own keys all
    start with ``model.``)."""
    try:
        from spandrel import MAIN_REGISTRY
    except ImportError:
        return None
    for keys in (sd, *({prefix + k: v for k, v in sd.items()} for prefix in PREFIXES)):
        for support in MAIN_REGISTRY.architectures("detection"):
            try:
                if support.architecture.id != "ParagonSR2" and support.detect(keys):
                    return support.architecture.name
            except Exception:  # noqa: BLE001, S112 - a detector failing on foreign keys means "not this one"
                continue
    return None


# -- resolve scale and alpha --------------------------------------------------------------------------------

def _metadata_raw(metadata: Mapping[str, str], key: str):
    """A metadata value as stored (text), or from a JSON blob of hyperparameters some trainers write."""
    if key in metadata:
        return metadata[key]
    for value in metadata.values():
        if isinstance(value, str) and value.startswith("{"):
            try:
                blob = json.loads(value)
            except ValueError:
                continue
            if isinstance(blob, dict) and key in blob:
                return blob[key]
    return None


def _checked(check, name: str):
    """A parser in validate.parse_metadata_* style from a validate.check_* function: (value, None) or
    (None, warning)."""
    def parse(value):
        try:
            return check(value, name), None
        except InvalidValueError as e:
            return None, f"{e}; ignored"
    return parse


def _first_usable(candidates, warnings: list[str]):
    """(value, source) of the first candidate (source, raw value, parser) whose value parses; absent (None)
    raw values are skipped, unusable ones add their warning."""
    for source, raw, parse in candidates:
        if raw is None:
            continue
        value, problem = parse(raw)
        if value is not None:
            return value, source
        warnings.append(problem)
    return None


def _single(numbers):
    """The number in a one-element settings list; anything else as it is (and refused by the check)."""
    return numbers[0] if isinstance(numbers, list) and len(numbers) == 1 else numbers


def _stored_scale(ckpt: Checkpoint, warnings: list[str]) -> tuple[tuple[float, float], str] | None:
    """The scale the file records (metadata > settings key > file name), unusable values warned and skipped."""
    found = _first_usable([
        ("metadata", _metadata_raw(ckpt.metadata, "scale"), parse_metadata_scale),
        ("state dict", ckpt.settings.get(SCALE_KEY), _checked(check_scale, f"state-dict key {SCALE_KEY}")),
        ("file name", scale_from_filename(ckpt.name) if ckpt.is_file else None,
         _checked(check_scale, f"file-name scale of {ckpt.name}")),
    ], warnings)
    return (scale_pair(found[0]), found[1]) if found else None


def _stored_alpha(ckpt: Checkpoint, warnings: list[str]) -> tuple[float, str] | None:
    """The alpha the file records (metadata > settings key), unusable values warned and skipped."""
    return _first_usable([
        ("metadata", _metadata_raw(ckpt.metadata, "upsampler_alpha"), parse_metadata_alpha),
        ("state dict", _single(ckpt.settings.get(ALPHA_KEY)), _checked(check_alpha, f"state-dict key {ALPHA_KEY}")),
    ], warnings)


def resolve_settings(ckpt: Checkpoint, config: ParagonConfig, scale: Scale | None,
                     upsampler_alpha: float | None) -> Settings:
    """Scale: argument > metadata > state-dict key > file name > 2 (logged). Alpha: argument > metadata >
    state-dict key > the generation's default. Arguments are checked (InvalidValueError); stored values that
    are unusable are ignored with a warning in the description."""
    warnings: list[str] = []
    stored_scale = _stored_scale(ckpt, warnings)
    stored_alpha = _stored_alpha(ckpt, warnings)
    trained = stored_scale[0] if stored_scale else None
    if scale is not None:
        scale_value, scale_source = scale_pair(check_scale(scale)), "argument"
    elif stored_scale is not None:
        scale_value, scale_source = stored_scale
    else:
        scale_value, scale_source = DEFAULT_SCALE, "default"
        log.warning("%s: its scale is stored nowhere (no usable metadata, no %s key, no 2x/x2 in the file name); "
                    "assuming 2x. Set it with the 'Load ParagonSR2 Model' node's scale, load_model(scale=N), "
                    "or write it into the file: python -m paragonsr2 convert IN OUT --scale N",
                    ckpt.label, SCALE_KEY)
    if upsampler_alpha is not None:
        alpha, alpha_source = check_alpha(upsampler_alpha), "argument"
    elif stored_alpha is not None:
        alpha, alpha_source = stored_alpha
    else:
        alpha, alpha_source = DEFAULT_ALPHA[config.generation], "generation default"
    return Settings(scale_value, scale_source, alpha, alpha_source, trained, warnings)


# -- build, load, repair, fuse ------------------------------------------------------------------------------

def build_network(config: ParagonConfig, settings: Settings) -> ParagonSR2:
    """The network for a checked configuration (weights still at their initial values)."""
    return ParagonSR2(config, settings.scale, settings.upsampler_alpha)


def load_weights(model: ParagonSR2, weights: StateDict) -> ParagonSR2:
    """Copies checked weights into the network (strict: keys and shapes were checked before building)."""
    model.load_state_dict(weights, strict=True)
    return model


def repair_ema_flags(model: ParagonSR2) -> int:
    """Sets tracked_initialized where trained kernels sit behind a False flag; returns the count."""
    count = 0
    for module in model.modules():
        flag = getattr(module, "tracked_initialized", None)
        if flag is not None and not bool(flag) and bool(module.tracked_kernel.abs().sum() > 0):
            flag.fill_(True)
            count += 1
    return count


def _stored_fusion(config: ParagonConfig) -> str:
    """"release" when the file was saved release-fused (no kernel generator; A0: merged branches)."""
    if config.a0_fused or (not config.has_generator and config.generation != "A0"):
        return "release"
    return "no"


def fuse_mode(fuse: bool | str | None) -> str:
    """"no", "release" or "deploy" from load_model's ``fuse`` argument."""
    if isinstance(fuse, (bool, str, type(None))) and fuse in FUSE_MODES:
        return FUSE_MODES[fuse]
    raise ValueError(f"fuse must be False, 'release' or 'deploy', got {fuse!r}")


def apply_fusion(model: ParagonSR2, mode: str) -> tuple[ParagonSR2 | DeployParagonSR2, str]:
    """(model, fusion state) after the requested fusion."""
    if mode == "deploy":
        return deploy_fuse(model), "deploy"
    if mode == "release":
        return release_fuse(model), "release"
    return model, _stored_fusion(model.config)


# -- describe -----------------------------------------------------------------------------------------------

def describe(ckpt: Checkpoint, config: ParagonConfig, settings: Settings, params: int, fused: str,
             repaired: int) -> ModelDescription:
    """The description with every warning: unusable stored values, EMA repair, scale above the trained one."""
    warnings = list(settings.warnings) + ([EMA_WARNING.format(n=repaired)] if repaired else [])
    desc = ModelDescription(
        source=ckpt.name, generation=config.generation, variant=_variant(config, ckpt.metadata),
        num_feat=config.num_feat, num_groups=config.num_groups, num_blocks=config.num_blocks,
        ffn_expansion=config.ffn_expansion, band=config.band, hr_blocks=config.hr_blocks,
        in_chans=config.in_chans, out_chans=config.out_chans, params=params, fused=fused,
        scale=settings.scale, scale_source=settings.scale_source, upsampler_alpha=settings.upsampler_alpha,
        alpha_source=settings.alpha_source, ema_repaired_blocks=repaired, warnings=warnings,
        trained_scale=settings.trained_scale)
    above_trained = scale_warning(desc)
    if above_trained:
        desc.warnings.append(above_trained)
    return desc


def _variant(config: ParagonConfig, metadata: Mapping[str, str]) -> str:
    name = variant_name(config)
    return name if name != "custom" else str(metadata.get("variant", "custom"))[:64]


def load_model(source, *, scale: Scale | None = None, upsampler_alpha: float | None = None,
               strict_upstream: bool = False, fuse: bool | str = False, device=None, dtype=None):
    """Loads a ParagonSR2 checkpoint of any generation and variant.

    source: a path (.safetensors/.pth/.pt/.ckpt) or a state dict (wrappers and prefixes allowed).
    scale: a number or (sh, sw) in validate.SCALE; upsampler_alpha in [0, 1] (InvalidValueError otherwise).
    fuse: False, "release" (drop the kernel generator) or True/"deploy" (fold for speed).
    Returns an eval-mode module: [B,3,H,W] float in [0,1] -> raw [B,3,round(H*sh),round(W*sw)];
    its ``.description`` is a :class:`ModelDescription`.
    """
    mode = fuse_mode(fuse)
    ckpt = read_source(source)
    detection = detect_architecture(ckpt)
    check_state_dict(ckpt.weights, detection, ckpt.label)
    config = detection.config
    settings = resolve_settings(ckpt, config, scale, upsampler_alpha)
    model = load_weights(build_network(config, settings), ckpt.weights)
    params = sum(p.numel() for p in model.parameters())
    repaired = 0 if strict_upstream else repair_ema_flags(model)
    model, fused = apply_fusion(model, mode)
    model.eval()
    if device is not None or dtype is not None:
        model.to(device=device, dtype=dtype)
    model.description = describe(ckpt, config, settings, params, fused, repaired)
    return model


# -- save ---------------------------------------------------------------------------------------------------

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


def save_model(model: ParagonSR2, path, extra_metadata: Mapping[str, str] | None = None, *,
               upstream: bool = False) -> Path:
    """Writes upstream-layout flat keys to .safetensors with this project's metadata, atomically.

    The file also holds the model's scale and alpha as ``paragonsr2_*`` keys (settings.py) so that loaders
    that see only the state dict (ComfyUI's core loader, spandrel) use the right scale; ``upstream=True``
    leaves them out: exactly upstream's keys, for upstream code's strict load.
    """
    if isinstance(model, DeployParagonSR2):
        raise CheckpointError("a deploy-fused model has no upstream layout; save the model loaded with "
                              "fuse=False or fuse='release' instead (deploy fusion is redone at load).")
    path = Path(path)
    if path.suffix.lower() not in (".safetensors", ".sft"):
        raise CheckpointError(f"{path}: save as .safetensors (this project never writes pickles).")
    metadata = model_metadata(model)
    metadata.update(extra_metadata or {})
    tensors = dict(model.state_dict())
    if not upstream:
        tensors.update(settings_tensors(model.scale, model.upsampler_alpha))
    return write_safetensors(path, tensors, metadata)
