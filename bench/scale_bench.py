"""Scale-out benchmark: a folder job run here vs on Ray with 1 and 2 workers (actors), side by side.

python bench/scale_bench.py [--count 12] [--size 128] [--rounds 2] [--workers 1 2] [--address ADDR]
                            [--backend pytorch] [--precision fp32] [--device cpu]

Inputs: ``count`` and ``2 * count`` random RGB PNGs of size x size. Each round runs every row on both sets,
interleaved, into fresh output folders; the table gives the fastest of the rounds (the least disturbed
by other load). From the two sets, per row:
the steady cost per image ((t(2N) - t(N)) / N, so images/s without start-up) and the fixed cost per job
(t(N) - N x per-image: actor start-up, model shipping and loading). Ray's overhead per image is its
per-image cost minus the local runner's at the same torch thread count (1: each Ray actor has one CPU).
Without ``--address`` a local Ray instance with all CPUs is started (its start-up is printed once).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from paragonsr2.jobs import JobSettings, LocalRunner, plan_upscale, run_job  # noqa: E402


def make_inputs(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        arr = (np.random.default_rng(i).random((size, size, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i:04d}.png")
    return folder


def timed(row, settings: JobSettings, src: Path, out: Path) -> float:
    label, workers, threads = row
    from paragonsr2.jobs.cluster import RayRunner

    runner = LocalRunner(settings) if workers == 0 else RayRunner(settings, workers=workers)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads or saved)
    try:
        start = time.perf_counter()
        summary = run_job(plan_upscale([str(src)], str(out)), settings, runner=runner)
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(saved)
    assert summary.failed == 0 and summary.skipped == 0, summary.line()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--address", default=None, help="a Ray cluster (default: a local instance)")
    ap.add_argument("--backend", default="pytorch")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import ray

    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    start = time.perf_counter()
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    print(f"ray.init: {time.perf_counter() - start:.1f} s; cluster CPUs {ray.cluster_resources().get('CPU', 0):g}, "
          f"GPUs {ray.cluster_resources().get('GPU', 0):g}; this machine: {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}")
    settings = JobSettings(backend=args.backend, precision=args.precision, device=args.device)
    rows = [("local, 1 thread", 0, 1), (f"local, {torch.get_num_threads()} threads", 0, None)]
    rows += [(f"ray, {w} worker{'s' if w > 1 else ''}", w, None) for w in args.workers]
    times: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        tmp = Path(tmp)
        sets = {n: make_inputs(tmp / f"in{n}", n, args.size) for n in (args.count, 2 * args.count)}
        for r in range(args.rounds):
            for row in rows:
                for n, src in sets.items():
                    out = tmp / f"out-{r}-{row[0].replace(' ', '').replace(',', '-')}-{n}"
                    times.setdefault((row[0], n), []).append(timed(row, settings, src, out))
    n = args.count
    print(f"\n{n} and {2 * n} images of {args.size}x{args.size}, {args.backend} {args.precision} on {args.device}, "
          f"fastest of {args.rounds} interleaved rounds")
    print(f"{'row':<20} {'t(N) s':>8} {'t(2N) s':>8} {'images/s':>9} {'per image ms':>13} {'fixed s':>8}")
    per_image = {}
    for label, _, _ in rows:
        t1, t2 = min(times[(label, n)]), min(times[(label, 2 * n)])
        per_image[label] = (t2 - t1) / n
        fixed = t1 - n * per_image[label]
        print(f"{label:<20} {t1:8.2f} {t2:8.2f} {1 / per_image[label]:9.2f} {per_image[label] * 1e3:13.1f} "
              f"{fixed:8.2f}")
    if "ray, 1 worker" in per_image:
        overhead = per_image["ray, 1 worker"] - per_image["local, 1 thread"]
        print(f"\nRay overhead per image vs local (1 thread each): {overhead * 1e3:+.1f} ms")
    ray.shutdown()


if __name__ == "__main__":
    main()
