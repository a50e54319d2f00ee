"""Degradation pipeline: each operator on tiny tensors, presets, determinism, no global RNG use."""
import math

import pytest
import torch

from paragonsr2.numerics import FLOAT32_EPS
from trainer import TrainConfig
from trainer._core import TrainError
from trainer.degrade import PRESETS, DegradeSettings, degrade, downscale, gaussian_kernel, resolve
from trainer.degrade.ops import blur, compress, gaussian_noise, poisson_noise, quantize, resize, sharpen

ALL_ON = DegradeSettings(**{name: 1.0 for name in DegradeSettings().probabilities()})


def _image(b=2, h=32, w=32):
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([torch.sin(9 * x) * 0.4 + 0.5, y, x * y])
    return base.expand(b, 3, h, w).clone() + torch.rand(b, 3, h, w) * 0.05


def test_gaussian_kernel_normalised_and_rotates():
    k = gaussian_kernel(0.8, 0.8)
    assert abs(float(k.sum()) - 1) < 1e-12 and torch.equal(k, k.flip(0)) and torch.equal(k, k.T)
    wide_x = gaussian_kernel(2.0, 1.0)
    turned = gaussian_kernel(2.0, 1.0, math.pi / 2)
    assert torch.allclose(turned, wide_x.T, atol=1e-12)  # a quarter turn swaps the axes
    t = torch.arange(wide_x.shape[0], dtype=torch.float64) - wide_x.shape[0] // 2
    var_x, var_y = float((wide_x.sum(0) * t ** 2).sum()), float((wide_x.sum(1) * t ** 2).sum())
    assert abs(var_x / 4.0 - 1) < 0.03 and abs(var_y / 1.0 - 1) < 0.03  # sigma^2 per axis (3-sigma window)


def test_blur_sharpen_keep_flat_images_and_act_on_edges():
    flat = torch.full((1, 3, 9, 9), 0.3)
    bound = 8 * FLOAT32_EPS
    assert (blur(flat, gaussian_kernel(1.0, 1.0)) - flat).abs().max() <= bound
    assert (sharpen(flat, 0.8, 1.5) - flat).abs().max() <= bound
    edge = torch.zeros(1, 1, 9, 9)
    edge[..., 5:] = 1.0
    assert blur(edge, gaussian_kernel(1.0, 1.0))[..., 4, 4] > 0  # light spills over the edge
    assert sharpen(edge, 0.8, 1.5)[..., 4, 5] > 1.0  # overshoot: the halo of a wide unsharp mask


def test_resize_and_downscale_shapes():
    x = _image(1, 30, 20)
    assert resize(x, (15, 10), "bicubic").shape == (1, 3, 15, 10)
    assert resize(x, (45, 30), "bilinear").shape == (1, 3, 45, 30)
    assert resize(x, (30, 20), "area") is x
    assert downscale(x, 3, "area").shape == (1, 3, 10, 6)


def test_noise_colour_and_gray():
    x = torch.full((1, 3, 16, 16), 0.5)
    g = torch.Generator().manual_seed(1)
    gray = gaussian_noise(x, 0.05, True, g)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    colour = gaussian_noise(x, 0.05, False, g)
    assert not torch.equal(colour[:, 0], colour[:, 1])
    shot = poisson_noise(x, 100.0, True, g)
    assert torch.equal(shot[:, 0], shot[:, 1]) and not torch.equal(shot, x)
    assert torch.equal(poisson_noise(x, 100.0, False, torch.Generator().manual_seed(3)),
                       poisson_noise(x, 100.0, False, torch.Generator().manual_seed(3)))


def test_compression_quality_orders_error():
    x = quantize(_image(1, 32, 32))
    err = {q: (compress(x, "JPEG", q) - x).abs().mean().item() for q in (30, 95)}
    assert err[30] > err[95] > 0
    webp = compress(x, "WEBP", 50)
    assert webp.shape == x.shape and torch.equal(quantize(webp), webp)


def test_pipeline_deterministic_per_seed_and_leaves_global_rng():
    x = _image()
    before = torch.get_rng_state()
    a = degrade(x, 2, ALL_ON, torch.Generator().manual_seed(5))
    b = degrade(x, 2, ALL_ON, torch.Generator().manual_seed(5))
    c = degrade(x, 2, ALL_ON, torch.Generator().manual_seed(6))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (2, 3, 16, 16) and torch.equal(quantize(a), a)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_shapes_and_images_differ_within_a_batch(preset):
    x = _image(4, 24, 24)
    x[1:] = x[0]  # identical inputs: per-image draws must still differ (except clean)
    lr = degrade(x, 3, PRESETS[preset], torch.Generator().manual_seed(0))
    assert lr.shape == (4, 3, 8, 8) and lr.min() >= 0 and lr.max() <= 1
    same = all(torch.equal(lr[0], lr[i]) for i in range(1, 4))
    assert same == (preset == "clean")


def test_repeated_filter_names_weight_the_draw():
    from trainer.degrade.pipeline import pick

    g = torch.Generator().manual_seed(0)
    filters = PRESETS["web"].resize_filters
    share = sum(pick(g, filters) == "bicubic" for _ in range(4000)) / 4000
    expected = filters.count("bicubic") / len(filters)
    assert abs(share - expected) < 5 * math.sqrt(expected * (1 - expected) / 4000)  # 5 binomial sigmas


def test_clean_preset_is_bicubic_and_draws_nothing():
    x = _image()
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert torch.equal(degrade(x, 2, PRESETS["clean"], g), quantize(downscale(x, 2, "bicubic")))
    assert torch.equal(g.get_state(), state)


def test_second_order_round_only_changes_the_result():
    x = _image(1)
    one = dict(blur_prob=1.0, noise_prob=1.0, jpeg_prob=0.0, webp_prob=0.0)
    first = degrade(x, 2, resolve("clean", {**one, "second_order_prob": 0.0}), torch.Generator().manual_seed(2))
    second = degrade(x, 2, resolve("clean", {**one, "second_order_prob": 1.0}), torch.Generator().manual_seed(2))
    assert first.shape == second.shape and not torch.equal(first, second)


def test_resolve_and_config_errors():
    assert resolve("light", {"jpeg_prob": 0.5, "quality": [70, 80]}).quality == (70, 80)
    with pytest.raises(ValueError, match="not one of"):
        resolve("harsh", {})
    with pytest.raises(ValueError, match="lanczos"):
        resolve("clean", {"resize_filters": ("lanczos",)})
    with pytest.raises(ValueError, match="probability"):
        resolve("clean", {"noise_prob": 1.5})
    cfg = TrainConfig(degradations="realistic", jpeg_prob=0.0)
    settings = cfg.degrade_settings()
    assert settings.jpeg_prob == 0.0 and settings.noise_prob == PRESETS["realistic"].noise_prob
    with pytest.raises(TrainError, match="degradations"):
        TrainConfig(degradations="nope").degrade_settings()
