"""``python -m trainer --config FILE [--steps N] [--stop-after N] [--no-resume]`` with a progress bar.

Exit codes: 0 done, 2 unusable config/data/state (one line on stderr), 130 cancelled (checkpoint kept).
"""
from __future__ import annotations

import argparse
import sys

from ._core import ParagonError
from .config import load_config
from .loop import TrainCancelled, train
from .report import summary


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description="Train a ParagonSR2 model")
    parser.add_argument("--config", required=True, help="TOML or YAML config (see trainer/configs/)")
    parser.add_argument("--steps", type=int, help="override the total step count")
    parser.add_argument("--stop-after", type=int, metavar="N",
                        help="stop (with a checkpoint) after N more steps; the schedule still spans all steps")
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-resume", action="store_true", help="start over even if a state file exists")
    args = parser.parse_args(argv)
    overrides = {"steps": args.steps} if args.steps else {}
    bar = ProgressBar()
    try:
        cfg = load_config(args.config, **overrides)
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
    print(summary(result, result.ema_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
