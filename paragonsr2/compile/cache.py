"""The artifact cache: where compiled files (ONNX, TensorRT engines) live, keyed by content and versions.

An entry is published (renamed into place) only after its producer's check accepted it, so a crash or a
failed check never leaves a file that a later run would trust. Code inside ``noting_builds()`` learns what was
built (what, where), so a first run can say what it prepared and that it is cached.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_write, remove_orphans
from ..version import __version__


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
    """`path` if it is there, else made by `produce(tmp)`, checked by `accept(tmp)` (raise to refuse), published
    (and noted as `what` for ``noting_builds()``)."""
    if path.is_file():
        return path
    remove_orphans(path.parent)
    out = atomic_write(path, produce, accept)
    note_built(what, out)
    return out
