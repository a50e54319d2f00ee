"""Issue 10, items 4-8 and 11.7: caches that cannot go stale, no side effects on the caller, never overwriting
what the user did not name, faults in caches and sidecars, bounded calibration, and image borders."""
import json
import os
from pathlib import Path

import pytest
import torch

import paragonsr2 as p
from paragonsr2.arch import variant_config
from paragonsr2.arch.geometry import BorderPad, receptive_radius
from paragonsr2.atomic import atomic_write, remove_orphans
from paragonsr2.engine import make_backend, upscale
from paragonsr2.engine.margin import tile_margin
from paragonsr2.errors import ParagonError

from helpers import ROOT, float32_bound, random_state_dict

BUNDLED = ROOT / "paragonsr2" / "models"


@pytest.fixture
def nano():
    return p.load_model(random_state_dict(variant_config("nano"), seed=3), fuse=True)


# 10.4: stale caches

def test_margin_follows_scale_and_alpha(nano):
    first = tile_margin(nano)
    assert first == receptive_radius(nano.config, nano.scale, nano.upsampler_alpha)
    nano.set_scale(4)
    assert tile_margin(nano) == receptive_radius(nano.config, (4.0, 4.0), nano.upsampler_alpha)
    nano.set_upsampler_alpha(0.0)
    assert tile_margin(nano) == receptive_radius(nano.config, (4.0, 4.0), 0.0) != first
    nano.set_scale(2)
    nano.set_upsampler_alpha(0.5)
    assert tile_margin(nano) == first


# 10.5: no side effects on the caller or the process

def test_upscale_leaves_the_callers_model_as_given(nano):
    weights = {k: v.clone() for k, v in nano.state_dict().items()}
    upscale(nano, torch.rand(1, 3, 12, 12), layout="BCHW", device="cpu")
    for name, t in nano.state_dict().items():
        assert torch.equal(t, weights[name]) and t.is_contiguous(), name  # never made channels-last in place


def test_atomic_write_never_touches_the_umask(tmp_path, monkeypatch):
    mask = os.umask(0o022)
    os.umask(mask)

    def forbidden(_):
        raise AssertionError("os.umask called: another thread's files would get the wrong mode")
    monkeypatch.setattr(os, "umask", forbidden)
    path = atomic_write(tmp_path / "a.bin", lambda tmp: Path(tmp).write_bytes(b"x"))
    assert path.read_bytes() == b"x" and (path.stat().st_mode & 0o777) == (0o666 & ~mask)

    def private_writer(tmp):  # like safetensors: a new file, mode 0o600
        os.unlink(tmp)
        os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600))
    model = atomic_write(tmp_path / "m.safetensors", private_writer)
    assert (model.stat().st_mode & 0o777) == (0o666 & ~mask)
    model.unlink()
    with pytest.raises(ValueError):
        atomic_write(tmp_path / "b.bin", lambda tmp: Path(tmp).write_bytes(b"y"),
                     accept=lambda tmp: (_ for _ in ()).throw(ValueError("refused")))
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a.bin"]  # refused: nothing left, no .part


def test_orphan_parts_are_removed_only_when_old(tmp_path):
    old, fresh = tmp_path / ".m.onnx.dead.part", tmp_path / ".m.onnx.live.part"
    old.write_bytes(b"")
    fresh.write_bytes(b"")
    os.utime(old, (0, 0))
    assert remove_orphans(tmp_path) == 1 and not old.exists() and fresh.exists()


# 10.6: never overwrite what the user did not name

def test_export_refuses_an_existing_report(nano, tmp_path):
    pytest.importorskip("onnxruntime")
    from paragonsr2.export import export_onnx

    report = tmp_path / "m.onnx.verify.json"
    report.write_text("the user's own notes")
    with pytest.raises(ParagonError, match="m.onnx.verify.json exists"):
        export_onnx(nano, tmp_path / "m.onnx")
    assert report.read_text() == "the user's own notes" and not (tmp_path / "m.onnx").exists()
    export_onnx(nano, tmp_path / "m.onnx", overwrite=True)
    assert json.loads(report.read_text())["passed"]


def test_engine_export_refuses_existing_sidecar_or_timing_cache(nano, tmp_path, fake_trt):
    from paragonsr2.export import export_model

    fake_trt()
    for name in ("e.json", "e.timing.cache"):
        (tmp_path / name).write_text("keep me")
        with pytest.raises(ParagonError, match=name):
            export_model(nano, tmp_path / "e.engine", fmt="tensorrt")
        assert (tmp_path / name).read_text() == "keep me" and not (tmp_path / "e.engine").exists()
        (tmp_path / name).unlink()


# 10.7: caches and sidecars under faults

def test_cache_entry_published_only_after_verification(nano, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from paragonsr2.compile import cache
    from paragonsr2.compile.onnx import cached_onnx

    monkeypatch.setenv("PARAGONSR2_CACHE", str(tmp_path))

    def refuse(path):
        assert path.is_file()  # the candidate exists while it is checked ...
        raise ParagonError("does not match")
    with pytest.raises(ParagonError, match="does not match"):
        cached_onnx(nano, "fp32", refuse)
    assert not [q for q in tmp_path.rglob("*") if q.is_file()]  # ... and is gone after a refusal
    path = cached_onnx(nano, "fp32", lambda path: None)
    assert path.is_file() and cached_onnx(nano, "fp32", refuse) == path  # published entries are reused
    key = cache.content_hash(nano, "fp32")
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    assert cache.content_hash(nano, "fp32") != key  # another torch: another entry


def test_failed_verification_removes_the_file(nano, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    import paragonsr2.export.verify as verify
    from paragonsr2.export import export_onnx

    def mismatch(*args, **kwargs):
        raise ParagonError("onnxruntime output shape (1, 3, 80, 128) != PyTorch (1, 3, 80, 126)")
    monkeypatch.setattr(verify, "onnx_checks", mismatch)
    with pytest.raises(ParagonError, match="output shape.*removed"):
        export_onnx(nano, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("field,value,message", [
    ("margin", -3, "margin -3"), ("scale", [1000, 1000], "scale"), ("num_feat", 10 ** 9, "num_feat"),
    ("profile", {"channels": 3, "min_hw": 1, "opt_hw": 64, "max_hw": 10 ** 7}, "profile")])
def test_sidecar_values_are_range_checked(tmp_path, field, value, message):
    from paragonsr2.compile.tensorrt import read_sidecar

    good = {"profile": {"channels": 3, "min_hw": 1, "opt_hw": 300, "max_hw": 1080}, "margin": 28,
            "scale": [2.0, 2.0], "num_feat": 24}
    engine = tmp_path / "m.engine"
    (tmp_path / "m.json").write_text(json.dumps(good))
    assert read_sidecar(engine)["margin"] == 28
    (tmp_path / "m.json").write_text(json.dumps({**good, field: value}))
    with pytest.raises(ParagonError, match=f"out-of-range values: .*{message}"):
        read_sidecar(engine)


# 10.8: bounded calibration

def test_calibration_reads_at_most_count_images(tmp_path, monkeypatch):
    import paragonsr2.compile.quantize as quantize
    from paragonsr2.imageio import write_image

    for i in range(6):
        sub = tmp_path / f"d{i % 2}"
        sub.mkdir(exist_ok=True)
        write_image(sub / f"{i}.png", torch.rand(1, 3, 40 + i, 50))
    read = []
    original = quantize.read_image
    monkeypatch.setattr(quantize, "read_image", lambda path: read.append(path) or original(path))
    crops = quantize.calibration_crops(tmp_path, count=3, size=32)
    assert len(read) == 3 and len(crops) == 3 and all(c.shape == (1, 3, 32, 32) for c in crops)
    read.clear()
    crops = quantize.calibration_crops(tmp_path, count=8, size=16)  # fewer images than crops
    assert len(read) == 6 and len(crops) == 8
    with pytest.raises(ParagonError, match="--calib DIR"):
        quantize.calibration_crops(None)


# 11.7: image borders

@pytest.mark.parametrize("size", [(1, 1), (2, 2), (5, 3)])
def test_flat_images_keep_their_colour(size):
    model = p.load_model(BUNDLED / "2x_ParagonSR2_nano_default.safetensors", fuse=True)
    colour = torch.tensor([200, 30, 40]) / 255
    image = colour.view(1, 3, 1, 1).expand(1, 3, *size).contiguous()
    out = upscale(model, image, layout="BCHW", device="cpu")
    assert (out - colour.view(1, 3, 1, 1)).abs().max() <= 4 / 255
    zero_padded = upscale(model, image, layout="BCHW", device="cpu", backend="pytorch", strict_upstream=True)
    with torch.no_grad():
        upstream = model(image).clamp(0, 1)  # upstream's behaviour (zero padding), on request
    assert (zero_padded - upstream).abs().max() <= float32_bound(model, upstream)
    assert (upstream - colour.view(1, 3, 1, 1)).abs().max() > 16 / 255  # what the border mode fixes


def test_core_path_module_has_the_same_borders(nano):
    """The module that spandrel hands to ComfyUI's core node pads like upscale() (untiled: exact)."""
    pytest.importorskip("spandrel")
    from paragonsr2.spandrel_arch import descriptor

    module = descriptor(nano).model
    assert isinstance(module, BorderPad) and module.state_dict().keys() == nano.state_dict().keys()
    x = torch.rand(1, 3, 9, 14)
    with torch.no_grad():
        ref = module(x).clamp(0, 1)
    out = upscale(make_backend(nano, "pytorch", device="cpu"), x, tile=None, layout="BCHW")
    assert (out - ref).abs().max() <= float32_bound(nano, ref)


def test_backend_cache_is_keyed_by_the_model_itself(nano):
    import gc

    from paragonsr2.engine.backend_cache import BackendCache

    cache = BackendCache(per_model=2)
    first = cache.get(nano, "pytorch", "auto", "cpu")
    assert cache.get(nano, "pytorch", "auto", "cpu") is first
    nano.set_scale(3)
    assert cache.get(nano, "pytorch", "auto", "cpu") is not first  # scale is part of the key
    other = p.load_model(random_state_dict(variant_config("nano"), seed=4), fuse=True)
    assert cache.get(other, "pytorch", "auto", "cpu") is not first and len(cache) == 3
    del other
    gc.collect()
    assert len(cache) == 2  # the entry died with its model: no id can be reused


def test_border_pad_is_bounded_and_checked(nano):
    """Deep variants' receptive fields reach hundreds of px: the border extension stops at MAX_BORDER in both
    the tiler and the module handed to ComfyUI; a wrong mode is a clear error everywhere."""
    from paragonsr2.arch.geometry import MAX_BORDER, border_pad

    assert border_pad(28, (2.0, 2.0), "replicate") == 28 and border_pad(860, (2.0, 2.0), "reflect") == MAX_BORDER
    assert border_pad(28, (1.5, 1.5), "replicate") == 0 and border_pad(28, (2.0, 2.0), "zeros") == 0
    assert BorderPad(nano, pad=500).border_pad() == MAX_BORDER
    with pytest.raises(ParagonError, match="border 'mirror' is not one of"):
        BorderPad(nano, "mirror")
    with pytest.raises(ParagonError, match="border 'mirror' is not one of"):
        upscale(nano, torch.rand(1, 3, 8, 8), layout="BCHW", backend="pytorch", border="mirror")
