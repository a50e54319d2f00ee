"""ParagonSR2 with flat hyperparameters, for spandrel.

The network itself (``network.py``, ``blocks.py``, ``upsampler.py``, ``variants.py``) is the ParagonSR2
pack's own code (https://github.com/paragonsr2/comfyui-paragonsr2, MIT), copied by its
``contrib/spandrel/apply.py``; edit it there.
"""

from __future__ import annotations

from typing import Any

import torch

from spandrel.util import store_hyperparameters

from .network import DEFAULT_ALPHA, Generation, ParagonConfig
from .network import ParagonSR2 as ParagonSR2Network

SCALE_KEY = "paragonsr2_scale"
ALPHA_KEY = "paragonsr2_upsampler_alpha"


@store_hyperparameters()
class ParagonSR2(ParagonSR2Network):
    """[B,in_chans,H,W] -> [B,out_chans,H*scale,W*scale]; raw output, no clamp.

    ``scale`` and ``upsampler_alpha`` are run-time settings (no weight depends on them). They are kept
    in the state dict as the buffers ``paragonsr2_scale`` (float32 [2]: sh, sw) and
    ``paragonsr2_upsampler_alpha`` (float32 [1]), the keys the ParagonSR2 pack writes into its files.
    ``upsampler_alpha=None`` means the generation's default (B: 0.5, A and A0: 1.0).
    """

    hyperparameters: dict[str, Any]

    def __init__(
        self,
        *,
        in_chans: int = 3,
        out_chans: int = 3,
        scale: int = 2,
        num_feat: int = 24,
        num_groups: int = 2,
        num_blocks: int = 2,
        ffn_expansion: float = 1.5,
        band: int = 9,
        hr_blocks: int = 1,
        generation: Generation = "B",
        has_generator: bool = True,
        a0_fused: bool = False,
        upsampler_alpha: float | None = None,
    ) -> None:
        config = ParagonConfig(
            num_feat=num_feat,
            num_groups=num_groups,
            num_blocks=num_blocks,
            ffn_expansion=ffn_expansion,
            band=band,
            hr_blocks=hr_blocks if generation == "B" else 0,
            generation=generation,
            in_chans=in_chans,
            out_chans=out_chans,
            has_generator=has_generator,
            a0_fused=a0_fused and generation == "A0",
        )
        if upsampler_alpha is None:
            upsampler_alpha = DEFAULT_ALPHA[generation]
        super().__init__(config, scale, upsampler_alpha)
        # what was built: a generation's unused settings and the default alpha, resolved
        self.hyperparameters.update(
            hr_blocks=config.hr_blocks,
            a0_fused=config.a0_fused,
            upsampler_alpha=self.upsampler_alpha,
        )
        self.register_buffer(SCALE_KEY, torch.tensor(self.scale, dtype=torch.float32))
        self.register_buffer(
            ALPHA_KEY, torch.tensor([self.upsampler_alpha], dtype=torch.float32)
        )
