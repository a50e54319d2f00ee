"""The CLI's commands. torch and the library's heavy modules are imported inside each command, so that
`--help` and argument errors answer without them."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import OutputExistsError, ParagonError
from ..jobs.plan import plan_upscale
from ..jobs.settings import DEFAULT_MODEL  # noqa: F401 (the CLI's default, re-exported)
from ..jobs.step import load

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_MISSING, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


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
    from ..jobs import FAILED, SKIPPED, JobSettings, JobSummary, run_job

    settings = JobSettings.from_args(args)
    plan = plan_upscale(args.inputs, args.output, overwrite=args.overwrite, fmt=args.format)
    shown: set[str] = set()
    summary = JobSummary()

    def report(result) -> None:
        summary.add(result)
        for note in result.notes:
            if note not in shown:  # Ray: every worker makes its backend; say it once
                shown.add(note)
                print(note, flush=True)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if result.status == FAILED:
            text = result.message
            print(text if text.startswith(("skip ", "error: ")) else f"error: {text}", file=sys.stderr)
        elif result.status != SKIPPED:  # skips are counted: a resumed job would print thousands of lines
            print(result.message, flush=True)

    try:
        run_job(plan, settings, overwrite=args.overwrite, runner=_runner(settings, args), report=report)
    except KeyboardInterrupt:
        print(f"{summary.line()} (run the same command again to continue)", file=sys.stderr)
        raise
    print(summary.line(), file=sys.stderr)
    return EXIT_OK if summary.failed == 0 else EXIT_PARTIAL


def _runner(settings, args):
    """The local runner (with a per-tile progress bar), or Ray's for --ray."""
    if args.ray is None:
        from ..jobs import LocalRunner

        return LocalRunner(settings, progress=lambda label: _progress_bar(label, args.no_progress))
    from ..jobs.cluster import RayRunner

    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # Ray's C++ log lines; failures are reported here
    return RayRunner(settings, address=args.ray or None, workers=args.workers,
                     progress=not args.no_progress and sys.stderr.isatty())


def _progress_bar(label: str, disabled: bool):
    if disabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    from ..validate import VIDEO_EXTENSIONS

    unit = "frame" if Path(label).suffix.lower() in VIDEO_EXTENSIONS else "tile"  # videos count frames
    bar = tqdm(desc=label, unit=unit, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
    return update


COMMANDS = {"info": cmd_info, "upscale": cmd_upscale, "convert": cmd_convert, "export": cmd_export}
