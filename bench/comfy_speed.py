"""The speed users see: the pack's Upscale node against ComfyUI's core "Upscale Image (using Model)", inside a
real ComfyUI (the shared harness), on the same 1024x1024 photo and the same bundled x2 file, interleaved.

    python3 bench/comfy_speed.py [--rounds 5] [--image PHOTO] [--no-server]

Starts the harness ComfyUI (COMFY_BASE, COMFY_PORT; COMFY_PIP_REQS=1 installs requirements.txt, the
documented install, into its venv first), then per round runs every workflow once, in a rotating order, each
on its own copy of the photo (so LoadImage and the upscale run again while the model loaders stay cached, as
when a user feeds a workflow new images). Times are ComfyUI's own (comfy_run.py --json exec_s: the whole prompt,
Load Image and Preview Image included); "node" subtracts the median of a workflow without a model (Load Image,
a nearest x2 resize, Preview Image). Rows:

  pack (defaults)      the documented install's path: backend auto, precision auto, tile auto
  pack, slim install   backend pytorch: what auto runs with requirements-slim.txt (no openvino/onnxruntime)
  pack, onnxruntime    backend onnxruntime: what auto runs with onnxruntime but no openvino
  core                 UpscaleModelLoader + ImageUpscaleWithModel on the same file

The first (cold) run of each row is reported apart: it includes loading, and for the pack the one-time
preparation (ONNX export, checks) that is cached for later runs. The default photo is the bundled sample
photo mirrored out to 1024x1024 (speed does not depend on content); --image uses the centre of your photo.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paragonsr2.imageio import read_image  # noqa: E402
from paragonsr2.sample import sample_crop  # noqa: E402

HARNESS = ROOT.parent / "shared" / "harness"
MODEL = "2x_ParagonSR2_nano_default.safetensors"
SIZE = 1024


def photo(path: str | None, size: int = SIZE) -> np.ndarray:
    """size x size RGB uint8: the centre of `path`, or the bundled photo, mirrored out where smaller."""
    img = None
    if path:
        img = read_image(path)
        h, w = img.shape[-2:]
        img = img[..., max(0, (h - size) // 2):, max(0, (w - size) // 2):]
    crop = sample_crop(size, size, img)[0].permute(1, 2, 0).numpy()
    return (crop * 255).round().clip(0, 255).astype(np.uint8)


def workflows() -> dict[str, dict]:
    load = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}}
    preview = {"9": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}}

    def pack(backend: str) -> dict:
        return {**load, "2": {"class_type": "ParagonSR2Loader", "inputs": {
            "model_name": MODEL, "scale": "auto", "scale_value": 2.0, "upsampler_alpha": "auto", "alpha_value": 0.5,
            "fusion": "deploy"}}, "3": {"class_type": "ParagonSR2Upscale", "inputs": {
                "image": ["1", 0], "upscale_model": ["2", 0], "tile": "auto", "backend": backend,
                "precision": "auto"}}, **preview}
    return {
        "pack (defaults)": pack("auto"),
        "pack, slim install": pack("pytorch"),
        "pack, onnxruntime": pack("onnxruntime"),
        "core": {**load, "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": MODEL}},
                 "3": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["2", 0],
                                                                         "image": ["1", 0]}}, **preview},
        "no model": {**load, "3": {"class_type": "ImageScaleBy", "inputs": {
            "image": ["1", 0], "upscale_method": "nearest-exact", "scale_by": 2.0}}, **preview},
    }


def run(url: str, workflow: dict, image: Path, tmp: Path) -> tuple[float, str]:
    """(exec_s, the Upscale node's text or "") of one prompt, through the harness's comfy_run.py."""
    wf = tmp / "wf.json"
    wf.write_text(json.dumps(workflow))
    res = subprocess.run([sys.executable, str(HARNESS / "comfy_run.py"), str(wf), "--url", url, "--upload",
                          f"1.image={image}", "--json", "-q", "--timeout", "900"],
                         capture_output=True, text=True, check=False)
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    if summary["status"] != "success":
        raise SystemExit(f"prompt failed: {summary.get('error')}\n{res.stderr[-3000:]}")
    with urllib.request.urlopen(f"{url}/history/{summary['prompt_id']}", timeout=30) as r:  # noqa: S310
        outputs = json.loads(r.read())[summary["prompt_id"]]["outputs"]
    return float(summary["exec_s"]), (outputs.get("3", {}).get("text") or [""])[0]


def server_up(port: int, base: str) -> str:
    cache = Path(base) / "paragonsr2-cache"  # a fresh artifact cache: the first run prepares what users' does
    if cache.exists():
        shutil.rmtree(cache)
    env = {**os.environ, "COMFY_PORT": str(port), "COMFY_BASE": base, "COMFY_PIP_REQS": "1",
           "PARAGONSR2_CACHE": str(cache)}
    pid = subprocess.run(["bash", str(HARNESS / "comfy_up.sh"), str(ROOT)], env=env, capture_output=True,
                         text=True, check=False)
    if pid.returncode != 0:
        raise SystemExit(f"comfy_up.sh failed ({pid.returncode}):\n{pid.stderr[-3000:]}")
    return pid.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--image", help=f"a photo of at least {SIZE}x{SIZE} (default: the bundled photo, mirrored)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("COMFY_PORT", 8190)))
    ap.add_argument("--base", default=os.environ.get("COMFY_BASE", str(Path(tempfile.gettempdir(), "comfybase-speed"))))
    ap.add_argument("--no-server", action="store_true", help="use a ComfyUI already running on --port")
    ap.add_argument("--only", help="comma-separated row names to run (default: all)")
    args = ap.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    flows = workflows()
    if args.only:
        flows = {k: v for k, v in flows.items() if k in args.only.split(",") or k == "no model"}
    pid = None if args.no_server else server_up(args.port, args.base)
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            base = photo(args.image)
            images = []
            for i in range(args.rounds * len(flows) + len(flows)):  # a distinct file per prompt
                path = tmp / f"bench_{os.getpid()}_{i}.png"
                Image.fromarray(np.roll(base, i, axis=1)).save(path)
                images.append(path)
            times: dict[str, list[float]] = {k: [] for k in flows}
            cold, first_texts, texts = {}, {}, {}
            names = list(flows)
            for name in names:
                cold[name], first_texts[name] = run(url, flows[name], images.pop(), tmp)
                texts[name] = first_texts[name]
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    t, text = run(url, flows[name], images.pop(), tmp)
                    times[name].append(t)
                    texts[name] = text or texts[name]
                print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
                      file=sys.stderr)
    finally:
        if pid:
            subprocess.run(["bash", str(HARNESS / "comfy_down.sh"), pid], check=False,
                           env={**os.environ, "COMFY_PORT": str(args.port), "COMFY_BASE": args.base})
    report(times, cold, first_texts, texts, args)


def report(times: dict, cold: dict, first_texts: dict, texts: dict, args) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    overhead = med.get("no model", 0.0)
    core = med.get("core")
    print(f"\n{SIZE}x{SIZE} x2, bundled {MODEL}, {args.rounds} interleaved rounds, {os.cpu_count()} CPU threads, "
          f"{time.strftime('%Y-%m-%d')}")
    print("| row | prompt median (min) s | node s | prompt vs core | node vs core | first run s |")
    print("|---|---|---|---|---|---|")
    for name in times:
        node = med[name] - overhead
        vs = f"{core / med[name]:.2f}x" if core else "-"
        node_vs = f"{(core - overhead) / node:.2f}x" if core and name != "no model" else "-"
        print(f"| {name} | {med[name]:.2f} ({min(times[name]):.2f}) | "
              f"{node:.2f} | {vs} | {node_vs} | {cold[name]:.2f} |" if name != "no model" else
              f"| {name} (Load Image + resize + Preview Image) | {med[name]:.2f} ({min(times[name]):.2f}) | - | - | "
              f"- | {cold[name]:.2f} |")
    for name, text in texts.items():
        if text:
            print(f"\n{name}: node text, first run\n  " + first_texts[name].replace("\n", "\n  "))
            print(f"{name}: node text, last run\n  " + text.replace("\n", "\n  "))


if __name__ == "__main__":
    main()
