"""Running a planned job: decide what is done already (the job record), lock and clean the output folders,
then run every remaining file here or on Ray, reporting one :class:`FileResult` per input."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ParagonError
from .plan import Plan, plan_upscale, skip_existing
from .record import JobRecord, locked_folders, mtime_ns, read_record, remove_parts, write_record
from .settings import JobSettings
from .step import FAILED, SKIPPED, Backends, FileResult, upscale_file

Report = Callable[[FileResult], None]


@dataclass
class JobSummary:
    """Counts of one run; ``line()`` is the CLI's last line."""

    written: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, result: FileResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)

    def line(self) -> str:
        return f"{self.written} written, {self.skipped} skipped, {self.failed} failed"


@dataclass
class Decision:
    """What a run does: pairs to run, results known before running (skipped, refused), the record to write."""

    pairs: list[tuple[Path, Path]]
    known: list[FileResult]
    record: JobRecord | None


def decide(plan: Plan, settings: JobSettings, overwrite: bool = False) -> Decision:
    """Splits ``plan.existing`` into outputs this job finished earlier (skipped), results of other settings
    that an ``--overwrite`` run had not replaced yet (run again) and foreign files (refused).

    Into an output folder, the folder's job record must match this job's (model hashes, settings) unless
    ``overwrite``; otherwise a ParagonError says what differs, before any work. Without a folder (one output
    file, or the working directory) existing outputs are refused as before.
    """
    known = [FileResult(str(src), "", FAILED, message) for src, message in plan.problems]
    if plan.folder is None or not (plan.pairs or plan.existing):
        known += [FileResult(str(s), str(d), FAILED, skip_existing(s, d)) for s, d in plan.existing]
        return Decision(list(plan.pairs), known, None)
    old = read_record(plan.folder)
    new = JobRecord.for_settings(settings)  # an unreadable model file stops here
    if old is not None and not overwrite and (changed := old.differences(new)):
        raise ParagonError(f"{plan.folder} holds results of a job with other settings ("
                           + "; ".join(changed) + "). Pass --overwrite to redo them with these settings, "
                           "or choose another output folder.")
    continuing = old is not None and not overwrite
    kept = set(old.kept) if continuing else set()
    stale = dict(old.stale) if continuing else {dst.name: t for _, dst in plan.pairs if (t := mtime_ns(dst))}
    pairs = list(plan.pairs)
    for src, dst in plan.existing:
        if old is not None and dst.name not in kept:
            if dst.name in stale and stale[dst.name] == mtime_ns(dst):  # an --overwrite run stopped before it
                pairs.append((src, dst))
                continue
            stale.pop(dst.name, None)
            known.append(FileResult(str(src), str(dst), SKIPPED, f"skip {src}: {dst} is done"))
        else:  # there before the job began: not its result
            known.append(FileResult(str(src), str(dst), FAILED, skip_existing(src, dst)))
            kept.add(dst.name)
    return Decision(pairs, known, replace(new, kept=tuple(sorted(kept)), stale=stale))


class LocalRunner:
    """Runs every file in this process, one after another (``progress(label)`` gives a per-tile callback)."""

    def __init__(self, settings: JobSettings, progress: Callable[[str], Callable | None] | None = None,
                 step: Callable = upscale_file) -> None:
        self.settings, self.progress, self.step = settings, progress, step
        self.backends = None

    def setup(self) -> None:
        self.backends = Backends(self.settings)  # a model or backend error stops the job before any input

    def run(self, pairs: list[tuple[Path, Path]], report: Report) -> None:
        with pillow_without_limit():
            for src, dst in pairs:
                bar = self.progress(src.name) if self.progress else None
                report(self.step(self.backends, src, dst, self.settings, bar))


@contextlib.contextmanager
def pillow_without_limit():
    """Pillow's own pixel limit off while a job runs: ``max_pixels`` (read from headers) decides."""
    from PIL import Image

    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def run_job(plan: Plan, settings: JobSettings, *, overwrite: bool = False, runner=None,
            report: Report | None = None) -> JobSummary:
    """Runs ``plan`` (from ``plan_upscale``): results known in advance are reported first, then each file as
    it finishes. runner: LocalRunner (default) or ``cluster.RayRunner``. Setup errors (model, backend, Ray
    connection, settings that differ from the folder's record) raise ParagonError before anything is written.
    """
    summary = JobSummary()

    def counted(result: FileResult) -> None:
        summary.add(result)
        if report is not None:
            report(result)

    decision = decide(plan, settings, overwrite)
    for result in decision.known:
        counted(result)
    if not decision.pairs:  # nothing to write: no model loaded, no record written
        return summary
    runner = runner if runner is not None else LocalRunner(settings)
    runner.setup()
    folders = sorted({dst.parent for _, dst in decision.pairs})
    names = {folder: {dst.name for _, dst in decision.pairs if dst.parent == folder} for folder in folders}
    with locked_folders(folders):
        for folder in folders:
            remove_parts(folder, names[folder])
        if decision.record is not None and read_record(plan.folder) != decision.record:
            write_record(plan.folder, decision.record)
        try:
            runner.run(decision.pairs, counted)
        finally:  # temporaries of workers that died mid-write (all writers of this job are done)
            for folder in folders:
                remove_parts(folder, names[folder])
    return summary


def upscale_batch(inputs: list, output, settings: JobSettings | None = None, *, overwrite: bool = False,
                  ray: bool | str = False, workers: int = 1, report: Report | None = None) -> JobSummary:
    """Upscales image files, folders or globs ``inputs`` into the folder or file ``output`` (the CLI's
    ``upscale IN... -o OUT``), resuming a job found there. ray: False (here), True (a local Ray instance, or
    the cluster in RAY_ADDRESS) or an address; workers: Ray actors, one model and backend each."""
    settings = settings or JobSettings()
    plan = plan_upscale([str(p) for p in inputs], str(output), overwrite=overwrite, fmt=settings.fmt)
    runner = None
    if ray is not False:
        from .cluster import RayRunner

        runner = RayRunner(settings, address=None if ray is True else ray, workers=workers)
    return run_job(plan, settings, overwrite=overwrite, runner=runner, report=report)



