"""One input file of a job: read, pick the backend, upscale, write atomically; the same function runs in the
CLI's process and in each Ray worker. It never prints: it returns a :class:`FileResult`."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParagonError
from .settings import JobSettings

log = logging.getLogger("paragonsr2")
WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


@dataclass(frozen=True)
class FileResult:
    """status: written / skipped / failed; message: the file's line ("IN -> OUT (20x14 -> 40x28)" or
    "error: ..."); notes: lines to show once before it (the backend that runs, the model picked);
    warnings: warnings the file raised (shown as "warning: ...")."""

    src: str
    dst: str
    status: str
    message: str
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def load(path, settings, fuse=False):
    """load_model for a file named by the user; an unusable file is a ParagonError naming it. ``settings``:
    anything with ``scale``, ``alpha`` and ``strict_upstream`` (JobSettings, the CLI's arguments)."""
    from ..checkpoint import load_model, resolve_model

    path = resolve_model(path)  # a file, or a bundled model's name
    if not path.is_file():
        raise ParagonError(f"model {path}: it is a folder, not a model file")
    try:
        return load_model(path, scale=settings.scale, upsampler_alpha=settings.alpha,
                          strict_upstream=settings.strict_upstream, fuse=fuse)
    except (ParagonError, MemoryError):
        raise
    except Exception as e:  # a file the loader did not anticipate: say so, never a traceback
        log.debug("loading %s failed", path, exc_info=True)
        raise ParagonError(f"{path}: cannot be used as a ParagonSR2 model ({type(e).__name__}: {e})") from None


def scale_warning(model) -> str | None:
    """The library's warning for a model run above its trained scale, plus how to pick the better model."""
    from ..checkpoint import bundled_model, scale_warning

    text = scale_warning(model)
    better = bundled_model(model.description.scale) if text else None
    return f"{text} (--model {better})" if better is not None and better.name in text else text


class Backends:
    """The backend for each input: the job's model's, or without one the bundled ``_default`` model and, made
    on first use, its ``_real`` sibling for JPEG inputs below the quality where that one is better.

    first: the first model file (default: ``settings.first_model()``; Ray workers pass their local copy).
    The first backend is made in the constructor, so a setup error stops a job before any input. Lines to
    show ("running ...", "using the bundled ...") collect in ``notes`` until ``take_notes``.
    """

    def __init__(self, settings: JobSettings, first: Path | None = None) -> None:
        self.settings, self.made, self.notes = settings, {}, []
        self.first = first if first is not None else settings.first_model()
        self.made[self.first] = self._make(self.first, "")

    def for_image(self, info):
        """The backend for an input whose header says ``info`` (an imageio.ImageInfo)."""
        from ..checkpoint import model_for_input

        path, why = (self.first, "") if self.settings.model else model_for_input(self.first, info.jpeg_quality)
        if path not in self.made:
            self.made[path] = self._make(path, why)
        return self.made[path]

    def take_notes(self) -> tuple[str, ...]:
        notes, self.notes = tuple(self.notes), []
        return notes

    def _make(self, model_path: Path, why: str):
        from ..engine import make_backend

        s = self.settings
        if model_path.suffix.lower() == ".engine":  # an exported TensorRT engine runs only in TensorRT
            backend = make_backend(model_path, "tensorrt", s.precision, s.device)
        else:
            model = load(model_path, s, fuse=True)
            if warning := scale_warning(model):
                log.warning(warning)
            chosen = {"backend": s.backend} if s.backend else {}  # none given: the library's default
            backend = make_backend(model, precision=s.precision, device=s.device, **chosen)
        if why:
            self.notes.append(f"using the bundled {model_path.name} for {why}")
        self.notes.append(f"running {backend.describe()}")
        return backend


def upscale_file(backends: Backends, src: Path, dst: Path, settings: JobSettings,
                 progress: Callable[[int, int], None] | None = None) -> FileResult:
    """Upscales ``src`` into ``dst`` (atomically). Any failure of this one file becomes a failed result that
    names it; only KeyboardInterrupt and SystemExit go through."""
    try:
        message = _upscale_image(backends, src, dst, settings, progress)
        status = WRITTEN
    except ParagonError as e:
        message, status = (f"error: {e}" if str(src) in str(e) else f"error: {src}: {e}"), FAILED
    except MemoryError:
        message, status = f"error: {src}: out of memory; try --tile 256 or a smaller image (--max-pixels)", FAILED
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # one bad input never stops the batch
        log.debug("%s failed", src, exc_info=True)
        message, status = f"error: {src}: {type(e).__name__}: {e}", FAILED
    return FileResult(str(src), str(dst), status, message, backends.take_notes())


def _upscale_image(backends: Backends, src: Path, dst: Path, settings: JobSettings, progress) -> str:
    from ..engine import upscale
    from ..imageio import open_image, write_image
    from .media import is_media, upscale_media

    if is_media(src):  # videos and animated images: streamed frame by frame
        return upscale_media(backends, src, dst, settings, progress)
    image, info = open_image(src, max_pixels=settings.max_pixels)
    backend = backends.for_image(info)
    out = upscale(backend, image, tile=settings.tile, layout="BCHW", progress=progress, border=settings.border,
                  strict_upstream=settings.strict_upstream)
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_image(dst, out, bits=info.bits, gray=info.gray, meta=info.meta)
    return f"{src} -> {dst} ({image.shape[-1]}x{image.shape[-2]} -> {out.shape[-1]}x{out.shape[-2]})"
