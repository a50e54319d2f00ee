"""Video benchmark: the streaming path (decode -> upscale -> encode, overlapped) against the network alone and
against the frames-as-IMAGE path of ComfyUI's core node, at two clip lengths.

python bench/video_bench.py [--size 854x480] [--seconds 10 60] [--fps 24] [--model FILE] [--device cpu]
                            [--repeat 1] [--modes stream frames image_batch]

A clip with AAC audio is generated per length (x264 ultrafast, CRF 12). Each measurement runs in a fresh
process: `stream` = paragonsr2.media.upscale_video to .mp4 (h264, CRF 18, audio copied); `frames` = the same
decoded frames through upscale() one by one, only the upscale calls timed (the network alone: the target is
stream >= 0.85x of it); `image_batch` = ComfyUI's core path for a VIDEO turned into frames (VideoFromFile's
get_components: every frame to a float32 [N,H,W,3] batch, then the core node's per-frame feathered 512-px
tiles into a [N,C,H',W'] output, clamped into [N,H',W',C], then CreateVideo/Save Video's encode). Peak RSS is
the child's maximum resident set (ru_maxrss) less its level after the model was loaded and warmed up. Rows
are interleaved over --repeat rounds; the table gives the best time and the largest growth.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]
BUNDLED = ROOT / "paragonsr2" / "models" / "2x_ParagonSR2_nano_default.safetensors"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _backend(model: str, device: str):
    from paragonsr2.checkpoint import load_model
    from paragonsr2.engine import make_backend

    return make_backend(load_model(model, fuse=True), "pytorch", "auto", device)


def _frames(clip: Path):
    import av

    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


def child(mode: str, clip: Path, out: Path, model: str, device: str) -> dict:
    """One measurement in this process: seconds, frames, peak RSS growth (MiB) after load and warm-up."""
    import torch

    from paragonsr2.engine import upscale
    from paragonsr2.media import upscale_video

    backend = _backend(model, device)
    first = next(_frames(clip))
    upscale(backend, torch.from_numpy(first)[None].float() / 255, layout="BHWC")  # warm-up (auto tile chosen)
    base = _rss_mib()
    started, frames = time.perf_counter(), 0
    if mode == "stream":
        frames = upscale_video(clip, out, backend).frames
        seconds = time.perf_counter() - started
    elif mode == "frames":
        seconds = 0.0
        for array in _frames(clip):
            x = torch.from_numpy(array)[None].float() / 255
            t = time.perf_counter()
            upscale(backend, x, layout="BHWC")
            seconds += time.perf_counter() - t
            frames += 1
    else:
        frames = _image_batch(clip, out, model)
        seconds = time.perf_counter() - started
    return {"mode": mode, "seconds": seconds, "frames": frames, "growth_mib": _rss_mib() - base}


def _image_batch(clip: Path, out: Path, model: str) -> int:
    """ComfyUI's core path for frames (see the module docstring) on the module the pack's loader node hands it
    (the deploy-fused network inside BorderPad); returns the frame count."""
    import av
    import torch
    from comfy_baseline import comfy_tiled_scale

    from paragonsr2.checkpoint import load_model
    from paragonsr2.spandrel_arch import descriptor

    desc = descriptor(load_model(model, fuse=True))
    net, scale = desc.model.eval(), int(desc.scale)

    images = torch.stack([torch.from_numpy(a) / 255.0 for a in _frames(clip)])  # get_components: float32 batch
    n, h, w, _ = images.shape
    result = torch.empty(n, 3, h * scale, w * scale)
    with torch.inference_mode():
        for i in range(n):  # tiled_scale_multidim runs the batch one image at a time
            x = images[i:i + 1].movedim(-1, 1)
            result[i:i + 1] = comfy_tiled_scale(x, lambda t: net(t.contiguous()), scale)
    result = torch.clamp(result.movedim(1, -1), 0, 1)  # the core node's output IMAGE
    with av.open(str(out), "w") as container:  # VideoFromComponents.save_to (h264, yuv420p)
        stream = container.add_stream("h264", rate=24)
        stream.width, stream.height, stream.pix_fmt = w * scale, h * scale, "yuv420p"
        for frame in result:
            vf = av.VideoFrame.from_ndarray((frame * 255).clamp(0, 255).byte().numpy(), format="rgb24")
            for packet in stream.encode(vf.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return n


def _run_child(mode: str, clip: Path, out: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--clip", str(clip), "--out", str(out), "--model", args.model,
           "--device", args.device]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="854x480")
    ap.add_argument("--seconds", type=float, nargs="+", default=[10, 60])
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--model", default=str(BUNDLED))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=["stream", "frames", "image_batch"])
    ap.add_argument("--child")
    ap.add_argument("--clip")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.clip), Path(args.out), args.model, args.device)))
        return
    from media_clips import make_clip

    width, height = (int(v) for v in args.size.lower().split("x"))
    best: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {s: make_clip(Path(tmp) / f"clip_{s:g}s.mp4", frames=round(s * args.fps), width=width, height=height,
                              fps=args.fps) for s in args.seconds}
        for _ in range(args.repeat):
            for seconds, clip in clips.items():
                for mode in args.modes:
                    r = _run_child(mode, clip, Path(tmp) / f"out_{mode}.mp4", args)
                    print(f"  {seconds:g}s {mode}: {r}", file=sys.stderr, flush=True)  # progress of a long run
                    key = (seconds, mode)
                    old = best.get(key)
                    best[key] = r if old is None else {**r, "seconds": min(r["seconds"], old["seconds"]),
                                                       "growth_mib": max(r["growth_mib"], old["growth_mib"])}
    print(f"{width}x{height}, x{Path(args.model).name[:1]} model {Path(args.model).name}, {args.device}; "
          f"best of {args.repeat}")
    print(f"{'clip':>6} {'path':<12} {'frames':>6} {'s':>8} {'fps':>7} {'vs frames':>9} {'peak RSS growth MiB':>20}")
    for (seconds, mode), r in sorted(best.items()):
        alone = best.get((seconds, "frames"))
        ratio = f"{alone['seconds'] / r['seconds']:.2f}x" if alone else "-"
        print(f"{seconds:>5g}s {mode:<12} {r['frames']:>6} {r['seconds']:>8.1f} {r['frames'] / r['seconds']:>7.2f} "
              f"{ratio:>9} {r['growth_mib']:>20.0f}")


if __name__ == "__main__":
    main()
