"""The artifact cache: where compiled files (ONNX, TensorRT engines) live, keyed by content and versions.

An entry is published (renamed into place) only after its producer's check accepted it, so a crash or a
failed check never leaves a file that a later run would trust. Publishing records the entry's size and
SHA-256 beside it (``NAME.sha256``); before use an entry is checked against that record, and a damaged one
(truncated, garbled, no record) is rebuilt with one warning. Code inside ``noting_builds()`` learns what was
built (what, where), so a first run can say what it prepared and that it is cached.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_write, remove_orphans
from ..version import __version__

log = logging.getLogger("paragonsr2")


def cache_dir() -> Path:
    """$PARAGONSR2_CACHE, else $XDG_CACHE_HOME/paragonsr2, else ~/.cache/paragonsr2."""
    root = os.environ.get("PARAGONSR2_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "paragonsr2")
    return Path(root)


def content_hash(model: nn.Module, *extra: str) -> str:
    """16 hex digits over the weights, scale, alpha, this exporter's and torch's versions and `extra`."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    h.update(repr((tuple(model.scale), model.upsampler_alpha, __version__, torch.__version__, extra)).encode())
    return h.hexdigest()[:16]


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _size_and_hash(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return path.stat().st_size, h.hexdigest()


def record(path: Path) -> None:
    """Records a published entry's size and SHA-256 beside it (``NAME.sha256``: "SIZE HEX")."""
    size, digest = _size_and_hash(path)
    atomic_write(_record_path(path), lambda tmp: Path(tmp).write_text(f"{size} {digest}\n"))


def damage(path: Path) -> str | None:
    """None when ``path`` matches its record, else what is wrong (missing, no record, size or content)."""
    if not path.is_file():
        return "missing"
    try:
        size, digest = _record_path(path).read_text().split()
        size = int(size)
    except (OSError, ValueError):
        return "no size/hash record"
    if path.stat().st_size != size:
        return f"{path.stat().st_size} bytes, {size} when it was made"
    return None if _size_and_hash(path)[1] == digest else "its content differs from when it was made"


def drop_if_damaged(path: Path) -> bool:
    """True when ``path`` is a sound entry; a damaged one is removed (with its record) and one warning logged."""
    problem = damage(path)
    if problem is None:
        return True
    if problem != "missing":
        log.warning("artifact cache: %s is damaged (%s); rebuilding it", path, problem)
    path.unlink(missing_ok=True)
    _record_path(path).unlink(missing_ok=True)
    return False


_BUILDS: ContextVar[list[tuple[str, Path]] | None] = ContextVar("paragonsr2_builds", default=None)


@contextmanager
def noting_builds() -> Iterator[list[tuple[str, Path]]]:
    """Yields a list that collects (what, path) for every cache entry built inside the block."""
    built: list[tuple[str, Path]] = []
    token = _BUILDS.set(built)
    try:
        yield built
    finally:
        _BUILDS.reset(token)


def note_built(what: str, path: Path) -> None:
    """Tells the innermost ``noting_builds()`` block (if any) that `what` was just built at `path`."""
    built = _BUILDS.get()
    if built is not None:
        built.append((what, Path(path)))


def cached(path: Path, produce: Callable[[str], None], accept: Callable[[Path], None] | None = None,
           what: str = "artifact") -> Path:
    """`path` if it is there and matches its record, else made by `produce(tmp)`, checked by `accept(tmp)` (raise
    to refuse), published, recorded (and noted as `what` for ``noting_builds()``)."""
    if drop_if_damaged(path):
        return path
    remove_orphans(path.parent)
    atomic_write(path, produce, accept)
    record(path)
    note_built(what, path)
    return path


def describe_cache() -> str:
    """Where the cache is, what it holds (files and MB per kind) and how to move or clear it."""
    root = cache_dir()
    lines = [f"artifact cache: {root} (set PARAGONSR2_CACHE to move it; delete the folder to clear it, "
             "entries are rebuilt on demand)"]
    kinds = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for kind in kinds:
        files = [p for p in kind.rglob("*") if p.is_file() and p.suffix != ".sha256"]  # entries, not records
        lines.append(f"  {kind.name}: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB")
    if not kinds:
        lines.append("  (empty)")
    return "\n".join(lines)
