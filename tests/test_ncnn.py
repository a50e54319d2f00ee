"""NCNN: the ONNX graph avoids what chaiNNer's ONNX->NCNN converter and ncnn cannot take; `export --format ncnn`
(pnnx) writes .param/.bin that run in ncnn like PyTorch, verified before they are kept."""
import sys

import onnx
import pytest
import torch

import paragonsr2 as p
from paragonsr2.arch import ParagonConfig
from paragonsr2.compile.onnx import export_onnx_proto
from paragonsr2.engine import make_backend, upscale
from paragonsr2.errors import MissingDependencyError, ParagonError
from paragonsr2.export import FORMATS, export_model, summary_line
from paragonsr2.numerics import psnr

from helpers import random_state_dict

# ops chaiNNer's converter maps to ncnn layers (its onnx_to_ncnn.py), of those a ParagonSR2 graph can contain
CHAINNER_OPS = {"Conv", "Slice", "Add", "LeakyRelu", "BatchNormalization", "Concat", "Constant", "Resize"}


@pytest.fixture(scope="module")
def tiny():
    config = ParagonConfig(num_feat=16, num_groups=2, num_blocks=1, ffn_expansion=1.5, hr_blocks=1)
    return p.load_model(random_state_dict(config, seed=11), fuse=True)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_graph_has_only_ops_ncnn_converters_take(tiny, precision):
    proto = export_onnx_proto(tiny, precision, fp16_io=precision == "fp16")
    assert {n.op_type for n in proto.graph.node} <= CHAINNER_OPS  # no Cast, no Split, no Mul
    for node in proto.graph.node:
        assert not (node.op_type == "Slice" and len(node.input) > 4)  # no steps input (chaiNNer refuses step 1)
        if node.op_type == "Conv":
            pads = next(a.ints for a in node.attribute if a.name == "pads")
            assert not (pads[0] == 0 and pads[1] > 0)  # a 0 pad_top that ncnn would read as pad_left


def test_portable_graph_matches_pytorch_in_onnxruntime(tiny, tmp_path):
    pytest.importorskip("onnxruntime")
    from paragonsr2.compile.onnx import save_proto
    from paragonsr2.engine.compare import failed, onnx_checks

    path = save_proto(export_onnx_proto(tiny, "fp32"), tmp_path / "tiny.onnx")
    assert failed(onnx_checks(tiny, path, "fp32")) is None  # within 8x float32 noise of float64


def test_runtime_graph_keeps_the_ops_runtimes_fuse(tiny, tmp_path, monkeypatch):
    """The "runtime" graph (ONNX Runtime, OpenVINO, TensorRT, INT8) keeps Split, the LayerScale Mul and 1xk band
    kernels as exported (less work than their portable rewrites), has no identity Cast, and gives the same
    values; the engine's cached ONNX is that graph."""
    pytest.importorskip("onnxruntime")
    from paragonsr2.compile.onnx import cached_onnx, save_proto
    from paragonsr2.engine.compare import failed, onnx_checks

    proto = export_onnx_proto(tiny, "fp32", graph="runtime")
    ops = {n.op_type for n in proto.graph.node}
    assert {"Split", "Mul"} <= ops and not ops & {"Cast", "BatchNormalization"}
    kernels = {tuple(next(a.ints for a in n.attribute if a.name == "kernel_shape")) for n in proto.graph.node
               if n.op_type == "Conv"}
    assert (1, tiny.config.band) in kernels  # the 1xk band conv, no zero rows added
    portable = export_onnx_proto(tiny, "fp32")
    assert sum(n.op_type == "Conv" for n in portable.graph.node) == sum(n.op_type == "Conv" for n in proto.graph.node)
    path = save_proto(proto, tmp_path / "runtime.onnx")
    assert failed(onnx_checks(tiny, path, "fp32")) is None
    monkeypatch.setenv("PARAGONSR2_CACHE", str(tmp_path / "cache"))
    cached = onnx.load(str(cached_onnx(tiny, "fp32")))
    assert [n.op_type for n in cached.graph.node] == [n.op_type for n in proto.graph.node]
    with pytest.raises(ParagonError, match="graph 'ncnn' is not one of portable, runtime"):
        export_onnx_proto(tiny, "fp32", graph="ncnn")


def test_ncnn_conversion_gets_the_portable_graph(tiny, monkeypatch):
    import paragonsr2.compile.ncnn as ncnn_compile

    seen = {}

    def convert(path, in_chans, precision):
        seen["ops"] = {n.op_type for n in onnx.load(str(path)).graph.node}
        return b"param", b"bin"
    monkeypatch.setattr(ncnn_compile, "onnx_to_ncnn", convert)
    assert ncnn_compile.ncnn_files(tiny) == (b"param", b"bin")
    assert seen["ops"] <= CHAINNER_OPS


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    pytest.importorskip("ncnn")
    pytest.importorskip("pnnx")
    out = tmp_path_factory.mktemp("ncnn") / "tiny_2x.param"
    return out, export_model(tiny, out, fmt="ncnn")


def test_export_writes_verified_files_that_tile_like_pytorch(tiny, exported):
    from paragonsr2.engine.margin import tile_margin
    from paragonsr2.engine.ncnn import NcnnBackend

    path, report = exported
    assert "ncnn" in FORMATS and report["passed"] and report["path"] == str(path)
    assert path.is_file() and path.with_suffix(".bin").is_file()
    assert path.with_name(path.stem + ".ncnn.verify.json").is_file()
    assert all(c["psnr"] >= 45.0 for c in report["checks"]) and "in ncnn" in summary_line(report)
    runner = NcnnBackend(str(path), str(path.with_suffix(".bin")), tiny.scale, margin=tile_margin(tiny),
                         num_feat=tiny.config.num_feat)
    x = torch.rand(1, 3, 45, 70)
    ref = upscale(make_backend(tiny, "pytorch", "fp32", "cpu"), x, tile=32, layout="BCHW")
    assert psnr(upscale(runner, x, tile=32, layout="BCHW"), ref) >= 45.0


def test_export_refuses_and_never_leaves_partial_files(tiny, exported, monkeypatch, tmp_path):
    from paragonsr2.export import ncnn as export_ncnn_module

    path, _ = exported
    with pytest.raises(ParagonError, match="exist"):
        export_model(tiny, path, fmt="ncnn")
    with pytest.raises(ParagonError, match=r"\.param"):
        export_model(tiny, tmp_path / "x.bin", fmt="ncnn")
    with pytest.raises(ParagonError, match="int8"):
        export_model(tiny, tmp_path / "x.param", fmt="ncnn", precision="int8")
    bad = [{"size": [8, 8], "input": "real", "max_abs": 1.0, "psnr": 10.0, "psnr_limit": 45.0, "pass": False}]
    monkeypatch.setattr(export_ncnn_module, "compare_outputs", lambda *a, **k: bad)
    with pytest.raises(ParagonError, match="failed verification"):
        export_model(tiny, tmp_path / "x.param", fmt="ncnn")
    assert list(tmp_path.iterdir()) == []


def test_missing_converter_says_what_to_install(tiny, tmp_path, monkeypatch):
    pytest.importorskip("ncnn")
    monkeypatch.setitem(sys.modules, "pnnx", None)
    with pytest.raises(MissingDependencyError, match="pip install pnnx"):
        export_model(tiny, tmp_path / "x.param", fmt="ncnn")
    monkeypatch.setitem(sys.modules, "ncnn", None)
    with pytest.raises(MissingDependencyError, match="pip install ncnn"):
        export_model(tiny, tmp_path / "x.param", fmt="ncnn")
