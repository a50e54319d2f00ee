"""Image files <-> float tensors [1,C,H,W] in [0,1] (C = 1, 3 or 4), via Pillow and numpy."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .checkpoint.files import atomic_write
from .errors import ParagonError

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF"}


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """[1,C,H,W] float32 in [0,1]; keeps alpha (C=4) and grayscale (C=1); 16-bit PNGs keep precision.

    Animated files give their first frame.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.seek(0)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float32) / 65535.0  # 16-bit grayscale
                arr = np.clip(arr, 0.0, 1.0)[..., None]
            else:
                mode = {"1": "L", "L": "L", "LA": "RGBA", "P": "RGBA" if "transparency" in im.info else "RGB",
                        "RGBA": "RGBA", "PA": "RGBA"}.get(im.mode, "RGB")
                arr = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
                if arr.ndim == 2:
                    arr = arr[..., None]
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ParagonError(f"{path}: cannot read the image ({e}).") from None
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0)


def write_image(path: str | os.PathLike, image: torch.Tensor, quality: int = 95) -> Path:
    """Writes [1,C,H,W] or [C,H,W] in [0,1] by the file extension (PNG/JPEG/WebP/...), atomically."""
    from PIL import Image

    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ParagonError(f"{path}: unknown output format {path.suffix!r}; use .png, .jpg or .webp.")
    t = image[0] if image.dim() == 4 else image
    arr = (t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = arr[..., 0]
    im = Image.fromarray(arr)
    if fmt == "JPEG" and im.mode == "RGBA":
        im = im.convert("RGB")  # JPEG has no alpha
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    return atomic_write(path, lambda tmp: im.save(tmp, format=fmt, **kwargs))
