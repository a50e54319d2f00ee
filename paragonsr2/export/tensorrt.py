"""TensorRT engine files for users: `export --format tensorrt` writes FILE.engine and its FILE.json sidecar."""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from ..compile.tensorrt import build_engine, engine_sidecar, plan_profile, require_tensorrt, sidecar_path, write_sidecar
from ..engine.margin import tile_margin
from ..errors import OutputExistsError, ParagonError
from ..fuse import as_deploy
from .onnx import export_onnx


def engine_outputs(out_path: Path) -> list[Path]:
    """Every file an engine export writes: the engine, its sidecar and the timing cache beside it."""
    return [out_path, sidecar_path(out_path), out_path.parent / f"{out_path.stem}.timing.cache"]


def build_engine_for_model(model, out_path, precision: str = "fp16", calib=None, calib_count: int = 32,
                           calib_size: int = 128, overwrite: bool = False) -> dict:
    """Writes ``out_path`` (.engine) with a JSON sidecar; INT8 from a calibrated QDQ ONNX. Refuses to replace
    any of its files (engine, sidecar, timing cache) unless ``overwrite``."""
    trt = require_tensorrt()
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".engine":
        raise ParagonError(f"{out_path}: TensorRT engine files must end in .engine")
    existing = [p for p in engine_outputs(out_path) if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(existing)
    fused = as_deploy(model)
    margin = tile_margin(fused)
    profile = plan_profile(margin, fused.config.in_chans)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / f"model_{precision}.onnx"
        report = export_onnx(fused, onnx_path, precision=precision, calib=calib, calib_count=calib_count,
                             calib_size=calib_size, int8_symmetric=True)  # TensorRT: zero points must be 0
        build_engine(onnx_path, out_path, profile, precision, engine_outputs(out_path)[2])
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    sidecar = engine_sidecar(trt, props, precision, profile, margin, fused.scale,
                             num_feat=fused.config.num_feat, onnx_report=report)
    write_sidecar(out_path, sidecar)
    return {"path": str(out_path), **sidecar}
