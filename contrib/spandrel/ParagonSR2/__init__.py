from __future__ import annotations

from typing import Any

import torch
from typing_extensions import override

from spandrel.util import KeyCondition, get_seq_len

from ...__helpers.model_descriptor import (
    Architecture,
    ImageModelDescriptor,
    ModelTiling,
    StateDict,
)
from .__arch.network import Generation
from .__arch.paragonsr2 import ALPHA_KEY, SCALE_KEY, ParagonSR2
from .__arch.variants import variant_name

_BLOCK0 = "body.0.blocks.0."
_TRANSFORMER0 = _BLOCK0 + "transformer."


def _generation(state_dict: StateDict) -> Generation:
    if (
        _TRANSFORMER0 + "dynamic_conv.conv3x3.weight" in state_dict
        or _TRANSFORMER0 + "dynamic_conv.weight" in state_dict
    ):
        return "A0"
    if "hr_conv_in.weight" in state_dict:
        return "B"
    return "A"


def _ffn_expansion(num_feat: int, hidden: int) -> float:
    # an expansion with int(num_feat * ffn) == hidden
    ffn = hidden / num_feat
    if int(num_feat * ffn) != hidden:
        ffn = (hidden + 0.5) / num_feat
    return ffn


def _scale(state_dict: StateDict) -> int:
    """The scale stored by the ParagonSR2 pack (``paragonsr2_scale``), else 2.

    Upstream files do not store it; every upstream training config is 2x.
    """
    stored = state_dict.get(SCALE_KEY)
    values = [2.0] if stored is None else [float(v) for v in stored.flatten().tolist()]
    if len(values) not in (1, 2) or len(set(values)) != 1 or not values[0].is_integer():
        raise ValueError(
            f"This ParagonSR2 file's scale is {values} ({SCALE_KEY}); spandrel describes"
            " whole-number scales only. Run it with the ParagonSR2 pack, or store a whole"
            " number: python -m paragonsr2 convert IN OUT --scale N"
        )
    return int(values[0])


def _alpha(state_dict: StateDict) -> float | None:
    """The upsampler_alpha stored by the ParagonSR2 pack, else None (the generation's default)."""
    stored = state_dict.get(ALPHA_KEY)
    if stored is None:
        return None
    return float(stored.flatten()[0])


def _hyperparameters(state_dict: StateDict) -> dict[str, Any]:
    """ParagonSR2's arguments, from key names and shapes (and the settings keys)."""
    gamma = state_dict[_BLOCK0 + "ls1.gamma"]
    if gamma.dim() != 1 or any(".cheap_dynamic." in k for k in state_dict):
        raise ValueError(
            "ParagonSR2 generation C: its hidden GroupNorms leave no trace in the"
            " state dict, so it cannot be rebuilt from the file alone."
        )
    generation = _generation(state_dict)
    num_feat, in_chans = state_dict["conv_in.weight"].shape[:2]
    hidden = state_dict[_TRANSFORMER0 + "project_in.weight"].shape[0]
    return {
        "in_chans": in_chans,
        "out_chans": state_dict["conv_out.weight"].shape[0],
        "scale": _scale(state_dict),
        "num_feat": num_feat,
        "num_groups": get_seq_len(state_dict, "body"),
        "num_blocks": get_seq_len(state_dict, "body.0.blocks"),
        "ffn_expansion": _ffn_expansion(num_feat, hidden),
        "band": state_dict[_BLOCK0 + "context.dwconv_w.weight"].shape[3],
        "hr_blocks": get_seq_len(state_dict, "hr_head") if generation == "B" else 0,
        "generation": generation,
        "has_generator": _TRANSFORMER0 + "kernel_generator.predictor.1.weight"
        in state_dict,
        "a0_fused": _TRANSFORMER0 + "dynamic_conv.weight" in state_dict,
        "upsampler_alpha": _alpha(state_dict),
    }


def _repair_ema_flags(state_dict: StateDict) -> None:
    """Upstream's EMA files keep trained ``tracked_kernel`` values behind a False
    ``tracked_initialized`` flag, so upstream runs them with identity kernels. The
    trained kernels are used (as the ParagonSR2 pack does)."""
    for key in list(state_dict):
        if key.endswith(".tracked_initialized") and not bool(state_dict[key]):
            kernel = state_dict.get(
                key.replace("tracked_initialized", "tracked_kernel")
            )
            if kernel is not None and bool(kernel.abs().sum() > 0):
                state_dict[key] = torch.tensor(True)


class ParagonSR2Arch(Architecture[ParagonSR2]):
    def __init__(self) -> None:
        super().__init__(
            id="ParagonSR2",
            detect=KeyCondition.has_all(
                "conv_in.weight",
                "body.0.blocks.0.context.dwconv_hw.weight",
                "body.0.blocks.0.context.dwconv_w.weight",
                "body.0.blocks.0.transformer.project_in.weight",
                "magic_upsampler.sharpen.conv_h.weight",
                "magic_upsampler.resample_conv.conv_v.weight",
                "conv_out.weight",
                KeyCondition.has_any("hr_conv_in.weight", "upsampler.weight"),
            ),
        )

    @override
    def load(self, state_dict: StateDict) -> ImageModelDescriptor[ParagonSR2]:
        model = ParagonSR2(**_hyperparameters(state_dict))
        # the settings buffers get the values the model was built with
        state_dict[SCALE_KEY] = model.get_buffer(SCALE_KEY).clone()
        state_dict[ALPHA_KEY] = model.get_buffer(ALPHA_KEY).clone()
        _repair_ema_flags(state_dict)
        config = model.config

        return ImageModelDescriptor(
            model,
            state_dict,
            architecture=self,
            purpose="Restoration" if model.scale == (1, 1) else "SR",
            tags=[
                variant_name(config),
                f"gen{config.generation}",
                f"{config.num_feat}nf",
            ],
            supports_half=True,
            supports_bfloat16=True,
            scale=int(model.scale[0]),
            input_channels=config.in_chans,
            output_channels=config.out_chans,
            tiling=ModelTiling.SUPPORTED,
        )


__all__ = ["ParagonSR2", "ParagonSR2Arch"]
