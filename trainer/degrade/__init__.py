"""On-the-fly degradations HR -> LR (pure tensor functions driven by a torch.Generator)."""
from .ops import compress, gaussian_kernel, quantize, resize
from .pipeline import degrade, degrade_one
from .settings import PRESETS, SETTING_NAMES, DegradeSettings, resolve


def downscale(x, scale: int, method: str = "bicubic"):
    """[B,C,H,W] -> [B,C,H//scale,W//scale] with one filter (antialiased bicubic/bilinear, or area)."""
    return resize(x, (x.shape[-2] // scale, x.shape[-1] // scale), method)


__all__ = ["PRESETS", "SETTING_NAMES", "DegradeSettings", "compress", "degrade", "degrade_one", "downscale",
           "gaussian_kernel", "quantize", "resize", "resolve"]
