"""Quality of the bundled models vs PIL bicubic and lanczos on natural photos, for clean, JPEG and noisy LR.

python bench/quality_bench.py [--models A.safetensors ...] [--images DIR] [--jpeg Q ...] [--threads N]
LR = PIL bicubic downscale by the model's scale, then per condition: clean (as is), JPEG q60 (Pillow defaults,
4:2:0), noisy (Gaussian sigma = 5/255 added to the 8-bit LR, seeded, re-quantised). Metric: PSNR on Y (BT.601)
after 8-bit quantisation, border = scale, mean over images. Default models: every bundled file.
Default images: the natural photos inside the scikit-image wheel (never used in training):
`pip install --no-deps scikit-image` provides them without importing the package.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import paragonsr2 as p  # noqa: E402
from trainer.losses import psnr_y  # noqa: E402

SKIMAGE_PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "motorcycle_left.png",
                  "motorcycle_right.png", "rocket.jpg", "brick.png", "grass.png", "gravel.png", "moon.png")
BUNDLED = ROOT / "paragonsr2" / "models"
NOISE_SIGMA = 5.0  # 8-bit levels
JPEG_QUALITY = 60


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


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def noisy(im: Image.Image, sigma: float, seed: int) -> Image.Image:
    arr = np.asarray(im, dtype=np.float64)
    arr = arr + np.random.default_rng(seed).normal(0.0, sigma, arr.shape)
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8))


def conditions(jpeg_qualities=(JPEG_QUALITY,)) -> dict:
    """{name: make(lr_image, image_index)}: clean, one JPEG row per quality, noisy."""
    rows = {"clean": lambda im, i: im}
    rows.update({f"JPEG q{q}": (lambda im, i, q=q: jpeg(im, q)) for q in jpeg_qualities})
    rows[f"noise σ={NOISE_SIGMA:g}/255"] = lambda im, i: noisy(im, NOISE_SIGMA, seed=i)
    return rows


CONDITIONS = conditions()


def evaluate(models: list[Path], images: list[Path], scale: int,
             conds: dict = CONDITIONS) -> dict[str, dict[str, float]]:
    """{method: {condition: mean Y-PSNR}} for PIL bicubic, PIL lanczos and each model."""
    loaded = {m.name: p.load_model(m, fuse=True) for m in models}
    sums: dict[str, dict[str, list[float]]] = {n: {c: [] for c in conds}
                                               for n in ("PIL bicubic", "PIL lanczos", *loaded)}
    for i, path in enumerate(images):
        hr_im = Image.open(path).convert("RGB")
        w, h = hr_im.size
        hr_im = hr_im.crop((0, 0, w - w % scale, h - h % scale))
        hr = to_tensor(hr_im)
        clean_lr = hr_im.resize((hr_im.width // scale, hr_im.height // scale), Image.Resampling.BICUBIC)
        for cond, make in conds.items():
            lr_im = make(clean_lr, i)
            for name, method in (("PIL bicubic", Image.Resampling.BICUBIC), ("PIL lanczos", Image.Resampling.LANCZOS)):
                sums[name][cond].append(psnr_y(to_tensor(lr_im.resize(hr_im.size, method)), hr, scale))
            lr = to_tensor(lr_im)
            for name, model in loaded.items():
                out = p.upscale(model, lr, layout="BCHW", backend="pytorch", precision="fp32")  # the model's quality
                sums[name][cond].append(psnr_y(out, hr, scale))
    return {n: {c: float(np.mean(v)) for c, v in conds.items()} for n, conds in sums.items()}


def table(rows: dict[str, dict[str, float]], scale: int) -> str:
    base = rows["PIL bicubic"]
    conds = list(base)
    head = f"| ×{scale} | " + " | ".join(f"{c} Y-PSNR (vs bicubic)" for c in conds) + " |"
    lines = [head, "|---" * (len(conds) + 1) + "|"]
    for name, vals in rows.items():
        cells = " | ".join(f"{vals[c]:.2f} ({vals[c] - base[c]:+.2f})" for c in conds)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", type=Path, default=sorted(BUNDLED.glob("*.safetensors")))
    ap.add_argument("--images")
    ap.add_argument("--jpeg", nargs="+", type=int, default=[JPEG_QUALITY], metavar="Q",
                    help=f"JPEG qualities of the compressed rows (default {JPEG_QUALITY})")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = natural_images(args.images)
    by_scale: dict[int, list[Path]] = {}
    for m in args.models:
        by_scale.setdefault(int(p.load_model(m).description.scale[0]), []).append(m)
    conds = conditions(args.jpeg)
    print(f"{len(images)} natural images ({', '.join(i.stem for i in images)}); LR = PIL bicubic, then "
          f"{' / '.join(conds)} (noise seeded)")
    for scale, models in sorted(by_scale.items()):
        print()
        print(table(evaluate(models, images, scale, conds), scale))


if __name__ == "__main__":
    main()
