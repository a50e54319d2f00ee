"""Which files a job reads and where each result goes (paths only: nothing is read or written here).

Grammar: ``upscale IN... [-o OUT]``, plus ``upscale IN OUT`` (exactly two paths, no ``-o``) when OUT is a folder
or does not exist yet, or is an existing file and ``--overwrite`` is given. Without an output, results go to the
working directory as ``<name>_paragonsr2.<ext>``; folders and globs never pick up such files as inputs.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParagonError
from ..validate import IMAGE_EXTENSIONS as IMAGE_EXT

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
    raise ParagonError(f"{paths[1]} exists. To replace it with the result, add --overwrite; to upscale both "
                       f"files, name an output folder with -o FOLDER.")


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
        found += [p for p in listed if p.suffix.lower() in IMAGE_EXT and not is_own_output(p)
                  and not p.name.startswith(".") and not _inside(p, skip)]
    unique = list(dict.fromkeys(p.resolve() for p in found))
    by_resolved = {p.resolve(): p for p in reversed(found)}
    return [by_resolved[r] for r in unique], problems


def output_suffix(src: Path, fmt: str | None) -> str:
    """The result's extension: --format, else the input's when it is writable, else .png."""
    if fmt:
        return "." + fmt.lower().lstrip(".")
    return src.suffix.lower() if src.suffix.lower() in IMAGE_EXT else ".png"


def exists_message(src: Path, dst: Path) -> str:
    return f"skip {src}: {dst} exists (pass --overwrite to replace it)"


def plan_upscale(paths: list[str], output: str | None, *, overwrite: bool = False, fmt: str | None = None,
                 cwd: Path | None = None) -> Plan:
    """Inputs and outputs for ``upscale``. Raises ParagonError for an unusable command line (exit 2);
    per-file refusals (an output that is its own input or another input, two inputs with the same output)
    go to ``problems``; other existing outputs without --overwrite go to ``existing``."""
    inputs, output = split_output(paths, output, overwrite)
    out = Path(output) if output else None
    single_file = out is not None and out.suffix.lower() in IMAGE_EXT and not out.is_dir()
    sources, problems = expand_inputs(inputs, exclude=out if out is not None and not single_file else None)
    if not sources:
        raise ParagonError("no input images found in " + " ".join(inputs)
                           + "".join(f"\n  {message}" for _, message in problems))
    if single_file and len(sources) > 1:
        raise ParagonError(f"{len(sources)} input images but the output {out} is one file: pass a folder "
                           "(-o FOLDER) for several inputs")
    if out is not None and out.suffix and not single_file and not out.is_dir():
        raise ParagonError(f"output {out}: unknown image extension {out.suffix!r}; use "
                           + ", ".join(IMAGE_EXT) + " or a folder")
    folder = out if out is not None and not single_file else None
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
                plan.problems.append((src, exists_message(src, dst)))
            else:
                planned[key] = src
                plan.existing.append((src, dst))
        else:
            planned[key] = src
            plan.pairs.append((src, dst))
    return plan
