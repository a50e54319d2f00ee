"""Release fusion (upstream's ``fuse_for_release`` semantics) and deployment folding for speed.

release_fuse: in place; drops the kernel generator (A/B) or merges A0's three depthwise branches.
The state dict stays in upstream's layout and outputs stay bit-identical.
deploy_fuse: returns a new :class:`DeployParagonSR2` with LayerScales, identity skips, the static
kernels and the sharpen blend folded into convolutions; outputs equal within float rounding.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .arch.blocks import NEGATIVE_SLOPE, DynamicTransformer, ParagonBlockV2, ReparamDWConv
from .arch.geometry import BorderPad
from .arch.network import ParagonSR2
from .arch.upsampler import Scale, scale_pair, target_size
from .errors import ParagonError

if TYPE_CHECKING:
    from .description import ModelDescription


def release_fuse(model: ParagonSR2) -> ParagonSR2:
    """Upstream release fusion, in place. Returns the model."""
    for module in model.modules():
        if not isinstance(module, DynamicTransformer):
            continue
        if module.kind == "tracked":
            module.kernel_generator = None
        elif module.kind == "reparam":
            weight, bias = module.dynamic_conv.fused_kernel()
            conv = nn.Conv2d(module.hidden, module.hidden, 3, padding=1, groups=module.hidden)
            conv.weight.data.copy_(weight.detach())
            conv.bias.data.copy_(bias.detach())
            module.dynamic_conv = conv.to(weight.device, weight.dtype)
            module.kind = "reparam_fused"
    cfg = model.config
    model.config = cfg.replace(has_generator=cfg.has_generator and cfg.generation == "A0",
                               a0_fused=cfg.generation == "A0")
    return model


def _static_dw(t: DynamicTransformer) -> tuple[torch.Tensor, torch.Tensor | None]:
    if t.kind == "tracked":
        return t.static_kernel().detach().clone(), None
    conv = t.dynamic_conv
    if isinstance(conv, ReparamDWConv):
        w, b = conv.fused_kernel()
        return w.detach(), b.detach()
    return conv.weight.detach().clone(), conv.bias.detach().clone()


def _dw_conv(weight: torch.Tensor, bias: torch.Tensor | None, padding) -> nn.Conv2d:
    ch = weight.shape[0]
    conv = nn.Conv2d(ch, ch, tuple(weight.shape[-2:]), padding=padding, groups=ch, bias=bias is not None)
    conv.weight.data.copy_(weight)
    if bias is not None:
        conv.bias.data.copy_(bias)
    return conv


def _with_identity(weight: torch.Tensor) -> torch.Tensor:
    """Adds 1 at the kernel centre: conv(x) + x as one depthwise conv."""
    w = weight.clone()
    w[:, :, w.shape[2] // 2, w.shape[3] // 2] += 1.0
    return w


class FusedBlock(nn.Module):
    """ParagonBlockV2 with ls1 folded into the context convs (plus the skip) and ls2 into project_out."""

    def __init__(self, block: ParagonBlockV2) -> None:
        super().__init__()
        ctx, t = block.context, block.transformer
        g1 = block.ls1.gamma.detach()
        n_id, gc = ctx.split_sizes[0], ctx.split_sizes[1]
        self.split_sizes = ctx.split_sizes
        self.register_buffer("id_scale", (1.0 + g1[:n_id]).view(1, -1, 1, 1).clone())
        branches = []
        for i, conv in enumerate((ctx.dwconv_hw, ctx.dwconv_w, ctx.dwconv_h)):
            g = g1[n_id + i * gc: n_id + (i + 1) * gc]
            w = _with_identity(conv.weight.detach() * g.view(-1, 1, 1, 1))
            branches.append(_dw_conv(w, conv.bias.detach() * g, conv.padding))
        self.dwconv_hw, self.dwconv_w, self.dwconv_h = branches
        self.project_in = copy.deepcopy(t.project_in)
        w, b = _static_dw(t)
        self.dw = _dw_conv(w, b, 1)
        g2 = block.ls2.gamma.detach()
        self.project_out = nn.Conv2d(t.project_out.in_channels, t.project_out.out_channels, 1)
        self.project_out.weight.data.copy_(t.project_out.weight.detach() * g2.view(-1, 1, 1, 1))
        self.project_out.bias.data.copy_(t.project_out.bias.detach() * g2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_id, x_hw, x_w, x_h = torch.split(x, self.split_sizes, dim=1)
        x = torch.cat((x_id * self.id_scale, self.dwconv_hw(x_hw), self.dwconv_w(x_w), self.dwconv_h(x_h)), 1)
        y = F.leaky_relu(self.dw(self.project_in(x)), NEGATIVE_SLOPE)
        return x + self.project_out(y)


class FusedGroup(nn.Module):
    def __init__(self, blocks: list[FusedBlock]) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x) + x


class DeployParagonSR2(nn.Module):
    """Inference-only ParagonSR2 with everything foldable folded. Same call contract as ParagonSR2.

    The sharpen blend ``x + a(S(x) - x)`` becomes one 7x7 depthwise conv on LR features.
    ``description`` is carried over from the model it was folded from (None for a network built in code).
    """

    description: ModelDescription | None = None

    def __init__(self, model: ParagonSR2) -> None:
        super().__init__()
        self.config = model.config
        self.scale = model.scale
        self.resize = model.magic_upsampler.resize
        self.conv_in = copy.deepcopy(model.conv_in)
        self.body = nn.Sequential(*(FusedGroup([FusedBlock(b) for b in g.blocks]) for g in model.body))
        self.conv_fuse = copy.deepcopy(model.conv_fuse)
        up = model.magic_upsampler
        self.register_buffer("sharpen_h", up.sharpen.conv_h.weight.detach().clone())
        self.register_buffer("sharpen_v", up.sharpen.conv_v.weight.detach().clone())
        self.resample = copy.deepcopy(up.resample_conv)
        self.head = copy.deepcopy(model.hr_head if model.config.generation == "B" else nn.Identity())
        self.head_in = copy.deepcopy(model.hr_conv_in if model.config.generation == "B" else model.upsampler)
        self.conv_out = copy.deepcopy(model.conv_out)
        self.sharpen = None
        self._upsample_cache = None
        # PyTorch runs the depthwise transposed conv fast; ONNX Runtime's grouped ConvTranspose is slow
        # (the Resize + separable form makes a whole FP32 graph 17% faster there), so exports switch it off.
        self.transposed_upsample = True
        self.output_slice = False  # set by pad_output_channels
        self.set_upsampler_alpha(up.alpha)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    @property
    def upsampler_alpha(self) -> float:
        return self._alpha

    def set_upsampler_alpha(self, alpha: float) -> None:
        """Refolds the sharpen blend for a new alpha (clamped to [0, 1])."""
        self._alpha = float(min(max(alpha, 0.0), 1.0))
        if self._alpha == 0:
            self.sharpen = None
            return
        k2d = self.sharpen_v * self.sharpen_h  # [C,1,7,1] * [C,1,1,7] -> [C,1,7,7]
        w = self._alpha * k2d
        w[:, :, 3, 3] += 1.0 - self._alpha
        self.sharpen = _dw_conv(w, None, 3).to(self.sharpen_h.device, self.sharpen_h.dtype)
        self.sharpen.weight.requires_grad_(False)

    def set_scale(self, scale: Scale) -> None:
        self.scale = scale_pair(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hr_output(self.lr_features(x))

    HR_MODULES = ("resample", "head_in", "head", "conv_out")

    def set_hr_dtype(self, dtype: torch.dtype) -> None:
        """Runs the HR part (about 80% of the work at x2) in ``dtype`` and keeps the LR part as it is.

        The LR part of real checkpoints has large activations (tracked kernels up to |15|) that half precision
        cannot carry; the HR part can (bench/precision_probe.py; numbers in README, GPU section).
        """
        for name in self.HR_MODULES:
            getattr(self, name).to(dtype)

    def lr_features(self, x: torch.Tensor) -> torch.Tensor:
        """LR part: [B,3,H,W] -> sharpened features [B,C,H,W] (about a fifth of the work at x2)."""
        x = x.to(self.conv_in.weight.dtype)
        s = self.conv_in(x)
        f = self.conv_fuse(self.body(s)) + s
        return self.sharpen(f) if self.sharpen is not None else f

    def hr_output(self, f: torch.Tensor) -> torch.Tensor:
        """HR part: nearest resize + resample filter, head, conv_out -> [B,3,H*sh,W*sw].

        At integer scales >= 2 the nearest resize and the 5-tap resample filter are one depthwise
        transposed convolution on the LR features (``upsample_kernel``): same result, no HR-sized
        intermediate (much faster than resize + separable filter on CPU: README, "Where the speed comes from").
        """
        f = f.to(self.conv_out.weight.dtype)
        sh, sw = self.scale
        integer = self.resize == "factor" or (sh.is_integer() and sw.is_integer())
        if self.transposed_upsample and integer and sh >= 2 and sw >= 2 and self.resize == "round":
            k = self.upsample_kernel(int(sh), int(sw)).to(f.dtype)
            u = F.conv_transpose2d(f, k, stride=(int(sh), int(sw)), padding=2, groups=k.shape[0])
        else:
            if integer:  # floor == round, and a constant-scale Resize exports with static shapes
                if (sh, sw) != (1.0, 1.0):
                    f = F.interpolate(f, scale_factor=self.scale, mode="nearest")
            else:
                size = target_size(f.shape[-2], f.shape[-1], self.scale)
                if size != tuple(f.shape[-2:]):
                    f = F.interpolate(f, size=size, mode="nearest")
            u = self.resample(f)
        y = self.conv_out(self.head(self.head_in(u)))
        return y[:, :self.config.out_chans] if self.output_slice else y

    def pad_output_channels(self, channels: int) -> None:
        """Widens conv_out to ``channels`` outputs with zero weights and returns only the real ones:
        the same result. For INT8 ONNX: ONNX Runtime's int8 conv with 3 output channels took 60 ms
        of a 350 ms graph (512 px input); with 16 it runs about twice as fast (bench/export_bench.py)."""
        old = self.conv_out
        if channels <= old.out_channels:
            return
        new = nn.Conv2d(old.in_channels, channels, old.kernel_size, padding=old.padding, bias=old.bias is not None)
        new = new.to(old.weight.device, old.weight.dtype)
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:old.out_channels] = old.weight
            if old.bias is not None:
                new.bias.zero_()
                new.bias[:old.out_channels] = old.bias
        new.requires_grad_(False)
        self.conv_out = new
        self.output_slice = True

    def upsample_kernel(self, sh: int, sw: int) -> torch.Tensor:
        """Depthwise transposed-conv kernel [C,1,sh+4,sw+4] equal to nearest x(sh,sw) then the resample
        filter: tap d+2 (d = -2..s+1) sums the filter taps k with floor((s*i + d + k - 2) / s) == i."""
        cached = self._upsample_cache
        key = (sh, sw, self.resample.conv_h.weight.dtype, self.resample.conv_h.weight.device)
        if cached is not None and cached[0] == key:
            return cached[1]

        def phase_taps(taps: torch.Tensor, s: int) -> torch.Tensor:  # [C,5] -> [C,s+4]
            cols = []
            for d in range(-2, s + 2):
                lo, hi = max(0, 2 - d), min(4, 1 - d + s)
                cols.append(taps[:, lo:hi + 1].sum(1) if hi >= lo else torch.zeros_like(taps[:, 0]))
            return torch.stack(cols, 1)

        kh = phase_taps(self.resample.conv_v.weight.reshape(-1, 5).double(), sh)
        kw = phase_taps(self.resample.conv_h.weight.reshape(-1, 5).double(), sw)
        kernel = (kh[:, :, None] * kw[:, None, :]).unsqueeze(1).to(self.resample.conv_h.weight.dtype)
        self._upsample_cache = (key, kernel)
        return kernel


def deploy_fuse(model: ParagonSR2) -> DeployParagonSR2:
    """A folded inference copy of ``model`` (the original is left unchanged)."""
    ref = next(model.parameters())
    exact = copy.deepcopy(model).to(torch.float64)  # fold in float64, round once at the end
    return DeployParagonSR2(exact).to(ref.device, ref.dtype)


def network_kind(model) -> str | None:
    """"deploy" for a DeployParagonSR2, "plain" for a ParagonSR2, else None. Classes from another import of
    this package count too (ComfyUI imports the pack under its folder name, so `paragonsr2` can exist twice)."""
    for cls, kind, where in ((DeployParagonSR2, "deploy", "fuse"), (ParagonSR2, "plain", "arch.network")):
        t = type(model)
        if isinstance(model, cls) or (t.__name__ == cls.__name__ and t.__module__.endswith(f"paragonsr2.{where}")):
            return kind
    return None


def unwrap(model):
    """The network inside a spandrel descriptor (ComfyUI's loaders) and a BorderPad wrapper; else `model`."""
    if not isinstance(model, nn.Module) and isinstance(getattr(model, "model", None), nn.Module):
        model = model.model  # a spandrel ImageModelDescriptor
    if type(model).__name__ == BorderPad.__name__ and isinstance(getattr(model, "net", None), nn.Module):
        model = model.net  # by name too: ComfyUI may import the pack a second time
    return model


def as_deploy(model: nn.Module) -> DeployParagonSR2:
    """``model`` (unwrapped) itself when already deploy-fused, else a folded copy carrying its description."""
    model = unwrap(model)
    kind = network_kind(model)
    if kind == "deploy":
        return model
    if kind is None:
        raise ParagonError(f"expected a ParagonSR2 model (from load_model), got {type(model).__name__}")
    fused = deploy_fuse(model)
    fused.description = getattr(model, "description", None)
    return fused
