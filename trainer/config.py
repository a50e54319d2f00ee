"""Training configuration: one dataclass, read from TOML or YAML (sections flattened by name)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainConfig:
    """Every setting of a run. Paths are relative to the config file's folder."""

    # data
    hr_dir: str = ""  # folder of HR images; LR made on the fly
    lr_dir: str = ""  # optional paired LR folder (same file names as hr_dir)
    file_list: str = ""  # optional text file of image paths (one per line) instead of hr_dir
    data_root: str = ""  # folder that file_list entries are relative to (default: the list's folder)
    val_fraction: float = 0.1  # held-back share of images for validation (every k-th file)
    min_size: int = 0  # skip images whose short side is below this (HR px); crops need patch*scale anyway
    max_side: int = 1536  # downscale larger images once at load (keeps memory bounded)
    patch: int = 48  # LR crop size
    batch: int = 8
    # degradations (probabilities; LR = degrade(HR))
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.2, 1.2)
    resize_filters: tuple[str, ...] = ("bicubic",)  # bicubic | bilinear | area, drawn uniformly
    noise_prob: float = 0.0
    noise_sigma: tuple[float, float] = (1.0, 8.0)  # Gaussian, in 8-bit levels
    poisson_prob: float = 0.0
    jpeg_prob: float = 0.0
    webp_prob: float = 0.0
    quality: tuple[int, int] = (60, 95)
    sharpen_prob: float = 0.0
    # model
    variant: str = "nano"
    scale: int = 2
    upsampler_alpha: float = 0.5
    pretrained: str = ""  # start from these weights (finetune stage)
    # optimisation
    steps: int = 20000
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 500
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    loss: str = "l1"  # l1 | charbonnier
    ffl_weight: float = 0.0
    msssim_weight: float = 0.0
    perceptual_weight: float = 0.0  # needs a callable passed to train(); no weights are downloaded
    amp: bool = True  # CUDA only: bf16 where supported, else fp16 with a grad scaler
    seed: int = 0
    threads: int = 0  # CPU threads (0: torch default)
    # output
    out_dir: str = "runs/paragonsr2"
    name: str = "paragonsr2"
    val_every: int = 1000
    save_every: int = 1000
    val_crop: int = 256  # HR centre crop for validation
    base_dir: str = field(default=".", repr=False)

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("base_dir")
        return d


def load_config(path: str | Path, **overrides) -> TrainConfig:
    """Reads a .toml or .yaml config; nested tables are flattened (their keys must be unique)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        import tomllib

        raw = tomllib.loads(text)
    else:
        import yaml

        raw = yaml.safe_load(text) or {}
    flat: dict = {}

    def walk(d: dict) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v)
            else:
                flat[k] = v

    walk(raw)
    flat.update(overrides)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(flat) - names)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    for k, v in list(flat.items()):
        if isinstance(v, list):
            flat[k] = tuple(v)
    return TrainConfig(**flat, base_dir=str(path.parent))
