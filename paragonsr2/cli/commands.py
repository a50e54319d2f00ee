"""The CLI's commands. torch and the library's heavy modules are imported inside each command, so that
`--help` and argument errors answer without them."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..errors import OutputExistsError, ParagonError
from .outputs import plan_upscale

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_MISSING, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "2x_ParagonSR2_nano_default.safetensors"
log = logging.getLogger("paragonsr2")


def load(path, args, fuse=False):
    """load_model for a file (or bundled model name) on the command line; an unusable file is a ParagonError
    naming it."""
    from ..checkpoint import load_model, resolve_model

    path = resolve_model(path)
    if not path.is_file():
        raise ParagonError(f"model {path}: it is a folder, not a model file")
    try:
        return load_model(path, scale=args.scale, upsampler_alpha=args.alpha,
                          strict_upstream=args.strict_upstream, fuse=fuse)
    except (ParagonError, MemoryError):
        raise
    except Exception as e:  # a file the loader did not anticipate: say so, never a traceback
        log.debug("loading %s failed", path, exc_info=True)
        raise ParagonError(f"{path}: cannot be used as a ParagonSR2 model ({type(e).__name__}: {e})") from None


def scale_warning(model) -> str | None:
    """The library's warning for a model run above its trained scale, plus how to pick the better model."""
    from ..checkpoint import bundled_model, scale_warning

    text = scale_warning(model)
    better = bundled_model(model.description.scale) if text else None
    return f"{text} (--model {better})" if better is not None and better.name in text else text


def cmd_info(args) -> int:
    if args.cache:
        from ..compile.cache import describe_cache

        print(describe_cache())
    if args.model:
        model = load(args.model, args)
        print(model.description.to_json() if args.json else model.description)  # its warnings included
    return EXIT_OK


def cmd_convert(args) -> int:
    from ..checkpoint import save_model

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise OutputExistsError([out])
    if out.suffix.lower() != ".safetensors":
        raise ParagonError(f"{out}: convert writes .safetensors files; name the output OUT.safetensors")
    model = load(args.model, args, fuse="release" if args.fuse else False)
    save_model(model, out, upstream=args.upstream)
    print(f"wrote {out}")
    return EXIT_OK


def cmd_export(args) -> int:
    from ..export import export_model, summary_line

    model = load(args.model, args)
    report = export_model(model, args.output, fmt=args.format, precision=args.precision, calib=args.calib,
                          calib_count=args.calib_count, calib_size=args.calib_size, fp16_io=args.fp16_io,
                          opset=args.opset, overwrite=args.overwrite, source=Path(args.model),
                          int8_symmetric=args.int8_symmetric)
    path = Path(report["path"])
    checked = f"; {summary_line(report)}; report: {report['report']}" if "report" in report else ""
    print(f"wrote {path}{checked}")  # one line; the full report is the JSON file
    return EXIT_OK


def cmd_upscale(args) -> int:
    from PIL import Image

    plan = plan_upscale(args.inputs, args.output, overwrite=args.overwrite, fmt=args.format)
    for _, message in plan.problems:
        print(message if message.startswith("skip ") else f"error: {message}", file=sys.stderr)
    failures = len(plan.problems)
    if not plan.pairs:  # nothing to write: no model to load
        print(f"0 written, {failures} failed", file=sys.stderr)
        return EXIT_PARTIAL
    if args.model is None and not DEFAULT_MODEL.is_file():
        raise ParagonError(f"the bundled default model {DEFAULT_MODEL} is missing; pass --model FILE")
    backends = Backends(args)
    pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # --max-pixels (from headers) decides
    try:
        failures += _upscale_all(backends, plan.pairs, args)
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
    if failures:
        print(f"{len(plan.pairs) + len(plan.problems) - failures} written, {failures} failed", file=sys.stderr)
    return EXIT_OK if failures == 0 else EXIT_PARTIAL


def _upscale_all(backends, pairs, args) -> int:
    """Runs every (input, output) pair; one failure never stops the others. Returns the failure count."""
    failures = 0
    for src, dst in pairs:
        try:
            _upscale_one(backends, src, dst, args)
        except ParagonError as e:
            print(f"error: {e}" if str(src) in str(e) else f"error: {src}: {e}", file=sys.stderr)
            failures += 1
        except MemoryError:
            print(f"error: {src}: out of memory; try --tile 256 or a smaller image (--max-pixels)", file=sys.stderr)
            failures += 1
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # one bad input never stops the batch
            log.debug("%s failed", src, exc_info=True)
            print(f"error: {src}: {type(e).__name__}: {e}", file=sys.stderr)
            failures += 1
    return failures


class Backends:
    """The backend for each input: ``--model``'s, or without it the bundled ``_default`` model and, made on
    first use, its ``_real`` sibling for JPEG inputs below the quality where that one is better."""

    def __init__(self, args) -> None:
        self.args, self.made = args, {}
        from ..checkpoint import resolve_model

        model = Path(args.model or DEFAULT_MODEL)  # engines are files as given; checkpoints may be bundled names
        self.first = model if model.suffix.lower() == ".engine" else resolve_model(model)
        self.made[self.first] = self._make(self.first, "")  # made now: a setup error stops the command at once

    def for_image(self, info):
        """The backend for an input whose header says ``info`` (an imageio.ImageInfo)."""
        from ..checkpoint import model_for_input

        path, why = (self.first, "") if self.args.model else model_for_input(self.first, info.jpeg_quality)
        if path not in self.made:
            self.made[path] = self._make(path, why)
        return self.made[path]

    def _make(self, model_path: Path, why: str):
        from ..engine import make_backend

        args = self.args
        if model_path.suffix.lower() == ".engine":  # an exported TensorRT engine runs only in TensorRT
            backend = make_backend(model_path, "tensorrt", args.precision, args.device)
        else:
            model = load(model_path, args, fuse=True)
            if warning := scale_warning(model):
                log.warning(warning)
            chosen = {"backend": args.backend} if args.backend else {}  # none given: the library's default
            backend = make_backend(model, precision=args.precision, device=args.device, **chosen)
        if why:
            print(f"using the bundled {model_path.name} for {why}")
        print(f"running {backend.describe()}")
        return backend


def _upscale_one(backends: Backends, src: Path, dst: Path, args) -> None:
    from ..engine import upscale
    from ..imageio import open_image, write_image
    from .media import is_media, upscale_media

    if is_media(src):  # videos and animated images: streamed frame by frame
        return upscale_media(backends, src, dst, args)
    image, info = open_image(src, max_pixels=args.max_pixels)
    backend = backends.for_image(info)
    bar = _progress_bar(src.name, args.no_progress)
    out = upscale(backend, image, tile=args.tile, layout="BCHW", progress=bar, border=args.border,
                  strict_upstream=args.strict_upstream)
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_image(dst, out, bits=info.bits, gray=info.gray, meta=info.meta)
    print(f"{src} -> {dst} ({image.shape[-1]}x{image.shape[-2]} -> {out.shape[-1]}x{out.shape[-2]})")


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


COMMANDS = {"info": cmd_info, "upscale": cmd_upscale, "convert": cmd_convert, "export": cmd_export}
