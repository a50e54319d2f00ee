"""Building blocks of the ParagonSR2 LR backbone and HR head.

Module and parameter names follow upstream (traiNNer-redux ``paragonsr2_arch.py``)
so that state dicts match key for key. All tensors are NCHW.
"""
from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

NEGATIVE_SLOPE = 0.1
CONTEXT_BRANCH_RATIO = 0.125  # share of channels in each InceptionDWConv2d conv branch

# How a DynamicTransformer stores its depthwise conv: "tracked" (generations A/B: predicted while training,
# static tracked kernel at inference), "reparam" (A0: three depthwise branches), "reparam_fused" (A0 after
# its own fusion: one depthwise conv with bias).
TransformerKind = Literal["tracked", "reparam", "reparam_fused"]
TRANSFORMER_KINDS: tuple[TransformerKind, ...] = get_args(TransformerKind)


class ResidualBlock(nn.Module):
    """conv3x3 -> LeakyReLU(0.1) -> conv3x3, plus skip. [B,C,H,W] -> [B,C,H,W]."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), NEGATIVE_SLOPE))


class InceptionDWConv2d(nn.Module):
    """Multi-scale depthwise context: channels split [identity | k×k 3x3 | 1×band | band×1].

    gc = int(C * branch_ratio) channels go to each conv branch; the rest pass unchanged.
    [B,C,H,W] -> [B,C,H,W].
    """

    def __init__(self, channels: int, square: int = 3, band: int = 11,
                 branch_ratio: float = CONTEXT_BRANCH_RATIO) -> None:
        super().__init__()
        gc = int(channels * branch_ratio)
        self.dwconv_hw = nn.Conv2d(gc, gc, square, padding=square // 2, groups=gc)
        self.dwconv_w = nn.Conv2d(gc, gc, (1, band), padding=(0, band // 2), groups=gc)
        self.dwconv_h = nn.Conv2d(gc, gc, (band, 1), padding=(band // 2, 0), groups=gc)
        self.split_sizes = (channels - 3 * gc, gc, gc, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_id, x_hw, x_w, x_h = torch.split(x, self.split_sizes, dim=1)
        return torch.cat((x_id, self.dwconv_hw(x_hw), self.dwconv_w(x_w), self.dwconv_h(x_h)), dim=1)


class LayerScale(nn.Module):
    """Per-channel scale ``x * gamma``; gamma has shape [C]."""

    def __init__(self, channels: int, init_value: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init_value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1)


class KernelGenerator(nn.Module):
    """Predicts one depthwise 3x3 kernel per channel and sample: [B,h,H,W] -> [B,h,3,3]."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.predictor = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden * 9, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor(x).view(x.shape[0], x.shape[1], 3, 3)


class ReparamDWConv(nn.Module):
    """Generation A0 depthwise block: conv3x3 + conv1x1 + dw_conv3x3 (all depthwise, with bias).

    Mathematically one depthwise 3x3 conv; :meth:`fused_kernel` returns it.
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.conv3x3 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.conv1x1 = nn.Conv2d(hidden, hidden, 1, groups=hidden)
        self.dw_conv3x3 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)

    def fused_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (weight [h,1,3,3], bias [h]) of the equivalent single conv."""
        w = self.conv3x3.weight + self.dw_conv3x3.weight
        w = w + F.pad(self.conv1x1.weight, (1, 1, 1, 1))
        return w, self.conv3x3.bias + self.conv1x1.bias + self.dw_conv3x3.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3x3(x) + self.conv1x1(x) + self.dw_conv3x3(x)


class DynamicTransformer(nn.Module):
    """project_in (1x1 C->h) -> depthwise 3x3 -> LeakyReLU(0.1) -> project_out (1x1 h->C).

    ``kind="tracked"`` (generations A/B): the depthwise kernel is predicted per sample while
    training and tracked as a running batch mean; at inference the static ``tracked_kernel``
    is used when ``tracked_initialized`` is True, else ``identity_kernel``.
    ``kind="reparam"`` (generation A0): a re-parameterisable three-branch depthwise block;
    ``kind="reparam_fused"``: A0 after its own fusion (one depthwise conv with bias).
    ``has_generator=False`` builds the release-fused layout (no ``kernel_generator``).
    """

    TRACK_MOMENTUM = 0.05

    def __init__(self, channels: int, ffn_expansion: float = 2.0, kind: TransformerKind = "tracked",
                 has_generator: bool = True) -> None:
        super().__init__()
        if kind not in TRANSFORMER_KINDS:
            raise ValueError(f"unknown DynamicTransformer kind {kind!r}; one of {', '.join(TRANSFORMER_KINDS)}")
        hidden = int(channels * ffn_expansion)
        self.kind: TransformerKind = kind
        self.hidden = hidden
        if kind == "tracked":
            identity = torch.zeros(hidden, 1, 3, 3)
            identity[:, :, 1, 1] = 1.0
            self.register_buffer("identity_kernel", identity)
            self.register_buffer("tracked_kernel", torch.zeros(hidden, 1, 3, 3))
            self.register_buffer("tracked_initialized", torch.tensor(False))
        self.project_in = nn.Conv2d(channels, hidden, 1)
        self.kernel_generator = KernelGenerator(hidden) if has_generator else None
        if kind == "reparam":
            self.dynamic_conv = ReparamDWConv(hidden)
        elif kind == "reparam_fused":  # A0's own release fusion: one depthwise conv with bias
            self.dynamic_conv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.project_out = nn.Conv2d(hidden, channels, 1)

    def static_kernel(self) -> torch.Tensor:
        """The inference kernel [h,1,3,3] (tracked or identity, chosen in Python)."""
        if bool(self.tracked_initialized):
            return self.tracked_kernel
        return self.identity_kernel

    def _dynamic(self, y: torch.Tensor) -> torch.Tensor:
        b, h, height, width = y.shape
        kernels = self.kernel_generator(y)  # [B,h,3,3]
        with torch.no_grad():
            mean = kernels.detach().mean(0).unsqueeze(1).to(self.tracked_kernel.dtype)
            if bool(self.tracked_initialized):
                self.tracked_kernel.add_(self.TRACK_MOMENTUM * (mean - self.tracked_kernel))
            else:
                self.tracked_kernel.copy_(mean)
                self.tracked_initialized.fill_(True)
        out = F.conv2d(y.reshape(1, b * h, height, width), kernels.reshape(b * h, 1, 3, 3),
                       padding=1, groups=b * h)
        return out.view(b, h, height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project_in(x)
        if self.kind != "tracked":
            y = self.dynamic_conv(y)
        elif self.training and self.kernel_generator is not None:
            y = self._dynamic(y)
        else:
            y = F.conv2d(y, self.static_kernel().to(y.dtype), padding=1, groups=self.hidden)
        return self.project_out(F.leaky_relu(y, NEGATIVE_SLOPE))


class ParagonBlockV2(nn.Module):
    """x += ls1(context(x)); x += ls2(transformer(x)). No normalisation."""

    def __init__(self, channels: int, ffn_expansion: float, band: int, kind: TransformerKind = "tracked",
                 has_generator: bool = True) -> None:
        super().__init__()
        self.context = InceptionDWConv2d(channels, band=band)
        self.ls1 = LayerScale(channels)
        self.transformer = DynamicTransformer(channels, ffn_expansion, kind, has_generator)
        self.ls2 = LayerScale(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.context(x))
        return x + self.ls2(self.transformer(x))


class ResidualGroupV2(nn.Module):
    """A sequence of ParagonBlockV2 with a skip over the group."""

    def __init__(self, channels: int, num_blocks: int, ffn_expansion: float, band: int,
                 kind: TransformerKind = "tracked", has_generator: bool = True) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ParagonBlockV2(channels, ffn_expansion, band, kind, has_generator)
                                      for _ in range(num_blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x) + x
