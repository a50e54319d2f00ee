"""ONNX export: fp32/fp16/int8 within tolerance, chaiNNer contract (IR, opset, shapes, metadata)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import paragonsr2 as p  # noqa: E402
from paragonsr2.arch import variant_config  # noqa: E402
from paragonsr2.errors import ParagonError  # noqa: E402
from paragonsr2.export import export_model, export_onnx, inferred_output_hw  # noqa: E402

from helpers import float64_bound, random_state_dict  # noqa: E402


@pytest.fixture(scope="module")
def real_model(real_path):
    return p.load_model(real_path)


def _run(path, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    return s.run(None, {inp.name: x.numpy().astype(np.float16 if inp.type == "tensor(float16)" else np.float32)})[0]


def test_fp32_contract(real_model, tmp_path):
    path = tmp_path / "m.onnx"
    report = export_onnx(real_model, path)
    assert report["passed"] and path.is_file() and (tmp_path / "m.onnx.verify.json").is_file()
    assert list(tmp_path.iterdir()) and not list(tmp_path.glob("*.part"))
    proto = onnx.load(str(path))
    assert proto.ir_version <= 9 and proto.opset_import[0].version == 17
    assert len(proto.graph.input) == 1 and len(proto.graph.output) == 1
    assert proto.graph.input[0].name == "input" and proto.graph.output[0].name == "output"
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == 3 and all(dims[i].dim_param for i in (0, 2, 3))
    assert not list(tmp_path.glob("*.data"))  # single self-contained file
    meta = {m.key: m.value for m in proto.metadata_props}
    assert meta["scale"] == "2" and meta["variant"] == "nano" and meta["generation"] == "A"
    assert meta["upsampler_alpha"] == "1" and "paragonsr2_version" in meta
    for h, w in ((16, 16), (64, 64), (256, 512), (17, 33)):
        assert inferred_output_hw(proto, h, w) == (2 * h, 2 * w)
    for shape in ((1, 3, 31, 47), (2, 3, 64, 20)):
        x = torch.rand(shape)
        with torch.no_grad():
            ref = real_model(x).numpy()
        bound = float64_bound(real_model, x, torch.from_numpy(ref))
        assert np.abs(_run(path, x) - ref).max() <= bound
    checks = json.loads((tmp_path / "m.onnx.verify.json").read_text())["checks"]
    assert {tuple(c["size"]) for c in checks} == {(40, 64), (37, 53)}


def test_fp16_and_fp16_io(real_model, tmp_path):
    report = export_onnx(real_model, tmp_path / "h.onnx", precision="fp16")
    assert report["passed"] and min(c["psnr"] for c in report["checks"]) >= 45
    s = ort.InferenceSession(str(tmp_path / "h.onnx"), providers=["CPUExecutionProvider"])
    assert s.get_inputs()[0].type == "tensor(float)" and s.get_outputs()[0].type == "tensor(float)"
    export_onnx(real_model, tmp_path / "h16.onnx", precision="fp16", fp16_io=True)
    s = ort.InferenceSession(str(tmp_path / "h16.onnx"), providers=["CPUExecutionProvider"])
    assert s.get_inputs()[0].type == "tensor(float16)"
    init_types = {i.data_type for i in onnx.load(str(tmp_path / "h.onnx")).graph.initializer}
    assert onnx.TensorProto.FLOAT16 in init_types


def test_int8_quantized_and_verified(tmp_path):
    model = p.load_model(random_state_dict(variant_config("nano"), seed=4))
    from paragonsr2.imageio import read_image

    calib = read_image(Path(__file__).parent / "data" / "sample.png")  # natural-looking content, [1,3,H,W]
    report = export_onnx(model, tmp_path / "q.onnx", precision="int8", calib=calib, calib_count=8, calib_size=48)
    assert report["passed"]
    proto = onnx.load(str(tmp_path / "q.onnx"))
    ops = {n.op_type for n in proto.graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and proto.ir_version <= 9
    # made from the "runtime" graph (Split, LayerScale Mul, 1xk kernels as exported), ranges by percentile
    assert "Split" in ops and "BatchNormalization" not in ops
    assert {m.key: m.value for m in proto.metadata_props}["int8_calibration"] == "percentile"
    assert inferred_output_hw(proto, 32, 48) == (64, 96)
    conv_out = [n for n in proto.graph.node if n.op_type == "Conv"][-1]  # widened for the int8 kernels
    producer = {o: n for n in proto.graph.node for o in n.output}
    name = conv_out.input[1]
    name = producer[name].input[0] if name in producer else name  # int8 weights sit behind a DequantizeLinear
    assert list({i.name: i for i in proto.graph.initializer}[name].dims) == [16, 24, 3, 3] and "Slice" in ops
    assert _run(tmp_path / "q.onnx", torch.rand(1, 3, 9, 14)).shape == (1, 3, 18, 28)
    real = [c for c in report["checks"] if c["input"] == "real"]
    assert all(c["psnr"] >= 38 for c in real)
    summary = json.loads((tmp_path / "q.onnx.verify.json").read_text())["int8"]
    assert summary["int8_convs"] + summary["float_convs"] == summary["convs"] == 33 and summary["int8_convs"] > 0


def test_int8_symmetric_for_tensorrt(tmp_path):
    """TensorRT takes only int8 Q/DQ with zero point 0; the export verifies like any other."""
    model = p.load_model(random_state_dict(variant_config("nano"), seed=4))
    from paragonsr2.imageio import read_image

    calib = read_image(Path(__file__).parent / "data" / "sample.png")
    report = export_onnx(model, tmp_path / "t.onnx", precision="int8", calib=calib, calib_count=4, calib_size=48,
                         int8_symmetric=True)
    assert report["passed"]
    proto = onnx.load(str(tmp_path / "t.onnx"))
    init = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    quants = [n for n in proto.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert quants
    for n in quants:  # int8, zero point 0; no int32 bias DequantizeLinear (TensorRT's parser refuses them)
        zero = init[n.input[2]]
        assert zero.dtype == np.int8 and not zero.any(), n.name
    weight_dq = [n for n in quants if n.op_type == "DequantizeLinear" and n.input[0] in init]
    assert not weight_dq  # weights reach their DequantizeLinear through a QuantizeLinear of float weights
    assert {m.key: m.value for m in proto.metadata_props}["int8_activations"] == "int8 symmetric"


def test_histogram_calibration_reads_in_bounded_chunks(monkeypatch):
    """ONNX Runtime's histogram calibrator holds every batch's tensors until its reader ends: it is fed 4
    batches at a time (its collector merges them), and the class is left as it was."""
    calibrate = pytest.importorskip("onnxruntime.quantization.calibrate")
    from paragonsr2.compile.quantize import _Batches, _bounded_histograms

    seen = []

    def record(self, reader):
        seen.append([item["i"] for item in iter(reader.get_next, None)])
    monkeypatch.setattr(calibrate.HistogramCalibrater, "collect_data", record)
    with _bounded_histograms(batches=4):
        calibrate.HistogramCalibrater.collect_data(None, _Batches([{"i": k} for k in range(10)]))
        calibrate.HistogramCalibrater.collect_data(None, _Batches([{"i": k} for k in range(4)]))
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3]]
    assert calibrate.HistogramCalibrater.collect_data is record


def test_int8_summary_warns_when_heavy_convs_stay_float():
    from paragonsr2.export import int8_summary

    assert "note" not in int8_summary(["a", "b", "c"], ["a"], ["b", "c"])
    slow = int8_summary(["a", "b", "c"], ["a", "b"], ["b", "c"])
    assert slow["int8_convs"] == 1 and "1 of the 2 convs" in slow["note"]


def test_export_refusals(real_model, tmp_path):
    with pytest.raises(ParagonError, match="calibration"):
        export_onnx(real_model, tmp_path / "q.onnx", precision="int8")
    with pytest.raises(ParagonError, match="integer scale"):
        export_onnx(p.load_model(random_state_dict(variant_config("nano")), scale=2.5), tmp_path / "s.onnx")
    (tmp_path / "exists.onnx").write_bytes(b"x")
    with pytest.raises(ParagonError, match="exists"):
        export_onnx(real_model, tmp_path / "exists.onnx")
    with pytest.raises(ParagonError, match="calibration folder"):
        export_model(real_model, tmp_path / "q2.onnx", precision="int8", calib=str(tmp_path / "nope"))


def test_cli_export(real_path, tmp_path):
    from paragonsr2.cli import main

    out = tmp_path / "cli.onnx"
    assert main(["export", str(real_path), "--format", "onnx", "--precision", "fp32", "-o", str(out)]) == 0
    assert out.is_file()
    assert main(["export", str(real_path), "-o", str(out)]) == 2  # exists
