"""Trainer under faults: huge/broken images, missing data, host RNG and threads, resume after kills."""
import logging
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from trainer import TrainConfig, load_config, train
from trainer._core import TrainError
from trainer.state import previous


def _png_claiming(path, width, height):
    """A tiny valid-looking PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    Image.new("RGB", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length+type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    path.write_bytes(bytes(data))


@pytest.fixture
def image_dir(tmp_path):
    d = tmp_path / "hr"
    d.mkdir()
    rng = np.random.default_rng(2)
    for i in range(4):
        Image.fromarray((rng.random((48, 48, 3)) * 255).astype(np.uint8)).save(d / f"img{i}.png")
    return d


def _cfg(hr_dir, out, **kw):
    base = dict(hr_dir=str(hr_dir), out_dir=str(out), patch=16, batch=2, steps=4, warmup=1, val_every=2,
                save_every=2, val_crop=32, threads=1, variant="nano", seed=1, val_fraction=0.5)
    base.update(kw)
    return TrainConfig(**base)


def test_decompression_bomb_and_junk_are_skipped(image_dir, tmp_path, caplog):
    _png_claiming(image_dir / "bomb.png", 20000, 12000)
    (image_dir / "junk.jpg").write_bytes(b"not an image")
    with caplog.at_level(logging.WARNING, logger="paragonsr2.trainer"):
        result = train(_cfg(image_dir, tmp_path / "run", steps=2), device="cpu", resume=False)
    assert result.step == 2
    skipped = " ".join(r.getMessage() for r in caplog.records)
    assert "bomb.png" in skipped and "max_pixels" in skipped and "junk.jpg" in skipped


def test_host_rng_and_threads_untouched(image_dir, tmp_path):
    torch.manual_seed(1234)
    rng, threads = torch.get_rng_state(), torch.get_num_threads()
    train(_cfg(image_dir, tmp_path / "run", steps=2, threads=threads + 1), device="cpu", resume=False)
    assert torch.equal(torch.get_rng_state(), rng) and torch.get_num_threads() == threads


def test_one_pixel_image_in_validation_split(image_dir, tmp_path):
    Image.new("RGB", (1, 1), (200, 30, 40)).save(image_dir / "img1b.png")  # sorted 2nd: held back (k = 2)
    result = train(_cfg(image_dir, tmp_path / "run", steps=2), device="cpu", resume=False)
    assert result.val and np.isfinite(result.val["psnr"])


def test_missing_or_empty_data_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(TrainError, match="is not a folder"):
        train(_cfg(tmp_path / "absent", tmp_path / "run"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainError, match="holds no image"):
        train(_cfg(tmp_path / "empty", tmp_path / "run"), device="cpu")
    (tmp_path / "list.txt").write_text("a/1.png\na/2.png\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'file_list = "list.txt"\ndata_root = "{tmp_path / "nowhere"}"\n')
    from trainer.__main__ import main

    assert main(["--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paragonsr2-train --fetch-data" in err[0]


def test_too_small_images_say_what_to_change(tmp_path):
    d = tmp_path / "small"
    d.mkdir()
    Image.new("RGB", (20, 20)).save(d / "a.png")
    with pytest.raises(TrainError, match="lower 'patch'"):
        train(_cfg(d, tmp_path / "run", val_fraction=0), device="cpu")


def test_variant_change_under_same_name(image_dir, tmp_path):
    train(_cfg(image_dir, tmp_path / "run", steps=2), device="cpu", resume=False)
    with pytest.raises(TrainError, match="was started with variant nano.*tiny"):
        train(_cfg(image_dir, tmp_path / "run", steps=3, variant="tiny"), device="cpu", resume=True)


def test_truncated_state_falls_back_then_says_how_to_start_over(image_dir, tmp_path):
    cfg = _cfg(image_dir, tmp_path / "run", steps=4)
    first = train(cfg, device="cpu", resume=False, max_steps_this_run=2)
    train(cfg, device="cpu", resume=True, max_steps_this_run=1)  # state at 3, previous at 2
    state = first.state_path
    state.write_bytes(state.read_bytes()[:100])  # cut short by a kill
    resumed = train(cfg, device="cpu", resume=True)
    assert resumed.step == 4
    reference = train(_cfg(image_dir, tmp_path / "ref", steps=4), device="cpu", resume=False)
    a, b = load_file(str(reference.ema_path)), load_file(str(resumed.ema_path))
    assert all(torch.equal(a[k], b[k]) for k in a)  # resumed from the step-2 state, same result
    state.write_bytes(b"junk")
    previous(state).write_bytes(b"junk")
    with pytest.raises(TrainError, match="start over"):
        train(cfg, device="cpu", resume=True)


def test_orphan_part_files_are_removed(image_dir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    mine = run / ".paragonsr2.state.pt.1a2b.part"
    other = run / ".someone_else.safetensors.9f.part"
    mine.write_bytes(b"x")
    other.write_bytes(b"x")
    train(_cfg(image_dir, run, steps=1), device="cpu", resume=False)
    assert not mine.exists() and other.exists()


def test_bundled_configs_parse_and_chain():
    """Every shipped config parses; a start from a run folder is the result of another shipped config."""
    from pathlib import Path

    from trainer.loop import ema_path

    folder = Path(__file__).resolve().parents[1] / "trainer" / "configs"
    configs = [load_config(f) for f in sorted(folder.glob("*.toml"))]
    assert len(configs) >= 6
    results = {ema_path(cfg).resolve() for cfg in configs}
    for cfg in configs:
        assert cfg.degrade_settings() is not None and cfg.steps > 0
        if cfg.pretrained:
            start = cfg.path(cfg.pretrained).resolve()
            assert start in results or (start.parent.name == "models" and start.is_file()), cfg.pretrained


def test_cli_stop_after_keeps_the_schedule(image_dir, tmp_path, capsys):
    from trainer.__main__ import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'hr_dir = "{image_dir}"\npatch = 16\nbatch = 2\nsteps = 6\nwarmup = 1\nval_crop = 32\n'
                   'threads = 1\nout_dir = "run"\nval_fraction = 0.5\n')
    assert main(["--config", str(cfg), "--stop-after", "2"]) == 0
    state = torch.load(tmp_path / "run" / "paragonsr2.state.pt", weights_only=True)
    assert int(state["step"]) == 2
    assert "published model" in capsys.readouterr().out  # the weights saved at step 2 were validated
