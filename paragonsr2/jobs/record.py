"""The job record in an output folder, the folder lock, and removal of a killed run's temporary files.

``OUT/.paragonsr2-job.json`` says what made the results there: the content hash (SHA-256) of every model file
the job may run and the settings that change pixels (``settings.RECORDED``). A later run into the same folder
continues the job (finished outputs are skipped) only with the same record; ``kept`` names outputs that were
in the folder before the job began, which are never counted as its results; ``stale`` maps outputs that an
``--overwrite`` run is to replace to their modification time then (unchanged = not replaced yet: redone).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import PART_SUFFIX, remove_orphans, write_bytes
from ..errors import ParagonError
from .settings import JobSettings

RECORD_NAME = ".paragonsr2-job.json"
RECORD_VERSION = 1


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes; an unreadable file is a ParagonError naming it."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as e:
        raise ParagonError(f"model {path}: cannot be read ({e.strerror or e}); check the path and its "
                           "permissions") from None
    return digest.hexdigest()


def job_models(settings: JobSettings) -> dict[str, Path]:
    """role -> model file the job may run: ``model``, plus ``jpeg_model`` (the bundled ``_real`` sibling) when
    no model is named and the bundled default has one."""
    first = settings.first_model()
    if not first.is_file():
        what = "the bundled default model" if settings.model is None else "model"
        hint = "; pass --model FILE" if settings.model is None else ""
        raise ParagonError(f"{what} {first}: no such file" + (" (it is a folder)" if first.is_dir() else "") + hint)
    models = {"model": first}
    sibling = first.with_name(first.name.replace("_default.", "_real."))
    if settings.model is None and sibling != first and sibling.is_file():
        models["jpeg_model"] = sibling
    return models


@dataclass(frozen=True)
class JobRecord:
    """models: role -> {"name", "sha256"}; settings: ``JobSettings.recorded()``; kept: output names that
    were there before the job; stale: output name -> st_mtime_ns of a result of other settings to replace."""

    models: dict
    settings: dict
    kept: tuple[str, ...] = field(default=())
    stale: dict = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: JobSettings) -> JobRecord:
        """Hashes the job's model files (so an unreadable model stops the job before any work)."""
        models = {role: {"name": path.name, "sha256": file_sha256(path)} for role, path in
                  job_models(settings).items()}
        return cls(models=models, settings=settings.recorded())

    def differences(self, other: JobRecord) -> list[str]:
        """One "what: ours -> theirs" line per model or setting that differs (empty: the same job)."""
        lines = []
        for role in sorted(set(self.models) | set(other.models)):
            a, b = self.models.get(role), other.models.get(role)
            if (a or {}).get("sha256") != (b or {}).get("sha256"):
                lines.append(f"{role}: {_model_text(a)} -> {_model_text(b)}")
        for name in sorted(set(self.settings) | set(other.settings)):
            if self.settings.get(name) != other.settings.get(name):
                lines.append(f"{name}: {self.settings.get(name)!r} -> {other.settings.get(name)!r}")
        return lines

    def to_json(self) -> str:
        return json.dumps({"paragonsr2_job": RECORD_VERSION, "models": self.models, "settings": self.settings,
                           "kept": list(self.kept), "stale": self.stale}, indent=1, sort_keys=True) + "\n"


def _model_text(model: dict | None) -> str:
    return "none" if model is None else f"{model.get('name')} (sha256 {str(model.get('sha256'))[:12]})"


def read_record(folder: Path) -> JobRecord | None:
    """The record in ``folder``, or None when there is none. A damaged record is a ParagonError naming it."""
    path = Path(folder) / RECORD_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ParagonError(f"{path}: cannot be read as a job record ({e}); remove it, or pass --overwrite to "
                           "redo every result in that folder") from None
    if not isinstance(data, dict) or data.get("paragonsr2_job") != RECORD_VERSION:
        raise ParagonError(f"{path}: not a job record of this version; remove it, or pass --overwrite to redo "
                           "every result in that folder")
    return JobRecord(models=dict(data.get("models") or {}), settings=dict(data.get("settings") or {}),
                     kept=tuple(data.get("kept") or ()), stale=dict(data.get("stale") or {}))


def write_record(folder: Path, record: JobRecord) -> None:
    write_bytes(Path(folder) / RECORD_NAME, record.to_json().encode("utf-8"))


def mtime_ns(path: Path) -> int | None:
    """A file's modification time in ns, None when it does not exist (an atomic replace always changes it)."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _part_pattern(names: set[str]) -> re.Pattern:
    alternatives = "|".join(re.escape(name) for name in sorted(names))
    return re.compile(rf"^\.(?:{alternatives})\.[0-9a-f]{{8}}{re.escape(PART_SUFFIX)}$")


def remove_parts(folder: Path, names: set[str]) -> int:
    """Removes the temporary files (``.NAME.<hex>.part``) of this job's outputs ``names`` in ``folder``, of
    any age (the folder lock says no other job writes there), and other stale ones (atomic.remove_orphans)."""
    removed = 0
    if names and folder.is_dir():
        pattern = _part_pattern(names)
        for part in folder.glob(f".*{PART_SUFFIX}"):
            if pattern.match(part.name):
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
                    removed += 1
    return removed + remove_orphans(folder)


@contextlib.contextmanager
def locked_folders(folders: list[Path]):
    """Holds an exclusive lock on each output folder (flock on the folder itself: released when the process
    ends, even by SIGKILL) so that two jobs never write into one folder. Folders that do not exist yet are
    not locked (nothing of an earlier run is there). Where locks are not supported (Windows, some network
    filesystems) it goes on without one."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    fds = []
    try:
        for folder in folders:
            if not folder.is_dir():
                continue
            fd = os.open(folder, os.O_RDONLY)
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ParagonError(f"another paragonsr2 job is writing into {folder}; wait for it to finish "
                                   "or choose another output folder") from None
            except OSError:  # no locks on this filesystem
                pass
        yield
    finally:
        for fd in fds:
            os.close(fd)
