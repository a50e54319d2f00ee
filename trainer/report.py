"""A run in words: the header when it starts, the summary when it ends (CLI and Train node alike)."""
from __future__ import annotations

from pathlib import Path

WORSE_THAN_START_DB = 0.05  # below this margin under the starting model the summary warns
NAMES_SHOWN = 8


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def header(cfg, found: int, n_train: int, vset, device, threads: int, out_dir: Path) -> str:
    """What the run will do: images found and the split, device and threads, schedule, output folder."""
    start = f"fine-tuning {cfg.path(cfg.pretrained).name}" if cfg.pretrained else "training from scratch"
    skipped = found - n_train - len(vset.names)
    lines = [f"ParagonSR2 trainer: {cfg.variant} x{cfg.scale}, {start}",
             f"images: {found} found, {n_train} for training, {len(vset.names)} for validation"
             + (f", {skipped} unusable" if skipped > 0 else ""),
             f"validation: {vset.crops} crops (up to {cfg.val_crop} px), LR by the '{cfg.degradations}' "
             f"degradations drawn once: {_names(vset.names) or 'none'}",
             f"device: {device}, {threads} CPU thread(s); {cfg.steps} steps of {cfg.batch} x {cfg.patch} px crops, "
             f"lr {cfg.lr:g} (warmup {cfg.warmup}, cosine to {cfg.lr * cfg.min_lr_ratio:g}), "
             f"validation every {cfg.val_every} steps",
             f"output folder: {out_dir}"]
    return "\n".join(lines)


def _progress(result) -> str:
    if result.resumed_from is None:
        return f"trained {result.step} steps"
    if result.trained == 0 and result.step == result.resumed_from:
        return (f"already finished at step {result.step}, nothing trained (raise steps to train more); "
                "the published model was left as it was")
    return f"resumed from step {result.resumed_from}, trained {result.trained} steps to step {result.step}"


def summary(result, model_path: Path | None = None) -> str:
    """Several lines of text for the CLI and the Train node (never a raw dict): what was trained, on which
    validation images, what was published and why, and how it compares with the start and bicubic."""
    model_path = model_path or result.published
    start = f"fine-tuned from {result.pretrained}" if result.pretrained else "from scratch"
    lines = [f"{_progress(result)} ({start})"]
    lines += [f"changed since the last run: {c}" for c in result.changes]
    pub, val, begin = result.published_val or {}, result.val or {}, result.val_start or {}
    if not pub:
        lines.append(f"published {model_path}: {result.reason}")
        lines.append("no validation images (add more images, or set val_images)")
        return "\n".join(lines)
    lines.append(f"validation: {len(result.val_names)} images, {result.val_crops} crops: {_names(result.val_names)}")
    lines.append("Y-PSNR on the validation crops:")
    lines.append(f"  published model  {pub['psnr']:.2f} dB  (step {result.published_step})")
    if begin:
        lines.append(f"  starting model   {begin['psnr']:.2f} dB  ({pub['psnr'] - begin['psnr']:+.2f} dB)")
    if val and result.published_step != result.step:
        lines.append(f"  last EMA         {val['psnr']:.2f} dB  (step {result.step})")
    lines.append(f"  bicubic          {pub['psnr_bicubic']:.2f} dB  ({pub['psnr'] - pub['psnr_bicubic']:+.2f} dB)")
    lines.append(f"published {model_path}: {result.reason}")
    if begin and pub["psnr"] < begin["psnr"] - WORSE_THAN_START_DB:
        lines.append(f"warning: {begin['psnr'] - pub['psnr']:.2f} dB worse than the starting model on this "
                     "validation split (keep_best is off); train longer or lower the learning rate")
    elif pub["psnr"] < pub["psnr_bicubic"]:
        lines.append("warning: below bicubic; train longer or start from the bundled model")
    return "\n".join(lines)
