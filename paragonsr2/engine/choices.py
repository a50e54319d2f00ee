"""What a user may pick for running a model (backends, precisions, devices) and what "auto" resolves to.

Defined once here; the CLI and the nodes read these lists."""
from __future__ import annotations

import torch

from ..errors import ParagonError
from ..validate import BACKENDS  # noqa: F401 (the lists live in validate: torch-free for --help)
from ..validate import RUN_PRECISIONS as PRECISIONS  # noqa: F401 (the union offered in menus)

# precisions each backend runs, on (CPU, CUDA); "auto" is always allowed
BACKEND_PRECISIONS = {
    "pytorch": (("fp32", "bf16"), ("fp32", "fp16", "bf16")),
    "onnxruntime": (("fp32",), ("fp32", "fp16")),
    "tensorrt": ((), ("fp32", "fp16")),
    "openvino": (("fp32", "bf16", "int8"), ("fp32", "bf16", "int8")),  # runs on the CPU (or an Intel GPU) either way
    "auto": (("fp32", "bf16"), ("fp32", "fp16", "bf16")),  # the fastest candidate of that precision (engine.auto)
}


def resolve_device(device) -> torch.device:
    """None/"auto" -> CUDA when PyTorch sees a GPU, else the CPU; "cuda" without a visible GPU is an error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ParagonError(f"device {device!r} is not a device name; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        cuda_build = torch.version.cuda is not None
        raise ParagonError(f"device {device!r} was asked for, but " + (
            "no CUDA GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)" if cuda_build else
            "this PyTorch is a CPU-only build (install a CUDA build of PyTorch)") + "; or use --device cpu.")
    return dev


def resolve_precision(precision: str, device: torch.device, backend: str = "pytorch") -> str:
    """"auto": fp16 on CUDA (PyTorch retries overflowing tiles in fp32), fp32 on the CPU. Other values must be
    one the backend runs on that device."""
    if backend not in BACKEND_PRECISIONS:
        raise ParagonError(f"backend {backend!r} is not one of {', '.join(BACKEND_PRECISIONS)}")
    on_cuda = device.type == "cuda"
    allowed = BACKEND_PRECISIONS[backend][on_cuda]
    if not allowed:
        raise ParagonError(f"the {backend} backend needs an NVIDIA GPU (device {device} was chosen)")
    if precision == "auto":
        return "fp16" if on_cuda and "fp16" in allowed else "fp32"
    if precision not in allowed:
        where = "CUDA" if on_cuda else "the CPU"
        raise ParagonError(f"precision {precision!r} is not available for {backend} on {where}; "
                           f"choose one of auto, {', '.join(allowed)}")
    return precision
