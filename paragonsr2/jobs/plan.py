"""Which files a job reads and where each result goes (paths only: nothing is read or written here).

Grammar: ``upscale IN... [-o OUT]``, plus ``upscale IN OUT`` (exactly two paths, no ``-o``) when OUT is a folder
or does not exist yet, or is an existing file and ``--overwrite`` is given. Without an output, results go to the
working directory as ``<name>_paragonsr2.<ext>``; folders and globs never pick up such files as inputs.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParagonError, exists_message
from ..validate import IMAGE_EXTENSIONS as IMAGE_EXT
from ..validate import VIDEO_EXTENSIONS

INPUT_EXT = IMAGE_EXT + VIDEO_EXTENSIONS  # what folders and globs pick up, and what names a one-file output

OVERWRITE = "--overwrite"  # how CLI messages name the option (errors.exists_message words them all)
OUTPUT_SUFFIX = "_paragonsr2"  # names of results written to the default folder (the working directory)


@dataclass
class Plan:
    """pairs: (input, output) to run; existing: (input, output) whose output exists already (without
    --overwrite; the job decides: done earlier, or refused); problems: (input, message) refused before running;
    folder: the output folder (``-o FOLDER``) or None (one output file, or the working directory)."""

    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    existing: list[tuple[Path, Path]] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    folder: Path | None = None


def is_own_output(path: Path) -> bool:
    return path.stem.endswith(OUTPUT_SUFFIX)


def _has_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def split_output(paths: list[str], output: str | None, overwrite: bool) -> tuple[list[str], str | None]:
    """(inputs, output) from the positional paths and ``-o``; see the module docstring for the grammar."""
    if output is not None or len(paths) != 2 or _has_glob(paths[1]):
        return list(paths), output
    last = Path(paths[1])
    if last.is_dir() or paths[1].endswith(("/", "\\")) or not last.exists():
        return paths[:1], paths[1]
    if overwrite:
        return paths[:1], paths[1]
    raise ParagonError(f"{exists_message([paths[1]], OVERWRITE)} with the result; to upscale both files, "
                       "name an output folder with -o FOLDER")


def _glob_depth(path: Path) -> int:
    """How many leading parts of ``path`` are literal (before the first wildcard part)."""
    return next((i for i, part in enumerate(path.parts) if _has_glob(part)), len(path.parts))


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and folder in path.resolve().parents


def expand_inputs(patterns: list[str], exclude: Path | None = None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(images, problems): files as given; folders and globs give their image files (not recursive for
    folders; `**` in globs recurses), skipping earlier results (``*_paragonsr2.*``; anything under the
    output folder ``exclude`` unless that is the searched folder itself) and hidden files."""
    exclude = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for pattern in patterns:
        path = Path(pattern)
        base = Path(*path.parts[:_glob_depth(path)])  # the folder itself, or a glob's literal folder
        skip = None if exclude is None or base.resolve() == exclude else exclude  # -o the input folder itself
        if path.is_dir():
            listed = sorted(p for p in path.iterdir() if p.is_file())
        elif _has_glob(pattern):
            listed = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        elif path.is_file():
            found.append(path)
            continue
        else:
            problems.append((path, f"{pattern}: no such file or folder"))
            continue
        found += [p for p in listed if p.suffix.lower() in INPUT_EXT and not is_own_output(p)
                  and not p.name.startswith(".") and not _inside(p, skip)]
    unique = list(dict.fromkeys(p.resolve() for p in found))
    by_resolved = {p.resolve(): p for p in reversed(found)}
    return [by_resolved[r] for r in unique], problems


def check_output_location(path: Path, folder: bool) -> None:
    """Raises ParagonError naming ``path`` (an output file, or a folder when ``folder``) when it cannot be made:
    a file stands where a folder must be, or the nearest existing folder is not writable."""
    start = path if folder else path.parent
    for place in (start, *start.parents):
        if place.exists():
            if not place.is_dir():
                raise ParagonError(f"output {path}: {place} is a file, not a folder; name another output")
            if not os.access(place, os.W_OK):
                raise ParagonError(f"output {path}: cannot write in {place} (permission denied)")
            return


def output_suffix(src: Path, fmt: str | None) -> str:
    """The result's extension: a video's own; else --format, else the input's when it is writable, else .png."""
    if src.suffix.lower() in VIDEO_EXTENSIONS:
        return src.suffix.lower()
    if fmt:
        return "." + fmt.lower().lstrip(".")
    return src.suffix.lower() if src.suffix.lower() in IMAGE_EXT else ".png"


def skip_existing(src: Path, dst: Path) -> str:
    """The per-file refusal of an output that exists (without --overwrite)."""
    return f"skip {src}: {exists_message([dst], OVERWRITE)}"


def plan_upscale(paths: list[str], output: str | None, *, overwrite: bool = False, fmt: str | None = None,
                 cwd: Path | None = None) -> Plan:
    """Inputs and outputs for ``upscale``. Raises ParagonError for an unusable command line (exit 2);
    per-file refusals (an output that is its own input or another input, two inputs with the same output)
    go to ``problems``; other existing outputs without --overwrite go to ``existing``."""
    inputs, output = split_output(paths, output, overwrite)
    out = Path(output) if output else None
    single_file = out is not None and out.suffix.lower() in INPUT_EXT and not out.is_dir()
    sources, problems = expand_inputs(inputs, exclude=out if out is not None and not single_file else None)
    if not sources:
        raise ParagonError("no input images found in " + " ".join(inputs)
                           + "".join(f"\n  {message}" for _, message in problems))
    if single_file and len(sources) > 1:
        raise ParagonError(f"{len(sources)} input images but the output {out} is one file: pass a folder "
                           "(-o FOLDER) for several inputs")
    if out is not None and out.suffix and not single_file and not out.is_dir():
        raise ParagonError(f"output {out}: unknown image extension {out.suffix!r}; use "
                           + ", ".join(INPUT_EXT) + " or a folder")
    folder = out if out is not None and not single_file else None
    check_output_location(out if single_file else folder or cwd or Path.cwd(), folder=not single_file)
    plan = Plan(problems=problems, folder=folder)
    inputs_resolved = {p.resolve() for p in sources}
    planned: dict[Path, Path] = {}
    for src in sources:
        if single_file:
            dst = out
        elif folder is not None:
            dst = folder / (src.stem + output_suffix(src, fmt))
        else:
            dst = (cwd or Path.cwd()) / (src.stem + OUTPUT_SUFFIX + output_suffix(src, fmt))
        key = dst.resolve()
        if key in planned:
            plan.problems.append((src, f"skip {src}: its output {dst} is also the output of {planned[key]}"))
        elif key in inputs_resolved and key != src.resolve():
            plan.problems.append((src, f"skip {src}: its output {dst} is another input of this run"))
        elif dst.exists() and not overwrite:
            if key == src.resolve():
                plan.problems.append((src, skip_existing(src, dst)))
            else:
                planned[key] = src
                plan.existing.append((src, dst))
        else:
            planned[key] = src
            plan.pairs.append((src, dst))
    return plan
