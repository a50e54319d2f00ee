"""Running a model over images: ``upscale`` and the backends behind it."""
from __future__ import annotations

import os
from collections.abc import Callable

import torch

from ..errors import ParagonError
from .backends import OrtBackend, TorchBackend, resolve_device
from .margin import tile_margin
from .run import Layout, Progress, detect_layout, upscale_tensor
from .tiles import receptive_radius

BACKENDS = ("pytorch", "onnxruntime", "tensorrt")


def make_backend(model, backend: str = "pytorch", precision: str = "auto", device=None, **options):
    """A backend for a loaded model, a checkpoint path (loaded deploy-fused) or, for "tensorrt", an
    exported .engine file (with its JSON sidecar)."""
    from ..checkpoint import load_model
    from ..fuse import DeployParagonSR2, deploy_fuse

    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".engine"):
        if backend != "tensorrt":
            raise ParagonError(f"{model} is a TensorRT engine: use backend 'tensorrt'")
        from ..export.tensorrt import TensorRTBackend

        return TensorRTBackend.from_engine(model, resolve_device(device) if device is not None else None)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, fuse=True)
    elif not hasattr(model, "config") and isinstance(getattr(model, "model", None), torch.nn.Module):
        model = model.model  # a spandrel ImageModelDescriptor (e.g. from ComfyUI's core loader)
    if not hasattr(model, "config") or not hasattr(model, "scale"):
        raise ParagonError(f"expected a ParagonSR2 model (from load_model), got {type(model).__name__}")
    elif not isinstance(model, DeployParagonSR2):
        description = getattr(model, "description", None)
        model = deploy_fuse(model)
        model.description = description
    if backend == "pytorch":
        runner = TorchBackend(model, device=device, precision=precision, **options)
    elif backend in ("onnxruntime", "tensorrt"):
        from ..export.onnx import cached_onnx

        dev = resolve_device(device)
        prec = {"auto": "fp16" if dev.type == "cuda" else "fp32"}.get(precision, precision)
        if backend == "tensorrt":
            from ..export.tensorrt import TensorRTBackend

            runner = TensorRTBackend.from_model(model, precision=prec, device=dev if dev.type == "cuda" else None,
                                                **options)
        else:
            path = cached_onnx(model, precision=prec)
            runner = OrtBackend(str(path), model.scale, model.config.in_chans, model.config.out_chans, device=dev,
                                **options)
    else:
        raise ParagonError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    runner.margin = getattr(runner, "margin", None) or tile_margin(model)  # what the tiler needs to know
    runner.num_feat = model.config.num_feat
    return runner


def upscale(model, image: torch.Tensor, *, tile: int | str | None = "auto", backend="pytorch",
            precision: str = "auto", device=None, progress: Progress | None = None,
            cancel: Callable[[], bool] | None = None, layout: Layout = "auto") -> torch.Tensor:
    """Upscales a batch of images with seamless tiles; returns float32 CPU in [0,1], same layout.

    image: float tensor [B,H,W,C] (ComfyUI) or [B,C,H,W], C = 1, 3 or 4, values in [0,1], any
    size from 1x1, any strides. The layout is "BHWC" when the last dim is 1, 3 or 4 (checked
    first, as ComfyUI's IMAGE), else "BCHW" when dim 1 is; pass ``layout`` to force one.
    model: a loaded model (``load_model``), a checkpoint path, or a backend from ``make_backend``.
    tile: "auto" (fastest that fits), an int (LR core px), or None (whole image).
    progress(done, total) is called per tile; cancel() returning True raises UpscaleCancelled.
    Output is clamped to [0,1].
    """
    layout = detect_layout(image) if layout == "auto" else layout
    if layout not in ("BHWC", "BCHW"):
        raise ParagonError(f"layout must be 'auto', 'BHWC' or 'BCHW', got {layout!r}")
    nchw = image.movedim(-1, 1) if layout == "BHWC" else image
    if hasattr(model, "is_oom"):  # already a backend
        runner = model
    elif hasattr(backend, "is_oom"):
        runner = backend
    else:
        runner = make_backend(model, backend, precision, device)
    margin = getattr(runner, "margin", None) or tile_margin(runner.model)
    max_input = getattr(runner, "max_input", None)  # engines with a shape profile
    if max_input is not None:
        limit = max_input - 2 * margin
        tile = limit if tile in ("auto", None, 0, "none") else min(int(tile), limit)
    num_feat = getattr(runner, "num_feat", None) or runner.model.config.num_feat
    out = upscale_tensor(runner, nchw, tile=tile, margin=margin, num_feat=num_feat, progress=progress,
                         cancel=cancel)
    return out.movedim(1, -1).contiguous() if layout == "BHWC" else out


__all__ = ["BACKENDS", "OrtBackend", "TorchBackend", "detect_layout", "make_backend", "receptive_radius",
           "upscale", "upscale_tensor"]
