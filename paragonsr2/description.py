"""What a loaded model is and where each of its settings came from."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class ModelDescription:
    """Facts about a loaded ParagonSR2 model. ``*_source`` says where a value came from."""

    source: str
    generation: str
    variant: str
    num_feat: int
    num_groups: int
    num_blocks: int
    ffn_expansion: float
    band: int
    hr_blocks: int
    in_chans: int
    out_chans: int
    params: int
    fused: str  # "no", "release" (kernel generator dropped) or "deploy" (folded for speed)
    scale: tuple[float, float]
    scale_source: str  # argument | metadata | state dict | file name | default
    upsampler_alpha: float
    alpha_source: str  # argument | metadata | state dict | generation default
    ema_repaired_blocks: int = 0
    warnings: list[str] = field(default_factory=list)
    trained_scale: tuple[float, float] | None = None  # the scale the file says it was trained for

    @staticmethod
    def times(scale: tuple[float, float]) -> str:
        """Text such as "2x" or "2x3" for an (sh, sw) pair."""
        sh, sw = scale
        return f"{sh:g}x" if sh == sw else f"{sh:g}x{sw:g}"

    @property
    def scale_text(self) -> str:
        return self.times(self.scale)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scale"] = list(self.scale)
        d["trained_scale"] = list(self.trained_scale) if self.trained_scale is not None else None
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("source", self.source),
            ("architecture", f"ParagonSR2 generation {self.generation}"),
            ("variant", self.variant),
            ("channels", str(self.num_feat)),
            ("groups x blocks", f"{self.num_groups} x {self.num_blocks}"),
            ("ffn expansion", f"{self.ffn_expansion:g}"),
            ("band", str(self.band)),
            ("hr_blocks", str(self.hr_blocks)),
            ("parameters", f"{self.params:,}"),
            ("fused", self.fused),
            ("scale", f"{self.scale_text} ({self.scale_source})" + (
                f", trained for {self.times(self.trained_scale)}"
                if self.trained_scale is not None and tuple(self.trained_scale) != tuple(self.scale) else "")),
            ("upsampler_alpha", f"{self.upsampler_alpha:g} ({self.alpha_source})"),
        ] + [("warning", w) for w in self.warnings]

    def __str__(self) -> str:
        return format_rows(self.rows())


def format_rows(rows: list[tuple[str, str]]) -> str:
    """Rows of (name, value) as aligned text lines."""
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def architecture_name(model) -> str:
    """The architecture of any loaded upscale model: a spandrel descriptor's name, else the network's class."""
    name = getattr(getattr(model, "architecture", None), "name", None)
    return str(name) if name else type(getattr(model, "model", model)).__name__


def describe_other(model) -> str:
    """What a model that is not ParagonSR2 is, as far as its spandrel descriptor says (architecture, scale,
    channels, parameters); duck-typed, so that this module needs neither spandrel nor torch."""
    rows = [("architecture", architecture_name(model))]
    for label, attr in (("scale", "scale"), ("input channels", "input_channels"),
                        ("output channels", "output_channels"), ("purpose", "purpose")):
        value = getattr(model, attr, None)
        if value is not None:
            rows.append((label, f"{value}x" if attr == "scale" else str(value)))
    params = getattr(getattr(model, "model", model), "parameters", None)
    if callable(params):
        rows.append(("parameters", f"{sum(p.numel() for p in params()):,}"))
    return format_rows(rows)
