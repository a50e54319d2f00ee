"""Running a model over images (artifact/model -> pixels): ``upscale``, the tiler and the backends behind it.

Modules: choices (backends, precisions, devices), protocol (the Backend contract), pytorch / onnxruntime /
tensorrt / openvino (backends), auto (the automatic choice), make (choosing one), tiles + margin + memory
(seamless tiles in bounded memory), run (the tiler and ``upscale``), compare (checks of compiled artifacts
against PyTorch)."""
from __future__ import annotations

from .auto import AutoBackend
from .choices import BACKENDS, PRECISIONS, resolve_device, resolve_precision
from .make import as_network, is_paragon, make_backend, unwrap
from .onnxruntime import OrtBackend
from .openvino import OpenVINOBackend
from .protocol import Backend
from .pytorch import TorchBackend
from .run import Layout, Progress, detect_layout, upscale, upscale_tensor
from .tensorrt import TensorRTBackend
from .tiles import receptive_radius

__all__ = ["BACKENDS", "PRECISIONS", "AutoBackend", "Backend", "Layout", "OpenVINOBackend", "OrtBackend",
           "Progress", "TensorRTBackend", "TorchBackend", "as_network", "detect_layout", "is_paragon",
           "make_backend", "receptive_radius", "resolve_device", "resolve_precision", "unwrap", "upscale",
           "upscale_tensor"]
