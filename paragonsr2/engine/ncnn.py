"""The ncnn backend: runs .param/.bin files (ours, pnnx's or chaiNNer's) in the `ncnn` package on the CPU.

Used to verify NCNN exports; also a backend ("ncnn") for the tiler. fp32 files run with fp16/bf16 storage
and arithmetic switched off (ncnn turns them on where the CPU has them), so fp32 means fp32.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import MissingDependencyError, ParagonError
from .protocol import Backend

_REDUCED = ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage")


def require_ncnn(feature: str = "The ncnn backend"):
    try:
        import ncnn
    except ImportError:
        raise MissingDependencyError("ncnn", feature) from None
    return ncnn


class NcnnBackend(Backend):
    """ncnn over a .param/.bin pair; tiles [1,C,h,w] float32 CPU in and out."""

    name = "ncnn"

    def __init__(self, param_path: str, bin_path: str, scale, *, margin: int, num_feat: int,
                 precision: str = "fp32", in_chans: int = 3, out_chans: int = 3, threads: int | None = None) -> None:
        ncnn = require_ncnn()
        self.device = torch.device("cpu")
        self.scale = tuple(scale)
        self.in_chans, self.out_chans = in_chans, out_chans
        self.margin, self.num_feat, self.precision = margin, num_feat, precision
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        for option in _REDUCED:
            setattr(self.net.opt, option, precision == "fp16" and option != "use_bf16_storage")
        if threads:
            self.net.opt.num_threads = int(threads)
        if self.net.load_param(str(param_path)) != 0 or self.net.load_model(str(bin_path)) != 0:
            raise ParagonError(f"ncnn could not load {param_path} / {bin_path} (see ncnn's message above)")
        self.input_name = self.net.input_names()[0]
        self.output_name = self.net.output_names()[0]
        self._mat = ncnn.Mat

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        data = np.ascontiguousarray(x.detach().cpu().numpy()[0], dtype=np.float32)
        with self.net.create_extractor() as ex:
            ex.input(self.input_name, self._mat(data))
            ret, out = ex.extract(self.output_name)
            if ret != 0:
                raise ParagonError(f"ncnn failed on a {tuple(x.shape)} input (error {ret})")
            y = np.array(out, dtype=np.float32, copy=True)
        return torch.from_numpy(y).unsqueeze(0)
