"""Putting a run's finished model where users pick models, without ever replacing a file the run did not
write: a record in the run folder remembers which file (and which bytes) this run published last."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ._core import atomic_write, remove_stale_parts

RECORD = "published.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _own_file(record: Path) -> Path | None:
    """The file this run published before, if it is still there unchanged."""
    try:
        data = json.loads(record.read_text())
        path = Path(data["path"])
        return path if path.is_file() and _sha256(path) == data["sha256"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def published_before(folder: Path, run_dir: Path) -> Path | None:
    """The file in ``folder`` this run published last, if it is still there unchanged."""
    own = _own_file(run_dir / RECORD)
    return own if own is not None and own.parent == folder.resolve() else None


def _free_name(folder: Path, stem: str) -> Path:
    candidate, counter = folder / f"{stem}.safetensors", 1
    while candidate.exists():
        candidate = folder / f"{stem}_{counter:03d}.safetensors"
        counter += 1
    return candidate


def publish(src: Path, folder: Path, stem: str, run_dir: Path) -> tuple[Path, str]:
    """Copies ``src`` to ``folder/<stem>.safetensors`` atomically and returns (path, note). The file is
    replaced only when this run published it; otherwise a free ``<stem>_NNN`` name is used and the note says so."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(folder)  # temporary files an earlier killed copy left (older than an hour)
    wanted = folder / f"{stem}.safetensors"
    own = published_before(folder, run_dir)
    if own is not None:
        target, note = own, ""
    elif wanted.exists():
        target = _free_name(folder, stem)
        note = f"{wanted.name} already exists and was not written by this run: saved as {target.name}"
    else:
        target, note = wanted, ""
    atomic_write(target, lambda tmp: shutil.copyfile(src, tmp))
    record = json.dumps({"path": str(target.resolve()), "sha256": _sha256(target)})
    atomic_write(run_dir / RECORD, lambda tmp: Path(tmp).write_text(record))
    return target, note
