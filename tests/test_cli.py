"""CLI: grammar of inputs/outputs, exit codes, messages without tracebacks, fast --help. Uses the bundled
default models, so it runs on a fresh clone (no ../shared needed)."""
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paragonsr2 import __version__
from paragonsr2.cli import main
from paragonsr2.cli.commands import DEFAULT_MODEL
from paragonsr2.jobs import RECORD_NAME

ROOT = Path(__file__).resolve().parents[1]
X4_MODEL = DEFAULT_MODEL.parent / "4x_ParagonSR2_nano_default.safetensors"


def _png(path, size=(20, 14), mode="RGB"):
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    arr = (np.random.default_rng(0).random((size[1], size[0], channels)) * 255).astype(np.uint8)
    Image.fromarray(arr[..., 0] if channels == 1 else arr, mode).save(path)
    return path


def _png_header_only(path, width, height):
    """A few-KB PNG whose header claims width x height (a decompression bomb as far as any reader can tell)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 8)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def _files(folder):
    """Files under ``folder`` except job records (an output folder's record: tests/test_jobs.py)."""
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*")
                  if p.is_file() and p.name != RECORD_NAME)


def test_info_table_and_json(capsys):
    assert main(["info", str(DEFAULT_MODEL)]) == 0
    assert "ParagonSR2 generation" in capsys.readouterr().out
    assert main(["info", str(DEFAULT_MODEL), "--json", "--scale", "3"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["scale"] == [3.0, 3.0] and d["scale_source"] == "argument"
    assert any("trained for" in w for w in d["warnings"]) and not any(X4_MODEL.name in w for w in d["warnings"])


@pytest.mark.parametrize("content", [b"garbage", b"\x80\x02}q\x00.", b"PK\x03\x04" + bytes(40), b""])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".ckpt"])
def test_junk_model_file_is_a_clear_error(tmp_path, capsys, content, suffix):
    bad = tmp_path / f"x{suffix}"
    bad.write_bytes(content)
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"x{suffix}" in err and "Traceback" not in err and err.count("\n") == 1


def test_missing_model_and_folder_as_model(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.pth")]) == 2
    assert main(["upscale", str(_png(tmp_path / "a.png")), "-o", str(tmp_path / "b.png"), "--model",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "none.pth: no such file" in err and "folder" in err and not (tmp_path / "b.png").exists()


def test_convert_roundtrip(tmp_path):
    out = tmp_path / "conv.safetensors"
    assert main(["convert", str(DEFAULT_MODEL), str(out), "--fuse"]) == 0
    assert main(["convert", str(DEFAULT_MODEL), str(out)]) == 2  # exists
    assert main(["info", str(out)]) == 0
    from safetensors import safe_open

    plain = tmp_path / "upstream.safetensors"
    assert main(["convert", str(DEFAULT_MODEL), str(plain), "--upstream"]) == 0
    with safe_open(str(out), "pt") as ours, safe_open(str(plain), "pt") as theirs:
        extra = set(ours.keys()) - set(theirs.keys())
    assert extra and all(k.startswith("paragonsr2_") for k in extra)


@pytest.mark.parametrize("argv, option", [
    (["--tile", "8"], "--tile"), (["--tile", "nan"], "--tile"), (["--tile", "-5"], "--tile"),
    (["--scale", "nan"], "--scale"), (["--scale", "inf"], "--scale"), (["--scale", "0"], "--scale"),
    (["--scale", "1000"], "--scale"), (["--scale", "2xnan"], "--scale"), (["--alpha", "2"], "--alpha"),
    (["--alpha", "-1"], "--alpha"), (["--alpha", "nan"], "--alpha"), (["--max-pixels", "-1"], "--max-pixels"),
    (["--backend", "cuda"], "--backend"), (["--border", "wrap"], "--border"),
])
def test_bad_arguments_exit_2_once_naming_the_option(tmp_path, capsys, argv, option):
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "a.png")
    _png(src / "b.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}:" in err and err.count("error:") == 1 and "_arg" not in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_export_arguments(monkeypatch, capsys):
    assert main(["export", str(DEFAULT_MODEL), "--precision", "int8"]) == 2
    assert "--calib DIR" in capsys.readouterr().err
    import paragonsr2.export as export

    seen = {}
    monkeypatch.setattr(export, "export_model", lambda model, out, **kw: seen.update(kw) or {"path": str(out)})
    assert main(["export", str(DEFAULT_MODEL), "--calib", ".", "-o", "m.onnx"]) == 0
    assert "--calib is used only with --precision int8" in capsys.readouterr().err and seen["precision"] == "fp32"
    for argv in (["--opset", "0"], ["--calib-count", "0"], ["--calib-size", "nan"], ["--format", "tflite"]):
        assert main(["export", str(DEFAULT_MODEL), *argv]) == 2
        assert f"argument {argv[0]}:" in capsys.readouterr().err


def test_output_file_written_once_and_never_read_back(tmp_path, capsys, monkeypatch):
    """README's command run twice writes one file; the two-path form never takes an existing OUT as input."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    src = _png(tmp_path / "sample.png")
    assert main(["upscale", str(src), "-o", "sample_x2.png"]) == 0
    capsys.readouterr()
    assert main(["upscale", str(src), "-o", "sample_x2.png"]) == 1
    assert _files(work) == ["sample_x2.png"] and _files(tmp_path) == ["sample.png", "work/sample_x2.png"]
    out = capsys.readouterr()
    assert "exists; pass --overwrite to replace it" in out.err
    assert "running" not in out.out  # nothing to write: no model loaded
    # two-path form: OUT is new -> written; OUT exists -> refused (exit 2), never upscaled as a second input
    assert main(["upscale", str(src), "b.png"]) == 0
    assert main(["upscale", str(src), "b.png"]) == 2
    assert "b.png exists" in capsys.readouterr().err and _files(work) == ["b.png", "sample_x2.png"]
    before = Image.open(work / "b.png").size
    assert main(["upscale", str(src), "b.png", "--overwrite", "--scale", "3"]) == 0
    assert Image.open(work / "b.png").size == (60, 42) != before and _files(work) == ["b.png", "sample_x2.png"]


def test_default_output_is_the_working_directory(tmp_path, monkeypatch):
    """Without -o nothing is written beside the inputs; earlier results are not picked up again."""
    photos, work = tmp_path / "photos", tmp_path / "work"
    photos.mkdir()
    work.mkdir()
    _png(photos / "a.png")
    _png(photos / "b.png", mode="RGBA")
    monkeypatch.chdir(work)
    assert main(["upscale", str(photos)]) == 0
    assert _files(photos) == ["a.png", "b.png"] and _files(work) == ["a_paragonsr2.png", "b_paragonsr2.png"]
    monkeypatch.chdir(photos)  # results land beside the inputs only when asked (here: the working directory)
    assert main(["upscale", "."]) == 0
    assert main(["upscale", "."]) == 1  # second run: results exist; they are not inputs
    assert _files(photos) == ["a.png", "a_paragonsr2.png", "b.png", "b_paragonsr2.png"]


def test_batch_goes_on_after_bad_and_huge_inputs(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "a.png")
    _png(src / "b.png", mode="RGBA")
    _png(src / "g.png", mode="L")
    (src / "broken.png").write_bytes(b"not an image")
    bomb = _png_header_only(src / "bomb.png", 20000, 12000)
    assert bomb.stat().st_size < 30_000
    out = tmp_path / "out"
    code = main(["upscale", str(src), "-o", str(out), "--tile", "32"])
    err = capsys.readouterr().err
    assert code == 1  # the broken file and the bomb are reported, the rest are written
    assert "broken.png" in err and "bomb.png: 20000x12000 = 240.0 MP" in err and "--max-pixels" in err
    assert "Traceback" not in err and "3 written, 0 skipped, 2 failed" in err
    assert _files(out) == ["a.png", "b.png", "g.png"] and (out / RECORD_NAME).is_file()  # see test_jobs.py
    assert Image.open(out / "a.png").size == (40, 28)
    assert Image.open(out / "b.png").mode == "RGBA" and Image.open(out / "g.png").mode == "L"
    # the limit is the user's to set
    assert main(["upscale", str(src / "a.png"), "-o", str(tmp_path / "small.png"), "--max-pixels", "100"]) == 1
    assert "20x14 = 0.0 MP is over the limit of 0.0001 MP" in capsys.readouterr().err


def test_outputs_never_replace_inputs_without_overwrite(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _png(src / "a.png")
    _png(src / "b.png")
    assert main(["upscale", str(src / "a.png"), "-o", str(src / "a.png")]) == 1
    assert main(["upscale", str(src), "-o", str(src)]) == 1
    assert Image.open(src / "a.png").size == (20, 14) and _files(src) == ["a.png", "b.png"]
    # jpg/webp by extension; --format for folders; two inputs with one output name: the second is refused
    assert main(["upscale", str(src / "a.png"), str(tmp_path / "a.webp")]) == 0
    assert Image.open(tmp_path / "a.webp").format == "WEBP"
    Image.open(src / "a.png").convert("RGB").save(src / "a.jpg")
    assert main(["upscale", str(src / "[ab].*"), "-o", str(tmp_path / "g"), "--format", "jpg"]) == 1
    assert _files(tmp_path / "g") == ["a.jpg", "b.jpg"] and "also the output of" in capsys.readouterr().err
    assert main(["upscale", str(src / "a.png"), str(src / "b.png"), "-o", str(tmp_path / "one.png")]) == 2
    assert "-o FOLDER" in capsys.readouterr().err
    assert main(["upscale", str(tmp_path / "nothing*.png"), "-o", str(tmp_path / "x")]) == 2
    # results inside the input tree are not inputs of the next run, even through a recursive glob
    for _ in range(2):
        main(["upscale", str(src / "**" / "b.png"), "-o", str(src / "up")])
    assert _files(src) == ["a.jpg", "a.png", "b.png", "up/b.png"]


def test_image_modes_kept(tmp_path, capsys):
    la = _png(tmp_path / "la.png", mode="LA")
    assert main(["upscale", str(la), "-o", str(tmp_path / "la_out.png")]) == 0
    assert Image.open(tmp_path / "la_out.png").mode == "LA"
    rgb16 = (np.random.default_rng(1).random((14, 20)) * 65535).astype(np.uint16)
    Image.fromarray(rgb16).save(tmp_path / "g16.png")
    assert main(["upscale", str(tmp_path / "g16.png"), "-o", str(tmp_path / "g16_out.png")]) == 0
    out16 = Image.open(tmp_path / "g16_out.png")
    assert out16.mode == "I;16" and len(np.unique(np.asarray(out16))) > 256  # more levels than 8 bits hold
    rgba = _png(tmp_path / "rgba.png", mode="RGBA")
    assert main(["upscale", str(rgba), "-o", str(tmp_path / "rgba.jpg")]) == 0
    assert "JPEG has no alpha" in capsys.readouterr().err and Image.open(tmp_path / "rgba.jpg").mode == "RGB"


def test_scale_above_trained_warns_and_names_the_bundled_model(tmp_path, capsys):
    src = _png(tmp_path / "a.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "b.png"), "--scale", "4"]) == 0
    err = capsys.readouterr().err
    assert "trained for 2x" in err and f"--model {X4_MODEL}" in err
    assert main(["upscale", str(src), "-o", str(tmp_path / "c.png"), "--model", str(X4_MODEL), "--scale", "2"]) == 0
    assert "trained for" not in capsys.readouterr().err  # smaller than trained: no warning


def test_cuda_without_gpu_says_so(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible here")
    assert main(["upscale", str(_png(tmp_path / "a.png")), "-o", str(tmp_path / "b.png"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "GPU" in err and err.count("error:") == 1 and not (tmp_path / "b.png").exists()


def test_export_without_onnxruntime_writes_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    out = tmp_path / "m.onnx"
    assert main(["export", str(DEFAULT_MODEL), "-o", str(out)]) == 3
    assert "pip install onnxruntime" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_export_defaults_to_working_directory_and_prints_one_line(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(DEFAULT_MODEL)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    onnx_name = f"{DEFAULT_MODEL.stem}_2x_fp32.onnx"
    assert _files(tmp_path) == [onnx_name, onnx_name + ".verify.json"]
    assert len(out) == 1 and f"wrote {tmp_path / onnx_name};" in out[0] and out[0].endswith(".verify.json")
    assert json.loads((tmp_path / f"{onnx_name}.verify.json").read_text())["passed"] is True


def test_engine_file_and_int8_symmetric_flags(tmp_path, monkeypatch, capsys):
    src = _png(tmp_path / "a.png")
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # an engine runs only in TensorRT: say what to install
    assert main(["upscale", str(src), "-o", str(tmp_path / "b.png"), "--model", str(tmp_path / "m.engine")]) == 3
    assert "pip install tensorrt" in capsys.readouterr().err and not (tmp_path / "b.png").exists()
    import paragonsr2.export as export

    seen = {}
    monkeypatch.setattr(export, "export_model", lambda model, out, **kw: seen.update(kw) or {"path": str(out)})
    assert main(["export", str(DEFAULT_MODEL), "--precision", "int8", "--calib", str(tmp_path), "--int8-symmetric",
                 "-o", str(tmp_path / "q.onnx")]) == 0
    assert seen["int8_symmetric"] is True and seen["precision"] == "int8"


def _run_cli(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "paragonsr2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_help_and_argument_errors_do_not_import_torch(tmp_path):
    """From any directory; `-X importtime` lists every module imported: torch must not be among them."""
    for args, code, text in ([["--help"], 0, "upscale"], [["upscale", "--help"], 0, "--max-pixels"],
                             [["--version"], 0, f"paragonsr2 {__version__}\n"],
                             [["upscale", "a.png", "--tile", "8"], 2, "argument --tile"]):
        done = _run_cli(args, tmp_path)
        assert done.returncode == code and text in done.stdout + done.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "import time:" in line}
        assert "paragonsr2.cli" in imported and "torch" not in imported


def test_console_scripts_resolve():
    """pyproject's [project.scripts] name real functions (what `pip install .` turns into commands)."""
    import importlib
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"paragonsr2", "paragonsr2-train"}
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func))


def test_plan_grammar_without_running(tmp_path):
    """plan_upscale only decides paths: the same folder in and out refuses every file unless --overwrite."""
    from paragonsr2.cli import plan_upscale
    from paragonsr2.errors import ParagonError

    src = tmp_path / "in"
    (src / "up").mkdir(parents=True)
    for name in ("a.png", "b.jpg", "up/a.png", "c_paragonsr2.png", ".hidden.png", "notes.txt"):
        (src / name).write_bytes(b"x")
    plan = plan_upscale([str(src)], str(src))
    assert plan.pairs == [] and len(plan.problems) == 2
    plan = plan_upscale([str(src)], str(src), overwrite=True)
    assert plan.pairs == [(src / "a.png", src / "a.png"), (src / "b.jpg", src / "b.jpg")]
    plan = plan_upscale([str(src / "**" / "*.png")], str(src / "up"), fmt="webp")
    assert plan.pairs == [(src / "a.png", src / "up" / "a.webp")]  # up/a.png is a result, not an input
    plan = plan_upscale([str(src / "a.png"), str(tmp_path / "new" / "")], None)
    assert plan.pairs == [(src / "a.png", tmp_path / "new" / "a.png")]
    plan = plan_upscale([str(src / "a.png"), str(src / "b.jpg"), str(tmp_path / "missing.png")], None, cwd=tmp_path)
    assert [dst for _, dst in plan.pairs] == [tmp_path / "a_paragonsr2.png", tmp_path / "b_paragonsr2.jpg"]
    assert plan.problems == [(tmp_path / "missing.png", f"{tmp_path / 'missing.png'}: no such file or folder")]
    with pytest.raises(ParagonError, match="is one file"):
        plan_upscale([str(src)], str(tmp_path / "one.png"))
    with pytest.raises(ParagonError, match="unknown image extension"):
        plan_upscale([str(src / "a.png")], str(tmp_path / "out.xyz"))


def test_internal_errors_and_host_state(tmp_path, monkeypatch, capsys):
    """A bug is one line (exit 4; -v adds the traceback); main() leaves logging, warnings and Pillow as it
    found them (it may run in-process)."""
    import logging
    import warnings

    from paragonsr2.cli import commands

    logger = logging.getLogger("paragonsr2")
    before = (logger.handlers[:], logger.level, logger.propagate, warnings.showwarning, Image.MAX_IMAGE_PIXELS)
    assert main(["upscale", str(_png(tmp_path / "a.png")), "-o", str(tmp_path / "b.png")]) == 0
    after = (logger.handlers[:], logger.level, logger.propagate, warnings.showwarning, Image.MAX_IMAGE_PIXELS)
    assert after == before

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setitem(commands.COMMANDS, "info", broken)
    capsys.readouterr()
    assert main(["info", "x.pth"]) == 4
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: boom)" in err and "Traceback" not in err and err.count("\n") == 1
    assert main(["-v", "info", "x.pth"]) == 4
    assert "Traceback" in capsys.readouterr().err


def test_low_quality_jpeg_gets_the_robust_bundled_model(tmp_path, capsys):
    import paragonsr2 as p
    from paragonsr2.imageio import read_image

    arr = (np.random.default_rng(1).random((14, 20, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "web.jpg", quality=60)
    Image.fromarray(arr).save(tmp_path / "fine.jpg", quality=95)
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "web.jpg"), str(tmp_path / "fine.jpg"), "-o", str(out), "--format", "png",
                 "--backend", "pytorch", "--precision", "fp32", "--no-progress"]) == 0
    text = capsys.readouterr().out
    real = DEFAULT_MODEL.with_name("2x_ParagonSR2_nano_real.safetensors")
    assert text.count(f"using the bundled {real.name} for JPEG input of quality 60") == 1
    for name, model in (("web", real), ("fine", DEFAULT_MODEL)):
        expected = p.upscale(p.load_model(model, fuse=True), read_image(tmp_path / f"{name}.jpg"), layout="BCHW",
                             backend="pytorch", precision="fp32")
        written = read_image(next(out.glob(f"{name}*.png")))
        assert torch_equal_8bit(written, expected)


def torch_equal_8bit(written, expected) -> bool:
    """The written 8-bit file holds the expected float image rounded to 8 bits."""
    return bool(((expected.clamp(0, 1) * 255).round() / 255 - written).abs().max() < 1e-6)
