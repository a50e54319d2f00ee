"""State dict -> generation and hyperparameters: pure functions over key names and shapes."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..arch.network import ParagonConfig
from ..errors import NotParagonError

Shapes = Mapping[str, Sequence[int]]

COMMON_KEYS = (
    "conv_in.weight",
    "body.0.blocks.0.context.dwconv_hw.weight",
    "body.0.blocks.0.transformer.project_in.weight",
    "magic_upsampler.sharpen.conv_h.weight",
    "conv_out.weight",
)
_T = "body.0.blocks.0.transformer."


def _count(shapes: Shapes, pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for k in shapes if (m := regex.match(k))}
    return max(found) + 1 if found else 0


def other_architecture(shapes: Shapes) -> str | None:
    """A description of what the keys look like when they are not a V2-lineage ParagonSR2."""
    keys = list(shapes)
    if any("detail_gain" in k or k.startswith(("base.sharp.", "up.0.")) for k in keys):
        return ("the later dual-path ParagonSR2 (Phhofm/ParagonSR2, Jan 2026: realtime/stream/photo/pro/"
                "ultimate), a different network that this pack does not run yet")
    if any(".cheap_dynamic." in k for k in keys) or len(shapes.get("body.0.blocks.0.ls1.gamma", (0,))) == 4:
        return ("ParagonSR2 generation C, whose hidden GroupNorms leave no trace in the state dict, so it "
                "cannot be rebuilt faithfully from the file alone")
    if "conv_in.weight" in shapes and any(k.startswith("body.") for k in keys) and \
            "magic_upsampler.sharpen.conv_h.weight" not in shapes and any("norm" in k for k in keys):
        return "the original ParagonSR (v1, with GroupNorm blocks), not ParagonSR2"
    if any(k.startswith(("RRDB_trunk.", "model.1.sub.")) or ".rdb1." in k.lower() for k in keys):
        return "ESRGAN / Real-ESRGAN (RRDBNet)"
    if any(k.startswith("block_1.c1_r.") for k in keys):
        return "SPAN"
    if "body.0.weight" in shapes and "body.1.weight" in shapes and len(shapes["body.0.weight"]) == 4 \
            and not any("blocks" in k for k in keys):
        return "Compact (Real-ESRGAN SRVGGNetCompact)"
    return None


def detect_config(shapes: Shapes) -> ParagonConfig:
    """Infers generation and every hyperparameter; raises NotParagonError otherwise."""
    missing = [k for k in COMMON_KEYS if k not in shapes]
    if missing:
        other = other_architecture(shapes)
        what = f"it looks like {other}" if other else f"keys such as {missing[0]!r} are missing"
        raise NotParagonError(f"not a ParagonSR2 checkpoint: {what}")
    other = other_architecture(shapes)
    if other and "generation C" in other:
        raise NotParagonError(f"not loadable: it looks like {other}")

    if _T + "dynamic_conv.conv3x3.weight" in shapes:
        generation, a0_fused = "A0", False
    elif _T + "dynamic_conv.weight" in shapes:
        generation, a0_fused = "A0", True
    elif "hr_conv_in.weight" in shapes:
        generation, a0_fused = "B", False
    elif "upsampler.weight" in shapes:
        generation, a0_fused = "A", False
    else:
        raise NotParagonError("not a known ParagonSR2 generation: it has neither 'hr_conv_in.weight' "
                              "(generation B) nor 'upsampler.weight' (generation A)")

    c, in_chans = shapes["conv_in.weight"][0], shapes["conv_in.weight"][1]
    hidden = shapes[_T + "project_in.weight"][0]
    ffn = hidden / c
    if int(c * ffn) != hidden:  # float rounding: nudge so that int(C*ffn) == hidden
        ffn = (hidden + 0.5) / c
    band_key = "body.0.blocks.0.context.dwconv_w.weight"
    return ParagonConfig(
        num_feat=c,
        num_groups=_count(shapes, r"body\.(\d+)\."),
        num_blocks=_count(shapes, r"body\.0\.blocks\.(\d+)\."),
        ffn_expansion=ffn,
        band=shapes[band_key][-1] if band_key in shapes else 11,
        hr_blocks=_count(shapes, r"hr_head\.(\d+)\.") if generation == "B" else 0,
        generation=generation,
        in_chans=in_chans,
        out_chans=shapes["conv_out.weight"][0],
        has_generator=any(".kernel_generator." in k for k in shapes),
        a0_fused=a0_fused,
    )


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
