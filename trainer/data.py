"""Image datasets held in memory as uint8; random crops, flips and rotations from a torch.Generator."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT and p.is_file())


def load_rgb(path: Path, max_side: int = 0) -> torch.Tensor:
    """[3,H,W] uint8 (first frame of animated files), optionally downscaled so max(H,W) <= max_side."""
    from PIL import Image

    with Image.open(path) as im:
        im.seek(0)
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            f = max_side / max(im.size)
            im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.LANCZOS)
        arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def split_files(files: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    """Every k-th file (k = round(1/val_fraction)) is held back for validation."""
    if val_fraction <= 0:
        return files, []
    k = max(2, round(1 / val_fraction))
    val = [f for i, f in enumerate(files) if i % k == k - 1] or files[-1:] * (len(files) >= 2)
    return [f for f in files if f not in val], val


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and 0/90/180/270 rotation of [...,H,W]."""
    if torch.rand((), generator=g).item() < 0.5:
        x = x.flip(-1)
    return torch.rot90(x, int(torch.randint(4, (), generator=g)), dims=(-2, -1))


class CropSampler:
    """Draws batches of HR crops (and paired LR crops when given) from in-memory images."""

    def __init__(self, hr: list[torch.Tensor], patch: int, scale: int, lr: list[torch.Tensor] | None = None) -> None:
        self.hr, self.lr, self.patch, self.scale = hr, lr, patch, scale
        hp = patch * scale
        self.usable = [i for i, t in enumerate(hr) if t.shape[-2] >= hp and t.shape[-1] >= hp]
        if not self.usable:
            raise ValueError(f"no training image is at least {hp}x{hp} px; lower 'patch' or add larger images")

    def batch(self, size: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        hp, s = self.patch * self.scale, self.scale
        hrs, lrs = [], []
        for _ in range(size):
            i = self.usable[int(torch.randint(len(self.usable), (), generator=g))]
            img = self.hr[i]
            y = int(torch.randint((img.shape[-2] - hp) // s + 1, (), generator=g)) * s
            x = int(torch.randint((img.shape[-1] - hp) // s + 1, (), generator=g)) * s
            crop = img[:, y:y + hp, x:x + hp]
            if self.lr is not None:
                lr = self.lr[i][:, y // s:(y + hp) // s, x // s:(x + hp) // s]
                state = g.get_state()
                lrs.append(augment(lr, g))
                g.set_state(state)
            hrs.append(augment(crop, g))
        hr = torch.stack(hrs).float() / 255.0
        return hr, (torch.stack(lrs).float() / 255.0 if lrs else None)
