"""paragonsr2.validate: one range per setting, clear refusals, metadata ignored with a warning."""
import math

import pytest

from paragonsr2.errors import ParagonError
from paragonsr2.validate import (
    DEFAULT_MAX_PIXELS,
    SCALE,
    TILE,
    InvalidValueError,
    check_alpha,
    check_max_pixels,
    check_scale,
    check_tile,
    parse_metadata_alpha,
    parse_metadata_scale,
)

ABSURD = [math.nan, math.inf, -math.inf, "nan", "inf", "-inf", "", "two", True, None, 10**400]


@pytest.mark.parametrize("value, expected", [(2, 2.0), ("4", 4.0), (2.5, 2.5), ("2x3", (2.0, 3.0)), ("3,3", 3.0),
                                             ((2, 3), (2.0, 3.0)), ([4], 4.0), (1, 1.0), (16, 16.0)])
def test_scale_accepted(value, expected):
    assert check_scale(value) == expected


@pytest.mark.parametrize("value", ABSURD + [0, -2, 0.5, 17, 1000, "2x0", "2xnan", "x", (2, 3, 4), [], {"a": 1}])
def test_scale_refused_names_value_and_range(value):
    with pytest.raises(InvalidValueError) as e:
        check_scale(value, option="--scale")
    text = str(e.value)
    assert text.startswith("--scale must be") and str(SCALE) in text and repr(value)[:20] in text
    assert isinstance(e.value, ParagonError) and isinstance(e.value, ValueError)


def test_alpha_range_is_the_arch_clamp():
    from paragonsr2.arch.upsampler import MagicKernelSharp2021Upsample

    for alpha in (0.0, 0.25, 1.0, "0.5"):
        assert check_alpha(alpha) == MagicKernelSharp2021Upsample(1, float(alpha)).alpha  # the clamp is a no-op
    for bad in ABSURD + [-1, 2, 1.0000001, -1e-9]:
        with pytest.raises(InvalidValueError, match="from 0 to 1"):
            check_alpha(bad, option="--alpha")


@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("none", None), (None, None), (0, None), ("0", None),
                                             (32, 32), ("256", 256), (512.0, 512), (65536, 65536)])
def test_tile_accepted(value, expected):
    assert check_tile(value) == expected


@pytest.mark.parametrize("value", ABSURD[:-2] + [8, 31, "8", 33.5, -256, 65537, "1e9", "big"])
def test_tile_refused(value):
    with pytest.raises(InvalidValueError) as e:
        check_tile(value, option="--tile")
    assert str(e.value).startswith("--tile must be 'auto'") and f"{TILE.lo:g}" in str(e.value)


def test_max_pixels_units_and_off():
    assert check_max_pixels("100M") == check_max_pixels("100MP") == 100_000_000 == DEFAULT_MAX_PIXELS
    assert check_max_pixels("2.5k") == 2500 and check_max_pixels(4096) == 4096
    assert check_max_pixels(0) is check_max_pixels("none") is check_max_pixels(None) is None
    for bad in (-1, "nan", "inf", "lots", 1.5, "1e13"):
        with pytest.raises(InvalidValueError, match="--max-pixels must be"):
            check_max_pixels(bad, option="--max-pixels")


@pytest.mark.parametrize("raw, expected", [("2", 2.0), (4, 4.0), ("[2]", 2.0), ("[2, 3]", (2.0, 3.0)), ("2.0", 2.0)])
def test_metadata_scale_usable(raw, expected):
    assert parse_metadata_scale(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["-2", "", "[]", "[2, 3, 4]", "Infinity", "NaN", "1000", "0", "two", '{"s": 2}',
                                 "true", "null", None, -2, math.nan])
def test_metadata_scale_unusable_is_a_warning(raw):
    value, warning = parse_metadata_scale(raw)
    assert value is None and "ignored" in warning and "scale" in warning


def test_metadata_alpha():
    assert parse_metadata_alpha("0.5") == (0.5, None) and parse_metadata_alpha(1) == (1.0, None)
    for raw in ("NaN", "2", "-1", "", "[0.5]", "x", None):
        value, warning = parse_metadata_alpha(raw)
        assert value is None and "upsampler_alpha" in warning and "ignored" in warning


def test_choices_agree_with_the_library():
    """The torch-free lists the CLI shows in --help are the ones the engine, export and arch accept."""
    import paragonsr2.validate as v
    from paragonsr2 import export
    from paragonsr2.arch import geometry
    from paragonsr2.engine import choices

    assert v.BACKENDS == choices.BACKENDS and v.RUN_PRECISIONS == choices.PRECISIONS
    assert v.EXPORT_FORMATS == export.FORMATS and v.EXPORT_PRECISIONS == export.PRECISIONS
    assert v.BORDER_MODES == geometry.BORDER_MODES and v.DEFAULT_BORDER == geometry.DEFAULT_BORDER
