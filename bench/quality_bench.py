"""Quality of the bundled default model (and any others) vs PIL bicubic and lanczos on natural images.

python bench/quality_bench.py [--models A.safetensors B.safetensors ...] [--images DIR]
LR = PIL bicubic downscale by the model's scale; metrics: PSNR/SSIM on Y (BT.601), border = scale.
Default images: the natural photos that ship inside the scikit-image wheel (never used in training):
`pip install --no-deps scikit-image` provides them without importing the package.
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

import paragonsr2 as p  # noqa: E402
from trainer.losses import psnr_y, ssim_y  # noqa: E402

SKIMAGE_PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "motorcycle_left.png",
                  "motorcycle_right.png", "rocket.jpg", "brick.png", "grass.png", "gravel.png", "moon.png")
DEFAULT_MODEL = ROOT / "paragonsr2" / "models" / "2x_ParagonSR2_nano_default.safetensors"
DEFAULT_MODEL_X4 = ROOT / "paragonsr2" / "models" / "4x_ParagonSR2_nano_default.safetensors"


def natural_images(folder: str | None) -> list[Path]:
    if folder:
        return sorted(q for q in Path(folder).iterdir() if q.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("no images: pass --images DIR, or `pip install --no-deps scikit-image` for its sample photos")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return [data / n for n in SKIMAGE_PHOTOS if (data / n).is_file()]


def to_tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def evaluate(models: list[str], images: list[Path], scale: int) -> dict:
    """Per method: (Y-PSNR, Y-SSIM) for each image, LR = PIL bicubic downscale by ``scale``."""
    loaded = {Path(m).name: p.load_model(m, fuse=True) for m in models}
    rows: dict[str, list[tuple[float, float]]] = {"PIL bicubic": [], "PIL lanczos": [], **{k: [] for k in loaded}}
    for path in images:
        hr_im = Image.open(path).convert("RGB")
        w, h = hr_im.size
        hr_im = hr_im.crop((0, 0, w - w % scale, h - h % scale))
        lr_im = hr_im.resize((hr_im.width // scale, hr_im.height // scale), Image.Resampling.BICUBIC)
        hr = to_tensor(hr_im)
        for name, method in (("PIL bicubic", Image.Resampling.BICUBIC), ("PIL lanczos", Image.Resampling.LANCZOS)):
            up = to_tensor(lr_im.resize(hr_im.size, method))
            rows[name].append((psnr_y(up, hr, scale), ssim_y(up, hr, scale)))
        lr = to_tensor(lr_im)
        for name, model in loaded.items():
            sr = p.upscale(model, lr, layout="BCHW")
            rows[name].append((psnr_y(sr, hr, scale), ssim_y(sr, hr, scale)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=[str(DEFAULT_MODEL), str(DEFAULT_MODEL_X4)])
    ap.add_argument("--images")
    args = ap.parse_args()
    images = natural_images(args.images)
    by_scale: dict[int, list[str]] = {}
    for m in args.models:
        by_scale.setdefault(int(p.load_model(m).description.scale[0]), []).append(m)
    for scale, models in sorted(by_scale.items()):
        rows = evaluate(models, images, scale)
        base = np.mean([r[0] for r in rows["PIL bicubic"]])
        print(f"\n{len(images)} natural images ({', '.join(i.stem for i in images)}), LR = PIL bicubic x{scale}\n")
        print("| method | Y-PSNR (dB) | Y-SSIM | vs PIL bicubic |")
        print("|---|---|---|---|")
        for name, vals in rows.items():
            ps, ss = np.mean([v[0] for v in vals]), np.mean([v[1] for v in vals])
            print(f"| {name} | {ps:.2f} | {ss:.4f} | {ps - base:+.2f} dB |")


if __name__ == "__main__":
    main()
