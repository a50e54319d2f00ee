"""The automatic choice: per device, the first installed backend+precision of a fixed preference order whose
output stays >= MIN_PSNR_DB from PyTorch fp32 for this model, checked once per model on the bundled sample.

The order is fixed per device (fastest first, as bench/engine_bench.py measures it), so the same model on the
same machine always gets the same path: speed is never measured at run time. The per-model PSNRs are kept in
memory and in the artifact cache (``<cache>/auto/<content hash>.json``). On CUDA a TensorRT engine comes first
when ``tensorrt`` is installed (built once per model and shape profile, cached), else PyTorch fp16.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..compile.cache import cache_dir, content_hash, note_built
from ..errors import MissingDependencyError, ParagonError
from ..numerics import psnr
from ..sample import sample_crop
from .protocol import Backend

log = logging.getLogger("paragonsr2")

MIN_PSNR_DB = 50.0
CHECK_SIZE = (96, 128)  # LR px of the bundled-photo crop the candidates are checked on


@dataclass(frozen=True)
class Candidate:
    backend: str
    precision: str
    options: dict = field(default_factory=dict, hash=False, compare=False)
    label: str = ""

    @property
    def key(self) -> str:
        return self.label or f"{self.backend} {self.precision}"


REFERENCE = Candidate("pytorch", "fp32")  # what the others are checked against: always acceptable

# fastest first (bench/engine_bench.py, 1024^2 x2, AMD EPYC 2 threads): OpenVINO bf16 whole graph, OpenVINO bf16
# HR part, OpenVINO fp32, ONNX Runtime fp32, PyTorch fp32. bf16 candidates need a CPU with native bf16.
CPU_ORDER = (
    Candidate("openvino", "bf16", {"bf16_lr": True}, "openvino bf16 (whole graph)"),
    Candidate("openvino", "bf16", {}, "openvino bf16 (HR part; LR part fp32)"),
    Candidate("openvino", "fp32"),
    Candidate("onnxruntime", "fp32"),
    REFERENCE,
)
CUDA_ORDER = (
    Candidate("tensorrt", "fp16"),
    Candidate("pytorch", "fp16"),
    Candidate("pytorch", "bf16"),
    REFERENCE,
)

_MEMORY: dict[str, dict[str, float]] = {}  # model hash -> {candidate key: PSNR dB}

# what installing skipped optional packages would give: (pip command, gain); the Upscale node says it once
FAST_CPU = ("pip install openvino onnx onnxruntime", "the OpenVINO CPU path: 3.3x the speed of PyTorch fp32 "
            "in a real ComfyUI (docs/speed.md)")
GAINS = {"openvino": FAST_CPU, "onnx": FAST_CPU, "onnxruntime": FAST_CPU,
         "tensorrt": ("pip install tensorrt", "a TensorRT fp16 engine for this GPU (built once per model and tile "
                      "profile, then cached)")}


def candidates(device: torch.device, precision: str = "auto") -> tuple[Candidate, ...]:
    """The preference order for `device`, only candidates of `precision` unless it is "auto"."""
    order = CUDA_ORDER if device.type == "cuda" else CPU_ORDER
    return tuple(c for c in order if precision in ("auto", c.precision))


def _record_path(key: str):
    return cache_dir() / "auto" / f"{key}.json"


def _load_record(key: str) -> dict[str, float]:
    if key not in _MEMORY:
        try:
            data = json.loads(_record_path(key).read_text())
            _MEMORY[key] = {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError, TypeError):
            _MEMORY[key] = {}
    return _MEMORY[key]


def _save_record(key: str, record: dict[str, float]) -> None:
    _MEMORY[key] = record
    try:
        path = _record_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)))
        note_built("accuracy check of the automatic choice", path)
    except OSError as e:  # a read-only cache only costs the check next time
        log.warning("could not store the automatic choice in %s: %s", cache_dir(), e)


def check_psnr(net: torch.nn.Module, backend: Backend) -> float:
    """PSNR (dB) of `backend` against `net` in PyTorch fp32 on a crop of the bundled natural sample."""
    x = sample_crop(*CHECK_SIZE)
    with torch.no_grad():
        ref = net(x).clamp(0, 1)
    return psnr(backend(x).clamp(0, 1).numpy(), ref.numpy())


def install_hint(missing) -> str | None:
    """One line: what installing the first of the `missing` packages (fastest skipped path first) would give the
    automatic choice, or None when none has a known gain."""
    known = [GAINS[p] for p in missing if p in GAINS]
    return f"{known[0][0]} would give {known[0][1]}" if known else None


def _refusal(cand: Candidate, record: dict[str, float]) -> str:
    return f"{cand.key}: {record[cand.key]:.1f} dB < {MIN_PSNR_DB:g} dB from fp32 for this model"


class AutoBackend(Backend):
    """The backend the automatic choice picked; ``reason`` (and ``describe()``) say which one and why;
    ``missing`` names the optional packages whose (faster) candidates were skipped because they are not installed."""

    name = "auto"

    def __init__(self, net: torch.nn.Module, device: torch.device, precision: str,
                 build: Callable[[Candidate], Backend]) -> None:
        key = content_hash(net, "auto", device.type)
        record = dict(_load_record(key))
        skipped, missing, chosen = [], [], None
        for cand in candidates(device, precision):
            if record.get(cand.key, MIN_PSNR_DB) < MIN_PSNR_DB:  # refused before: not even built again
                skipped.append(_refusal(cand, record))
                continue
            try:
                backend = build(cand)
            except MissingDependencyError as e:
                skipped.append(f"{cand.key}: {e.package} not installed")
                missing.append(e.package)
                continue
            except ParagonError as e:  # e.g. no native bf16 on this CPU
                skipped.append(f"{cand.key}: {e}")
                continue
            except Exception as e:  # e.g. a TensorRT build that fails: the next candidate runs, and the text says why
                if cand == REFERENCE:
                    raise
                log.warning("automatic choice: %s failed (%s: %s); trying the next candidate", cand.key,
                            type(e).__name__, e)
                skipped.append(f"{cand.key}: failed ({type(e).__name__}: {e})")
                continue
            if cand == REFERENCE:  # the fp32 reference itself
                record[cand.key] = float("inf")
            elif cand.key not in record:
                record[cand.key] = round(check_psnr(net, backend), 2)
                _save_record(key, record)
            if record[cand.key] >= MIN_PSNR_DB:
                chosen = (cand, backend)
                break
            skipped.append(_refusal(cand, record))
        if chosen is None:
            raise ParagonError(f"no backend can run precision {precision!r} on {device}: " + "; ".join(skipped))
        cand, self.inner = chosen
        self.candidate, self.missing = cand, tuple(dict.fromkeys(missing))
        self.psnr_db = record[cand.key]
        self.reason = (f"{cand.key}: {self.psnr_db:.1f} dB from PyTorch fp32 on the bundled sample"
                       + (f" (skipped {'; '.join(skipped)})" if skipped else " (first choice for this device)"))
        inner = self.inner
        self.precision, self.device, self.scale = inner.precision, inner.device, inner.scale
        self.in_chans, self.out_chans, self.margin = inner.in_chans, inner.out_chans, inner.margin
        self.num_feat, self.max_input, self.elem_size = inner.num_feat, inner.max_input, inner.elem_size
        self.fastest_tile = inner.fastest_tile

    @property
    def overflow_tiles(self) -> int:  # the inner backend counts them
        return self.inner.overflow_tiles

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)

    def is_oom(self, error: BaseException) -> bool:
        return self.inner.is_oom(error)

    def free(self) -> None:
        self.inner.free()

    def describe(self) -> str:
        return f"auto -> {self.inner.describe()}; {self.reason}"
