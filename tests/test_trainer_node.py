"""Train node (stand-in ComfyUI): bundled start, where files go, never overwriting, input folder, cancel."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import comfy_stubs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def comfy(tmp_path):
    pack = tmp_path / "custom_nodes" / "pack"
    pack.mkdir(parents=True)
    for item in ("__init__.py", "nodes", "paragonsr2", "trainer", "js"):
        (pack / item).symlink_to(ROOT / item)
    models = tmp_path / "models"
    installed = comfy_stubs.install(models, tmp_path / "output", with_v3=False)
    inputs = tmp_path / "input"
    (inputs / "photos").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(4):
        img = rng.random((64, 64, 3)) * 0.3 + np.linspace(0.1, 0.7, 64)[:, None, None]
        Image.fromarray((img * 255).astype(np.uint8)).save(inputs / "photos" / f"{i}.png")
    installed["modules"]["folder_paths"].get_input_directory = lambda: str(inputs)
    before = set(sys.modules)
    module = comfy_stubs.import_pack(pack)
    cls = module.NODE_CLASS_MAPPINGS["ParagonSR2Train"]

    def call(**kw):
        args = dict(dataset_folder="photos", variant="nano", scale=2, steps=2, batch=2, patch=16,
                    learning_rate=1e-3, degradations="light", model_name="mine", resume=False)
        args.update(kw)
        with torch.inference_mode():  # ComfyUI runs every node under inference mode
            out = getattr(cls(), cls.FUNCTION)(unique_id="7", **args)
        return out["result"]
    error = sys.modules[f"{module.__name__}.paragonsr2.errors"].ParagonError  # the pack's own copy
    yield {"call": call, "models": models, "events": installed["events"], "input": inputs, "ParagonError": error}
    comfy_stubs.uninstall(installed)
    for name in set(sys.modules) - before:
        if name.startswith(str(pack).replace(".", "_x_")):
            sys.modules.pop(name, None)


def test_finetunes_bundled_model_and_keeps_run_state_apart(comfy):
    model, summary = comfy["call"]()
    upscale = comfy["models"] / "upscale_models"
    assert sorted(f.name for f in upscale.iterdir()) == ["2x_mine.safetensors"]
    runs = comfy["models"] / "paragonsr2_runs" / "2x_mine"
    assert (runs / "mine.state.pt").is_file()
    assert "fine-tuned from 2x_ParagonSR2_nano_default.safetensors" in summary
    assert "starting model" in summary and "bicubic" in summary and "{" not in summary
    assert model.scale == 2
    assert comfy["events"]["progress"][-1] == (2, 2)  # ComfyUI's progress bar reached the end


def test_from_scratch_and_name_prefix_not_doubled(comfy):
    _, summary = comfy["call"](start_from="scratch", model_name="2x_other")
    assert "(from scratch)" in summary
    assert (comfy["models"] / "upscale_models" / "2x_other.safetensors").is_file()


def test_never_replaces_a_file_it_did_not_write(comfy):
    upscale = comfy["models"] / "upscale_models"
    foreign = upscale / "2x_mine.safetensors"
    foreign.write_bytes(b"the user's own model")
    _, summary = comfy["call"](resume=True)
    assert foreign.read_bytes() == b"the user's own model"
    assert "2x_mine_001.safetensors" in summary and "not written by this run" in summary
    comfy["call"](resume=True, steps=3)  # the same run again: replaces its own file, not the user's
    assert sorted(f.name for f in upscale.iterdir()) == ["2x_mine.safetensors", "2x_mine_001.safetensors"]
    assert foreign.read_bytes() == b"the user's own model"


def test_dataset_folder_errors_list_where_it_looked(comfy):
    with pytest.raises(comfy["ParagonError"], match="looked in: .*input.*nope"):
        comfy["call"](dataset_folder="nope")
    with pytest.raises(comfy["ParagonError"], match="dataset_folder"):
        comfy["call"](dataset_folder="  ")


def test_cancel_says_which_checkpoint_was_kept(comfy):
    comfy["events"]["interrupt"] = True
    with pytest.raises(comfy_stubs.Interrupted):
        comfy["call"](steps=50)
    texts = [t for t, _ in comfy["events"].get("text", [])]
    assert any("step-0 checkpoint is kept in" in t and "paragonsr2_runs" in t for t in texts)
    assert not (comfy["models"] / "upscale_models" / "2x_mine.safetensors").exists()


def test_stage2_runs_from_the_node(comfy, tmp_path):
    from torchvision.models import vgg

    weights = tmp_path / "vgg11.pth"
    torch.save({f"features.{k}": v for k, v in vgg.make_layers(vgg.cfgs["A"]).state_dict().items()}, weights)
    _, summary = comfy["call"](stage="2: perceptual finetune", perceptual_weights=str(weights),
                               perceptual_arch="vgg11", model_name="gan")
    state = torch.load(comfy["models"] / "paragonsr2_runs" / "2x_gan" / "gan.state.pt", weights_only=True)
    assert "disc" in state and "disc_optimizer" in state and "2 steps" in summary
    with pytest.raises(comfy["ParagonError"], match="does not exist"):
        comfy["call"](stage="2: perceptual finetune", perceptual_weights=str(tmp_path / "absent.pth"))


def test_requeued_finished_run_leaves_the_published_model(comfy):
    _, first = comfy["call"]()
    published = comfy["models"] / "upscale_models" / "2x_mine.safetensors"
    before, mtime = published.read_bytes(), published.stat().st_mtime_ns
    assert "validation: 1 images" in first and "published" in first and "starting model" in first
    _, again = comfy["call"](resume=True)
    assert "already finished at step 2, nothing trained" in again
    assert published.read_bytes() == before and published.stat().st_mtime_ns == mtime
    _, more = comfy["call"](resume=True, steps=3)
    assert "resumed from step 2, trained 1 steps to step 3" in more and "steps 2 -> 3" in more
