"""INT8: ONNX Runtime static quantization (QDQ, per-channel weights) calibrated on the user's images.

The QDQ model also feeds TensorRT INT8 (TensorRT 11 needs explicit Q/DQ).
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_bytes
from ..errors import MissingDependencyError, ParagonError
from ..imageio import IMAGE_EXT, read_image
from ..layouts import to_nchw
from ..numerics import psnr
from ..sample import CHECK_SIZES, sample_crop
from .onnx import export_onnx_proto, finalize_graph, model_metadata_props, save_proto

log = logging.getLogger("paragonsr2")


def _crop(img: torch.Tensor, size: int, g: torch.Generator) -> np.ndarray:
    """A random size x size RGB crop [1,3,S,S] float32 of [1,C,H,W] (smaller images are resized up)."""
    img = img[:, :3].float()
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    h, w = img.shape[-2:]
    if h < size or w < size:
        img = torch.nn.functional.interpolate(img, size=(max(h, size), max(w, size)), mode="bilinear")
        h, w = img.shape[-2:]
    y = int(torch.randint(h - size + 1, (), generator=g))
    x = int(torch.randint(w - size + 1, (), generator=g))
    return img[:, :, y:y + size, x:x + size].contiguous().numpy().astype(np.float32)


def _calibration_files(source) -> list[Path]:
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            raise ParagonError(f"calibration folder {folder} does not exist (INT8 needs --calib DIR: a folder of "
                               "typical images)")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)
        if not files:
            raise ParagonError(f"no images (.png/.jpg/.webp...) in calibration folder {folder}")
        return files
    return list(source)


def calibration_crops(source, count: int = 32, size: int = 128, seed: int = 0) -> list[np.ndarray]:
    """``count`` random ``size``x``size`` RGB crops [1,3,S,S] float32 from a folder, file list or tensors.

    source: a folder of images (searched recursively), a list of paths, or a tensor/list of tensors
    ([B,H,W,C] or [B,C,H,W]). At most ``count`` images are read, each cropped as it is read (memory stays
    bounded by one image plus the crops; several crops per image when there are fewer images than ``count``);
    files that cannot be read are skipped. Images smaller than the
    crop are resized up.
    """
    if source is None:
        raise ParagonError("INT8 needs calibration images: pass --calib DIR (a folder of typical images) or, "
                           "from Python, calib=<folder, list of files or image tensor>")
    g = torch.Generator().manual_seed(seed)
    if isinstance(source, torch.Tensor):
        t, _ = to_nchw(source)
        items = [t[i:i + 1] for i in range(t.shape[0])]
    else:
        items = _calibration_files(source)
    n = max(1, min(len(items), count))  # images read; their crops differ by at most one
    crops, skipped, read = [], [], 0
    for item in items:
        if read >= n:
            break
        if isinstance(item, torch.Tensor):
            img = item if item.dim() == 4 else item.unsqueeze(0)
        else:
            try:
                img = read_image(item)
            except ParagonError as e:
                skipped.append(f"{item}: {e}")
                continue
        crops += [_crop(img, size, g) for _ in range(count // n + (read < count % n))]
        read += 1
        del img
    if not crops:
        raise ParagonError("no calibration image could be read: " + "; ".join(skipped[:3]))
    made = len(crops)  # unreadable files left gaps: repeat the crops made
    crops += [crops[i % made] for i in range(count - made)]
    return crops


def _fake_quant(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """uint8 asymmetric quantize-dequantize of activations over [lo, hi] (zero included)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    zero = round(-lo / scale)
    return (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale


def _fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    """int8 symmetric per-output-channel quantize-dequantize of conv weights."""
    amax = w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp_min(1e-12)
    scale = amax / 127.0
    return torch.clamp(torch.round(w / scale), -127, 127) * scale


class _Simulator:
    """int8 simulation of chosen convs as ONNX Runtime's QDQ quantizer makes them: uint8 min/max
    activations at each quantized conv's input and output, int8 per-channel weights."""

    def __init__(self, model: torch.nn.Module, crops: list[np.ndarray]) -> None:
        self.model = model
        self.batch = torch.from_numpy(np.concatenate(crops[: min(len(crops), 8)]))
        self.convs: list[torch.nn.Conv2d] = []
        self.ranges: dict[int, list[float]] = {}

        def record(mod, inputs, output):
            if id(mod) not in self.ranges:
                self.convs.append(mod)
                self.ranges[id(mod)] = [float("inf"), float("-inf"), float("inf"), float("-inf")]
            r = self.ranges[id(mod)]
            r[0], r[1] = min(r[0], inputs[0].min().item()), max(r[1], inputs[0].max().item())
            r[2], r[3] = min(r[2], output.min().item()), max(r[3], output.max().item())

        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        with torch.no_grad():
            self.ref = model(torch.cat([torch.from_numpy(c) for c in crops])[: len(self.batch)]).numpy()
            for crop in crops[len(self.batch):]:
                model(torch.from_numpy(crop))
        for h in hooks:
            h.remove()

    @torch.no_grad()
    def psnr(self, quantized: list[int]) -> float:
        """Output PSNR (dB) against float when the convs at these execution indices are int8."""

        saved, hooks = [], []
        for i in quantized:
            conv = self.convs[i]
            lo, hi, out_lo, out_hi = self.ranges[id(conv)]
            saved.append((conv, conv.weight.data.clone()))
            conv.weight.data.copy_(_fake_quant_weight(conv.weight.data))
            hooks.append(conv.register_forward_pre_hook(lambda m, x, lo=lo, hi=hi: (_fake_quant(x[0], lo, hi),)))
            # ONNX Runtime's QDQ format also quantizes each quantized conv's output
            hooks.append(conv.register_forward_hook(lambda m, x, y, lo=out_lo, hi=out_hi: _fake_quant(y, lo, hi)))
        try:
            return psnr(self.model(self.batch).numpy(), self.ref)
        finally:
            for h in hooks:
                h.remove()
            for conv, w in saved:
                conv.weight.data.copy_(w)


def int8_worthy(conv: torch.nn.Conv2d, is_output: bool = False, min_channels: int = 16) -> bool:
    """Convs that make the graph faster in int8 on ONNX Runtime's CPU kernels (measured): dense ones with
    enough channels, and the output conv. Depthwise convs and conv_in (3->C) are slower in int8 than in
    fp32 once the Q/DQ passes are counted, so they stay float. The output conv (C->3) is slow in int8 on
    its own, but a float one needs the full-resolution C-channel map dequantized and re-laid-out first:
    quantized, the whole graph runs faster (bench/export_bench.py; README, Export)."""
    if is_output:
        return conv.groups == 1
    return conv.groups == 1 and conv.in_channels >= min_channels and conv.out_channels >= min_channels


TARGET_DB = 41.0  # calibration batch and bundled photo: 3 dB above the 38 dB that verification demands


def sensitivity_order(model: torch.nn.Module, crops: list[np.ndarray],
                      target_db: float = TARGET_DB) -> tuple[list[int], list[int], int]:
    """(convs to keep in float, int8 candidates most-sensitive first, conv count); indices are in
    execution order, which is the order of the Conv nodes in the exported graph."""
    sim = _Simulator(model, crops)
    n = len(sim.convs)
    cand = [i for i, c in enumerate(sim.convs) if int8_worthy(c, is_output=i == n - 1)]
    keep = [i for i in range(n) if i not in cand]
    solo = {i: sim.psnr([i]) for i in cand}
    order = sorted(cand, key=lambda i: solo[i])
    for i in order:
        if sim.psnr([j for j in cand if j not in keep]) >= target_db:
            break
        keep.append(i)
    return sorted(keep), order, n


FAST_OPS = ("Conv", "LeakyRelu", "Add", "Slice")
# activation ranges: the 99.999th percentile of the calibration values rather than their extremes; on the bundled
# x2 model's natural-photo check (bench/export_bench.py) +0.9 dB mean and +2 dB on the worst photo over min/max,
# at the same speed (the export's calibration takes longer)
CALIBRATION = "percentile"
INT8_OUTPUT_CHANNELS = 16  # conv_out widened for int8 (see DeployParagonSR2.pad_output_channels)
SAFE_OPS = ("Conv",)


class _Batches:
    """A calibration data reader over a list of input dicts."""

    def __init__(self, items: list[dict]) -> None:
        self._it = iter(items)

    def get_next(self):
        return next(self._it, None)


@contextlib.contextmanager
def _bounded_histograms(batches: int = 4):
    """ONNX Runtime's histogram calibration (percentile, entropy) keeps every calibration batch's intermediate
    tensors until it has read them all (about 130 MB per 128-px crop of the nano model: 4 GB for the default 32);
    fed `batches` at a time, its collector merges the histograms and memory stays bounded."""
    from onnxruntime.quantization.calibrate import HistogramCalibrater

    original = HistogramCalibrater.collect_data

    def collect(self, reader) -> None:
        while True:
            chunk = []
            while len(chunk) < batches and (item := reader.get_next()):
                chunk.append(item)
            if chunk:
                original(self, _Batches(chunk))
            if len(chunk) < batches:
                return

    HistogramCalibrater.collect_data = collect
    try:
        yield
    finally:
        HistogramCalibrater.collect_data = original


def quantize_int8(fp32_path: str | os.PathLike, out_path: str | os.PathLike, crops: list[np.ndarray],
                  method: str = "minmax", keep_float: list[str] | None = None, ops=SAFE_OPS,
                  symmetric: bool = False) -> Path:
    """Static QDQ quantization of ``ops`` in an fp32 ONNX file, ``keep_float`` convs excluded.

    Activations are uint8 with a zero point (ONNX Runtime's fast CPU kernels) or, with ``symmetric``,
    int8 with zero point 0, float biases and Q/DQ pairs on float weights: the form TensorRT accepts.
    Weights are int8, symmetric, per channel.
    Quantizing the LeakyReLUs and Adds between int8 convs too (FAST_OPS) removes Q/DQ and layout passes:
    faster than convs alone (SAFE_OPS) at a lower but still verified PSNR (bench/export_bench.py; README)."""
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ImportError:
        raise MissingDependencyError("onnxruntime", "INT8 quantization") from None

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator = iter(crops)

        def get_next(self):
            arr = next(self._it, None)
            return None if arr is None else {"input": arr}

        def rewind(self) -> None:
            self._it = iter(crops)

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    with (tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()),  # its progress prints
          _bounded_histograms()):
        tmp_out = Path(tmp) / "int8.onnx"
        quantize_static(str(fp32_path), str(tmp_out), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                        calibrate_method=methods[method], op_types_to_quantize=list(ops),
                        nodes_to_exclude=list(keep_float or []),
                        extra_options={"CalibPercentile": 99.999, "DedicatedQDQPair": True,
                                       "ActivationSymmetric": symmetric, "WeightSymmetric": True,
                                       # TensorRT's parser refuses DequantizeLinear on int32 biases and wants
                                       # float weights behind a Q/DQ pair (the pattern its own tools emit)
                                       "QuantizeBias": not symmetric, "AddQDQPairToWeight": symmetric})
        data = tmp_out.read_bytes()
    return write_bytes(out_path, data)


def quantize_until(fp32_path, out_path, crops: list[np.ndarray], model: torch.nn.Module, conv_names: list[str],
                   target_db: float = TARGET_DB, symmetric: bool = False, check_inputs: list[np.ndarray] = (),
                   method: str = CALIBRATION) -> tuple[list[str], list[str]]:
    """Quantizes the int8-worthy convs, minus those the simulation marks as too sensitive; then checks
    the real ONNX Runtime result on the calibration batch and on ``check_inputs`` (natural images the
    calibration did not see) and moves the next most sensitive conv to float until every one reaches
    ``target_db``, first with FAST_OPS, then with SAFE_OPS. Returns the names of the convs kept in float
    and of the int8-worthy ones (the file at ``out_path`` is the last, passing or best-effort, one)."""
    import onnxruntime as ort

    keep0, order, n = sensitivity_order(model, crops, target_db)
    if n != len(conv_names):
        raise ParagonError(f"INT8: {n} convs run in PyTorch but the graph has {len(conv_names)}")
    checks = [np.concatenate(crops[: min(len(crops), 8)])] + [np.ascontiguousarray(x) for x in check_inputs]
    with torch.no_grad():
        refs = [model(torch.from_numpy(x)).numpy() for x in checks]
    worthy = [conv_names[i] for i in order]
    for ops, max_rounds in ((FAST_OPS, 2), (SAFE_OPS, 1000)):  # fast first; fall back to convs only
        keep, rest = list(keep0), [i for i in order if i not in keep0]
        for _ in range(max_rounds):
            names = [conv_names[i] for i in sorted(keep)]
            quantize_int8(fp32_path, out_path, crops, method=method, keep_float=names, ops=ops, symmetric=symmetric)
            session = ort.InferenceSession(str(out_path), providers=["CPUExecutionProvider"])
            if all(psnr(session.run(None, {"input": x})[0], r) >= target_db for x, r in zip(checks, refs)):
                return names, worthy
            if not rest:
                break
            step = max(1, len(rest) // 6)  # coarse steps keep large models' export time bounded
            keep += rest[:step]
            rest = rest[step:]
    return names, worthy


def int8_onnx(fused: torch.nn.Module, path: str | os.PathLike, crops: list[np.ndarray], opset: int = 17,
              symmetric: bool = False) -> dict:
    """Writes the INT8 (QDQ) ONNX of a deploy-fused model to `path`: a widened fp32 graph quantized on the
    calibration `crops` until it is accurate on them and on the bundled photo. Returns the INT8 summary."""
    import onnx

    net = copy.deepcopy(fused).cpu().float()
    net.pad_output_channels(INT8_OUTPUT_CHANNELS)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32_proto = export_onnx_proto(net, "fp32", opset=opset, graph="runtime")  # ONNX Runtime / TensorRT
        save_proto(fp32_proto, fp32)
        names = [n.name for n in fp32_proto.graph.node if n.op_type == "Conv"]
        net.transposed_upsample = False  # the graph's op structure (see compile.onnx.export_onnx_proto)
        natural = [sample_crop(h, w).numpy() for h, w in CHECK_SIZES]  # the bundled photo
        keep, worthy = quantize_until(fp32, path, crops, net, names, symmetric=symmetric, check_inputs=natural)
    meta = model_metadata_props(fused, "int8")
    meta["int8_float_convs"] = str(len(keep))
    meta["int8_activations"] = "int8 symmetric" if symmetric else "uint8"
    meta["int8_calibration"] = CALIBRATION
    save_proto(finalize_graph(onnx.load(str(path)), meta), path)
    return int8_summary(names, keep, worthy)


def int8_summary(convs: list[str], kept_float: list[str], worthy: list[str]) -> dict:
    """What INT8 quantized; a note when convs that int8 speeds up had to stay float for accuracy."""
    slow = [n for n in worthy if n in kept_float]
    summary = {"convs": len(convs), "int8_convs": len(convs) - len(kept_float), "float_convs": len(kept_float)}
    if slow:
        summary["note"] = (f"{len(slow)} of the {len(worthy)} convs that run faster in int8 stayed float to keep "
                           "the output accurate (this model's activations do not fit 8 bits well): expect "
                           "little or no speed-up over FP32; FP32 or FP16 may serve better")
        log.warning("INT8: %s", summary["note"])
    return summary
