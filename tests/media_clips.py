"""Small clips and animations that the media tests write themselves (nothing large in the repository)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def frame_pixels(i: int, width: int, height: int, deep: bool = False) -> np.ndarray:
    """A deterministic RGB test picture for frame ``i``: gradients plus a moving bar."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)),
                    np.full_like(x, (i * 37) % 256)], axis=2).astype(np.float32)
    img[:, (i * 3) % width: (i * 3) % width + 4] = 255
    return (img * 257).astype(np.uint16) if deep else img.astype(np.uint8)


def make_clip(path: Path, frames: int = 8, width: int = 48, height: int = 32, fps: int = 24, *, audio: bool = True,
              vfr: bool = False, codec: str = "libx264", pix_fmt: str = "yuv420p", rotation: int = 0,
              subtitles: bool = False, audio_codec: str = "aac", color_range: int | None = None) -> Path:
    """Writes a clip: ``frames`` frames (timestamps 1/fps apart, or alternating 40/80 ms with ``vfr``), a
    440 Hz tone as long as the video, optionally a subtitle stream and a display rotation."""
    import av

    tb = Fraction(1, 1000) if vfr else Fraction(1, fps)
    with av.open(str(path), "w") as out:
        v = _video_stream(out, codec, fps, tb, (width, height), pix_fmt, rotation, color_range)
        a = out.add_stream(audio_codec, rate=48000) if audio else None
        srt = av.open(str(_srt(path))) if subtitles else None
        s = out.add_stream_from_template(srt.streams[0]) if srt else None
        pts = 0
        deep = "10" in pix_fmt
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(frame_pixels(i, width, height, deep), format="rgb48le" if deep else "rgb24")
            f.pts, f.time_base = pts, tb
            pts += (40 if i % 2 else 80) if vfr else 1
            for p in v.encode(f.reformat(format=pix_fmt, dst_color_range=color_range)):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        if a is not None:
            _tone(out, a, pts * float(tb))
        if srt is not None:
            _copy_all(srt, s, out)
    return path


def _video_stream(out, codec: str, fps: int, tb: Fraction, size: tuple[int, int], pix_fmt: str, rotation: int,
                  color_range: int | None):
    v = out.add_stream(codec, rate=fps)
    (v.width, v.height), v.pix_fmt = size, pix_fmt
    v.time_base = v.codec_context.time_base = tb
    if codec == "libx264":
        v.options = {"preset": "ultrafast", "crf": "10"}
    if color_range is not None:
        v.codec_context.color_range = color_range
    if rotation:
        v.set_display_rotation(rotation)
    return v


def _tone(out, stream, seconds: float, rate: int = 48000) -> None:
    """A 440 Hz mono tone of ``seconds`` into the audio ``stream`` of ``out``."""
    import av

    total, t = int(seconds * rate), 0
    while t < total:
        n = min(1024, total - t)
        wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(t, t + n) / rate)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, t
        t += n
        for p in stream.encode(frame):
            out.mux(p)
    for p in stream.encode():
        out.mux(p)


def _copy_all(source, stream, out) -> None:
    for p in source.demux():
        if p.dts is not None:
            p.stream = stream
            out.mux(p)
    source.close()


def _srt(path: Path) -> Path:
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nhello\n\n2\n00:00:00,200 --> 00:00:00,300\nworld\n")
    return srt


def read_clip(path: Path) -> dict:
    """Frame count, timestamps (s), sizes, stream kinds and codecs of a written clip (decodes the video)."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        info = {"frames": len(frames), "times": [float(f.time) for f in frames], "size": (v.width, v.height),
                "pix_fmt": v.codec_context.pix_fmt, "codec": v.codec_context.name, "fps": v.average_rate,
                "streams": [s.type for s in c.streams], "rotation": frames[0].rotation if frames else 0,
                "duration": c.duration / 1e6 if c.duration else None,
                "audio_codecs": [s.codec_context.name for s in c.streams.audio],
                "color_range": frames[0].color_range if frames else None}
    with av.open(str(path)) as c:
        info["audio_seconds"] = sum(f.samples / f.sample_rate for f in c.decode(audio=0)) if c.streams.audio else 0
    return info


def nearest_backend(scale: int = 2):
    """An engine Backend that repeats each pixel ``scale`` times per axis: exact, fast, deterministic."""
    import torch

    from paragonsr2.engine.protocol import Backend

    class Nearest(Backend):
        name, precision, device = "nearest", "fp32", torch.device("cpu")
        in_chans = out_chans = 3
        margin, num_feat = 0, 4

        def __init__(self) -> None:
            self.scale = (float(scale), float(scale))
            self.calls = 0

        def __call__(self, x):
            self.calls += 1
            return x.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    return Nearest()
