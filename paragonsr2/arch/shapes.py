"""Every state-dict key and tensor shape of a configuration, by arithmetic alone (no tensors built).

Mirrors the module tree of :class:`~paragonsr2.arch.network.ParagonSR2` key for key, in its order, so a
checkpoint can be checked completely before a single weight is allocated. ``tests/test_arch.py`` compares
it with built networks and upstream's key dumps.
"""
from __future__ import annotations

from .network import ParagonConfig
from .upsampler import RESAMPLE_TAPS, SHARPEN_TAPS

Shape = tuple[int, ...]


def _conv(prefix: str, out_ch: int, in_ch: int, kh: int, kw: int, bias: bool = True) -> dict[str, Shape]:
    shapes = {f"{prefix}.weight": (out_ch, in_ch, kh, kw)}
    if bias:
        shapes[f"{prefix}.bias"] = (out_ch,)
    return shapes


def _transformer(prefix: str, config: ParagonConfig) -> dict[str, Shape]:
    c, h, kind = config.num_feat, config.hidden, config.transformer_kind
    shapes: dict[str, Shape] = {}
    if kind == "tracked":  # buffers are registered before the child modules
        shapes |= {f"{prefix}.identity_kernel": (h, 1, 3, 3), f"{prefix}.tracked_kernel": (h, 1, 3, 3),
                   f"{prefix}.tracked_initialized": ()}
    shapes |= _conv(f"{prefix}.project_in", h, c, 1, 1)
    if config.has_generator:
        shapes |= _conv(f"{prefix}.kernel_generator.predictor.1", h, h, 1, 1)
        shapes |= _conv(f"{prefix}.kernel_generator.predictor.3", 9 * h, h, 1, 1)
    if kind == "reparam":
        for name, k in (("conv3x3", 3), ("conv1x1", 1), ("dw_conv3x3", 3)):
            shapes |= _conv(f"{prefix}.dynamic_conv.{name}", h, 1, k, k)
    elif kind == "reparam_fused":
        shapes |= _conv(f"{prefix}.dynamic_conv", h, 1, 3, 3)
    return shapes | _conv(f"{prefix}.project_out", c, h, 1, 1)


def _block(prefix: str, config: ParagonConfig) -> dict[str, Shape]:
    c, gc, band = config.num_feat, config.context_channels, config.band
    shapes = _conv(f"{prefix}.context.dwconv_hw", gc, 1, 3, 3)
    shapes |= _conv(f"{prefix}.context.dwconv_w", gc, 1, 1, band)
    shapes |= _conv(f"{prefix}.context.dwconv_h", gc, 1, band, 1)
    shapes[f"{prefix}.ls1.gamma"] = (c,)
    shapes |= _transformer(f"{prefix}.transformer", config)
    shapes[f"{prefix}.ls2.gamma"] = (c,)
    return shapes


def _separable(prefix: str, channels: int, taps: int) -> dict[str, Shape]:
    return {f"{prefix}.conv_h.weight": (channels, 1, 1, taps), f"{prefix}.conv_v.weight": (channels, 1, taps, 1)}


def state_dict_shapes(config: ParagonConfig) -> dict[str, Shape]:
    """{key: shape} of ``ParagonSR2(config).state_dict()``; cost is one dict entry per key."""
    c = config.num_feat
    shapes = _conv("conv_in", c, config.in_chans, 3, 3)
    for g in range(config.num_groups):
        for b in range(config.num_blocks):
            shapes |= _block(f"body.{g}.blocks.{b}", config)
    shapes |= _conv("conv_fuse", c, c, 3, 3)
    shapes |= _separable("magic_upsampler.sharpen", c, len(SHARPEN_TAPS))
    shapes |= _separable("magic_upsampler.resample_conv", c, len(RESAMPLE_TAPS))
    if config.generation == "B":
        shapes |= _conv("hr_conv_in", c, c, 3, 3)
        for i in range(config.hr_blocks):
            shapes |= _hr_block(f"hr_head.{i}", c)
    else:
        shapes |= _conv("upsampler", c, c, 3, 3)
    return shapes | _conv("conv_out", config.out_chans, c, 3, 3)


def _hr_block(prefix: str, channels: int) -> dict[str, Shape]:
    return _conv(f"{prefix}.conv1", channels, channels, 3, 3) | _conv(f"{prefix}.conv2", channels, channels, 3, 3)


def key_count(config: ParagonConfig) -> int:
    """len(state_dict_shapes(config)) without listing the keys (cost independent of depth)."""
    fixed = len(state_dict_shapes(config.replace(num_groups=0, hr_blocks=0)))
    hr_blocks = config.hr_blocks if config.generation == "B" else 0
    return (fixed + config.num_groups * config.num_blocks * len(_block("b", config))
            + hr_blocks * len(_hr_block("h", config.num_feat)))

