"""Load / Upscale / Info nodes: parse inputs, call paragonsr2, format outputs."""
from __future__ import annotations

import json
from collections import OrderedDict

from ..paragonsr2 import load_model
from ..paragonsr2.engine import make_backend, upscale
from ..paragonsr2.engine.margin import tile_margin
from ..paragonsr2.engine.memory import bytes_per_lr_pixel
from ..paragonsr2.errors import ParagonError, UpscaleCancelled
from ..paragonsr2.fuse import DeployParagonSR2
from . import bridge
from .spec import In, NodeSpec, Out

SCALES = ["auto", "1", "2", "3", "4", "custom"]
TILES = ["auto", "none", "128", "192", "256", "384", "512", "768", "1024"]
PRECISIONS = ["auto", "fp32", "fp16", "bf16"]
MODEL_OUT = Out("UPSCALE_MODEL", "upscale_model", "A spandrel model descriptor; works with ComfyUI's core "
                "'Upscale Image (using Model)' and with 'Upscale Image (ParagonSR2)'")


def describe_model(descriptor) -> str:
    desc = getattr(descriptor, "paragonsr2", None) or getattr(descriptor.model, "description", None)
    if desc is None:
        raise ParagonError("this upscale model is not a ParagonSR2 model (load it with 'Load ParagonSR2 Model' "
                           "or ComfyUI's 'Load Upscale Model')")
    return str(desc)


def wrap_descriptor(model):
    """A spandrel ImageModelDescriptor around our model, as ComfyUI's core nodes expect."""
    from spandrel import ImageModelDescriptor

    from ..paragonsr2.spandrel_arch import ParagonSR2Arch

    desc = model.description
    scale = desc.scale[0]
    out = ImageModelDescriptor(model, model.state_dict(), architecture=ParagonSR2Arch(),
                               purpose="SR" if scale != 1 else "Restoration",
                               tags=[desc.variant, f"gen{desc.generation}"], supports_half=True,
                               supports_bfloat16=True, scale=int(scale) if float(scale).is_integer() else scale,
                               input_channels=desc.in_chans, output_channels=desc.out_chans)
    out.paragonsr2 = desc
    bridge.attach_patcher(out)
    return out


def run_loader(model_name, scale, scale_value, upsampler_alpha, alpha_value, fusion, unique_id=None):
    path = bridge.upscale_model_path(model_name)
    scale_arg = None if scale == "auto" else (scale_value if scale == "custom" else float(scale))
    alpha_arg = None if upsampler_alpha == "auto" else alpha_value
    fuse = {"deploy": True, "release": "release", "none": False}[fusion]
    model = load_model(path, scale=scale_arg, upsampler_alpha=alpha_arg, fuse=fuse)
    desc = model.description
    return (wrap_descriptor(model), str(desc)), {"paragonsr2_info": [json.dumps(desc.to_dict())]}


LOADER = NodeSpec(
    node_id="ParagonSR2Loader", display_name="Load ParagonSR2 Model",
    description="Loads any ParagonSR2 checkpoint (generations A0/A/B, every variant, EMA files repaired) "
                "from models/upscale_models, with its scale and upsampler_alpha from the file or overridden.",
    inputs=[
        In("model_name", bridge.upscale_model_names, "A checkpoint in models/upscale_models"),
        In("scale", SCALES, "auto: file metadata, then the file name (2x..., ..._x4), then 2", default="auto"),
        In("scale_value", "FLOAT", "Used when scale is 'custom' (any positive value)", default=2.0, min=0.25,
           max=16.0, step=0.05),
        In("upsampler_alpha", ["auto", "custom"], "auto: file metadata, else the generation's default "
           "(A: 1.0, B: 0.5)", default="auto"),
        In("alpha_value", "FLOAT", "Sharpening of the magic upsampler when 'custom' (0 soft .. 1 sharp)",
           default=0.5, min=0.0, max=1.0, step=0.05),
        In("fusion", ["deploy", "release", "none"], "deploy: fastest inference (folded convs); release: "
           "upstream's fuse_for_release; none: the file as is", default="deploy"),
    ],
    outputs=[MODEL_OUT, Out("STRING", "description", "What the file is: generation, variant, scale and source")],
    run=run_loader)


_BACKENDS: OrderedDict = OrderedDict()  # (model id, backend, precision, device) -> backend; small LRU


def _backend_for(model, backend: str, precision: str, device, node_id=None):
    key = (id(model), backend, precision, str(device))
    if key not in _BACKENDS:
        options = {}
        if backend == "tensorrt":  # a first build takes minutes: show its phases on the node
            options["progress"] = lambda text: bridge.status_text(f"TensorRT engine build: {text}", node_id)
        _BACKENDS[key] = make_backend(model, backend, precision, device, **options)
        while len(_BACKENDS) > 4:
            _BACKENDS.popitem(last=False)
    _BACKENDS.move_to_end(key)
    return _BACKENDS[key]


def run_upscale(image, upscale_model, tile, backend, precision, unique_id=None):
    model = getattr(upscale_model, "model", upscale_model)
    if not hasattr(model, "config") or not hasattr(model, "scale"):
        raise ParagonError("'Upscale Image (ParagonSR2)' runs ParagonSR2 models only; use ComfyUI's 'Upscale "
                           "Image (using Model)' for other architectures")
    device = bridge.torch_device()
    if not isinstance(model, DeployParagonSR2):  # e.g. loaded by ComfyUI's core loader: fold it once
        model = _deploy_cached(upscale_model, model)
    tile_arg = {"auto": "auto", "none": None}.get(tile, tile)
    margin = tile_margin(model)
    side = (int(tile_arg) if isinstance(tile_arg, str) and tile_arg.isdigit() else 512) + 2 * margin
    bridge.free_memory(int(bytes_per_lr_pixel(model.config.num_feat, model.scale, 4) * side * side), device)
    runner = _backend_for(model, backend, precision, device, unique_id)
    try:
        out = upscale(runner, image, tile=int(tile_arg) if isinstance(tile_arg, str) and tile_arg.isdigit()
                      else tile_arg, progress=bridge.Progress(unique_id), cancel=bridge.interrupted)
    except UpscaleCancelled:
        bridge.raise_if_interrupted()
        raise
    return (out,), None


def _deploy_cached(descriptor, model):
    fused = getattr(descriptor, "_paragonsr2_deploy", None)
    if fused is None:
        from ..paragonsr2.fuse import deploy_fuse

        fused = deploy_fuse(model)
        fused.description = getattr(model, "description", None)
        try:
            descriptor._paragonsr2_deploy = fused
        except AttributeError:
            pass
    return fused


UPSCALE = NodeSpec(
    node_id="ParagonSR2Upscale", display_name="Upscale Image (ParagonSR2)",
    description="Upscales images with a ParagonSR2 model in seamless tiles (identical to an untiled run), "
                "on PyTorch, ONNX Runtime or TensorRT (engines built and cached on first use). Alpha is upscaled "
                "by the model too; output is clamped to 0..1.",
    inputs=[
        In("image", "IMAGE", "Images to upscale (any size, batches, RGB/RGBA/grayscale)"),
        In("upscale_model", "UPSCALE_MODEL", "A ParagonSR2 model (from either loader)"),
        In("tile", TILES, "auto: the fastest tile that fits free memory; none: whole image; N: LR px per tile",
           default="auto"),
        In("backend", ["pytorch", "onnxruntime", "tensorrt"], "pytorch works everywhere; onnxruntime needs the "
           "onnxruntime package; tensorrt needs tensorrt and an NVIDIA GPU", default="pytorch"),
        In("precision", PRECISIONS, "auto: fp16 on CUDA (fp32 retry on overflow), fp32 on CPU", default="auto"),
    ],
    outputs=[Out("IMAGE", "image", "The upscaled images, values in 0..1")],
    run=run_upscale)


def run_info(upscale_model, unique_id=None):
    text = describe_model(upscale_model)
    return (text,), {"text": [text]}


INFO = NodeSpec(
    node_id="ParagonSR2ModelInfo", display_name="ParagonSR2 Model Info",
    description="Shows what a ParagonSR2 model is: generation, variant, size, scale and alpha with their sources.",
    inputs=[In("upscale_model", "UPSCALE_MODEL", "A ParagonSR2 model")],
    outputs=[Out("STRING", "description", "The model description as text")],
    run=run_info, output_node=True)
