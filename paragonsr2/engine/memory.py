"""Auto tile size: the fastest tile that fits, from free memory and a measured memory model.

Memory model (measured with bench/memory_model.py): peak working memory of one forward pass is
about ``LIVE_HR_MAPS * num_feat * sh * sw * bytes_per_element`` per LR input pixel (the HR
feature maps dominate), plus the model's weights.
"""
from __future__ import annotations

import math

import torch

LIVE_HR_MAPS = 8.0  # above the worst of bench/memory_model.py (CPU) and bench/gpu_check.py (CUDA); README
CPU_FASTEST_TILE = 256  # crop tiles of this size beat larger ones on CPU (cache-bound HR maps; README)
GPU_MAX_TILE = 1024  # larger tiles gain nothing measurable on a GPU and cost latency per progress step
MIN_TILE = 32
ALIGN = 16


def bytes_per_lr_pixel(num_feat: int, scale: tuple[float, float], elem_size: int) -> float:
    return LIVE_HR_MAPS * num_feat * scale[0] * scale[1] * elem_size


def free_memory(device: torch.device) -> int:
    """Free bytes: CUDA free device memory, or available RAM on the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return 4 << 30


def auto_tile(num_feat: int, scale: tuple[float, float], margin: int, device: torch.device,
              elem_size: int = 4, budget_fraction: float = 0.5, preferred: int | None = None) -> int:
    """Core tile size (LR px, multiple of ALIGN): the speed optimum (`preferred`, else the device's), shrunk
    until it fits memory."""
    preferred = preferred or (CPU_FASTEST_TILE if device.type == "cpu" else GPU_MAX_TILE)
    budget = free_memory(device) * budget_fraction
    per_px = bytes_per_lr_pixel(num_feat, scale, elem_size)
    fit = math.isqrt(max(int(budget / per_px), 1)) - 2 * margin
    tile = min(preferred, fit)
    return max(MIN_TILE, tile // ALIGN * ALIGN)


def tile_bytes(num_feat: int, scale: tuple[float, float], margin: int, tile: int | None, elem_size: int = 4,
               default_tile: int = 512) -> int:
    """Working bytes of one forward pass over a tile of `tile` LR px (None: `default_tile`) plus margins."""
    side = (tile or default_tile) + 2 * margin
    return int(bytes_per_lr_pixel(num_feat, scale, elem_size) * side * side)
