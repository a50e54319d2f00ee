"""``python -m paragonsr2 info|upscale|convert|export``.

Exit codes: 0 success, 1 some inputs failed (others done), 2 bad arguments or unusable model/file,
3 a needed optional package is missing, 130 interrupted.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import sys
from pathlib import Path

from .errors import MissingDependencyError, ParagonError

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_MISSING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_MODEL = Path(__file__).parent / "models" / "2x_ParagonSR2_nano_default.safetensors"


def _scale_arg(text: str):
    parts = [float(p) for p in text.lower().replace("x", ",").split(",") if p]
    if not parts or any(p <= 0 for p in parts) or len(parts) > 2:
        raise argparse.ArgumentTypeError(f"scale must be a positive number or 'SHxSW', got {text!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _tile_arg(text: str):
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    return int(text)


def _model_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--scale", type=_scale_arg, help="override the scale (e.g. 2, 3, 2.5 or 2x3)")
    p.add_argument("--alpha", type=float, help="override upsampler_alpha (0..1)")
    p.add_argument("--strict-upstream", action="store_true",
                   help="reproduce upstream exactly (identity kernels for EMA files)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m paragonsr2", description="ParagonSR2 super-resolution tools")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="describe a checkpoint")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _model_args(p)

    p = sub.add_parser("upscale", help="upscale image files, folders or globs")
    p.add_argument("inputs", nargs="+", help="images, folders or globs; the last path is the output when "
                   "two or more are given and it is a folder or has an image extension")
    p.add_argument("-o", "--output", help="output file (one input) or folder")
    p.add_argument("--model", default=None, help=f"checkpoint, or a TensorRT .engine from `export` "
                   f"(default: the bundled {DEFAULT_MODEL.name})")
    p.add_argument("--tile", type=_tile_arg, default="auto", help="auto, none or LR core size in px")
    p.add_argument("--backend", default="pytorch", choices=["pytorch", "onnxruntime", "tensorrt"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--format", default=None, choices=["png", "jpg", "webp"], help="output format for folders")
    p.add_argument("--overwrite", action="store_true", help="allow writing over existing files, inputs too")
    p.add_argument("--no-progress", action="store_true")
    _model_args(p)

    p = sub.add_parser("convert", help="write a checkpoint as this project's .safetensors with metadata")
    p.add_argument("model")
    p.add_argument("output")
    p.add_argument("--fuse", action="store_true", help="release fusion (drop the kernel generator)")
    p.add_argument("--overwrite", action="store_true")
    _model_args(p)

    p = sub.add_parser("export", help="export ONNX (fp32/fp16/int8) or a TensorRT engine")
    p.add_argument("model")
    p.add_argument("--format", default="onnx", choices=["onnx", "tensorrt"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"])
    p.add_argument("--calib", help="folder of images for INT8 calibration")
    p.add_argument("--calib-count", type=int, default=32)
    p.add_argument("--calib-size", type=int, default=128)
    p.add_argument("--fp16-io", action="store_true", help="fp16 inputs/outputs (default float32)")
    p.add_argument("--int8-symmetric", action="store_true",
                   help="INT8 ONNX for TensorRT: int8 activations with zero point 0 (slower in ONNX Runtime)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("-o", "--output", help="output path (default beside the model)")
    p.add_argument("--overwrite", action="store_true")
    _model_args(p)
    return parser


def _load(args, fuse=False):
    from .checkpoint import load_model

    return load_model(args.model, scale=args.scale, upsampler_alpha=args.alpha,
                      strict_upstream=args.strict_upstream, fuse=fuse)


def cmd_info(args) -> int:
    model = _load(args)
    print(model.description.to_json() if args.json else model.description)
    return EXIT_OK


def cmd_convert(args) -> int:
    from .checkpoint import save_model

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise ParagonError(f"{out} exists; pass --overwrite to replace it")
    model = _load(args, fuse="release" if args.fuse else False)
    save_model(model, out)
    print(f"wrote {out}")
    return EXIT_OK


def expand_inputs(patterns: list[str]) -> list[Path]:
    from .imageio import IMAGE_EXT

    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXT)
        elif any(ch in pattern for ch in "*?["):
            found += sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        else:
            found.append(path)
    return found


def _plan_outputs(args) -> list[tuple[Path, Path]]:
    from .imageio import IMAGE_EXT

    inputs = list(args.inputs)
    output = args.output
    if output is None and len(inputs) >= 2:
        last = Path(inputs[-1])
        if last.suffix.lower() in IMAGE_EXT and not last.exists() or last.is_dir() or \
                (not last.exists() and not last.suffix):
            output = inputs.pop()
    sources = expand_inputs(inputs)
    if not sources:
        raise ParagonError(f"no input images found in {' '.join(inputs)}")
    ext = f".{args.format}" if args.format else None
    if output and Path(output).suffix.lower() in IMAGE_EXT and len(sources) == 1 and not Path(output).is_dir():
        return [(sources[0], Path(output))]
    folder = Path(output) if output else None
    pairs = []
    for src in sources:
        suffix = ext or (src.suffix if src.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") else ".png")
        name = src.stem + (suffix if folder else f"_paragonsr2{suffix}")
        pairs.append((src, (folder or src.parent) / name))
    return pairs


def cmd_upscale(args) -> int:
    from .checkpoint import load_model
    from .engine import make_backend, upscale
    from .imageio import read_image, write_image

    model_path = args.model or DEFAULT_MODEL
    if args.model is None and not DEFAULT_MODEL.is_file():
        raise ParagonError(f"the bundled default model {DEFAULT_MODEL} is missing; pass --model FILE")
    if str(model_path).lower().endswith(".engine"):  # an exported TensorRT engine runs only in TensorRT
        backend = make_backend(model_path, "tensorrt", args.precision, args.device)
    else:
        model = load_model(model_path, scale=args.scale, upsampler_alpha=args.alpha,
                           strict_upstream=args.strict_upstream, fuse=True)
        backend = make_backend(model, args.backend, args.precision, args.device)
    failures = 0
    pairs = _plan_outputs(args)
    for src, dst in pairs:
        if dst.exists() and not args.overwrite:
            print(f"skip {src}: {dst} exists (pass --overwrite)", file=sys.stderr)
            failures += 1
            continue
        try:
            image = read_image(src)
            bar = _progress_bar(src.name, args.no_progress)
            out = upscale(backend, image, tile=args.tile, layout="BCHW", progress=bar)
            write_image(dst, out)
            print(f"{src} -> {dst} ({image.shape[-1]}x{image.shape[-2]} -> {out.shape[-1]}x{out.shape[-2]})")
        except ParagonError as e:
            print(f"error: {e}", file=sys.stderr)
            failures += 1
    return EXIT_OK if failures == 0 else EXIT_PARTIAL


def _progress_bar(label: str, disabled: bool):
    if disabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    bar = tqdm(desc=label, unit="tile", leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
    return update


def cmd_export(args) -> int:
    from .export import export_model

    model = _load(args)
    report = export_model(model, args.output, fmt=args.format, precision=args.precision, calib=args.calib,
                          calib_count=args.calib_count, calib_size=args.calib_size, fp16_io=args.fp16_io,
                          opset=args.opset, overwrite=args.overwrite, source=Path(args.model),
                          int8_symmetric=args.int8_symmetric)
    print(json.dumps(report, indent=2))
    return EXIT_OK


COMMANDS = {"info": cmd_info, "upscale": cmd_upscale, "convert": cmd_convert, "export": cmd_export}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return COMMANDS[args.command](args)
    except MissingDependencyError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_MISSING
    except (ParagonError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
