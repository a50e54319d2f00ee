"""Run a ParagonSR2 file through chaiNNer's own PyTorch nodes and compare with the pack's output.

    PYTHONPATH=SITE VENV/bin/python contrib/spandrel/chainner_pytorch.py MODEL IMAGE [--tile none|256|...]

SITE holds a spandrel package with the contribution applied (``apply.py SITE/spandrel``); VENV is a Python with
chaiNNer's backend requirements and torch (see docs/spandrel.md). chaiNNer's *Load Image*, *PyTorch → Load
Model* and *PyTorch → Upscale Image* run through chaiNNer's executor, with the shared harness's driver
(``../shared/harness/chainner_onnx.py``: chaiNNer's registry, ``process.run_node`` and default settings). The
reference is the pack's ``load_model`` network on the whole image (no tiles), clamped to [0, 1].
Prints one JSON line; exit 0 when the 8-bit output differs by at most --max-diff levels, 1 otherwise.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(os.environ.get("SR_HARNESS_DIR", REPO.parent / "shared" / "harness"))
NODES = [
    "packages.chaiNNer_standard.image.io.load_image",
    "packages.chaiNNer_pytorch.pytorch.io.load_model",
    "packages.chaiNNer_pytorch.pytorch.processing.upscale_image",
]
NO_TILING = -1  # chaiNNer's TileSize values: 0 estimate, -1 no tiling, > 0 px


def harness():
    """The shared harness's chaiNNer driver module, with the PyTorch nodes to import."""
    spec = importlib.util.spec_from_file_location("chainner_onnx", HARNESS / "chainner_onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.NODE_MODULES = NODES
    return module


def reference(model_path: Path, bgr: np.ndarray) -> np.ndarray:
    """The pack's output for chaiNNer's float32 BGR HWC image: RGB in, clamped, back to BGR."""
    import torch

    sys.path.insert(0, str(REPO))
    from paragonsr2 import load_model

    model = load_model(model_path)
    x = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    return y[:, :, ::-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("--tile", default="none", help="none, or a tile size in px (chaiNNer's Custom)")
    parser.add_argument("--max-diff", type=float, default=1.0, help="allowed 8-bit difference (default 1)")
    args = parser.parse_args(argv)

    tile = (NO_TILING, 256) if args.tile == "none" else (-3, int(args.tile))
    with tempfile.TemporaryDirectory(prefix="chainner-pytorch-") as storage:
        cn = harness().Chainner(Path(storage))
        img, _, _ = cn.run("chainner:image:load", [args.image])
        desc, _, _ = cn.run("chainner:pytorch:load_model", [args.model])
        # Upscale Image: image, model, custom scale off, scale, tile size, custom tile size, padding none, alpha
        (out,) = cn.run("chainner:pytorch:upscale_image", [img, desc, False, 4, tile[0], tile[1], 0, False])
    ref = reference(args.model, img)
    diff = np.abs(np.round(out * 255) - np.round(ref * 255))
    summary = {"model": str(args.model), "arch": str(desc.architecture.id), "scale": desc.scale,
               "tags": list(desc.tags), "input": list(img.shape), "output": list(out.shape), "tile": args.tile,
               "max_diff_8bit": float(diff.max()), "mean_diff_8bit": float(diff.mean()),
               "spandrel": sys.modules["spandrel"].__file__}
    ok = out.shape == ref.shape and float(diff.max()) <= args.max_diff
    print(json.dumps({**summary, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
