from spandrel.architectures.ParagonSR2 import ParagonSR2, ParagonSR2Arch

from .util import (
    ModelFile,
    TestImage,
    assert_image_inference,
    assert_loads_correctly,
    assert_size_requirements,
    disallowed_props,
    skip_if_unchanged,
)

skip_if_unchanged(__file__)

NANO_PRETRAIN = (
    "https://github.com/Phhofm/traiNNer-redux/raw/2f64430b/models/"
    "2xparagonsr_nano_pretrain/2xParagonSR2_Nano_Pretrain.safetensors"
)


def test_load():
    assert_loads_correctly(
        ParagonSR2Arch(),
        # generations (B: HR head; A: one conv head; A0: re-parameterisable convs)
        lambda: ParagonSR2(),
        lambda: ParagonSR2(generation="A"),
        lambda: ParagonSR2(generation="A0"),
        lambda: ParagonSR2(generation="A0", has_generator=False, a0_fused=True),
        # release-fused files have no kernel generator
        lambda: ParagonSR2(has_generator=False),
        lambda: ParagonSR2(generation="A", has_generator=False),
        # variants (design table: nano, tiny, anime, s; 2025-11-14 table: xs)
        lambda: ParagonSR2(
            num_feat=32,
            num_groups=3,
            num_blocks=2,
            ffn_expansion=2.0,
            band=11,
            hr_blocks=2,
        ),
        lambda: ParagonSR2(
            num_feat=28, num_groups=2, num_blocks=3, band=15, hr_blocks=2
        ),
        lambda: ParagonSR2(
            num_feat=56,
            num_groups=5,
            num_blocks=5,
            ffn_expansion=2.0,
            band=11,
            hr_blocks=2,
            has_generator=False,
        ),
        lambda: ParagonSR2(num_feat=32, num_groups=2, num_blocks=3, band=11),
        lambda: ParagonSR2(generation="A", num_feat=32, num_blocks=3, band=11),
        # scales and settings (stored in the state dict)
        lambda: ParagonSR2(scale=1),
        lambda: ParagonSR2(scale=3),
        lambda: ParagonSR2(scale=4, generation="A"),
        lambda: ParagonSR2(scale=8, generation="A0"),
        lambda: ParagonSR2(upsampler_alpha=0.0),
        lambda: ParagonSR2(upsampler_alpha=0.75, generation="A"),
        # channels
        lambda: ParagonSR2(in_chans=1, out_chans=1),
        lambda: ParagonSR2(in_chans=4, out_chans=3),
    )


def test_size_requirements():
    file = ModelFile.from_url(NANO_PRETRAIN)
    assert_size_requirements(file.load_model())


def test_ParagonSR2_2x_Nano_Pretrain(snapshot):
    file = ModelFile.from_url(NANO_PRETRAIN)
    model = file.load_model()
    assert model == snapshot(exclude=disallowed_props)
    assert isinstance(model.model, ParagonSR2)
    assert_image_inference(
        file,
        model,
        [TestImage.SR_16, TestImage.SR_32, TestImage.SR_64],
    )
