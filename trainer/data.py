"""Training images: listed, checked (size from the header first), held in memory as uint8, split, cropped.

Random crops, flips and rotations come from a torch.Generator; nothing touches the global RNG.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._core import TrainError
from .validation import diverse, validation_count

log = logging.getLogger("paragonsr2.trainer")
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT and p.is_file())


def load_rgb(path: Path, max_side: int = 0, max_pixels: int = 0) -> torch.Tensor:
    """[3,H,W] uint8 (first frame of animated files), optionally downscaled so max(H,W) <= max_side.

    Raises TrainError before decoding when the header says the image has more than ``max_pixels`` pixels.
    """
    from PIL import Image

    try:
        opened = Image.open(path)
    except Image.DecompressionBombError as e:  # Pillow's own limit (2 x Image.MAX_IMAGE_PIXELS) fired first
        raise TrainError(f"more pixels than max_pixels = {max_pixels} and Pillow's limit: {e}") from None
    with opened as im:
        if max_pixels and im.width * im.height > max_pixels:
            raise TrainError(f"{im.width}x{im.height} px is more than max_pixels = {max_pixels}")
        im.seek(0)
        if max_side and max(im.size) > max_side:
            im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced size where possible
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            f = max_side / max(im.size)
            im = im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.LANCZOS)
        arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def try_load(path: Path, max_side: int, max_pixels: int) -> torch.Tensor | None:
    """load_rgb, or None with one warning for a file that is unreadable, too large or not an image."""
    from PIL import Image

    try:
        return load_rgb(path, max_side, max_pixels)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # TrainError is a ValueError
        log.warning("skipping %s: %s", path, e)
        return None


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
            raise TrainError(f"no training image is at least {hp}x{hp} px (patch {patch} x scale {scale}); "
                             "lower 'patch' or add larger images")

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


@dataclass
class Dataset:
    train: list[torch.Tensor]  # HR images, [3,H,W] uint8
    val: list[torch.Tensor]
    lr: list[torch.Tensor] | None  # paired LR images (same order as train), or None: LR made on the fly
    val_names: list[str]  # the validation images, relative to the dataset folder
    found: int  # image files listed (before unusable ones were skipped)
    fingerprint: str  # sha256 of the listed files' relative names and sizes: tells a changed dataset on resume


def dataset_root(cfg) -> Path:
    """The folder image names are given relative to: data_root (or the list's folder) for file_list, else hr_dir."""
    if cfg.file_list:
        return cfg.path(cfg.data_root) if cfg.data_root else cfg.list_path().parent
    return cfg.path(cfg.hr_dir)


def relative_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def fingerprint(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{relative_name(f, root)}\0{f.stat().st_size}\n".encode())
    return h.hexdigest()


def listed_files(cfg) -> list[Path]:
    """The run's image files (file_list or hr_dir); TrainError with one line when there is nothing to read."""
    if cfg.file_list:
        listing = cfg.list_path()
        base = dataset_root(cfg)
        if not listing.is_file():
            raise TrainError(f"file_list {listing} does not exist")
        lines = [ln.strip() for ln in listing.read_text().splitlines()]
        files = [p if (p := Path(ln)).is_absolute() else base / p for ln in lines if ln and not ln.startswith("#")]
        present = [f for f in files if f.is_file()]
        if files and not present:
            raise TrainError(f"none of the {len(files)} images in {listing} is under {base}; for the shipped "
                             "configs run `paragonsr2-train --fetch-data` first (or pass --data DIR)")
        if len(present) < len(files):
            log.warning("%d of %d listed images are missing under %s", len(files) - len(present), len(files), base)
        return present
    if not cfg.hr_dir:
        raise TrainError("set hr_dir (a folder of HR images) or file_list")
    folder = cfg.path(cfg.hr_dir)
    if not folder.is_dir():
        raise TrainError(f"hr_dir {folder} is not a folder")
    files = list_images(folder)
    if not files:
        raise TrainError(f"hr_dir {folder} holds no image ({', '.join(IMAGE_EXT)})")
    return files


def _load_all(files: list[Path], cfg) -> list[tuple[Path, torch.Tensor]]:
    loaded = ((f, try_load(f, cfg.max_side, cfg.max_pixels)) for f in files)
    return [(f, img) for f, img in loaded if img is not None and min(img.shape[-2:]) >= cfg.min_size]


def _paired_lr(kept: list[Path], cfg) -> list[torch.Tensor]:
    lr_dir = cfg.path(cfg.lr_dir)
    missing = [f.name for f in kept if not (lr_dir / f.name).is_file()]
    if missing:
        raise TrainError(f"lr_dir {lr_dir} lacks {len(missing)} paired image(s), e.g. {missing[0]}")
    return [load_rgb(lr_dir / f.name, 0, cfg.max_pixels) for f in kept]


def _split(files: list[Path], cfg) -> tuple[list, list]:
    """(train, val) lists of (file, image): every k-th file, or the content-diverse choice among usable images."""
    if cfg.val_split == "every_kth":
        train_files, val_files = split_files(files, cfg.val_fraction)
        return _load_all(train_files, cfg), _load_all(val_files, cfg)
    loaded = _load_all(files, cfg)
    held = set(diverse([img for _, img in loaded], validation_count(len(loaded), cfg.val_fraction, cfg.val_images)))
    return [x for i, x in enumerate(loaded) if i not in held], [x for i, x in enumerate(loaded) if i in held]


def load_dataset(cfg) -> Dataset:
    """Reads and splits the images of a TrainConfig (unusable files skipped with a warning each)."""
    files = listed_files(cfg)
    root = dataset_root(cfg)
    train, val = _split(files, cfg)
    if not train:
        raise TrainError(f"none of the {len(files) - len(val)} training images could be used (unreadable, larger "
                         f"than max_pixels = {cfg.max_pixels} or smaller than min_size = {cfg.min_size})")
    lr = _paired_lr([f for f, _ in train], cfg) if cfg.lr_dir else None
    return Dataset([img for _, img in train], [img for _, img in val], lr,
                   [relative_name(f, root) for f, _ in val], len(files), fingerprint(files, root))
