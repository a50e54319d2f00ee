"""The OpenVINO backend: runs our ONNX graph on the CPU (or an Intel GPU) in fp32, bf16 or int8 (our QDQ graph,
calibrated on the bundled photo).

bf16 keeps the LR part (about a fifth of the work at x2, where real checkpoints carry activations up to
+-1000) in fp32 and runs the HR part in bf16, like the PyTorch backend: the graph is cut at the nearest
resize into two compiled models. ``bf16_lr=True`` runs the whole graph in bf16 (faster; the automatic
choice uses it only for models it was checked on). One compiled model per tile shape (static shapes
run about 6% faster than a dynamic one), the most recent few kept.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from ..compile.cache import cache_dir, cached, content_hash
from ..compile.quantize import calibration_crops, int8_onnx
from ..errors import MissingDependencyError, ParagonError
from ..sample import sample_crop
from .protocol import Backend

FASTEST_TILE = 1024  # whole 1024^2 images beat 512 and 256 px tiles (bench/comfy_speed.py; docs/speed.md)
MAX_SHAPES = 8  # compiled models kept (tiles of one image come in at most 4 shapes: inner, edges, corner)
HR_NODES = ("/model/Resize", "/model/resample/")  # ONNX node names where the HR part starts (compile.onnx)
_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8 comes from the QDQ graph; the rest stays f32


def require_openvino(feature: str = "The OpenVINO backend"):
    try:
        import openvino as ov
    except ImportError:
        raise MissingDependencyError("openvino", feature) from None
    return ov


def openvino_device(device=None) -> str:
    """OpenVINO device name: "GPU..." as given; None/"auto" -> an Intel GPU when OpenVINO sees one, else "CPU"."""
    ov = require_openvino()
    text = "auto" if device is None else str(device)
    if text.lower() in ("cpu",):
        return "CPU"
    if text.upper().startswith("GPU"):
        return text.upper()
    if text.lower() == "auto":
        return "GPU" if "GPU" in ov.Core().available_devices else "CPU"
    raise ParagonError(f"the openvino backend runs on the CPU or an Intel GPU; device {device!r} is neither "
                       "(use auto, cpu or gpu)")


def has_native_bf16(ov_device: str = "CPU") -> bool:
    """True when the OpenVINO device computes in bf16 natively (AVX-512 BF16 / AMX on the CPU)."""
    ov = require_openvino()
    try:
        return "BF16" in ov.Core().get_property(ov_device, "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:
        return False


CALIB = (16, 96)  # calibration crops (count, px) for the int8 graph, from the bundled photo mirrored to 256 px


def int8_artifact(net: torch.nn.Module, accept=None):
    """The QDQ INT8 ONNX of a deploy-fused model in the artifact cache, calibrated on crops of the bundled natural
    sample photo (no user images needed; export --precision int8 --calib DIR calibrates on yours)."""
    path = cache_dir() / "onnx" / f"{content_hash(net, 'int8', 'sample', *map(str, CALIB))}_int8.onnx"
    return cached(path, lambda tmp: int8_onnx(net, tmp, calibration_crops(sample_crop(256, 256), *CALIB)), accept,
                  "INT8 ONNX graph (calibrated on the bundled photo)")


def hr_boundary(onnx_path: str) -> str | None:
    """Name of the tensor where the HR part starts (the LR features), or None when the graph has no such node."""
    import onnx

    graph = onnx.load(onnx_path, load_external_data=False).graph
    for node in graph.node:
        if node.name.startswith(HR_NODES):
            return node.input[0]
    return None


class OpenVINOBackend(Backend):
    """OpenVINO over an exported .onnx file; tiles [1,C,h,w] float32 CPU in and out."""

    name = "openvino"
    fastest_tile = FASTEST_TILE

    def __init__(self, onnx_path: str, scale, *, margin: int, num_feat: int, precision: str = "fp32",
                 in_chans: int = 3, out_chans: int = 3, device=None, threads: int | None = None,
                 bf16_lr: bool = False) -> None:
        ov = require_openvino()
        if precision not in _HINTS:
            raise ParagonError(f"the openvino backend runs fp32, bf16 or int8, not {precision!r}")
        self.ov_device = openvino_device(device)
        if precision == "bf16" and not has_native_bf16(self.ov_device):
            raise ParagonError(f"OpenVINO's {self.ov_device} has no native bf16 here; use precision fp32 "
                               "(or auto)")
        self.device = torch.device("cpu")  # where tiles come from and go to
        self.scale = tuple(scale)
        self.in_chans, self.out_chans = in_chans, out_chans
        self.margin, self.num_feat, self.precision = margin, num_feat, precision
        self.elem_size = 2 if precision == "bf16" else 4
        self.bf16_lr = bf16_lr and precision == "bf16"
        self.config = {"INFERENCE_PRECISION_HINT": _HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = int(threads)
        self.core = ov.Core()
        self.parts = self._read_parts(ov, onnx_path)
        self._compiled: OrderedDict[tuple, list] = OrderedDict()

    def _read_parts(self, ov, onnx_path: str) -> list[tuple]:
        """[(ov.Model, precision hint)]: one whole graph, or the LR part in f32 and the HR part in bf16."""
        model = self.core.read_model(onnx_path)
        edge_name = hr_boundary(onnx_path) if self.precision == "bf16" and not self.bf16_lr else None
        if edge_name is None:
            return [(model, self.config["INFERENCE_PRECISION_HINT"])]
        edge = next((out for op in model.get_ordered_ops() for out in op.outputs() if edge_name in out.get_names()),
                    None)
        if edge is None:
            raise ParagonError(f"OpenVINO renamed the LR features tensor {edge_name!r} of {onnx_path}; use "
                               "precision fp32 (and report this)")
        lr = ov.Model([edge], model.get_parameters(), "lr_part")
        lr = lr.clone()  # detach from the graph cut below
        feat = ov.opset13.parameter(ov.PartialShape([1, edge.get_partial_shape()[1], -1, -1]), ov.Type.f32,
                                    name="lr_features")
        for target in list(edge.get_target_inputs()):
            target.replace_source_output(feat.output(0))
        hr = ov.Model(model.get_results(), [feat], "hr_part")
        return [(lr, "f32"), (hr, "bf16")]

    def _requests(self, shape: tuple[int, ...]) -> list:
        """Infer requests of the parts compiled for one input shape (cached, least recently used dropped)."""
        if shape in self._compiled:
            self._compiled.move_to_end(shape)
            return self._compiled[shape]
        requests, dims = [], list(shape)
        for model, hint in self.parts:
            m = model.clone()
            m.reshape(dims)
            compiled = self.core.compile_model(m, self.ov_device, {**self.config, "INFERENCE_PRECISION_HINT": hint})
            requests.append(compiled.create_infer_request())
            dims = list(compiled.output(0).get_shape())
        self._compiled[shape] = requests
        while len(self._compiled) > MAX_SHAPES:
            self._compiled.popitem(last=False)
        return requests

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        data = np.ascontiguousarray(x.detach().cpu().numpy().astype(np.float32, copy=False))
        for request in self._requests(tuple(data.shape)):
            data = request.infer({0: data})[0]
        return torch.from_numpy(np.array(data, dtype=np.float32, copy=True))


    def free(self) -> None:
        self._compiled.clear()

    def describe(self) -> str:
        mode = {"bf16": "bf16 (whole graph)" if self.bf16_lr else "bf16 (HR part; LR part fp32)"}
        return f"openvino {mode.get(self.precision, self.precision)} on {self.ov_device}"
