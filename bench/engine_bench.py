"""Engine benchmark (CPU), secondary: every backend x precision of the library, side by side, against a
re-implementation of ComfyUI's core tiling (bench/comfy_baseline.py). The speed users see is measured inside a
real ComfyUI by bench/comfy_speed.py (docs/speed.md); this bench compares the engine's paths with each other.

python bench/engine_bench.py [--model FILE ...] [--size 1024] [--repeat 3] [--threads 2]

Per model, one image (the bundled photo mirrored out to size x size), every row warmed up once, then `repeat`
interleaved rounds over all rows; the table gives the min of each, its ratio to ComfyUI's core tiling
(`comfy.utils.tiled_scale` semantics: tile 512, overlap 32, feathered, as ComfyUI's core "Upscale Image (using
Model)" runs it; first on the deploy-fused module the pack's loader gives, the baseline of the ratios, then on
what ComfyUI's core loader gets from spandrel) and the PSNR against PyTorch fp32 (our tiles, same border).
Default models: the bundled x2 and, when present, the real upstream nano from ../shared/checkpoints.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from comfy_baseline import comfy_tiled_scale  # noqa: E402

import paragonsr2 as p  # noqa: E402
from paragonsr2.engine import AutoBackend, make_backend, upscale  # noqa: E402
from paragonsr2.errors import ParagonError  # noqa: E402
from paragonsr2.numerics import psnr  # noqa: E402
from paragonsr2.sample import sample_crop  # noqa: E402

BUNDLED = ROOT / "paragonsr2" / "models" / "2x_ParagonSR2_nano_default.safetensors"
UPSTREAM = ROOT.parent / "shared" / "checkpoints" / "2xParagonSR2_Nano_Pretrain.safetensors"
# (label, backend, precision, options)
ROWS = (
    ("pytorch fp32", "pytorch", "fp32", {}),
    ("pytorch bf16 (HR part)", "pytorch", "bf16", {}),
    ("onnxruntime fp32", "onnxruntime", "fp32", {}),
    ("openvino fp32", "openvino", "fp32", {}),
    ("openvino bf16 (HR part)", "openvino", "bf16", {}),
    ("openvino bf16 (whole graph)", "openvino", "bf16", {"bf16_lr": True}),
)


def core_tiling(path: Path, fused: bool):
    """ComfyUI's core "Upscale Image (using Model)" path, fp32 on the CPU, on the module it is handed: the pack's
    loader node gives the deploy-fused model (`fused`), ComfyUI's core loader what spandrel loads (unfused)."""
    from spandrel import ModelLoader

    from paragonsr2.spandrel_arch import descriptor, register

    register()
    desc = descriptor(p.load_model(path, fuse=True)) if fused else ModelLoader().load_from_file(str(path))
    desc.eval()
    scale = int(desc.scale)
    return lambda x: comfy_tiled_scale(x, desc, scale, tile=512, overlap=32)


def runs(path: Path, threads: int) -> list[tuple[str, object]]:
    """(label, fn(x) -> [1,3,H*s,W*s]) for every row this machine can run."""
    model = p.load_model(path, fuse=True)
    out = [("ComfyUI core tiling (512/32), pack loader (deploy-fused)", core_tiling(path, True)),
           ("ComfyUI core tiling (512/32), core loader (spandrel, unfused)", core_tiling(path, False))]
    default = make_backend(model, device="cpu")  # the default: backend "auto", made once as the node keeps it
    out.append((f"default: auto -> {default.inner.describe()}" if isinstance(default, AutoBackend) else
                f"default: {default.describe()}",
                lambda x: upscale(default, x, layout="BCHW")))
    for label, backend, precision, options in ROWS:
        opts = dict(options, threads=threads) if backend in ("onnxruntime", "openvino") else options
        try:
            b = make_backend(model, backend, precision, "cpu", **opts)
        except ParagonError as e:
            print(f"skipped {label}: {e}")
            continue
        out.append((label, lambda x, b=b: upscale(b, x, layout="BCHW")))
    return out


def bench(path: Path, size: int, repeat: int, threads: int) -> None:
    x = sample_crop(size, size)
    rows = runs(path, threads)
    outputs = {label: fn(x) for label, fn in rows}  # warm-up (compiles, caches) and the outputs for PSNR
    best = {label: float("inf") for label, _ in rows}
    for _ in range(repeat):
        for label, fn in rows:
            t = time.perf_counter()
            fn(x)
            best[label] = min(best[label], time.perf_counter() - t)
    ref = outputs["pytorch fp32"]
    base = best[rows[0][0]]
    print(f"\n{path.name}, {size}x{size} x2, CPU {threads} threads, min of {repeat} interleaved runs\n")
    print("| run | seconds | vs core tiling | PSNR vs fp32 (dB) |")
    print("|---|---|---|---|")
    for label, _ in rows:
        print(f"| {label} | {best[label]:.2f} | {base / best[label]:.2f}x | {psnr(outputs[label], ref):.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", type=Path)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = args.model or [m for m in (BUNDLED, UPSTREAM) if m.is_file()]
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    print(f"CPU: {cpu}; torch {torch.__version__}")
    for path in models:
        bench(path, args.size, args.repeat, args.threads)


if __name__ == "__main__":
    main()
