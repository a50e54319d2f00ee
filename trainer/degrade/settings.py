"""Degradation settings (what LR = degrade(HR) may do, with which probability) and the named presets.

Every probability is per image. Sigmas and noise levels are in pixels / 8-bit levels of the image they apply to.
The dataclass defaults are the "realistic" preset: mild, real-world-like inputs (web JPEGs, light sensor noise,
camera sharpening, slightly soft optics), with about a fifth of the images left clean.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

RESIZE_FILTERS = ("bicubic", "bilinear", "area")


@dataclass(frozen=True)
class DegradeSettings:
    blur_prob: float = 0.2  # Gaussian blur before a resize
    blur_sigma: tuple[float, float] = (0.2, 1.0)  # px, drawn per axis
    aniso_prob: float = 0.3  # share of blurs that are anisotropic (random sigma per axis and angle)
    resize_filters: tuple[str, ...] = RESIZE_FILTERS  # drawn uniformly for each resize
    resize_chain_prob: float = 0.2  # resize to an intermediate size first (factor of the input size)
    resize_chain_range: tuple[float, float] = (0.75, 1.25)
    second_order_prob: float = 0.1  # a whole second round (blur, resize, noise, compression)
    sharpen_prob: float = 0.1  # unsharp mask after the final resize; wide radius gives halos
    sharpen_amount: tuple[float, float] = (0.2, 0.8)
    sharpen_sigma: tuple[float, float] = (0.8, 2.0)
    noise_prob: float = 0.3  # Gaussian noise
    noise_sigma: tuple[float, float] = (1.0, 10.0)  # 8-bit levels
    poisson_prob: float = 0.1  # shot noise
    poisson_peak: tuple[float, float] = (80.0, 400.0)  # photons at white; lower is noisier
    gray_noise_prob: float = 0.3  # share of noise that is the same on all channels
    jpeg_prob: float = 0.35
    webp_prob: float = 0.1
    quality: tuple[int, int] = (40, 95)  # JPEG/WebP quality, drawn uniformly

    def probabilities(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name.endswith("_prob")}


CLEAN = DegradeSettings(**{name: 0.0 for name in DegradeSettings().probabilities()}, resize_filters=("bicubic",))
LIGHT = dataclasses.replace(CLEAN, blur_prob=0.1, noise_prob=0.15, jpeg_prob=0.15, noise_sigma=(1.0, 5.0),
                            quality=(60, 95), resize_filters=RESIZE_FILTERS)
# What most upscaled images are: web JPEGs and light sensor noise on a bicubic-like resize, rarely anything else;
# a repeated filter name is drawn that much more often (bicubic 3 of 4 resizes).
WEB = dataclasses.replace(DegradeSettings(), resize_filters=("bicubic", "bicubic", "bicubic", "area"), blur_prob=0.05,
                          blur_sigma=(0.2, 0.6), resize_chain_prob=0.05, second_order_prob=0.0, sharpen_prob=0.03,
                          noise_prob=0.5, noise_sigma=(1.0, 8.0), poisson_prob=0.05, gray_noise_prob=0.2,
                          jpeg_prob=0.5, webp_prob=0.03, quality=(50, 90))
PRESETS: dict[str, DegradeSettings] = {"clean": CLEAN, "light": LIGHT, "web": WEB, "realistic": DegradeSettings()}
SETTING_NAMES = tuple(f.name for f in dataclasses.fields(DegradeSettings))


def resolve(preset: str, overrides: dict) -> DegradeSettings:
    """The preset with every non-None override applied; unknown preset -> ValueError naming the choices."""
    if preset not in PRESETS:
        raise ValueError(f"degradations = {preset!r} is not one of {', '.join(PRESETS)}")
    given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items() if v is not None}
    settings = dataclasses.replace(PRESETS[preset], **given)
    bad = [f for f in settings.resize_filters if f not in RESIZE_FILTERS]
    if bad or not settings.resize_filters:
        raise ValueError(f"resize_filters {list(settings.resize_filters)}: use some of {', '.join(RESIZE_FILTERS)}")
    for name, p in settings.probabilities().items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} = {p} is not a probability in [0, 1]")
    return settings
