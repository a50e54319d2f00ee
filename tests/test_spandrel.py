"""spandrel registration: ParagonSR2 files load through ModelLoader; other files are not claimed."""
import pytest
import torch

spandrel = pytest.importorskip("spandrel")

from paragonsr2.arch import variant_config  # noqa: E402
from paragonsr2.spandrel_arch import ParagonSR2Arch, register  # noqa: E402

from helpers import random_state_dict  # noqa: E402


def test_register_idempotent_and_loads(real_ema_path):
    register()
    assert register() is False
    desc = spandrel.ModelLoader().load_from_file(str(real_ema_path))
    assert desc.architecture.id == "ParagonSR2" and desc.scale == 2 and desc.input_channels == 3
    out = desc(torch.rand(1, 3, 8, 8))
    assert out.shape == (1, 3, 16, 16) and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("gen", ["A0", "A", "B"])
def test_detects_every_generation(gen):
    sd = random_state_dict(variant_config("tiny", gen))
    assert ParagonSR2Arch().detect(sd)
    register()
    assert spandrel.ModelLoader().load_from_state_dict(sd).architecture.id == "ParagonSR2"


def test_does_not_claim_other_architectures():
    arch = ParagonSR2Arch()
    from spandrel import MAIN_REGISTRY

    compact = {"body.0.weight": torch.zeros(64, 3, 3, 3), "body.0.bias": torch.zeros(64),
               "body.1.weight": torch.zeros(64), "body.2.weight": torch.zeros(48, 64, 3, 3),
               "body.2.bias": torch.zeros(48)}
    assert not arch.detect(compact)
    register()
    assert MAIN_REGISTRY.load(compact).architecture.id != "ParagonSR2"


def test_library_upscale_accepts_spandrel_descriptor(real_path):
    from paragonsr2 import upscale

    register()
    desc = spandrel.ModelLoader().load_from_file(str(real_path))
    assert upscale(desc, torch.rand(1, 8, 8, 3)).shape == (1, 16, 16, 3)
    with pytest.raises(Exception, match="ParagonSR2 model"):
        upscale(torch.nn.Identity(), torch.rand(1, 8, 8, 3))
