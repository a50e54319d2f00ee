"""Verification after every export: the file in ONNX Runtime vs the PyTorch model (engine.compare), a JSON
report beside the file, and the file removed when it fails."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..compile.onnx import inferred_output_hw, integer_scale, require_onnx
from ..engine.compare import describe_failure, failed, onnx_checks
from ..errors import OutputExistsError, ParagonError
from ..fuse import as_deploy


def report_path(path: str | os.PathLike, fmt: str = "onnx") -> Path:
    """The verification report beside an exported file: ``NAME.<fmt>.verify.json`` (one name per format, so
    exports of one model in several formats share a folder)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{fmt}.verify.json")


def verify_onnx(model, path: str | os.PathLike, precision: str, images: list[torch.Tensor] | None = None,
                write_report: bool = True, extra: dict | None = None, overwrite: bool = True) -> dict:
    """Checks an exported file; raises ParagonError when it fails (the file is removed then). Returns the
    report, also written beside the file as <name>.onnx.verify.json (replaced only with `overwrite`)."""
    onnx = require_onnx()
    path = Path(path)
    fused = as_deploy(model).cpu().float()
    scale = integer_scale(fused)
    proto = onnx.load(str(path))
    try:
        checks = onnx_checks(fused, path, precision, images)
    except ParagonError as e:
        path.unlink(missing_ok=True)
        raise ParagonError(f"{path.name}: {e}; the file was removed") from None
    ih, iw = inferred_output_hw(proto, 64, 48)
    shape_ok = (ih, iw) == (64 * scale, 48 * scale)
    worst = failed(checks)
    report = {"file": path.name, "precision": precision, "opset": proto.opset_import[0].version,
              "ir_version": proto.ir_version, "scale": scale, "checks": checks,
              "shape_inference_64x48": [ih, iw], "passed": worst is None and shape_ok, **(extra or {})}
    out = report_path(path)
    if write_report:
        if out.exists() and not overwrite:
            raise OutputExistsError([out])
        atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2, default=str)))
    if not report["passed"]:
        path.unlink(missing_ok=True)
        why = describe_failure(worst) if worst else f"shape inference gives {ih}x{iw} for a 64x48 input"
        raise ParagonError(f"{path.name}: {precision} export failed verification ({why}). The file was "
                           f"removed; report: {out}")
    return report


def summary_line(report: dict) -> str:
    """One line for a user about a verified export (ONNX or NCNN): worst PSNR and max difference over the
    judged checks."""
    judged = [c for c in report["checks"] if c["pass"] is not None] or report["checks"]
    worst = min(judged, key=lambda c: c["psnr"])
    files = report["file"] + (f" + {report['bin']}" if "bin" in report else "")
    runtime = "ncnn" if report.get("format") == "ncnn" else "ONNX Runtime"
    return (f"verified {files} ({report['precision']}) in {runtime} against PyTorch: worst PSNR "
            f"{worst['psnr']:.1f} dB, max abs {worst['max_abs']:.2g} over {len(report['checks'])} checks")
