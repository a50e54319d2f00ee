"""Training configuration: one dataclass, read from TOML or YAML (sections flattened by name)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ._core import BUNDLED_DIR, TrainError
from .degrade import SETTING_NAMES, DegradeSettings, resolve

BUNDLED_PREFIX = "bundled:"
VAL_SPLITS = ("diverse", "every_kth")
PATHS_FROM = ("config", "cwd")
LOSSES = ("l1", "charbonnier")
PATH_SETTINGS = ("hr_dir", "lr_dir", "file_list", "data_root", "pretrained", "perceptual_weights")


@dataclass
class TrainConfig:
    """Every setting of a run. Paths are relative to the config file's folder."""

    # data
    hr_dir: str = ""  # folder of HR images; LR made on the fly
    lr_dir: str = ""  # optional paired LR folder (same file names as hr_dir)
    file_list: str = ""  # optional text file of image paths (one per line) instead of hr_dir
    data_root: str = ""  # folder that file_list entries are relative to (default: the list's folder)
    val_fraction: float = 0.1  # share of images held back for validation (see val_images)
    val_images: int = 0  # validation images; 0: max(ceil(val_fraction * n), min(4, n // 3)), at most 8
    val_split: str = "diverse"  # diverse: content-diverse images | every_kth: every round(1/val_fraction)-th file
    val_crops: int = 4  # crops per validation image, on an even grid (1: the centre crop)
    min_size: int = 0  # skip images whose short side is below this (HR px); crops need patch*scale anyway
    max_side: int = 1536  # downscale larger images once at load (keeps memory bounded)
    patch: int = 48  # LR crop size
    batch: int = 8
    # degradations: a preset (clean | light | realistic, see trainer/degrade/settings.py) and per-setting
    # overrides (None = the preset's value); LR = degrade(HR) on the fly
    degradations: str = "clean"
    blur_prob: float | None = None
    blur_sigma: tuple[float, float] | None = None
    aniso_prob: float | None = None
    resize_filters: tuple[str, ...] | None = None  # bicubic | bilinear | area, drawn uniformly
    resize_chain_prob: float | None = None
    resize_chain_range: tuple[float, float] | None = None
    second_order_prob: float | None = None
    sharpen_prob: float | None = None
    sharpen_amount: tuple[float, float] | None = None
    sharpen_sigma: tuple[float, float] | None = None
    noise_prob: float | None = None
    noise_sigma: tuple[float, float] | None = None  # Gaussian, in 8-bit levels
    poisson_prob: float | None = None
    poisson_peak: tuple[float, float] | None = None
    gray_noise_prob: float | None = None
    jpeg_prob: float | None = None
    webp_prob: float | None = None
    quality: tuple[int, int] | None = None
    # model
    variant: str = "nano"
    scale: int = 2
    upsampler_alpha: float = 0.5
    pretrained: str = ""  # start from these weights (a file, or "bundled:<name>" for a model shipped in the pack)
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
    # stage 2 (perceptual finetune); every term is off at weight 0
    perceptual_weight: float = 0.0  # needs perceptual_weights (a file) or a callable passed to train()
    perceptual_weights: str = ""  # torchvision VGG/ConvNeXt state dict file you supply; never downloaded
    perceptual_arch: str = "vgg19"  # vgg11 | vgg13 | vgg16 | vgg19 | convnext_tiny | convnext_small
    color_weight: float = 0.0  # L1 of blurred, downsampled output vs target in YCbCr
    gan_weight: float = 0.0  # relativistic (RpGAN) generator loss; 0 = no discriminator
    disc_channels: int = 32  # width of the patch discriminator's first layer
    disc_lr: float = 1e-4
    r1_gamma: float = 1.0  # gradient penalty on real images (R1)
    r2_gamma: float = 1.0  # gradient penalty on generated images (R2)
    amp: bool = True  # CUDA only: bf16 where supported, else fp16 with a grad scaler
    seed: int = 0
    threads: int = 0  # CPU threads (0: torch default)
    # output
    out_dir: str = "runs/paragonsr2"
    name: str = "paragonsr2"
    val_every: int = 1000
    keep_best: bool = True  # publish the best validated EMA snapshot, the starting weights included (a fine-tune
    #                         never ends worse than its start on the validation split); False: the last EMA
    save_every: int = 1000
    val_crop: int = 256  # HR centre crop for validation
    max_pixels: int = 100_000_000  # images with more pixels (read from the header) are skipped with a warning
    paths_from: str = "config"  # relative paths start at: config (the config file's folder) | cwd (the current
    #                             folder; the shipped configs); file_list is always read beside the config
    base_dir: str = field(default=".", repr=False)

    def path(self, value: str) -> Path:
        """A path setting as a Path: absolute as given, "bundled:<name>" in the pack's models folder, else
        relative to ``paths_from``."""
        if value.startswith(BUNDLED_PREFIX):
            name = value.removeprefix(BUNDLED_PREFIX)
            return BUNDLED_DIR / (name if name.endswith(".safetensors") else f"{name}.safetensors")
        p = Path(value).expanduser()
        if p.is_absolute():
            return p
        return (Path.cwd() if self.paths_from == "cwd" else Path(self.base_dir)) / p

    def list_path(self) -> Path:
        """file_list: absolute as given, else beside the config file (it ships with it)."""
        p = Path(self.file_list).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    def check(self) -> None:
        """TrainError naming the setting when a choice is not one of its values."""
        for name, allowed in (("val_split", VAL_SPLITS), ("paths_from", PATHS_FROM), ("loss", LOSSES)):
            if getattr(self, name) not in allowed:
                raise TrainError(f"{name} = {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.val_crops < 1 or self.val_images < 0:
            raise TrainError("val_crops must be at least 1 and val_images at least 0")
        self.degrade_settings()

    def degrade_settings(self) -> DegradeSettings:
        """The preset named by ``degradations`` with this config's explicit settings applied."""
        try:
            return resolve(self.degradations, {name: getattr(self, name) for name in SETTING_NAMES})
        except (TypeError, ValueError) as e:
            raise TrainError(str(e)) from None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("base_dir")
        return d

    def portable_dict(self) -> dict:
        """to_dict without anything local: path settings become bare file names (bundled names kept), the output
        folder is left out. What published files carry as metadata."""
        d = self.to_dict()
        for name in PATH_SETTINGS:
            value = d.get(name) or ""
            d[name] = value if value.startswith(BUNDLED_PREFIX) else Path(value).name
        d.pop("out_dir")
        return d


def _flatten(d: dict, into: dict) -> dict:
    for k, v in d.items():
        if isinstance(v, dict):
            _flatten(v, into)
        else:
            into[k] = tuple(v) if isinstance(v, list) else v
    return into


def _parse(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as e:
        raise TrainError(f"cannot read config {path}: {e.strerror or e}") from None
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            return tomllib.loads(text)
        import yaml

        return yaml.safe_load(text) or {}
    except Exception as e:  # noqa: BLE001 - any parser error becomes one line naming the file
        raise TrainError(f"config {path} is not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {e}") from None


def load_config(path: str | Path, **overrides) -> TrainConfig:
    """Reads a .toml or .yaml config; nested tables are flattened (their keys must be unique)."""
    path = Path(path)
    flat = _flatten(_parse(path), {})
    flat.update(overrides)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(flat) - names)
    if unknown:
        raise TrainError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    cfg = TrainConfig(**flat, base_dir=str(path.parent))
    cfg.check()  # a bad choice, preset, filter or probability fails here, before any data is read
    return cfg
