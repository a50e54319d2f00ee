"""The upscale engine: layouts and channels in, seamless tiles through a backend, bounded memory out."""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import torch

from ..arch.geometry import DEFAULT_BORDER, border_pad, extend_border
from ..arch.upsampler import target_size
from ..errors import ParagonError, UpscaleCancelled
from ..layouts import Layout, detect_layout, to_nchw  # noqa: F401 (part of the engine API)
from .make import make_backend
from .memory import MIN_TILE, auto_tile
from .protocol import Backend
from .tiles import Rect, output_rect, plan_tiles, split_rect

log = logging.getLogger("paragonsr2")
Progress = Callable[[int, int], None]


class TileRunner:
    """Runs [1,C,H,W] images through a backend in seamless tiles into a preallocated CPU output.

    On out-of-memory the tile is halved and work resumes at the failed tile; finished tiles stay.
    """

    def __init__(self, backend, tile: int | None, margin: int, progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None) -> None:
        self.backend = backend
        self.tile = tile
        self.margin = margin
        self.progress = progress
        self.cancel = cancel
        self.done = 0
        self.total = 0

    def _integer_scale(self) -> tuple[int, int] | None:
        sh, sw = self.backend.scale
        return (int(sh), int(sw)) if float(sh).is_integer() and float(sw).is_integer() else None

    def count(self, height: int, width: int) -> int:
        return len(plan_tiles(height, width, self.tile if self._integer_scale() else None))

    def _tick(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise UpscaleCancelled("upscale cancelled")

    def run(self, image: torch.Tensor, out: torch.Tensor, pad: int = 0) -> None:
        """image [1,C,H,W] float32 CPU, extended by `pad` px on every side -> writes into out [1,C',Ho,Wo]
        (the output of the image without its extension: tiles cover only the original pixels)."""
        _, _, height, width = image.shape
        scale = self._integer_scale()
        if scale is None:  # nearest resize depends on the global size: run the whole image
            self._check_cancel()
            out.copy_(self.backend(image).clamp(0, 1))
            self._tick()
            return
        queue = [Rect(r.y0 + pad, r.y1 + pad, r.x0 + pad, r.x1 + pad)
                 for r in plan_tiles(height - 2 * pad, width - 2 * pad, self.tile)]
        while queue:
            self._check_cancel()
            core = queue[0]
            box = core.grow(self.margin, height, width)
            try:
                y = self.backend(image[:, :, box.y0:box.y1, box.x0:box.x1])
            except Exception as e:
                if not self.backend.is_oom(e):
                    raise
                queue = self._shrink(queue, e)
                continue
            src = output_rect(Rect(core.y0 - box.y0, core.y1 - box.y0, core.x0 - box.x0, core.x1 - box.x0), scale)
            dst = output_rect(Rect(core.y0 - pad, core.y1 - pad, core.x0 - pad, core.x1 - pad), scale)
            out[:, :, dst.y0:dst.y1, dst.x0:dst.x1].copy_(y[:, :, src.y0:src.y1, src.x0:src.x1]).clamp_(0, 1)
            queue.pop(0)
            self._tick()

    def _shrink(self, queue: list[Rect], error: BaseException) -> list[Rect]:
        self.backend.free()
        current = self.tile or max(max(r.height, r.width) for r in queue)
        new_tile = current // 2
        if new_tile < MIN_TILE:
            raise ParagonError(f"out of memory even with {current}px tiles ({error}). Free memory (close other "
                               "programs or models), use a smaller model, or run on the CPU.") from None
        log.warning("out of memory with %dpx tiles; continuing with %dpx tiles", current, new_tile)
        self.tile = new_tile
        pieces = [p for r in queue for p in split_rect(r, new_tile)]
        self.total += len(pieces) - len(queue)
        return pieces


def _to_model_channels(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    if x.shape[1] == in_chans:
        return x
    if x.shape[1] == 1 and in_chans == 3:
        return x.expand(-1, 3, -1, -1)
    if x.shape[1] == 3 and in_chans == 1:
        return x.mean(1, keepdim=True)
    raise ParagonError(f"the model takes {in_chans}-channel images, got {x.shape[1]} channels")


def upscale_tensor(backend: Backend, image: torch.Tensor, *, tile="auto", border: str = DEFAULT_BORDER,
                   progress: Progress | None = None, cancel=None, out: torch.Tensor | None = None) -> torch.Tensor:
    """[B,C,H,W] (C = 1, 3 or 4) float -> [B,C,Ho,Wo] float32 CPU in [0,1].

    out: where to write the result (a [B,C,Ho,Wo] float32 CPU tensor of any strides, e.g. the permuted view
    of a [B,Ho,Wo,C] buffer), so that a batch is held once: peak memory is the output plus one image.

    border: how the image is extended by the backend's margin before the network ("replicate", "reflect",
    or "zeros" for the network's own zero padding, exact to upstream); integer scales only.

    RGBA: RGB goes through the model; alpha is replicated to RGB, upscaled by the same model and
    averaged back to one channel (sharp, consistent edges). Grayscale: replicated to RGB, averaged back.
    """
    b, c, height, width = image.shape
    if height < 1 or width < 1:
        raise ParagonError(f"image of size {width}x{height} is empty")
    if not image.is_floating_point():
        raise ParagonError(f"expected a float image in [0,1], got dtype {image.dtype}")
    margin = backend.margin
    pad = border_pad(margin, backend.scale, border)
    if tile == "auto":
        tile = auto_tile(backend.num_feat, backend.scale, margin, backend.device, elem_size=backend.elem_size,
                         preferred=backend.fastest_tile)
    elif tile in (None, 0, "none"):
        tile = None
    else:
        tile = int(tile)
        if tile < MIN_TILE:
            raise ParagonError(f"tile size {tile} is too small; use at least {MIN_TILE} or 'auto'")
    oh, ow = target_size(height, width, backend.scale)
    out = torch.empty(b, c, oh, ow, dtype=torch.float32) if out is None else out
    runner = TileRunner(backend, tile, margin, progress, cancel)
    passes = [(slice(0, c), c)] if c in (1, 3) and backend.in_chans in (1, 3) else [(slice(0, 3), 3), (slice(3, 4), 1)]
    runner.total = b * len(passes) * runner.count(height, width)
    for i in range(b):
        for channels, n in passes:
            x = image[i:i + 1, channels].to("cpu", torch.float32).contiguous()
            x = extend_border(_to_model_channels(x, backend.in_chans), pad, border)
            y = torch.empty(1, backend.out_chans, oh, ow, dtype=torch.float32)
            runner.run(x, y, pad)
            out[i:i + 1, channels] = y if n == backend.out_chans else y.mean(1, keepdim=True)
    overflow = backend.overflow_tiles
    if overflow:
        warnings.warn(f"{overflow} tile(s) overflowed in fp16 and were redone in fp32", stacklevel=2)
    return out


def upscale(model, image: torch.Tensor, *, tile: int | str | None = "auto", backend: str | Backend = "auto",
            precision: str = "auto", device=None, progress: Progress | None = None,
            cancel: Callable[[], bool] | None = None, layout: Layout = "auto", border: str = DEFAULT_BORDER,
            strict_upstream: bool = False) -> torch.Tensor:
    """Upscales a batch of images with seamless tiles; returns float32 CPU in [0,1], same layout.

    image: float tensor [B,H,W,C] (ComfyUI) or [B,C,H,W], C = 1, 3 or 4, values in [0,1], any
    size from 1x1, any strides. The layout is "BHWC" when the last dim is 1, 3 or 4 (checked
    first, as ComfyUI's IMAGE), else "BCHW" when dim 1 is; pass ``layout`` to force one.
    model: a loaded model (``load_model``), a checkpoint path, or a Backend (``make_backend``).
    backend: a backend name (see ``BACKENDS``) or a Backend.
    tile: "auto" (fastest that fits), an int (LR core px), or None (whole image).
    border: "replicate" (default), "reflect" or "zeros"; ``strict_upstream=True`` means "zeros" (the
    network's own zero padding, as the upstream code runs it).
    progress(done, total) is called per tile; cancel() returning True raises UpscaleCancelled.
    The caller's model is never modified. Output is clamped to [0,1].
    """
    nchw, layout = to_nchw(image, layout)
    if isinstance(model, Backend):
        runner = model
    elif isinstance(backend, Backend):
        runner = backend
    else:
        runner = make_backend(model, backend, precision, device)
    if runner.max_input is not None:  # engines with a shape profile
        limit = runner.max_input - 2 * runner.margin
        tile = limit if tile in ("auto", None, 0, "none") else min(int(tile), limit)
    oh, ow = target_size(nchw.shape[2], nchw.shape[3], runner.scale)
    result = torch.empty(nchw.shape[0], oh, ow, nchw.shape[1]) if layout == "BHWC" else None  # written in place
    out = upscale_tensor(runner, nchw, tile=tile, border="zeros" if strict_upstream else border,
                         progress=progress, cancel=cancel, out=None if result is None else result.movedim(-1, 1))
    return result if result is not None else out
