"""A PNG grid of training patches through the degradation pipeline (for README).

python bench/degrade_grid.py [--image PATH] [--preset realistic] [--scale 2] [--out docs/trainer_degradations.png]
Default image: scikit-image's "coffee" photo (`pip install --no-deps scikit-image`), else tests/data/sample.png.
Row per HR patch: the HR patch, its clean bicubic LR, then LR draws of the preset (one seed each); LR shown
with nearest-neighbour enlargement to the HR size so that blocks, noise and halos stay visible.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from trainer.degrade import PRESETS, degrade, downscale, quantize  # noqa: E402


def default_image() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.submodule_search_locations:
        photo = Path(list(spec.submodule_search_locations)[0]) / "data" / "coffee.png"
        if photo.is_file():
            return photo
    return ROOT / "tests" / "data" / "sample.png"


def patches(path: Path, size: int, count: int) -> torch.Tensor:
    """``count`` HR patches [N,3,size,size] along the image's diagonal."""
    im = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(im).permute(2, 0, 1)
    h, w = x.shape[-2:]
    spots = [(round((h - size) * t), round((w - size) * t)) for t in np.linspace(0.2, 0.8, count)]
    return torch.stack([x[:, y:y + size, c:c + size] for y, c in spots])


def tile(img: torch.Tensor, size: int) -> Image.Image:
    arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(arr).resize((size, size), Image.Resampling.NEAREST)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", type=Path, default=None)
    ap.add_argument("--preset", default="realistic", choices=sorted(PRESETS))
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--patch", type=int, default=96, help="HR patch size in px")
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--draws", type=int, default=6)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "trainer_degradations.png")
    args = ap.parse_args()
    hr = patches(args.image or default_image(), args.patch, args.rows)
    pad, size = 4, args.patch
    grid = Image.new("RGB", ((args.draws + 2) * (size + pad) + pad, args.rows * (size + pad) + pad), "white")
    for r, patch in enumerate(hr):
        row = [patch, quantize(downscale(patch[None], args.scale, "bicubic"))[0]]
        seeds = range(r * args.draws, (r + 1) * args.draws)
        row += [degrade(patch[None], args.scale, PRESETS[args.preset], torch.Generator().manual_seed(s))[0]
                for s in seeds]
        for c, img in enumerate(row):
            grid.paste(tile(img, size), (pad + c * (size + pad), pad + r * (size + pad)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.rows} patches: HR, bicubic LR, {args.draws} '{args.preset}' draws)")


if __name__ == "__main__":
    main()
