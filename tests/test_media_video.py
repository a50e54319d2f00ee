"""Streaming video upscale (paragonsr2.media): clips written by the tests, run through an exact x2 nearest
backend (fast) and once through the bundled model."""
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")

from paragonsr2.errors import ParagonError, UpscaleCancelled  # noqa: E402
from paragonsr2.media import (  # noqa: E402
    Trim,
    VideoError,
    VideoIncompleteError,
    VideoSettings,
    probe_video,
    upscale_video,
)
from paragonsr2.media.codecs import pick_encoder  # noqa: E402

from media_clips import make_clip, nearest_backend, read_clip  # noqa: E402


def _decoded(path, fmt="rgb24"):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt, src_color_range=f.color_range or None) for f in c.decode(video=0)]


def _copy_audio(clip, out):
    """The audio packets of ``clip`` into a new stream of the open output container ``out``."""
    with av.open(str(clip)) as inp:
        stream = out.add_stream_from_template(inp.streams.audio[0])
        for p in inp.demux(inp.streams.audio[0]):
            if p.dts is not None:
                p.stream = stream
                out.mux(p)


def _no_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_mp4_with_audio_keeps_frames_fps_duration_and_audio(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=10)
    result = upscale_video(src, tmp_path / "out.mp4", nearest_backend())
    a, b = read_clip(src), read_clip(tmp_path / "out.mp4")
    assert result.frames == b["frames"] == a["frames"] == 10
    assert b["size"] == (96, 64) and result.size == (96, 64)
    assert b["fps"] == a["fps"] == Fraction(24)
    assert b["times"] == a["times"]
    assert b["duration"] == pytest.approx(a["duration"], abs=0.03)
    assert b["streams"] == ["video", "audio"] and b["audio_codecs"] == ["aac"]
    assert b["audio_seconds"] == pytest.approx(a["audio_seconds"], abs=1e-6)  # packets copied, not re-encoded
    assert (b["codec"], b["pix_fmt"]) == ("h264", "yuv420p")


def test_lossless_output_is_exactly_the_upscaled_frames(tmp_path):
    """ffv1 (lossless RGB): every decoded output frame is the x2 nearest upscale of the decoded input frame."""
    src = make_clip(tmp_path / "in.mkv", frames=5, audio=False)
    upscale_video(src, tmp_path / "out.mkv", nearest_backend(), settings=VideoSettings(codec="ffv1"))
    for x, y in zip(_decoded(src), _decoded(tmp_path / "out.mkv"), strict=True):
        assert np.array_equal(y, x.repeat(2, 0).repeat(2, 1))


def test_variable_frame_rate_timestamps_are_kept(tmp_path):
    src = make_clip(tmp_path / "vfr.mkv", frames=8, vfr=True)
    upscale_video(src, tmp_path / "out.mkv", nearest_backend())
    times = read_clip(tmp_path / "out.mkv")["times"]
    assert times == read_clip(src)["times"] == [0.0, 0.08, 0.12, 0.2, 0.24, 0.32, 0.36, 0.44]


def test_ten_bit_input_gives_ten_bit_output(tmp_path):
    src = make_clip(tmp_path / "ten.mkv", frames=3, audio=False, pix_fmt="yuv420p10le")
    assert probe_video(src).bits == 10
    result = upscale_video(src, tmp_path / "out.mkv", nearest_backend(), settings=VideoSettings(codec="ffv1"))
    assert result.pix_fmt == "gbrp10le" and result.notes == []
    x, y = _decoded(src, "rgb48le")[0], _decoded(tmp_path / "out.mkv", "rgb48le")[0]
    assert np.array_equal(y >> 6, x.repeat(2, 0).repeat(2, 1) >> 6)  # the 10 significant bits survive
    upscale_video(src, tmp_path / "out.mp4", nearest_backend())
    assert read_clip(tmp_path / "out.mp4")["pix_fmt"] == "yuv420p10le"


def test_odd_output_size_is_padded_for_420_and_said(tmp_path):
    src = make_clip(tmp_path / "odd.mkv", frames=2, width=15, height=11, audio=False, codec="ffv1",
                    pix_fmt="yuv444p")
    result = upscale_video(src, tmp_path / "out.mp4", nearest_backend(3))
    assert result.size == (46, 34) and read_clip(tmp_path / "out.mp4")["size"] == (46, 34)
    assert any("45x33 padded to 46x34" in n for n in result.notes)
    exact = upscale_video(src, tmp_path / "out.mkv", nearest_backend(3), settings=VideoSettings(pix_fmt="yuv444p"))
    assert exact.size == (45, 33) and exact.notes == []


def test_rotation_subtitles_and_full_range_are_kept(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=3, rotation=90, subtitles=True, color_range=2)
    upscale_video(src, tmp_path / "out.mkv", nearest_backend())
    out = read_clip(tmp_path / "out.mkv")
    assert out["rotation"] == 90 and out["color_range"] == 2
    assert out["streams"] == ["video", "audio", "subtitle"]
    x, y = _decoded(src)[1].astype(float), _decoded(tmp_path / "out.mkv")[1].astype(float)
    assert np.abs(y - x.repeat(2, 0).repeat(2, 1)).mean() < 3  # same range both ways: no level shift
    dropped = upscale_video(src, tmp_path / "out.mp4", nearest_backend())
    assert any("subtitle stream 2 (srt) dropped" in n for n in dropped.notes)


def test_audio_the_container_cannot_hold_is_reencoded_and_said(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    result = upscale_video(src, tmp_path / "out.webm", nearest_backend())
    out = read_clip(tmp_path / "out.webm")
    assert out["codec"] in ("vp9", "av1") and out["audio_codecs"] == ["opus"]
    assert any("re-encoded as libopus" in n for n in result.notes)


def test_trim_by_start_duration_and_frames(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=24)
    result = upscale_video(src, tmp_path / "a.mp4", nearest_backend(), trim=Trim(start=0.25, duration=0.25))
    out = read_clip(tmp_path / "a.mp4")
    assert result.frames == out["frames"] == 6 and out["times"][0] == 0.0
    assert out["audio_seconds"] == pytest.approx(0.25, abs=0.05)
    upscale_video(src, tmp_path / "b.mp4", nearest_backend(), trim=Trim(frames=3))
    out = read_clip(tmp_path / "b.mp4")
    assert out["frames"] == 3 and out["audio_seconds"] == pytest.approx(3 / 24, abs=0.05)
    with pytest.raises(VideoError, match="no video frames in the trimmed range"):
        upscale_video(src, tmp_path / "c.mp4", nearest_backend(), trim=Trim(start=60))
    assert not (tmp_path / "c.mp4").exists() and _no_leftovers(tmp_path) == []


def test_corrupt_input_keeps_the_frames_before_the_error_under_another_name(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=48, audio=False)
    data = bytearray(src.read_bytes())
    data[len(data) // 3: len(data) // 3 + 3000] = bytes(3000)
    src.write_bytes(bytes(data))
    with pytest.raises(VideoIncompleteError, match=r"decoding stopped at frame \d+") as info:
        upscale_video(src, tmp_path / "out.mp4", nearest_backend())
    assert not (tmp_path / "out.mp4").exists() and _no_leftovers(tmp_path) == []
    assert info.value.path == tmp_path / "out.incomplete.mp4"
    assert 0 < info.value.frames < 48 and read_clip(info.value.path)["frames"] == info.value.frames


def test_truncated_input_that_ends_quietly_is_reported(tmp_path):
    src = make_clip(tmp_path / "in.mkv", frames=48)
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(VideoIncompleteError, match="of the 2.0.? s in the header"):
        upscale_video(src, tmp_path / "out.mkv", nearest_backend())
    assert not (tmp_path / "out.mkv").exists()


def test_unusable_inputs_are_refused_before_decoding(tmp_path):
    from PIL import Image

    audio_only = make_clip(tmp_path / "a.mkv", frames=4)
    with av.open(str(tmp_path / "audio.mka"), "w") as out:
        _copy_audio(audio_only, out)
    with pytest.raises(VideoError, match="audio.mka: no video to upscale .it holds 1 audio stream"):
        upscale_video(tmp_path / "audio.mka", tmp_path / "o.mp4", nearest_backend())
    Image.new("RGB", (8, 8)).save(tmp_path / "still.png")
    (tmp_path / "still.mp4").write_bytes((tmp_path / "still.png").read_bytes())
    with pytest.raises(VideoError, match="still.mp4: this is a still or animated image"):
        upscale_video(tmp_path / "still.mp4", tmp_path / "o.mp4", nearest_backend())
    (tmp_path / "junk.mp4").write_bytes(b"\0" * 1000)
    with pytest.raises(VideoError, match="junk.mp4: cannot read the video"):
        upscale_video(tmp_path / "junk.mp4", tmp_path / "o.mp4", nearest_backend())
    with pytest.raises(VideoError, match=r"48x32 = 0.0 MP are over the limit of 0.001 MP"):
        upscale_video(audio_only, tmp_path / "o.mp4", nearest_backend(), max_pixels=1000)
    with pytest.raises(ParagonError, match="unknown video extension '.xyz'"):
        upscale_video(audio_only, tmp_path / "o.xyz", nearest_backend())
    with pytest.raises(ParagonError, match="unknown video codec 'divx'; choose one of h264"):
        upscale_video(audio_only, tmp_path / "o.mp4", nearest_backend(), settings=VideoSettings(codec="divx"))
    with pytest.raises(ParagonError, match="WebM holds only vp9 or av1"):
        pick_encoder("h264", "webm")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("o")) == []


def test_zero_frame_video_is_refused(tmp_path):
    clip = make_clip(tmp_path / "clip.mkv", frames=4)
    src = tmp_path / "empty.mkv"
    with av.open(str(src), "w") as out:  # a video stream without packets, and audio
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 16, 16, "yuv420p"
        _copy_audio(clip, out)
    with pytest.raises(VideoError, match="empty.mkv: no video frames"):
        upscale_video(src, tmp_path / "o.mkv", nearest_backend())
    assert not (tmp_path / "o.mkv").exists() and _no_leftovers(tmp_path) == []


def test_cancel_stops_within_a_frame_and_leaves_nothing(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=12)
    seen = []
    with pytest.raises(UpscaleCancelled):
        upscale_video(src, tmp_path / "out.mp4", nearest_backend(), progress=lambda d, t: seen.append((d, t)),
                      cancel=lambda: len(seen) >= 3)
    assert seen == [(1, 12), (2, 12), (3, 12)]
    assert not (tmp_path / "out.mp4").exists() and _no_leftovers(tmp_path) == []


def test_same_input_same_output_bytes(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=4)
    upscale_video(src, tmp_path / "a.mp4", nearest_backend())
    upscale_video(src, tmp_path / "b.mp4", nearest_backend())
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_frames_match_upscale_of_the_decoded_frames_with_the_bundled_model(tmp_path):
    """The streaming path runs the same network as ``upscale()``: lossless output equals it after rounding."""
    import torch

    from paragonsr2.checkpoint import bundled_model, load_model
    from paragonsr2.engine import make_backend, upscale

    backend = make_backend(load_model(bundled_model(2), fuse=True), "pytorch", "fp32", "cpu")
    src = make_clip(tmp_path / "in.mkv", frames=2, width=24, height=16, audio=False)
    upscale_video(src, tmp_path / "out.mkv", backend, settings=VideoSettings(codec="ffv1"))
    for x, y in zip(_decoded(src), _decoded(tmp_path / "out.mkv"), strict=True):
        ref = upscale(backend, torch.from_numpy(x).float()[None] / 255, layout="BHWC")[0]
        assert np.array_equal(y, (ref * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy())


def test_480p_clip_with_aac_keeps_frame_count_fps_duration_and_audio(tmp_path):
    """The issue's acceptance clip: 854x480 with AAC audio, through the default h264 output."""
    src = make_clip(tmp_path / "480p.mp4", frames=12, width=854, height=480)
    upscale_video(src, tmp_path / "out.mp4", nearest_backend(), settings=VideoSettings(preset="ultrafast"))
    a, b = read_clip(src), read_clip(tmp_path / "out.mp4")
    assert (b["frames"], b["fps"], b["size"]) == (a["frames"], a["fps"], (1708, 960))
    assert b["duration"] == pytest.approx(a["duration"], abs=1 / 24) and b["times"] == a["times"]
    assert b["audio_codecs"] == ["aac"] and b["audio_seconds"] == pytest.approx(a["audio_seconds"], abs=1e-6)
