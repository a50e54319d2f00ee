"""One command on a GPU machine without network: trains `s`-class robust x2 and x4 models on the 'web' degradations
within a time budget and writes the .safetensors files and a quality report to --out ($OUT on the device machine).

    python bench/robust_data.py                      # here, once: pre-cut HR patches (<= 48 MiB, bench/out/)
    bash bench/gpu_robust.sh                         # there: carry=["bench/out/robust_data"]
    python bench/gpu_robust.py --steps 2 --batch 2 --device cpu --out /tmp/x   # a tiny CPU check

Per scale (trainer/configs/robust_s_x2.toml, robust_s_x4.toml): unless --steps is given, a probe run measures
seconds per step (steps 10-30, after warm-up) and the real run gets as many steps as fit its share of --budget-s.
Then bench/quality_bench.py's evaluation compares the new model with the bundled `_real` model of that scale and
PIL bicubic on the scikit-image photos (clean, JPEG q60/80/90, noise sigma 5), written as quality_report.md/.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402

from trainer import load_config, train  # noqa: E402
from trainer.report import summary  # noqa: E402

CONFIGS = {2: ROOT / "trainer" / "configs" / "robust_s_x2.toml", 4: ROOT / "trainer" / "configs" / "robust_s_x4.toml"}
TARGETS = {"JPEG q60": 1.0, "noise σ=5/255": 1.5}  # gain over PIL bicubic the robust default should reach (dB)


def seconds_per_step(cfg, device: str, work: Path) -> float:
    """Wall time per step over steps 10..30 of a throwaway run (start-up and warm-up excluded)."""
    marks: dict[int, float] = {}
    probe = load_config(CONFIGS[cfg.scale], out_dir=str(work / f"probe_x{cfg.scale}"), steps=30, val_every=0,
                        save_every=0, val_images=1, data_root="", hr_dir=cfg.hr_dir)
    train(probe, device=device, resume=False, on_progress=lambda step, total, info: marks.setdefault(step, time.time()))
    return (marks[30] - marks[10]) / 20


def run_scale(scale: int, args, work: Path) -> Path:
    cfg = load_config(CONFIGS[scale], out_dir=str(work / f"robust_s_x{scale}"))
    if args.data:
        cfg.hr_dir = str(Path(args.data).resolve())
    if args.batch:
        cfg.batch = args.batch
    if args.steps:
        cfg.steps = args.steps
    else:
        began = time.time()
        per_step = seconds_per_step(cfg, args.device, work)
        share = args.budget_s / len(args.scales) - (time.time() - began)
        cfg.steps = max(100, int(share * 0.9 / per_step))  # 10 % for validation and saving
        print(f"x{scale}: {per_step * 1000:.1f} ms/step -> {cfg.steps} steps", flush=True)
    cfg.val_every = cfg.save_every = max(1, cfg.steps // 5)
    result = train(cfg, device=args.device, resume=False)
    final = Path(args.out) / f"{scale}x_ParagonSR2_s_real.safetensors"
    shutil.copyfile(result.published, final)
    (Path(args.out) / f"train_x{scale}.txt").write_text(summary(result) + "\n")
    return final


def quality(models: dict[int, Path], images_dir: str | None) -> dict:
    from quality_bench import BUNDLED, conditions, evaluate, natural_images, table

    images = natural_images(images_dir)
    conds = conditions((60, 80, 90))
    report, text = {}, [f"{len(images)} natural images; LR = PIL bicubic, then {' / '.join(conds)}"]
    for scale, new in sorted(models.items()):
        rows = evaluate([new, BUNDLED / f"{scale}x_ParagonSR2_nano_real.safetensors"], images, scale, conds)
        report[f"x{scale}"] = rows
        text += ["", table(rows, scale)]
        base, mine = rows["PIL bicubic"], rows[new.name]
        met = {c: mine[c] - base[c] >= t for c, t in TARGETS.items()}
        text.append(f"targets ({', '.join(f'{c} >= +{t}' for c, t in TARGETS.items())}): "
                    + ", ".join(f"{c} {'met' if ok else 'not met'}" for c, ok in met.items()))
    return {"rows": report, "text": "\n".join(text)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "bench" / "out" / "gpu_robust"))
    ap.add_argument("--data", help="HR patch folder (default: the configs' bench/out/robust_data)")
    ap.add_argument("--scales", nargs="+", type=int, default=[2, 4], choices=(2, 4))
    ap.add_argument("--budget-s", type=float, default=420.0, help="training seconds for all scales together")
    ap.add_argument("--steps", type=int, help="fixed steps per scale instead of the time budget (CPU check)")
    ap.add_argument("--batch", type=int, help="crops per step instead of the config's (CPU check)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--images", help="quality images (default: the scikit-image photos)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the trainer's header and validation lines
    os.chdir(ROOT)  # the configs' paths start at the repository root (paths_from = "cwd")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = ROOT / "runs" / "gpu_robust"
    started = time.time()
    models = {scale: run_scale(scale, args, work) for scale in args.scales}
    trained = time.time() - started
    q = quality(models, args.images)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    head = f"device {device}; training {trained:.0f} s for x{', x'.join(map(str, args.scales))}"
    (out / "quality_report.md").write_text(head + "\n\n" + q["text"] + "\n")
    (out / "quality_report.json").write_text(json.dumps({"device": device, "train_s": trained, **q["rows"]},
                                                        indent=1))
    print(head)
    print(q["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
