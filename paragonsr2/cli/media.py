"""The CLI's per-file step for videos and animated images (paragonsr2.media), with a frame progress bar."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..validate import VIDEO_EXTENSIONS


def is_media(src: Path) -> bool:
    """True for a video file (by extension) or an animated GIF/WebP/PNG (by content)."""
    from ..media import is_animated

    return src.suffix.lower() in VIDEO_EXTENSIONS or is_animated(src)


def settings(args):
    """(VideoSettings, Trim) from the command line's video options."""
    from ..media import Trim, VideoSettings

    return (VideoSettings(codec=args.codec, crf=args.crf, pix_fmt=args.pix_fmt),
            Trim(start=args.start or 0.0, duration=args.duration, frames=args.frames))


def upscale_media(backends, src: Path, dst: Path, args) -> None:
    """Upscales one video or animation into ``dst`` and prints one line (frames, size, frames per second)."""
    from ..imageio import ImageInfo, probe_image
    from ..media import probe_video, upscale_animation, upscale_video

    video = src.suffix.lower() in VIDEO_EXTENSIONS
    if video:
        head = probe_video(src, args.max_pixels)
        info = ImageInfo(head.width, head.height, min(16, head.bits), False, False)
    else:
        info = probe_image(src, args.max_pixels)
    backend = backends.for_image(info)
    bar = _frame_bar(src.name, args.no_progress)
    common = {"tile": args.tile, "border": args.border, "strict_upstream": args.strict_upstream,
              "progress": bar, "max_pixels": args.max_pixels}
    started = time.perf_counter()
    try:
        if video:
            video_settings, trim = settings(args)
            result = upscale_video(src, dst, backend, settings=video_settings, trim=trim, **common)
            frames, size = result.frames, result.size
        else:
            frames = upscale_animation(src, dst, backend, **common)
            size = None
    finally:
        if bar is not None:
            bar.close()
    fps = frames / max(1e-9, time.perf_counter() - started)
    shape = f"{info.width}x{info.height} -> {size[0]}x{size[1]}, " if size else ""
    print(f"{src} -> {dst} ({shape}{frames} frames, {fps:.2f} frames/s)")


class _Bar:
    """progress(done, total) as a tqdm bar of frames (rate and ETA), on a terminal only."""

    def __init__(self, label: str) -> None:
        from tqdm import tqdm

        self.tqdm = tqdm(desc=label, unit="frame", leave=False)

    def __call__(self, done: int, total: int) -> None:
        self.tqdm.total = total
        self.tqdm.update(done - self.tqdm.n)

    def close(self) -> None:
        self.tqdm.close()


def _frame_bar(label: str, disabled: bool) -> _Bar | None:
    if disabled or not sys.stderr.isatty():
        return None
    try:
        return _Bar(label)
    except ImportError:
        return None
