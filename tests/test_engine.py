"""Upscale engine: seamless tiles, layouts, channels, progress/cancel, OOM halving, memory bounds."""
import pytest
import torch

import paragonsr2 as p
from paragonsr2.arch import variant_config
from paragonsr2.engine import Backend, make_backend, upscale
from paragonsr2.engine.memory import auto_tile
from paragonsr2.engine.tiles import Rect, even_splits, plan_tiles, receptive_radius, split_rect
from paragonsr2.errors import ParagonError, UpscaleCancelled

from helpers import float32_bound, float64_bound, random_state_dict


@pytest.fixture(scope="module")
def nano():
    return p.load_model(random_state_dict(variant_config("nano"), seed=3), fuse=True)


@pytest.fixture(scope="module")
def backend(nano):
    return make_backend(nano, "pytorch", "fp32", device="cpu")


def test_even_splits_cover_without_thin_tiles():
    assert even_splits(10, 4) == [(0, 3), (3, 7), (7, 10)]
    assert even_splits(1, 64) == [(0, 1)]
    for length in (1, 7, 100, 257):
        for tile in (1, 3, 64, 300):
            parts = even_splits(length, tile)
            assert parts[0][0] == 0 and parts[-1][1] == length
            assert all(b - a <= tile for a, b in parts)
            assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))
            sizes = [b - a for a, b in parts]
            assert max(sizes) - min(sizes) <= 1


def test_plan_and_grow():
    assert plan_tiles(50, 60, None) == [Rect(0, 50, 0, 60)]
    assert len(plan_tiles(50, 60, 32)) == 4
    assert Rect(10, 20, 0, 5).grow(8, 25, 30) == Rect(2, 25, 0, 13)
    assert sum(r.height * r.width for r in split_rect(Rect(0, 33, 0, 47), 16)) == 33 * 47


def test_receptive_radius_is_sufficient(nano):
    """A pixel change influences outputs only within the computed radius."""
    r = receptive_radius(nano.config, nano.scale, nano.upsampler_alpha)
    x = torch.rand(1, 3, 2 * r + 21, 2 * r + 21)
    x2 = x.clone()
    c = x.shape[-1] // 2
    x2[..., c, c] += 1.0
    with torch.no_grad():
        diff = (nano(x) - nano(x2)).abs().sum(1)[0]
    ys, xs = torch.nonzero(diff > 0, as_tuple=True)
    reach = max((ys // 2 - c).abs().max().item(), (xs // 2 - c).abs().max().item())
    assert reach <= r


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (70, 91)])
@pytest.mark.parametrize("tile", [32, 48, None])
@pytest.mark.parametrize("border", ["zeros", "replicate", "reflect"])
def test_tiled_equals_untiled(backend, nano, size, tile, border):
    """Tiles give the untiled result of the whole network on the border-extended image (the plain network for
    "zeros", upstream's own padding)."""
    from paragonsr2.arch.geometry import BorderPad

    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        ref = BorderPad(nano, border, pad=backend.margin)(x).clamp(0, 1)
        if border == "zeros":
            assert torch.equal(ref, nano(x).clamp(0, 1))
    out = upscale(backend, x, tile=tile, layout="BCHW", border=border)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() <= float32_bound(nano, ref)


def test_layouts_channels_and_batches(backend, nano):
    x = torch.rand(3, 20, 17, 3)  # ComfyUI [B,H,W,C]
    out = upscale(backend, x, tile=32, strict_upstream=True)
    assert out.shape == (3, 40, 34, 3)
    with torch.no_grad():
        ref = nano(x[1:2].movedim(-1, 1)).clamp(0, 1).movedim(1, -1)
    assert (out[1:2] - ref).abs().max() <= float32_bound(nano, ref)
    nchw = torch.rand(2, 3, 9, 11)
    assert upscale(backend, nchw).shape == (2, 3, 18, 22)
    gray = torch.rand(1, 12, 10, 1)
    g = upscale(backend, gray)
    assert g.shape == (1, 24, 20, 1)
    rgba = torch.rand(1, 4, 10, 12)
    o = upscale(backend, rgba, layout="BCHW", strict_upstream=True)
    assert o.shape == (1, 4, 20, 24) and o.min() >= 0 and o.max() <= 1
    with torch.no_grad():
        alpha_ref = nano(rgba[:, 3:].expand(-1, 3, -1, -1)).clamp(0, 1).mean(1, keepdim=True)
    assert (o[:, 3:] - alpha_ref).abs().max() <= float32_bound(nano, alpha_ref)
    strided = torch.rand(1, 30, 40, 3)[:, ::2, ::2]  # non-contiguous
    assert upscale(backend, strided).shape == (1, 30, 40, 3)
    half = torch.rand(1, 8, 8, 3, dtype=torch.float16)
    assert upscale(backend, half).dtype == torch.float32


def test_bad_inputs(backend):
    with pytest.raises(ParagonError, match="4-D"):
        upscale(backend, torch.rand(8, 8, 3))
    with pytest.raises(ParagonError, match="channels"):
        upscale(backend, torch.rand(1, 8, 8, 7))
    with pytest.raises(ParagonError, match="float"):
        upscale(backend, torch.zeros(1, 8, 8, 3, dtype=torch.uint8))
    with pytest.raises(ParagonError, match="too small"):
        upscale(backend, torch.rand(1, 8, 8, 3), tile=4)


def test_progress_and_cancel(backend):
    calls = []
    upscale(backend, torch.rand(2, 3, 70, 70), tile=32, layout="BCHW", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] == 2 * 9 and [c[0] for c in calls] == list(range(1, 19))
    seen = []

    def cancel():
        seen.append(1)
        return len(seen) > 3
    with pytest.raises(UpscaleCancelled):
        upscale(backend, torch.rand(1, 3, 70, 70), tile=32, layout="BCHW", cancel=cancel)
    assert len(seen) == 4  # stopped within one tile of the request


class FlakyBackend(Backend):
    """Wraps a backend and raises an out-of-memory error for inputs larger than ``limit`` px."""

    name, precision = "flaky", "fp32"

    def __init__(self, inner, limit):
        self.inner, self.limit = inner, limit
        self.scale, self.in_chans, self.out_chans, self.device = inner.scale, 3, 3, torch.device("cpu")
        self.margin, self.num_feat = inner.margin, inner.num_feat
        self.sizes = []

    def __call__(self, x):
        if x.shape[-1] * x.shape[-2] > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.sizes.append(tuple(x.shape[-2:]))
        return self.inner(x)

    def is_oom(self, e):
        return "out of memory" in str(e)

    def free(self):
        pass


def test_oom_halves_tile_and_keeps_finished(backend, nano):
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = nano(x).clamp(0, 1)
    flaky = FlakyBackend(backend, limit=(32 + 2 * 27) ** 2)
    out = upscale(flaky, x, tile=64, layout="BCHW", strict_upstream=True)
    assert (out - ref).abs().max() <= float32_bound(nano, ref)
    with pytest.raises(ParagonError, match="out of memory even with"):
        upscale(FlakyBackend(backend, limit=10), x, tile=64, layout="BCHW")


def test_auto_tile_respects_memory(nano):
    cpu = torch.device("cpu")
    t = auto_tile(24, (2.0, 2.0), 28, cpu)
    assert 32 <= t <= 256 and t % 16 == 0
    import paragonsr2.engine.memory as mem

    old = mem.free_memory
    mem.free_memory = lambda d: 64 << 20
    try:
        assert auto_tile(24, (2.0, 2.0), 28, cpu) < t
    finally:
        mem.free_memory = old


def test_upscale_accepts_path_and_real_model(real_path):
    out = upscale(str(real_path), torch.rand(1, 16, 16, 3))
    assert out.device.type == "cpu" and out.dtype == torch.float32
    assert out.shape == (1, 32, 32, 3)


def test_non_integer_scale_runs_whole(real_path):
    m = p.load_model(real_path, scale=1.5, fuse=True)
    x = torch.rand(1, 3, 9, 13)
    out = upscale(m, x, layout="BCHW", device="cpu", backend="pytorch")
    with torch.no_grad():
        ref = m(x)
        assert (out - ref.clamp(0, 1)).abs().max() <= float64_bound(m, x, ref)  # activations up to 1000


def test_measured_margin_for_deep_models():
    """Deep configs get a measured margin below their exact receptive field, and stay within 1/4 level."""
    from paragonsr2.arch import ParagonConfig, ParagonSR2
    from paragonsr2.engine.margin import TOLERANCE, _probe_image, tile_margin

    net = ParagonSR2(ParagonConfig(num_feat=16, num_groups=4, num_blocks=3, ffn_expansion=2.0, band=11,
                                   hr_blocks=1)).eval()
    with torch.no_grad():
        for name, t in net.named_parameters():
            if name.endswith("gamma"):
                t.fill_(0.1)
    model = p.deploy_fuse(net)
    exact = receptive_radius(model.config, model.scale, model.upsampler_alpha)
    margin = tile_margin(model)
    assert exact > 64 and margin < exact
    img = _probe_image(160)
    with torch.no_grad():
        ref = model(img).clamp(0, 1)
    out = upscale(make_backend(model, "pytorch", device="cpu"), img, tile=48, layout="BCHW", border="zeros")
    assert (out - ref).abs().max() <= TOLERANCE + 1e-6


def test_backend_never_mutates_callers_model(real_path):
    m = p.load_model(real_path, fuse=True)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    upscale(m, torch.rand(1, 3, 8, 8), layout="BCHW", device=device,
            precision="fp16" if device == "cuda" else "fp32")
    after = m.state_dict()
    assert all(after[k].dtype == v.dtype and after[k].device == v.device and torch.equal(after[k], v)
               for k, v in before.items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision,min_db", [("fp32", 80.0), ("fp16", 45.0), ("bf16", 38.0)])
def test_cuda_precisions_match_cpu(real_path, precision, min_db):
    """The real checkpoint (tracked kernels up to |15|): half precision only in the HR part stays accurate."""
    from paragonsr2.numerics import psnr
    from paragonsr2.sample import sample_crop

    m = p.load_model(real_path, fuse=True)
    x = sample_crop(96, 128)
    ref = upscale(m, x, layout="BCHW", device="cpu", backend="pytorch")
    out = upscale(m, x, layout="BCHW", device="cuda", precision=precision, backend="pytorch")
    assert psnr(out.numpy(), ref.numpy()) >= min_db


def test_onnxruntime_backend_tiles_like_pytorch(nano, backend):
    pytest.importorskip("onnxruntime")
    from paragonsr2.engine.margin import tile_margin

    ort_backend = make_backend(nano, "onnxruntime", device="cpu", precision="fp32")
    assert ort_backend.margin == backend.margin == tile_margin(nano) and ort_backend.num_feat == 24
    x = torch.rand(1, 50, 70, 3)
    ref = upscale(backend, x, tile=32)
    bound = float64_bound(nano, x.movedim(-1, 1), ref.movedim(-1, 1))
    assert (upscale(ort_backend, x, tile=32) - ref).abs().max() <= bound
