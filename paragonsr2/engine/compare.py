"""Numerical checks of a compiled artifact against the PyTorch model it came from (export verification and
the artifact cache both use them): two sizes (one non-square, one odd), a random and a natural input each."""
from __future__ import annotations

import copy
import os

import torch

from ..errors import ParagonError
from ..numerics import float64_bound, psnr
from ..sample import CHECK_SIZES, sample_crop
from .onnxruntime import OrtBackend
from .protocol import Backend

LIMITS = {"fp32": ("max_abs", None), "fp16": ("psnr", 45.0), "int8": ("psnr", 38.0), "bf16": ("psnr", 45.0)}


def check_inputs(fused: torch.nn.Module, images: list[torch.Tensor] | None = None):
    """Yields (size, kind, [1,C,h,w] input) for every check: seeded uniform noise and a natural crop (the first
    of `images` when given, else the bundled sample)."""
    gen = torch.Generator().manual_seed(0)
    for h, w in CHECK_SIZES:
        yield (h, w), "random", torch.rand(1, fused.config.in_chans, h, w, generator=gen)
        yield (h, w), "real", sample_crop(h, w, images[0] if images else None)


def compare(fused: torch.nn.Module, runner: Backend, precision: str,
            images: list[torch.Tensor] | None = None, min_psnr: float | None = None) -> list[dict]:
    """One dict per check: size, input, max_abs, psnr, the limit and pass (None: reported, not judged).
    fp32 must stay within 8x our own float32 rounding noise (vs float64); lower precisions within a PSNR;
    `min_psnr` judges every precision by that PSNR instead (runtimes whose kernels round differently)."""
    metric, limit = LIMITS[precision] if min_psnr is None else ("psnr", min_psnr)
    fused64 = copy.deepcopy(fused).cpu().double() if metric == "max_abs" else None  # one float64 copy for all
    checks = []
    for size, kind, x in check_inputs(fused, images):
        with torch.no_grad():
            ref = fused(x)
        out = runner(x)
        if tuple(out.shape) != tuple(ref.shape):
            raise ParagonError(f"{runner.name} output shape {tuple(out.shape)} != PyTorch {tuple(ref.shape)}")
        check = {"size": list(size), "input": kind, "max_abs": float((out - ref).abs().max()),
                 "psnr": psnr(out.numpy(), ref.numpy())}
        if metric == "max_abs":
            check["max_abs_limit"] = float64_bound(fused, x, ref, fused64)
            check["pass"] = check["max_abs"] <= check["max_abs_limit"]
        else:
            check["psnr_limit"] = limit
            # uniform noise is outside any INT8 calibration set: reported, not judged
            check["pass"] = None if precision == "int8" and kind == "random" else check["psnr"] >= limit
        checks.append(check)
    return checks


def onnx_checks(fused: torch.nn.Module, path: str | os.PathLike, precision: str,
                images: list[torch.Tensor] | None = None) -> list[dict]:
    """`compare` for an ONNX file run in ONNX Runtime on the CPU."""
    runner = OrtBackend(str(path), fused.scale, margin=0, num_feat=fused.config.num_feat, precision=precision,
                        in_chans=fused.config.in_chans, out_chans=fused.config.out_chans, device="cpu")
    return compare(fused, runner, precision, images)


def failed(checks: list[dict]) -> dict | None:
    """The worst failing check, or None when all judged checks pass."""
    bad = [c for c in checks if c["pass"] is False]
    return min(bad, key=lambda c: c["psnr"]) if bad else None


def describe_failure(check: dict) -> str:
    need = (f"max abs <= {check['max_abs_limit']:.3g}" if "max_abs_limit" in check
            else f"PSNR >= {check['psnr_limit']} dB")
    return (f"max abs {check['max_abs']:.3g}, PSNR {check['psnr']:.1f} dB at {check['size'][0]}x{check['size'][1]} "
            f"({check['input']} input); needs {need}")


def require_onnx_match(fused: torch.nn.Module, precision: str):
    """An `accept(path)` callback for the artifact cache: raises ParagonError when the file does not match."""
    def accept(path) -> None:
        worst = failed(onnx_checks(copy.deepcopy(fused).cpu().float(), path, precision))
        if worst is not None:
            raise ParagonError(f"the {precision} ONNX compiled from this model does not match PyTorch "
                               f"({describe_failure(worst)}); use backend 'pytorch' or report this model")
    return accept
