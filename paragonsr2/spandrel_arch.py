"""spandrel support: a ParagonSR2 Architecture, the one descriptor builder, and an idempotent :func:`register`.

Importing this module needs spandrel; the core library does not. spandrel sees only the state dict
(ComfyUI's core loader too): files this project writes carry their scale in it (``paragonsr2_scale``);
for other files the scale falls back to 2 and one line is logged saying how to set it.
"""
from __future__ import annotations

import torch
from spandrel import MAIN_REGISTRY, Architecture, ArchSupport, ImageModelDescriptor, ModelTiling
from spandrel.util import KeyCondition

from .arch.geometry import BorderPad
from .arch.network import ParagonSR2
from .checkpoint.detect import A_HEAD_KEY, B_HEAD_KEY, BAND0, COMMON_KEYS, detect_config
from .checkpoint.load import load_model

ARCH_ID = "ParagonSR2"
# every V2-lineage file has these keys and one of the two heads; contrib/spandrel's ParagonSR2Arch lists the same
# (tests/test_spandrel_contrib.py proves equal detection on every generation and on spandrel's other architectures)
DETECT = KeyCondition.has_all(*COMMON_KEYS, BAND0, "magic_upsampler.resample_conv.conv_v.weight",
                              KeyCondition.has_any(B_HEAD_KEY, A_HEAD_KEY))


class ParagonSR2Arch(Architecture[torch.nn.Module]):
    """Detects every V2-lineage generation (A0, A, B) from keys; hyperparameters from shapes."""

    def __init__(self) -> None:
        super().__init__(id=ARCH_ID, name="ParagonSR2", detect=DETECT)

    def load(self, state_dict) -> ImageModelDescriptor[torch.nn.Module]:
        # the same checks as every load (hostile shapes refused before allocation), EMA flags repaired
        return descriptor(load_model(dict(state_dict)), self)


def descriptor(model: torch.nn.Module, architecture: ParagonSR2Arch | None = None) -> ImageModelDescriptor:
    """The spandrel ImageModelDescriptor for a model from :func:`~paragonsr2.load_model` (used by spandrel's
    loading and by the pack's loader node). ``model.description`` gives scale, channels and tags."""
    desc = model.description
    scale = desc.scale[0]
    return ImageModelDescriptor(  # BorderPad: ComfyUI's core node gets the same clean borders as upscale()
        BorderPad(model), model.state_dict(), architecture=architecture or ParagonSR2Arch(),
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


__all__ = ["ARCH_ID", "DETECT", "ParagonSR2", "ParagonSR2Arch", "descriptor", "detect_config", "register"]
