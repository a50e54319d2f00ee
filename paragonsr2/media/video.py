"""Video file -> upscaled video file, streamed at constant memory: decode (a thread) -> the network (the
caller's thread) -> encode (a thread), through :func:`paragonsr2.media.pipeline.run_pipeline`.

Kept: timestamps (variable frame rate too) and so frame rate and duration; audio and subtitle streams
(packets copied where the output container takes the codec, else audio re-encoded and subtitles dropped,
each said); rotation (the display matrix); colour tags (primaries, transfer, matrix, range; the RGB
conversion uses the input's matrix and range both ways); container metadata; more than 8 bits per sample
where the output codec takes a 10-bit format. The result appears under its final name only when complete.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..arch.geometry import DEFAULT_BORDER
from ..arch.upsampler import target_size
from ..atomic import atomic_write
from ..validate import DEFAULT_MAX_PIXELS
from .codecs import CODECS, accepts, chroma_even, container_for, import_av, pick_encoder, pick_pix_fmt
from .frames import frame_worker
from .pipeline import SourceStopped, run_pipeline
from .probe import VideoError, VideoInfo, describe, open_input, source_name

log = logging.getLogger("paragonsr2")
AUDIO_FALLBACK = {"webm": "libopus"}  # re-encoding target per container; "aac" elsewhere


@dataclass(frozen=True)
class VideoSettings:
    """Output encoding. codec: a name of ``media.codecs.CODECS`` (None: h264; vp9/av1 for .webm); crf:
    quality (lower is better; None: the codec's visually lossless default); pix_fmt: None for yuv420p (its
    10-bit form for deeper input); preset: the encoder's speed preset (None: its default in CODECS)."""

    codec: str | None = None
    crf: int | None = None
    pix_fmt: str | None = None
    preset: str | None = None


@dataclass(frozen=True)
class Trim:
    """Part of a clip: from ``start`` s, for ``duration`` s and/or at most ``frames`` frames (None: to the end)."""

    start: float = 0.0
    duration: float | None = None
    frames: int | None = None

    def end(self) -> float | None:
        return None if self.duration is None else self.start + self.duration


@dataclass
class VideoResult:
    """What was written: frames, output size (w, h), frame rate, notes (what was re-encoded, padded, dropped)."""

    path: Path
    frames: int
    size: tuple[int, int]
    fps: Fraction | None
    codec: str
    pix_fmt: str
    notes: list[str] = field(default_factory=list)


class VideoIncompleteError(VideoError):
    """Decoding stopped midway (truncated or corrupt input); the frames before it were written to ``path``."""

    def __init__(self, message: str, frames: int, path: Path | None) -> None:
        super().__init__(message)
        self.frames, self.path = frames, path


def incomplete_path(output: Path) -> Path:
    """Where the frames before a decoding error go: ``NAME.incomplete.EXT`` beside the output."""
    return output.with_name(f"{output.stem}.incomplete{output.suffix}")


@dataclass(frozen=True)
class _Plan:
    """The output video: encoder, pixel format, size (w, h) before padding, padding (w, h) to even sizes."""

    info: VideoInfo
    codec: str
    encoder: str
    pix_fmt: str
    settings: VideoSettings
    size: tuple[int, int]
    pad: tuple[int, int]
    deep: bool


@dataclass
class _Frame:
    """One decoded frame as RGB [H,W,3] uint8 (or uint16 for deep output), with its timestamp."""

    array: np.ndarray
    pts: int
    time: float
    index: int


class TruncatedError(Exception):
    """The frames ended before the header's frame count or duration."""


def _check_complete(info: VideoInfo, frames: int, last: float | None, step: float) -> None:
    """Raises TruncatedError when fewer frames decoded than the header promises (a truncated or damaged file
    often just ends early: FFmpeg reports no error)."""
    if info.frames and frames < info.frames:
        raise TruncatedError(f"{frames} of the {info.frames} frames in the header decoded")
    ended = (last or 0.0) + step
    if info.duration and ended < info.duration - max(0.5, 3 * step):
        raise TruncatedError(f"the frames end at {ended:.2f} s of the {info.duration:.2f} s in the header")


class _Reader:
    """Iterates the pipeline's items: ("frame", _Frame) and ("packet", av.Packet) in file order, trimmed.

    ``first`` receives the first kept frame's rotation and colour tags (the encoder is set up from them) and
    the time offset of a trimmed start (subtracted from every timestamp).
    """

    def __init__(self, container, vin, copied: list, trim: Trim, deep: bool, info: VideoInfo, first: dict) -> None:
        self.container, self.vin, self.copied, self.trim = container, vin, copied, trim
        self.info, self.first = info, first
        self.format = "rgb48le" if deep else "rgb24"
        self.step = 1 / float(info.fps) if info.fps else 1 / 25
        self.start, self.end = trim.start, trim.end()
        if trim.frames is not None and info.fps:  # audio stops with the last frame (constant-rate estimate)
            self.end = min(x for x in (self.end, self.start + trim.frames * self.step) if x is not None)
        self.index, self.last, self.video_done, self.open = 0, None, False, set(copied)

    def __iter__(self):
        if self.start > 0:
            self.container.seek(int(self.start / self.vin.time_base), stream=self.vin)
        for packet in self.container.demux([self.vin, *self.copied]):
            if packet.stream is self.vin:
                yield from self._frames(packet)
            elif packet.dts is not None and packet.pts is not None:
                time = float(packet.pts * packet.time_base)
                if self.end is not None and time >= self.end - 1e-6:
                    self.open.discard(packet.stream)
                elif self.start <= 0 or time >= self.start - 1e-6:
                    yield "packet", packet
            if self.video_done and not self.open:
                return
        if self.trim == Trim():
            _check_complete(self.info, self.index, self.last, self.step)

    def _frames(self, packet):
        if self.video_done:
            return
        for frame in packet.decode():
            time = float(frame.time) if frame.time is not None else self.index * self.step
            if self.start > 0 and time < self.start - 1e-6:
                continue
            if ((self.end is not None and time >= self.end - 1e-6)
                    or (self.trim.frames is not None and self.index >= self.trim.frames)):
                self.video_done = True
                return
            if not self.first:
                self.first.update(rotation=frame.rotation, primaries=frame.color_primaries, trc=frame.color_trc,
                                  colorspace=frame.colorspace, range=frame.color_range,
                                  offset=time if self.start else 0.0)
            array = frame.to_ndarray(format=self.format, src_color_range=frame.color_range or None)
            pts = frame.pts if frame.pts is not None else round(time / self.vin.time_base)
            yield "frame", _Frame(array, pts - round(self.first["offset"] / self.vin.time_base), time, self.index)
            self.index, self.last = self.index + 1, time


class _Encoder:
    """The pipeline's sink: sets the video stream up on the first frame, encodes frames, muxes packets."""

    def __init__(self, out, vin, plan: _Plan, first: dict) -> None:
        self.out, self.vin, self.plan, self.first = out, vin, plan, first
        self.vout = self._add_video()  # stream 0
        self.ready = False
        self.held: list = []  # packets that arrive before the first frame (the header is written at the first mux)
        self.streams: dict = {}  # input stream -> (output stream, re-encode?)
        self.frames = 0

    def add_copies(self, streams: list, notes: list[str]) -> list:
        """Output streams for audio/subtitle inputs: copied, re-encoded (audio) or dropped (subtitles)."""
        kept = []
        for s in streams:
            name = s.codec_context.name
            if accepts(self.out, name):
                self.streams[s] = (self.out.add_stream_from_template(s), False)
            elif s.type == "audio":
                target = AUDIO_FALLBACK.get(self.out.format.name, "aac")
                o = self.out.add_stream(target, rate=s.codec_context.sample_rate or 48000)
                o.layout = s.codec_context.layout
                self.streams[s] = (o, True)
                notes.append(f"audio stream {s.index} ({name}) re-encoded as {target}: {self.out.format.name} "
                             "cannot hold it as it is")
            else:
                notes.append(f"subtitle stream {s.index} ({name}) dropped: {self.out.format.name} cannot hold it; "
                             "write .mkv to keep it")
                continue
            self.streams[s][0].metadata.update(dict(s.metadata))
            kept.append(s)
        return kept

    def _add_video(self):
        v = self.out.add_stream(self.plan.encoder, rate=self.plan.info.fps or Fraction(25))
        v.width, v.height = self.plan.size[0] + self.plan.pad[0], self.plan.size[1] + self.plan.pad[1]
        v.pix_fmt = self.plan.pix_fmt
        v.time_base = self.vin.time_base  # the input's timestamps, variable frame rate included
        v.codec_context.time_base = self.vin.time_base
        spec, s = CODECS[self.plan.codec], self.plan.settings
        options = dict(spec.options)
        if s.preset is not None:
            options["preset"] = s.preset
        crf = s.crf if s.crf is not None else spec.crf
        if crf is not None:
            options["crf"] = str(crf)
        v.options = options
        return v

    def _setup(self) -> None:
        """Colour tags and rotation of the first frame, set before the header is written (the first mux)."""
        cc, f = self.vout.codec_context, self.first
        tags = [("color_primaries", "primaries"), ("color_trc", "trc")]
        if self._yuv():  # the matrix and range describe YUV samples; RGB output (ffv1, png) has neither
            tags += [("colorspace", "colorspace"), ("color_range", "range")]
        for attr, key in tags:
            if f.get(key):
                setattr(cc, attr, f[key])
        if f.get("rotation"):
            self.vout.set_display_rotation(f["rotation"])
        self.ready = True

    def _yuv(self) -> bool:
        return self.plan.pix_fmt.startswith(("yuv", "nv", "gray"))

    def _rgb_frame(self, item: _Frame):
        av = import_av()
        array = item.array
        if any(self.plan.pad):
            array = np.pad(array, ((0, self.plan.pad[1]), (0, self.plan.pad[0]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb48le" if self.plan.deep else "rgb24")
        frame.pts, frame.time_base = item.pts, self.vin.time_base
        if self._yuv():
            cs, rng = self.first.get("colorspace"), self.first.get("range")
            try:
                return frame.reformat(format=self.plan.pix_fmt, dst_colorspace=cs if cs not in (None, 2) else None,
                                      dst_color_range=rng or None)
            except ValueError:  # a matrix swscale does not convert: its default (BT.601), as the decoder used
                return frame.reformat(format=self.plan.pix_fmt, dst_color_range=rng or None)
        return frame.reformat(format=self.plan.pix_fmt)

    def __call__(self, item) -> None:
        kind, payload = item
        if kind == "packet":
            if not self.ready:
                self.held.append(payload)
            else:
                self._packet(payload)
            return
        if not self.ready:
            self._setup()
        for packet in self.vout.encode(self._rgb_frame(payload)):
            self.out.mux(packet)
        self.frames += 1
        for packet in self.held:
            self._packet(packet)
        self.held.clear()

    def _packet(self, packet) -> None:
        target, reencode = self.streams[packet.stream]
        offset = round(self.first.get("offset", 0.0) / packet.time_base) if self.first.get("offset") else 0
        if reencode:
            for frame in packet.decode():
                frame.pts = None
                for p in target.encode(frame):
                    self.out.mux(p)
            return
        packet.pts -= offset
        packet.dts -= offset
        packet.stream = target
        self.out.mux(packet)

    def finish(self) -> None:
        for packet in self.vout.encode(None):
            self.out.mux(packet)
        for target, reencode in self.streams.values():
            if reencode:
                for packet in target.encode(None):
                    self.out.mux(packet)


def upscale_video(source, output: str | os.PathLike, model, *, settings: VideoSettings = VideoSettings(),
                  trim: Trim = Trim(), tile="auto", border: str = DEFAULT_BORDER, strict_upstream: bool = False,
                  progress=None, cancel=None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                  depth: int = 4) -> VideoResult:
    """Upscales every frame of ``source`` (a path or binary file object) into the video file ``output``.

    model: a Backend (``make_backend``) or anything ``make_backend`` takes. progress(done, total) per frame
    (total: the header's estimate, or None); cancel() -> True stops within a tile (UpscaleCancelled).
    Raises VideoError for unusable input (nothing written) and VideoIncompleteError when decoding stops
    midway: the frames before it are then in :func:`incomplete_path` and nothing is under ``output``.
    """
    from ..engine import make_backend
    from ..engine.protocol import Backend

    output = Path(output)
    backend = model if isinstance(model, Backend) else make_backend(model)
    fmt = container_for(output)
    codec, encoder = pick_encoder(settings.codec, fmt)
    name = source_name(source)
    with open_input(source) as probe:
        info = describe(probe, name, max_pixels)
    pix_fmt, deep_warning = pick_pix_fmt(codec, encoder, info.bits > 8, settings.pix_fmt)
    deep = info.bits > 8 and import_av().VideoFormat(pix_fmt).components[0].bits > 8
    notes = [deep_warning] if deep_warning else []
    oh, ow = target_size(info.height, info.width, backend.scale)
    even_w, even_h = chroma_even(pix_fmt)
    pad = (ow % 2 if even_w else 0, oh % 2 if even_h else 0)
    if any(pad):
        notes.append(f"{ow}x{oh} padded to {ow + pad[0]}x{oh + pad[1]} (edge pixels repeated): {pix_fmt} needs "
                     "even sizes; --pix-fmt yuv444p or --codec ffv1 keeps the exact size")
    plan = _Plan(info, codec, encoder, pix_fmt, settings, (ow, oh), pad, deep)
    estimate = info.estimated_frames()
    if estimate is not None:
        remaining = max(0, estimate - round(trim.start * float(info.fps or 0)))
        span = round(trim.duration * float(info.fps)) if trim.duration is not None and info.fps else None
        estimate = min(x for x in (remaining, span, trim.frames) if x is not None)
    state: dict = {}

    def write(tmp: str) -> None:
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        with open_input(source) as inp, import_av().open(tmp, mode="w", format=fmt, options=options) as out:
            for key, value in inp.metadata.items():
                if key.lower() not in ("encoder", "major_brand", "minor_version", "compatible_brands"):
                    out.metadata[key] = value
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            first: dict = {}
            enc = _Encoder(out, vin, plan, first)
            copied = enc.add_copies([*inp.streams.audio, *inp.streams.subtitles], notes)
            work = frame_worker(backend, total=estimate, progress=progress, cancel=cancel, tile=tile,
                                border=border, strict_upstream=strict_upstream)
            try:
                run_pipeline(_Reader(inp, vin, copied, trim, deep, info, first), work, enc, depth)
            except SourceStopped as e:
                state["stopped"] = e
            if enc.frames == 0:
                why = f": decoding failed ({state['stopped']})" if "stopped" in state else ""
                window = " in the trimmed range" if trim != Trim() else ""
                raise VideoError(f"{name}: no video frames{window}{why}")
            enc.finish()
            state["frames"] = enc.frames

    def accept(tmp: Path) -> None:
        stopped = state.get("stopped")
        if stopped is None:
            return
        keep = incomplete_path(output)
        os.replace(tmp, keep)
        frames = state["frames"]
        raise VideoIncompleteError(f"{name}: decoding stopped at frame {frames} ({stopped}); the {frames} frames "
                                   f"before it are in {keep}, nothing was written to {output}", frames, keep)

    atomic_write(output, write, accept)
    for note in notes:
        log.warning("%s: %s", name, note)
    return VideoResult(output, state["frames"], (ow + pad[0], oh + pad[1]), info.fps, codec, pix_fmt, notes)
