"""``paragonsr2-train`` (= ``python -m trainer``): train or fine-tune a ParagonSR2 model, with a header, a
progress bar, validation lines and the published model's path at the end.

    paragonsr2-train --data DIR [--steps N] [--scale S] [--variant V] [--degradations D] [--name NAME] [--out DIR]
    paragonsr2-train --config FILE_OR_NAME [--data DIR] [--steps N] [--stop-after N] [--no-resume]
    paragonsr2-train --fetch-data [DIR]

Exit codes: 0 done, 2 unusable config/data/state (one line on stderr), 130 cancelled (checkpoint kept).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ._core import ParagonError, TrainError
from .config import TrainConfig, load_config
from .fetch import DEFAULT_DIR, fetch_default_data
from .loop import TrainCancelled, train
from .presets import DEGRADATION_PRESETS, short_run_config
from .report import summary

CONFIGS = Path(__file__).resolve().parent / "configs"
DEFAULT_STEPS = 2000  # --data without --config (the Train node's default too)


class ProgressBar:
    """on_progress callback drawing a tqdm bar, created at the first step (so errors print alone)."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, step: int, total: int, info: dict) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=step - 1, unit="step", dynamic_ncols=True)
        self.bar.n = step
        val = info.get("val") or {}
        self.bar.set_postfix(loss=f"{info['loss']:.4f}", lr=f"{info['lr']:.1e}",
                             **({"psnr": f"{val['psnr']:.2f}"} if val else {}))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Lines(logging.Handler):
    """Trainer log lines on stderr, above the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except ImportError:
            print(self.format(record), file=sys.stderr)


def config_file(value: str) -> Path:
    """A config file as given, or the name of a shipped one (``default_nano_x2``, with or without .toml)."""
    given = Path(value).expanduser()
    if given.is_file():
        return given
    for candidate in (CONFIGS / given.name, CONFIGS / f"{given.name}.toml", CONFIGS / f"{given.name}.yaml"):
        if candidate.is_file():
            return candidate
    shipped = ", ".join(sorted(p.stem for p in CONFIGS.glob("*.toml")))
    raise TrainError(f"config {value} is neither a file nor a shipped config ({shipped})")


def with_data(cfg: TrainConfig, data: str) -> TrainConfig:
    """--data: the folder that file_list entries are relative to (data_root), or else the HR folder (hr_dir)."""
    folder = str(Path(data).expanduser().resolve())
    if not Path(folder).is_dir():
        raise TrainError(f"--data {data} is not a folder")
    if cfg.file_list:
        cfg.data_root = folder
    else:
        cfg.hr_dir = folder
    return cfg


def build_config(args: argparse.Namespace) -> TrainConfig:
    if args.config:
        cfg = load_config(config_file(args.config), **({"steps": args.steps} if args.steps else {}))
        return with_data(cfg, args.data) if args.data else cfg
    if not args.data:
        raise TrainError("give --data DIR (a folder of high-resolution images) or --config FILE")
    name = args.name or "ParagonSR2_custom"
    cfg = short_run_config(hr_dir=".", variant=args.variant, scale=args.scale, steps=args.steps or DEFAULT_STEPS,
                           batch=8, patch=48, learning_rate=1e-3, degradations=args.degradations,
                           out_dir=str(Path(args.out or Path("runs") / f"{args.scale}x_{name}").resolve()),
                           name=name)
    return with_data(cfg, args.data)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="paragonsr2-train", description="Train or fine-tune a ParagonSR2 model. "
                                 "Relative paths inside a config start at the config file's folder (shipped "
                                 "configs: at the current folder).")
    ap.add_argument("--config", help="TOML/YAML config file, or the name of a shipped one (default_nano_x2, ...)")
    ap.add_argument("--data", metavar="DIR", help="folder of HR training images (with a file_list config: the "
                    "folder its entries are relative to)")
    ap.add_argument("--steps", type=int, help=f"total steps (without --config: {DEFAULT_STEPS})")
    ap.add_argument("--stop-after", type=int, metavar="N",
                    help="stop (with a checkpoint) after N more steps; the schedule still spans all steps")
    ap.add_argument("--scale", type=int, default=2, choices=(2, 3, 4), help="without --config (default 2)")
    ap.add_argument("--variant", default="nano", help="without --config: network size (default nano)")
    ap.add_argument("--degradations", default="clean", choices=DEGRADATION_PRESETS,
                    help="without --config: LR made from HR by this preset (default clean)")
    ap.add_argument("--name", help="without --config: model name (default ParagonSR2_custom)")
    ap.add_argument("--out", metavar="DIR", help="without --config: output folder (default runs/<scale>x_<name>)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--no-resume", action="store_true", help="start over even if a state file exists")
    ap.add_argument("--fetch-data", nargs="?", const=str(DEFAULT_DIR), metavar="DIR",
                    help=f"download the shipped configs' images into DIR (default {DEFAULT_DIR}) and exit")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    log = logging.getLogger("paragonsr2.trainer")
    handler = _Lines()
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO)
    bar = ProgressBar()
    try:
        if args.fetch_data:
            for folder in fetch_default_data(Path(args.fetch_data)):
                print(f"extracted {folder}")
            return 0
        cfg = build_config(args)
        result = train(cfg, device=args.device, resume=not args.no_resume, on_progress=bar,
                       max_steps_this_run=args.stop_after)
    except ParagonError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainCancelled as e:
        print(e, file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted; resume with the same command (it continues from the last checkpoint)", file=sys.stderr)
        return 130
    finally:
        bar.close()
        log.removeHandler(handler)
        log.setLevel(level)
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
