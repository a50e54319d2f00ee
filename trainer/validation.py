"""The validation split: which images (content-diverse), which crops (a grid), which LR (the run's degradations,
drawn once with a fixed seed), and the evaluation of a model on it (Y-PSNR/SSIM, border = scale).

Every crop and LR is made once when the run starts, so every evaluation of a run sees the same pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .degrade import DegradeSettings, degrade
from .losses import psnr_y, ssim_y

VAL_SEED_OFFSET = 7919  # the validation LR draws use seed + this, apart from the training draws
MAX_AUTO_VAL = 8  # the automatic split holds back at most this many images
MAX_CANDIDATES = 2000  # the diverse choice looks at most at this many images (evenly spaced)


def validation_count(n: int, fraction: float, wanted: int = 0) -> int:
    """How many of ``n`` images to hold back: ``wanted`` when set, else at least ceil(fraction * n) and at least
    min(4, n // 3), at most MAX_AUTO_VAL; always leaves one image to train on (0 when fraction <= 0 and unset)."""
    if n < 2:
        return 0
    if wanted:
        return min(wanted, n - 1)
    if fraction <= 0:
        return 0
    return min(n - 1, MAX_AUTO_VAL, max(math.ceil(fraction * n), min(4, n // 3)))


def descriptor(img: torch.Tensor) -> torch.Tensor:
    """A small content description of a [3,H,W] uint8 image: mean colour, contrast, edge density, saturation."""
    x = F.interpolate(img[None].float() / 255.0, size=(32, 32), mode="area")[0]
    y = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    edges = (y[1:, :] - y[:-1, :]).abs().mean() + (y[:, 1:] - y[:, :-1]).abs().mean()
    saturation = (x.max(0).values - x.min(0).values).mean()
    return torch.cat([x.mean((1, 2)), torch.stack([y.std(), edges, saturation])]).double()


def diverse(images: list[torch.Tensor], count: int) -> list[int]:
    """Indices (ascending) of ``count`` images that represent the set's range of content: a greedy k-medoids
    choice on standardised descriptors (each pick most reduces every image's distance to its nearest pick), so
    the split covers the kinds of image there are rather than outliers. Deterministic; at most MAX_CANDIDATES
    evenly spaced images are considered."""
    if count <= 0:
        return []
    step = max(1, math.ceil(len(images) / MAX_CANDIDATES))
    ids = list(range(0, len(images), step))
    feats = torch.stack([descriptor(images[i]) for i in ids])
    feats = (feats - feats.mean(0)) / feats.std(0).clamp_min(1e-6) if len(ids) > 1 else feats
    dist = torch.cdist(feats, feats)
    chosen = [int(dist.sum(0).argmin())]
    nearest = dist[:, chosen[0]].clone()
    while len(chosen) < min(count, len(ids)):
        gain = (nearest[:, None] - dist).clamp_min(0).sum(0)
        gain[chosen] = -1.0
        pick = int(gain.argmax())
        chosen.append(pick)
        nearest = torch.minimum(nearest, dist[:, pick])
    return sorted(ids[c] for c in chosen)


def grid_crops(img: torch.Tensor, size: int, count: int, scale: int) -> list[torch.Tensor]:
    """Up to ``count`` crops of size x size (a multiple of scale; smaller for a small image) on an even grid
    over the image; one crop is the centre crop. Identical positions are kept once."""
    h, w = img.shape[-2:]
    ch, cw = min(size, h) // scale * scale, min(size, w) // scale * scale
    rows = max(1, round(math.sqrt(count)))
    cols = max(1, math.ceil(count / rows))

    def spots(extent: int, crop: int, n: int) -> list[int]:
        if n == 1:
            return [(extent - crop) // 2]
        return [round(i * (extent - crop) / (n - 1)) for i in range(n)]
    positions = [(y, x) for y in spots(h, ch, rows) for x in spots(w, cw, cols)][:count]
    return [img[:, y:y + ch, x:x + cw] for y, x in dict.fromkeys(positions)]


@dataclass
class ValidationSet:
    """Fixed HR/LR pairs of the validation split. hr, lr: lists of [1,3,h,w] float in [0,1]."""

    names: list[str]  # image names, relative to the dataset folder
    hr: list[torch.Tensor]
    lr: list[torch.Tensor]
    psnr_bicubic: float

    @property
    def crops(self) -> int:
        return len(self.hr)


def build_validation(names: list[str], images: list[torch.Tensor], scale: int, crop: int, crops: int,
                     settings: DegradeSettings, seed: int) -> ValidationSet:
    """Crops every usable image (at least 8 LR px a side) and degrades each crop once with a fixed seed."""
    g = torch.Generator().manual_seed(seed + VAL_SEED_OFFSET)
    kept, hrs, lrs = [], [], []
    for name, img in zip(names, images):
        if min(img.shape[-2:]) < 8 * scale:
            continue
        kept.append(name)
        for c in grid_crops(img, crop, crops, scale):
            hr = (c.float() / 255.0)[None]
            hrs.append(hr)
            lrs.append(degrade(hr, scale, settings, g))
    bicubic = [psnr_y(upscale_bicubic(lr, hr), hr, scale) for hr, lr in zip(hrs, lrs)]
    return ValidationSet(kept, hrs, lrs, sum(bicubic) / len(bicubic) if bicubic else 0.0)


def upscale_bicubic(lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)


@torch.no_grad()
def evaluate(model: torch.nn.Module, vset: ValidationSet, scale: int, device) -> dict:
    """{"psnr", "ssim", "psnr_bicubic"}: means over every crop (Y channel, border = scale); {} without crops."""
    if not vset.hr:
        return {}
    was_training = model.training
    model.eval()
    psnr = ssim = 0.0
    for hr, lr in zip(vset.hr, vset.lr):
        sr = model(lr.to(device)).float().cpu().clamp(0, 1)
        psnr += psnr_y(sr, hr, scale)
        ssim += ssim_y(sr, hr, scale)
    model.train(was_training)
    n = len(vset.hr)
    return {"psnr": psnr / n, "ssim": ssim / n, "psnr_bicubic": vset.psnr_bicubic}
