"""Adversarial stage-2 parts: a light patch discriminator and the relativistic pairing loss (RpGAN) with
R1/R2 gradient penalties, as in R3GAN (Huang et al. 2024)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """[B,3,H,W] -> [B,1,H/8,W/8] realness logits, one per overlapping patch (no normalisation layers,
    so gradient penalties act per sample)."""

    def __init__(self, channels: int = 32, downsamples: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, 1, 1), nn.LeakyReLU(0.2)]
        c = channels
        for _ in range(downsamples):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(c * 2, c * 2, 3, 1, 1),
                       nn.LeakyReLU(0.2)]
            c *= 2
        layers.append(nn.Conv2d(c, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


def generator_loss(d_fake: torch.Tensor, d_real: torch.Tensor) -> torch.Tensor:
    """RpGAN generator term: the fake should score above its paired real (real logits detached)."""
    return F.softplus(-(d_fake - d_real.detach())).mean()


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """RpGAN discriminator term: each real should score above its paired fake."""
    return F.softplus(-(d_real - d_fake)).mean()


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||d sum(logits) / d inputs||^2 (R1 on reals, R2 on fakes)."""
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def discriminator_step(disc: nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                       r1_gamma: float, r2_gamma: float) -> dict[str, float]:
    """One update of ``disc`` on a batch; returns the loss parts. ``fake`` is detached here."""
    real = real.detach().requires_grad_(r1_gamma > 0)
    fake = fake.detach().requires_grad_(r2_gamma > 0)
    d_real, d_fake = disc(real), disc(fake)
    loss = discriminator_loss(d_real, d_fake)
    parts = {"d_loss": loss.item()}
    if r1_gamma > 0:
        r1 = gradient_penalty(d_real, real)
        loss = loss + r1_gamma / 2 * r1
        parts["r1"] = r1.item()
    if r2_gamma > 0:
        r2 = gradient_penalty(d_fake, fake)
        loss = loss + r2_gamma / 2 * r2
        parts["r2"] = r2.item()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return parts
