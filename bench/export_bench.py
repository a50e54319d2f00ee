"""Export benchmark: ONNX Runtime CPU speed and accuracy of FP32 / FP16 / INT8 exports, side by side.

python bench/export_bench.py [--model FILE] [--size 512] [--threads 1 2] [--repeat 9] [--calib DIR]
Rows: the FP32 and FP16 files `export` writes (the "portable" graph, which NCNN converters also take), the FP32
"runtime" graph (what the engine runs in ONNX Runtime, and what INT8 is quantized from), and INT8. Speed ratios
are against the runtime FP32 graph. Times: wall seconds per image (min / median of interleaved runs) and, for one
thread, the process's CPU seconds (min), which other work on a shared machine barely changes.
Accuracy: PSNR of each export's output against the FP32 PyTorch output on natural images
(the scikit-image sample photos, downscaled x2 by PIL bicubic as LR inputs, 256 px centre crops).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from quality_bench import natural_images, to_tensor  # noqa: E402

import paragonsr2 as p  # noqa: E402
from paragonsr2.compile.onnx import export_onnx_proto, save_proto  # noqa: E402
from paragonsr2.export import export_onnx  # noqa: E402
from paragonsr2.numerics import psnr  # noqa: E402

DEFAULT_MODEL = ROOT / "paragonsr2" / "models" / "2x_ParagonSR2_nano_default.safetensors"


def lr_crops(images: list[Path], size: int = 256) -> list[torch.Tensor]:
    out = []
    for path in images:
        im = Image.open(path).convert("RGB")
        im = im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC)
        x = to_tensor(im)
        h, w = x.shape[-2:]
        y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
        out.append(x[:, :, y0:y0 + size, x0:x0 + size].contiguous())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--calib", default=None, help="calibration folder (default: the verify sample + photos' LR)")
    args = ap.parse_args()
    model = p.load_model(args.model, fuse=True)
    images = natural_images(None)
    crops = lr_crops(images)
    calib = args.calib or torch.cat([c[:, :, :128, :128] for c in crops[::2]])  # half the photos calibrate
    tests = crops[1::2]  # the other half measures
    x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
    built = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        runtime = save_proto(export_onnx_proto(model, "fp32", graph="runtime"), Path(tmp) / "m_runtime.onnx")
        built.append(("fp32 runtime graph", runtime, time.perf_counter() - t0))  # the reference row
        for prec in ("fp32", "fp16", "int8"):
            path = Path(tmp) / f"m_{prec}.onnx"
            t0 = time.perf_counter()
            export_onnx(model, path, precision=prec, calib=calib if prec == "int8" else None)
            built.append((prec, path, time.perf_counter() - t0))
        table = {}
        for threads in args.threads:
            sessions = []
            for _prec, path, _ in built:
                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                sessions.append(ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]))
                sessions[-1].run(None, {"input": x})
            times, cpu = [[] for _ in sessions], [[] for _ in sessions]
            for _ in range(args.repeat):  # interleaved, so that load on this shared machine hits all alike
                for k, sess in enumerate(sessions):
                    c0, t0 = time.process_time(), time.perf_counter()
                    sess.run(None, {"input": x})
                    times[k].append(time.perf_counter() - t0)
                    cpu[k].append(time.process_time() - c0)
            table[threads] = [(min(t), float(np.median(t)), min(c)) for t, c in zip(times, cpu)]
        scores = []
        for _prec, path, _ in built:
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            per_image = []
            for c in tests:
                with torch.no_grad():
                    ref = model(c).numpy()
                per_image.append(psnr(sess.run(None, {"input": c.numpy()})[0], ref))
            scores.append((min(per_image), float(np.mean(per_image)), path.stat().st_size / 1024))
    print(f"\n{Path(args.model).name}: ONNX Runtime {ort.__version__} CPU, {args.size}x{args.size} input, "
          f"{args.repeat} interleaved runs each (min / median seconds)\n")
    head = " | ".join(f"{t} thread{'s' if t > 1 else ''}: s (min / med) | vs FP32 (min / med)" for t in args.threads)
    cpu_head = " | 1 thread: CPU s (min) | vs FP32" if 1 in args.threads else ""
    print(f"| export | {head}{cpu_head} | PSNR vs FP32 PyTorch (min / mean) | size (KiB) | export s |")
    print("|---|" + "---|---|" * (len(args.threads) + bool(cpu_head)) + "---|---|---|")
    for k, (prec, _, export_s) in enumerate(built):
        cells = []
        for threads in args.threads:
            (tmin, tmed, _), (rmin, rmed, _) = table[threads][k], table[threads][0]
            cells.append(f"{tmin:.3f} / {tmed:.3f} | {rmin / tmin:.2f}x / {rmed / tmed:.2f}x")
        if cpu_head:
            cells.append(f"{table[1][k][2]:.3f} | {table[1][0][2] / table[1][k][2]:.2f}x")
        mn, mean, kib = scores[k]
        acc = "reference" if prec.startswith("fp32") else f"{mn:.1f} / {mean:.1f} dB"
        print(f"| {prec} | {' | '.join(cells)} | {acc} | {kib:.0f} | {export_s:.0f} |")


if __name__ == "__main__":
    main()
