"""NCNN files (.param + .bin) from our ONNX graph, through `pnnx` (the ncnn project's own converter, a registry
package with a command-line binary; run as a subprocess in a scratch folder, nothing of its output executed).

The graph is the ONNX export with portable ops (compile.onnx.portable_ops), which chaiNNer's own ONNX->NCNN
converter also accepts. Dynamic input size: pnnx sees two input shapes.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from torch import nn

from ..errors import MissingDependencyError, ParagonError
from ..fuse import as_deploy
from .onnx import export_onnx_proto, save_proto

PRECISIONS = ("fp32", "fp16")  # fp16: weights stored in fp16 (ncnn computes in fp16 on GPUs either way)
PROBE_SHAPES = ((64, 64), (96, 80))  # two input sizes: pnnx keeps height and width dynamic
TIMEOUT_S = 600


def require_pnnx(feature: str = "NCNN export") -> str:
    """Path of the pnnx executable shipped in the `pnnx` package."""
    try:
        import pnnx
    except ImportError:
        raise MissingDependencyError("pnnx", feature) from None
    exe = Path(pnnx.EXEC_PATH)
    if not exe.is_file():
        raise ParagonError(f"the pnnx package is installed but its converter {exe} is missing; reinstall pnnx")
    return str(exe)


def onnx_to_ncnn(onnx_path: str | Path, in_chans: int = 3, precision: str = "fp32") -> tuple[bytes, bytes]:
    """(.param bytes, .bin bytes) of an ONNX file converted by pnnx."""
    if precision not in PRECISIONS:
        raise ParagonError(f"NCNN files are fp32 or fp16, not {precision!r}")
    exe = require_pnnx()
    with tempfile.TemporaryDirectory(prefix="paragonsr2-pnnx-") as tmp:
        src = Path(tmp) / "model.onnx"
        src.write_bytes(Path(onnx_path).read_bytes())
        (h1, w1), (h2, w2) = PROBE_SHAPES
        outs = {"ncnnparam": "out.ncnn.param", "ncnnbin": "out.ncnn.bin", "pnnxparam": "out.pnnx.param",
                "pnnxbin": "out.pnnx.bin"}
        cmd = [exe, src.name, f"inputshape=[1,{in_chans},{h1},{w1}]", f"inputshape2=[1,{in_chans},{h2},{w2}]",
               f"fp16={int(precision == 'fp16')}", "pnnxpy=out_pnnx.py", "pnnxonnx=out.pnnx.onnx",
               "ncnnpy=out_ncnn.py", *(f"{k}={v}" for k, v in outs.items())]
        try:
            run = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=TIMEOUT_S,  # noqa: S603
                                 check=False)  # (fixed argument list, no shell: the packaged converter)
        except subprocess.TimeoutExpired:
            raise ParagonError(f"pnnx did not finish converting within {TIMEOUT_S} s") from None
        param, binary = Path(tmp) / outs["ncnnparam"], Path(tmp) / outs["ncnnbin"]
        if run.returncode != 0 or not param.is_file() or not binary.is_file():
            tail = (run.stdout + run.stderr).strip().splitlines()[-5:]
            raise ParagonError(f"pnnx could not convert the ONNX graph to NCNN (exit {run.returncode}): "
                               + " | ".join(tail))
        return param.read_bytes(), binary.read_bytes()


def ncnn_files(model: nn.Module, precision: str = "fp32", opset: int = 17) -> tuple[bytes, bytes]:
    """(.param, .bin) bytes of a model (deploy-fused first): its fp32 ONNX graph converted by pnnx."""
    fused = as_deploy(model)
    with tempfile.TemporaryDirectory(prefix="paragonsr2-ncnn-") as tmp:
        path = save_proto(export_onnx_proto(fused, "fp32", opset=opset, graph="portable"), Path(tmp) / "model.onnx")
        return onnx_to_ncnn(path, fused.config.in_chans, precision)
