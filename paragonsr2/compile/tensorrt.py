"""TensorRT engines from our ONNX: a dynamic profile matched to the tiler, build, sidecar and cache.

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

from ..atomic import atomic_write, write_bytes
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
        write_bytes(timing_cache, bytes(cache.serialize()))
    return write_bytes(engine_path, bytes(serialized))


def engine_sidecar(trt, props, precision: str, profile: Profile, margin: int, scale, **extra) -> dict:
    """What an engine was built for and how to tile with it (``from_engine`` reads it back)."""
    return {"precision": precision, "profile": asdict(profile), "margin": margin, "scale": list(scale),
            "tensorrt": trt.__version__, "gpu": props.name, "compute_capability": [props.major, props.minor], **extra}


def sidecar_path(engine_path: Path) -> Path:
    return Path(engine_path).with_suffix(".json")


def write_sidecar(engine_path: Path, sidecar: dict) -> None:
    atomic_write(sidecar_path(engine_path), lambda tmp: Path(tmp).write_text(json.dumps(sidecar, indent=2)))


MAX_SIDECAR_HW = 16384  # px: no engine profile is larger
MAX_SIDECAR_SCALE = 16
MAX_SIDECAR_FEAT = 1920  # 10x the widest variant


def read_sidecar(engine_path: Path) -> dict:
    """The sidecar of an engine with its values range-checked: {"profile": Profile, "margin": int,
    "scale": (float, float), "num_feat": int, "meta": raw dict}. Raises ParagonError naming the problem."""
    engine_path = Path(engine_path)
    side = sidecar_path(engine_path)
    redo = "export the engine again with `python -m paragonsr2 export MODEL --format tensorrt`"
    try:
        meta = json.loads(side.read_text())
        p = meta["profile"]
        profile = Profile(int(p["channels"]), int(p["min_hw"]), int(p["opt_hw"]), int(p["max_hw"]))
        margin, num_feat = int(meta["margin"]), int(meta.get("num_feat", 64))
        scale = tuple(float(v) for v in meta["scale"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ParagonError(f"{engine_path}: its sidecar {side.name} is missing or incomplete ({e}); {redo}") from None
    problems = []
    if profile.channels not in (1, 3, 4):
        problems.append(f"channels {profile.channels} (1, 3 or 4)")
    if not 1 <= profile.min_hw <= profile.opt_hw <= profile.max_hw <= MAX_SIDECAR_HW:
        problems.append(f"profile {profile.min_hw}/{profile.opt_hw}/{profile.max_hw} (1 <= min <= opt <= max "
                        f"<= {MAX_SIDECAR_HW})")
    if not 0 <= margin < profile.max_hw // 2:
        problems.append(f"margin {margin} (0 .. {profile.max_hw // 2 - 1})")
    if len(scale) != 2 or not all(1 <= s <= MAX_SIDECAR_SCALE and float(s).is_integer() for s in scale):
        problems.append(f"scale {list(scale)} (two integers 1..{MAX_SIDECAR_SCALE})")
    if not 1 <= num_feat <= MAX_SIDECAR_FEAT:
        problems.append(f"num_feat {num_feat} (1..{MAX_SIDECAR_FEAT})")
    if problems:
        raise ParagonError(f"{side}: out-of-range values: {'; '.join(problems)}; {redo}")
    return {"profile": profile, "margin": margin, "scale": scale, "num_feat": num_feat, "meta": meta}


def cached_engine(onnx_path: str | os.PathLike, scale, profile: Profile, margin: int, precision: str, device,
                  cache_root: str | os.PathLike | None = None, progress=None, rebuild: bool = False,
                  num_feat: int = 64) -> Path:
    """The cached engine for an ONNX file on this GPU and TensorRT, built on first use (or when `rebuild`)."""
    from .cache import cache_dir, drop_if_damaged, note_built, record

    trt = require_tensorrt()
    root = Path(cache_root) if cache_root else cache_dir() / "tensorrt"
    sha = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()
    props = torch.cuda.get_device_properties(device)
    flags = ("strongly_typed",) if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED") else ()
    key = cache_key(sha, precision, profile, trt.__version__, props.name, (props.major, props.minor), flags)
    engine_path = root / f"{key}.engine"
    if rebuild:
        engine_path.unlink(missing_ok=True)
    if not drop_if_damaged(engine_path) or not sidecar_path(engine_path).is_file():
        log.warning("building a TensorRT engine (first use; this takes a while)")
        build_engine(onnx_path, engine_path, profile, precision, root / "timing.cache", progress)
        write_sidecar(engine_path, engine_sidecar(trt, props, precision, profile, margin, scale, key=key,
                                                  onnx_sha256=sha, flags=list(flags), num_feat=num_feat))
        record(engine_path)
        note_built(f"TensorRT {precision} engine", engine_path)
    return engine_path


