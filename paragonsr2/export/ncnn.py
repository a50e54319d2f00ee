"""NCNN files for users: `export --format ncnn` writes FILE.param + FILE.bin (pnnx from our ONNX graph), then
runs them in the `ncnn` package against PyTorch (engine.compare, >= 45 dB) before they are kept; a JSON report
FILE.ncnn.verify.json goes beside them. A failed check leaves no files behind."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..atomic import atomic_write, write_bytes
from ..compile.ncnn import PRECISIONS, ncnn_files
from ..compile.onnx import integer_scale
from ..engine.compare import compare as compare_outputs
from ..engine.compare import describe_failure, failed
from ..engine.ncnn import NcnnBackend, require_ncnn
from ..errors import OutputExistsError, ParagonError
from ..fuse import as_deploy
from .verify import report_path

MIN_PSNR_DB = 45.0  # ncnn's own kernels (winograd, packed layouts) round differently: judged by PSNR


def ncnn_outputs(param_path: Path) -> list[Path]:
    """Every file an NCNN export writes: FILE.param, FILE.bin and FILE.ncnn.verify.json."""
    return [param_path, param_path.with_suffix(".bin"), report_path(param_path, "ncnn")]


def export_ncnn(model, path, *, precision: str = "fp32", overwrite: bool = False, opset: int = 17) -> dict:
    """Writes and verifies `path` (.param) and the .bin beside it; returns the report (also FILE.ncnn.verify.json)."""
    require_ncnn("NCNN export (verified in ncnn)")
    path = Path(path)
    if path.suffix.lower() != ".param":
        raise ParagonError(f"{path}: NCNN exports are named FILE.param (FILE.bin is written beside it)")
    if precision not in PRECISIONS:
        raise ParagonError(f"NCNN files are {' or '.join(PRECISIONS)}, not {precision!r}")
    existing = [p for p in ncnn_outputs(path) if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(existing)
    fused = as_deploy(model).cpu().float()
    scale = integer_scale(fused)
    param, binary = ncnn_files(fused, precision, opset)
    with tempfile.TemporaryDirectory(prefix="paragonsr2-ncnn-check-") as tmp:
        tmp_param, tmp_bin = Path(tmp) / "model.param", Path(tmp) / "model.bin"
        tmp_param.write_bytes(param)
        tmp_bin.write_bytes(binary)
        runner = NcnnBackend(str(tmp_param), str(tmp_bin), fused.scale, margin=0, num_feat=fused.config.num_feat,
                             precision=precision, in_chans=fused.config.in_chans, out_chans=fused.config.out_chans)
        checks = compare_outputs(fused, runner, precision, min_psnr=MIN_PSNR_DB)
    worst = failed(checks)
    report = {"file": path.name, "bin": path.with_suffix(".bin").name, "format": "ncnn", "precision": precision,
              "converter": "pnnx", "scale": scale, "input": runner.input_name, "output": runner.output_name,
              "checks": checks, "passed": worst is None}
    if worst is not None:
        raise ParagonError(f"{path.name}: the {precision} NCNN files failed verification in ncnn "
                           f"({describe_failure(worst)}); nothing was written")
    write_bytes(path.with_suffix(".bin"), binary)
    write_bytes(path, param)
    atomic_write(ncnn_outputs(path)[2], lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2)))
    report["path"], report["report"] = str(path), str(ncnn_outputs(path)[2])
    return report

