"""What every file of a job runs with, as one picklable value (Ray workers get a copy), and the Ray options.

Torch-free: the CLI builds these while parsing arguments.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..validate import DEFAULT_BORDER, DEFAULT_MAX_PIXELS, InvalidValueError, Range

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "2x_ParagonSR2_nano_default.safetensors"
WORKERS = Range(1, 1024, integer=True)  # Ray actors (one loaded model and backend each)
# Settings that change the pixels of a result: a job record refuses to continue with other values.
RECORDED = ("scale", "alpha", "strict_upstream", "border", "backend", "precision", "fmt", "codec", "crf", "pix_fmt",
            "start", "duration", "frames")


@dataclass(frozen=True)
class JobSettings:
    """model: a checkpoint or TensorRT ``.engine``; None = the bundled ``_default`` model, and its ``_real``
    sibling for JPEG inputs below ROBUST_BELOW_JPEG_QUALITY. The other fields mean what the CLI options of
    the same names mean (``fmt`` is ``--format``)."""

    model: str | None = None
    scale: float | tuple[float, float] | None = None
    alpha: float | None = None
    strict_upstream: bool = False
    backend: str | None = None
    precision: str = "auto"
    device: str | None = None
    tile: int | str | None = "auto"
    border: str = DEFAULT_BORDER
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    fmt: str | None = None
    codec: str | None = None  # videos: --codec, --crf, --pix-fmt, and the trim --start/--duration/--frames
    crf: int | None = None
    pix_fmt: str | None = None
    start: float | None = None
    duration: float | None = None
    frames: int | None = None

    @classmethod
    def from_args(cls, args) -> JobSettings:
        """From the CLI's parsed ``upscale`` arguments (``--format`` is ``args.format``)."""
        values = {f.name: getattr(args, f.name) for f in fields(cls) if f.name != "fmt"}
        return cls(**values, fmt=args.format)

    def first_model(self) -> Path:
        """The model file: ``model`` (a path, or a bundled model's name), else the bundled default."""
        if not self.model:
            return DEFAULT_MODEL
        if self.model.lower().endswith(".engine"):  # an exported TensorRT engine: a file as given
            return Path(self.model)
        from ..checkpoint import resolve_model

        return resolve_model(self.model)

    def recorded(self) -> dict:
        """The settings a job record compares (JSON values: tuples become lists)."""
        values = asdict(self)
        return {name: list(v) if isinstance(v, tuple) else v for name, v in values.items() if name in RECORDED}


_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def check_ray_address(text: str) -> str:
    """A Ray address: ``auto``, ``local``, ``HOST:PORT`` or ``SCHEME://...`` (e.g. ``ray://head:10001``).
    Anything else is refused, so that ``--ray IN...`` never takes an input path for an address."""
    if text in ("auto", "local") or "://" in text or _HOST_PORT.match(text):
        return text
    raise InvalidValueError(f"{text!r} is not a Ray address (auto, HOST:PORT or ray://HOST:PORT); to start a "
                            "local Ray instance put --ray after the inputs, or write --ray=ADDRESS")
