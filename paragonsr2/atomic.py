"""Atomic file writes: a temporary file beside the target, checked, then renamed into place.

Readers never see a half-written file and a failed write or check leaves nothing behind. The temporary file
gets mode 0o666 filtered by the process umask (as `open` would), without touching the umask, also when the
writer replaces it (safetensors creates its files 0o600).
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from .errors import ParagonError, WriteError

PART_SUFFIX = ".part"


def _create_temp(path: Path) -> Path:
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{PART_SUFFIX}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue


def atomic_write(path: str | os.PathLike, write: Callable[[str], None],
                 accept: Callable[[Path], None] | None = None) -> Path:
    """Calls ``write(tmp_path)``, then ``accept(tmp_path)`` (raise to refuse), then renames into ``path``.

    An OSError on the way (disk full, file too large, no permission, a file where a folder should be) is
    raised as :class:`WriteError` naming ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temp(path)
    except OSError as e:
        raise WriteError(path, e) from e
    mode = tmp.stat().st_mode & 0o777  # 0o666 less the umask, as a plain open() would give
    try:
        write(str(tmp))
        os.chmod(tmp, mode)  # writers that recreate the file (safetensors: 0o600) get normal permissions back
        if accept is not None:
            accept(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, ParagonError):
            raise WriteError(path, e) from e
        raise
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def remove_orphans(folder: str | os.PathLike, max_age_s: float = 3600.0) -> int:
    """Deletes temporary files of atomic writes in ``folder`` that a killed process left (older than
    ``max_age_s``, so a write in progress elsewhere is not touched). Returns how many were removed."""
    import time

    folder, removed = Path(folder), 0
    if not folder.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    for part in folder.glob(f".*{PART_SUFFIX}"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
        except OSError:
            pass
    return removed
