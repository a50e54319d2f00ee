"""The upscale engine: layouts and channels in, seamless tiles through a backend, bounded memory out."""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Literal

import torch

from ..arch.upsampler import target_size
from ..errors import ParagonError, UpscaleCancelled
from .memory import MIN_TILE, auto_tile
from .tiles import Rect, output_rect, plan_tiles, split_rect

log = logging.getLogger("paragonsr2")
Progress = Callable[[int, int], None]
Layout = Literal["auto", "BHWC", "BCHW"]


def detect_layout(image: torch.Tensor) -> str:
    """"BHWC" if the last dim is a channel count (1, 3, 4) and dim 1 is not, "BCHW" if the reverse;
    when both could be channels (tiny images) ComfyUI's "BHWC" is assumed."""
    if image.dim() != 4:
        raise ParagonError(f"expected a 4-D image tensor [B,H,W,C] or [B,C,H,W], got shape {tuple(image.shape)}")
    last, second = image.shape[-1] in (1, 3, 4), image.shape[1] in (1, 3, 4)
    if last:
        return "BHWC"
    if second:
        return "BCHW"
    raise ParagonError(f"cannot tell the channels of an image of shape {tuple(image.shape)}: "
                       "expected 1, 3 or 4 channels in [B,H,W,C] or [B,C,H,W]")


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

    def run(self, image: torch.Tensor, out: torch.Tensor) -> None:
        """image [1,C,H,W] float32 CPU -> writes into out [1,C',Ho,Wo]."""
        _, _, height, width = image.shape
        scale = self._integer_scale()
        if scale is None:  # nearest resize depends on the global size: run the whole image
            self._check_cancel()
            out.copy_(self.backend(image).clamp(0, 1))
            self._tick()
            return
        queue = plan_tiles(height, width, self.tile)
        while queue:
            self._check_cancel()
            core = queue[0]
            box = core.grow(self.margin, height, width)
            try:
                y = self.backend(image[:, :, box.y0:box.y1, box.x0:box.x1])
            except Exception as e:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                if not self.backend.is_oom(e):
                    raise
                queue = self._shrink(queue, e)
                continue
            src = output_rect(Rect(core.y0 - box.y0, core.y1 - box.y0, core.x0 - box.x0, core.x1 - box.x0), scale)
            dst = output_rect(core, scale)
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


def upscale_tensor(backend, image: torch.Tensor, *, margin: int, num_feat: int, tile="auto",
                   progress: Progress | None = None, cancel=None) -> torch.Tensor:
    """[B,C,H,W] (C = 1, 3 or 4) float -> [B,C,Ho,Wo] float32 CPU in [0,1].

    margin: LR px of context per tile side; num_feat: feature channels (for the memory model).

    RGBA: RGB goes through the model; alpha is replicated to RGB, upscaled by the same model and
    averaged back to one channel (sharp, consistent edges). Grayscale: replicated to RGB, averaged back.
    """
    b, c, height, width = image.shape
    if height < 1 or width < 1:
        raise ParagonError(f"image of size {width}x{height} is empty")
    if not image.is_floating_point():
        raise ParagonError(f"expected a float image in [0,1], got dtype {image.dtype}")
    if tile == "auto":
        tile = auto_tile(num_feat, backend.scale, margin, backend.device,
                         elem_size=2 if getattr(backend, "dtype", torch.float32) != torch.float32 else 4)
    elif tile in (None, 0, "none"):
        tile = None
    else:
        tile = int(tile)
        if tile < MIN_TILE:
            raise ParagonError(f"tile size {tile} is too small; use at least {MIN_TILE} or 'auto'")
    oh, ow = target_size(height, width, backend.scale)
    out = torch.empty(b, c, oh, ow, dtype=torch.float32)
    runner = TileRunner(backend, tile, margin, progress, cancel)
    passes = [(slice(0, c), c)] if c in (1, 3) and backend.in_chans in (1, 3) else [(slice(0, 3), 3), (slice(3, 4), 1)]
    runner.total = b * len(passes) * runner.count(height, width)
    for i in range(b):
        for channels, n in passes:
            x = image[i:i + 1, channels].to("cpu", torch.float32).contiguous()
            x = _to_model_channels(x, backend.in_chans)
            y = torch.empty(1, backend.out_chans, oh, ow, dtype=torch.float32)
            runner.run(x, y)
            out[i:i + 1, channels] = y if n == backend.out_chans else y.mean(1, keepdim=True)
    overflow = getattr(backend, "overflow_tiles", 0)
    if overflow:
        warnings.warn(f"{overflow} tile(s) overflowed in fp16 and were redone in fp32", stacklevel=2)
    return out
