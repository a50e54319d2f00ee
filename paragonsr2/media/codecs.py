"""PyAV (``av``) imported on first use, and the output choices: containers by extension, codecs, pixel formats.

Plain tables and small functions; the error for a codec this ``av`` build lacks names the ones it has.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MissingDependencyError, ParagonError

# output extension -> FFmpeg muxer (the temporary file of an atomic write has no telling extension)
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi",
              ".ts": "mpegts"}


@dataclass(frozen=True)
class Codec:
    """An output codec: its FFmpeg encoders in order of preference, default quality (CRF; None: lossless or
    fixed), pixel formats for 8-bit and deeper input, and encoder options."""

    encoders: tuple[str, ...]
    crf: int | None
    pix_fmt: str
    pix_fmt_deep: str
    options: dict = field(default_factory=dict)


CODECS = {
    "h264": Codec(("libx264",), 18, "yuv420p", "yuv420p10le", {"preset": "medium"}),  # CRF 18: visually lossless
    "hevc": Codec(("libx265",), 20, "yuv420p", "yuv420p10le", {"preset": "medium", "x265-params": "log-level=error"}),
    "av1": Codec(("libsvtav1", "libaom-av1"), 24, "yuv420p", "yuv420p10le", {"preset": "8"}),
    "vp9": Codec(("libvpx-vp9",), 24, "yuv420p", "yuv420p10le", {"b": "0"}),
    "ffv1": Codec(("ffv1",), None, "bgr0", "gbrp10le"),  # lossless RGB
    "png": Codec(("png",), None, "rgb24", "rgb48be"),  # lossless RGB, one PNG per frame (mov/mkv)
}
WEBM_CODECS = ("vp9", "av1")
# codecs a muxer takes that FFmpeg's codec query leaves out (MPEG-TS answers only for its defaults)
EXTRA_ACCEPTS = {"mpegts": {"aac", "mp3", "ac3", "eac3", "opus", "dvb_subtitle", "dvb_teletext"}}


def import_av():
    """The ``av`` module (PyAV, which ComfyUI ships); MissingDependencyError naming the pip package."""
    try:
        import av
    except ImportError:
        raise MissingDependencyError("av", "video input and output", "av") from None
    return av


def container_for(path: Path) -> str:
    """The FFmpeg muxer for an output file name; ParagonError for an extension we do not write."""
    fmt = CONTAINERS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ParagonError(f"{path}: unknown video extension {Path(path).suffix!r}; use " + ", ".join(CONTAINERS))
    return fmt


def available_codecs() -> list[str]:
    """The names of :data:`CODECS` whose encoder this ``av`` build has."""
    return [name for name in CODECS if _encoder(name) is not None]


def _encoder(name: str) -> str | None:
    av = import_av()
    return next((e for e in CODECS[name].encoders if e in av.codecs_available and _writes(av, e)), None)


def _writes(av, encoder: str) -> bool:
    try:
        return av.codec.Codec(encoder, "w") is not None
    except Exception:  # noqa: BLE001 - av raises UnknownCodecError (a ValueError) or FFmpegError
        return False


def pick_encoder(codec: str | None, container: str) -> tuple[str, str]:
    """(codec name, FFmpeg encoder) for a codec name (None: h264, or vp9/av1 in webm); ParagonError naming the
    codecs this build can write when the one asked for is missing or the container cannot hold it."""
    if codec is None:
        codec = next((c for c in WEBM_CODECS if _encoder(c)), "vp9") if container == "webm" else "h264"
    if codec not in CODECS:
        raise ParagonError(f"unknown video codec {codec!r}; choose one of " + ", ".join(available_codecs()))
    if container == "webm" and codec not in WEBM_CODECS:
        raise ParagonError(f"WebM holds only {' or '.join(WEBM_CODECS)} video, not {codec}; pick --codec vp9/av1 "
                           "or write .mkv/.mp4")
    encoder = _encoder(codec)
    if encoder is None:
        raise ParagonError(f"this av (PyAV) build has no {codec} encoder ({', '.join(CODECS[codec].encoders)}); "
                           "it can write: " + ", ".join(available_codecs()))
    return codec, encoder


def pick_pix_fmt(codec: str, encoder: str, deep: bool, asked: str | None) -> tuple[str, str | None]:
    """(pixel format, warning or None): ``asked``, else the codec's 8-bit or deep (10-bit) default; a deep
    input keeps its depth where the encoder takes the deep format, else 8 bits with a warning."""
    av = import_av()
    formats = [f.name for f in (av.codec.Codec(encoder, "w").video_formats or [])]
    spec = CODECS[codec]
    if asked is not None:
        if formats and asked not in formats:
            raise ParagonError(f"{encoder} cannot write pixel format {asked!r}; it takes: " + ", ".join(formats))
        return asked, None
    if deep and (not formats or spec.pix_fmt_deep in formats):
        return spec.pix_fmt_deep, None
    warning = f"the input has more than 8 bits per sample but {encoder} writes {spec.pix_fmt} here" if deep else None
    return spec.pix_fmt, warning


def chroma_even(pix_fmt: str) -> tuple[bool, bool]:
    """(width must be even, height must be even) for a pixel format (4:2:0 both, 4:2:2 width only)."""
    fmt = import_av().VideoFormat(pix_fmt, 2, 2)
    chroma = [c for c in fmt.components if c.is_chroma]
    return any(c.width < 2 for c in chroma), any(c.height < 2 for c in chroma)


def accepts(container, codec: str) -> bool:
    """Whether an open output container can hold ``codec`` packets as they are."""
    return codec in container.supported_codecs or codec in EXTRA_ACCEPTS.get(container.format.name, ())
