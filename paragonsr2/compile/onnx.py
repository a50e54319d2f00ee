"""Dynamic-shape ONNX export (FP32 / FP16) of a deploy-fused ParagonSR2, chaiNNer-compatible.

One self-contained file; opset 17 by default, IR version <= 9 (chaiNNer's onnxruntime 1.17);
input ``input`` / output ``output``, NCHW with fixed channels and dynamic batch/height/width; the
nearest resize is a constant-scale Resize, so ONNX shape inference gives a concrete output size for
a concrete input size (how chaiNNer detects the scale); metadata_props describe the model.

Two graphs of the same values, one per kind of consumer (``graph=``): "portable" (files for users, and the NCNN
converters: ops that chaiNNer's ONNX->NCNN converter, pnnx and ncnn take, see portable_ops) and "runtime" (the
engine's own ONNX Runtime, OpenVINO and TensorRT artifacts and INT8: the ops as exported, which those runtimes
fuse and quantize better: a plain Split, a LayerScale Mul, 1xk band kernels without zero rows).
"""
from __future__ import annotations

import copy
import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_write
from ..errors import MissingDependencyError, ParagonError
from ..fuse import as_deploy
from ..version import __version__

MAX_IR_VERSION = 9
DEFAULT_OPSET = 17
GRAPHS = ("portable", "runtime")


def require_onnx():
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError("onnx", "ONNX export") from None
    return onnx


class _Exportable(nn.Module):
    """Casts around the network: fp32 I/O with fp16 compute, or plain."""

    def __init__(self, model: nn.Module, compute: torch.dtype, io_dtype: torch.dtype) -> None:
        super().__init__()
        self.model = model
        self.compute, self.io_dtype = compute, io_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.compute != self.io_dtype:
            x = x.to(self.compute)
        y = self.model(x)
        return y.to(self.io_dtype) if self.compute != self.io_dtype else y


def integer_scale(model: nn.Module) -> int:
    sh, sw = model.scale
    if sh != sw or not float(sh).is_integer():
        raise ParagonError(f"ONNX export needs one integer scale (got {sh:g}x{sw:g}); chaiNNer and TensorRT "
                           "detect and tile by an integer factor. Load the model with scale=2, 3 or 4.")
    return int(sh)


def model_metadata_props(model: nn.Module, precision: str) -> dict[str, str]:
    desc = getattr(model, "description", None)
    return {
        "architecture": "ParagonSR2",
        "scale": str(integer_scale(model)),
        "variant": getattr(desc, "variant", "custom"),
        "generation": model.config.generation,
        "upsampler_alpha": f"{model.upsampler_alpha:g}",
        "precision": precision,
        "paragonsr2_version": __version__,
    }


def _torch_export(module: nn.Module, example: torch.Tensor, opset: int) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), buf, dynamo=False, opset_version=opset,
            input_names=["input"], output_names=["output"], do_constant_folding=True,
            dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                          "output": {0: "batch", 2: "out_height", 3: "out_width"}})
    return buf.getvalue()


def finalize_graph(proto, metadata: dict[str, str]):
    """Caps the IR version, clears inferred output H/W (so shape inference recomputes them), adds metadata."""
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    out_shape = proto.graph.output[0].type.tensor_type.shape
    for i in (2, 3):
        out_shape.dim[i].Clear()
        out_shape.dim[i].dim_param = ("out_height", "out_width")[i - 2]
    del proto.graph.value_info[:]
    del proto.metadata_props[:]
    for k, v in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "paragonsr2"
    proto.producer_version = __version__
    return proto


def portable_ops(proto, ncnn: bool = True):
    """Identity Casts removed; with ``ncnn`` (the "portable" graph) also the rewrites into ops that every ONNX
    consumer we target handles, same values (issue 13: chaiNNer's ONNX->NCNN converter and the ncnn runtime):
    each Split (opset 13: sizes as an input blob) becomes one Slice per part (starts/ends/axes initializers, no
    steps); a per-channel Mul by an initializer [1,C,1,1] (LayerScale) becomes a BatchNormalization with scale =
    that initializer, bias and mean 0, variance 1 and epsilon 0 (x * s exactly; converters store its weights like
    a conv's); a Conv padded left/right but not top/bottom (1xk band kernels) gets a zero kernel row above and
    below and one pad row (ncnn reads a missing pad_top as pad_left, and chaiNNer's writer leaves a 0 pad_top
    out)."""
    onnx = require_onnx()
    from onnx import helper, numpy_helper

    graph = proto.graph
    types = {v.name: v.type.tensor_type.elem_type
             for v in [*onnx.shape_inference.infer_shapes(proto).graph.value_info, *graph.input]}
    inits = {i.name: i for i in graph.initializer}
    inits.update({n.output[0]: n.attribute[0].t for n in graph.node if n.op_type == "Constant"
                  and n.attribute[0].name == "value"})
    outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    nodes = []
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        if node.op_type == "Cast" and types.get(node.input[0]) == to and node.output[0] not in outputs:
            rename[node.output[0]] = node.input[0]
        elif not ncnn:
            nodes.append(node)
        elif node.op_type == "Split" and len(node.input) == 2 and node.input[1] in inits:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            sizes = numpy_helper.to_array(inits[node.input[1]]).tolist()
            start = 0
            for i, (size, out) in enumerate(zip(sizes, node.output)):
                names = [f"{node.name}_{key}_{i}" for key in ("starts", "ends", "axes")]
                for name, value in zip(names, (start, start + size, axis)):
                    graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64), name))
                nodes.append(helper.make_node("Slice", [node.input[0], *names], [out], name=f"{node.name}_{i}"))
                start += size
        elif (node.op_type == "Mul" and node.input[1] in inits and len(inits[node.input[1]].dims) == 4
              and [d for i, d in enumerate(inits[node.input[1]].dims) if i != 1] == [1, 1, 1]):
            scale = numpy_helper.to_array(inits[node.input[1]]).reshape(-1)
            names = [f"{node.name}_{key}" for key in ("scale", "bias", "mean", "var")]
            for name, value in zip(names, (scale, 0 * scale, 0 * scale, 0 * scale + 1)):
                graph.initializer.append(numpy_helper.from_array(value, name))
            nodes.append(helper.make_node("BatchNormalization", [node.input[0], *names], list(node.output),
                                          name=node.name, epsilon=0.0))
        else:
            if node.op_type == "Conv":
                _pad_kernel_rows(node, inits)
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = [n for n in graph.node if n.op_type != "Constant" or n.output[0] in used]
    del graph.node[:]
    graph.node.extend(nodes)
    return proto


def _pad_kernel_rows(node, inits) -> None:
    """Conv pads [0, p, 0, p] with p > 0 -> pads [1, p, 1, p] and the kernel [O,I,kh,kw] -> [O,I,kh+2,kw] (zero
    rows): the same values."""
    from onnx import numpy_helper

    pads = next((a for a in node.attribute if a.name == "pads"), None)
    kernel = next((a for a in node.attribute if a.name == "kernel_shape"), None)
    if pads is None or kernel is None or node.input[1] not in inits or not (
            pads.ints[0] == pads.ints[2] == 0 and pads.ints[1] > 0):
        return
    init = inits[node.input[1]]
    w = numpy_helper.to_array(init)
    init.CopyFrom(numpy_helper.from_array(np.pad(w, ((0, 0), (0, 0), (1, 1), (0, 0))), init.name))
    pads.ints[0] = pads.ints[2] = 1
    kernel.ints[0] += 2


def export_onnx_proto(model: nn.Module, precision: str = "fp32", fp16_io: bool = False, opset: int = DEFAULT_OPSET,
                      graph: str = "portable"):
    """An in-memory ONNX ModelProto of ``model`` (deploy-fused first) in fp32 or fp16; ``graph`` "portable" (for
    files users take anywhere, and NCNN) or "runtime" (for ONNX Runtime, OpenVINO, TensorRT and INT8)."""
    onnx = require_onnx()
    if precision not in ("fp32", "fp16"):
        raise ParagonError(f"export_onnx_proto makes fp32 or fp16 graphs, not {precision!r} (INT8 is "
                           "made from the fp32 graph by quantize)")
    if graph not in GRAPHS:
        raise ParagonError(f"graph {graph!r} is not one of {', '.join(GRAPHS)}")
    fused = as_deploy(model).cpu()
    integer_scale(fused)
    compute = torch.float16 if precision == "fp16" else torch.float32
    io_dtype = compute if fp16_io else torch.float32
    net = copy.deepcopy(fused).to(compute).eval()
    net.transposed_upsample = False  # Resize + separable filter: faster in ONNX Runtime (see fuse.py)
    module = _Exportable(net, compute, io_dtype).eval()
    example = torch.rand(1, fused.config.in_chans, 32, 32, dtype=io_dtype)
    with torch.no_grad():
        data = _torch_export(module, example, opset)
    proto = portable_ops(onnx.load_from_string(data), ncnn=graph == "portable")
    meta = model_metadata_props(fused, precision + ("-io16" if fp16_io and precision == "fp16" else ""))
    return finalize_graph(proto, meta)


def save_proto(proto, path: str | os.PathLike) -> Path:
    """Writes one self-contained .onnx file atomically."""
    onnx = require_onnx()
    data = proto.SerializeToString()
    if len(data) > 2_000_000_000:
        raise ParagonError("the model is too large for a single-file ONNX (2 GB protobuf limit)")
    onnx.checker.check_model(proto)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
    return atomic_write(path, write)


def inferred_output_hw(proto, height: int, width: int) -> tuple[int | None, int | None]:
    """Output H, W that ONNX shape inference (strict) gives for a concrete input size, as chaiNNer does."""
    onnx = require_onnx()
    probe = type(proto)()
    probe.CopyFrom(proto)
    dims = probe.graph.input[0].type.tensor_type.shape.dim
    for i, v in ((0, 1), (2, height), (3, width)):
        dims[i].Clear()
        dims[i].dim_value = v
    inferred = onnx.shape_inference.infer_shapes(probe, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    get = lambda d: d.dim_value if d.HasField("dim_value") else None
    return get(out[2]), get(out[3])


def cached_onnx(model: nn.Module, precision: str = "fp32", accept: Callable[[Path], None] | None = None) -> Path:
    """The "runtime" ONNX graph of `model` in the artifact cache (ONNX Runtime, OpenVINO and TensorRT read it),
    exported on first use. A new entry is published only after `accept(tmp_path)` returns (callers pass a
    verification that raises on failure)."""
    from .cache import cache_dir, cached, content_hash

    fused = as_deploy(model)
    path = cache_dir() / "onnx" / f"{content_hash(fused, precision, 'runtime')}_{precision}.onnx"
    return cached(path, lambda tmp: save_proto(export_onnx_proto(fused, precision, graph="runtime"), tmp), accept,
                  f"ONNX {precision} graph")
