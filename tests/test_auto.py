"""Automatic backend choice: a fixed order per device, each candidate checked once per model (>= 50 dB from
fp32 on the bundled sample), remembered in memory and in the artifact cache, with the reason visible."""
import sys

import pytest
import torch

import paragonsr2 as p
from paragonsr2.arch import ParagonConfig
from paragonsr2.engine import AutoBackend, auto, make_backend, upscale
from paragonsr2.errors import ParagonError

from helpers import random_state_dict


@pytest.fixture(scope="module")
def tiny():
    config = ParagonConfig(num_feat=16, num_groups=2, num_blocks=1, ffn_expansion=1.5, hr_blocks=1)
    return p.load_model(random_state_dict(config, seed=7), fuse=True)


def fake_order(monkeypatch, *cands):
    monkeypatch.setattr(auto, "CPU_ORDER", tuple(cands))
    monkeypatch.setattr(auto, "_MEMORY", {})


def test_first_candidate_that_passes_is_chosen_and_remembered(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("PARAGONSR2_CACHE", str(tmp_path))
    fake_order(monkeypatch, auto.Candidate("pytorch", "bf16"), auto.REFERENCE)
    checked = []
    real_check = auto.check_psnr
    monkeypatch.setattr(auto, "check_psnr", lambda net, b: checked.append(b.precision) or real_check(net, b))
    monkeypatch.setattr(auto, "MIN_PSNR_DB", 1000.0)  # only the exact fp32 path (inf dB) passes
    chosen = make_backend(tiny, "auto", device="cpu")
    assert isinstance(chosen, AutoBackend) and chosen.inner.name == "pytorch" and chosen.precision == "fp32"
    assert checked == ["bf16"]  # PyTorch fp32 is the reference: never checked
    assert "pytorch bf16" in chosen.reason and "< 1000 dB" in chosen.reason and chosen.reason in chosen.describe()
    x = torch.rand(1, 3, 30, 40)
    assert torch.equal(upscale(chosen, x, tile=32, layout="BCHW"),
                       upscale(make_backend(tiny, "pytorch", "fp32", "cpu"), x, tile=32, layout="BCHW"))
    monkeypatch.setattr(auto, "_MEMORY", {})  # a new process: the record comes from the cache file
    monkeypatch.setattr(auto, "check_psnr", lambda net, b: pytest.fail("checked twice"))
    import paragonsr2.engine.make as make

    built = []

    class Counting(make.TorchBackend):
        def __init__(self, *args, **kwargs):
            built.append(kwargs.get("precision"))
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(make, "TorchBackend", Counting)
    again = make_backend(tiny, "auto", device="cpu")
    assert again.candidate == chosen.candidate and again.reason == chosen.reason
    assert built == ["fp32"]  # the refused bf16 candidate is not even built again
    assert list(tmp_path.glob("auto/*.json"))


def test_missing_packages_are_skipped_with_a_reason(tiny, monkeypatch):
    fake_order(monkeypatch, auto.Candidate("openvino", "fp32"), auto.REFERENCE)
    monkeypatch.setitem(sys.modules, "openvino", None)
    chosen = make_backend(tiny, "auto", device="cpu")
    assert chosen.inner.name == "pytorch" and "openvino fp32: openvino not installed" in chosen.reason


def test_precision_filters_candidates(tiny, monkeypatch):
    assert [c.precision for c in auto.candidates(torch.device("cpu"), "fp32")] == ["fp32"] * 3
    assert {c.precision for c in auto.candidates(torch.device("cuda"), "auto")} == {"fp16", "bf16", "fp32"}
    with pytest.raises(ParagonError, match="fp16"):
        make_backend(tiny, "auto", "fp16", device="cpu")
    fake_order(monkeypatch, auto.Candidate("pytorch", "bf16"))
    monkeypatch.setattr(auto, "MIN_PSNR_DB", 1000.0)
    with pytest.raises(ParagonError, match="no backend can run"):
        make_backend(tiny, "auto", "bf16", device="cpu")


def test_upstream_nano_never_gets_whole_graph_bf16(real_path):
    """The real upstream nano loses quality in bf16 over the whole graph (LR activations up to +-1000): the
    automatic choice skips it, says why, and what it picks stays >= 50 dB from fp32."""
    pytest.importorskip("openvino")
    from paragonsr2.engine.openvino import has_native_bf16
    from paragonsr2.numerics import psnr
    from paragonsr2.sample import sample_crop

    if not has_native_bf16():
        pytest.skip("this CPU has no native bf16")
    m = p.load_model(real_path, fuse=True)
    chosen = make_backend(m, "auto", device="cpu")
    assert chosen.candidate.options == {} and chosen.precision == "bf16"
    assert "whole graph" in chosen.reason and "< 50 dB" in chosen.reason
    x = sample_crop(160, 200).flip(-1)[:, :, 40:, 60:].contiguous()  # not the crop the choice was checked on
    with torch.no_grad():
        ref = m(x).clamp(0, 1)
    assert psnr(upscale(chosen, x, tile=48, layout="BCHW", border="zeros"), ref) >= 50.0


def test_cuda_prefers_a_tensorrt_engine_built_once(tiny, fake_trt, monkeypatch):
    """On CUDA with tensorrt importable, auto runs a TensorRT fp16 engine (its build progress reaches the
    caller), built once and found in the cache by the next choice."""
    trt = fake_trt()
    assert [c.key for c in auto.candidates(torch.device("cuda"))] == ["tensorrt fp16", "pytorch fp16",
                                                                      "pytorch bf16", "pytorch fp32"]
    monkeypatch.setattr(auto, "_MEMORY", {})
    monkeypatch.setattr(auto, "check_psnr", lambda net, b: 60.0)  # running an engine needs a GPU; choosing does not
    steps = []
    chosen = make_backend(tiny, "auto", device="cuda", progress=steps.append)
    assert chosen.inner.name == "tensorrt" and chosen.precision == "fp16" and chosen.missing == ()
    assert "tensorrt fp16: 60.0 dB" in chosen.reason and "first choice" in chosen.reason
    assert steps and steps[-1] == "Building done"
    monkeypatch.setattr(auto, "_MEMORY", {})  # a new process
    again = make_backend(tiny, "auto", device="cuda")
    assert again.inner.name == "tensorrt"
    assert [what for what, _ in trt.calls].count("build") == 1


def test_cuda_without_tensorrt_runs_pytorch_fp16_and_says_why(tiny, monkeypatch):
    """tensorrt not installed (or its build failing): PyTorch fp16, with the reason; CUDA is stood in for by
    CPU backends that report the CUDA candidate they stand for."""
    from paragonsr2.engine import TorchBackend
    from paragonsr2.errors import MissingDependencyError

    monkeypatch.setattr(auto, "_MEMORY", {})
    monkeypatch.setattr(auto, "check_psnr", lambda net, b: 70.0)

    def build(failure):
        def make(cand):
            if cand.backend == "tensorrt":
                raise failure
            backend = TorchBackend(tiny, "cpu", "fp32")
            backend.precision = cand.precision
            return backend
        return make

    chosen = AutoBackend(tiny, torch.device("cuda"), "auto", build(MissingDependencyError("tensorrt", "TensorRT")))
    assert chosen.candidate.key == "pytorch fp16" and chosen.missing == ("tensorrt",)
    assert "tensorrt fp16: tensorrt not installed" in chosen.reason
    monkeypatch.setattr(auto, "_MEMORY", {})
    failed = AutoBackend(tiny, torch.device("cuda"), "auto", build(RuntimeError("parser: unsupported op")))
    assert failed.candidate.key == "pytorch fp16" and failed.missing == ()
    assert "tensorrt fp16: failed (RuntimeError: parser: unsupported op)" in failed.reason
    fake_order(monkeypatch, auto.Candidate("onnxruntime", "fp32"), auto.REFERENCE)
    with pytest.raises(RuntimeError, match="broken reference"):  # the fp32 reference is never skipped
        AutoBackend(tiny, torch.device("cpu"), "auto", _raise(RuntimeError("broken reference")))


def _raise(error):
    def build(cand):
        raise error
    return build


def test_install_hint_names_the_first_known_gain():
    hint = auto.install_hint(["no-such-package", "onnxruntime", "tensorrt"])
    assert hint.startswith("pip install openvino onnx onnxruntime would give the OpenVINO CPU path")
    assert "docs/speed.md" in hint and auto.install_hint(["openvino"]) == hint
    assert auto.install_hint(["tensorrt"]).startswith("pip install tensorrt would give a TensorRT fp16 engine")
    assert auto.install_hint(["no-such-package"]) is None and auto.install_hint(()) is None
