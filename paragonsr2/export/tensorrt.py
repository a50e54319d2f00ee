"""TensorRT engines from our ONNX: dynamic profile matched to the tiler, cache, self-healing loads.

Precision lives in the ONNX (fp16 graph with fp32 I/O, or INT8 Q/DQ), and the network is built
strongly typed where TensorRT supports it (required from TensorRT 11, where the FP16/INT8 builder
flags are gone); older TensorRT 10 builds fall back to the builder flags.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..checkpoint.files import atomic_write
from ..errors import MissingDependencyError, ParagonError

log = logging.getLogger("paragonsr2")
PROFILE_MIN = 1  # px: any tile (even a 1x1 image) fits, so tiles never need non-exact padding
DEFAULT_OPT_CORE = 256
DEFAULT_MAX_CORE = 1024


def require_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise MissingDependencyError("tensorrt", "The TensorRT backend", "tensorrt (and a CUDA GPU)") from None
    if not torch.cuda.is_available():
        raise ParagonError("TensorRT needs an NVIDIA GPU with CUDA; none is visible to PyTorch")
    return trt


@dataclass(frozen=True)
class Profile:
    """Input shapes [N,C,H,W] of one optimisation profile (batch 1)."""

    channels: int
    min_hw: int
    opt_hw: int
    max_hw: int

    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        c = self.channels
        return (1, c, self.min_hw, self.min_hw), (1, c, self.opt_hw, self.opt_hw), (1, c, self.max_hw, self.max_hw)


def plan_profile(margin: int, channels: int = 3, opt_core: int = DEFAULT_OPT_CORE,
                 max_core: int = DEFAULT_MAX_CORE) -> Profile:
    """A profile whose max fits a ``max_core`` tile plus its margins on both sides."""
    return Profile(channels, PROFILE_MIN, opt_core + 2 * margin, max_core + 2 * margin)


def max_core_for(profile: Profile, margin: int) -> int:
    """The largest tile core the tiler may use so that every padded tile fits the profile."""
    return profile.max_hw - 2 * margin


def cache_key(onnx_sha256: str, precision: str, profile: Profile, trt_version: str, gpu_name: str,
              compute_capability: tuple[int, int], flags: tuple[str, ...] = ()) -> str:
    """Engines are valid only for one ONNX, precision, profile, TensorRT version and GPU."""
    payload = json.dumps({"onnx": onnx_sha256, "precision": precision, "profile": asdict(profile),
                          "trt": trt_version, "gpu": gpu_name, "cc": list(compute_capability),
                          "flags": sorted(flags)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _progress_monitor(trt, report):
    base = getattr(trt, "IProgressMonitor", None)
    if base is None or report is None:
        return None

    class Monitor(base):
        def __init__(self) -> None:
            base.__init__(self)

        def phase_start(self, phase_name, parent_phase, num_steps):
            report(f"{phase_name} (0/{num_steps})")

        def step_complete(self, phase_name, step):
            report(f"{phase_name} ({step + 1})")
            return True

        def phase_finish(self, phase_name):
            report(f"{phase_name} done")
    return Monitor()


def build_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, profile: Profile, precision: str,
                 timing_cache: str | os.PathLike | None = None, progress=None, workspace_gb: float = 4.0) -> Path:
    """Builds and atomically writes a serialized engine; raises ParagonError at once on failure."""
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH") and not strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ParagonError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if not strongly_typed:  # TensorRT 10 without strong typing: precision by flags
        if precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(network.get_input(0).name, *profile.shapes())
    config.add_optimization_profile(opt_profile)
    cache = None
    if timing_cache:
        data = Path(timing_cache).read_bytes() if Path(timing_cache).is_file() else b""
        cache = config.create_timing_cache(data)
        config.set_timing_cache(cache, ignore_mismatch=True)
    monitor = _progress_monitor(trt, progress)
    if monitor is not None:
        config.progress_monitor = monitor
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ParagonError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above); "
                           "try fp32/fp16, a smaller max tile, or update the GPU driver")
    if cache is not None:
        blob = bytes(cache.serialize())
        atomic_write(timing_cache, lambda tmp: Path(tmp).write_bytes(blob))
    data = bytes(serialized)
    return atomic_write(engine_path, lambda tmp: Path(tmp).write_bytes(data))


def engine_sidecar(trt, props, precision: str, profile: Profile, margin: int, scale, **extra) -> dict:
    """What an engine was built for and how to tile with it (``from_engine`` reads it back)."""
    return {"precision": precision, "profile": asdict(profile), "margin": margin, "scale": list(scale),
            "tensorrt": trt.__version__, "gpu": props.name, "compute_capability": [props.major, props.minor], **extra}


def write_sidecar(engine_path: Path, sidecar: dict) -> None:
    atomic_write(engine_path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(sidecar, indent=2)))


class TensorRTBackend:
    """Runs tiles through a cached engine; tiles are kept inside the profile by ``max_core``."""

    name = "tensorrt"

    def __init__(self, engine_path: Path, scale, profile: Profile, margin: int, device) -> None:
        trt = require_tensorrt()
        self.device = torch.device(device) if device is not None else torch.device("cuda")
        self.scale, self.profile, self.margin = scale, profile, margin
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
        (same name, .json) gives the scale, profile and tile margin."""
        trt = require_tensorrt()
        engine_path = Path(engine_path)
        sidecar = engine_path.with_suffix(".json")
        try:
            meta = json.loads(sidecar.read_text())
            profile, margin = Profile(**meta["profile"]), int(meta["margin"])
            scale = tuple(float(v) for v in meta["scale"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ParagonError(f"{engine_path}: its sidecar {sidecar.name} is missing or incomplete ({e}); export "
                               "the engine again with `python -m paragonsr2 export MODEL --format tensorrt`") from None
        try:
            backend = cls(engine_path, scale, profile, margin, device)
        except ParagonError:
            raise ParagonError(f"{engine_path} was built with TensorRT {meta.get('tensorrt', '?')} for "
                               f"{meta.get('gpu', '?')} and does not load with TensorRT {trt.__version__} on this "
                               "GPU; engines are tied to both: export it again here") from None
        backend.num_feat = int(meta.get("num_feat", 64))
        return backend

    @classmethod
    def from_model(cls, model, precision: str = "fp16", device=None, cache_root=None, progress=None,
                   max_core: int = DEFAULT_MAX_CORE, calib=None):
        """Exports (or reuses) the ONNX, then loads a cached engine or builds one; a stale or corrupt
        engine is rebuilt automatically."""
        from ..engine.margin import tile_margin
        from .onnx import as_deploy, cached_onnx

        require_tensorrt()
        fused = as_deploy(model)
        if precision == "int8":
            raise ParagonError("TensorRT INT8 needs calibration images: build the engine with `python -m paragonsr2 "
                               "export MODEL --format tensorrt --precision int8 --calib DIR`, then upscale with "
                               "--model FILE.engine (or pick fp16 here)")
        onnx_path = cached_onnx(fused, precision)
        margin = tile_margin(fused)
        profile = plan_profile(margin, fused.config.in_chans, max_core=max_core)
        dev = torch.device(device) if device is not None else torch.device("cuda")
        return cls.for_onnx(onnx_path, fused.scale, profile, margin, precision, dev, cache_root, progress)

    @classmethod
    def for_onnx(cls, onnx_path, scale, profile: Profile, margin: int, precision: str, device, cache_root=None,
                 progress=None):
        trt = require_tensorrt()
        from .onnx import cache_dir

        root = Path(cache_root) if cache_root else cache_dir() / "tensorrt"
        sha = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()
        props = torch.cuda.get_device_properties(device)
        flags = ("strongly_typed",) if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED") else ()
        key = cache_key(sha, precision, profile, trt.__version__, props.name, (props.major, props.minor), flags)
        engine_path = root / f"{key}.engine"
        sidecar = engine_sidecar(trt, props, precision, profile, margin, scale, key=key, onnx_sha256=sha,
                                 flags=list(flags))
        for attempt in (1, 2):
            if not engine_path.is_file():
                log.warning("building a TensorRT engine (first use; this takes a while)")
                build_engine(onnx_path, engine_path, profile, precision, root / "timing.cache", progress)
                write_sidecar(engine_path, sidecar)
            try:
                return cls(engine_path, scale, profile, margin, device)
            except Exception as e:  # noqa: BLE001 - any deserialize failure means: rebuild once
                if attempt == 2:
                    raise ParagonError(f"TensorRT engine {engine_path} fails to load even after a rebuild: {e}") from e
                log.warning("cached TensorRT engine %s failed to load (%s); rebuilding", engine_path, e)
                engine_path.unlink(missing_ok=True)
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

    @staticmethod
    def is_oom(error: BaseException) -> bool:
        return "out of memory" in str(error).lower()

    def free(self) -> None:
        torch.cuda.empty_cache()


def build_engine_for_model(model, out_path, precision: str = "fp16", calib=None, calib_count: int = 32,
                           calib_size: int = 128, overwrite: bool = False) -> dict:
    """CLI/node export: writes ``out_path`` (.engine) with a JSON sidecar; INT8 from a calibrated QDQ ONNX."""
    import tempfile

    from ..engine.margin import tile_margin
    from . import export_onnx
    from .onnx import as_deploy

    require_tensorrt()
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise ParagonError(f"{out_path} exists; pass --overwrite to replace it")
    fused = as_deploy(model)
    margin = tile_margin(fused)
    profile = plan_profile(margin, fused.config.in_chans)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / f"model_{precision}.onnx"
        report = export_onnx(fused, onnx_path, precision=precision, calib=calib, calib_count=calib_count,
                             calib_size=calib_size, int8_symmetric=True)  # TensorRT: zero points must be 0
        build_engine(onnx_path, out_path, profile, precision, out_path.parent / "timing.cache")
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    sidecar = engine_sidecar(require_tensorrt(), props, precision, profile, margin, fused.scale,
                             num_feat=fused.config.num_feat, onnx_report=report)
    write_sidecar(out_path, sidecar)
    return {"path": str(out_path), **sidecar}
