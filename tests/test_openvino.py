"""OpenVINO backend: exact tiles and margins in fp32, bf16 only in the HR part, per-shape compile cache."""
import sys

import pytest
import torch

import paragonsr2 as p
from paragonsr2.arch import ParagonConfig
from paragonsr2.engine import make_backend, upscale
from paragonsr2.errors import MissingDependencyError, ParagonError
from paragonsr2.numerics import psnr
from paragonsr2.sample import sample_crop

from helpers import float64_bound, random_state_dict

ov = pytest.importorskip("openvino")
from paragonsr2.engine import openvino as ov_backend  # noqa: E402

needs_bf16 = pytest.mark.skipif(not ov_backend.has_native_bf16(), reason="this CPU has no native bf16")


@pytest.fixture(scope="module")
def tiny():
    config = ParagonConfig(num_feat=16, num_groups=2, num_blocks=1, ffn_expansion=1.5, hr_blocks=1)
    return p.load_model(random_state_dict(config, seed=5), fuse=True)


@pytest.fixture(scope="module")
def fp32(tiny):
    return make_backend(tiny, "openvino", "fp32")


def test_fp32_tiles_match_pytorch_with_the_same_margin(tiny, fp32):
    torch_backend = make_backend(tiny, "pytorch", "fp32", "cpu")
    assert fp32.margin == torch_backend.margin and fp32.scale == torch_backend.scale == (2.0, 2.0)
    x = torch.rand(1, 3, 50, 70)
    ref = upscale(torch_backend, x, tile=32, layout="BCHW")
    out = upscale(fp32, x, tile=32, layout="BCHW")
    assert (out - ref).abs().max() <= float64_bound(tiny, x, ref)
    assert fp32.describe() == "openvino fp32 on CPU"


def test_one_compiled_model_per_tile_shape(fp32):
    fp32.free()
    a, b = torch.rand(1, 3, 20, 24), torch.rand(1, 3, 20, 24)
    first = fp32(a)
    assert list(fp32._compiled) == [(1, 3, 20, 24)]
    request = fp32._compiled[(1, 3, 20, 24)]
    fp32(torch.rand(1, 3, 17, 9))
    fp32(b)
    assert len(fp32._compiled) == 2 and fp32._compiled[(1, 3, 20, 24)] is request
    assert torch.equal(fp32(a), first)  # same input, same bits
    for i in range(ov_backend.MAX_SHAPES + 1):
        fp32(torch.rand(1, 3, 8 + i, 8))
    assert len(fp32._compiled) == ov_backend.MAX_SHAPES


@needs_bf16
def test_bf16_keeps_the_lr_part_in_fp32(real_path):
    """The upstream nano (LR activations up to +-1000): bf16 only in the HR part stays >= 50 dB from fp32 on a
    natural photo, while bf16 over the whole graph does not."""
    m = p.load_model(real_path, fuse=True)
    x = sample_crop(64, 96)
    with torch.no_grad():
        ref = m(x).clamp(0, 1)
    hr_only = make_backend(m, "openvino", "bf16")
    whole = make_backend(m, "openvino", "bf16", bf16_lr=True)
    assert len(hr_only.parts) == 2 and len(whole.parts) == 1
    assert psnr(hr_only(x), ref) >= 50.0 > psnr(whole(x), ref)
    assert "LR part fp32" in hr_only.describe()


def test_missing_package_says_what_to_install(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingDependencyError, match="pip install openvino"):
        make_backend(tiny, "openvino")


def test_bad_choices_are_refused(tiny, monkeypatch):
    with pytest.raises(ParagonError, match="CPU or an Intel GPU"):
        make_backend(tiny, "openvino", device="cuda")
    with pytest.raises(ParagonError, match="fp16"):
        make_backend(tiny, "openvino", "fp16")
    monkeypatch.setattr(ov_backend, "has_native_bf16", lambda device="CPU": False)
    with pytest.raises(ParagonError, match="no native bf16"):
        make_backend(tiny, "openvino", "bf16")


def test_int8_runs_our_qdq_graph_calibrated_on_the_bundled_photo(tiny):
    int8 = make_backend(tiny, "openvino", "int8")
    x = sample_crop(48, 64)
    with torch.no_grad():
        ref = tiny(x).clamp(0, 1)
    assert int8.precision == "int8" and psnr(int8(x), ref) >= 30.0  # 8-bit activations: judged as in export
    assert "int8" in int8.describe()


def test_auto_tile_is_the_runtimes_fastest(tiny, fp32):
    """OpenVINO runs whole images up to FASTEST_TILE px (faster than PyTorch's 256 px CPU tiles there);
    PyTorch keeps its own CPU default."""
    from paragonsr2.engine.memory import CPU_FASTEST_TILE

    assert fp32.fastest_tile == ov_backend.FASTEST_TILE > CPU_FASTEST_TILE
    x = torch.rand(1, 3, 300, 300)
    counts = {}
    for name, backend in (("openvino", fp32), ("pytorch", make_backend(tiny, "pytorch", "fp32", "cpu"))):
        calls = []
        upscale(backend, x, tile="auto", layout="BCHW", progress=lambda done, total, calls=calls: calls.append(total))
        counts[name] = calls[-1]
    assert counts == {"openvino": 1, "pytorch": 4}
