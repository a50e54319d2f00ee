"""The Upscale Video (ParagonSR2) node on ComfyUI stand-ins (V1 and V3): file in, file out, progress per
frame, interrupt, audio kept."""
import io
import sys

import pytest

av = pytest.importorskip("av")

import test_nodes  # noqa: E402
from test_nodes import _load  # noqa: E402

import comfy_stubs  # noqa: E402
from media_clips import make_clip, read_clip  # noqa: E402

comfy = test_nodes.comfy  # the fixture: the pack imported as ComfyUI does, V1 and V3


def _upscale(comfy, model, video, **kw):
    options = {"tile": "auto", "backend": "pytorch", "precision": "auto", "codec": "h264", "crf": 18} | kw
    return comfy["call"]("ParagonSR2UpscaleVideo", video=video, upscale_model=model, **options)


def _video(source):
    """A core VIDEO value (the stand-in of comfy_api's VideoFromFile)."""
    return sys.modules["comfy_api.input_impl"].VideoFromFile(source)


def test_video_node_streams_file_to_file_with_audio(comfy, tmp_path):
    (model, _), _ = _load(comfy)
    src = make_clip(tmp_path / "clip.mp4", frames=3, width=16, height=12)
    (video,), _ = _upscale(comfy, model, _video(str(src)))
    out = read_clip(video.get_stream_source())
    assert out["frames"] == 3 and out["size"] == (32, 24) and out["streams"] == ["video", "audio"]
    assert str(tmp_path / "temp") in video.get_stream_source()
    assert comfy["events"]["progress"][-3:] == [(1, 3), (2, 3), (3, 3)]  # per frame
    (again,), _ = _upscale(comfy, model, _video(io.BytesIO(src.read_bytes())))  # an in-memory VIDEO too
    assert read_clip(again.get_stream_source())["frames"] == 3 and again.get_stream_source() != video.file


def test_video_node_interrupt_leaves_no_file(comfy, tmp_path):
    (model, _), _ = _load(comfy)
    src = make_clip(tmp_path / "clip.mp4", frames=3, width=16, height=12)
    comfy["events"]["interrupt"] = True
    with pytest.raises(comfy_stubs.Interrupted):
        _upscale(comfy, model, _video(str(src)))
    comfy["events"]["interrupt"] = False
    assert list((tmp_path / "temp").iterdir()) == []  # the output folder was made, nothing left in it
