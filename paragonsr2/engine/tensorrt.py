"""The TensorRT backend: runs a serialized engine (cached, or a file from `export --format tensorrt`);
tiles are kept inside the engine's shape profile by `max_input`."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..compile.onnx import cached_onnx
from ..compile.tensorrt import (
    DEFAULT_MAX_CORE,
    Profile,
    cached_engine,
    plan_profile,
    read_sidecar,
    require_tensorrt,
)
from ..errors import ParagonError
from ..fuse import as_deploy
from .margin import tile_margin
from .protocol import Backend

log = logging.getLogger("paragonsr2")


class TensorRTBackend(Backend):
    """One engine on one CUDA device; input [1,C,h,w] with h, w within the profile."""

    name = "tensorrt"

    def __init__(self, engine_path: Path, scale, profile: Profile, margin: int, device, precision: str = "fp16",
                 num_feat: int = 64) -> None:
        trt = require_tensorrt()
        self.device = torch.device(device) if device is not None else torch.device("cuda")
        self.scale, self.profile, self.margin = tuple(scale), profile, margin
        self.precision, self.num_feat = precision, num_feat
        self.elem_size = 4 if precision == "fp32" else 2
        self.in_chans = self.out_chans = profile.channels
        self.max_input = profile.max_hw
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if engine is None:
            raise ParagonError(f"{engine_path}: TensorRT could not deserialize the engine")
        self.engine, self.context = engine, engine.create_execution_context()
        self.input_name, self.output_name = engine.get_tensor_name(0), engine.get_tensor_name(1)
        self.input_dtype = torch.float16 if engine.get_tensor_dtype(self.input_name) == trt.DataType.HALF \
            else torch.float32

    @classmethod
    def from_engine(cls, engine_path, device=None) -> TensorRTBackend:
        """A backend for an engine file written by ``export --format tensorrt``; its JSON sidecar
        (same name, .json; values range-checked) gives the scale, profile, margin and num_feat."""
        trt = require_tensorrt()
        engine_path = Path(engine_path)
        side = read_sidecar(engine_path)
        meta = side["meta"]
        try:
            return cls(engine_path, side["scale"], side["profile"], side["margin"], device,
                       precision=str(meta.get("precision", "fp16")), num_feat=side["num_feat"])
        except ParagonError:
            raise ParagonError(f"{engine_path} was built with TensorRT {meta.get('tensorrt', '?')} for "
                               f"{meta.get('gpu', '?')} and does not load with TensorRT {trt.__version__} on this "
                               "GPU; engines are tied to both: export it again here") from None

    @classmethod
    def from_model(cls, model, precision: str = "fp16", device=None, cache_root=None, progress=None,
                   max_core: int = DEFAULT_MAX_CORE, accept_onnx=None) -> TensorRTBackend:
        """Exports (or reuses) the cached ONNX, then loads a cached engine or builds one."""
        require_tensorrt()
        fused = as_deploy(model)
        if precision == "int8":
            raise ParagonError("TensorRT INT8 needs calibration images: build the engine with `python -m paragonsr2 "
                               "export MODEL --format tensorrt --precision int8 --calib DIR`, then upscale with "
                               "--model FILE.engine (or pick fp16 here)")
        onnx_path = cached_onnx(fused, precision, accept_onnx)
        margin = tile_margin(fused)
        profile = plan_profile(margin, fused.config.in_chans, max_core=max_core)
        dev = torch.device(device) if device is not None else torch.device("cuda")
        return cls.for_onnx(onnx_path, fused.scale, profile, margin, precision, dev, cache_root, progress,
                            num_feat=fused.config.num_feat)

    @classmethod
    def for_onnx(cls, onnx_path, scale, profile: Profile, margin: int, precision: str, device, cache_root=None,
                 progress=None, num_feat: int = 64) -> TensorRTBackend:
        """Loads the cached engine of an ONNX file; a stale or corrupt one is rebuilt once."""
        for rebuild in (False, True):
            engine_path = cached_engine(onnx_path, scale, profile, margin, precision, device, cache_root, progress,
                                        rebuild=rebuild, num_feat=num_feat)
            try:
                return cls(engine_path, scale, profile, margin, device, precision, num_feat)
            except Exception as e:
                if rebuild:
                    raise ParagonError(f"TensorRT engine {engine_path} fails to load even after a rebuild: {e}") from e
                log.warning("cached TensorRT engine %s failed to load (%s); rebuilding", engine_path, e)
        raise AssertionError("unreachable")

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if max(x.shape[-2:]) > self.max_input:
            raise ParagonError(f"tile {tuple(x.shape[-2:])} exceeds the engine profile max {self.max_input}")
        inp = x.to(self.device, self.input_dtype).contiguous()
        self.context.set_input_shape(self.input_name, tuple(inp.shape))
        out_shape = tuple(self.context.get_tensor_shape(self.output_name))
        out = torch.empty(out_shape, device=self.device, dtype=torch.float32 if self.input_dtype == torch.float32
                          else self.input_dtype)
        self.context.set_tensor_address(self.input_name, inp.data_ptr())
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise ParagonError("TensorRT execution failed")
        stream.synchronize()
        return out.float().cpu()
