"""The PyTorch backend (CPU or CUDA): fp32, or fp16/bf16 for the HR part with an fp32 retry on overflow."""
from __future__ import annotations

import copy
import warnings

import torch

from .choices import resolve_device, resolve_precision
from .margin import tile_margin
from .protocol import Backend

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend(Backend):
    """PyTorch on CPU or CUDA. fp16/bf16 run the HR part in half precision and the LR part in fp32;
    tiles with non-finite output are redone in fp32 (with a warning)."""

    name = "pytorch"

    def __init__(self, model: torch.nn.Module, device=None, precision: str = "auto",
                 channels_last: bool | None = None, margin: int | None = None) -> None:
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device, "pytorch")
        self.dtype = _DTYPES[self.precision]
        self.elem_size = 4 if self.dtype == torch.float32 else 2
        self.scale = tuple(model.scale)
        self.in_chans = model.config.in_chans
        self.out_chans = model.config.out_chans
        self.num_feat = model.config.num_feat
        self.margin = tile_margin(model) if margin is None else margin
        self.channels_last = (self.device.type == "cpu") if channels_last is None else channels_last
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        model = copy.deepcopy(model)  # never move, cast or re-layout the caller's model
        self.model = model.to(self.device, torch.float32, memory_format=fmt).eval()
        if self.dtype != torch.float32:
            if hasattr(self.model, "set_hr_dtype"):  # half precision where it is safe (see set_hr_dtype)
                self.model.set_hr_dtype(self.dtype)
            else:
                self.model.to(self.dtype)
        self._fp32_model = None
        self.overflow_tiles = 0

    def _run(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.device.type != "cuda" or self.dtype != torch.float32:
            return model(x)
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32: TF32 is far off on real checkpoints
        try:
            return model(x)
        finally:
            torch.backends.cudnn.allow_tf32 = tf32

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self._run(self.model, x)
        if self.dtype != torch.float32 and not torch.isfinite(y).all():
            if self._fp32_model is None:
                self._fp32_model = copy.deepcopy(self.model).float()
                warnings.warn("fp16 overflowed (non-finite output) on this model; tiles that overflow are "
                              "redone in fp32. Use precision='bf16' or 'fp32' to avoid the retries.",
                              stacklevel=2)
            self.overflow_tiles += 1
            y = self._run(self._fp32_model, x)
        return y.float().cpu()
