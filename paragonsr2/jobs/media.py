"""A job's per-file step for videos and animated images (``paragonsr2.media``): the same call in the CLI's
process and in a Ray worker; it returns the file's line and never prints."""
from __future__ import annotations

import time
from pathlib import Path

from ..validate import VIDEO_EXTENSIONS


def is_media(src: Path) -> bool:
    """True for a video file (by extension) or an animated GIF/WebP/PNG (by content)."""
    from ..media import is_animated

    return src.suffix.lower() in VIDEO_EXTENSIONS or is_animated(src)


def upscale_media(backends, src: Path, dst: Path, settings, progress=None) -> str:
    """Upscales one video or animation into ``dst``; ``progress(done, total)`` counts frames. Returns the line
    "IN -> OUT (WxH -> WxH, N frames, F frames/s)". ``settings``: a JobSettings (video fields included)."""
    from ..imageio import ImageInfo, probe_image
    from ..media import Trim, VideoSettings, probe_video, upscale_animation, upscale_video

    video = src.suffix.lower() in VIDEO_EXTENSIONS
    if video:
        head = probe_video(src, settings.max_pixels)
        info = ImageInfo(head.width, head.height, min(16, head.bits), False, False)
    else:
        info = probe_image(src, settings.max_pixels)
    backend = backends.for_image(info)
    common = {"tile": settings.tile, "border": settings.border, "strict_upstream": settings.strict_upstream,
              "progress": progress, "max_pixels": settings.max_pixels}
    started = time.perf_counter()
    if video:
        result = upscale_video(src, dst, backend, **common,
                               settings=VideoSettings(codec=settings.codec, crf=settings.crf,
                                                      pix_fmt=settings.pix_fmt),
                               trim=Trim(start=settings.start or 0.0, duration=settings.duration,
                                         frames=settings.frames))
        frames, size = result.frames, result.size
    else:
        frames, size = upscale_animation(src, dst, backend, **common), None
    fps = frames / max(1e-9, time.perf_counter() - started)
    shape = f"{info.width}x{info.height} -> {size[0]}x{size[1]}, " if size else ""
    return f"{src} -> {dst} ({shape}{frames} frames, {fps:.2f} frames/s)"
