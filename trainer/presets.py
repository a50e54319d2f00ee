"""Short-run settings for the Train node (and any caller that gives only steps, batch, patch and a learning
rate): schedule heuristics and the starting weights, kept here so every front end trains the same way."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._core import BUNDLED_DIR
from .config import TrainConfig
from .degrade import PRESETS

DEGRADATION_PRESETS = tuple(PRESETS)
START_FROM = ("bundled model", "scratch")


@dataclass(frozen=True)
class Schedule:
    """A short run's learning-rate schedule: peak = learning_rate x lr_factor, linear warmup over warmup_share of
    the steps (at most 500), cosine decay to peak x min_lr_ratio."""

    lr_factor: float
    warmup_share: float
    min_lr_ratio: float


SCRATCH = Schedule(lr_factor=1.0, warmup_share=0.1, min_lr_ratio=0.01)
# a trained start: a smaller step (0.25 and 0.1 measured within 0.03 dB of each other on 14 photos, 150 steps,
# "light"; 0.25 ahead), a short warmup, decay to zero so the last steps settle
FINETUNE = Schedule(lr_factor=0.25, warmup_share=0.05, min_lr_ratio=0.0)
STAGES = ("1: fidelity", "2: perceptual finetune")
STAGE2 = dict(gan_weight=0.01, color_weight=1.0, r1_gamma=1.0, r2_gamma=1.0, disc_lr=1e-4)
PERCEPTUAL_WEIGHT = 0.1  # with a backbone file in stage 2


def bundled_model(variant: str, scale: int) -> Path | None:
    """The bundled clean model of this variant and scale, if the pack ships one."""
    path = BUNDLED_DIR / f"{scale}x_ParagonSR2_{variant}_default.safetensors"
    return path if path.is_file() else None


def short_run_config(*, hr_dir: str, variant: str, scale: int, steps: int, batch: int, patch: int,
                     learning_rate: float, degradations: str, out_dir: str, name: str,
                     start_from: str = "bundled model", stage: str = STAGES[0], perceptual_weights: str = "",
                     perceptual_arch: str = "vgg19") -> TrainConfig:
    """A complete config for a run of ``steps`` steps: a fine-tune of the bundled model (FINETUNE schedule)
    unless ``start_from`` is "scratch" or none is bundled (SCRATCH schedule); about 10 validations and checkpoints
    (at least 25 steps apart), the best validated EMA snapshot published (keep_best), an EMA fast enough to follow
    a short run. Stage 2 adds the discriminator and colour term (STAGE2) and, given a backbone file, the
    perceptual term."""
    pretrained = bundled_model(variant, scale) if start_from == "bundled model" else None
    plan = FINETUNE if pretrained else SCRATCH
    every = max(25, steps // 10)
    return TrainConfig(
        hr_dir=hr_dir, variant=variant, scale=scale, steps=steps, batch=batch, patch=patch,
        lr=learning_rate * plan.lr_factor, warmup=min(500, round(steps * plan.warmup_share)),
        min_lr_ratio=plan.min_lr_ratio, ema_decay=0.999 if steps >= 5000 else 0.99, degradations=degradations,
        out_dir=out_dir, name=name, val_every=every, save_every=every, pretrained=str(pretrained or ""),
        **_stage(stage, perceptual_weights, perceptual_arch))


def _stage(stage: str, perceptual_weights: str, perceptual_arch: str) -> dict:
    if stage == STAGES[0]:
        return {}
    extra = dict(STAGE2)
    if perceptual_weights.strip():
        extra.update(perceptual_weight=PERCEPTUAL_WEIGHT, perceptual_weights=perceptual_weights.strip(),
                     perceptual_arch=perceptual_arch)
    return extra
