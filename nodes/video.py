"""Upscale Video (ParagonSR2): core VIDEO in, VIDEO out, streamed file to file (paragonsr2.media)."""
from __future__ import annotations

from ..paragonsr2.engine import is_paragon, unwrap
from ..paragonsr2.errors import ParagonError, UpscaleCancelled
from ..paragonsr2.media import VideoSettings, upscale_video
from ..paragonsr2.validate import CRF
from . import bridge
from .models import _backend_for, runner_inputs, tile_choice
from .spec import In, NodeSpec, Out

CODECS = ["h264", "hevc", "av1"]  # what core Save Video can remux into its .mp4 as it is


def run_upscale_video(video, upscale_model, tile, backend, precision, codec, crf, unique_id=None):
    model = unwrap(upscale_model)
    if not is_paragon(model):
        raise ParagonError("'Upscale Video (ParagonSR2)' runs ParagonSR2 models only")
    runner = _backend_for(model, backend, precision, bridge.torch_device(), unique_id)
    output = bridge.safe_output_path(bridge.temp_dir(), "ParagonSR2_video", ".mp4")
    try:
        result = upscale_video(video.get_stream_source(), output, runner, tile=tile_choice(tile),
                               settings=VideoSettings(codec=codec, crf=crf), progress=bridge.Progress(unique_id),
                               cancel=bridge.interrupted, max_pixels=None)
    except UpscaleCancelled:
        bridge.raise_if_interrupted()
        raise
    notes = "".join(f"\nnote: {n}" for n in result.notes)
    bridge.status_text(f"{result.frames} frames, {result.size[0]}x{result.size[1]}, {runner.describe()}{notes}",
                       unique_id)
    return (bridge.video_from_file(output),), None


UPSCALE_VIDEO = NodeSpec(
    node_id="ParagonSR2UpscaleVideo", display_name="Upscale Video (ParagonSR2)",
    description="Upscales a VIDEO (core Load Video) frame by frame from its file to a new file, never holding the "
                "clip as an image batch: memory stays flat with length. Frame rate, timestamps, audio, rotation "
                "and colour tags are kept. Connect Save Video to keep the result.",
    inputs=[
        In("video", "VIDEO", "A video (core Load Video, or any node giving VIDEO)"),
        *runner_inputs("frame"),
        In("codec", CODECS, "h264 plays everywhere; hevc and av1 make smaller files (slower to encode)",
           default="h264"),
        In("crf", "INT", "quality: lower is better and larger (h264: 18 looks lossless, 0 is lossless)",
           default=18, min=CRF.lo, max=51, step=1),
    ],
    outputs=[Out("VIDEO", "video", "The upscaled video (a file in ComfyUI's temp folder; Save Video keeps it)")],
    run=run_upscale_video)
