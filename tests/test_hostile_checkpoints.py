"""Issue 10.1/10.2: crafted files (made here, in the test) are refused before anything is built, quickly and
without memory growth, by load_model and by spandrel (ComfyUI's core loader); unusable metadata is ignored
with a warning; NaN/absurd arguments are refused with a clear message."""
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import save_file

import paragonsr2 as p
from paragonsr2.arch import variant_config
from paragonsr2.arch.shapes import state_dict_shapes
from paragonsr2.errors import CheckpointError, ParagonError
from paragonsr2.validate import InvalidValueError

from helpers import ROOT, random_state_dict

NANO = variant_config("nano")
MAX_SECONDS = 1.0  # issue 10.1's bound per refusal (they take milliseconds)
MAX_GROWTH_MB = 50  # issue 10.1's bound on peak memory growth, all refusals together


def _stride0_pth(path, config):
    """A .pth whose every tensor is a stride-0 view of one stored value: a few KB that claim the full shapes."""
    sd = {k: (torch.tensor(True) if not shape else torch.zeros(()).expand(shape))
          for k, shape in state_dict_shapes(config).items()}
    torch.save(sd, path)
    return path


def _safetensors(path, sd):
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


def _hostile_files(tmp_path):
    """(file, key the refusal must name) pairs."""
    nano = random_state_dict(NANO)
    gamma = "body.0.blocks.0.ls1.gamma"
    files = [
        (_stride0_pth(tmp_path / "bomb_2048.pth", NANO.replace(num_feat=2048)), "conv_in.weight"),
        (_stride0_pth(tmp_path / "bomb_1600.pth", NANO.replace(num_feat=1600)),  # in limits, 1.7 GB claimed
         "body.0.blocks.0.context.dwconv_h.weight"),
        (_safetensors(tmp_path / "zero_2048.safetensors", {**nano, "conv_in.weight": torch.zeros(2048, 0, 3, 3)}),
         "conv_in.weight"),
        (_safetensors(tmp_path / "stray_1999.safetensors", {**nano, "body.1999.x": torch.zeros(1)}), "body.1999.x"),
        (_safetensors(tmp_path / "stray_119.safetensors", {**nano, "body.119.x": torch.zeros(1),
                                                          "body.0.blocks.119.y": torch.zeros(1)}), "body.119.x"),
        (_safetensors(tmp_path / "stray_5.safetensors", {**nano, "body.5.x": torch.zeros(1)}), "body.5.x"),
        (_safetensors(tmp_path / "hr_500.safetensors", {**nano, "hr_head.500.conv1.weight": torch.zeros(1)}),
         "hr_head.500.conv1.weight"),
        (_safetensors(tmp_path / "hidden_99999.safetensors",
                      {**nano, "body.0.blocks.0.transformer.project_in.weight": torch.zeros(99999, 0, 1, 1)}),
         "body.0.blocks.0.transformer.project_in.weight"),
        (_safetensors(tmp_path / "even_band.safetensors",
                      {**nano, "body.0.blocks.0.context.dwconv_w.weight": torch.zeros(3, 1, 1, 8)}),
         "body.0.blocks.0.context.dwconv_w.weight"),
        (_safetensors(tmp_path / "mismatch.safetensors", {**nano, "conv_fuse.weight": torch.zeros(24, 24, 1, 1)}),
         "conv_fuse.weight"),
        (_safetensors(tmp_path / "gamma_zero.safetensors", {**nano, gamma: torch.zeros(0)}), gamma),
    ]
    assert all(path.stat().st_size < 400_000 for path, _ in files)  # every file is small (bomb_2048: ~20 KB)
    return files


CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import torch
    from safetensors.torch import load_file
    import spandrel
    from paragonsr2 import load_model
    from paragonsr2.errors import ParagonError
    from paragonsr2.spandrel_arch import register

    register()
    good, files = sys.argv[1], json.loads(sys.argv[2])

    def state_dict(path):
        return load_file(path) if path.endswith(".safetensors") else torch.load(path, weights_only=True)

    def refusal(load):
        start = time.perf_counter()
        try:
            load()
        except ParagonError as e:
            return str(e), time.perf_counter() - start
        return None, time.perf_counter() - start

    load_model(good)  # warm-up: every module of a good load and of a refusal is imported before the baseline
    refusal(lambda: load_model({"conv_in.weight": torch.zeros(1)}))
    spandrel.ModelLoader().load_from_state_dict(state_dict(good))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = []
    for path in files:
        message, seconds = refusal(lambda: load_model(path))
        sd = state_dict(path)
        via_spandrel, spandrel_seconds = refusal(lambda: spandrel.ModelLoader().load_from_state_dict(sd))
        results.append([path, message, seconds, via_spandrel, spandrel_seconds])
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps({"results": results, "growth_mb": growth_mb}))
""")


def test_shape_bombs_refused_fast_without_memory(tmp_path):
    files = _hostile_files(tmp_path)
    good = _safetensors(tmp_path / "good.safetensors", random_state_dict(NANO))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-c", CHILD, str(good), json.dumps([str(f) for f, _ in files])],
                         capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for (path, key), (_, message, seconds, via_spandrel, spandrel_seconds) in zip(files, report["results"]):
        assert message is not None and path.name in message and key in message, (path.name, message)
        assert via_spandrel is not None and key in via_spandrel, (path.name, via_spandrel)
        assert seconds < MAX_SECONDS and spandrel_seconds < MAX_SECONDS, (path.name, seconds, spandrel_seconds)
    assert report["growth_mb"] < MAX_GROWTH_MB, report["growth_mb"]


def test_refusal_messages_say_why(tmp_path):
    files = dict((path.name, path) for path, _ in _hostile_files(tmp_path))
    with pytest.raises(CheckpointError, match=r"'conv_in.weight' declares num_feat = 2048, outside 8\.\.1600"):
        p.load_model(files["bomb_2048.pth"])
    with pytest.raises(CheckpointError, match="claim more values than the file stores"):
        p.load_model(files["bomb_1600.pth"])
    with pytest.raises(CheckpointError, match=r"'body.1999.x' declares num_groups = 2000"):
        p.load_model(files["stray_1999.safetensors"])
    with pytest.raises(CheckpointError, match=r"describe a network of \d+ tensors \(120 groups x 120 blocks"):
        p.load_model(files["stray_119.safetensors"])
    with pytest.raises(CheckpointError, match="unexpected keys: body.5.x"):
        p.load_model(files["stray_5.safetensors"])
    with pytest.raises(CheckpointError, match="even band 8"):
        p.load_model(files["even_band.safetensors"])


def _with_metadata(tmp_path, name, metadata, sd=None):
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in (sd or random_state_dict(NANO)).items()}, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize("value", ["nan", "NaN", "Infinity", "-Infinity", "-2", "0", "", "[]", "[2, 3, 4]",
                                   "1000", "17", '"4"', "four", "{}", "[NaN]", "null", "true"])
def test_unusable_metadata_scale_is_ignored_with_a_warning(tmp_path, value):
    model = p.load_model(_with_metadata(tmp_path, "3x_meta.safetensors", {"scale": value}))
    d = model.description
    assert d.scale == (3.0, 3.0) and d.scale_source == "file name"  # the next source, never the bad value
    assert any("scale" in w and "ignored" in w for w in d.warnings), d.warnings
    assert "warning" in str(d)


@pytest.mark.parametrize("value", ["nan", "Infinity", "-1", "2", "1e400", "[0.5]", "soft", ""])
def test_unusable_metadata_alpha_is_ignored_with_a_warning(tmp_path, value):
    model = p.load_model(_with_metadata(tmp_path, "meta.safetensors", {"upsampler_alpha": value}))
    d = model.description
    assert d.upsampler_alpha == 0.5 and d.alpha_source == "generation default"
    assert any("upsampler_alpha" in w and "ignored" in w for w in d.warnings), d.warnings
    assert math.isfinite(model.upsampler_alpha)


def test_usable_metadata_in_a_json_blob_and_as_text(tmp_path):
    blob = {"hyperparameters": json.dumps({"scale": 4, "upsampler_alpha": 0.25})}
    d = p.load_model(_with_metadata(tmp_path, "blob.safetensors", blob)).description
    assert (d.scale, d.scale_source, d.upsampler_alpha, d.alpha_source) == ((4.0, 4.0), "metadata", 0.25, "metadata")
    d = p.load_model(_with_metadata(tmp_path, "pair.safetensors", {"scale": "[2, 3]"})).description
    assert d.scale == (2.0, 3.0) and not d.warnings
    bad_blob = {"hyperparameters": json.dumps({"scale": float("nan")})}  # json writes NaN
    d = p.load_model(_with_metadata(tmp_path, "2x_badblob.safetensors", bad_blob)).description
    assert d.scale_source == "file name" and d.warnings


@pytest.mark.parametrize("setting", [torch.tensor([float("nan"), 2.0]), torch.tensor([1000.0, 1000.0]),
                                     torch.zeros(5), torch.zeros(0), torch.tensor([-4.0])])
def test_unusable_scale_key_is_ignored_with_a_warning(setting):
    sd = {**random_state_dict(NANO), "paragonsr2_scale": setting}
    d = p.load_model(sd).description
    assert d.scale == (2.0, 2.0) and d.scale_source == "default"
    assert any("paragonsr2_scale" in w and "ignored" in w for w in d.warnings), d.warnings


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), -0.1, 1.5, "0.5x"])
def test_nan_or_absurd_alpha_argument_is_refused(alpha):
    sd = random_state_dict(NANO)
    with pytest.raises(InvalidValueError, match="upsampler_alpha"):
        p.load_model(sd, upsampler_alpha=alpha)
    for fuse in (False, "release"):
        model = p.load_model(sd, fuse=fuse)
        with pytest.raises(ParagonError, match="upsampler_alpha"):
            model.set_upsampler_alpha(alpha)
        assert model.upsampler_alpha == 0.5


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 0, -2, 1000, "x", (2, float("nan"))])
def test_absurd_scale_argument_is_refused(scale):
    with pytest.raises(InvalidValueError, match="scale"):
        p.load_model(random_state_dict(NANO), scale=scale)


def test_nan_alpha_never_reaches_the_output():
    """The issue's black image: NaN alpha through the API now stops before any pixel is computed."""
    model = p.load_model(random_state_dict(NANO))
    with pytest.raises(InvalidValueError):
        model.set_upsampler_alpha(float("nan"))
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(1, 3, 8, 8))).all()


@pytest.mark.parametrize("meta,scale,warned", [({"scale": torch.tensor(4.0)}, 4.0, False),
                                               ({"scale": torch.zeros(1000)}, 2.0, True),
                                               ({"scale": float("nan")}, 2.0, True),
                                               ({"scale": {"nested": [1, 2]}}, 2.0, True)])
def test_pickle_metadata_of_any_type_never_fails(tmp_path, meta, scale, warned):
    path = tmp_path / "model.pth"
    torch.save({"params": random_state_dict(NANO), "metadata": meta}, path)
    d = p.load_model(path).description
    assert d.scale == (scale, scale) and bool(d.warnings) == warned
