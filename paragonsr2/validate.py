"""One place for the allowed range of every user-settable number (CLI, API, nodes, file metadata).

Plain functions, no torch: the CLI checks arguments with them before anything heavy is imported.
Each ``check_*`` returns the normalised value or raises :class:`InvalidValueError` naming the value
and the allowed range; ``parse_metadata_*`` never raise (unusable metadata is ignored with a warning).
"""
from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass

from .errors import ParagonError


class InvalidValueError(ParagonError, ValueError):
    """A number or setting outside its allowed range (NaN, inf, negative, absurdly large, wrong type)."""


@dataclass(frozen=True)
class Range:
    """Closed interval [lo, hi]; ``integer`` values must be whole numbers."""

    lo: float
    hi: float
    integer: bool = False

    def __str__(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        return f"{kind} from {self.lo:g} to {self.hi:g}"


SCALE = Range(1, 16)  # per axis; file names are read up to 16 too. Fractions (2.5) and pairs (2x3) are allowed
UPSAMPLER_ALPHA = Range(0, 1)  # MagicKernelSharp2021Upsample clamps alpha to [0, 1]; 0 skips the sharpen filter
TILE = Range(32, 65536, integer=True)  # LR core px; 32 = engine.memory.MIN_TILE (smaller tiles are mostly margin)
MAX_PIXELS = Range(1, 1e12, integer=True)  # image size limit in pixels (w * h of the input)
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: larger inputs are refused from the header, before decoding

Scale = float | tuple[float, float]


def _label(name: str, option: str | None) -> str:
    return option or name


def check_number(value, name: str, allowed: Range, option: str | None = None) -> float | int:
    """A finite real number in ``allowed`` (numeric text accepted); int when ``allowed.integer``.

    name: what the value is ("scale"); option: how the user spelled it ("--scale"), used in messages.
    """
    label = _label(name, option)
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidValueError(f"{label} must be {allowed}, got {value!r}") from None
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        raise InvalidValueError(f"{label} must be {allowed}, got {value!r} ({type(value).__name__})")
    try:
        number = float(number)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number) or not allowed.lo <= number <= allowed.hi:
        raise InvalidValueError(f"{label} must be {allowed}, got {value!r}")
    if allowed.integer:
        if number != int(number):
            raise InvalidValueError(f"{label} must be {allowed}, got {value!r}")
        return int(number)
    return number


def check_scale(value, name: str = "scale", option: str | None = None) -> Scale:
    """Scale as a number, a pair (sh, sw) or text "2", "2.5", "2x3", "2,3"; each axis in :data:`SCALE`.

    Returns a float, or a (sh, sw) tuple of floats when the axes differ.
    """
    label = _label(name, option)
    parts = value
    if isinstance(value, str):
        parts = [p for p in value.lower().replace("x", ",").split(",") if p.strip()]
        if len(parts) == 1:
            parts = parts[0]
    if not isinstance(parts, (list, tuple)):
        return check_number(parts, name, SCALE, option)
    try:
        if len(parts) not in (1, 2):
            raise InvalidValueError("wrong length")
        pair = [check_number(p, name, SCALE, option) for p in parts]
    except InvalidValueError:
        raise InvalidValueError(f"{label} must be {SCALE} or a pair SHxSW of them, got {value!r}") from None
    return pair[0] if len(pair) == 1 or pair[0] == pair[1] else (pair[0], pair[1])


def check_alpha(value, name: str = "upsampler_alpha", option: str | None = None) -> float:
    """upsampler_alpha in :data:`UPSAMPLER_ALPHA` (the sharpen blend of the feature upsampler)."""
    return check_number(value, name, UPSAMPLER_ALPHA, option)


def check_tile(value, name: str = "tile", option: str | None = None) -> str | int | None:
    """'auto', None (whole image; also 'none' or 0) or an LR tile size in :data:`TILE`."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "0")):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == 0:
        return None
    try:
        return check_number(value, name, TILE, option)
    except InvalidValueError:
        raise InvalidValueError(f"{_label(name, option)} must be 'auto', 'none' (whole image) or {TILE}, "
                                f"got {value!r}") from None


def check_max_pixels(value, name: str = "max_pixels", option: str | None = None) -> int | None:
    """Largest input image in pixels (width * height); None, 0 or 'none' means no limit.

    Text may use a unit: "100M" / "100MP" (megapixels), "2G" (gigapixels).
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "0")):
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == 0:
        return None
    number = value
    if isinstance(value, str):
        text = value.strip().lower().removesuffix("p")
        factor = {"k": 1e3, "m": 1e6, "g": 1e9}.get(text[-1:], 1)
        try:
            number = float(text[:-1] if factor != 1 else text) * factor
        except ValueError:
            raise InvalidValueError(f"{_label(name, option)} must be {MAX_PIXELS} (or e.g. 100M), "
                                    f"got {value!r}") from None
        number = round(number) if math.isfinite(number) else number
    return check_number(number, name, MAX_PIXELS, option)


def _decode_metadata(value):
    """Safetensors metadata values are text: decode JSON numbers/lists, keep other text as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def parse_metadata_scale(value) -> tuple[Scale | None, str | None]:
    """(scale, None) for usable metadata (a number, "2", [2], [2, 3]), else (None, warning text)."""
    decoded = _decode_metadata(value)
    if isinstance(decoded, (str, dict)) or decoded is None:
        return None, f"metadata scale {value!r} ignored: not a number from 1 to 16 or a pair of them"
    try:
        return check_scale(decoded, "metadata scale"), None
    except InvalidValueError as e:
        return None, f"{e}; ignored"


def parse_metadata_alpha(value) -> tuple[float | None, str | None]:
    """(upsampler_alpha, None) for usable metadata, else (None, warning text)."""
    decoded = _decode_metadata(value)
    if isinstance(decoded, (str, dict, list)) or decoded is None:
        return None, f"metadata upsampler_alpha {value!r} ignored: not {UPSAMPLER_ALPHA}"
    try:
        return check_alpha(decoded, "metadata upsampler_alpha"), None
    except InvalidValueError as e:
        return None, f"{e}; ignored"


# Choices offered to users, torch-free so that `--help` lists them without importing torch. The engine, export
# and arch modules are the users of these lists (tests/test_validate.py checks that they agree).
BACKENDS = ("pytorch", "auto", "onnxruntime", "openvino", "tensorrt")
RUN_PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
EXPORT_FORMATS = ("onnx", "tensorrt", "ncnn")
EXPORT_PRECISIONS = ("fp32", "fp16", "int8")
BORDER_MODES = ("replicate", "reflect", "zeros")  # "zeros": the network's own padding, exact to upstream
DEFAULT_BORDER = "replicate"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")  # image files read and written
ANIMATION_EXTENSIONS = (".gif", ".webp", ".png", ".apng")  # may hold several frames (paragonsr2.media)
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts")  # video files read and written (PyAV)
VIDEO_CODECS = ("h264", "hevc", "av1", "vp9", "ffv1", "png")  # output codecs offered (where the av build has them)
CRF = Range(0, 63, integer=True)  # video quality: constant rate factor (lower = better; 0 = lossless for x264)
TRIM_SECONDS = Range(0, 1e7)  # --start / --duration of a video, in seconds
TRIM_FRAMES = Range(1, 1e9, integer=True)  # --frames: the most frames written
CALIB_COUNT = Range(1, 4096, integer=True)  # INT8 calibration images read
CALIB_SIZE = Range(32, 4096, integer=True)  # px, side of each calibration crop
OPSET = Range(13, 20, integer=True)  # ONNX opset: 13 = per-channel Q/DQ (INT8); 20 = torch's TorchScript exporter max

# Below this JPEG quality the bundled ``_real`` model beats ``_default`` (level at q90: README, quality table).
ROBUST_BELOW_JPEG_QUALITY = 90
