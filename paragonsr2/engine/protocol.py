"""The Backend contract: what the tiler needs from anything that runs tiles (PyTorch, ONNX Runtime, TensorRT,
OpenVINO). Every backend sets all attributes in its constructor; nothing is patched on afterwards."""
from __future__ import annotations

import abc

import torch

Scale = tuple[float, float]


def is_oom_text(text: str) -> bool:
    """True when an error message from any runtime reports that memory ran out."""
    text = text.lower()
    return any(s in text for s in ("out of memory", "failed to allocate", "cannot allocate memory", "bad_alloc",
                                   "outofmemory"))


class Backend(abc.ABC):
    """Runs one NCHW float32 CPU tile [1,in_chans,h,w] -> [1,out_chans,h*sh,w*sw] float32 on the CPU.

    Attributes:
      name: "pytorch", "onnxruntime", "tensorrt", "openvino", ...
      precision: the resolved precision ("fp32", "fp16", "bf16", "int8").
      device: torch.device the work runs on ("cpu" for CPU runtimes).
      scale: (sh, sw) output/input size factors.
      in_chans, out_chans: image channels the model takes and gives.
      margin: LR px of context each tile needs on every side for seamless output.
      num_feat: feature channels (the memory model of the auto tile size).
      max_input: largest tile side (margins included) the backend accepts, or None for any.
      elem_size: bytes per element of the working precision (the memory model).
      fastest_tile: LR px tile the runtime runs fastest at, or None for the device's default (memory.auto_tile).
    """

    name: str
    precision: str
    device: torch.device
    scale: Scale
    in_chans: int
    out_chans: int
    margin: int
    num_feat: int
    max_input: int | None = None
    elem_size: int = 4
    fastest_tile: int | None = None
    overflow_tiles: int = 0

    @abc.abstractmethod
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """[1,in_chans,h,w] float32 -> [1,out_chans,h*sh,w*sw] float32 CPU."""

    def is_oom(self, error: BaseException) -> bool:
        """True when `error` (raised by __call__) means the tile did not fit in memory."""
        return isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)) or is_oom_text(str(error))

    def free(self) -> None:
        """Releases cached working memory (after an out-of-memory error)."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def describe(self) -> str:
        return f"{self.name} {self.precision} on {self.device}"
