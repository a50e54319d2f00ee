"""spandrel support: a ParagonSR2 Architecture and an idempotent :func:`register`.

Importing this module needs spandrel; the core library does not. spandrel sees only the state
dict, so scale falls back to 2 unless the dict was written by this project with metadata (use
:func:`paragonsr2.load_model` for files whose scale the name or metadata tells).
"""
from __future__ import annotations

import torch
from spandrel import MAIN_REGISTRY, Architecture, ArchSupport, ImageModelDescriptor, ModelTiling
from spandrel.util import KeyCondition

from .arch.network import ParagonSR2
from .checkpoint.detect import COMMON_KEYS, detect_config
from .checkpoint.load import load_model

ARCH_ID = "ParagonSR2"


class ParagonSR2Arch(Architecture[torch.nn.Module]):
    """Detects every V2-lineage generation (A0, A, B) from keys; hyperparameters from shapes."""

    def __init__(self) -> None:
        super().__init__(
            id=ARCH_ID,
            name="ParagonSR2",
            detect=KeyCondition.has_all(*COMMON_KEYS, "body.0.blocks.0.context.dwconv_w.weight",
                                        "magic_upsampler.resample_conv.conv_v.weight"),
        )

    def load(self, state_dict) -> ImageModelDescriptor[torch.nn.Module]:
        model = load_model(dict(state_dict))  # repairs EMA flags; raises a clear error on bad files
        desc = model.description
        scale = desc.scale[0]
        sd = model.state_dict()
        return ImageModelDescriptor(
            model, sd, architecture=self,
            purpose="SR" if scale != 1 else "Restoration",
            tags=[desc.variant, f"gen{desc.generation}", f"{desc.num_feat}nf"],
            supports_half=True, supports_bfloat16=True,
            scale=int(scale) if float(scale).is_integer() else scale,
            input_channels=desc.in_chans, output_channels=desc.out_chans,
            tiling=ModelTiling.SUPPORTED,
        )


def register() -> bool:
    """Adds ParagonSR2 to spandrel's MAIN_REGISTRY once; True when it was added by this call."""
    if ARCH_ID in MAIN_REGISTRY:
        return False
    added = MAIN_REGISTRY.add(ArchSupport.from_architecture(ParagonSR2Arch()), ignore_duplicates=True)
    return bool(added)


__all__ = ["ARCH_ID", "ParagonSR2", "ParagonSR2Arch", "detect_config", "register"]
