"""Trainer: resume reproduces the uninterrupted run, EMA flags and upstream layout, cancel, config."""
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import paragonsr2 as p
from trainer import TrainCancelled, TrainConfig, load_config, train
from trainer.degrade import degrade, downscale
from trainer.ema import EMA
from trainer.losses import ms_ssim, psnr_y, ssim


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    for i in range(6):
        y, x = np.mgrid[0:96, 0:96] / 96.0
        img = np.stack([np.sin(7 * x + i), np.cos(5 * y - i), x * y], -1) * 0.4 + 0.5
        img += rng.normal(0, 0.03, img.shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(d / f"img{i}.png")
    return d


def _cfg(image_dir, out, **kw):
    base = dict(hr_dir=str(image_dir), out_dir=str(out), patch=16, batch=2, steps=6, warmup=2, val_every=3,
                save_every=2, val_crop=64, threads=1, min_size=32, lr=1e-3, variant="nano", jpeg_prob=0.5,
                noise_prob=0.5, blur_prob=0.5, resize_filters=("bicubic", "bilinear", "area"), seed=7)
    base.update(kw)
    return TrainConfig(**base)


def test_resume_reproduces_uninterrupted_run(image_dir, tmp_path):
    full = train(_cfg(image_dir, tmp_path / "a"), device="cpu", resume=False)
    part = _cfg(image_dir, tmp_path / "b")
    train(part, device="cpu", resume=False, max_steps_this_run=4)  # "killed" after the step-4 checkpoint
    resumed = train(part, device="cpu", resume=True)
    assert resumed.step == full.step == 6
    a, b = load_file(str(full.ema_path)), load_file(str(resumed.ema_path))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_is_upstream_layout_with_flags(image_dir, tmp_path):
    result = train(_cfg(image_dir, tmp_path, steps=3), device="cpu", resume=False)
    sd = load_file(str(result.ema_path))
    ref = p.ParagonSR2(p.variant_config("nano")).state_dict()
    upstream = {k: tuple(v.shape) for k, v in sd.items() if not k.startswith("paragonsr2_")}  # pack-only extras
    assert upstream == {k: tuple(v.shape) for k, v in ref.items()}
    flags = [v for k, v in sd.items() if k.endswith("tracked_initialized")]
    assert flags and all(bool(f) for f in flags)
    model = p.load_model(result.ema_path)
    assert model.description.ema_repaired_blocks == 0 and model.description.scale_source == "metadata"
    assert result.val and "psnr" in result.val


def test_cancel_keeps_last_checkpoint(image_dir, tmp_path):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(TrainCancelled):
        train(_cfg(image_dir, tmp_path, steps=50), device="cpu", resume=False, should_cancel=cancel)
    assert (tmp_path / "2x_paragonsr2_ema.safetensors").is_file()
    assert not list(tmp_path.glob("*.part"))


def test_ema_copies_flags_and_averages():
    net = p.ParagonSR2(p.variant_config("nano"))
    ema = EMA(net, 0.9)
    net.train()
    net(torch.rand(2, 3, 16, 16))  # sets tracked kernels and flags
    ema.update(net, step=100)
    flags = [b for n, b in ema.module.named_buffers() if n.endswith("tracked_initialized")]
    assert all(bool(f) for f in flags)
    k_net = dict(net.named_buffers())["body.0.blocks.0.transformer.tracked_kernel"]
    k_ema = dict(ema.module.named_buffers())["body.0.blocks.0.transformer.tracked_kernel"]
    assert torch.allclose(k_ema, 0.1 * k_net, atol=1e-6)


def test_config_files_and_errors(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[data]\nhr_dir = "imgs"\npatch = 32\n[model]\nvariant = "tiny"\nscale = 3\n')
    cfg = load_config(toml)
    assert cfg.patch == 32 and cfg.variant == "tiny" and cfg.scale == 3
    assert cfg.path(cfg.hr_dir) == tmp_path / "imgs"
    yml = tmp_path / "c.yaml"
    yml.write_text("model:\n  variant: s\nbogus: 1\n")
    with pytest.raises(ValueError, match="bogus"):
        load_config(yml)
    from trainer.__main__ import main

    assert main(["--config", str(yml)]) == 2


def test_losses_and_degradations():
    x = torch.rand(2, 3, 64, 64)
    assert torch.isclose(ssim(x, x), torch.tensor(1.0), atol=1e-5)
    assert torch.isclose(ms_ssim(x, x), torch.tensor(1.0), atol=1e-4)
    assert psnr_y(x, x, 2) > 100
    cfg = TrainConfig(blur_prob=1, noise_prob=1, poisson_prob=1, jpeg_prob=1, webp_prob=1, sharpen_prob=1)
    g = torch.Generator().manual_seed(0)
    lr = degrade(x, 2, cfg.degrade_settings(), g)
    assert lr.shape == (2, 3, 32, 32) and lr.min() >= 0 and lr.max() <= 1
    assert downscale(x, 4, "area").shape == (2, 3, 16, 16)


def test_default_config_parses():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[1] / "trainer" / "configs" / "default_nano_x2.toml")
    assert cfg.variant == "nano" and cfg.scale == 2
