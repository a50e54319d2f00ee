"""Image files <-> float tensors [1,C,H,W] in [0,1] (C = 1, 3 or 4), via Pillow and numpy.

Sizes are checked from the header before anything is decoded (``max_pixels``). Gray stays gray (gray+alpha
is read as RGBA with equal RGB and written back as LA); 16-bit PNGs (any channels) and 16-bit gray TIFFs are
read and written at 16 bits (16-bit colour PNGs are decoded by torchvision and encoded here: Pillow holds 16 bits
only for gray). EXIF orientation is applied on reading.

Metadata (:class:`ImageMeta`, read with the header): the ICC profile and the EXIF block are written back
to PNG, JPEG, WebP and TIFF, the EXIF with its orientation tag reset to 1 (the pixels are stored upright)
and its pixel dimensions set to the output's; PNG text chunks (tEXt/zTXt/iTXt) go back into PNG outputs.
"""
from __future__ import annotations

import logging
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ParagonError
from .validate import DEFAULT_MAX_PIXELS
from .validate import IMAGE_EXTENSIONS as IMAGE_EXT  # noqa: F401 (re-exported: imageio.IMAGE_EXT)

WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF"}
META_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")  # take an ICC profile and EXIF
log = logging.getLogger("paragonsr2")


class ImageTooLargeError(ParagonError):
    """An input image over the pixel limit (checked from its header, before decoding)."""


@dataclass(frozen=True)
class ImageMeta:
    """Metadata carried from an input to its result: ICC profile, EXIF block (raw), PNG text chunks."""

    icc: bytes | None = None
    exif: bytes | None = None
    text: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ImageInfo:
    """What a file holds. bits: per channel (8 or 16); gray: L/LA/16-bit gray; alpha: has transparency."""

    width: int
    height: int
    bits: int
    gray: bool
    alpha: bool
    jpeg_quality: int | None = None  # JPEG files: the IJG quality (1-100) their luma table matches best
    meta: ImageMeta = ImageMeta()


# The IJG (libjpeg) base luminance quantisation table (natural order).
IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
            14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)


def ijg_table(quality: int) -> list[int]:
    """libjpeg's luma steps at ``quality`` (1-100): base scaled by 5000/q % (q < 50) or (200 - 2q) %, in 1..255."""
    percent = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (base * percent + 50) // 100)) for base in IJG_LUMA]


def jpeg_quality(luma_table) -> int | None:
    """The IJG quality (1-100) whose luma table is closest to ``luma_table`` (64 steps, any order); else None.

    Exact for files written by libjpeg or Pillow; the nearest IJG quality for other encoders' tables.
    """
    steps = sorted(luma_table)
    if len(steps) != len(IJG_LUMA):
        return None
    return min(range(1, 101), key=lambda q: sum(abs(a - b) for a, b in zip(sorted(ijg_table(q)), steps)))


def _rawmode(im) -> str:
    """The decoder's raw mode: "RGB;16B", "LA;16B" (PNG), ("RGB;16N", ...) (TIFF); "" when unknown."""
    args = im.tile[0].args if im.tile else ""
    return args if isinstance(args, str) else str(args[0]) if isinstance(args, tuple) and args else ""


def _check_size(path, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{path}: {width}x{height} = {width * height / 1e6:.1f} MP is over the limit of "
            f"{max_pixels / 1e6:g} MP; raise it with --max-pixels (0 = no limit) or max_pixels=")


def _open(path, max_pixels: int | None):
    """Pillow image opened lazily (header only), size checked. Caller closes it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            im = Image.open(path)
    except Image.DecompressionBombError as e:  # over Pillow's own (process-wide) limit, which we leave alone
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(pixels.group(1)) / 1e6:.1f} MP" if pixels else "the image"
        raise ImageTooLargeError(f"{path}: {size} is over Pillow's limit Image.MAX_IMAGE_PIXELS = "
                                 f"{Image.MAX_IMAGE_PIXELS / 1e6:.1f} MP (x2); the CLI's --max-pixels replaces it"
                                 ) from None
    except FileNotFoundError:
        raise ParagonError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ParagonError(f"{path}: cannot read the image ({e}).") from None
    try:
        _check_size(path, im.width, im.height, max_pixels)
    except ImageTooLargeError:
        im.close()
        raise
    return im


def probe_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """ImageInfo from the header only; raises ImageTooLargeError over ``max_pixels`` (None: no limit)."""
    with _open(path, max_pixels) as im:
        return _info(im)


def _info(im) -> ImageInfo:
    rawmode = _rawmode(im)  # Pillow opens 16-bit gray+alpha PNGs as mode RGBA; the raw mode says LA;16B
    bits = 16 if im.mode.startswith("I") or im.mode == "F" or ";16" in rawmode else 8
    gray = im.mode in ("1", "L", "LA", "La", "F") or im.mode.startswith("I") or rawmode.startswith(("LA;16", "L;16"))
    alpha = im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info
    tables = getattr(im, "quantization", None) if im.format == "JPEG" else None  # read with the header
    quality = jpeg_quality(tables[min(tables)]) if tables else None
    return ImageInfo(im.width, im.height, bits, gray, alpha, quality, _meta(im))


def _meta(im) -> ImageMeta:
    """ICC profile, EXIF (raw; orientation handled when written) and PNG text of an opened image."""
    icc = im.info.get("icc_profile") or None
    exif = im.info.get("exif") or None
    text = getattr(im, "text", None) if im.format == "PNG" else None  # PNG: read with the header chunks
    pairs = tuple((k, v) for k, v in (text or {}).items() if isinstance(k, str) and isinstance(v, str))
    return ImageMeta(icc, exif if isinstance(exif, bytes) else None, pairs)


def _exif_upright(exif: bytes, width: int, height: int) -> bytes:
    """The EXIF block with orientation 1 (the pixels are written upright) and the output's pixel size."""
    from PIL import Image

    data = Image.Exif()
    data.load(exif)
    if 0x0112 in data:
        data[0x0112] = 1
    sub = data.get_ifd(0x8769)  # the Exif IFD: PixelXDimension / PixelYDimension
    for tag, value in ((0xA002, width), (0xA003, height)):
        if tag in sub:
            sub[tag] = value
    return data.tobytes()


def _save_options(fmt: str, meta: ImageMeta | None, width: int, height: int) -> dict:
    """Pillow save options that carry ``meta`` into a file of format ``fmt``."""
    if meta is None or fmt not in META_FORMATS:
        return {}
    options: dict = {}
    if meta.icc:
        options["icc_profile"] = meta.icc
    if meta.exif:
        try:
            options["exif"] = _exif_upright(meta.exif, width, height)
        except (OSError, ValueError, SyntaxError, TypeError, KeyError):
            log.warning("unreadable EXIF block not copied")
    if meta.text and fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        for key, value in meta.text:
            if value.isascii() and key.isascii():
                info.add_text(key, value)
            else:
                info.add_itxt(key, value)
        options["pnginfo"] = info
    return options


def _read_png16(path) -> np.ndarray | None:
    """[H,W,C] uint16 of a 16-bit PNG (any channel count) via torchvision, or None without it."""
    try:
        from torchvision.io import ImageReadMode, decode_png, read_file
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 points to torchcodec
        return decode_png(read_file(str(path)), ImageReadMode.UNCHANGED).permute(1, 2, 0).numpy()


def _decode(im, path, info: ImageInfo) -> np.ndarray:
    """[H,W,C] float32 in [0,1] with C = 1 (gray), 3 or 4 (gray+alpha becomes RGBA with equal RGB)."""
    if im.mode.startswith("I"):  # 16-bit (or 32-bit int) gray
        return np.clip(np.asarray(im, dtype=np.float32) / 65535.0, 0.0, 1.0)[..., None]
    if im.mode == "F":  # float gray (TIFF), taken as [0, 1]
        return np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32)), 0.0, 1.0)[..., None]
    if info.bits == 16 and im.format == "PNG" and (arr16 := _read_png16(path)) is not None:
        arr = arr16.astype(np.float32) / 65535.0
    else:
        if info.bits == 16:
            log.warning("%s: 16-bit %s read with 8 bits (Pillow cannot decode it at 16 bits)", path, im.mode)
        gray = im.mode in ("1", "L", "LA", "La")
        mode = ("LA" if info.alpha else "L") if gray else ("RGBA" if info.alpha else "RGB")
        arr = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
        if arr.ndim == 2:
            arr = arr[..., None]
    if arr.shape[2] == 2:  # gray + alpha: the engine runs RGB(A); written back as LA (ImageInfo.gray)
        arr = np.concatenate([arr[..., :1].repeat(3, axis=2), arr[..., 1:]], axis=2)
    return arr


# EXIF orientation -> the numpy operation that shows the image upright (as PIL's ImageOps.exif_transpose)
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, 3),
           7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: np.rot90(a, 1)}


def _orientation(im) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except (OSError, ValueError, TypeError, SyntaxError):  # unreadable EXIF: take the pixels as stored
        return 1


def open_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS):
    """(tensor [1,C,H,W] float32 in [0,1], ImageInfo). C = 1 (gray), 3, or 4 (alpha; gray+alpha as equal RGB).

    Animated files give their first frame; EXIF orientation is applied (the result is upright).
    Raises ImageTooLargeError over ``max_pixels`` (checked from the header, before decoding; None = no
    limit) and ParagonError for unreadable files.
    """
    import torch

    with _open(path, max_pixels) as im:
        info = _info(im)
        try:
            im.seek(0)
            arr = _decode(im, path, info)
            arr = _ORIENT.get(_orientation(im), lambda a: a)(arr)  # upright, as viewers show it (EXIF)
        except (OSError, ValueError, SyntaxError, RuntimeError) as e:
            raise ParagonError(f"{path}: cannot read the image ({e}).") from None
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0), info


def read_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS):
    """[1,C,H,W] float32 in [0,1]; see :func:`open_image`."""
    return open_image(path, max_pixels)[0]


def _png16_bytes(arr: np.ndarray, options: dict | None = None) -> bytes:
    """A 16-bit PNG of [H,W,C] uint16 (C = 1..4), rows 'Up'-filtered (Pillow writes 16 bits only for gray),
    with the iCCP / eXIf / text chunks of ``options`` (from :func:`_save_options`)."""
    h, w, c = arr.shape
    rows = arr.astype(">u2").reshape(h, w * c).view(np.uint8)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as the PNG 'Up' filter wants
    raw = np.concatenate([np.full((h, 1), 2, np.uint8), up], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    options = options or {}
    extra = b""
    if options.get("icc_profile"):
        extra += chunk(b"iCCP", b"icc\0\0" + zlib.compress(options["icc_profile"]))
    if options.get("exif"):
        extra += chunk(b"eXIf", options["exif"].removeprefix(b"Exif\0\0"))
    if options.get("pnginfo") is not None:
        extra += b"".join(chunk(kind, data) for kind, data, *_ in options["pnginfo"].chunks)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def write_image(path: str | os.PathLike, image, quality: int = 95, *, bits: int = 8, gray: bool = False,
                meta: ImageMeta | None = None) -> Path:
    """Writes [1,C,H,W] or [C,H,W] in [0,1] by the file extension (PNG/JPEG/WebP/TIFF/BMP/GIF), atomically.

    bits=16 keeps 16 bits per channel in PNG (and gray TIFF); gray=True writes RGB(A) as L(A) (the mean of
    RGB). JPEG has no alpha: it is dropped with a warning. meta: ICC/EXIF/PNG text to write (module docstring).
    """
    from .checkpoint.files import atomic_write

    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ParagonError(f"{path}: unknown output format {path.suffix!r}; use .png, .jpg, .webp or .tif.")
    t = image[0] if image.dim() == 4 else image
    arr = t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    if gray and arr.shape[2] in (3, 4):
        arr = np.concatenate([arr[..., :3].mean(axis=2, keepdims=True), arr[..., 3:]], axis=2)
    if fmt == "JPEG" and arr.shape[2] in (2, 4):
        log.warning("%s: JPEG has no alpha channel; the transparency was dropped (use .png or .webp to keep it)",
                    path)
        arr = arr[..., :-1]
    if fmt == "WEBP" and arr.shape[2] in (1, 2):  # WebP stores colour only
        arr = np.concatenate([arr[..., :1].repeat(3, axis=2), arr[..., 1:]], axis=2)
    options = _save_options(fmt, meta, arr.shape[1], arr.shape[0])
    if bits == 16 and fmt == "PNG" and arr.shape[2] > 1:
        data = _png16_bytes((arr * 65535.0 + 0.5).astype(np.uint16), options)
        return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    if bits == 16 and fmt in ("PNG", "TIFF") and arr.shape[2] == 1:
        from PIL import Image

        im = Image.fromarray((arr[..., 0] * 65535.0 + 0.5).astype(np.uint16))
    else:
        if bits == 16 and fmt == "TIFF":
            log.warning("%s: Pillow writes colour TIFF with 8 bits only; use .png to keep 16 bits", path)
        from PIL import Image

        u8 = (arr * 255.0 + 0.5).astype(np.uint8)
        im = Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8)
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    return atomic_write(path, lambda tmp: im.save(tmp, format=fmt, **kwargs, **options))
