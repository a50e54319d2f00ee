"""Animated GIF, WebP and APNG: every frame upscaled; frame durations, loop count and (GIF) disposal kept.

Pillow hands each frame composited (what a viewer shows), so APNG and WebP frames are written whole and
GIF frames keep their disposal; GIF colours are quantised by Pillow's own GIF writer; a lossless WebP stays
lossless (else quality 95). Frames go through the
same pipeline as video; the upscaled frames are held as 8-bit images until the file is written (Pillow
writes an animation in one call).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arch.geometry import DEFAULT_BORDER
from ..atomic import atomic_write
from ..errors import ParagonError
from ..imageio import _open
from ..validate import DEFAULT_MAX_PIXELS
from .frames import frame_worker
from .pipeline import SourceStopped, run_pipeline

FORMATS = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG", ".apng": "PNG"}


@dataclass
class _Frame:
    array: np.ndarray  # [H,W,3|4] uint8, composited
    duration: int  # ms
    disposal: int


def is_animated(path: str | os.PathLike) -> bool:
    """True for a GIF/WebP/PNG file holding more than one frame (False for anything unreadable)."""
    from PIL import Image

    if Path(path).suffix.lower() not in FORMATS:
        return False
    try:
        with Image.open(path) as im:
            return bool(getattr(im, "is_animated", False)) and getattr(im, "n_frames", 1) > 1
    except (OSError, ValueError, SyntaxError):
        return False


def _frames(im, alpha: bool):
    for i in range(im.n_frames):
        im.seek(i)
        yield "frame", _Frame(np.asarray(im.convert("RGBA" if alpha else "RGB")), int(im.info.get("duration", 100)),
                              int(getattr(im, "disposal_method", 0) or 0))


def _lossless_webp(path) -> bool:
    """True when a WebP's first frame is stored lossless (a VP8L chunk near the start of the file)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    return head[:4] == b"RIFF" and b"VP8L" in head


def upscale_animation(source: str | os.PathLike, output: str | os.PathLike, model, *, tile="auto",
                      border: str = DEFAULT_BORDER, strict_upstream: bool = False, progress=None, cancel=None,
                      max_pixels: int | None = DEFAULT_MAX_PIXELS, quality: int = 95) -> int:
    """Upscales every frame of an animated image into ``output`` (.gif, .webp, .png/.apng); returns the count.

    model: a Backend or anything ``make_backend`` takes; progress/cancel as for ``upscale_video``. The frame
    size is checked against ``max_pixels`` from the header. Nothing is written unless every frame decoded.
    """
    from PIL import Image

    from ..engine import make_backend
    from ..engine.protocol import Backend

    output = Path(output)
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise ParagonError(f"{source} is animated; write it as .gif, .webp or .png (APNG), not {output.suffix!r}")
    backend = model if isinstance(model, Backend) else make_backend(model)
    frames: list[_Frame] = []
    with _open(source, max_pixels) as im:
        alpha = im.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in im.info
        loop = im.info.get("loop")
        work = frame_worker(backend, total=im.n_frames, progress=progress, cancel=cancel, tile=tile, border=border,
                            strict_upstream=strict_upstream)
        try:
            run_pipeline(_frames(im, alpha), work, lambda item: frames.append(item[1]))
        except SourceStopped as e:
            raise ParagonError(f"{source}: cannot read frame {e.done + 1} of the animation ({e}); nothing "
                               "written") from None
    images = [Image.fromarray(f.array) for f in frames]
    options: dict = {"save_all": True, "append_images": images[1:], "duration": [f.duration for f in frames]}
    if loop is not None:
        options["loop"] = loop
    if fmt == "GIF":
        options["disposal"] = [f.disposal for f in frames]
    elif fmt == "PNG":
        options.update(disposal=0, blend=0)  # whole frames: each replaces the last
    elif _lossless_webp(source):
        options["lossless"] = True
    else:
        options["quality"] = quality
    atomic_write(output, lambda tmp: images[0].save(tmp, format=fmt, **options))
    return len(frames)
