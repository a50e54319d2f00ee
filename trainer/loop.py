"""The training loop: AdamW + warmup/cosine, grad clipping, AMP on CUDA, EMA, validation, resume."""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ._core import ParagonSR2, atomic_write, load_model, save_model, variant_config
from .config import TrainConfig
from .data import CropSampler, list_images, load_rgb, split_files
from .degrade import degrade, downscale
from .ema import EMA
from .losses import charbonnier, frequency_loss, ms_ssim, psnr_y, ssim_y

log = logging.getLogger("paragonsr2.trainer")


class TrainCancelled(Exception):
    """Raised when the cancel callback asks to stop; the last checkpoint has been written."""


@dataclass
class TrainResult:
    ema_path: Path
    state_path: Path
    step: int
    val: dict


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to ``lr * min_lr_ratio``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _files(cfg: TrainConfig) -> list[Path]:
    if cfg.file_list:
        base = cfg.path(cfg.data_root) if cfg.data_root else cfg.path(cfg.file_list).parent
        lines = [ln.strip() for ln in cfg.path(cfg.file_list).read_text().splitlines()]
        return [p if (p := Path(ln)).is_absolute() else base / p for ln in lines if ln and not ln.startswith("#")]
    if not cfg.hr_dir:
        raise ValueError("set hr_dir (a folder of HR images) or file_list")
    folder = cfg.path(cfg.hr_dir)
    if not folder.is_dir():
        raise ValueError(f"hr_dir {folder} is not a folder")
    return list_images(folder)


def _load_images(files: list[Path], cfg: TrainConfig) -> list[torch.Tensor]:
    images = []
    for f in files:
        try:
            img = load_rgb(f, cfg.max_side)
        except OSError as e:
            log.warning("skipping %s: %s", f, e)
            continue
        if min(img.shape[-2:]) >= cfg.min_size:
            images.append(img)
    return images


def _centre(img: torch.Tensor, size: int, scale: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    ch, cw = min(size, h) // scale * scale, min(size, w) // scale * scale
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[:, y:y + ch, x:x + cw]


@torch.no_grad()
def validate(model: torch.nn.Module, images: list[torch.Tensor], cfg: TrainConfig, device) -> dict:
    """Mean Y-PSNR/SSIM (border = scale) of model and bicubic on centre crops, LR by bicubic x scale."""
    if not images:
        return {}
    model.eval()
    s = cfg.scale
    res = {"psnr": 0.0, "ssim": 0.0, "psnr_bicubic": 0.0}
    for img in images:
        hr = (_centre(img, cfg.val_crop, s).float() / 255.0).unsqueeze(0)
        lr = downscale(hr, s, "bicubic").clamp(0, 1)
        sr = model(lr.to(device)).float().cpu().clamp(0, 1)
        bic = torch.nn.functional.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False)
        res["psnr"] += psnr_y(sr, hr, s)
        res["ssim"] += ssim_y(sr, hr, s)
        res["psnr_bicubic"] += psnr_y(bic, hr, s)
    return {k: v / len(images) for k, v in res.items()}


def _state_path(cfg: TrainConfig) -> Path:
    return cfg.path(cfg.out_dir) / f"{cfg.name}.state.pt"


def _ema_path(cfg: TrainConfig) -> Path:
    return cfg.path(cfg.out_dir) / f"{cfg.scale}x_{cfg.name}_ema.safetensors"


def train(cfg: TrainConfig, *, device=None, resume: bool = True,
          on_progress: Callable[[int, int, dict], None] | None = None,
          should_cancel: Callable[[], bool] | None = None,
          perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
          max_steps_this_run: int | None = None) -> TrainResult:
    """Trains (or resumes) a run. on_progress(step, total, info) gets loss, lr, speed, eta, val."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train_files, val_files = split_files(_files(cfg), cfg.val_fraction)
    train_imgs, val_imgs = _load_images(train_files, cfg), _load_images(val_files, cfg)
    lr_imgs = None
    if cfg.lr_dir:
        lr_dir = cfg.path(cfg.lr_dir)
        lr_imgs = [load_rgb(lr_dir / f.name) for f in train_files]
    sampler = CropSampler(train_imgs, cfg.patch, cfg.scale, lr_imgs)

    model = ParagonSR2(variant_config(cfg.variant), cfg.scale, cfg.upsampler_alpha)
    if cfg.pretrained:
        model.load_state_dict(load_model(cfg.path(cfg.pretrained), strict_upstream=True).state_dict())
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    ema = EMA(model, cfg.ema_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    step = 0
    state_path = _state_path(cfg)
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        step = int(state["step"])
        log.info("resumed %s at step %d", state_path, step)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    val: dict = {}

    def save() -> None:
        meta = {"trainer_step": str(step), "trainer_config": json.dumps(cfg.to_dict())}
        if val:
            meta["validation"] = json.dumps(val)
        ema.module.to("cpu")
        save_model(ema.module, _ema_path(cfg), meta)
        ema.module.to(device)
        state = {"step": torch.tensor(step), "model": model.state_dict(), "ema": ema.state_dict(),
                 "optimizer": opt.state_dict(), "generator": gen.get_state()}
        atomic_write(state_path, lambda tmp: torch.save(state, tmp))

    started, start_step = time.time(), step
    end = cfg.steps if max_steps_this_run is None else min(cfg.steps, step + max_steps_this_run)
    while step < end:
        if should_cancel is not None and should_cancel():
            save()
            raise TrainCancelled(f"training stopped at step {step}; checkpoint kept at {_ema_path(cfg)}")
        hr, lr = sampler.batch(cfg.batch, gen)
        if lr is None:
            lr = degrade(hr, cfg.scale, cfg, gen)
        hr, lr = hr.to(device), lr.to(device)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        model.train()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            sr = model(lr)
        sr = sr.float()
        loss = charbonnier(sr, hr) if cfg.loss == "charbonnier" else (sr - hr).abs().mean()
        if cfg.ffl_weight:
            loss = loss + cfg.ffl_weight * frequency_loss(sr, hr)
        if cfg.msssim_weight:
            loss = loss + cfg.msssim_weight * (1 - ms_ssim(sr.clamp(0, 1), hr))
        if cfg.perceptual_weight and perceptual is not None:
            loss = loss + cfg.perceptual_weight * perceptual(sr, hr)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        step += 1
        ema.update(model, step)
        if cfg.val_every and step % cfg.val_every == 0:
            val = validate(ema.module, val_imgs, cfg, device)
        if cfg.save_every and step % cfg.save_every == 0:
            save()
        if on_progress is not None:
            rate = (step - start_step) / max(time.time() - started, 1e-6)
            on_progress(step, cfg.steps, {"loss": loss.item(), "lr": lr_at(step - 1, cfg), "steps_per_s": rate,
                                          "eta_s": (cfg.steps - step) / max(rate, 1e-9), "val": val})
    if step >= cfg.steps:
        val = validate(ema.module, val_imgs, cfg, device) or val
    save()
    return TrainResult(_ema_path(cfg), state_path, step, val)
