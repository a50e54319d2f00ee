"""The training loop: AdamW + warmup/cosine, grad clipping, AMP on CUDA, EMA, validation, resume, and the
optional stage-2 terms (perceptual, colour consistency, relativistic GAN with R1/R2).

The host process is left as found: the global RNG is never reseeded (weights are initialised inside
``torch.random.fork_rng``, all sampling uses the run's own generator) and the thread count is restored.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import report
from ._core import ParagonSR2, TrainError, load_model, save_model, variant_config
from .config import TrainConfig
from .data import CropSampler, load_dataset
from .degrade import DegradeSettings, degrade
from .ema import EMA
from .gan import PatchDiscriminator, discriminator_step, generator_loss
from .losses import charbonnier, color_consistency, frequency_loss, ms_ssim
from .perceptual import load_perceptual
from .state import check_identity, check_resume, read_state, remove_orphans, write_state
from .validation import ValidationSet, build_validation, evaluate

log = logging.getLogger("paragonsr2.trainer")
Perceptual = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TrainCancelled(Exception):
    """Raised when the cancel callback asks to stop; the last checkpoint has been written."""

    def __init__(self, step: int, path: Path) -> None:
        super().__init__(f"training stopped at step {step}; the step-{step} checkpoint is kept at {path}")
        self.step, self.path = step, path


@dataclass
class TrainResult:
    ema_path: Path  # the last EMA weights (run folder)
    state_path: Path
    step: int
    val: dict  # validation of the last EMA weights
    val_start: dict = field(default_factory=dict)  # validation of the starting weights (before step 1)
    published: Path | None = None  # the run's model: <out_dir>/<scale>x_<name>.safetensors
    published_step: int = 0  # the step whose weights it holds (0: the starting weights)
    published_val: dict = field(default_factory=dict)
    reason: str = ""  # why those weights were published
    val_names: list[str] = field(default_factory=list)  # validation images, relative to the dataset folder
    val_crops: int = 0  # validation crops in all
    resumed_from: int | None = None  # the step this call resumed from (None: a new run)
    trained: int = 0  # steps trained by this call (0 with resumed_from == step: the run had already finished)
    changes: list[str] = field(default_factory=list)  # settings changed since the run's state was written
    pretrained: str = ""  # the starting weights' file name ("" from scratch)


@dataclass
class Adversary:
    disc: PatchDiscriminator
    opt: torch.optim.Optimizer


@dataclass
class Run:
    """Everything a run carries from step to step."""

    cfg: TrainConfig
    device: torch.device
    model: ParagonSR2
    ema: EMA
    opt: torch.optim.Optimizer
    gen: torch.Generator
    sampler: CropSampler
    vset: ValidationSet
    degradations: DegradeSettings
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None  # None: full precision
    adversary: Adversary | None = None
    perceptual: Perceptual | None = None
    fingerprint: dict = field(default_factory=dict)  # data and settings, checked on resume (state.check_resume)
    step: int = 0
    val: dict = field(default_factory=dict)
    val_start: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)  # {"step", "val"} of the best validated weights (step 0: the start)
    best_weights: dict | None = None  # their state dict, on the CPU
    resumed_from: int | None = None
    changes: list[str] = field(default_factory=list)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to ``lr * min_lr_ratio``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def state_path(cfg: TrainConfig) -> Path:
    return cfg.path(cfg.out_dir) / f"{cfg.name}.state.pt"


def ema_path(cfg: TrainConfig) -> Path:
    return cfg.path(cfg.out_dir) / f"{cfg.scale}x_{cfg.name}_ema.safetensors"


def published_path(cfg: TrainConfig) -> Path:
    return cfg.path(cfg.out_dir) / f"{cfg.scale}x_{cfg.name}.safetensors"


@contextlib.contextmanager
def host_untouched(threads: int) -> Iterator[None]:
    """Sets the run's CPU thread count and restores the caller's afterwards."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _identity(cfg: TrainConfig) -> dict[str, str]:
    return {"variant": cfg.variant, "scale": str(cfg.scale), "upsampler_alpha": str(cfg.upsampler_alpha)}


def build_networks(cfg: TrainConfig) -> tuple[ParagonSR2, PatchDiscriminator | None]:
    """Generator (from ``pretrained`` when set) and, with gan_weight > 0, the discriminator; seeded with the
    run's seed inside a forked RNG so the host's global RNG stays as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = ParagonSR2(variant_config(cfg.variant), cfg.scale, cfg.upsampler_alpha)
        disc = PatchDiscriminator(cfg.disc_channels) if cfg.gan_weight > 0 else None
    if cfg.pretrained:
        try:
            start = load_model(cfg.path(cfg.pretrained), strict_upstream=True)
            model.load_state_dict(start.state_dict())
        except (RuntimeError, OSError) as e:
            raise TrainError(f"pretrained {cfg.path(cfg.pretrained)} does not fit a {cfg.variant} x{cfg.scale} "
                             f"network: {str(e).splitlines()[0]}") from None
    return model, disc


def _perceptual(cfg: TrainConfig, given: Perceptual | None, device) -> Perceptual | None:
    if not cfg.perceptual_weight:
        return None
    if cfg.perceptual_weights:
        return load_perceptual(cfg.path(cfg.perceptual_weights), cfg.perceptual_arch).to(device)
    if given is None:
        raise TrainError("perceptual_weight > 0 needs perceptual_weights = FILE (a torchvision VGG/ConvNeXt state "
                         "dict you supply) or a perceptual callable passed to train()")
    return given


def build_run(cfg: TrainConfig, device: torch.device, perceptual: Perceptual | None) -> Run:
    degradations = cfg.degrade_settings()
    data = load_dataset(cfg)
    sampler = CropSampler(data.train, cfg.patch, cfg.scale, data.lr)
    vset = build_validation(data.val_names, data.val, cfg.scale, cfg.val_crop, cfg.val_crops, degradations, cfg.seed)
    model, disc = build_networks(cfg)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    adversary = None
    if disc is not None:
        disc.to(device)
        adversary = Adversary(disc, torch.optim.AdamW(disc.parameters(), lr=cfg.disc_lr, betas=(0.0, 0.99)))
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if use_amp else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    settings = cfg.portable_dict()
    settings.pop("threads")
    run = Run(cfg, device, model, EMA(model, cfg.ema_decay), opt, torch.Generator().manual_seed(cfg.seed),
              sampler, vset, degradations, scaler, amp_dtype, adversary, _perceptual(cfg, perceptual, device),
              {"data": data.fingerprint, "files": data.found, "settings": settings})
    log.info("%s", report.header(cfg, data.found, len(data.train), vset, device, torch.get_num_threads(),
                                 cfg.path(cfg.out_dir)))
    return run


def run_state(run: Run) -> dict:
    state = {"step": torch.tensor(run.step), "model": run.model.state_dict(), "ema": run.ema.state_dict(),
             "optimizer": run.opt.state_dict(), "generator": run.gen.get_state(), "identity": _identity(run.cfg),
             "val_start": dict(run.val_start), "val": dict(run.val), "best": dict(run.best),
             "fingerprint": run.fingerprint}
    if run.best_weights is not None:
        state["best_weights"] = run.best_weights
    if run.adversary is not None:
        state["disc"] = run.adversary.disc.state_dict()
        state["disc_optimizer"] = run.adversary.opt.state_dict()
    return state


def restore(run: Run, state: dict, path: Path) -> None:
    check_identity(state, _identity(run.cfg), path)
    run.changes = check_resume(state.get("fingerprint"), run.fingerprint, path)
    try:
        run.model.load_state_dict(state["model"])
        run.ema.load_state_dict(state["ema"])
    except RuntimeError:
        raise TrainError(f"the run state {path} holds another network than {run.cfg.variant} x{run.cfg.scale}: "
                         "use another name or out_dir, or start over") from None
    run.opt.load_state_dict(state["optimizer"])
    run.gen.set_state(state["generator"])
    run.step = run.resumed_from = int(state["step"])
    run.val_start, run.val = dict(state.get("val_start", {})), dict(state.get("val", {}))
    run.best, run.best_weights = dict(state.get("best", {})), state.get("best_weights")
    if run.adversary is not None and "disc" in state:
        run.adversary.disc.load_state_dict(state["disc"])
        run.adversary.opt.load_state_dict(state["disc_optimizer"])
    elif run.adversary is not None:
        log.info("the run state has no discriminator yet; it starts fresh at step %d", run.step)
    log.info("resuming from step %d of %d (%s)", run.step, run.cfg.steps, path)
    for change in run.changes:
        log.info("changed since the state was written: %s", change)


def _metadata(run: Run, step: int, val: dict) -> dict[str, str]:
    """What a saved file says about its training: no local path (TrainConfig.portable_dict)."""
    meta = {"trainer_step": str(step), "trainer_config": json.dumps(run.cfg.portable_dict()),
            "validation_images": json.dumps(run.vset.names)}
    if val:
        meta["validation"] = json.dumps(val)
    return meta


def save_checkpoint(run: Run) -> Path:
    """EMA weights (upstream layout + metadata) and the resumable state; returns the EMA file."""
    run.ema.module.to("cpu")
    path = save_model(run.ema.module, ema_path(run.cfg), _metadata(run, run.step, run.val))
    run.ema.module.to(run.device)
    write_state(state_path(run.cfg), run_state(run))
    return path


def validate_now(run: Run) -> None:
    """Validates the EMA weights and keeps them as the best snapshot when they beat it."""
    run.val = evaluate(run.ema.module, run.vset, run.cfg.scale, run.device)
    if not run.val:
        return
    if math.isfinite(run.val["psnr"]) and (not run.best or run.val["psnr"] > run.best["val"]["psnr"]):
        run.best = {"step": run.step, "val": dict(run.val)}
        run.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in run.ema.state_dict().items()}
    best = f"best {run.best['val']['psnr']:.2f} dB at step {run.best['step']}" if run.best else "no finite value yet"
    log.info("validation at step %d: %.2f dB (%s, bicubic %.2f dB)", run.step, run.val["psnr"], best,
             run.val["psnr_bicubic"])


def choose(run: Run) -> tuple[dict, int, dict, str]:
    """(weights, step, validation, reason) of the snapshot to publish: the best validated one (keep_best, the
    starting weights of a fine-tune included), else the last EMA."""
    last = (run.ema.state_dict(), run.step, run.val)
    if not run.vset.hr:
        return (*last, "the last EMA weights (no validation images to choose by)")
    if not run.cfg.keep_best:
        return (*last, "the last EMA weights (keep_best is off)")
    if not run.best:
        return (*last, "the last EMA weights (not validated yet)")
    best, val = run.best["step"], run.best["val"]
    if best == 0:
        return (run.best_weights, 0, val, "the starting weights, unchanged: no validated snapshot beat them "
                f"(last {run.val.get('psnr', float('nan')):.2f} dB vs {val['psnr']:.2f} dB; keep_best)")
    if best == run.step:
        return (*last, f"the last EMA weights (step {best}), the best validated snapshot")
    return (run.best_weights, best, val, f"the best validated EMA snapshot, step {best} of {run.step} "
            f"({val['psnr'] - run.val['psnr']:+.2f} dB over the last)")


def publish_snapshot(run: Run) -> tuple[Path, int, dict, str]:
    """Writes the chosen snapshot to published_path (with metadata); returns (path, step, validation, reason)."""
    weights, step, val, reason = choose(run)
    net = copy.deepcopy(run.ema.module).cpu()
    net.load_state_dict(weights)
    return save_model(net, published_path(run.cfg), _metadata(run, step, val)), step, val, reason


def generator_loss_terms(run: Run, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Pixel loss plus every enabled extra term (FFL, MS-SSIM, perceptual, colour, GAN)."""
    cfg = run.cfg
    loss = charbonnier(sr, hr) if cfg.loss == "charbonnier" else (sr - hr).abs().mean()
    if cfg.ffl_weight:
        loss = loss + cfg.ffl_weight * frequency_loss(sr, hr)
    if cfg.msssim_weight:
        loss = loss + cfg.msssim_weight * (1 - ms_ssim(sr.clamp(0, 1), hr))
    if run.perceptual is not None:
        loss = loss + cfg.perceptual_weight * run.perceptual(sr, hr)
    if cfg.color_weight:
        loss = loss + cfg.color_weight * color_consistency(sr, hr)
    if run.adversary is not None:
        disc = run.adversary.disc
        disc.requires_grad_(False)
        loss = loss + cfg.gan_weight * generator_loss(disc(sr), disc(hr))
        disc.requires_grad_(True)
    return loss


def train_step(run: Run) -> float:
    """One generator update (and one discriminator update in stage 2); returns the generator loss."""
    cfg = run.cfg
    hr, lr = run.sampler.batch(cfg.batch, run.gen)
    if lr is None:
        lr = degrade(hr, cfg.scale, run.degradations, run.gen)
    hr, lr = hr.to(run.device), lr.to(run.device)
    for group in run.opt.param_groups:
        group["lr"] = lr_at(run.step, cfg)
    run.model.train()
    with torch.autocast(run.device.type, dtype=run.amp_dtype or torch.float32, enabled=run.amp_dtype is not None):
        sr = run.model(lr)
    sr = sr.float()
    loss = generator_loss_terms(run, sr, hr)
    run.opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if cfg.grad_clip:
        run.scaler.unscale_(run.opt)
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.scaler.step(run.opt)
    run.scaler.update()
    if run.adversary is not None:
        discriminator_step(run.adversary.disc, run.adversary.opt, hr, sr, cfg.r1_gamma, cfg.r2_gamma)
    run.step += 1
    run.ema.update(run.model, run.step)
    return loss.item()


def after_step(run: Run, loss: float, started: tuple[float, int],
               on_progress: Callable[[int, int, dict], None] | None) -> None:
    """Periodic validation and checkpoints, then the progress callback."""
    cfg = run.cfg
    if cfg.val_every and run.step % cfg.val_every == 0:
        validate_now(run)
    if cfg.save_every and run.step % cfg.save_every == 0:
        save_checkpoint(run)
    if on_progress is not None:
        rate = (run.step - started[1]) / max(time.time() - started[0], 1e-6)
        on_progress(run.step, cfg.steps, {"loss": loss, "lr": lr_at(run.step - 1, cfg), "steps_per_s": rate,
                                          "eta_s": (cfg.steps - run.step) / max(rate, 1e-9), "val": run.val})


def start(cfg: TrainConfig, device, resume: bool, perceptual: Perceptual | None) -> Run:
    """Builds the run and restores its state (resume) or validates the starting weights (new run)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    run = build_run(cfg, device, perceptual)
    remove_orphans(cfg.path(cfg.out_dir), (cfg.name, ema_path(cfg).name, published_path(cfg).name))
    state = read_state(state_path(cfg)) if resume else None
    if state is not None:
        restore(run, state, state_path(cfg))
        return run
    if run.vset.hr:
        log.info("validating the starting weights on %d crops", run.vset.crops)
    run.val_start = evaluate(run.model, run.vset, cfg.scale, device)
    if run.val_start and cfg.pretrained:  # a fine-tune's start is a candidate for the published model
        run.best = {"step": 0, "val": dict(run.val_start)}
        run.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in run.model.state_dict().items()}
        log.info("starting weights: %.2f dB (bicubic %.2f dB)", run.val_start["psnr"], run.val_start["psnr_bicubic"])
    return run


def _result(run: Run, trained: int, published: tuple[Path, int, dict, str] | None) -> TrainResult:
    cfg = run.cfg
    path, step, val, reason = published or (None, 0, {}, "")
    return TrainResult(ema_path(cfg), state_path(cfg), run.step, run.val, run.val_start, path, step, val, reason,
                       run.vset.names, run.vset.crops, run.resumed_from, trained, run.changes,
                       cfg.path(cfg.pretrained).name if cfg.pretrained else "")


def train(cfg: TrainConfig, *, device=None, resume: bool = True,
          on_progress: Callable[[int, int, dict], None] | None = None,
          should_cancel: Callable[[], bool] | None = None,
          perceptual: Perceptual | None = None,
          max_steps_this_run: int | None = None) -> TrainResult:
    """Trains (or resumes) a run and publishes its model (TrainResult.published). on_progress(step, total, info)
    gets loss, lr, speed, eta, val. A resumed run that had already reached ``steps`` trains nothing and leaves
    its published file as it is.

    Raises TrainError (one line) when the data, a setting or the saved state cannot be used, and
    TrainCancelled (after writing a checkpoint) when ``should_cancel()`` returns True.
    """
    with host_untouched(cfg.threads):
        run = start(cfg, device, resume, perceptual)
        if run.resumed_from is not None and run.step >= cfg.steps:
            log.info("already finished at step %d, nothing trained (raise steps to train more)", run.step)
            done = published_path(cfg)
            snapshot = (done, *choose(run)[1:]) if done.is_file() else publish_snapshot(run)
            return _result(run, 0, snapshot)
        started = (time.time(), run.step)
        end = cfg.steps if max_steps_this_run is None else min(cfg.steps, run.step + max_steps_this_run)
        while run.step < end:
            if should_cancel is not None and should_cancel():
                raise TrainCancelled(run.step, save_checkpoint(run))
            after_step(run, train_step(run), started, on_progress)
        if run.step > started[1] and not (cfg.val_every and run.step % cfg.val_every == 0):
            validate_now(run)  # the weights saved now
        save_checkpoint(run)
        return _result(run, run.step - started[1], publish_snapshot(run))
