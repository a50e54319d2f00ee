"""The CLI with videos and animated images: inputs like images, trim options, progress line, Ctrl-C, bad files."""
import pytest

av = pytest.importorskip("av")

from PIL import Image, ImageSequence  # noqa: E402

from paragonsr2.cli import main  # noqa: E402

from media_clips import make_clip, read_clip  # noqa: E402

FAST = ["--border", "zeros", "--no-progress"]  # no border extension: tiny frames stay tiny for the network


RECORD = ".paragonsr2-job.json"  # the job record of an output folder (docs/jobs.md)


def _gif(path, n=3):
    frames = [Image.new("RGB", (8, 6), (40 * i, 100, 200)) for i in range(n)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[70, 80, 90][:n], loop=0)
    return path


def test_video_in_video_out_with_audio(tmp_path, capsys):
    src = make_clip(tmp_path / "clip.mp4", frames=4, width=16, height=12)
    assert main(["upscale", str(src), "-o", str(tmp_path / "clip_x2.mp4"), *FAST]) == 0
    out = read_clip(tmp_path / "clip_x2.mp4")
    assert out["frames"] == 4 and out["size"] == (32, 24) and out["streams"] == ["video", "audio"]
    assert "clip.mp4 -> " in (text := capsys.readouterr().out) and "(16x12 -> 32x24, 4 frames, " in text


def test_folders_pick_up_videos_and_animations(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "b.mkv", frames=3, width=16, height=12, audio=False)
    make_clip(src / "b_paragonsr2.mkv", frames=3, width=16, height=12, audio=False)  # an earlier result
    _gif(src / "c.gif")
    Image.new("RGB", (8, 8)).save(src / "a.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), *FAST]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != RECORD) == ["a.png", "b.mkv", "c.gif"]
    with Image.open(tmp_path / "out" / "c.gif") as im:
        assert im.size == (16, 12) and [f.info["duration"] for f in ImageSequence.Iterator(im)] == [70, 80, 90]
    text = capsys.readouterr().out
    assert "3 frames" in text and "b_paragonsr2" not in text


def test_trim_options(tmp_path):
    src = make_clip(tmp_path / "clip.mp4", frames=12, width=16, height=12)
    assert main(["upscale", str(src), "-o", str(tmp_path / "a.mp4"), "--frames", "2", *FAST]) == 0
    assert read_clip(tmp_path / "a.mp4")["frames"] == 2
    assert main(["upscale", str(src), "-o", str(tmp_path / "b.mp4"), "--start", "0.25", "--duration", "0.125",
                 "--codec", "ffv1", "--pix-fmt", "bgr0", *FAST]) == 0
    out = read_clip(tmp_path / "b.mp4")
    assert out["frames"] == 3 and out["codec"] == "ffv1"


@pytest.mark.parametrize(("argv", "option"), [(["--crf", "99"], "--crf"), (["--codec", "divx"], "--codec"),
                                              (["--frames", "0"], "--frames"), (["--start", "-1"], "--start")])
def test_bad_video_options_exit_2(tmp_path, capsys, argv, option):
    assert main(["upscale", str(tmp_path / "x.mp4"), *argv]) == 2
    assert option in capsys.readouterr().err


def test_ctrl_c_leaves_nothing_and_exits_130(tmp_path, monkeypatch, capsys):
    from paragonsr2.media import frames

    src = make_clip(tmp_path / "clip.mp4", frames=6, width=16, height=12)
    real, calls = frames.upscale_array, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(frames, "upscale_array", interrupted)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.mp4"), *FAST]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    assert "interrupted" in capsys.readouterr().err


def test_bad_videos_fail_alone_with_exit_1(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    good = make_clip(src / "good.mkv", frames=3, width=16, height=12)
    bad = make_clip(src / "bad.mkv", frames=48, width=16, height=12)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    (src / "audio.mkv").write_bytes(b"")  # unreadable
    del good
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), *FAST]) == 1
    err = capsys.readouterr().err
    assert "bad.mkv: decoding stopped at frame" in err and "audio.mkv: cannot read the video" in err
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != RECORD)
    assert written == ["bad.incomplete.mkv", "good.mkv"]
    assert "1 written, 0 skipped, 2 failed" in err
