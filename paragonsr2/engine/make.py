"""Choosing and building a backend for a model, a checkpoint path or an exported TensorRT engine."""
from __future__ import annotations

import os

import torch

from ..checkpoint import load_model
from ..compile.onnx import cached_onnx
from ..errors import ParagonError
from ..fuse import as_deploy, network_kind, unwrap
from .auto import AutoBackend
from .choices import BACKENDS, resolve_device, resolve_precision
from .compare import require_onnx_match
from .margin import tile_margin
from .onnxruntime import OrtBackend
from .openvino import OpenVINOBackend, int8_artifact, require_openvino
from .protocol import Backend
from .pytorch import TorchBackend
from .tensorrt import TensorRTBackend

ONE_BACKEND_OPTIONS = {"progress": "tensorrt"}  # options only one backend takes: "auto" gives them to that one


def _options_for(backend: str, options: dict) -> dict:
    return {k: v for k, v in options.items() if ONE_BACKEND_OPTIONS.get(k, backend) == backend}


def is_paragon(model) -> bool:
    """True for a ParagonSR2 network (plain or deploy-fused), also inside a descriptor or BorderPad."""
    return network_kind(unwrap(model)) is not None


def as_network(model) -> torch.nn.Module:
    """The deploy-fused ParagonSR2 network of a loaded model, a checkpoint path or a spandrel descriptor."""
    model = load_model(model, fuse=True) if isinstance(model, (str, os.PathLike)) else unwrap(model)
    if network_kind(model) is None:
        raise ParagonError(f"expected a ParagonSR2 model (from load_model), got {type(model).__name__}")
    return as_deploy(model)


def make_backend(model, backend: str = "auto", precision: str = "auto", device=None, **options) -> Backend:
    """A backend for a loaded model, a checkpoint path (loaded deploy-fused) or, for "tensorrt", an
    exported .engine file (with its JSON sidecar). `options` go to the backend's constructor.

    backend "auto": the fastest installed backend and precision that stays within 50 dB of fp32 for this model
    (engine.auto; ``.reason`` says which and why). "openvino" runs on the CPU, or on an Intel GPU for
    device "gpu" (device None/"auto" picks one when OpenVINO sees it)."""
    if backend not in BACKENDS:
        raise ParagonError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".engine"):
        if backend != "tensorrt":
            raise ParagonError(f"{model} is a TensorRT engine: use backend 'tensorrt'")
        return TensorRTBackend.from_engine(model, resolve_device(device) if device is not None else None)
    net = as_network(model)
    if backend == "openvino":  # the CPU or an Intel GPU, whatever PyTorch sees
        require_openvino()  # before the ONNX graph is made and verified (onnx, onnxruntime)
        prec = resolve_precision(precision, torch.device("cpu"), backend)
        path = (int8_artifact(net, require_onnx_match(net, "int8")) if prec == "int8" else
                cached_onnx(net, "fp32", require_onnx_match(net, "fp32")))
        return OpenVINOBackend(str(path), net.scale, margin=tile_margin(net), num_feat=net.config.num_feat,
                               precision=prec, in_chans=net.config.in_chans, out_chans=net.config.out_chans,
                               device=device, **options)
    dev = resolve_device(device)
    if backend == "auto":
        resolve_precision(precision, dev, backend)  # refuses precisions no candidate runs
        return AutoBackend(net, dev, precision, lambda c: make_backend(net, c.backend, c.precision,
                                                                       "cpu" if c.backend == "openvino" else dev,
                                                                       **c.options, **_options_for(c.backend,
                                                                                                   options)))
    prec = resolve_precision(precision, dev, backend)
    if backend == "pytorch":
        return TorchBackend(net, device=dev, precision=prec, **options)
    accept = require_onnx_match(net, prec)
    if backend == "tensorrt":
        return TensorRTBackend.from_model(net, precision=prec, device=dev if dev.type == "cuda" else None,
                                          accept_onnx=accept, **options)
    path = cached_onnx(net, prec, accept)
    return OrtBackend(str(path), net.scale, margin=tile_margin(net), num_feat=net.config.num_feat, precision=prec,
                      in_chans=net.config.in_chans, out_chans=net.config.out_chans, device=dev, **options)
