"""Named ParagonSR2 configurations.

DESIGN: the design document's table (upstream commit 3e8df33a), used for this project's own
variants. HEAD_2025_11_14: upstream's later table; its files load and are named by it.
"""
from __future__ import annotations

from .network import ParagonConfig


def _table(rows: dict[str, tuple]) -> dict[str, ParagonConfig]:
    return {name: ParagonConfig(num_feat=c, num_groups=g, num_blocks=b, ffn_expansion=f, band=k, hr_blocks=hr)
            for name, (c, g, b, f, k, hr) in rows.items()}


#                name     C   groups blocks ffn  band hr_blocks
DESIGN = _table({
    "nano": (24, 2, 2, 1.5, 9, 1),
    "tiny": (32, 3, 2, 2.0, 11, 2),
    "anime": (28, 2, 3, 1.5, 15, 2),
    "s": (56, 5, 5, 2.0, 11, 2),
    "m": (96, 8, 8, 2.0, 11, 2),
    "l": (128, 10, 10, 2.0, 11, 3),
    "xl": (160, 12, 12, 2.0, 11, 3),
})

HEAD_2025_11_14 = _table({
    "nano": (24, 2, 2, 1.5, 9, 1),
    "xs": (32, 2, 3, 1.5, 11, 1),
    "s": (48, 3, 4, 2.0, 11, 2),
    "m": (64, 4, 6, 2.0, 13, 2),
    "l": (96, 6, 8, 2.0, 15, 3),
    "xl": (128, 8, 10, 2.0, 15, 3),
})

TABLES = {"design": DESIGN, "2025-11-14": HEAD_2025_11_14}

LIMIT_FACTOR = 10  # a loadable file may be up to 10x the largest known variant in every dimension


def _limits() -> dict[str, tuple[int, int]]:
    """Field -> (lowest, highest) value a checkpoint may declare; the lowest values keep every tensor
    non-empty (C >= 8 gives each context branch a channel)."""
    rows = [cfg for table in TABLES.values() for cfg in table.values()]
    most = {f: max(getattr(cfg, f) for cfg in rows) for f in ("num_feat", "num_groups", "num_blocks", "hidden",
                                                                "band", "hr_blocks", "in_chans", "out_chans")}
    lowest = {"num_feat": 8, "hr_blocks": 0}
    return {f: (lowest.get(f, 1), LIMIT_FACTOR * v) for f, v in most.items()}


LIMITS = _limits()

_SHAPE_FIELDS = ("num_feat", "num_groups", "num_blocks", "hidden", "band")


def variant_config(name: str, generation: str = "B") -> ParagonConfig:
    """The design document's variant ``name`` (e.g. "nano") for a generation."""
    key = name.lower().removeprefix("paragonsr2_")
    if key not in DESIGN:
        raise ValueError(f"unknown ParagonSR2 variant {name!r}; choose one of {', '.join(DESIGN)}")
    cfg = DESIGN[key]
    return cfg.replace(generation=generation, hr_blocks=cfg.hr_blocks if generation == "B" else 0)


def variant_name(config: ParagonConfig) -> str:
    """Name of the table row matching the config's shapes ("nano", "xs (2025-11-14)"), else "custom"."""
    def shape(c: ParagonConfig) -> tuple:
        return tuple(getattr(c, f) for f in _SHAPE_FIELDS) + ((c.hr_blocks,) if config.generation == "B" else ())

    for table, rows in TABLES.items():
        for name, cfg in rows.items():
            if shape(cfg) == shape(config):
                return name if table == "design" else f"{name} ({table} table)"
    return "custom"
