"""``paragonsr2`` / ``python -m paragonsr2``: info, upscale, convert, export.

Exit codes: 0 done (every input written, or skipped as done by an earlier run of the same job); 1 some inputs
failed (the others were written); 2 bad argument, unusable model/file, unreachable Ray cluster or an output folder
holding another job's results (nothing written); 3 a needed optional package is missing (ray for --ray); 4
internal error (a bug: -v shows the traceback); 130 interrupted (run the same command again to continue).
torch is imported only once a command runs (``--help`` and argument errors stay fast).
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import re
import sys
import warnings

from .. import __version__, validate
from ..errors import MissingDependencyError, OutputExistsError, ParagonError, exists_message
from ..jobs.plan import OUTPUT_SUFFIX, OVERWRITE, plan_upscale
from ..jobs.settings import WORKERS, check_ray_address
from .commands import (
    COMMANDS,
    DEFAULT_MODEL,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_MISSING,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
)

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_MISSING", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE",
           "build_parser", "main", "plan_upscale"]

EPILOG = ("exit codes: 0 done (written, or skipped as done earlier); 1 some inputs failed (the others were "
          "written); 2 bad argument, unusable model/file, unreachable Ray cluster or an output folder of another "
          "job; 3 a needed optional package is missing; 4 internal error; 130 interrupted")


class _Parser(argparse.ArgumentParser):
    """argparse with "did you mean ...?" for a mistyped command, choice or option."""

    def error(self, message: str):
        super().error(message + suggestion(message, self))


def suggestion(message: str, parser: argparse.ArgumentParser) -> str:
    """" (did you mean X?)" for argparse's "invalid choice" and "unrecognized arguments" messages, else ""."""
    choice = re.search(r"invalid choice: '?([^' ]+?)'? \(choose from (.+)\)", message)
    if choice:
        typed, known = choice[1], [c.strip(" '") for c in choice[2].split(",")]
    elif message.startswith("unrecognized arguments: "):
        typed = next((w.split("=")[0] for w in message.split()[2:] if w.startswith("-")), "")
        known = [o for action in parser._actions for o in action.option_strings]
    else:
        return ""
    near = difflib.get_close_matches(typed, known, n=1, cutoff=0.6) if typed else []
    return f" (did you mean {near[0]}?)" if near else ""


def _checked(check):
    """An argparse type from a validate.check_* function (argparse then names the option in its message)."""
    def parse(text: str):
        try:
            return check(text)
        except validate.InvalidValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = check.__name__.removeprefix("check_")
    return parse


def _int_in(allowed: validate.Range, name: str):
    return _checked(lambda text: validate.check_number(text, name, allowed))


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=_checked(validate.check_scale),
                   help=f"override the scale: {validate.SCALE}, or SHxSW (e.g. 2, 2.5, 2x3)")
    p.add_argument("--alpha", type=_checked(validate.check_alpha),
                   help=f"override upsampler_alpha: {validate.UPSAMPLER_ALPHA}")
    p.add_argument("--strict-upstream", action="store_true",
                   help="reproduce upstream exactly (identity kernels for EMA files, zero padding at borders)")


MODEL_HELP = f"a checkpoint file or a bundled model's name, e.g. {DEFAULT_MODEL.stem}"


def _video_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("videos (" + " ".join(validate.VIDEO_EXTENSIONS) + "; needs the av package)")
    g.add_argument("--codec", choices=validate.VIDEO_CODECS, help="video codec (default h264; vp9 for .webm); "
                   "ffv1 and png are lossless")
    g.add_argument("--crf", type=_int_in(validate.CRF, "crf"),
                   help=f"quality, {validate.CRF}; lower is better (default: visually lossless, h264 18)")
    g.add_argument("--pix-fmt", help="pixel format (default yuv420p, yuv420p10le for 10-bit input)")
    g.add_argument("--start", type=_checked(lambda t: validate.check_number(t, "start", validate.TRIM_SECONDS)),
                   help="begin at this time in seconds (a preview of part of a clip)")
    g.add_argument("--duration", type=_checked(lambda t: validate.check_number(t, "duration", validate.TRIM_SECONDS)),
                   help="upscale this many seconds")
    g.add_argument("--frames", type=_int_in(validate.TRIM_FRAMES, "frames"), help="upscale at most this many frames")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paragonsr2", description="ParagonSR2 super-resolution tools "
                                     "(also: python -m paragonsr2)", epilog=EPILOG)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks of bugs)")
    parser.add_argument("--version", action="version", version=f"paragonsr2 {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,upscale,convert,export}",
                                parser_class=_Parser)
    parser.commands = sub.choices  # name -> its parser (main() reports unknown options with the command's)

    p = sub.add_parser("info", help="describe a checkpoint (or a bundled model by name); --cache: the artifact "
                       "cache", epilog=EPILOG)
    p.add_argument("model", nargs="?", help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--cache", action="store_true", help="print where the artifact cache is and what it holds")
    _model_args(p)

    p = sub.add_parser(
        "upscale", help="upscale image files, folders or globs", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Upscale images. Forms:\n"
                    "  upscale IN... -o OUT      OUT: an image file (one input) or a folder (created if missing)\n"
                    "  upscale IN OUT            OUT: a folder, a file that does not exist yet, or an existing\n"
                    "                            file with --overwrite\n"
                    "  upscale IN...             results go to the working directory as "
                    f"NAME{OUTPUT_SUFFIX}.EXT\n"
                    "IN: image files, folders (their images, not recursive) or quoted globs ('**' recurses);\n"
                    f"folders and globs skip earlier results (*{OUTPUT_SUFFIX}.*, files under the output folder).\n"
                    "Existing files are never replaced without --overwrite. Into an output folder, a run continues\n"
                    "the job found there: outputs it finished are skipped (its record, .paragonsr2-job.json, holds\n"
                    "the model hash and settings; other settings are refused unless --overwrite).\n"
                    "Gray, gray+alpha and alpha are kept;\n"
                    "16-bit PNG and gray TIFF stay 16-bit; JPEG output drops alpha (with a warning).\n"
                    "Videos and animated GIF/WebP/PNG are upscaled frame by frame (docs/video.md); a video whose\n"
                    "decoding stops midway exits 1, its frames so far in NAME.incomplete.EXT.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="images, videos, folders or globs (then OUT, see above)")
    p.add_argument("-o", "--output", metavar="OUT", help="output image file (one input) or folder")
    bundled = ", ".join(sorted(m.stem for m in DEFAULT_MODEL.parent.glob("*.safetensors")))
    p.add_argument("--model", default=None, help=f"a checkpoint file, a bundled model's name ({bundled}), or a "
                   f"TensorRT .engine from `export` (default: {DEFAULT_MODEL.stem}, and its _real sibling for "
                   f"JPEG inputs below quality {validate.ROBUST_BELOW_JPEG_QUALITY})")
    p.add_argument("--tile", type=_checked(validate.check_tile), default="auto",
                   help=f"auto (default), none (whole image) or the LR tile size in px, {validate.TILE}")
    p.add_argument("--border", default=validate.DEFAULT_BORDER, choices=validate.BORDER_MODES,
                   help="how image borders are extended before the network (default %(default)s; "
                        "zeros = the network's own padding)")
    p.add_argument("--backend", default=None, choices=validate.BACKENDS,
                   help="default: the library's (engine.make_backend); auto = the fastest installed backend that "
                        "stays >= 50 dB from fp32 for this model (checked once per model, cached)")
    p.add_argument("--precision", default="auto", choices=validate.RUN_PRECISIONS)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--format", default=None, choices=[ext.lstrip(".") for ext in validate.IMAGE_EXTENSIONS],
                   help="output format for folder outputs (default: the input's)")
    p.add_argument("--max-pixels", type=_checked(validate.check_max_pixels), default=validate.DEFAULT_MAX_PIXELS,
                   help=f"refuse inputs larger than this many pixels, read from the file header before decoding "
                        f"(default {validate.DEFAULT_MAX_PIXELS // 1_000_000}M; 0 = no limit)")
    p.add_argument("--overwrite", action="store_true", help="allow replacing existing files (inputs too)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   type=_checked(lambda text: check_ray_address(text) if text else text),
                   help="run on Ray: the cluster at ADDRESS (auto, HOST:PORT, ray://HOST:PORT), or a local Ray "
                        "instance when none is given; inputs and outputs must be on a filesystem every worker "
                        "sees (needs: pip install 'paragonsr2[ray]')")
    p.add_argument("--workers", type=_int_in(WORKERS, "workers"), default=None,
                   help=f"Ray actors, each with one loaded model (one GPU each where the cluster has GPUs), "
                        f"{WORKERS}; default 1 (needs --ray)")
    _model_args(p)
    _video_args(p)

    p = sub.add_parser("convert", help="write a checkpoint as this project's .safetensors with metadata",
                       epilog=EPILOG)
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("output", help="OUT.safetensors (never replaced without --overwrite)")
    p.add_argument("--fuse", action="store_true", help="release fusion (drop the kernel generator)")
    p.add_argument("--upstream", action="store_true",
                   help="exactly upstream's keys (no paragonsr2_* scale/alpha keys), for upstream code's strict load")
    p.add_argument("--overwrite", action="store_true")
    _model_args(p)

    p = sub.add_parser("export", help="export ONNX (fp32/fp16/int8) or NCNN (.param + .bin), verified "
                       "against PyTorch, or a TensorRT engine", epilog=EPILOG)
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--format", default="onnx", choices=validate.EXPORT_FORMATS)
    p.add_argument("--precision", default="fp32", choices=validate.EXPORT_PRECISIONS)
    p.add_argument("--calib", metavar="DIR", help="folder of typical images for INT8 calibration (int8 needs it)")
    p.add_argument("--calib-count", type=_int_in(validate.CALIB_COUNT, "calib-count"), default=32,
                   help=f"calibration images read, {validate.CALIB_COUNT}")
    p.add_argument("--calib-size", type=_int_in(validate.CALIB_SIZE, "calib-size"), default=128,
                   help=f"calibration crop side in px, {validate.CALIB_SIZE}")
    p.add_argument("--fp16-io", action="store_true", help="fp16 inputs/outputs (default float32)")
    p.add_argument("--int8-symmetric", action="store_true",
                   help="INT8 ONNX for TensorRT: int8 activations with zero point 0 (slower in ONNX Runtime)")
    p.add_argument("--opset", type=_int_in(validate.OPSET, "opset"), default=17, help=f"ONNX opset, {validate.OPSET}")
    p.add_argument("-o", "--output", help="output file (default: MODEL_<scale>x_<precision>.onnx|.param|.engine in "
                   "the working directory; the verification report goes beside it as NAME.onnx|ncnn.verify.json)")
    p.add_argument("--overwrite", action="store_true")
    _model_args(p)
    return parser


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"{record.levelname.lower()}: {text}" if record.levelno >= logging.WARNING else text


@contextlib.contextmanager
def _cli_output(verbose: bool):
    """Library log records and Python warnings as "warning: ..." lines on stderr while a command runs; the
    logger and warning hooks are restored afterwards (main() may be called in-process, e.g. by tests)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    logger = logging.getLogger("paragonsr2")
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False

    def show(message, category, filename, lineno, file=None, line=None):  # one line each
        logger.warning("%s", message)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # the command's parser names them, with its own usage and the nearest option
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
        if args.command == "info" and not (args.model or args.cache):
            parser.commands["info"].error("name a MODEL (a file or a bundled model's name), or pass --cache")
    except SystemExit as e:  # --help (0) or a bad argument (2: argparse printed the message)
        return int(e.code or 0)
    if args.command == "export" and args.precision == "int8" and not args.calib:
        print("paragonsr2 export: error: --precision int8 needs --calib DIR (a folder of typical images to "
              "calibrate on)", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "upscale" and args.workers is not None and args.ray is None:
        print("paragonsr2 upscale: error: --workers needs --ray (a local Ray instance when no address is given)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.command == "upscale":
        args.workers = args.workers or 1
    if args.command == "export" and args.calib and args.precision != "int8":
        print(f"warning: --calib is used only with --precision int8; ignored for {args.precision}", file=sys.stderr)
    with _cli_output(args.verbose):
        return _run(args)


def _run(args) -> int:
    """The command, with every failure turned into one line and its exit code."""
    try:
        return COMMANDS[args.command](args)
    except MissingDependencyError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_MISSING
    except OutputExistsError as e:  # the library says overwrite=True; the CLI's word for it is --overwrite
        print(f"error: {exists_message(e.paths, OVERWRITE)}", file=sys.stderr)
        return EXIT_USAGE
    except (ParagonError, OSError) as e:  # OSError: a file or folder that cannot be read or written (named)
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("error: out of memory; try a smaller --tile or --max-pixels", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # a bug: one line for the user, the traceback with -v
        logging.getLogger("paragonsr2").debug("internal error", exc_info=True)
        print(f"error: internal error ({type(e).__name__}: {e}); rerun with -v for details and please report "
              "it", file=sys.stderr)
        return EXIT_INTERNAL

if __name__ == "__main__":
    sys.exit(main())
