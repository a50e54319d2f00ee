"""Export node: model -> verified ONNX (FP32/FP16/INT8), optionally a TensorRT engine."""
from __future__ import annotations

import json
from pathlib import Path

from ..paragonsr2.errors import ParagonError
from ..paragonsr2.export import export_model
from . import bridge
from .spec import In, NodeSpec, Out


def run_export(upscale_model, precision, tensorrt, filename, destination, calibration_folder="",
               calibration_images=None, unique_id=None):
    model = getattr(upscale_model, "model", upscale_model)
    if not hasattr(model, "config"):
        raise ParagonError("'Export ParagonSR2' exports ParagonSR2 models only")
    fp = bridge.folder_paths()
    folder = Path(fp.get_output_directory()) / "paragonsr2" if destination == "output" else \
        Path(fp.models_dir) / ("tensorrt/paragonsr2" if tensorrt else "onnx")
    calib = calibration_images if calibration_images is not None else (calibration_folder.strip() or None)
    if precision == "int8" and calib is None:
        raise ParagonError("INT8 needs calibration: connect 'calibration_images' or set 'calibration_folder'")
    fmt = "tensorrt" if tensorrt else "onnx"
    desc = getattr(upscale_model, "paragonsr2", None) or getattr(model, "description", None)
    scale = int(desc.scale[0]) if desc is not None else 2
    out = bridge.safe_output_path(folder, f"{filename}_{scale}x_{precision}", ".engine" if tensorrt else ".onnx")
    report = export_model(model, out, fmt=fmt, precision=precision, calib=calib)
    text = json.dumps(report, indent=2, default=str)
    return (str(out), text), {"text": [f"wrote {out}"]}


EXPORT = NodeSpec(
    node_id="ParagonSR2Export", display_name="Export ParagonSR2",
    description="Exports a ParagonSR2 model to a dynamic-shape ONNX file (FP32, FP16 or INT8, verified against "
                "PyTorch; works in chaiNNer) or a TensorRT engine.",
    inputs=[
        In("upscale_model", "UPSCALE_MODEL", "A ParagonSR2 model"),
        In("precision", ["fp32", "fp16", "int8"], "fp16: half the size, fp32 I/O; int8: needs calibration images",
           default="fp16"),
        In("tensorrt", "BOOLEAN", "Write a TensorRT engine (.engine + .json sidecar, for this GPU and TensorRT "
           "version) instead of an ONNX file; needs tensorrt and an NVIDIA GPU", default=False),
        In("filename", "STRING", "File name prefix (letters, digits, . _ - only)", default="ParagonSR2"),
        In("destination", ["output", "models"], "output: ComfyUI's output/paragonsr2; models: models/onnx "
           "(or models/tensorrt/paragonsr2)", default="output"),
        In("calibration_folder", "STRING", "INT8: a folder of typical images", default="", optional=True),
        In("calibration_images", "IMAGE", "INT8: typical images (used instead of the folder)", optional=True),
    ],
    outputs=[Out("STRING", "path", "Where the file was written"),
             Out("STRING", "report", "The verification report (JSON)")],
    run=run_export, output_node=True)
