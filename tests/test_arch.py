"""Architecture: key/shape parity with upstream dumps, variants, upsampler math."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from paragonsr2.arch import DESIGN, HEAD_2025_11_14, ParagonSR2, target_size, variant_config, variant_name
from paragonsr2.arch.upsampler import MagicKernelSharp2021Upsample

from helpers import KEYS

DUMPS = sorted(KEYS.glob("*/*.json")) if KEYS.is_dir() else []


def _config_for(dump_path):
    meta = json.loads(dump_path.read_text())
    name = meta["_meta"]["factory"].removeprefix("paragonsr2_")
    table = dump_path.parent.name
    gen = {"genA0": "A0", "genA": "A"}.get(table, "B")
    cfg = HEAD_2025_11_14[name] if table == "genB_2025-11-14" else variant_config(name, gen)
    return meta, cfg.replace(generation=gen, hr_blocks=cfg.hr_blocks if gen == "B" else 0)


@pytest.mark.skipif(not DUMPS, reason="shared key dumps not present")
@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_keys_and_shapes_match_upstream(dump):
    meta, cfg = _config_for(dump)
    net = ParagonSR2(cfg)
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert list(shapes) == list(meta["keys"])
    assert shapes == meta["keys"]
    assert sum(p.numel() for p in net.parameters()) == meta["_meta"]["params_total"]
    from paragonsr2.fuse import release_fuse

    fused = {k: list(v.shape) for k, v in release_fuse(net).state_dict().items()}
    assert fused == meta["fused_keys"]


def test_variant_names():
    for name, cfg in DESIGN.items():
        assert variant_name(cfg) == name
    assert variant_name(HEAD_2025_11_14["xs"]) == "xs (2025-11-14 table)"
    assert variant_name(DESIGN["nano"].replace(num_feat=20)) == "custom"
    assert variant_config("paragonsr2_xl").hr_blocks == 3
    with pytest.raises(ValueError):
        variant_config("huge")


def _reference_upsample(x, alpha, size):
    """Independent implementation of spec section 3 with explicit 1-D filters and index maps."""
    sharpen = torch.tensor([-1, 0, 9, 16, 9, 0, -1], dtype=torch.float64) / 32
    resample = torch.tensor([1, 4, 6, 4, 1], dtype=torch.float64) / 16

    def sep(img, taps):
        k = len(taps)
        pad = k // 2
        h = F.pad(img, (pad, pad, 0, 0))
        img = sum(taps[i] * h[..., :, i:i + img.shape[-1]] for i in range(k))
        v = F.pad(img, (0, 0, pad, pad))
        return sum(taps[i] * v[..., i:i + img.shape[-2], :] for i in range(k))

    t = x + alpha * (sep(x, sharpen) - x) if alpha > 0 else x
    oh, ow = size
    rows = [math.floor(i * t.shape[-2] / oh) for i in range(oh)]
    cols = [math.floor(j * t.shape[-1] / ow) for j in range(ow)]
    t = t[..., rows, :][..., :, cols]
    return sep(t, resample)


@pytest.mark.parametrize("hw,scale", [((1, 1), 2), ((5, 7), 2.5), ((6, 5), (2, 3)), ((9, 4), 1.5),
                                      ((3, 3), 1), ((7, 3), 0.5), ((2, 5), 3)])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_upsampler_matches_independent_reference(hw, scale, alpha):
    up = MagicKernelSharp2021Upsample(4, alpha).double()
    x = torch.randn(1, 4, *hw, dtype=torch.float64)
    size = target_size(*hw, scale)
    assert up(x, scale).shape[-2:] == size
    torch.testing.assert_close(up(x, scale), _reference_upsample(x, alpha, size), atol=1e-12, rtol=0)


def test_target_size_rounds_half_to_even():
    assert target_size(5, 3, 2.5) == (12, 8)  # 12.5 -> 12, 7.5 -> 8
    assert target_size(1, 1, 0.1) == (1, 1)
    with pytest.raises(ValueError):
        target_size(4, 4, 0)


def test_any_scale_same_weights():
    net = ParagonSR2(variant_config("nano")).eval()
    x = torch.rand(1, 3, 9, 10)
    with torch.no_grad():
        for scale, size in [(1, (9, 10)), (3, (27, 30)), (2.5, (22, 25)), ((2, 3), (18, 30))]:
            net.set_scale(scale)
            assert net(x).shape[-2:] == size


def _shape_configs():
    """Every width of both tables (depth capped: the structure repeats), generation and fusion state."""
    from paragonsr2.arch.variants import TABLES

    seen = []
    for table in TABLES.values():
        for cfg in table.values():
            for gen in ("A0", "A", "B"):
                base = cfg.replace(generation=gen, hr_blocks=cfg.hr_blocks if gen == "B" else 0,
                                   num_groups=min(cfg.num_groups, 2), num_blocks=min(cfg.num_blocks, 3))
                for c in (base, base.replace(has_generator=False, a0_fused=gen == "A0")):
                    if c not in seen:
                        seen.append(c)
    return seen + [DESIGN["nano"].replace(num_feat=13, in_chans=1, out_chans=4, band=3, ffn_expansion=2.5)]


@pytest.mark.parametrize("cfg", _shape_configs(), ids=lambda c: f"{c.generation}-{c.num_feat}-"
                         f"{c.num_groups}x{c.num_blocks}-{'gen' if c.has_generator else 'nogen'}")
def test_state_dict_shapes_match_network_built_on_meta(cfg):
    from paragonsr2.arch.shapes import key_count, state_dict_shapes

    with torch.device("meta"):
        net = ParagonSR2(cfg)
    built = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    table = state_dict_shapes(cfg)
    assert list(table) == list(built) and table == built
    assert key_count(cfg) == len(table)


def test_limits_are_ten_times_the_largest_variant():
    from paragonsr2.arch.variants import LIMITS, TABLES

    rows = [cfg for table in TABLES.values() for cfg in table.values()]
    assert LIMITS["num_feat"] == (8, 10 * max(c.num_feat for c in rows)) == (8, 1600)
    assert LIMITS["num_groups"][1] == LIMITS["num_blocks"][1] == 120
    assert LIMITS["hr_blocks"] == (0, 30)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.5, 1.5, "soft", None])
def test_alpha_api_refuses_nan_and_out_of_range(bad):
    from paragonsr2.validate import InvalidValueError

    net = ParagonSR2(variant_config("nano"))
    with pytest.raises(InvalidValueError, match="upsampler_alpha"):
        net.set_upsampler_alpha(bad)
    if bad is not None:
        with pytest.raises(InvalidValueError, match="upsampler_alpha"):
            ParagonSR2(variant_config("nano"), upsampler_alpha=bad)
    assert net.upsampler_alpha == 0.5


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0, -2, 1000, (2, float("nan"))])
def test_scale_api_refuses_non_finite_and_absurd(bad):
    from paragonsr2.validate import InvalidValueError

    net = ParagonSR2(variant_config("nano"))
    with pytest.raises(InvalidValueError, match="scale"):
        net.set_scale(bad)
    assert net.scale == (2.0, 2.0)
