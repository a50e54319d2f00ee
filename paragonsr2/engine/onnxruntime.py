"""The ONNX Runtime backend: runs an exported .onnx file (CPU; CUDA and TensorRT providers when installed)."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import MissingDependencyError, ParagonError
from .choices import resolve_device
from .protocol import Backend


def require_onnxruntime(feature: str = "The ONNX Runtime backend"):
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError("onnxruntime", feature, "onnxruntime (or onnxruntime-gpu for CUDA)") from None
    return ort


def ort_providers(device: torch.device, use_tensorrt: bool = False, cache_dir: str | None = None) -> list:
    ort = require_onnxruntime()
    available = ort.get_available_providers()
    providers: list = []
    if device.type == "cuda":
        if use_tensorrt and "TensorrtExecutionProvider" in available:
            opts = {"device_id": device.index or 0}
            if cache_dir:
                opts.update(trt_engine_cache_enable=True, trt_engine_cache_path=cache_dir,
                            trt_timing_cache_enable=True, trt_timing_cache_path=cache_dir)
            providers.append(("TensorrtExecutionProvider", opts))
        if "CUDAExecutionProvider" in available:
            providers.append(("CUDAExecutionProvider", {"device_id": device.index or 0}))
        if not providers:
            raise ParagonError("ONNX Runtime on CUDA needs onnxruntime-gpu (pip install onnxruntime-gpu); "
                               f"this onnxruntime offers only {', '.join(available)}.")
    providers.append("CPUExecutionProvider")
    return providers


class OrtBackend(Backend):
    """ONNX Runtime over an exported .onnx file (CPU; CUDA and TensorRT providers when installed)."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str, scale, *, margin: int, num_feat: int, precision: str = "fp32",
                 in_chans: int = 3, out_chans: int = 3, device=None, use_tensorrt: bool = False,
                 cache_dir: str | None = None, threads: int | None = None) -> None:
        ort = require_onnxruntime()
        self.device = resolve_device(device)
        self.scale = tuple(scale)
        self.in_chans, self.out_chans = in_chans, out_chans
        self.margin, self.num_feat, self.precision = margin, num_feat, precision
        self.elem_size = 2 if precision == "fp16" else 4
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(onnx_path, opts,
                                            providers=ort_providers(self.device, use_tensorrt, cache_dir))
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_fp16 = inp.type == "tensor(float16)"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().cpu().numpy().astype(np.float16 if self.input_fp16 else np.float32, copy=False)
        (y,) = self.session.run(None, {self.input_name: np.ascontiguousarray(arr)})
        return torch.from_numpy(y.astype(np.float32, copy=False))
