"""Backends: run one NCHW float32 CPU tile through a model, return NCHW float32 on the CPU.

All backends share one interface (``scale``, ``in_chans``, ``out_chans``, ``device``, ``__call__``,
``is_oom``) so that the tiler does not care which one runs.
"""
from __future__ import annotations

import copy
import logging
import warnings

import torch

from ..errors import MissingDependencyError, ParagonError

log = logging.getLogger("paragonsr2")

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _is_oom_text(text: str) -> bool:
    text = text.lower()
    return "out of memory" in text or "failed to allocate" in text or "cannot allocate memory" in text \
        or "bad_alloc" in text


def resolve_device(device) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParagonError(f"device {device!r} was asked for, but this PyTorch has no usable CUDA GPU; "
                           "use --device cpu or install a CUDA build of PyTorch.")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """fp16 on CUDA for "auto" (with an fp32 retry on overflow), fp32 on CPU."""
    if precision not in PRECISIONS:
        raise ParagonError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if device.type == "cpu" and precision == "fp16":
        raise ParagonError("fp16 is not supported on the CPU (slow and inexact there); use fp32 or bf16.")
    return precision


class TorchBackend:
    """PyTorch on CPU or CUDA. fp16/bf16 run the HR part in half precision and the LR part in fp32;
    tiles with non-finite output are redone in fp32 (with a warning)."""

    name = "pytorch"

    def __init__(self, model: torch.nn.Module, device=None, precision: str = "auto",
                 channels_last: bool | None = None) -> None:
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.dtype = _DTYPES[self.precision]
        self.scale = model.scale
        self.in_chans = model.config.in_chans
        self.out_chans = model.config.out_chans
        self.channels_last = (self.device.type == "cpu") if channels_last is None else channels_last
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        ref = next(model.parameters())
        if ref.device != self.device or ref.dtype != torch.float32:
            model = copy.deepcopy(model)  # never move or cast the caller's model
        self.model = model.to(self.device, torch.float32, memory_format=fmt).eval()
        if self.dtype != torch.float32:
            if hasattr(self.model, "set_hr_dtype"):  # half precision where it is safe (see set_hr_dtype)
                self.model.set_hr_dtype(self.dtype)
            else:
                self.model.to(self.dtype)
        self._fp32_model = None
        self.overflow_tiles = 0

    def _run(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.device.type != "cuda" or self.dtype != torch.float32:
            return model(x)
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32: TF32 costs 50 dB on real checkpoints
        try:
            return model(x)
        finally:
            torch.backends.cudnn.allow_tf32 = tf32

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self._run(self.model, x)
        if self.dtype != torch.float32 and not torch.isfinite(y).all():
            if self._fp32_model is None:
                self._fp32_model = copy.deepcopy(self.model).float()
                warnings.warn("fp16 overflowed (non-finite output) on this model; tiles that overflow are "
                              "redone in fp32. Use precision='bf16' or 'fp32' to avoid the retries.",
                              stacklevel=2)
            self.overflow_tiles += 1
            y = self._run(self._fp32_model, x)
        return y.float().cpu()

    @staticmethod
    def is_oom(error: BaseException) -> bool:
        return isinstance(error, torch.cuda.OutOfMemoryError) or (
            isinstance(error, RuntimeError) and _is_oom_text(str(error)))

    def free(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def ort_providers(device: torch.device, use_tensorrt: bool = False, cache_dir: str | None = None) -> list:
    import onnxruntime as ort

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


class OrtBackend:
    """ONNX Runtime over an exported .onnx file (CPU; CUDA and TensorRT providers when installed)."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str, scale, in_chans: int = 3, out_chans: int = 3, device=None,
                 use_tensorrt: bool = False, cache_dir: str | None = None, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependencyError("onnxruntime", "The ONNX Runtime backend",
                                         "onnxruntime (or onnxruntime-gpu for CUDA)") from None
        self.device = resolve_device(device)
        self.scale = scale
        self.in_chans, self.out_chans = in_chans, out_chans
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
        import numpy as np

        arr = x.detach().cpu().numpy().astype(np.float16 if self.input_fp16 else np.float32, copy=False)
        (y,) = self.session.run(None, {self.input_name: np.ascontiguousarray(arr)})
        return torch.from_numpy(y.astype(np.float32, copy=False))

    @staticmethod
    def is_oom(error: BaseException) -> bool:
        return _is_oom_text(str(error))

    def free(self) -> None:
        pass
