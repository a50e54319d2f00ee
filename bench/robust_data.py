"""Pre-cut HR training patches for the GPU robust run (bench/gpu_robust.py): a folder of PNG files small enough to
travel with the repository to a machine without network (at most --max-mib, default 48 MiB).

python bench/robust_data.py [--out bench/out/robust_data] [--patch 192] [--per-image 3] [--max-mib 48]
Source: the shipped configs' training images (trainer/configs/default_nano_x2_files.txt under data/templates,
`paragonsr2-train --fetch-data` first), the validation files (every 10th line) left out. From each image the
--per-image most detailed non-overlapping patches (mean gradient of luma) are kept, images in list order, until
the size budget is spent. Deterministic: the same source gives the same files.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from trainer.config import load_config  # noqa: E402
from trainer.data import listed_files, load_rgb, split_files  # noqa: E402


def detail(patch: torch.Tensor) -> float:
    y = patch.float().mean(0)
    return float((y[1:] - y[:-1]).abs().mean() + (y[:, 1:] - y[:, :-1]).abs().mean())


def patches(img: torch.Tensor, size: int, count: int) -> list[torch.Tensor]:
    """The ``count`` most detailed patches of a non-overlapping size x size grid, most detailed first."""
    h, w = img.shape[-2:]
    grid = [img[:, y:y + size, x:x + size] for y in range(0, h - size + 1, size) for x in range(0, w - size + 1, size)]
    return sorted(grid, key=detail, reverse=True)[:count]


def png_bytes(patch: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(patch.permute(1, 2, 0).numpy()).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "robust_data"))
    ap.add_argument("--patch", type=int, default=192, help="HR patch side in px (x2: 64 LR px x 3; x4: 48 x 4)")
    ap.add_argument("--per-image", type=int, default=3)
    ap.add_argument("--max-mib", type=float, default=48.0)
    args = ap.parse_args()
    cfg = load_config(ROOT / "trainer" / "configs" / "default_nano_x2.toml", paths_from="config",
                      data_root=str(ROOT / "data" / "templates"))
    train_files, _ = split_files(listed_files(cfg), cfg.val_fraction)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    budget, used, written = args.max_mib * 2**20, 0, 0
    for i, f in enumerate(train_files):
        img = load_rgb(f, max_side=cfg.max_side)
        for j, patch in enumerate(patches(img, args.patch, args.per_image)):
            data = png_bytes(patch)
            if used + len(data) > budget:
                print(f"{written} patches, {used / 2**20:.1f} MiB in {out} (budget reached at image {i})")
                return 0
            (out / f"{i:04d}_{j}.png").write_bytes(data)
            used, written = used + len(data), written + 1
    print(f"{written} patches, {used / 2**20:.1f} MiB in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
