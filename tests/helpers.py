"""Shared test helpers (importable as `helpers`; conftest puts tests/ on sys.path)."""
import os
from pathlib import Path

import torch

from paragonsr2.numerics import FLOAT32_EPS, layer_depth  # noqa: F401 (re-exported for tests)
from paragonsr2.numerics import float32_bound as _float32_bound
from paragonsr2.numerics import float64_bound as _float64_bound

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PARAGONSR2_SHARED", ROOT.parent / "shared"))
CHECKPOINTS = SHARED / "checkpoints"
KEYS = SHARED / "spec" / "keys"
REAL = CHECKPOINTS / "2xParagonSR2_Nano_Pretrain.safetensors"
REAL_EMA = CHECKPOINTS / "2xParagonSR2_Nano_Pretrain_a6736e0b_ema.safetensors"


def random_state_dict(config, seed=0, trained=True):
    """A randomised state dict of a network (perturbed weights, trained tracked kernels)."""
    from paragonsr2.arch import ParagonSR2

    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # the same network in every process, global RNG untouched
        torch.manual_seed(seed)
        net = ParagonSR2(config)
    sd = net.state_dict()
    for k, t in sd.items():
        if t.is_floating_point() and "magic_upsampler" not in k and "identity_kernel" not in k:
            t.add_(torch.randn(t.shape, generator=g) * 0.05)
        if k.endswith("tracked_initialized"):
            t.fill_(trained)
    return sd


def _net(model):
    return model.model if hasattr(model, "model") else model


def float32_bound(model, ref, eps=FLOAT32_EPS) -> float:
    """`paragonsr2.numerics.float32_bound` for a network or a wrapper holding one as `.model`."""
    return _float32_bound(_net(model), ref, eps)


def float64_bound(model, x, ref) -> float:
    """`paragonsr2.numerics.float64_bound` for a network or a wrapper holding one as `.model`."""
    return _float64_bound(_net(model), x, ref)
