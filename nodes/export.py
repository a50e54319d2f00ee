"""Export node: model -> verified ONNX (FP32/FP16/INT8), optionally a TensorRT engine."""
from __future__ import annotations

import json
from pathlib import Path

from ..paragonsr2.engine import is_paragon
from ..paragonsr2.errors import ParagonError
from ..paragonsr2.export import export_model, summary_line
from . import bridge
from .models import paragon_only
from .spec import In, NodeSpec, Out


def run_export(upscale_model, precision, tensorrt, filename, destination, calibration_folder="",
               calibration_images=None, unique_id=None):
    model = getattr(upscale_model, "model", upscale_model)
    if not is_paragon(model):
        raise paragon_only("Export ParagonSR2", upscale_model)
    fp = bridge.folder_paths()
    folder = Path(fp.get_output_directory()) / "paragonsr2" if destination == "output" else \
        Path(fp.models_dir) / ("tensorrt/paragonsr2" if tensorrt else "onnx")
    calib = calibration_images if calibration_images is not None else (calibration_folder.strip() or None)
    if precision == "int8" and calib is None:
        raise ParagonError("INT8 needs calibration: connect 'calibration_images' or set 'calibration_folder'")
    fmt = "tensorrt" if tensorrt else "onnx"
    desc = getattr(upscale_model, "paragonsr2", None) or getattr(model, "description", None)
    scale = int(desc.scale[0]) if desc is not None else 2
    requested = f"{filename}_{scale}x_{precision}"
    suffix = ".engine" if tensorrt else ".onnx"
    out = bridge.safe_output_path(folder, requested, suffix)
    report = export_model(model, out, fmt=fmt, precision=precision, calib=calib)
    text = json.dumps(report, indent=2, default=str)
    verified = [summary_line(report)] if "checks" in report else []
    return (str(out), text), {"text": ["\n".join([f"wrote {out}", *name_notes(requested, out, precision, suffix),
                                                   *verified])]}


def name_notes(requested: str, out: Path, precision: str, suffix: str) -> list[str]:
    """Why the written file name differs from ``requested + suffix``: the name was cleaned (folders and
    characters other than letters, digits, . _ - removed) and/or a counter was added (an existing file)."""
    stem = out.stem
    counter = None
    if not stem.endswith(f"_{precision}"):  # safe_output_path's "_001" counter follows the precision
        stem, _, counter = stem.rpartition("_")
    notes = []
    if stem != requested:
        notes.append(f"file name cleaned: '{requested}' -> '{stem}{suffix}' (no folders; letters, digits, "
                     ". _ - only)")
    if counter is not None:
        notes.append(f"'{stem}{suffix}' already exists: added '_{counter}' (existing files are never "
                     "overwritten)")
    return notes


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
