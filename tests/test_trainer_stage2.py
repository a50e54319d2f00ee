"""Stage 2: colour consistency, perceptual backbone from a user file, RpGAN with R1/R2, resume with D."""
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import paragonsr2 as p
from paragonsr2.numerics import FLOAT32_EPS
from trainer import TrainConfig, load_config, train
from trainer._core import TrainError
from trainer.gan import PatchDiscriminator, discriminator_loss, discriminator_step, generator_loss
from trainer.losses import color_consistency
from trainer.perceptual import load_perceptual


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hr2")
    rng = np.random.default_rng(1)
    for i in range(4):
        img = rng.random((64, 64, 3)) * 0.2 + np.linspace(0.2, 0.8, 64)[None, :, None]
        Image.fromarray((img * 255).astype(np.uint8)).save(d / f"img{i}.png")
    return d


@pytest.fixture(scope="module")
def vgg11_file(tmp_path_factory):
    """A torchvision vgg11 state dict (random weights: the loader's contract, not the quality)."""
    from torchvision.models import vgg

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        sd = vgg.make_layers(vgg.cfgs["A"]).state_dict()  # vgg11's "features" trunk, torchvision's key layout
    path = tmp_path_factory.mktemp("vgg") / "vgg11.pth"
    torch.save({f"features.{k}": v for k, v in sd.items()}, path)
    return path


def _cfg(image_dir, out, **kw):
    base = dict(hr_dir=str(image_dir), out_dir=str(out), patch=16, batch=2, steps=4, warmup=1, val_every=2,
                save_every=2, val_crop=32, threads=1, lr=1e-3, variant="nano", seed=3, degradations="light",
                gan_weight=0.1, disc_channels=8, color_weight=1.0, val_fraction=0.25)
    base.update(kw)
    return TrainConfig(**base)


def test_color_consistency_sees_brightness_not_texture():
    hr = torch.rand(1, 3, 32, 32) * 0.5 + 0.25
    assert color_consistency(hr, hr) == 0
    shift = 0.1
    # a uniform shift survives blur and pooling exactly: Y moves by shift, Cb and Cr not at all
    assert abs(color_consistency(hr + shift, hr).item() - shift / 3) < 64 * FLOAT32_EPS
    checker = (torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2 * 0.2 - 0.1
    assert color_consistency(hr + checker, hr) < 0.1 * color_consistency(hr + shift, hr)


def test_relativistic_losses_and_discriminator_update():
    logits = torch.zeros(2, 1, 4, 4)
    assert torch.isclose(generator_loss(logits, logits), torch.log(torch.tensor(2.0)))
    assert torch.isclose(discriminator_loss(logits + 5, logits), torch.nn.functional.softplus(torch.tensor(-5.0)))
    disc = PatchDiscriminator(8)
    opt = torch.optim.AdamW(disc.parameters(), lr=1e-3)
    before = [t.clone() for t in disc.parameters()]
    parts = discriminator_step(disc, opt, torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), 1.0, 1.0)
    assert parts["r1"] > 0 and parts["r2"] > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, disc.parameters(), strict=True))


def test_gan_gradient_reaches_generator_only():
    net = p.ParagonSR2(p.variant_config("nano"))
    disc = PatchDiscriminator(8)
    disc.requires_grad_(False)
    sr = net(torch.rand(1, 3, 16, 16))
    generator_loss(disc(sr), disc(torch.rand_like(sr))).backward()
    assert all(q.grad is None for q in disc.parameters())
    assert net.conv_in.weight.grad is not None and net.conv_in.weight.grad.abs().sum() > 0


def test_perceptual_from_user_file(vgg11_file, tmp_path):
    loss = load_perceptual(vgg11_file, "vgg11")
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    y = torch.rand(1, 3, 32, 32)
    assert loss(y, y) == 0
    value = loss(x, y)
    value.backward()
    assert value > 0 and x.grad.abs().sum() > 0
    assert all(not q.requires_grad for q in loss.parameters())
    with pytest.raises(TrainError, match="does not exist.*nothing is downloaded"):
        load_perceptual(tmp_path / "absent.pth", "vgg19")
    with pytest.raises(TrainError, match="not a torchvision vgg19"):
        load_perceptual(vgg11_file, "vgg19")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a zip")
    with pytest.raises(TrainError, match="not a readable state dict"):
        load_perceptual(junk, "vgg11")


def test_perceptual_weight_needs_a_file(image_dir, tmp_path):
    with pytest.raises(TrainError, match="perceptual_weights"):
        train(_cfg(image_dir, tmp_path, perceptual_weight=0.1), device="cpu", resume=False)


def test_stage2_resume_bit_identical_with_discriminator(image_dir, vgg11_file, tmp_path):
    extra = dict(perceptual_weight=0.05, perceptual_weights=str(vgg11_file), perceptual_arch="vgg11")
    full = train(_cfg(image_dir, tmp_path / "a", **extra), device="cpu", resume=False)
    part = _cfg(image_dir, tmp_path / "b", **extra)
    train(part, device="cpu", resume=False, max_steps_this_run=2)
    resumed = train(part, device="cpu", resume=True)
    a, b = load_file(str(full.ema_path)), load_file(str(resumed.ema_path))
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa = torch.load(full.state_path, weights_only=True)
    sb = torch.load(resumed.state_path, weights_only=True)
    assert all(torch.equal(sa["disc"][k], sb["disc"][k]) for k in sa["disc"])
    assert sa["disc_optimizer"]["state"][0]["step"] == sb["disc_optimizer"]["state"][0]["step"] == 4


def test_stage2_example_config_and_cli(image_dir, tmp_path):
    from pathlib import Path

    from trainer.__main__ import main

    example = load_config(Path(__file__).resolve().parents[1] / "trainer" / "configs" / "stage2_example.toml")
    assert example.gan_weight > 0 and example.color_weight > 0 and example.pretrained
    start = tmp_path / "stage1.safetensors"
    p.save_model(p.ParagonSR2(p.variant_config("nano")), start)
    cfg = tmp_path / "s2.toml"
    cfg.write_text(f'hr_dir = "{image_dir}"\npretrained = "{start.name}"\npatch = 16\nbatch = 2\nsteps = 2\n'
                   'val_crop = 32\nthreads = 1\ngan_weight = 0.1\ndisc_channels = 8\ncolor_weight = 1.0\n'
                   'out_dir = "run"\nval_fraction = 0.25\n')
    assert main(["--config", str(cfg)]) == 0
    assert (tmp_path / "run" / "2x_paragonsr2_ema.safetensors").is_file()
