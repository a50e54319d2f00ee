"""The models shipped in ``paragonsr2/models/`` (also by name) and the warning for running a model above its
trained scale."""
from __future__ import annotations

import difflib
import os
from pathlib import Path

from ..arch.upsampler import Scale, scale_pair
from ..description import ModelDescription
from ..errors import CheckpointError
from ..validate import ROBUST_BELOW_JPEG_QUALITY
from .detect import scale_from_filename

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "models"


def bundled_models() -> dict[float, Path]:
    """Trained scale -> bundled model file (scale read from the name, e.g. ``4x_ParagonSR2_nano_default``)."""
    found = {}
    for path in sorted(BUNDLED_DIR.glob("*.safetensors")):
        scale = scale_from_filename(path.name)
        if scale is not None:
            found.setdefault(scale, path)
    return found


def bundled_names() -> list[str]:
    """File names of the bundled models, sorted."""
    return sorted(path.name for path in BUNDLED_DIR.glob("*.safetensors"))


def resolve_model(source: str | os.PathLike) -> Path:
    """The file a model argument names: an existing path as is, else a bundled model by file name or stem
    (``2x_ParagonSR2_nano_default``, case-insensitive). Raises CheckpointError listing the bundled names."""
    path = Path(source)
    if path.exists():
        return path
    by_name = {name.lower(): name for name in bundled_names()}
    by_name.update({Path(name).stem.lower(): name for name in bundled_names()})
    if path.name == str(source) and path.name.lower() in by_name:  # a bare name, not a path with folders
        return BUNDLED_DIR / by_name[path.name.lower()]
    near = difflib.get_close_matches(path.name.lower(), list(by_name), n=1, cutoff=0.6)
    hint = f" Did you mean {Path(by_name[near[0]]).stem}?" if near else ""
    raise CheckpointError(f"{source}: no such file, and not the name of a bundled model ("
                          f"{', '.join(Path(n).stem for n in bundled_names())}).{hint}")


def bundled_model(scale: Scale) -> Path | None:
    """The bundled model trained for ``scale`` (same on both axes), or None."""
    sh, sw = scale_pair(scale)
    return bundled_models().get(sh) if sh == sw else None


def model_for_input(default: Path, jpeg_quality: int | None) -> tuple[Path, str]:
    """The bundled file to run on one input: ``default`` (a ``*_default`` file) or, for a JPEG of quality
    below ROBUST_BELOW_JPEG_QUALITY, its ``*_real`` sibling where one ships. Returns (file, why; "" = default)."""
    robust = default.with_name(default.name.replace("_default.", "_real."))
    if jpeg_quality is None or jpeg_quality >= ROBUST_BELOW_JPEG_QUALITY or robust == default or not robust.is_file():
        return default, ""
    return robust, f"JPEG input of quality {jpeg_quality} (< {ROBUST_BELOW_JPEG_QUALITY})"


def scale_warning(model_or_description, scale: Scale | None = None) -> str | None:
    """One line when ``scale`` (default: the model's own) exceeds the file's trained scale, else None.

    model_or_description: a model from ``load_model`` (or anything with ``.description``) or a
    :class:`ModelDescription`. Names the bundled model of that scale when there is one. Files whose trained
    scale is unknown (stored nowhere) give None.
    """
    desc = model_or_description
    for attribute in ("model", "net", "description"):  # spandrel descriptor -> (BorderPad ->) model -> it
        if not hasattr(desc, "trained_scale"):  # by attribute: ComfyUI may import the pack a second time
            desc = getattr(desc, attribute, desc)
    if not hasattr(desc, "trained_scale"):
        return None
    if desc.trained_scale is None:
        return None
    run = scale_pair(scale) if scale is not None else tuple(desc.scale)
    trained = tuple(desc.trained_scale)
    if run[0] <= trained[0] and run[1] <= trained[1]:
        return None
    times = ModelDescription.times
    text = (f"{desc.source} was trained for {times(trained)}; at {times(run)} it is worse than a model trained "
            f"for {times(run)} and can be worse than bicubic")
    better = bundled_model(run)
    if better is not None and better.name != desc.source:
        return f"{text}: use the bundled {better.name}"
    return text + "; train or download a model for that scale"
