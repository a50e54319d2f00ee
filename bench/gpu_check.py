"""GPU checks (CUDA): precisions, overflow handling, speed, memory model, and TensorRT/ORT-CUDA when present.

Run through bench/gpu_check.sh on a machine with an NVIDIA GPU. Prints markdown tables.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import paragonsr2 as p  # noqa: E402
from paragonsr2.arch import ParagonSR2, variant_config  # noqa: E402
from paragonsr2.engine import make_backend, upscale  # noqa: E402
from paragonsr2.engine.memory import LIVE_HR_MAPS  # noqa: E402

SHARED = Path(os.environ.get("PARAGONSR2_SHARED", ROOT.parent / "shared")) / "checkpoints"
MODELS = {"default nano (ours)": ROOT / "paragonsr2" / "models" / "2x_ParagonSR2_nano_default.safetensors",
          "upstream nano (real)": SHARED / "2xParagonSR2_Nano_Pretrain.safetensors"}


def timed(fn, repeat=5) -> float:
    fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat


def psnr(a, b) -> float:
    mse = ((a.float().clamp(0, 1) - b.float().clamp(0, 1)) ** 2).mean().item()
    return 99.0 if mse == 0 else 10 * torch.log10(torch.tensor(1 / mse)).item()


def runtimes(x: torch.Tensor) -> dict:
    """Default model: PyTorch fp16 vs ONNX Runtime CUDA and TensorRT fp16/int8 engines (those installed);
    TensorRT's cache hit and its rebuild after a corrupted engine."""
    import tempfile

    from paragonsr2.export import export_model
    from paragonsr2.imageio import read_image
    from paragonsr2.sample import SAMPLE_IMAGE

    model = p.load_model(MODELS["default nano (ours)"], fuse=True)
    small = x[:, :, :256, :256]
    ref = upscale(make_backend(model, "pytorch", "fp32", device="cpu"), small, layout="BCHW")
    rows, out = [], {}

    def row(name: str, be, note: str = "") -> None:
        t = timed(lambda: upscale(be, x, layout="BCHW"), 3)
        q = psnr(upscale(be, small, layout="BCHW"), ref)
        rows.append(f"| {name} | {t:.3f} | {q:.1f} dB | {note} |")
        out[name] = {"s": t, "psnr": q}

    row("PyTorch fp16 (HR half)", make_backend(model, "pytorch", device="cuda", precision="fp16"))
    try:
        import onnxruntime as ort
        cuda_ep = "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        cuda_ep = False
    for prec in ("fp32", "fp16") if cuda_ep else ():
        row(f"ONNX Runtime CUDA {prec}", make_backend(model, "onnxruntime", prec, "cuda"))
    try:
        import tensorrt  # noqa: F401
        have_trt = True
    except ImportError:
        have_trt = False
    if have_trt:
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            be = make_backend(model, "tensorrt", "fp16", "cuda", cache_root=cache)
            build = time.perf_counter() - t0
            t0 = time.perf_counter()
            make_backend(model, "tensorrt", "fp16", "cuda", cache_root=cache)
            hit = time.perf_counter() - t0
            engine = next(Path(cache).glob("*.engine"))
            engine.write_bytes(b"corrupt")
            make_backend(model, "tensorrt", "fp16", "cuda", cache_root=cache)
            rebuilt = engine.stat().st_size > 100
            row("TensorRT fp16", be, f"build {build:.0f} s, cache hit {hit:.2f} s, rebuilt after corruption: {rebuilt}")
            t0 = time.perf_counter()
            int8 = Path(cache) / "int8.engine"
            export_model(model, int8, fmt="tensorrt", precision="int8", calib=read_image(SAMPLE_IMAGE)[:, :3],
                         calib_count=16, calib_size=64)
            row("TensorRT int8 (engine file)", make_backend(int8, "tensorrt"), f"export + build "
                f"{time.perf_counter() - t0:.0f} s")
    print(f"\nonnxruntime CUDA provider: {cuda_ep}; tensorrt installed: {have_trt}\n")
    print("| default nano ×2 | 1024² end to end (s) | PSNR vs fp32 CPU | notes |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    return out


def main() -> None:
    dev = torch.device("cuda")
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}\n")
    x = torch.rand(1, 3, 1024, 1024)
    results = {}
    print("| model | precision | 1024² ×2 time (s) | output MP/s | PSNR vs fp32 CPU | non-finite tiles redone |")
    print("|---|---|---|---|---|---|")
    for name, path in MODELS.items():
        if not path.is_file():
            continue
        model = p.load_model(path, fuse=True)
        with torch.no_grad():
            cpu = make_backend(p.load_model(path, fuse=True), "pytorch", "fp32", device="cpu")
            ref = upscale(cpu, x[:, :, :256, :256], layout="BCHW")
        for prec in ("fp32", "fp16", "bf16"):
            be = make_backend(p.load_model(path, fuse=True), "pytorch", device="cuda", precision=prec)
            t = timed(lambda be=be: upscale(be, x, layout="BCHW"), 3)
            small = upscale(be, x[:, :, :256, :256], layout="BCHW")
            q = psnr(small, ref)
            print(f"| {name} | {prec} | {t:.3f} | {4.19 / t:.1f} | {q:.1f} dB | {be.overflow_tiles} |")
            results[f"{name}/{prec}"] = {"s": t, "psnr": q}
        del model

    print("\n| variant | tile (LR px) | peak CUDA bytes per LR px | / (C·s²·4) = live HR maps |")
    print("|---|---|---|---|")
    worst = 0.0
    for variant in ("nano", "tiny", "s", "m"):
        net = p.deploy_fuse(ParagonSR2(variant_config(variant))).to(dev)
        c = net.config.num_feat
        for tile in (128, 256, 512):
            inp = torch.rand(1, 3, tile, tile, device=dev)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            with torch.inference_mode():
                net(inp)
            torch.cuda.synchronize()
            per_px = (torch.cuda.max_memory_allocated() - base) / (tile * tile)
            maps = per_px / (c * 4 * 4)
            worst = max(worst, maps)
            print(f"| {variant} | {tile} | {per_px:,.0f} | {maps:.2f} |")
        del net
        torch.cuda.empty_cache()
    print(f"\nmemory model constant in use: LIVE_HR_MAPS = {LIVE_HR_MAPS}; measured worst {worst:.2f}")

    results.update(runtimes(x))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
