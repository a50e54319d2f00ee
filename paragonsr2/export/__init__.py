"""Export: files for users (ONNX fp32/fp16/int8, TensorRT engines, NCNN .param/.bin), each verified against
PyTorch."""
from __future__ import annotations

import logging
from pathlib import Path

from ..compile.onnx import export_onnx_proto, inferred_output_hw, integer_scale, save_proto
from ..compile.quantize import int8_summary
from ..errors import ParagonError
from ..fuse import as_deploy
from ..validate import EXPORT_FORMATS as FORMATS
from .ncnn import export_ncnn
from .onnx import PRECISIONS, export_onnx
from .tensorrt import build_engine_for_model
from .verify import summary_line, verify_onnx

log = logging.getLogger("paragonsr2")


def default_output(source: Path | None, model, fmt: str, precision: str, folder: Path | None = None) -> Path:
    """<model stem>_<scale>x_<precision>.onnx|.engine|.param in `folder` (default: the working directory)."""
    stem = source.stem if source else "paragonsr2"
    ext = {"onnx": ".onnx", "ncnn": ".param"}.get(fmt, ".engine")
    return (folder or Path.cwd()) / f"{stem}_{integer_scale(as_deploy(model))}x_{precision}{ext}"


def export_model(model, output=None, *, fmt: str = "onnx", precision: str = "fp32", calib=None,
                 calib_count: int = 32, calib_size: int = 128, fp16_io: bool = False, opset: int = 17,
                 overwrite: bool = False, source: Path | None = None, int8_symmetric: bool = False) -> dict:
    """ONNX file, TensorRT engine or NCNN .param/.bin for a loaded model (the CLI's and the nodes' entry point)."""
    if fmt not in FORMATS:
        raise ParagonError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    out = Path(output) if output else default_output(source, model, fmt, precision)
    if fmt == "onnx":
        return export_onnx(model, out, precision=precision, calib=calib, calib_count=calib_count,
                           calib_size=calib_size, fp16_io=fp16_io, opset=opset, overwrite=overwrite,
                           int8_symmetric=int8_symmetric)
    if fmt == "ncnn":
        return export_ncnn(model, out, precision=precision, overwrite=overwrite, opset=opset)
    return build_engine_for_model(model, out, precision=precision, calib=calib, calib_count=calib_count,
                                  calib_size=calib_size, overwrite=overwrite)


__all__ = ["FORMATS", "PRECISIONS", "export_model", "export_ncnn", "export_onnx", "export_onnx_proto",
           "inferred_output_hw", "int8_summary", "save_proto", "summary_line", "verify_onnx"]
