"""Load / Upscale / Info nodes: parse inputs, call paragonsr2, format outputs."""
from __future__ import annotations

import json
import logging
import time

from ..paragonsr2 import load_model
from ..paragonsr2.checkpoint import scale_warning
from ..paragonsr2.compile.cache import noting_builds
from ..paragonsr2.description import architecture_name, describe_other
from ..paragonsr2.engine import BACKENDS, PRECISIONS, is_paragon, unwrap, upscale
from ..paragonsr2.engine.auto import install_hint
from ..paragonsr2.engine.backend_cache import BackendCache
from ..paragonsr2.engine.memory import tile_bytes
from ..paragonsr2.engine.report import run_lines
from ..paragonsr2.errors import NotParagonError, ParagonError, UpscaleCancelled
from ..paragonsr2.validate import SCALE, UPSAMPLER_ALPHA
from . import bridge
from .spec import In, NodeSpec, Out

log = logging.getLogger("paragonsr2")
SCALES = ["auto", "1", "2", "3", "4", "custom"]
TILES = ["auto", "none", "128", "192", "256", "384", "512", "768", "1024"]
MODEL_OUT = Out("UPSCALE_MODEL", "upscale_model", "A spandrel model descriptor; works with ComfyUI's core "
                "'Upscale Image (using Model)' and with 'Upscale Image (ParagonSR2)'")


CORE_LOADER, CORE_UPSCALE = "Load Upscale Model", "Upscale Image (using Model)"  # ComfyUI's core nodes


def describe_model(descriptor) -> str:
    """The Info node's text: a ParagonSR2 model's description, or what another model is and which nodes run it."""
    if is_paragon(descriptor):
        return str(unwrap(descriptor).description)
    return (describe_other(descriptor) + f"\nnot a ParagonSR2 model: ComfyUI's core '{CORE_UPSCALE}' runs it; the "
            "ParagonSR2 Upscale and Export nodes take ParagonSR2 models only")


def paragon_only(node_name: str, model) -> ParagonError:
    """The error of a ParagonSR2-only node given another architecture: what it got, which core node runs it."""
    return ParagonError(f"'{node_name}' takes ParagonSR2 models only; this one is {architecture_name(model)}: "
                        f"run it with ComfyUI's core '{CORE_UPSCALE}'")


def not_paragon_advice(model_name: str, error: NotParagonError) -> str:
    """The loader's message for a file that is not ParagonSR2: what it is and the loader to use instead."""
    detail = str(error).split(": ", 1)[-1]  # the library's reason, without the file's full path
    if error.spandrel_loads:
        return (f"{model_name}: a {error.architecture} model, not ParagonSR2. Load it with ComfyUI's core "
                f"'{CORE_LOADER}' node (it loads SPAN, Compact, ESRGAN and the other architectures spandrel "
                f"knows) and upscale with '{CORE_UPSCALE}'. 'Load ParagonSR2 Model' loads ParagonSR2 files only.")
    if error.architecture:
        return (f"{model_name} cannot be loaded: {detail}. Neither this loader nor ComfyUI's core '{CORE_LOADER}' "
                "(spandrel) can build it.")
    return (f"{model_name} is not a ParagonSR2 checkpoint ({detail}). If it is another upscaler architecture, "
            f"load it with ComfyUI's core '{CORE_LOADER}' node.")


def run_loader(model_name, scale, scale_value, upsampler_alpha, alpha_value, fusion, unique_id=None):
    path = bridge.upscale_model_path(model_name)
    scale_arg = None if scale == "auto" else (scale_value if scale == "custom" else float(scale))
    alpha_arg = None if upsampler_alpha == "auto" else alpha_value
    fuse = {"deploy": True, "release": "release", "none": False}[fusion]
    try:
        model = load_model(path, scale=scale_arg, upsampler_alpha=alpha_arg, fuse=fuse)
    except NotParagonError as e:
        raise NotParagonError(not_paragon_advice(model_name, e), e.architecture, e.spandrel_loads) from None
    desc = model.description
    return (bridge.model_descriptor(model), str(desc)), {"paragonsr2_info": [json.dumps(desc.to_dict())]}


LOADER = NodeSpec(
    node_id="ParagonSR2Loader", display_name="Load ParagonSR2 Model",
    description="Loads any ParagonSR2 checkpoint (generations A0/A/B, every variant, EMA files repaired) "
                "from models/upscale_models, with its scale and upsampler_alpha from the file or overridden.",
    inputs=[
        In("model_name", bridge.upscale_model_names, "A checkpoint in models/upscale_models"),
        In("scale", SCALES, "auto: file metadata, then the file name (2x..., ..._x4), then 2", default="auto"),
        In("scale_value", "FLOAT", f"Used when scale is 'custom' ({SCALE})", default=2.0, min=SCALE.lo,
           max=SCALE.hi, step=0.05),
        In("upsampler_alpha", ["auto", "custom"], "auto: file metadata, else the generation's default "
           "(A: 1.0, B: 0.5)", default="auto"),
        In("alpha_value", "FLOAT", "Sharpening of the magic upsampler when 'custom' (0 soft .. 1 sharp)",
           default=0.5, min=UPSAMPLER_ALPHA.lo, max=UPSAMPLER_ALPHA.hi, step=0.05),
        In("fusion", ["deploy", "release", "none"], "deploy: fastest inference (folded convs); release: "
           "upstream's fuse_for_release; none: the file as is", default="deploy"),
    ],
    outputs=[MODEL_OUT, Out("STRING", "description", "What the file is: generation, variant, scale and source")],
    run=run_loader)


_BACKENDS = BackendCache()
_HINTED: set[str] = set()  # install hints the node has given (each once per ComfyUI session)


def _backend_for(model, backend: str, precision: str, device, node_id=None):
    options = {}
    if backend in ("tensorrt", "auto"):  # a first engine build takes minutes: show its phases on the node
        options["progress"] = lambda text: bridge.status_text(f"TensorRT engine build: {text}", node_id)
    return _BACKENDS.get(model, backend, precision, device, **options)


def tile_choice(tile: str):
    """The tile combo's value for ``upscale()``: an int, "auto" or None (whole image)."""
    return int(tile) if tile.isdigit() else {"auto": "auto", "none": None}[tile]


def run_upscale(image, upscale_model, tile, backend, precision, unique_id=None):
    model = unwrap(upscale_model)
    if not is_paragon(model):
        raise paragon_only("Upscale Image (ParagonSR2)", upscale_model)
    warning = scale_warning(model)
    if warning:
        log.warning("%s", warning)
    device = bridge.torch_device()
    tile_arg = tile_choice(tile)
    with noting_builds() as built:
        start = time.perf_counter()
        runner = _backend_for(model, backend, precision, device, unique_id)
        prepared = time.perf_counter() - start
        bridge.free_memory(tile_bytes(runner.num_feat, runner.scale, runner.margin,
                                      tile_arg if isinstance(tile_arg, int) else None, runner.elem_size), device)
        start = time.perf_counter()
        try:
            out = upscale(runner, image, tile=tile_arg, progress=bridge.Progress(unique_id),
                          cancel=bridge.interrupted)
        except UpscaleCancelled:
            bridge.raise_if_interrupted()
            raise
        seconds = time.perf_counter() - start
    lines = run_lines(runner, out.shape[0], tuple(image.shape[1:3]), tuple(out.shape[1:3]), seconds, built, prepared)
    hint = install_hint(getattr(runner, "missing", ()))  # what the fastest skipped path needs: said once
    if hint and hint not in _HINTED:
        _HINTED.add(hint)
        lines.append(f"tip: {hint}")
    if warning:
        lines.append(f"warning: {warning}")
    text = "\n".join(lines)
    bridge.status_text(text, unique_id)
    return (out,), {"text": [text]}


def runner_inputs(unit: str) -> list[In]:
    """The model, tile, backend and precision inputs of the upscale nodes (``unit``: "image" or "frame")."""
    return [
        In("upscale_model", "UPSCALE_MODEL", "A ParagonSR2 model (from either loader)"),
        In("tile", TILES, f"auto: the fastest tile that fits free memory; none: whole {unit}; N: LR px per tile",
           default="auto"),
        In("backend", list(BACKENDS), "auto: the fastest installed backend whose output stays >= 50 dB from fp32 "
           "for this model (checked once per model; the node says which); pytorch works everywhere; onnxruntime "
           "and openvino need their packages; tensorrt needs tensorrt and an NVIDIA GPU", default="auto"),
        In("precision", list(PRECISIONS), "auto: with backend auto, the fastest accurate one; otherwise fp16 on "
           "CUDA (fp32 retry on overflow), fp32 on CPU", default="auto"),
    ]


UPSCALE = NodeSpec(
    node_id="ParagonSR2Upscale", display_name="Upscale Image (ParagonSR2)",
    description="Upscales images with a ParagonSR2 model in seamless tiles (identical to an untiled run), "
                "on PyTorch, OpenVINO, ONNX Runtime or TensorRT (artifacts built and cached on first use). Alpha is "
                "upscaled by the model too; output is clamped to 0..1. Its text says which path ran, its speed in "
                "megapixels/s and what a first run prepared.",
    inputs=[
        In("image", "IMAGE", "Images to upscale (any size, batches, RGB/RGBA/grayscale)"),
        *runner_inputs("image"),
    ],
    outputs=[Out("IMAGE", "image", "The upscaled images, values in 0..1")],
    run=run_upscale)


def run_info(upscale_model, unique_id=None):
    text = describe_model(upscale_model)
    return (text,), {"text": [text]}


INFO = NodeSpec(
    node_id="ParagonSR2ModelInfo", display_name="ParagonSR2 Model Info",
    description="Shows what a ParagonSR2 model is: generation, variant, size, scale and alpha with their sources "
                "(for other architectures: what spandrel says about them, and which node runs them).",
    inputs=[In("upscale_model", "UPSCALE_MODEL", "An upscale model from either loader")],
    outputs=[Out("STRING", "description", "The model description as text")],
    run=run_info, output_node=True)
