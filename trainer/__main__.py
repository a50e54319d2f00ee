"""``python -m trainer --config FILE [--steps N] [--no-resume]`` with a progress bar."""
from __future__ import annotations

import argparse
import sys

from .config import load_config
from .loop import TrainCancelled, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description="Train a ParagonSR2 model")
    parser.add_argument("--config", required=True, help="TOML or YAML config (see trainer/configs/)")
    parser.add_argument("--steps", type=int, help="override the total step count")
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-resume", action="store_true", help="start over even if a state file exists")
    args = parser.parse_args(argv)
    overrides = {"steps": args.steps} if args.steps else {}
    try:
        cfg = load_config(args.config, **overrides)
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, unit="step", dynamic_ncols=True)

    def progress(step: int, total: int, info: dict) -> None:
        bar.n = step
        val = info.get("val") or {}
        bar.set_postfix(loss=f"{info['loss']:.4f}", lr=f"{info['lr']:.1e}",
                        **({"psnr": f"{val['psnr']:.2f}"} if val else {}))
    try:
        result = train(cfg, device=args.device, resume=not args.no_resume, on_progress=progress)
    except TrainCancelled as e:
        print(e, file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted; resume with the same command", file=sys.stderr)
        return 130
    finally:
        bar.close()
    print(f"done at step {result.step}: {result.ema_path} {result.val}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
