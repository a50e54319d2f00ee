"""Loading, detection, refusals, saving and fusion."""
import pickle

import pytest
import torch
from safetensors.torch import save_file

import paragonsr2 as p
from paragonsr2.arch import HEAD_2025_11_14, variant_config
from paragonsr2.checkpoint import detect_config, scale_from_filename
from paragonsr2.errors import CheckpointError, NotParagonError, UnsafeCheckpointError

from helpers import float32_bound, random_state_dict


def test_real_checkpoint_loads_and_is_described(real_path):
    model = p.load_model(real_path)
    d = model.description
    assert (d.generation, d.variant, d.num_feat, d.num_groups, d.num_blocks, d.band) == ("A", "nano", 24, 2, 2, 9)
    assert d.params == 73299 and d.fused == "no" and d.ema_repaired_blocks == 0 and not d.warnings
    assert d.scale == (2.0, 2.0) and d.scale_source == "file name"
    assert d.upsampler_alpha == 1.0 and d.alpha_source == "generation default"
    assert not model.training
    y = model(torch.rand(1, 3, 5, 7))
    assert y.shape == (1, 3, 10, 14)


def test_ema_checkpoint_repaired_by_default(real_path, real_ema_path):
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        plain = p.load_model(real_path)(x)
        repaired_model = p.load_model(real_ema_path)
        repaired = repaired_model(x)
        upstream = p.load_model(real_ema_path, strict_upstream=True)
        identity = upstream(x)
    d = repaired_model.description
    assert d.ema_repaired_blocks == 4 and "EMA" in d.warnings[0]
    assert upstream.description.ema_repaired_blocks == 0
    for m in upstream.modules():
        if hasattr(m, "tracked_initialized"):
            assert not bool(m.tracked_initialized)
    # repaired EMA output is close to the plain network; the identity-kernel output is not
    assert (repaired - plain).abs().mean() < (identity - plain).abs().mean()


def test_scale_and_alpha_sources(real_path, tmp_path):
    m = p.load_model(real_path, scale=3, upsampler_alpha=0.25)
    assert m.description.scale_source == "argument" and m.description.scale == (3.0, 3.0)
    assert m.description.alpha_source == "argument" and m.upsampler_alpha == 0.25
    sd = p.load_model(real_path).state_dict()
    plain = tmp_path / "noname.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(plain))
    m = p.load_model(plain)
    assert m.description.scale_source == "default" and m.description.scale == (2.0, 2.0)
    saved = tmp_path / "x4_named_x4.safetensors"
    p.save_model(p.load_model(real_path, scale=3), saved)
    m = p.load_model(saved)
    assert m.description.scale_source == "metadata" and m.description.scale == (3.0, 3.0)


@pytest.mark.parametrize("name,scale", [("2xParagonSR2_Nano.safetensors", 2), ("4x-Foo.pth", 4),
                                        ("model_x3.safetensors", 3), ("foo_4x_bar.pt", 4),
                                        ("nano.safetensors", None), ("ParagonSR2.pth", None)])
def test_scale_from_filename(name, scale):
    assert scale_from_filename(name) == scale


@pytest.mark.parametrize("gen", ["A0", "A", "B"])
@pytest.mark.parametrize("variant", ["nano", "tiny", "anime"])
def test_detection_roundtrip(gen, variant):
    if gen == "A0" and variant == "nano":
        pytest.skip("A0 had no nano")
    cfg = variant_config(variant, gen)
    sd = random_state_dict(cfg)
    found = detect_config({k: tuple(v.shape) for k, v in sd.items()})
    assert found == cfg
    model = p.load_model(sd)
    assert model.description.variant == variant and model.description.generation == gen


def test_second_table_variant_named():
    cfg = HEAD_2025_11_14["xs"]
    assert p.load_model(random_state_dict(cfg)).description.variant == "xs (2025-11-14 table)"


@pytest.mark.parametrize("gen", ["A0", "A", "B"])
def test_fusions_equal_unfused(gen):
    cfg = variant_config("tiny", gen)
    sd = random_state_dict(cfg, seed=1)
    x = torch.rand(2, 3, 19, 23)
    with torch.no_grad():
        for scale in (1, 2, 3, 2.5):
            for alpha in (0.0, 0.5, 1.0):
                unfused = p.load_model(sd, scale=scale, upsampler_alpha=alpha)
                ref = unfused(x)
                bound = float32_bound(unfused, ref)
                release = p.load_model(sd, scale=scale, upsampler_alpha=alpha, fuse="release")(x)
                deploy = p.load_model(sd, scale=scale, upsampler_alpha=alpha, fuse=True)(x)
                if gen == "A0":  # A0's release fusion merges three conv branches: rounding differs
                    assert (ref - release).abs().max() <= bound
                else:  # dropping the kernel generator is bit-exact
                    assert torch.equal(ref, release)
                assert (ref - deploy).abs().max() <= bound


def test_deploy_alpha_refold():
    sd = random_state_dict(variant_config("nano"), seed=2)
    x = torch.rand(1, 3, 11, 12)
    fused = p.load_model(sd, fuse=True)
    fused.set_upsampler_alpha(0.8)
    with torch.no_grad():
        unfused = p.load_model(sd, upsampler_alpha=0.8)
        ref = unfused(x)
        assert (fused(x) - ref).abs().max() <= float32_bound(unfused, ref)


def test_padded_output_channels_same_result():
    # float64: the padding must not change the math; only the last conv's reduction order may differ
    fused = p.load_model(random_state_dict(variant_config("nano"), seed=3), fuse=True, dtype=torch.float64)
    x = torch.rand(1, 3, 13, 9, dtype=torch.float64)
    with torch.no_grad():
        ref = fused(x)
        fused.pad_output_channels(16)
        assert fused.conv_out.out_channels == 16
        out = fused(x)
    reduction = fused.conv_out.in_channels * fused.conv_out.kernel_size[0] * fused.conv_out.kernel_size[1]
    bound = torch.finfo(torch.float64).eps * reduction * max(1.0, ref.abs().max().item())
    assert out.shape == ref.shape and (out - ref).abs().max() <= bound


def test_save_roundtrip_and_upstream_layout(real_ema_path, tmp_path):
    model = p.load_model(real_ema_path)
    out = tmp_path / "saved.safetensors"
    p.save_model(model, out)
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert meta["format"] == "paragonsr2" and meta["generation"] == "A" and meta["variant"] == "nano"
    assert keys == set(model.state_dict()) | {"paragonsr2_scale", "paragonsr2_upsampler_alpha"}  # flat, no prefix
    again = p.load_model(out)
    x = torch.rand(1, 3, 13, 9)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    # release-fused files load back too
    fused_path = tmp_path / "fused.safetensors"
    p.save_model(p.load_model(real_ema_path, fuse="release"), fused_path)
    fused = p.load_model(fused_path)
    assert fused.description.fused == "release"
    with torch.no_grad():
        assert torch.equal(fused(x), model(x))
    assert not list(tmp_path.glob("*.part"))


def test_wrappers_and_prefixes(real_path, tmp_path):
    sd = p.load_model(real_path).state_dict()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        ref = p.load_model(sd)(x)
        for wrapped in ({"params_ema": sd, "params": {k: v * 0 for k, v in sd.items()}},
                        {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
                        {"netG." + k: v for k, v in sd.items()}):
            assert torch.equal(p.load_model(wrapped)(x), ref)
    pth = tmp_path / "2x_wrapped.pth"
    torch.save({"params_ema": sd}, pth)
    assert p.load_model(pth).description.scale_source == "file name"


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_unsafe_pickle(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"params": Evil()}, f)
    with pytest.raises(UnsafeCheckpointError, match="evil.pth"):
        p.load_model(path)
    path2 = tmp_path / "evil2.pth"
    torch.save({"x": Evil()}, path2)
    with pytest.raises(UnsafeCheckpointError, match="evil2.pth"):
        p.load_model(path2)


def test_refuses_truncated_files(real_path, tmp_path):
    data = real_path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors.*truncated or corrupt"):
        p.load_model(cut)
    pth = tmp_path / "model.pth"
    torch.save(p.load_model(real_path).state_dict(), pth)
    bad = tmp_path / "cut.pth"
    bad.write_bytes(pth.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.pth"):
        p.load_model(bad)
    with pytest.raises(CheckpointError, match="no such file"):
        p.load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        p.load_model(junk)


@pytest.mark.parametrize("keys,match", [
    ({"conv_first.weight": (64, 3, 3, 3), "RRDB_trunk.0.RDB1.conv1.weight": (32, 64, 3, 3)}, "ESRGAN"),
    ({"block_1.c1_r.sk.weight": (48, 48, 1, 1), "conv_1.sk.weight": (48, 3, 1, 1)}, "SPAN"),
    ({"body.0.weight": (64, 3, 3, 3), "body.1.weight": (64,), "body.2.weight": (64, 64, 3, 3)}, "Compact"),
    ({"base.sharp.weight": (3, 1, 3, 3), "detail_gain": (1,), "conv_in.weight": (16, 3, 3, 3)}, "dual-path"),
    ({"conv_in.weight": (24, 3, 3, 3), "body.0.blocks.0.norm1.weight": (24,)}, "v1"),
])
def test_refuses_other_architectures(keys, match):
    sd = {k: torch.zeros(s) for k, s in keys.items()}
    with pytest.raises(NotParagonError, match=match):
        p.load_model(sd)


def test_refuses_generation_c():
    sd = random_state_dict(variant_config("nano"))
    sd = {k: (v.view(1, -1, 1, 1) if k.endswith("gamma") else v) for k, v in sd.items()}
    with pytest.raises(NotParagonError, match="generation C"):
        p.load_model(sd)


def test_refuses_missing_unexpected_wrong_shapes_nonfinite():
    sd = random_state_dict(variant_config("nano"))
    missing = {k: v for k, v in sd.items() if "hr_head.0.conv2" not in k}
    with pytest.raises(CheckpointError, match="missing keys: hr_head.0.conv2"):
        p.load_model(missing)
    with pytest.raises(CheckpointError, match="unexpected keys: extra.weight"):
        p.load_model({**sd, "extra.weight": torch.zeros(1)})
    bad = dict(sd)
    bad["conv_fuse.weight"] = torch.zeros(24, 24, 1, 1)
    with pytest.raises(CheckpointError, match="wrong tensor shapes: conv_fuse.weight"):
        p.load_model(bad)
    nan = dict(sd)
    nan["conv_out.bias"] = torch.tensor([0.0, float("nan"), 0.0])
    with pytest.raises(CheckpointError, match="non-finite.*conv_out.bias"):
        p.load_model(nan)


def test_refusal_names_what_spandrel_detects():
    safmn = pytest.importorskip("spandrel.architectures.SAFMN")
    sd = safmn.SAFMN(dim=8, n_blocks=1, ffn_scale=2.0, upscaling_factor=2).state_dict()
    with pytest.raises(NotParagonError, match="spandrel recognises it as SAFMN"):
        p.load_model(sd)


def test_refusal_names_spandrel_architecture_under_a_stripped_prefix():
    """ESRGAN's own keys all start with 'model.', which reading strips as a wrapper prefix: spandrel still
    gets to see them as written, and the error carries what it recognised."""
    esrgan = pytest.importorskip("spandrel.architectures.ESRGAN")
    sd = esrgan.ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=2, scale=2).state_dict()
    with pytest.raises(NotParagonError, match="spandrel recognises it as ESRGAN") as info:
        p.load_model(sd)
    assert info.value.architecture == "ESRGAN" and info.value.spandrel_loads
    with pytest.raises(NotParagonError) as info:
        p.load_model({"foo.weight": torch.zeros(4, 3, 3, 3)})
    assert info.value.architecture is None and not info.value.spandrel_loads


def test_detection_is_a_structured_result():
    from paragonsr2.checkpoint import Foreign, detect, other_architecture

    sd = random_state_dict(variant_config("tiny"))
    found = detect({k: tuple(v.shape) for k, v in sd.items()})
    assert found.config == variant_config("tiny")
    assert found.evidence["generation"] == "hr_conv_in.weight" and found.evidence["num_feat"] == "conv_in.weight"
    assert found.evidence["num_groups"].startswith("body.2.") and found.evidence["hr_blocks"].startswith("hr_head.1.")
    gen_c = {k: (1, *v.shape, 1, 1) if k.endswith("gamma") else tuple(v.shape) for k, v in sd.items()}
    assert other_architecture(gen_c) is Foreign.GENERATION_C and "generation C" in str(Foreign.GENERATION_C)
    assert other_architecture({"RRDB_trunk.0.w": (1,)}) is Foreign.ESRGAN
    assert other_architecture({k: tuple(v.shape) for k, v in sd.items()}) is None


def test_robust_bundled_model_only_for_low_quality_jpeg(tmp_path):
    from paragonsr2.checkpoint import bundled_models, model_for_input
    from paragonsr2.validate import ROBUST_BELOW_JPEG_QUALITY as limit

    default = bundled_models()[2.0]
    real = default.with_name("2x_ParagonSR2_nano_real.safetensors")
    assert default.name.endswith("_default.safetensors") and real.is_file()
    assert model_for_input(default, 60)[0] == real and "60" in model_for_input(default, 60)[1]
    assert model_for_input(default, limit - 1)[0] == real
    for quality in (None, limit, 100):
        assert model_for_input(default, quality) == (default, "")
    alone = tmp_path / default.name  # no _real sibling beside it
    alone.write_bytes(default.read_bytes())
    assert model_for_input(alone, 60) == (alone, "")
