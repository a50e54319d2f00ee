"""Memory: an IMAGE batch is held once (peak growth about its output tensor), and a video streams at constant
memory whatever its length. Peak RSS is measured in a fresh process for each case."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _peak_growth_mib(body: str) -> list[float]:
    """Runs ``body`` (which sets ``run``, a callable) after a warm-up call; prints the peak RSS growth in MiB."""
    code = textwrap.dedent(f"""
        import resource, sys, torch
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]
        torch.set_num_threads(1)
        from media_clips import make_clip, nearest_backend
        from paragonsr2.engine import upscale
        from paragonsr2.media import VideoSettings, upscale_video
        """) + textwrap.dedent(body) + textwrap.dedent("""
        for case in cases:
            run(case, warm=True)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            run(case, warm=False)
            print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    return [float(line) for line in out.stdout.split()]


def test_image_batch_peak_is_about_the_output_tensor():
    """ComfyUI's [B,H,W,C] batch: the result is written in place (no second full-size copy)."""
    (growth,) = _peak_growth_mib("""
        x = torch.rand(48, 256, 256, 3)
        cases = [48]

        def run(n, warm):
            global y
            y = upscale(nearest_backend(), x[:1] if warm else x[:n], tile=None)
        """)
    output_mib = 48 * 512 * 512 * 3 * 4 / 2**20
    assert growth <= 1.25 * output_mib, f"peak grew {growth:.0f} MiB for a {output_mib:.0f} MiB output"


@pytest.mark.slow
def test_video_memory_is_flat_in_clip_length(tmp_path):
    short, long_ = 24, 240
    growth = _peak_growth_mib(f"""
        from pathlib import Path
        folder = Path({str(tmp_path)!r})
        cases = [{short}, {long_}]
        clips = {{n: make_clip(folder / f"c{{n}}.mp4", frames=n, width=320, height=240) for n in cases}}
        warm_clip = make_clip(folder / "warm.mp4", frames=4, width=320, height=240)

        def run(n, warm):
            upscale_video(warm_clip if warm else clips[n], folder / f"o{{n}}{{warm}}.mp4", nearest_backend(),
                          settings=VideoSettings(preset="ultrafast"))
        """)
    held = (long_ - short) * 640 * 480 * 3 / 2**20  # what holding the extra frames would take (211 MiB)
    assert abs(growth[1] - growth[0]) < 40 < held, f"peak growth {growth} MiB for {short} and {long_} frames"
