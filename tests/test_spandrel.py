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


def test_one_descriptor_for_spandrel_and_the_pack_loader():
    from paragonsr2 import load_model
    from paragonsr2.spandrel_arch import descriptor

    sd = random_state_dict(variant_config("nano"))
    mine = descriptor(load_model(sd, scale=3, fuse=True))
    register()
    core = spandrel.ModelLoader().load_from_state_dict({**sd, "paragonsr2_scale": torch.tensor([3.0, 3.0])})
    for d in (mine, core):
        assert d.scale == 3 and d.input_channels == d.output_channels == 3 and d.purpose == "SR"
        assert d.tags == ["nano", "genB", "24nf"] and d.architecture.id == "ParagonSR2"
    with torch.no_grad():
        x = torch.rand(1, 3, 7, 5)
        assert mine.model(x).shape == core.model(x).shape == (1, 3, 21, 15)


def test_core_loader_refuses_crafted_shapes_with_the_key():
    register()
    sd = {**random_state_dict(variant_config("nano")), "body.1999.x": torch.zeros(1)}
    # CheckpointError is a ValueError; under pytest the registered arch may come from the pack's second import
    with pytest.raises(ValueError, match="'body.1999.x' declares num_groups = 2000"):
        spandrel.ModelLoader().load_from_state_dict(sd)
