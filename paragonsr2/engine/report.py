"""A run told in a few lines for people: which path ran, how fast, and what a first run prepared and cached."""
from __future__ import annotations

import os
from pathlib import Path

from .auto import AutoBackend
from .protocol import Backend


def path_line(backend: Backend) -> str:
    """Which backend and precision ran, e.g. "openvino fp32 on CPU (chosen by auto)"."""
    if isinstance(backend, AutoBackend):
        return f"{backend.inner.describe()} (chosen by auto)"
    return backend.describe()


def speed_line(backend: Backend, batch: int, in_hw: tuple[int, int], out_hw: tuple[int, int],
               seconds: float) -> str:
    """Path, sizes (W x H), seconds and throughput in megapixels of input per second."""
    (h, w), (oh, ow) = in_hw, out_hw
    mp = batch * h * w / 1e6
    count = f"{batch} images " if batch > 1 else ""
    return (f"{path_line(backend)}: {count}{w}x{h} -> {ow}x{oh} in {seconds:.2f} s, "
            f"{mp / max(seconds, 1e-9):.3g} MP/s (input pixels)")


def built_line(built: list[tuple[str, Path]], seconds: float) -> str | None:
    """One line for a run that built cache entries: what was prepared, that it is cached, and where."""
    if not built:
        return None
    whats = ", ".join(dict.fromkeys(what for what, _ in built))
    where = os.path.commonpath([str(p.parent) for _, p in built])
    return f"first run for this model: prepared {whats} in {seconds:.1f} s; cached in {where} (reused next time)"


def run_lines(backend: Backend, batch: int, in_hw: tuple[int, int], out_hw: tuple[int, int], seconds: float,
              built: list[tuple[str, Path]] = (), prepare_seconds: float = 0.0) -> list[str]:
    """The lines a finished run reports: speed line, the automatic choice's reason, what was built."""
    lines = [speed_line(backend, batch, in_hw, out_hw, seconds)]
    if isinstance(backend, AutoBackend):
        lines.append(f"auto: {backend.reason}")
    if (line := built_line(list(built), prepare_seconds)) is not None:
        lines.append(line)
    return lines
