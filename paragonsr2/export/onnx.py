"""ONNX files for users (fp32, fp16, int8), verified in ONNX Runtime against PyTorch before they are kept."""
from __future__ import annotations

import logging
from pathlib import Path

from ..compile.onnx import export_onnx_proto, require_onnx, save_proto
from ..compile.quantize import calibration_crops, int8_onnx
from ..engine.onnxruntime import require_onnxruntime
from ..errors import OutputExistsError, ParagonError
from ..fuse import as_deploy
from ..validate import EXPORT_PRECISIONS as PRECISIONS
from .verify import report_path, verify_onnx

log = logging.getLogger("paragonsr2")


def check_onnx_target(path: Path, overwrite: bool) -> None:
    """Refuses a wrong suffix, and (without `overwrite`) a file or report that is already there."""
    if path.suffix.lower() != ".onnx":
        raise ParagonError(f"{path}: ONNX files must end in .onnx")
    existing = [p for p in (path, report_path(path)) if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(existing)


def export_onnx(model, path, *, precision: str = "fp32", calib=None, calib_count: int = 32,
                calib_size: int = 128, fp16_io: bool = False, opset: int = 17, overwrite: bool = False,
                int8_symmetric: bool = False) -> dict:
    """Exports and verifies; returns the verification report (also written as <name>.onnx.verify.json).

    ``int8_symmetric``: int8 activations with zero point 0 (what TensorRT accepts) instead of ONNX
    Runtime's faster uint8 ones."""
    require_onnx()
    require_onnxruntime("ONNX export (verified with ONNX Runtime)")
    if precision not in PRECISIONS:
        raise ParagonError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    path = Path(path)
    check_onnx_target(path, overwrite)
    fused = as_deploy(model)
    extra = None
    if precision == "int8":
        crops = calibration_crops(calib, calib_count, calib_size)
        extra = {"int8": int8_onnx(fused, path, crops, opset=opset, symmetric=int8_symmetric)}
    else:
        save_proto(export_onnx_proto(fused, precision, fp16_io=fp16_io, opset=opset), path)
    report = verify_onnx(fused, path, precision, extra=extra)
    report["path"], report["report"] = str(path), str(report_path(path))
    return report
