"""What a new user meets first (issue 25): bundled models by name, export reports per format, one overwrite
wording, messages that say what a file is and what option was meant, output-path and write failures that name
the output, and an artifact cache that heals. Runs on a fresh clone (bundled models, generated files)."""
import logging
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paragonsr2.checkpoint import bundled_names, resolve_model
from paragonsr2.cli import main
from paragonsr2.cli.commands import DEFAULT_MODEL
from paragonsr2.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[1]
STEMS = [Path(n).stem for n in bundled_names()]


def _png(path, size=(24, 16)):
    Image.fromarray((np.random.default_rng(0).random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(path)
    return path


# 2. bundled models by name

@pytest.mark.parametrize("name", [DEFAULT_MODEL.stem, DEFAULT_MODEL.name, DEFAULT_MODEL.stem.upper()])
def test_info_takes_a_bundled_model_by_name(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file of that name here: the bundled one is meant
    assert main(["info", name]) == 0
    assert f"source           {DEFAULT_MODEL.name}" in capsys.readouterr().out


def test_load_model_and_upscale_take_a_bundled_name(tmp_path, monkeypatch, capsys):
    import paragonsr2

    monkeypatch.chdir(tmp_path)
    model = paragonsr2.load_model("4x_ParagonSR2_nano_real")
    assert model.description.source == "4x_ParagonSR2_nano_real.safetensors" and tuple(model.scale) == (4.0, 4.0)
    src = _png(tmp_path / "a.png")
    assert main(["upscale", str(src), "-o", "b.png", "--model", "4x_ParagonSR2_nano_real", "--backend",
                 "pytorch", "--no-progress"]) == 0
    assert Image.open(tmp_path / "b.png").size == (96, 64)


def test_a_file_of_that_name_wins_over_the_bundled_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_MODEL.stem).write_text("mine")
    assert resolve_model(DEFAULT_MODEL.stem) == Path(DEFAULT_MODEL.stem)


def test_an_unknown_name_lists_the_bundled_models_and_the_nearest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["info", "2x_ParagonSR2_nano_defualt"]) == 2
    err = capsys.readouterr().err
    assert all(stem in err for stem in STEMS) and f"Did you mean {DEFAULT_MODEL.stem}?" in err
    with pytest.raises(CheckpointError, match="not the name of a bundled model"):
        resolve_model("nothing_like_it")


# 3. export: a report per format, one overwrite wording, ncnn in the help

def test_onnx_then_ncnn_export_share_a_folder(tmp_path, monkeypatch, capsys):
    for package in ("onnx", "onnxruntime", "ncnn", "pnnx"):
        pytest.importorskip(package)
    monkeypatch.chdir(tmp_path)
    assert main(["export", DEFAULT_MODEL.stem, "--format", "onnx"]) == 0
    assert main(["export", DEFAULT_MODEL.stem, "--format", "ncnn"]) == 0
    stem = f"{DEFAULT_MODEL.stem}_2x_fp32"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{stem}.onnx", f"{stem}.onnx.verify.json", f"{stem}.param", f"{stem}.bin", f"{stem}.ncnn.verify.json"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(f"report: {tmp_path / stem}.onnx.verify.json")
    assert out[1].endswith(f"report: {tmp_path / stem}.ncnn.verify.json")


@pytest.mark.parametrize("fmt", ["onnx", "ncnn"])
def test_existing_export_files_get_the_cli_overwrite_wording(fmt, tmp_path, capsys):
    pytest.importorskip("onnx")
    if fmt == "ncnn":
        pytest.importorskip("ncnn")
    name = tmp_path / ("m.onnx" if fmt == "onnx" else "m.param")
    name.write_text("the user's file")
    assert main(["export", str(DEFAULT_MODEL), "--format", fmt, "-o", str(name)]) == 2
    err = capsys.readouterr().err
    assert f"error: {name} exists; pass --overwrite to replace it\n" == err
    assert name.read_text() == "the user's file"


def test_convert_and_upscale_use_the_same_overwrite_wording(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    out.write_text("x")
    assert main(["convert", str(DEFAULT_MODEL), str(out)]) == 2
    assert capsys.readouterr().err == f"error: {out} exists; pass --overwrite to replace it\n"
    src, dst = _png(tmp_path / "a.png"), _png(tmp_path / "b.png")
    assert main(["upscale", str(src), "-o", str(dst)]) == 1
    assert f"skip {src}: {dst} exists; pass --overwrite to replace it\n" in capsys.readouterr().err


def test_top_level_help_names_every_export_format(capsys):
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(word in text for word in ("ONNX", "NCNN", "TensorRT"))


# 4. the artifact cache: verified before use, rebuilt when damaged, location printed

def _count_builds(tmp_path):
    from paragonsr2.compile.cache import cached

    builds = []

    def produce(tmp):
        builds.append(tmp)
        Path(tmp).write_bytes(b"artifact " * 100)

    return builds, lambda: cached(tmp_path / "entry.onnx", produce)


@pytest.mark.parametrize("damage", ["truncate", "garble", "no record"])
def test_a_damaged_cache_entry_is_rebuilt_with_one_warning(damage, tmp_path, caplog):
    builds, use = _count_builds(tmp_path)
    entry = use()
    good = entry.read_bytes()
    assert use() == entry and len(builds) == 1  # sound: used as is
    if damage == "truncate":
        entry.write_bytes(good[:100])
    elif damage == "garble":
        entry.write_bytes(good[:50] + b"X" + good[51:])
    else:
        entry.with_name(entry.name + ".sha256").unlink()
    with caplog.at_level(logging.WARNING, logger="paragonsr2"):
        assert use() == entry
    assert len(builds) == 2 and entry.read_bytes() == good
    (record,) = [r for r in caplog.records if "artifact cache" in r.getMessage()]
    assert str(entry) in record.getMessage() and "rebuilding" in record.getMessage()


def test_upscale_heals_a_garbled_onnx_cache_entry(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("PARAGONSR2_CACHE", str(tmp_path / "cache"))
    src = _png(tmp_path / "a.png")
    args = ["upscale", str(src), "-o", str(tmp_path / "b.png"), "--backend", "onnxruntime", "--no-progress",
            "--overwrite"]
    assert main(args) == 0
    (entry,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    first = Image.open(tmp_path / "b.png").tobytes()
    entry.write_bytes(b"\x00garbled" + entry.read_bytes()[8:])  # same size, other bytes
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("warning: artifact cache:") == 1 and f"{entry} is damaged" in err
    assert Image.open(tmp_path / "b.png").tobytes() == first


def test_info_cache_prints_the_location(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PARAGONSR2_CACHE", str(tmp_path / "c"))
    (tmp_path / "c" / "onnx").mkdir(parents=True)
    (tmp_path / "c" / "onnx" / "x.onnx").write_bytes(bytes(2_000_000))
    assert main(["info", "--cache"]) == 0
    out = capsys.readouterr().out
    assert f"artifact cache: {tmp_path / 'c'}" in out and "PARAGONSR2_CACHE" in out and "onnx: 1 files, 2.0 MB" in out
    assert main(["info"]) == 2 and "--cache" in capsys.readouterr().err


# 5. messages

@pytest.mark.parametrize(("content", "kind"), [
    (b"hello, this is a README\n", "a text file"),
    (b"<!DOCTYPE html><html><body>Sign in</body></html>", "an HTML page"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\n", "a Git LFS pointer"),
    (b"", "an empty file"),
    ("png", "a PNG image"),
    ("zip", "a ZIP archive"),
])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_non_checkpoint_file_says_what_it_is(content, kind, suffix, tmp_path, capsys):
    import zipfile

    path = tmp_path / f"model{suffix}"
    if content == "png":
        _png(tmp_path / "x.png").rename(path)
    elif content == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hi")
    else:
        path.write_bytes(content)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: this is {kind}") and "Error" not in err and err.count("\n") == 1


def test_a_checkpoint_with_the_other_suffix_still_loads(tmp_path):
    import shutil

    import paragonsr2

    wrong = tmp_path / "2x_model.pth"  # safetensors content under a .pth name: read by content
    shutil.copy(DEFAULT_MODEL, wrong)
    expected = paragonsr2.load_model(DEFAULT_MODEL).description
    assert paragonsr2.load_model(wrong).description.generation == expected.generation


@pytest.mark.parametrize(("argv", "meant"), [
    (["upscale", "a.png", "--tiles", "4"], "--tile"),
    (["upscale", "--ovewrite", "a.png"], "--overwrite"),
    (["upscale", "a.png", "--backend", "opnvino"], "openvino"),
    (["export", "m", "--format", "ncn"], "ncnn"),
    (["inf", "m"], "info"),
])
def test_a_mistyped_option_suggests_the_nearest(argv, meant, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.rstrip().endswith(f"(did you mean {meant}?)")


@pytest.mark.parametrize("output", ["file.png/out.png", "file.png/sub/"])
def test_an_output_under_a_file_exits_2_naming_it(output, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    src = _png(tmp_path / "a.png")
    (tmp_path / "file.png").write_text("not a folder")
    assert main(["upscale", str(src), "-o", output]) == 2
    err = capsys.readouterr().err
    assert f"output {output.rstrip('/')}: file.png is a file, not a folder" in err and "running" not in err


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs POSIX file size limits")
def test_a_failed_write_names_the_output(tmp_path):
    """A real write failure (file size limit: EFBIG, as on a full or limited disk) names the output that
    could not be written, leaves nothing under that name and goes on (exit 1)."""
    src = _png(tmp_path / "noisy.png", size=(96, 96))  # noise: the x2 PNG is far above the limit

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "paragonsr2", "upscale", str(src), "-o", str(out), "--backend",
                          "pytorch"], env=env, preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert f"cannot write {out / 'noisy.png'}: File too large" in run.stderr
    assert not [p for p in out.iterdir() if p.name != ".paragonsr2-job.json"]  # no partial file, no temporary


# 6. tests: the slow list stays true; 1. the README's commands and pictures

def test_every_slow_entry_names_a_test():
    import ast

    from slow_tests import SLOW

    for entry in SLOW:
        file_name, name = entry.split("::")
        tree = ast.parse((ROOT / "tests" / file_name).read_text())
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name.split("[")[0] in names, f"tests/slow_tests.py: {entry} names no test"


def _readme():
    return (ROOT / "README.md").read_text()


def test_readme_is_short_and_its_two_commands_fit_this_checkout():
    import re
    import tomllib

    text = _readme()
    assert len(text) <= 12_000
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    upscale = next(b for b in blocks if "python -m paragonsr2 upscale" in b and "pip install -r" in b)
    tests = next(b for b in blocks if "python -m pytest" in b and "pip install -r" in b)
    image = re.search(r"upscale (\S+)", upscale)[1]
    assert (ROOT / image).is_file() and (ROOT / "requirements-dev.txt").is_file()
    marker = re.search(r'-m "not (\w+)"', tests)[1]
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith(f"{marker}:") for m in markers)
    pins = (ROOT / "requirements-dev.txt").read_text()
    cpu = re.search(r"pip install (torch==\S+) (torchvision==\S+) --index-url \S+/cpu", text)
    assert cpu and cpu[1] in pins and cpu[2] in pins  # the CPU-only line installs the pinned pair


def test_every_picture_exists_and_keeps_its_bench_command():
    import re

    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for match in re.finditer(r"!\[[^\]]*\]\(([^)]+)\)", text):
            assert (page.parent / match[1]).is_file(), f"{page.name}: {match[1]} is missing"
            near = text[max(0, match.start() - 400):match.end() + 400]  # a caption or heading beside it
            assert re.search(r"(python|bash) bench/\S+", near), f"{page.name}: {match[1]} has no bench command"
