"""The models shipped in ``paragonsr2/models/`` and the warning for running a model above its trained scale."""
from __future__ import annotations

from pathlib import Path

from ..arch.upsampler import Scale, scale_pair
from ..description import ModelDescription
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
