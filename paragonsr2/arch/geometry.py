"""Image-border geometry of the network: its receptive field, and a border mode that extends the image
before the network (instead of the convolutions' zero padding) and crops the result back.

Zero padding darkens and discolours the outermost output pixels (a 1x1 image loses its colour); extending
the image by the receptive radius first makes every output pixel see natural-looking context."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParagonError
from ..validate import BORDER_MODES, DEFAULT_BORDER
from .network import ParagonConfig


def receptive_radius(config: ParagonConfig, scale: tuple[float, float], alpha: float = 0.5) -> int:
    """LR pixels of context that can influence an output pixel (exact bound, per side)."""
    per_block = max(config.band // 2, 1) + 1  # context (band or 3x3) + the depthwise 3x3
    lr = 1 + config.num_groups * config.num_blocks * per_block + 1 + (3 if alpha > 0 else 0)
    hr = 2 + (1 + 2 * config.hr_blocks if config.generation == "B" else 1) + 1  # resample, head, conv_out
    return lr + math.ceil(hr / min(scale)) + 1


MAX_BORDER = 64  # LR px: deep variants' receptive fields reach 860 px; beyond 64 the gain is nil, the cost not


def check_border(mode: str) -> str:
    """`mode` if it is a border mode, else a ParagonError naming the choices."""
    if mode not in BORDER_MODES:
        raise ParagonError(f"border {mode!r} is not one of {', '.join(BORDER_MODES)}")
    return mode


def border_pad(margin: int, scale: tuple[float, float], mode: str) -> int:
    """LR px the image is extended by: the context `margin` (at most MAX_BORDER), 0 for "zeros" and for
    non-integer scales (the output crop must be exact)."""
    if check_border(mode) == "zeros" or not all(float(s).is_integer() for s in scale):
        return 0
    return min(margin, MAX_BORDER)


def extend_border(x: torch.Tensor, pad: int, mode: str) -> torch.Tensor:
    """[B,C,H,W] -> [B,C,H+2p,W+2p] extended by `mode`; "reflect" mirrors as far as the image allows and
    replicates beyond (images smaller than the pad)."""
    if check_border(mode) == "zeros" or pad <= 0 or mode == "zeros":
        return x
    if mode == "reflect":
        ph, pw = min(pad, x.shape[-2] - 1), min(pad, x.shape[-1] - 1)
        x = F.pad(x, (pw, pw, ph, ph), mode="reflect") if ph > 0 or pw > 0 else x
        pad_h, pad_w = pad - ph, pad - pw
    else:
        pad_h = pad_w = pad
    return F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="replicate") if pad_h or pad_w else x


class BorderPad(nn.Module):
    """Wraps a network: extends its input by `pad` px (`mode`), runs it, crops the output by pad x scale.

    Input [B,C,H,W]; output the network's [B,C',H*s,W*s]. Integer scales only (the crop must be exact);
    other scales run the network as is. The pad is the receptive radius, at most MAX_BORDER.
    `net` stays reachable as `.net` (and its state dict unprefixed)."""

    def __init__(self, net: nn.Module, mode: str = DEFAULT_BORDER, pad: int | None = None) -> None:
        super().__init__()
        self.net, self.mode, self.pad = net, check_border(mode), pad

    @property
    def scale(self):
        return self.net.scale

    @property
    def config(self):
        return self.net.config

    @property
    def upsampler_alpha(self) -> float:
        return self.net.upsampler_alpha

    @property
    def description(self):
        return getattr(self.net, "description", None)

    def border_pad(self) -> int:
        """`pad` when given, else the receptive radius, through the same rule as `upscale()` (`border_pad`)."""
        scale = tuple(self.net.scale)
        margin = self.pad if self.pad is not None else receptive_radius(self.net.config, scale,
                                                                         self.net.upsampler_alpha)
        return border_pad(margin, scale, self.mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.border_pad()
        y = self.net(extend_border(x, pad, self.mode))
        if pad == 0:
            return y
        sh, sw = (int(s) for s in self.net.scale)
        return y[:, :, pad * sh:y.shape[-2] - pad * sh, pad * sw:y.shape[-1] - pad * sw]

    def state_dict(self, *args, **kwargs):
        return self.net.state_dict(*args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        return self.net.load_state_dict(*args, **kwargs)
