"""Train node: the embedded trainer, with progress, a live loss curve and clean interrupts."""
from __future__ import annotations

import shutil

import torch

from ..paragonsr2 import load_model
from ..paragonsr2.errors import ParagonError
from ..trainer import TrainCancelled, TrainConfig, train
from . import bridge
from .models import MODEL_OUT, wrap_descriptor
from .spec import In, NodeSpec, Out

DEGRADATIONS = {
    "clean": {},
    "light": dict(blur_prob=0.2, noise_prob=0.2, jpeg_prob=0.2, resize_filters=("bicubic", "bilinear", "area")),
    "realistic": dict(blur_prob=0.4, noise_prob=0.4, poisson_prob=0.1, jpeg_prob=0.4, webp_prob=0.2,
                      sharpen_prob=0.1, resize_filters=("bicubic", "bilinear", "area")),
}


def run_train(dataset_folder, variant, scale, steps, batch, patch, learning_rate, degradations, model_name,
              resume, unique_id=None):
    folder = dataset_folder.strip()
    if not folder:
        raise ParagonError("set dataset_folder to a folder of high-resolution images")
    models_dir = bridge.upscale_models_dir()
    out = bridge.safe_output_path(models_dir, f"{scale}x_{model_name}", ".safetensors") if not resume else \
        models_dir / f"{scale}x_{bridge.SAFE_NAME.sub('_', model_name)}.safetensors"
    run_dir = models_dir / "paragonsr2_runs" / out.stem
    cfg = TrainConfig(hr_dir=folder, variant=variant, scale=scale, steps=steps, batch=batch, patch=patch,
                      lr=learning_rate, warmup=min(500, steps // 10), out_dir=str(run_dir), name=out.stem,
                      val_every=max(50, steps // 20), save_every=max(50, steps // 20), **DEGRADATIONS[degradations])
    progress = bridge.Progress(unique_id)

    def on_progress(step, total, info):
        progress(step, total)
        if step % 5 == 0 or step == total:
            bridge.send("paragonsr2.train", {"node": unique_id, "step": step, "total": total,
                                             "loss": info["loss"], "psnr": (info.get("val") or {}).get("psnr")})
    try:
        with torch.inference_mode(False), torch.enable_grad():
            result = train(cfg, resume=resume, on_progress=on_progress, should_cancel=bridge.interrupted)
    except TrainCancelled:
        bridge.raise_if_interrupted()
        raise
    except ValueError as e:
        raise ParagonError(str(e)) from None
    shutil.copyfile(result.ema_path, out.with_suffix(".part"))
    out.with_suffix(".part").replace(out)
    model = load_model(out, fuse=True)
    summary = f"saved {out.name} after {result.step} steps; validation {result.val}"
    return (wrap_descriptor(model), summary), {"text": [summary]}


TRAIN = NodeSpec(
    node_id="ParagonSR2Train", display_name="Train ParagonSR2",
    description="Trains a ParagonSR2 model from a folder of HR images (LR made on the fly) and saves the EMA "
                "weights into models/upscale_models. Interrupt keeps the last checkpoint; 'resume' continues it.",
    inputs=[
        In("dataset_folder", "STRING", "Folder of high-resolution training images", default=""),
        In("variant", ["nano", "tiny", "anime", "s", "m", "l", "xl"], "Network size", default="nano"),
        In("scale", "INT", "Upscale factor", default=2, min=1, max=4, step=1),
        In("steps", "INT", "Training steps", default=2000, min=1, max=1000000, step=100),
        In("batch", "INT", "Crops per step", default=8, min=1, max=128, step=1),
        In("patch", "INT", "LR crop size in px", default=48, min=16, max=256, step=8),
        In("learning_rate", "FLOAT", "AdamW peak learning rate", default=1e-3, min=1e-6, max=1e-2, step=1e-5),
        In("degradations", list(DEGRADATIONS), "clean: bicubic only; light/realistic: blur, noise, JPEG/WebP",
           default="light"),
        In("model_name", "STRING", "Output name (saved as <scale>x_<name>.safetensors)", default="ParagonSR2_custom"),
        In("resume", "BOOLEAN", "Continue the run of the same name where it stopped", default=True),
    ],
    outputs=[MODEL_OUT, Out("STRING", "summary", "Steps done and validation PSNR/SSIM")],
    run=run_train, output_node=True)
