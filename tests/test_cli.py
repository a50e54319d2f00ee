"""CLI: info/convert/upscale behaviour and exit codes."""
import json
import sys

import numpy as np
import pytest
from PIL import Image

from paragonsr2.cli import main


def _png(path, size=(20, 14), mode="RGB"):
    arr = (np.random.default_rng(0).random((size[1], size[0], len(mode))) * 255).astype(np.uint8)
    Image.fromarray(arr[..., 0] if mode == "L" else arr, mode).save(path)
    return path


def test_info_table_and_json(real_path, capsys):
    assert main(["info", str(real_path)]) == 0
    assert "generation A" in capsys.readouterr().out
    assert main(["info", str(real_path), "--json", "--scale", "3"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["scale"] == [3.0, 3.0] and d["scale_source"] == "argument"


def test_info_refusal_exit_code(tmp_path, capsys):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"garbage")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "x.safetensors" in err and "Traceback" not in err


def test_convert_roundtrip(real_ema_path, tmp_path):
    out = tmp_path / "conv.safetensors"
    assert main(["convert", str(real_ema_path), str(out), "--fuse"]) == 0
    assert main(["convert", str(real_ema_path), str(out)]) == 2  # exists
    assert main(["info", str(out)]) == 0


def test_upscale_files_folders_alpha_and_failures(real_path, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "a.png")
    _png(src / "b.png", mode="RGBA")
    _png(src / "g.png", mode="L")
    (src / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["upscale", str(src), "-o", str(out), "--model", str(real_path), "--tile", "32"])
    assert code == 1  # the broken file is reported, the rest are written
    assert "broken.png" in capsys.readouterr().err
    assert Image.open(out / "a.png").size == (40, 28)
    assert Image.open(out / "b.png").mode == "RGBA"
    assert Image.open(out / "g.png").mode == "L"
    # never overwrites without --overwrite, inputs included
    assert main(["upscale", str(src / "a.png"), str(src / "a.png"), "--model", str(real_path)]) == 1
    assert Image.open(src / "a.png").size == (20, 14)
    # glob + jpg/webp by extension
    assert main(["upscale", str(src / "a.png"), str(tmp_path / "a.webp"), "--model", str(real_path)]) == 0
    assert Image.open(tmp_path / "a.webp").format == "WEBP"
    assert main(["upscale", str(src / "[ab].png"), "-o", str(tmp_path / "g"), "--format", "jpg",
                 "--model", str(real_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["a.jpg", "b.jpg"]


def test_export_without_onnxruntime_writes_nothing(real_path, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    out = tmp_path / "m.onnx"
    assert main(["export", str(real_path), "-o", str(out)]) == 3
    assert "pip install onnxruntime" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_engine_file_and_int8_symmetric_flags(real_path, tmp_path, monkeypatch, capsys):
    src = _png(tmp_path / "a.png")
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # an engine runs only in TensorRT: say what to install
    assert main(["upscale", str(src), "-o", str(tmp_path / "b.png"), "--model", str(tmp_path / "m.engine")]) == 3
    assert "pip install tensorrt" in capsys.readouterr().err and not (tmp_path / "b.png").exists()
    import paragonsr2.export as export

    seen = {}
    monkeypatch.setattr(export, "export_model", lambda model, out, **kw: seen.update(kw) or {"path": str(out)})
    assert main(["export", str(real_path), "--precision", "int8", "--calib", str(tmp_path), "--int8-symmetric",
                 "-o", str(tmp_path / "q.onnx")]) == 0
    assert seen["int8_symmetric"] is True and seen["precision"] == "int8"
