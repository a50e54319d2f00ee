"""Export: ONNX (fp32/fp16/int8), verified against PyTorch, and TensorRT engines."""
from __future__ import annotations

import copy
import logging
import tempfile
from pathlib import Path

from ..errors import ParagonError
from .onnx import export_onnx_proto, inferred_output_hw, save_proto
from .verify import VERIFY_SIZES, real_inputs, verify_onnx

PRECISIONS = ("fp32", "fp16", "int8")
log = logging.getLogger("paragonsr2")


def default_output(source: Path | None, model, fmt: str, precision: str) -> Path:
    from .onnx import integer_scale

    stem = source.stem if source else "paragonsr2"
    ext = ".onnx" if fmt == "onnx" else ".engine"
    folder = source.parent if source else Path.cwd()
    return folder / f"{stem}_{integer_scale(model)}x_{precision}{ext}"


def export_onnx(model, path, *, precision: str = "fp32", calib=None, calib_count: int = 32,
                calib_size: int = 128, fp16_io: bool = False, opset: int = 17, overwrite: bool = False,
                int8_symmetric: bool = False) -> dict:
    """Exports and verifies; returns the verification report (also written as <name>.verify.json).

    ``int8_symmetric``: int8 activations with zero point 0 (what TensorRT accepts) instead of ONNX
    Runtime's faster uint8 ones."""
    from .onnx import as_deploy, require_onnx

    require_onnx()
    try:
        import onnxruntime  # noqa: F401 - every export is verified with it, so check before writing anything
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("onnxruntime", "ONNX export (verified with ONNX Runtime)") from None
    if precision not in PRECISIONS:
        raise ParagonError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ParagonError(f"{path}: ONNX files must end in .onnx")
    if path.exists() and not overwrite:
        raise ParagonError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    fused = as_deploy(model)
    if precision == "int8":
        import onnx

        from .quantize import INT8_OUTPUT_CHANNELS, calibration_crops, quantize_until

        crops = calibration_crops(calib, calib_count, calib_size)
        net = copy.deepcopy(fused).cpu().float()
        net.pad_output_channels(INT8_OUTPUT_CHANNELS)
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            fp32_proto = export_onnx_proto(net, "fp32", opset=opset)
            save_proto(fp32_proto, fp32)
            names = [n.name for n in fp32_proto.graph.node if n.op_type == "Conv"]
            net.transposed_upsample = False  # the graph's op structure (see onnx.export_onnx_proto)
            natural = [real_inputs(None, h, w).numpy() for h, w in VERIFY_SIZES]  # the bundled photo
            keep, worthy = quantize_until(fp32, path, crops, net, names, symmetric=int8_symmetric,
                                          check_inputs=natural)

        proto = onnx.load(str(path))
        from .onnx import finalize_graph, model_metadata_props

        meta = model_metadata_props(fused, "int8")
        meta["int8_float_convs"] = str(len(keep))
        meta["int8_activations"] = "int8 symmetric" if int8_symmetric else "uint8"
        save_proto(finalize_graph(proto, meta), path)
        extra = {"int8": int8_summary(names, keep, worthy)}
    else:
        save_proto(export_onnx_proto(fused, precision, fp16_io=fp16_io, opset=opset), path)
        extra = None
    report = verify_onnx(fused, path, precision, extra=extra)
    report["path"] = str(path)
    return report


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


def export_model(model, output=None, *, fmt: str = "onnx", precision: str = "fp32", calib=None,
                 calib_count: int = 32, calib_size: int = 128, fp16_io: bool = False, opset: int = 17,
                 overwrite: bool = False, source: Path | None = None, int8_symmetric: bool = False) -> dict:
    """ONNX file or TensorRT engine for a loaded model (the CLI's and the nodes' entry point)."""
    out = Path(output) if output else default_output(source, model, fmt, precision)
    if fmt == "onnx":
        return export_onnx(model, out, precision=precision, calib=calib, calib_count=calib_count,
                           calib_size=calib_size, fp16_io=fp16_io, opset=opset, overwrite=overwrite,
                           int8_symmetric=int8_symmetric)
    if fmt == "tensorrt":
        from .tensorrt import build_engine_for_model

        return build_engine_for_model(model, out, precision=precision, calib=calib, calib_count=calib_count,
                                      calib_size=calib_size, overwrite=overwrite)
    raise ParagonError(f"format {fmt!r} is not 'onnx' or 'tensorrt'")


__all__ = ["PRECISIONS", "export_model", "export_onnx", "export_onnx_proto", "inferred_output_hw", "save_proto",
           "verify_onnx"]
