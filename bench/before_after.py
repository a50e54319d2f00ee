"""The README's before/after picture: a real photo downscaled x2 (PIL bicubic), then enlarged back by PIL
bicubic and by the bundled default model, side by side with the original, on one crop (each panel shown at
2x, nearest, so pixels stay visible). Y-PSNR of the whole photo in the labels.

    python bench/before_after.py            # scikit-image's chelsea.png (pip install --no-deps scikit-image),
                                            # else the bundled paragonsr2/data/verify.png
    python bench/before_after.py --image PHOTO --crop X,Y,SIZE --out docs/before_after.png
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paragonsr2 as p  # noqa: E402
from trainer.losses import psnr_y  # noqa: E402

MODEL = "2x_ParagonSR2_nano_default"
ZOOM = 2
LABEL_H = 22


def default_photo() -> tuple[Path, tuple[int, int, int]]:
    """(photo, crop x, y, size in HR px): scikit-image's cat when installed, else the bundled sample."""
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.submodule_search_locations:
        chelsea = Path(list(spec.submodule_search_locations)[0]) / "data" / "chelsea.png"
        if chelsea.is_file():
            return chelsea, (150, 60, 144)
    return ROOT / "paragonsr2" / "data" / "verify.png", (0, 0, 96)


def to_tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def to_image(t: torch.Tensor) -> Image.Image:
    return Image.fromarray((t[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))


def panel(im: Image.Image, box: tuple[int, int, int, int], label: str) -> Image.Image:
    crop = im.crop(box)
    crop = crop.resize((crop.width * ZOOM, crop.height * ZOOM), Image.NEAREST)
    out = Image.new("RGB", (crop.width, crop.height + LABEL_H), "white")
    out.paste(crop, (0, LABEL_H))
    ImageDraw.Draw(out).text((4, 5), label, fill="black")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", help="a photo (default: scikit-image's chelsea.png or the bundled sample)")
    ap.add_argument("--crop", help="X,Y,SIZE of the shown crop in the photo's pixels")
    ap.add_argument("--out", default=str(ROOT / "docs" / "before_after.png"))
    args = ap.parse_args()
    photo, crop = default_photo()
    if args.image:
        photo, crop = Path(args.image), (0, 0, 128)
    if args.crop:
        crop = tuple(int(v) for v in args.crop.split(","))
    torch.set_num_threads(2)
    hr = Image.open(photo).convert("RGB")
    hr = hr.crop((0, 0, hr.width // 2 * 2, hr.height // 2 * 2))
    lr = hr.resize((hr.width // 2, hr.height // 2), Image.BICUBIC)
    bicubic = lr.resize(hr.size, Image.BICUBIC)
    nearest = lr.resize(hr.size, Image.NEAREST)
    ours = to_image(p.upscale(p.load_model(MODEL), to_tensor(lr), backend="pytorch", precision="fp32",
                              layout="BCHW"))
    ref = to_tensor(hr)
    db = {name: psnr_y(to_tensor(im), ref, 2) for name, im in (("bicubic", bicubic), ("ours", ours))}
    x, y, size = crop
    box = (x, y, x + size, y + size)
    panels = [panel(nearest, box, "input (LR, x2 nearest)"), panel(bicubic, box, f"bicubic {db['bicubic']:.2f} dB"),
              panel(ours, box, f"ParagonSR2 nano x2 {db['ours']:.2f} dB"), panel(hr, box, "original")]
    sheet = Image.new("RGB", (sum(q.width for q in panels) + 6 * (len(panels) - 1), panels[0].height), "white")
    left = 0
    for q in panels:
        sheet.paste(q, (left, 0))
        left += q.width + 6
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"{photo.name} {hr.width}x{hr.height}, crop {box}: Y-PSNR bicubic {db['bicubic']:.2f} dB, "
          f"{MODEL} {db['ours']:.2f} dB -> {args.out}")


if __name__ == "__main__":
    main()
