"""The ParagonSR2 network (generations A0, A and B as configurations of one class)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Literal, get_args

import torch
from torch import nn

from ..validate import check_alpha, check_scale
from .blocks import CONTEXT_BRANCH_RATIO, ResidualBlock, ResidualGroupV2, TransformerKind
from .upsampler import MagicKernelSharp2021Upsample, Scale, scale_pair

if TYPE_CHECKING:
    from ..description import ModelDescription

Generation = Literal["A0", "A", "B"]
GENERATIONS: tuple[Generation, ...] = get_args(Generation)


@dataclass(frozen=True)
class ParagonConfig:
    """Every hyperparameter of a ParagonSR2 network. Scale and alpha are run-time settings.

    generation: "B" (hr_conv_in + hr_head), "A" (single ``upsampler`` conv head) or
    "A0" (A's head, re-parameterisable ``dynamic_conv``, factor-based resize).
    """

    num_feat: int = 24
    num_groups: int = 2
    num_blocks: int = 2
    ffn_expansion: float = 1.5
    band: int = 9
    hr_blocks: int = 1
    generation: Generation = "B"
    in_chans: int = 3
    out_chans: int = 3
    has_generator: bool = True  # False after release fusion (kernel generator dropped)
    a0_fused: bool = False  # A0 files fused by upstream (one dynamic_conv per block)

    def as_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> ParagonConfig:
        return replace(self, **changes)

    @property
    def hidden(self) -> int:
        return int(self.num_feat * self.ffn_expansion)

    @property
    def context_channels(self) -> int:
        """Channels of each depthwise context branch (InceptionDWConv2d's gc = int(C * 0.125))."""
        return int(self.num_feat * CONTEXT_BRANCH_RATIO)

    @property
    def transformer_kind(self) -> TransformerKind:
        """The DynamicTransformer layout this generation stores."""
        if self.generation != "A0":
            return "tracked"
        return "reparam_fused" if self.a0_fused else "reparam"


DEFAULT_ALPHA: dict[Generation, float] = {"A0": 1.0, "A": 1.0, "B": 0.5}


class ParagonSR2(nn.Module):
    """[B,in_chans,H,W] -> [B,out_chans,round(H*sh),round(W*sw)]; raw output, no clamp.

    conv_in -> body (residual groups) -> conv_fuse (+ skip) -> magic_upsampler -> head -> conv_out.
    ``description`` is set by :func:`paragonsr2.checkpoint.load_model` (None for a network built in code).
    """

    description: ModelDescription | None = None

    def __init__(self, config: ParagonConfig, scale: Scale = 2, upsampler_alpha: float | None = None) -> None:
        super().__init__()
        if config.generation not in DEFAULT_ALPHA:
            raise ValueError(f"unknown generation {config.generation!r}")
        self.config = config
        self.scale = scale_pair(check_scale(scale))
        c = config.num_feat
        kind = config.transformer_kind
        alpha = DEFAULT_ALPHA[config.generation] if upsampler_alpha is None else check_alpha(upsampler_alpha)
        self.conv_in = nn.Conv2d(config.in_chans, c, 3, padding=1)
        self.body = nn.Sequential(*(ResidualGroupV2(c, config.num_blocks, config.ffn_expansion, config.band,
                                                    kind, config.has_generator)
                                    for _ in range(config.num_groups)))
        self.conv_fuse = nn.Conv2d(c, c, 3, padding=1)
        self.magic_upsampler = MagicKernelSharp2021Upsample(
            c, alpha, resize="factor" if config.generation == "A0" else "round")
        if config.generation == "B":
            self.hr_conv_in = nn.Conv2d(c, c, 3, padding=1)
            self.hr_head = nn.Sequential(*(ResidualBlock(c) for _ in range(config.hr_blocks)))
        else:
            self.upsampler = nn.Conv2d(c, c, 3, padding=1)
        self.conv_out = nn.Conv2d(c, config.out_chans, 3, padding=1)

    @property
    def upsampler_alpha(self) -> float:
        return self.magic_upsampler.alpha

    def set_upsampler_alpha(self, alpha: float) -> None:
        """Sharpen blend of the magic upsampler; raises InvalidValueError outside [0, 1] (NaN included)."""
        self.magic_upsampler.alpha = check_alpha(alpha)

    def set_scale(self, scale: Scale) -> None:
        """A number or (sh, sw); raises InvalidValueError outside validate.SCALE."""
        self.scale = scale_pair(check_scale(scale))

    def head(self, u: torch.Tensor) -> torch.Tensor:
        """HR part after the magic upsampler (everything but conv_out)."""
        if self.config.generation == "B":
            return self.hr_head(self.hr_conv_in(u))
        return self.upsampler(u)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv_in(x)
        f = self.conv_fuse(self.body(s)) + s
        u = self.magic_upsampler(f, self.scale)
        return self.conv_out(self.head(u))
