"""State dict -> generation and hyperparameters: pure functions over key names and shapes."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..arch.network import Generation, ParagonConfig
from ..errors import NotParagonError

Shapes = Mapping[str, Sequence[int]]

# Key names that tell generations and hyperparameters apart (upstream_compat.md sections 1 and 4).
BLOCK0 = "body.0.blocks.0."
TRANSFORMER0 = BLOCK0 + "transformer."
CONV_IN = "conv_in.weight"
CONV_OUT = "conv_out.weight"
PROJECT_IN0 = TRANSFORMER0 + "project_in.weight"
BAND0 = BLOCK0 + "context.dwconv_w.weight"
SHARPEN_H = "magic_upsampler.sharpen.conv_h.weight"
COMMON_KEYS = (CONV_IN, BLOCK0 + "context.dwconv_hw.weight", PROJECT_IN0, SHARPEN_H, CONV_OUT)
A0_REPARAM_KEY = TRANSFORMER0 + "dynamic_conv.conv3x3.weight"  # A0 as trained
A0_FUSED_KEY = TRANSFORMER0 + "dynamic_conv.weight"  # A0 after upstream's own fusion
B_HEAD_KEY = "hr_conv_in.weight"
A_HEAD_KEY = "upsampler.weight"
GAMMA0 = BLOCK0 + "ls1.gamma"
DEFAULT_BAND = 11  # files that lack the band key: upstream's default

GROUP_INDEX = re.compile(r"body\.(\d+)\.")
BLOCK_INDEX = re.compile(r"body\.0\.blocks\.(\d+)\.")
HR_BLOCK_INDEX = re.compile(r"hr_head\.(\d+)\.")


class Foreign(StrEnum):
    """Networks whose keys resemble a ParagonSR2 file; the value is what users are told."""

    DUAL_PATH = ("the later dual-path ParagonSR2 (Phhofm/ParagonSR2, Jan 2026: realtime/stream/photo/pro/"
                 "ultimate), a different network that this pack does not run yet")
    GENERATION_C = ("ParagonSR2 generation C, whose hidden GroupNorms leave no trace in the state dict, so it "
                    "cannot be rebuilt faithfully from the file alone")
    PARAGON_V1 = "the original ParagonSR (v1, with GroupNorm blocks), not ParagonSR2"
    ESRGAN = "ESRGAN / Real-ESRGAN (RRDBNet)"
    SPAN = "SPAN"
    COMPACT = "Compact (Real-ESRGAN SRVGGNetCompact)"


@dataclass(frozen=True)
class Detection:
    """What a state dict is: its configuration and, per config field, the key that decided it."""

    config: ParagonConfig
    evidence: dict[str, str]


def _highest(shapes: Shapes, regex: re.Pattern) -> tuple[int, str | None]:
    """(highest index + 1, the key holding it) over keys matching ``regex``; (0, None) when none match."""
    best, best_key = -1, None
    for key in shapes:
        if (m := regex.match(key)) and int(m.group(1)) > best:
            best, best_key = int(m.group(1)), key
    return best + 1, best_key


def other_architecture(shapes: Shapes) -> Foreign | None:
    """Which other network the keys look like, when they are not a loadable V2-lineage ParagonSR2."""
    keys = list(shapes)
    if any("detail_gain" in k or k.startswith(("base.sharp.", "up.0.")) for k in keys):
        return Foreign.DUAL_PATH
    if any(".cheap_dynamic." in k for k in keys) or len(shapes.get(GAMMA0, (0,))) == 4:
        return Foreign.GENERATION_C
    if CONV_IN in shapes and any(k.startswith("body.") for k in keys) and SHARPEN_H not in shapes \
            and any("norm" in k for k in keys):
        return Foreign.PARAGON_V1
    if any(k.startswith(("RRDB_trunk.", "model.1.sub.")) or ".rdb1." in k.lower() for k in keys):
        return Foreign.ESRGAN
    if any(k.startswith("block_1.c1_r.") for k in keys):
        return Foreign.SPAN
    if "body.0.weight" in shapes and "body.1.weight" in shapes and len(shapes["body.0.weight"]) == 4 \
            and not any("blocks" in k for k in keys):
        return Foreign.COMPACT
    return None


def _generation(shapes: Shapes) -> tuple[Generation, bool, str]:
    """(generation, A0 fused by upstream, the key that tells) or NotParagonError."""
    for key, generation, a0_fused in ((A0_REPARAM_KEY, "A0", False), (A0_FUSED_KEY, "A0", True),
                                      (B_HEAD_KEY, "B", False), (A_HEAD_KEY, "A", False)):
        if key in shapes:
            return generation, a0_fused, key
    raise NotParagonError(f"not a known ParagonSR2 generation: it has neither {B_HEAD_KEY!r} "
                          f"(generation B) nor {A_HEAD_KEY!r} (generation A)")


def _ffn_expansion(num_feat: int, hidden: int) -> float:
    """An expansion with int(C * ffn) == hidden (float rounding nudged)."""
    ffn = hidden / num_feat if num_feat else 0.0
    if int(num_feat * ffn) != hidden:
        ffn = (hidden + 0.5) / num_feat
    return ffn


def detect(shapes: Shapes) -> Detection:
    """Generation and every hyperparameter from key names and shapes; raises NotParagonError otherwise.

    Reads only names and shapes (nothing is allocated); the values are not range-checked here.
    """
    missing = [k for k in COMMON_KEYS if k not in shapes]
    other = other_architecture(shapes)
    if missing:
        what = f"it looks like {other}" if other else f"keys such as {missing[0]!r} are missing"
        raise NotParagonError(f"not a ParagonSR2 checkpoint: {what}")
    if other is Foreign.GENERATION_C:
        raise NotParagonError(f"not loadable: it looks like {other}")
    generation, a0_fused, generation_key = _generation(shapes)
    num_feat, in_chans = (tuple(shapes[CONV_IN]) + (0, 0))[:2]
    hidden = tuple(shapes[PROJECT_IN0])[0] if len(shapes[PROJECT_IN0]) else 0
    groups, group_key = _highest(shapes, GROUP_INDEX)
    blocks, block_key = _highest(shapes, BLOCK_INDEX)
    hr_blocks, hr_key = _highest(shapes, HR_BLOCK_INDEX) if generation == "B" else (0, None)
    band = tuple(shapes[BAND0])[-1] if len(shapes.get(BAND0, ())) else DEFAULT_BAND
    config = ParagonConfig(
        num_feat=num_feat, num_groups=groups, num_blocks=blocks, ffn_expansion=_ffn_expansion(num_feat, hidden),
        band=band, hr_blocks=hr_blocks, generation=generation, in_chans=in_chans,
        out_chans=tuple(shapes[CONV_OUT])[0] if len(shapes[CONV_OUT]) else 0,
        has_generator=any(".kernel_generator." in k for k in shapes), a0_fused=a0_fused)
    evidence = {"generation": generation_key, "num_feat": CONV_IN, "in_chans": CONV_IN, "hidden": PROJECT_IN0,
                "num_groups": group_key or CONV_IN, "num_blocks": block_key or PROJECT_IN0,
                "hr_blocks": hr_key or B_HEAD_KEY, "band": BAND0, "out_chans": CONV_OUT}
    return Detection(config, evidence)


def detect_config(shapes: Shapes) -> ParagonConfig:
    """Infers generation and every hyperparameter; raises NotParagonError otherwise."""
    return detect(shapes).config


_SCALE_PATTERNS = (
    re.compile(r"^(\d{1,2}(?:\.\d+)?)x", re.IGNORECASE),  # 2xName, 4x-Name, 1.5x_...
    re.compile(r"(?:^|[^a-z0-9])x(\d{1,2})(?![0-9])", re.IGNORECASE),  # ..._x4..., model-x2
    re.compile(r"(?:^|[^a-z0-9.])(\d{1,2})x(?:$|[^a-z0-9])", re.IGNORECASE),  # ..._4x_...
)


def scale_from_filename(name: str) -> float | None:
    """Scale encoded in a file name ("2xFoo", "Foo_x4", "foo_4x_bar"), or None."""
    stem = re.sub(r"\.(safetensors|sft|pth|pt|ckpt|bin|onnx)$", "", name.rsplit("/", 1)[-1], flags=re.I)
    for pattern in _SCALE_PATTERNS:
        if m := pattern.search(stem):
            value = float(m.group(1))
            if 0 < value <= 16:
                return value
    return None
