"""The resumable run state (``<name>.state.pt``): written atomically with the previous one kept as
``<name>.state.prev.pt``, read back with ``weights_only=True``, checked against the run's network."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ._core import TrainError, atomic_write
from .degrade import SETTING_NAMES

# settings that decide the validation split and its LR: a resume that changes one is refused
SPLIT_SETTINGS = frozenset(("val_fraction", "val_images", "val_split", "val_crops", "val_crop", "seed", "scale",
                            "min_size", "max_side", "degradations",
                            *SETTING_NAMES))

log = logging.getLogger("paragonsr2.trainer")


def previous(path: Path) -> Path:
    return path.with_name(path.name.replace(".state.pt", ".state.prev.pt"))


def write_state(path: Path, state: dict) -> None:
    """Keeps the last good state as the previous one, then writes the new one atomically."""
    if path.is_file():
        os.replace(path, previous(path))
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def read_state(path: Path) -> dict | None:
    """The newest readable state (falling back to the previous one), None when the run has none yet."""
    candidates = [p for p in (path, previous(path)) if p.is_file()]
    for p in candidates:
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - a truncated or foreign file: try the previous state
            log.warning("run state %s is unreadable (%s); trying the previous one", p, e)
            continue
        if isinstance(state, dict) and "model" in state and "step" in state:
            if p != path:
                log.warning("resuming from the previous state %s", p)
            return state
        log.warning("run state %s is not a trainer state; trying the previous one", p)
    if candidates:
        raise TrainError(f"the run state {path} cannot be read (cut short by a kill?) and no earlier state can; "
                         "start over: --no-resume on the CLI, resume off on the node, or delete the file")
    return None


def check_identity(state: dict, identity: dict[str, str], path: Path) -> None:
    """TrainError when the saved run trained another network (variant, scale, alpha) than this config."""
    saved = state.get("identity")
    if isinstance(saved, dict) and saved != identity:
        was = ", ".join(f"{k} {saved.get(k)}" for k in identity)
        now = ", ".join(f"{k} {v}" for k, v in identity.items())
        raise TrainError(f"the run in {path.parent} (name {path.name.removesuffix('.state.pt')!r}) was started "
                         f"with {was}, this config asks for {now}: use another name or out_dir, or start over")


def remove_orphans(folder: Path, names: tuple[str, ...]) -> int:
    """Deletes temporary ``.<name>….part`` files that a killed run left for one of ``names``."""
    removed = 0
    for part in folder.glob(".*.part") if folder.is_dir() else ():
        if any(part.name.startswith(f".{n}") for n in names):
            part.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d unfinished file(s) of an interrupted run in %s", removed, folder)
    return removed


def check_resume(saved: dict | None, now: dict, path: Path) -> list[str]:
    """Compares the run's recorded data and settings (``fingerprint``: {"data", "files", "settings"}) with this
    config's. TrainError when the images or a setting that defines the validation split changed (its numbers would
    not compare); returns "name old -> new" for every other changed setting. A state without one is not checked."""
    if not isinstance(saved, dict):
        return []
    where = f"the run in {path.parent} (name {path.name.removesuffix('.state.pt')!r})"
    again = "start over (--no-resume on the CLI, resume off on the node) or use another name"
    if saved.get("data") != now["data"]:
        raise TrainError(f"the images changed since {where} started ({saved.get('files')} files then, "
                         f"{now['files']} now): its validation numbers would not compare; {again}")
    was, cur = saved.get("settings", {}), now["settings"]
    changed = [f"{k} {was.get(k)!r} -> {cur.get(k)!r}" for k in sorted(set(was) | set(cur)) if was.get(k) != cur.get(k)]
    split = [c for c in changed if c.split()[0] in SPLIT_SETTINGS]
    if split:
        raise TrainError(f"{where} validates on another split or LR ({'; '.join(split)}): {again}")
    return changed
