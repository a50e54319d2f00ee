"""EMA of a network that carries every buffer, the tracked-kernel flags included.

Float parameters and float buffers are averaged; non-float buffers (``tracked_initialized``) are
copied, so that EMA files never run with identity kernels (upstream's EMA trap).
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # warm-up: follow the model closely at first
        src = model.state_dict()
        for k, v in self.module.state_dict().items():
            s = src[k]
            if v.is_floating_point():
                v.mul_(d).add_(s.detach(), alpha=1 - d)
            else:
                v.copy_(s)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, sd: dict) -> None:
        self.module.load_state_dict(sd)
