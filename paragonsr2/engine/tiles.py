"""Tile geometry (pure): receptive field, even tile splits with context margins, crops.

A tile is processed with ``margin`` LR pixels of real context on every side (clamped at the image
border, which the engine has extended first unless the border mode is "zeros") and only its core is kept,
so tiled output equals untiled output whenever margin >= the receptive field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..arch.geometry import receptive_radius  # noqa: F401 (part of the tile geometry API)


@dataclass(frozen=True)
class Rect:
    """Half-open pixel box [y0, y1) x [x0, x1)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def grow(self, margin: int, height: int, width: int) -> Rect:
        """This box plus ``margin`` on every side, clamped to the image."""
        return Rect(max(self.y0 - margin, 0), min(self.y1 + margin, height),
                    max(self.x0 - margin, 0), min(self.x1 + margin, width))


def even_splits(length: int, tile: int) -> list[tuple[int, int]]:
    """[start, end) pieces of at most ``tile`` covering ``length``, as equal as possible (no thin last piece)."""
    count = max(1, math.ceil(length / max(tile, 1)))
    bounds = [round(i * length / count) for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(count) if bounds[i + 1] > bounds[i]]


def split_rect(rect: Rect, tile: int) -> list[Rect]:
    """Cores of at most tile x tile covering ``rect``, row-major."""
    return [Rect(rect.y0 + y0, rect.y0 + y1, rect.x0 + x0, rect.x0 + x1)
            for y0, y1 in even_splits(rect.height, tile) for x0, x1 in even_splits(rect.width, tile)]


def plan_tiles(height: int, width: int, tile: int | None) -> list[Rect]:
    """Core boxes for an image; ``tile=None`` or a tile covering the image gives one whole box."""
    whole = Rect(0, height, 0, width)
    if tile is None or (tile >= height and tile >= width):
        return [whole]
    return split_rect(whole, tile)


def output_rect(core: Rect, scale: tuple[int, int]) -> Rect:
    """The core's box in the output (integer scales only)."""
    sh, sw = scale
    return Rect(core.y0 * sh, core.y1 * sh, core.x0 * sw, core.x1 * sw)
