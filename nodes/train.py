"""Train node: the embedded trainer, with ComfyUI's progress bar, a live loss curve and clean interrupts.

Run state lives in ``models/paragonsr2_runs/<scale>x_<name>/``; only the finished model is published to
``upscale_models`` (never over a file this run did not write).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..paragonsr2 import load_model
from ..paragonsr2.errors import ParagonError
from ..trainer import TrainCancelled, train
from ..trainer.perceptual import ARCHS
from ..trainer.presets import DEGRADATION_PRESETS, STAGES, START_FROM, short_run_config
from ..trainer.publish import publish, published_before
from ..trainer.report import summary
from . import bridge
from .models import MODEL_OUT
from .spec import In, NodeSpec, Out


def dataset_path(folder: str) -> Path:
    """An absolute folder as given; a relative one under ComfyUI's input folder. ParagonError lists where it
    looked."""
    given = Path(folder.strip()).expanduser()
    if not folder.strip():
        raise ParagonError("set dataset_folder to a folder of high-resolution images (a name under ComfyUI's "
                           "input folder, or an absolute path)")
    base = bridge.input_dir()
    candidates = [given] if given.is_absolute() else ([base / given] if base is not None else [])
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    where = ", ".join(str(c) for c in candidates) or "nowhere (ComfyUI has no input folder here)"
    raise ParagonError(f"dataset_folder {folder.strip()!r} is not a folder; looked in: {where}")


def run_stem(scale: int, model_name: str) -> str:
    """``<scale>x_<name>`` with a sanitised name and no doubled ``2x_2x_`` prefix."""
    name = bridge.SAFE_NAME.sub("_", Path(model_name.strip()).name).strip("._") or "ParagonSR2_custom"
    return f"{scale}x_{name.removeprefix(f'{scale}x_')}"


def run_train(dataset_folder, variant, scale, steps, batch, patch, learning_rate, degradations, model_name,
              resume, start_from="bundled model", stage=STAGES[0], perceptual_weights="", perceptual_arch="vgg19",
              unique_id=None):
    folder = dataset_path(dataset_folder)
    stem = run_stem(scale, model_name)
    run_dir = bridge.training_runs_dir() / stem
    cfg = short_run_config(hr_dir=str(folder), variant=variant, scale=scale, steps=steps, batch=batch, patch=patch,
                           learning_rate=learning_rate, degradations=degradations, out_dir=str(run_dir),
                           name=stem.split("_", 1)[1], start_from=start_from, stage=stage,
                           perceptual_weights=perceptual_weights, perceptual_arch=perceptual_arch)
    progress = bridge.Progress(unique_id)

    def on_progress(step, total, info):
        progress(step, total)
        if step % 5 == 0 or step == total:
            bridge.send("paragonsr2.train", {"node": unique_id, "step": step, "total": total,
                                             "loss": info["loss"], "psnr": (info.get("val") or {}).get("psnr")})
    try:
        with torch.inference_mode(False), torch.enable_grad():
            result = train(cfg, resume=resume, on_progress=on_progress, should_cancel=bridge.interrupted)
    except TrainCancelled as e:
        message = f"cancelled at step {e.step}: the step-{e.step} checkpoint is kept in {e.path.parent} " \
                  "(run again with resume on to continue)"
        bridge.status_text(message, unique_id)
        bridge.raise_if_interrupted()
        raise ParagonError(message) from None
    kept = published_before(bridge.upscale_models_dir(), run_dir) if result.trained == 0 else None
    out, note = (kept, "") if kept else publish(result.published, bridge.upscale_models_dir(), stem, run_dir)
    text = "\n".join(line for line in (summary(result, out), note, f"run state: {run_dir}") if line)
    return (bridge.model_descriptor(load_model(out, fuse=True)), text), {"text": [text]}


TRAIN = NodeSpec(
    node_id="ParagonSR2Train", display_name="Train ParagonSR2",
    description="Fine-tunes the bundled ParagonSR2 model of the chosen scale and variant (or trains from scratch) "
                "on a folder of HR images (LR made on the fly) and saves the best validated EMA weights (never "
                "worse than the start) into models/upscale_models. Run state stays in models/paragonsr2_runs. "
                "Interrupt keeps the last checkpoint; 'resume' continues it.",
    inputs=[
        In("dataset_folder", "STRING", "Folder of high-resolution training images: a name under ComfyUI's "
           "input folder, or an absolute path", default=""),
        In("variant", ["nano", "tiny", "anime", "s", "m", "l", "xl"], "Network size", default="nano"),
        In("scale", "INT", "Upscale factor", default=2, min=1, max=4, step=1),
        In("steps", "INT", "Training steps", default=2000, min=1, max=1000000, step=100),
        In("batch", "INT", "Crops per step", default=8, min=1, max=128, step=1),
        In("patch", "INT", "LR crop size in px", default=48, min=16, max=256, step=8),
        In("learning_rate", "FLOAT", "AdamW peak learning rate from scratch (a bundled-model fine-tune uses a "
           "quarter of it)", default=1e-3, min=1e-6, max=1e-2, step=1e-5),
        In("degradations", list(DEGRADATION_PRESETS), "clean: bicubic only; light: some blur, noise and JPEG; "
           "web: half JPEG q50-90, half light noise (the bundled _real model); realistic: blur, resize chains, "
           "noise, JPEG/WebP, sharpening, second-order rounds", default="light"),
        In("model_name", "STRING", "Output name (saved as <scale>x_<name>.safetensors)", default="ParagonSR2_custom"),
        In("resume", "BOOLEAN", "Continue the run of the same name where it stopped", default=True),
        In("start_from", list(START_FROM), "Fine-tune the bundled model of this scale and variant (where one "
           "ships; else from scratch) or start from random weights", default="bundled model", optional=True),
        In("stage", list(STAGES), "1: pixel fidelity; 2: perceptual finetune (patch discriminator with RpGAN + R1/R2 "
           "and a colour consistency term; best continued from a stage-1 model)", default=STAGES[0], optional=True),
        In("perceptual_weights", "STRING", "Stage 2 only: a torchvision VGG/ConvNeXt state dict file you supply "
           "(nothing is downloaded); empty = no perceptual term", default="", optional=True),
        In("perceptual_arch", list(ARCHS), "Stage 2 only: the network of perceptual_weights", default="vgg19",
           optional=True),
    ],
    outputs=[MODEL_OUT, Out("STRING", "summary", "Steps done; the validation images; which snapshot was published "
                            "and why; its validation PSNR vs the start and bicubic")],
    run=run_train, output_node=True)
