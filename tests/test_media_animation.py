"""Animated GIF / WebP / APNG: every frame upscaled, durations, loop and disposal kept; GIF colours as good as
Pillow's own quantisation."""
import numpy as np
import pytest
from PIL import Image, ImageSequence

from paragonsr2.errors import ParagonError, UpscaleCancelled
from paragonsr2.media import is_animated, upscale_animation

from media_clips import frame_pixels, nearest_backend


def _animation(path, fmt, n=3, alpha=False, **options):
    frames = [Image.fromarray(frame_pixels(i, 12, 8)) for i in range(n)]
    if alpha:
        frames = [f.convert("RGBA") for f in frames]
        for f in frames:
            f.putpixel((0, 0), (0, 0, 0, 0))
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=[50, 120, 80][:n],
                   **options)
    return path


def _frames(path):
    with Image.open(path) as im:
        return [(np.asarray(f.convert("RGBA")), f.info.get("duration")) for f in ImageSequence.Iterator(im)]


@pytest.mark.parametrize(("ext", "fmt", "options"), [(".gif", "GIF", {"loop": 0, "disposal": 2}),
                                                     (".webp", "WEBP", {"loop": 3, "lossless": True}),
                                                     (".png", "PNG", {"loop": 2})])
def test_every_frame_durations_and_loop_are_kept(tmp_path, ext, fmt, options):
    src = _animation(tmp_path / f"in{ext}", fmt, **options)
    assert is_animated(src)
    assert upscale_animation(src, tmp_path / f"out{ext}", nearest_backend()) == 3
    out, ref = _frames(tmp_path / f"out{ext}"), _frames(src)
    assert [d for _, d in out] == [d for _, d in ref] == [50, 120, 80]
    with Image.open(tmp_path / f"out{ext}") as im, Image.open(src) as orig:
        assert im.size == (24, 16) and im.info.get("loop") == orig.info.get("loop") == options["loop"]
        if fmt == "GIF":
            assert [f.disposal_method for f in ImageSequence.Iterator(im)] == [2, 2, 2]
    for (y, _), (x, _) in zip(out, ref, strict=True):
        if fmt != "GIF":  # lossless formats: exactly the nearest upscale of the composited input frame
            assert np.array_equal(y, x.repeat(2, 0).repeat(2, 1))


def test_gif_quantisation_is_as_good_as_pillows_own(tmp_path):
    """Our GIF against the exact upscaled frames: no worse than Pillow saving those same frames itself."""
    frames = [Image.fromarray(np.random.default_rng(i).integers(0, 256, (8, 12, 3), dtype=np.uint8))
              for i in range(2)]
    frames[0].save(tmp_path / "in.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    upscale_animation(tmp_path / "in.gif", tmp_path / "out.gif", nearest_backend())
    exact = [np.asarray(f.convert("RGB")).repeat(2, 0).repeat(2, 1) for f in ImageSequence.Iterator(
        Image.open(tmp_path / "in.gif"))]
    pillow = [Image.fromarray(a) for a in exact]
    pillow[0].save(tmp_path / "pillow.gif", save_all=True, append_images=pillow[1:], duration=100, loop=0)

    def error(path):
        with Image.open(path) as im:
            got = [np.asarray(f.convert("RGB")).astype(float) for f in ImageSequence.Iterator(im)]
        return sum(((g - e) ** 2).mean() for g, e in zip(got, exact, strict=True))
    assert error(tmp_path / "out.gif") <= error(tmp_path / "pillow.gif") + 1e-9


def test_transparency_is_kept(tmp_path):
    src = _animation(tmp_path / "in.png", "PNG", alpha=True)
    upscale_animation(src, tmp_path / "out.png", nearest_backend())
    first = _frames(tmp_path / "out.png")[0][0]
    assert first[0, 0, 3] == 0 and first[0, 1, 3] == 0 and first[2, 2, 3] == 255


def test_refusals_and_cancel_leave_nothing(tmp_path):
    src = _animation(tmp_path / "in.gif", "GIF")
    with pytest.raises(ParagonError, match="in.gif is animated; write it as .gif, .webp or .png"):
        upscale_animation(src, tmp_path / "out.jpg", nearest_backend())
    with pytest.raises(ParagonError, match="over the limit"):
        upscale_animation(src, tmp_path / "out.gif", nearest_backend(), max_pixels=50)
    with pytest.raises(UpscaleCancelled):
        upscale_animation(src, tmp_path / "out.gif", nearest_backend(), cancel=lambda: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gif"]
    Image.new("RGB", (4, 4)).save(tmp_path / "still.gif")
    assert not is_animated(tmp_path / "still.gif") and not is_animated(tmp_path / "missing.gif")
