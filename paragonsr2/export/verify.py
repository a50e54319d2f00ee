"""Verification after every export: ONNX Runtime vs PyTorch at two sizes, random and real inputs."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from ..checkpoint.files import atomic_write
from ..errors import ParagonError
from ..numerics import float64_bound

VERIFY_SIZES = ((40, 64), (37, 53))  # one non-square, one odd
TOLERANCE = {"fp32": ("max_abs", None), "fp16": ("psnr", 45.0), "int8": ("psnr", 38.0)}
SAMPLE_IMAGE = Path(__file__).resolve().parents[1] / "data" / "verify.png"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1).astype(np.float64) - np.clip(b, 0, 1)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def real_inputs(images: list[torch.Tensor] | None, height: int, width: int) -> torch.Tensor:
    """A [1,3,h,w] crop of a real image (the calibration images, else the bundled sample)."""
    from ..imageio import read_image

    img = images[0] if images else read_image(SAMPLE_IMAGE)[:, :3]
    img = img if img.dim() == 4 else img.unsqueeze(0)
    if img.shape[-2] < height or img.shape[-1] < width:
        img = torch.nn.functional.interpolate(img, size=(max(height, img.shape[-2]), max(width, img.shape[-1])),
                                              mode="bilinear", align_corners=False)
    return img[:, :3, :height, :width].float().contiguous()


def verify_onnx(model, path: str | os.PathLike, precision: str, images: list[torch.Tensor] | None = None,
                write_report: bool = True, extra: dict | None = None) -> dict:
    """Runs the file in ONNX Runtime (CPU) against the fp32 PyTorch model; raises ParagonError above
    tolerance (the file is removed then). Returns the report and writes it beside the file as JSON."""
    from ..engine.backends import OrtBackend
    from .onnx import as_deploy, inferred_output_hw, integer_scale, require_onnx

    onnx = require_onnx()
    path = Path(path)
    fused = as_deploy(model).cpu().float()
    scale = integer_scale(fused)
    proto = onnx.load(str(path))
    runner = OrtBackend(str(path), fused.scale, device="cpu")
    report = {"file": path.name, "precision": precision, "opset": proto.opset_import[0].version,
              "ir_version": proto.ir_version, "scale": scale, "checks": []}
    ih, iw = inferred_output_hw(proto, 64, 48)
    report["shape_inference_64x48"] = [ih, iw]
    ok = (ih, iw) == (64 * scale, 48 * scale)
    metric, limit = TOLERANCE[precision]
    gen = torch.Generator().manual_seed(0)
    for h, w in VERIFY_SIZES:
        for kind in ("random", "real"):
            x = torch.rand(1, fused.config.in_chans, h, w, generator=gen) if kind == "random" else \
                real_inputs(images, h, w)
            with torch.no_grad():
                ref_t = fused(x)
            ref, out = ref_t.numpy(), runner(x).numpy()
            bound = float64_bound(fused, x, ref_t) if limit is None else limit
            if out.shape != ref.shape:
                raise ParagonError(f"{path}: ONNX output shape {out.shape} != PyTorch {ref.shape}")
            check = {"size": [h, w], "input": kind, "max_abs": float(np.abs(out - ref).max()),
                     "psnr": psnr(out, ref)}
            if precision == "int8" and kind == "random":
                check["pass"] = None  # uniform noise is outside any calibration set: reported, not judged
            else:
                check["max_abs_limit"] = bound if metric == "max_abs" else None
                check["pass"] = check["max_abs"] <= bound if metric == "max_abs" else check["psnr"] >= limit
            ok &= check["pass"] is not False
            report["checks"].append(check)
    report["tolerance"] = {metric: limit if limit is not None else
                           "8x float32 rounding noise vs a float64 reference (see checks' max_abs_limit)"}
    report["passed"] = bool(ok)
    report.update(extra or {})
    report_path = path.with_suffix(".verify.json")
    if write_report:
        atomic_write(report_path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2, default=str)))
    if not ok:
        path.unlink(missing_ok=True)
        worst = min((c for c in report["checks"] if c["pass"] is not None), key=lambda c: c["psnr"])
        needed = worst.get("max_abs_limit") or limit
        raise ParagonError(f"{path.name}: {precision} export failed verification (worst: max abs "
                           f"{worst['max_abs']:.3g}, PSNR {worst['psnr']:.1f} dB; needs {metric} "
                           f"{'<=' if metric == 'max_abs' else '>='} {needed:.3g}; shape inference "
                           f"{report['shape_inference_64x48']}). The file was removed; report: {report_path}")
    return report
