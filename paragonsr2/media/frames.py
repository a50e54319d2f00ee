"""One frame through the network: RGB(A) [H,W,C] uint8 or uint16 arrays in and out, and the pipeline's
``work`` step built on it (cancel checked per frame and per tile, progress per frame)."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..errors import UpscaleCancelled


def upscale_array(backend, array: np.ndarray, *, tile="auto", border: str = "replicate",
                  strict_upstream: bool = False, cancel=None) -> np.ndarray:
    """[H,W,C] uint8 or uint16 (full range) -> the upscaled [H',W',C] of the same dtype, rounded."""
    from ..engine import upscale

    peak = 65535.0 if array.dtype == np.uint16 else 255.0
    x = torch.from_numpy(np.ascontiguousarray(array).astype(np.float32)).permute(2, 0, 1)[None]
    y = upscale(backend, x.div_(peak), tile=tile, layout="BCHW", border=border, strict_upstream=strict_upstream,
                cancel=cancel)
    y = y[0].permute(1, 2, 0).mul_(peak).add_(0.5).clamp_(0, peak).to(torch.int32).numpy()
    return np.ascontiguousarray(y.astype(array.dtype))


def frame_worker(backend, *, total: int | None = None, progress=None, cancel=None, **options):
    """The pipeline's ``work``: ("frame", f) -> ("frame", f with ``f.array`` upscaled); other items pass.

    progress(done, total) after each frame (total never below done); options go to :func:`upscale_array`.
    """
    done = [0]

    def work(item):
        kind, payload = item
        if kind != "frame":
            return item
        if cancel is not None and cancel():
            raise UpscaleCancelled("upscale cancelled")
        array = upscale_array(backend, payload.array, cancel=cancel, **options)
        done[0] += 1
        if progress is not None:
            progress(done[0], max(total or 0, done[0]))
        return kind, dataclasses.replace(payload, array=array)
    return work
