"""Upscale engine benchmark (CPU): prints a table of side-by-side timings and ratios.

python bench/engine_bench.py [--model FILE] [--size 1024] [--repeat 2] [--threads 2]
(a) engine vs a ComfyUI-style baseline on the same weights, (b) deploy-fused vs unfused,
(c) ONNX Runtime vs PyTorch, (d) tiled (auto) vs untiled, (e) peak RSS for 2048x2048 -> x2.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from comfy_baseline import comfy_tiled_scale  # noqa: E402

import paragonsr2 as p  # noqa: E402
from paragonsr2.engine import make_backend, upscale  # noqa: E402

DEFAULT_MODEL = ROOT / "paragonsr2" / "models" / "2x_ParagonSR2_nano_default.safetensors"


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def peak_rss_child(model: str, size: int, tile: str) -> float:
    """Peak RSS (MB) of a fresh process that upscales one size x size image."""
    code = (f"import sys,torch,resource; sys.path.insert(0,{str(ROOT)!r}); import paragonsr2 as p;"
            f"m=p.load_model({model!r},fuse=True); x=torch.rand(1,3,{size},{size});"
            f"hwm=lambda: int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]);"
            f"base=hwm(); y=p.upscale(m,x,tile={tile},layout='BCHW');"
            f"print(hwm(), base, y.shape[-1])")
    # VmHWM, not ru_maxrss: Linux carries a forking parent's high-water mark into ru_maxrss across exec
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-ort", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(1, 3, args.size, args.size)
    plain = p.load_model(args.model)
    scale = int(plain.scale[0])
    rows = []

    from spandrel import ModelLoader

    from paragonsr2.spandrel_arch import register

    register()
    desc = ModelLoader().load_from_file(args.model).eval()
    t_base = timed(lambda: comfy_tiled_scale(x, desc, scale), args.repeat)
    rows.append(("ComfyUI-style (spandrel, 512/32 feather)", t_base))

    fused_backend = make_backend(p.load_model(args.model, fuse=True), device="cpu")
    t_ours = timed(lambda: upscale(fused_backend, x, layout="BCHW"), args.repeat)
    rows.append(("ours: deploy-fused, auto tiles", t_ours))
    unfused_backend = make_backend(p.load_model(args.model), device="cpu")
    unfused_backend.model = p.load_model(args.model).to(memory_format=torch.channels_last)  # no fusion
    t_unfused = timed(lambda: upscale(unfused_backend, x, layout="BCHW"), args.repeat)
    rows.append(("ours: unfused, auto tiles", t_unfused))
    t_untiled = timed(lambda: upscale(fused_backend, x, tile=None, layout="BCHW"), args.repeat)
    rows.append(("ours: deploy-fused, untiled", t_untiled))
    t_ort = None
    if not args.skip_ort:
        ort_backend = make_backend(p.load_model(args.model, fuse=True), backend="onnxruntime", device="cpu",
                                   precision="fp32", threads=args.threads)
        t_ort = timed(lambda: upscale(ort_backend, x, layout="BCHW"), args.repeat)
        rows.append(("ours: ONNX Runtime fp32, auto tiles", t_ort))
    exact = (upscale(fused_backend, x, layout="BCHW") - upscale(fused_backend, x, tile=None, layout="BCHW"))
    exact = exact.abs().max().item()
    mp = args.size * args.size * scale * scale / 1e6
    print(f"\nnano-class model {Path(args.model).name}, {args.size}x{args.size} -> x{scale}, CPU, "
          f"{args.threads} threads, best of {args.repeat}\n")
    print("| run | seconds | output MP/s | vs ComfyUI-style |")
    print("|---|---|---|---|")
    for name, t in rows:
        print(f"| {name} | {t:.2f} | {mp / t:.2f} | {t_base / t:.2f}x |")
    print("\n| ratio | value |")
    print("|---|---|")
    print(f"| (a) engine throughput / ComfyUI-style | {t_base / t_ours:.2f}x |")
    print(f"| (b) deploy-fused speed-up over unfused | {t_unfused / t_ours:.2f}x |")
    if t_ort:
        print(f"| (c) ONNX Runtime time / PyTorch time | {t_ort / t_ours:.2f} |")
    print(f"| (d) tiled (auto) time / untiled time | {t_ours / t_untiled:.2f} |")
    print(f"| tiled vs untiled max abs diff | {exact:.2e} |")
    peak, base = peak_rss_child(args.model, 2048, "'auto'")
    print(f"| (e) peak RSS, 2048x2048 -> x{scale}, auto tiles | {peak:.0f} MB ({base:.0f} MB before the upscale: "
          f"torch + model + input; the float32 output alone is {2048 * 2048 * scale * scale * 3 * 4 / 2**20:.0f} MB) |")
    print(json.dumps({"base": t_base, "ours": t_ours, "unfused": t_unfused, "untiled": t_untiled, "ort": t_ort,
                      "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
