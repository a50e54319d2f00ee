"""Argument checks of the ParagonSR2 network: scale per axis in [1, 16], upsampler_alpha in [0, 1].

The same ranges as the ParagonSR2 pack's ``paragonsr2/validate.py`` (a test there keeps them equal).
"""

from __future__ import annotations

import math
import numbers

SCALE_RANGE = (1.0, 16.0)
ALPHA_RANGE = (0.0, 1.0)


class InvalidValueError(ValueError):
    """A scale or upsampler_alpha outside its range (NaN, inf, wrong type included)."""


def _number(value, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValueError(
            f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}"
        )
    number = float(value)
    if not (math.isfinite(number) and lo <= number <= hi):
        raise InvalidValueError(
            f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}"
        )
    return number


def check_alpha(value, name: str = "upsampler_alpha") -> float:
    """upsampler_alpha as a float in ALPHA_RANGE."""
    return _number(value, name, *ALPHA_RANGE)


def check_scale(value, name: str = "scale") -> float | tuple[float, float]:
    """A number or a pair (sh, sw), each in SCALE_RANGE; a pair of equal values becomes one number."""
    if not isinstance(value, (list, tuple)):
        return _number(value, name, *SCALE_RANGE)
    if len(value) not in (1, 2):
        raise InvalidValueError(
            f"{name} must be a number or a pair of numbers, got {value!r}"
        )
    pair = [_number(v, name, *SCALE_RANGE) for v in value]
    return pair[0] if len(pair) == 1 or pair[0] == pair[1] else (pair[0], pair[1])
