"""Issue 12.2: files this project writes load at their true scale from the state dict alone (ComfyUI's core
loader through spandrel), upstream code still loads them after `upstream_state_dict`; issue 11.5: a run above
the trained scale is warned about, naming the bundled model for that scale."""
import json
import logging

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import paragonsr2 as p
from paragonsr2.arch import ParagonSR2, variant_config
from paragonsr2.checkpoint import SCALE_KEY, bundled_models, scale_warning, upstream_state_dict
from paragonsr2.checkpoint.bundled import BUNDLED_DIR

from helpers import KEYS, random_state_dict

spandrel = pytest.importorskip("spandrel")
from paragonsr2.spandrel_arch import register  # noqa: E402

BUNDLED = sorted(BUNDLED_DIR.glob("*.safetensors"))
SEED_NANO_KEYS = KEYS / "genB_seed_table" / "paragonsr2_nano.json"


def _core_loader(path):
    """What ComfyUI's core 'Load Upscale Model' does: the tensors only, handed to spandrel."""
    register()
    return spandrel.ModelLoader().load_from_state_dict(load_file(str(path)))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda q: q.name)
def test_bundled_models_load_at_their_scale_from_the_state_dict_alone(path):
    trained = p.load_model(path).description.scale
    desc = _core_loader(path)
    assert desc.scale == trained[0] == int(path.name[0])
    assert desc.model.description.scale_source in ("state dict", "metadata")
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert desc(x).shape == (1, 3, 8 * desc.scale, 8 * desc.scale)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda q: q.name)
def test_bundled_models_keep_upstream_keys_plus_settings(path):
    with safe_open(str(path), "pt") as f:
        keys = set(f.keys())
        meta = f.metadata()
    assert {k for k in keys if k.startswith("paragonsr2_")} == {SCALE_KEY, "paragonsr2_upsampler_alpha"}
    assert json.loads(meta["scale"]) == load_file(str(path))[SCALE_KEY][0].item()


@pytest.mark.parametrize("scale", [3, (2, 3), 1.5])
def test_saved_files_load_at_their_scale_through_spandrel(tmp_path, scale):
    model = p.load_model(random_state_dict(variant_config("nano")), scale=scale, upsampler_alpha=0.25)
    path = tmp_path / "no_scale_in_name.safetensors"
    p.save_model(model, path)
    desc = _core_loader(path)
    d = desc.model.description
    assert d.scale == model.scale and d.scale_source == "state dict"
    assert d.upsampler_alpha == 0.25 and d.alpha_source == "state dict"


def test_upstream_layout_after_stripping(tmp_path):
    """`convert --upstream`: exactly upstream's key list; upstream's strict load ignores only our keys."""
    model = p.load_model(random_state_dict(variant_config("nano")), scale=4)
    ours, upstream = tmp_path / "ours.safetensors", tmp_path / "upstream.safetensors"
    p.save_model(model, ours)
    p.save_model(model, upstream, upstream=True)
    sd = load_file(str(ours))
    stripped = upstream_state_dict(sd)
    assert set(load_file(str(upstream))) == set(stripped)
    if SEED_NANO_KEYS.is_file():
        dump = json.loads(SEED_NANO_KEYS.read_text())["keys"]
        assert set(stripped) == set(dump)
        assert not any(k.startswith("paragonsr2_") for k in dump)  # the settings keys cannot clash
    upstream_net = ParagonSR2(variant_config("nano"))  # key for key upstream's module (test_arch)
    upstream_net.load_state_dict(stripped, strict=True)
    result = upstream_net.load_state_dict(sd, strict=False)
    assert not result.missing_keys and set(result.unexpected_keys) == set(sd) - set(stripped)
    with torch.no_grad():
        x = torch.rand(1, 3, 6, 7)
        upstream_net.set_scale(4)
        assert torch.equal(upstream_net.eval()(x), model(x))


def test_scale_stored_nowhere_logs_one_line(caplog):
    sd = random_state_dict(variant_config("nano"))
    save_dict = {k: v.contiguous() for k, v in sd.items()}
    register()
    with caplog.at_level(logging.INFO, logger="paragonsr2"):
        desc = spandrel.ModelLoader().load_from_state_dict(save_dict)
    lines = [r for r in caplog.records if "scale" in r.getMessage()]
    assert desc.scale == 2 and len(lines) == 1
    assert lines[0].name == "paragonsr2" and "assuming 2x" in lines[0].getMessage()
    assert "convert" in lines[0].getMessage() and "scale" in lines[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="paragonsr2"):
        p.load_model(save_dict, scale=3)
        p.load_model({**save_dict, SCALE_KEY: torch.tensor([4.0, 4.0])})
    assert not [r for r in caplog.records if "stored nowhere" in r.getMessage()]


def test_trainer_style_save_goes_through_save_model(tmp_path):
    """A file written like the trainer's (save_model with extra metadata) carries its scale for spandrel."""
    model = ParagonSR2(variant_config("nano"), scale=4)
    path = tmp_path / "run_ema.safetensors"
    p.save_model(model, path, {"trainer_step": "10"})
    save_file(load_file(str(path)), str(tmp_path / "no_metadata.safetensors"))  # metadata dropped
    d = p.load_model(tmp_path / "no_metadata.safetensors").description
    assert d.scale == (4.0, 4.0) and d.scale_source == "state dict" and d.trained_scale == (4.0, 4.0)


def test_scale_warning_names_the_bundled_model():
    if 4.0 not in bundled_models() or 2.0 not in bundled_models():
        pytest.skip("bundled models not present")
    x2, x4 = bundled_models()[2.0], bundled_models()[4.0]
    model = p.load_model(x2)
    assert scale_warning(model) is None and scale_warning(model, 2) is None and scale_warning(model, 1.5) is None
    text = scale_warning(model, 4)
    assert text and "trained for 2x" in text and x4.name in text
    assert "use the bundled" not in scale_warning(model.description, (2, 3))
    at4 = p.load_model(x2, scale=4)
    assert any(x4.name in w for w in at4.description.warnings) and x4.name in str(at4.description)
    assert scale_warning(p.load_model(x4), 4) is None
    assert "use the bundled" not in scale_warning(p.load_model(x4), 8)


def test_scale_warning_through_a_spandrel_descriptor_and_unknown_scale():
    model = p.load_model(random_state_dict(variant_config("nano")))  # stored nowhere: trained scale unknown
    assert model.description.trained_scale is None and scale_warning(model, 4) is None
    named = {**random_state_dict(variant_config("nano")), SCALE_KEY: torch.tensor([2.0, 2.0])}
    register()
    desc = spandrel.ModelLoader().load_from_state_dict(named)
    assert scale_warning(desc, 3) and "trained for 2x" in scale_warning(desc, 3)
    assert scale_warning(torch.nn.Identity(), 4) is None
