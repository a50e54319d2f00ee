"""ComfyUI's core upscale path, re-implemented from its documented behaviour (the secondary benches' baseline;
bench/comfy_speed.py and bench/gpu_node_vs_core.py time ComfyUI's own node):
fixed tile 512, overlap 32, tiles every (tile - overlap) px clamped at the border, each tile output
weighted by a linear feather ramp (t+1)/feather over feather = overlap*scale px on every edge, the
weighted sum divided by the summed weights; an image that fits one tile runs whole."""
from __future__ import annotations

import math

import torch


def _ramp(length: int, feather: int) -> torch.Tensor:
    w = torch.ones(length)
    for t in range(min(feather, length)):
        v = (t + 1) / feather
        w[t] = min(w[t].item(), v)
        w[length - 1 - t] = min(w[length - 1 - t].item(), v)
    return w


@torch.inference_mode()
def comfy_tiled_scale(image: torch.Tensor, fn, scale: int, tile: int = 512, overlap: int = 32) -> torch.Tensor:
    """image [B,C,H,W] -> [B,C,H*s,W*s] via ComfyUI-style feathered tiles."""
    b, c, h, w = image.shape
    if h <= tile and w <= tile:
        return fn(image)
    out = torch.zeros(b, c, h * scale, w * scale)
    div = torch.zeros_like(out)
    ys = [min(y, max(h - tile, 0)) for y in range(0, h, tile - overlap)]
    xs = [min(x, max(w - tile, 0)) for x in range(0, w, tile - overlap)]
    for y in sorted(set(ys)):
        for x in sorted(set(xs)):
            t = image[:, :, y:y + tile, x:x + tile]
            r = fn(t)
            th, tw = r.shape[-2:]
            feather = overlap * scale
            mask = _ramp(th, feather)[:, None] * _ramp(tw, feather)[None, :]
            out[:, :, y * scale:y * scale + th, x * scale:x * scale + tw] += r * mask
            div[:, :, y * scale:y * scale + th, x * scale:x * scale + tw] += mask
    return out / div


def tile_count(h: int, w: int, tile: int = 512, overlap: int = 32) -> int:
    if h <= tile and w <= tile:
        return 1
    return math.ceil((h - overlap) / (tile - overlap)) * math.ceil((w - overlap) / (tile - overlap))
