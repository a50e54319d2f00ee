"""On an NVIDIA GPU: the pack's Upscale node (defaults: backend auto, precision auto, tile auto) against ComfyUI
core's "Upscale Image (using Model)" on the same image and the same bundled x2 file, interleaved.

    python3 bench/gpu_node_vs_core.py [--comfy COMFY_DIR] [--rounds 5] [--size 1024] [--image PHOTO]

With a ComfyUI tree (--comfy, else $COMFY_DIR, else the harness's), both sides are the real nodes: core's
ImageUpscaleWithModel.execute on the spandrel descriptor, and the pack imported as ComfyUI imports it (V3 node
classes, real comfy.model_management). Without one, the pack runs under tests/comfy_stubs.py and the core side is
bench/comfy_baseline.py, the re-implementation of core's tiling (a secondary comparison, labelled as such).
The first (cold) run of each side is reported apart (the pack builds its TensorRT engine there when tensorrt is
installed; later runs load it from the cache). Prints a markdown table and the node's text (which path ran).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
MODEL = "2x_ParagonSR2_nano_default.safetensors"
DEFAULT_COMFY = Path(os.environ.get("COMFY_DIR", Path.home() / ".cache" / "sr-harness" / "comfyui"))


def image(path: str | None, size: int) -> torch.Tensor:
    """[1,size,size,3] float in 0..1 (ComfyUI's IMAGE), as bench/comfy_speed.py feeds the CPU comparison."""
    sys.path.insert(0, str(ROOT / "bench"))
    from comfy_speed import photo

    return torch.from_numpy(photo(path, size).astype(np.float32) / 255).unsqueeze(0)


def import_pack(name: str = "paragonsr2_pack"):
    """The pack as ComfyUI's loader imports it: a package whose folder is the repository root."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def node_runner(module, node_id: str):
    """call(**inputs) -> (outputs, ui) for one of the pack's nodes, V3 or V1, as ComfyUI calls it."""
    if hasattr(module, "comfy_entrypoint"):
        classes = {c.define_schema().node_id: c for c in
                   asyncio.run(asyncio.run(module.comfy_entrypoint()).get_node_list())}
        cls = classes[node_id]
        cls.hidden = type("Hidden", (), {"unique_id": "1"})()

        def call(**kw):
            out = cls.execute(**kw)
            return out.args, out.ui
        return call
    cls = module.NODE_CLASS_MAPPINGS[node_id]

    def call_v1(**kw):
        out = getattr(cls(), cls.FUNCTION)(unique_id="1", **kw)
        return (out["result"], out["ui"]) if isinstance(out, dict) else (out, None)
    return call_v1


def sides(comfy_dir: Path):
    """(label, pack upscale(img) -> (out, text), core label, core upscale(img) -> out)."""
    real = (comfy_dir / "comfy" / "model_management.py").is_file()
    if real:
        sys.path.insert(0, str(comfy_dir))
        import comfy.model_management  # noqa: F401 - ComfyUI's device and memory management, as in the server
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        import comfy_stubs

        comfy_stubs.install(Path(os.environ.get("TMPDIR", "/tmp")) / "gpu_bench_models",  # noqa: S108
                            Path(os.environ.get("TMPDIR", "/tmp")) / "gpu_bench_out", with_v3=False)  # noqa: S108
    pack = import_pack()
    (desc, _), _ = node_runner(pack, "ParagonSR2Loader")(model_name=MODEL, scale="auto", scale_value=2.0,
                                                          upsampler_alpha="auto", alpha_value=0.5, fusion="deploy")
    upscale = node_runner(pack, "ParagonSR2Upscale")

    def ours(img):
        (out,), ui = upscale(image=img, upscale_model=desc, tile="auto", backend="auto", precision="auto")
        return out, (ui or {}).get("text", [""])[0]

    from spandrel import ModelLoader

    core_desc = ModelLoader().load_from_file(str(ROOT / "paragonsr2" / "models" / MODEL)).eval()
    if real:
        from comfy_extras.nodes_upscale_model import ImageUpscaleWithModel

        def core(img):
            return ImageUpscaleWithModel.execute(upscale_model=core_desc, image=img).args[0]
        return "pack node (defaults)", ours, "core node (ComfyUI's own code)", core
    sys.path.insert(0, str(ROOT / "bench"))
    from comfy_baseline import comfy_tiled_scale

    def core_reimpl(img):
        net = core_desc.model.cuda()
        x = img.movedim(-1, 1).cuda()
        return comfy_tiled_scale(x, net, 2).clamp(0, 1).movedim(1, -1).cpu()
    return "pack node (defaults, stub ComfyUI)", ours, "core tiling re-implementation (secondary)", core_reimpl


def timed(fn, img):
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(img)
    torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comfy", type=Path, default=DEFAULT_COMFY, help="a ComfyUI tree (its code is imported)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--image", help="a photo (its centre is used); default: the bundled photo, mirrored")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: this bench runs on an NVIDIA GPU machine")
    ours_label, ours, core_label, core = sides(args.comfy)
    img = image(args.image, args.size)
    cold_ours, (_, first_text) = timed(ours, img)
    cold_core, _ = timed(core, img)
    times = {ours_label: [], core_label: []}
    text = first_text
    for r in range(args.rounds):
        order = [(ours_label, ours), (core_label, core)][:: 1 if r % 2 == 0 else -1]
        for label, fn in order:
            t, out = timed(fn, img)
            times[label].append(t)
            if label == ours_label:
                text = out[1]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{torch.cuda.get_device_name()} · {args.size}x{args.size} x2 · {MODEL} · {args.rounds} interleaved rounds")
    print("| side | median s (min) | speed vs core | first run s |\n|---|---|---|---|")
    for label, cold in ((ours_label, cold_ours), (core_label, cold_core)):
        print(f"| {label} | {med[label]:.3f} ({min(times[label]):.3f}) | {med[core_label] / med[label]:.2f}x "
              f"| {cold:.2f} |")
    print("\nnode text, first run:\n  " + first_text.replace("\n", "\n  "))
    print("node text, last run:\n  " + text.replace("\n", "\n  "))


if __name__ == "__main__":
    main()
