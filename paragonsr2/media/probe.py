"""What a video file holds, read from its headers (nothing decoded), and the refusals made before decoding:
no video stream (audio-only), an image under a video extension, a codec this ``av`` build cannot decode,
frames over the pixel limit."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

from ..errors import ParagonError
from ..validate import DEFAULT_MAX_PIXELS
from .codecs import import_av

IMAGE_DEMUXERS = ("image2", "gif", "webp", "apng")  # plus FFmpeg's "*_pipe" demuxers of single images


class VideoError(ParagonError):
    """A video that cannot be upscaled as asked (the message names the file and what to do)."""


@dataclass(frozen=True)
class VideoInfo:
    """Header facts of the first video stream. frames: the header's count (None when the container has none);
    fps: average frame rate; duration in s (None when unknown); bits: per sample."""

    width: int
    height: int
    frames: int | None
    fps: Fraction | None
    duration: float | None
    codec: str
    pix_fmt: str
    bits: int
    audio: int
    subtitles: int
    container: str

    def estimated_frames(self) -> int | None:
        if self.frames:
            return self.frames
        return round(float(self.fps) * self.duration) if self.fps and self.duration else None


def source_name(source) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "<video>")


def open_input(source):
    """``av.open`` for reading, with a VideoError naming the file for anything FFmpeg cannot open."""
    av = import_av()
    if hasattr(source, "seek"):
        source.seek(0)
    try:
        return av.open(source if hasattr(source, "read") else os.fspath(source), mode="r")
    except FileNotFoundError:
        raise VideoError(f"{source_name(source)}: no such file") from None
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{source_name(source)}: cannot read the video ({e}); is it truncated (an MP4 cut "
                         "before its index cannot be read) or not a video?") from None


def _bits(stream) -> int:
    fmt = stream.codec_context.format
    return max((c.bits for c in fmt.components), default=8) if fmt is not None else 8


def describe(container, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """VideoInfo of an open container, after the refusals in this module's docstring."""
    av = import_av()
    fmt = container.format.name
    if not container.streams.video:
        audio = len(container.streams.audio)
        held = f"it holds {audio} audio stream(s) only" if audio else "it holds no video stream"
        raise VideoError(f"{name}: no video to upscale ({held})")
    stream = container.streams.video[0]
    if fmt in IMAGE_DEMUXERS or fmt.endswith("_pipe"):
        raise VideoError(f"{name}: this is a still or animated image ({stream.codec_context.name}), not a video; "
                         "give it its image extension (e.g. .png, .gif) to upscale it as an image")
    codec = stream.codec_context.name
    try:
        av.codec.Codec(codec, "r")
    except Exception:  # noqa: BLE001 - UnknownCodecError / FFmpegError
        raise VideoError(f"{name}: this av (PyAV) build cannot decode {codec} video; convert it first (e.g. "
                         "ffmpeg -i IN -c:v libx264 -crf 12 OUT.mp4)") from None
    width, height = stream.codec_context.width, stream.codec_context.height
    if width < 1 or height < 1:
        raise VideoError(f"{name}: the video stream has no frame size ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise VideoError(f"{name}: frames of {width}x{height} = {width * height / 1e6:.1f} MP are over the limit "
                         f"of {max_pixels / 1e6:g} MP per frame; raise it with --max-pixels (0 = no limit)")
    rate = stream.average_rate or stream.guessed_rate
    duration = (float(stream.duration * stream.time_base) if stream.duration
                else container.duration / 1e6 if container.duration else None)
    return VideoInfo(width, height, stream.frames or None, Fraction(rate) if rate else None, duration, codec,
                     stream.codec_context.pix_fmt or "", _bits(stream), len(container.streams.audio),
                     len(container.streams.subtitles), fmt)


def probe_video(source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """VideoInfo of a file (path or binary file object); VideoError for the refusals above."""
    with open_input(source) as container:
        return describe(container, source_name(source), max_pixels)
