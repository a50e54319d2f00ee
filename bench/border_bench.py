"""Image borders: PSNR of each border mode over whole natural photos (borders included) and over their outer frame.

python bench/border_bench.py [--models A.safetensors ...] [--images DIR] [--frame 8]
HR photo -> PIL bicubic LR (/scale) -> upscale(border=mode). Metric: RGB PSNR after 8-bit quantisation over the
whole image (no border cropped) and over the outer `frame` HR px only; mean over images. "zeros" is the network's
own zero padding (upstream, and ComfyUI's core node without this pack). Also: a 1x1 and a 2x2 flat image of
colour (200,30,40), the largest channel error in 8-bit levels. Default images: the scikit-image sample photos
(`pip install --no-deps scikit-image`), as bench/quality_bench.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from quality_bench import natural_images  # noqa: E402

import paragonsr2 as p  # noqa: E402
from paragonsr2.arch.geometry import BORDER_MODES  # noqa: E402
from paragonsr2.engine import make_backend, upscale  # noqa: E402

BUNDLED = ROOT / "paragonsr2" / "models"
UPSTREAM = ROOT.parent / "shared" / "checkpoints" / "2xParagonSR2_Nano_Pretrain.safetensors"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def frame_mask(h: int, w: int, frame: int) -> np.ndarray:
    mask = np.ones((h, w), dtype=bool)
    mask[frame:h - frame, frame:w - frame] = False
    return mask


def to_u8(t: torch.Tensor) -> np.ndarray:
    return (t[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def measure(model_path: Path, images: list[Path], frame: int) -> dict[str, tuple[float, float, float]]:
    model = p.load_model(model_path, fuse=True)
    scale = int(model.scale[0])
    backend = make_backend(model, "pytorch", "fp32", device="cpu")  # the border is what is measured
    rows = {mode: ([], []) for mode in BORDER_MODES}
    for path in images:
        hr = Image.open(path).convert("RGB")
        w, h = (hr.width // scale) * scale, (hr.height // scale) * scale
        hr = hr.crop((0, 0, w, h))
        lr = hr.resize((w // scale, h // scale), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(lr, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        ref = np.asarray(hr)
        mask = frame_mask(h, w, frame)
        for mode in BORDER_MODES:
            out = to_u8(upscale(backend, x, layout="BCHW", border=mode))
            rows[mode][0].append(psnr(out, ref))
            rows[mode][1].append(psnr(out[mask], ref[mask]))
    flat = {}
    colour = torch.tensor([200, 30, 40], dtype=torch.float32) / 255
    for mode in BORDER_MODES:
        errors = []
        for size in (1, 2):
            img = colour.view(1, 3, 1, 1).expand(1, 3, size, size)
            out = upscale(backend, img, layout="BCHW", border=mode)
            errors.append(float((out - colour.view(1, 3, 1, 1)).abs().max()) * 255)
        flat[mode] = max(errors)
    return {mode: (float(np.mean(a)), float(np.mean(b)), flat[mode]) for mode, (a, b) in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    defaults = [BUNDLED / "2x_ParagonSR2_nano_default.safetensors", BUNDLED / "4x_ParagonSR2_nano_default.safetensors"]
    ap.add_argument("--models", nargs="*", type=Path, default=defaults + ([UPSTREAM] if UPSTREAM.is_file() else []))
    ap.add_argument("--images")
    ap.add_argument("--frame", type=int, default=8, help="outer HR px measured separately")
    args = ap.parse_args()
    torch.set_num_threads(2)
    images = natural_images(args.images)
    print(f"{len(images)} photos; RGB PSNR (dB), whole image with borders / outer {args.frame} px frame; "
          "flat 1x1 and 2x2 (200,30,40): worst channel error in 8-bit levels\n")
    print(f"| model | border | whole image | outer {args.frame} px | flat 1x1/2x2 error |")
    print("|---|---|---|---|---|")
    for path in args.models:
        for mode, (whole, outer, flat) in measure(path, images, args.frame).items():
            print(f"| {path.stem} | {mode} | {whole:.2f} | {outer:.2f} | {flat:.1f} |")


if __name__ == "__main__":
    main()
