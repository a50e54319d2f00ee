"""Perceptual loss from a torchvision VGG or ConvNeXt whose weights the user supplies as a file.

Nothing is downloaded: the file (a torchvision state dict, ``.pth`` read with ``weights_only=True``, or
``.safetensors``) is named in the config. Only the ``features.*`` part of the network is built and loaded.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ._core import TrainError

ARCHS = ("vgg11", "vgg13", "vgg16", "vgg19", "convnext_tiny", "convnext_small")
CONVNEXT_TAPS = (1, 3, 5)  # outputs of the first three stages
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _features(arch: str) -> tuple[nn.Sequential, tuple[int, ...]]:
    """The untrained ``features`` trunk and the indices whose outputs are compared."""
    import torchvision

    if arch.startswith("vgg"):  # only the conv trunk: the classifier would be 120 M parameters to throw away
        from torchvision.models import vgg

        features = vgg.make_layers(vgg.cfgs[{"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}[arch]])
    else:
        features = getattr(torchvision.models, arch)(weights=None).features
    if arch.startswith("vgg"):  # the last ReLU before each max-pool (relu1_2, relu2_2, ...)
        taps = tuple(i - 1 for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d))
        for m in features:
            if isinstance(m, nn.ReLU):
                m.inplace = False
        return features, taps
    return features, CONVNEXT_TAPS


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise TrainError(f"perceptual_weights file {path} does not exist; nothing is downloaded: save torchvision's "
                         "weights for perceptual_arch yourself (e.g. vgg19-dcbb9e9d.pth) and name that file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file becomes one line naming it
        raise TrainError(f"perceptual_weights {path} is not a readable state dict: {e}") from None
    if not isinstance(sd, dict):
        raise TrainError(f"perceptual_weights {path} holds a {type(sd).__name__}, not a state dict")
    return sd


class PerceptualLoss(nn.Module):
    """Mean L1 between backbone features of output and target ([B,3,H,W] in [0,1]); the backbone is frozen."""

    def __init__(self, features: nn.Sequential, taps: tuple[int, ...]) -> None:
        super().__init__()
        self.features = features[: max(taps) + 1].eval()
        self.taps = set(taps)
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        x = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self._taps(hr)
        return sum(F.l1_loss(a, b) for a, b in zip(self._taps(sr), target, strict=True)) / len(target)

    def train(self, mode: bool = True) -> PerceptualLoss:
        return super().train(False)  # frozen batch/layer statistics whatever the caller asks


def load_perceptual(path: str | Path, arch: str = "vgg19") -> PerceptualLoss:
    """A PerceptualLoss for ``arch`` with the ``features.*`` weights of the file at ``path``."""
    if arch not in ARCHS:
        raise TrainError(f"perceptual_arch = {arch!r} is not one of {', '.join(ARCHS)}")
    features, taps = _features(arch)
    sd = read_state_dict(Path(path))
    wanted = {k.removeprefix("features."): v for k, v in sd.items() if k.startswith("features.")}
    expected = features.state_dict()
    missing = sorted(set(expected) - set(wanted))
    bad = [k for k in expected if k in wanted and tuple(wanted[k].shape) != tuple(expected[k].shape)]
    if missing or bad:
        raise TrainError(f"perceptual_weights {path} is not a torchvision {arch} state dict "
                         f"({len(missing)} missing and {len(bad)} mis-shaped 'features.' tensors, e.g. "
                         f"{(missing + bad)[0]})")
    features.load_state_dict({k: wanted[k] for k in expected})
    return PerceptualLoss(features, taps)
