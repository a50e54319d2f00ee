"""ONNX files for users (fp32, fp16, int8), verified in ONNX Runtime against PyTorch before they are kept."""
from __future__ import annotations

import copy
import logging
import tempfile
from pathlib import Path

from ..compile.onnx import export_onnx_proto, finalize_graph, model_metadata_props, require_onnx, save_proto
from ..compile.quantize import INT8_OUTPUT_CHANNELS, calibration_crops, quantize_until
from ..engine.compare import CHECK_SIZES
from ..engine.onnxruntime import require_onnxruntime
from ..errors import ParagonError
from ..fuse import as_deploy
from ..sample import sample_crop
from ..validate import EXPORT_PRECISIONS as PRECISIONS
from .verify import report_path, verify_onnx

log = logging.getLogger("paragonsr2")


def check_onnx_target(path: Path, overwrite: bool) -> None:
    """Refuses a wrong suffix, and (without `overwrite`) a file or report that is already there."""
    if path.suffix.lower() != ".onnx":
        raise ParagonError(f"{path}: ONNX files must end in .onnx")
    existing = [str(p) for p in (path, report_path(path)) if p.exists()]
    if existing and not overwrite:
        raise ParagonError(f"{', '.join(existing)} exist(s); pass overwrite=True (--overwrite) to replace")


def export_onnx(model, path, *, precision: str = "fp32", calib=None, calib_count: int = 32,
                calib_size: int = 128, fp16_io: bool = False, opset: int = 17, overwrite: bool = False,
                int8_symmetric: bool = False) -> dict:
    """Exports and verifies; returns the verification report (also written as <name>.verify.json).

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
        extra = {"int8": _write_int8(fused, path, calib, calib_count, calib_size, opset, int8_symmetric)}
    else:
        save_proto(export_onnx_proto(fused, precision, fp16_io=fp16_io, opset=opset), path)
    report = verify_onnx(fused, path, precision, extra=extra)
    report["path"] = str(path)
    return report


def _write_int8(fused, path: Path, calib, calib_count: int, calib_size: int, opset: int, symmetric: bool) -> dict:
    """Quantizes a widened fp32 graph on the calibration crops into `path`; returns the INT8 summary."""
    import onnx

    crops = calibration_crops(calib, calib_count, calib_size)
    net = copy.deepcopy(fused).cpu().float()
    net.pad_output_channels(INT8_OUTPUT_CHANNELS)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32_proto = export_onnx_proto(net, "fp32", opset=opset)
        save_proto(fp32_proto, fp32)
        names = [n.name for n in fp32_proto.graph.node if n.op_type == "Conv"]
        net.transposed_upsample = False  # the graph's op structure (see compile.onnx.export_onnx_proto)
        natural = [sample_crop(h, w).numpy() for h, w in CHECK_SIZES]  # the bundled photo
        keep, worthy = quantize_until(fp32, path, crops, net, names, symmetric=symmetric, check_inputs=natural)
    meta = model_metadata_props(fused, "int8")
    meta["int8_float_convs"] = str(len(keep))
    meta["int8_activations"] = "int8 symmetric" if symmetric else "uint8"
    save_proto(finalize_graph(onnx.load(str(path)), meta), path)
    return int8_summary(names, keep, worthy)


def int8_summary(convs: list[str], kept_float: list[str], worthy: list[str]) -> dict:
    """What INT8 quantized; a note when convs that int8 speeds up had to stay float for accuracy."""
    slow = [n for n in worthy if n in kept_float]
    summary = {"convs": len(convs), "int8_convs": len(convs) - len(kept_float), "float_convs": len(kept_float)}
    if slow:
        summary["note"] = (f"{len(slow)} of the {len(worthy)} convs that run faster in int8 stayed float to keep "
                           "the output accurate (this model's activations do not fit 8 bits well): expect "
                           "little or no speed-up over FP32; FP32 or FP16 may serve better")
        log.warning("INT8: %s", summary["note"])
    return summary
