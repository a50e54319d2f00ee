"""What a file is, from its first bytes: so that a model argument that is not a checkpoint (a text file, an
image, a web page saved under a .pth name, an archive) is refused with what it is, not a parser's exception."""
from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

SNIFF_BYTES = 512
_MAGIC = (  # (prefix, what it is)
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!", "a RAR archive"),
    (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ\x00", "an xz archive"), (b"%PDF", "a PDF document"),
    (b"\x7fELF", "a program (ELF)"), (b"MZ", "a Windows program"), (b"\x1aE\xdf\xa3", "a video (Matroska/WebM)"),
)
CHECKPOINT_KINDS = ("safetensors", "pickle", "torch zip")  # what checkpoint readers may be able to parse


def file_kind(path: str | os.PathLike) -> str:
    """A short description of ``path`` from its content: "safetensors", "pickle", "torch zip" (a PyTorch
    zip checkpoint) or, for anything else, words for a user ("a PNG image", "a text file", "an empty file",
    "a ZIP archive", "an HTML page", "unknown binary data")."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head:
        return "an empty file"
    if _is_safetensors(head, Path(path).stat().st_size):
        return "safetensors"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"AVI ", b"WAVE"):
        return {b"WEBP": "a WebP image", b"AVI ": "an AVI video", b"WAVE": "a WAV sound file"}[head[8:12]]
    if head[4:8] == b"ftyp":
        return "a video or image (ISO media: MP4/MOV/AVIF/HEIC)"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "a tar archive"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return _text_kind(head)


def _is_safetensors(head: bytes, size: int) -> bool:
    """8-byte little-endian header length, then a JSON object that fits in the file."""
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 8 + n <= size


def _zip_kind(path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "a damaged ZIP archive"
    return "torch zip" if any(n.endswith("data.pkl") for n in names) else "a ZIP archive"


def _text_kind(head: bytes) -> str:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # a multi-byte character cut at the end of the sample
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return "unknown binary data"
    if any(ch < " " and ch not in "\t\r\n\f" for ch in text):
        return "unknown binary data"
    lowered = text.lstrip().lower()
    if lowered.startswith(("<!doctype html", "<html")):
        return "an HTML page (a download that saved a web page instead of the file?)"
    if lowered.startswith("version https://git-lfs"):
        return "a Git LFS pointer (run `git lfs pull` to fetch the real file)"
    if lowered.startswith(("{", "[")):
        return "a JSON or other text file"
    return "a text file"
