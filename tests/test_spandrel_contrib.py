"""The spandrel contribution (contrib/spandrel) applied to a copy of the installed spandrel package.

A subprocess imports the patched copy (``python tests/test_spandrel_contrib.py --probe``) and reports what
spandrel's own ModelLoader makes of every generation and variant, settings keys and both real checkpoints;
whether spandrel's other architectures (tiny default models, built on the meta device) are still detected as
before; and what the pack's run-time registration (paragonsr2/spandrel_arch.py) detects and computes on the
same inputs. This process compares the outputs with ``paragonsr2.load_model`` (tolerance: paragonsr2.numerics).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
APPLY = ROOT / "contrib" / "spandrel" / "apply.py"
ARCH_ID = "ParagonSR2"
SIZE = (1, 4, 7, 9)  # odd, non-square input (LR px); each model takes its first in_chans channels
TINY = {"SPAN": {"num_in_ch": 3, "num_out_ch": 3}, "SAFMN": {"dim": 36}, "SAFMN_BCIE": {"dim": 36},
        "MMRRDBNet_test": {"num_in_ch": 3, "num_out_ch": 3}}  # classes without defaults for every argument


def _apply_module():
    """contrib/spandrel/apply.py as a module (contrib/ is no package; the pack never imports it)."""
    name = "spandrel_contrib_apply"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, APPLY)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


# -- the probe (runs in the subprocess, where `spandrel` is the patched copy) -----------------------------------

def _first_detected(registry, sd, skip: str | None = None) -> str | None:
    for support in registry.architectures("detection"):
        if support.architecture.id != skip and support.detect(sd):
            return str(support.architecture.id)
    return None


def _meta_item(tensor):
    """Tensor.item for meta tensors (0.0): constructors that read drop-path rates build on the meta device."""
    return 0.0 if tensor.is_meta else _REAL_ITEM(tensor)


_REAL_ITEM = torch.Tensor.item


def _foreign_models(registry):
    """{(arch id, class name): state dict} of each other architecture's network classes, built with their
    default arguments (TINY where a class has none) on the meta device: keys and shapes only, no memory."""
    import inspect
    from unittest import mock

    models = {}
    for support in registry.architectures("detection"):
        arch = support.architecture
        if arch.id == ARCH_ID:
            continue
        module = sys.modules[type(arch).__module__]
        for name in getattr(module, "__all__", []):
            cls = getattr(module, name, None)
            if not (inspect.isclass(cls) and issubclass(cls, torch.nn.Module)):
                continue
            try:
                with torch.device("meta"), mock.patch.object(torch.Tensor, "item", _meta_item):
                    models[(str(arch.id), name)] = cls(**TINY.get(cls.__name__, {})).state_dict()
            except Exception:  # noqa: BLE001, S112 - a class that needs arguments or real tensors is skipped
                continue
    return models


def _condition(cond) -> list:
    """A KeyCondition as nested lists: [kind, sorted keys and sub-conditions]."""
    parts = [k if isinstance(k, str) else _condition(k) for k in cond._keys]
    return [cond._kind, sorted(parts, key=json.dumps)]


def _descriptor_facts(desc) -> dict:
    return {"arch": str(desc.architecture.id), "scale": desc.scale, "tags": list(desc.tags),
            "in": desc.input_channels, "out": desc.output_channels, "purpose": desc.purpose,
            "half": desc.supports_half, "bf16": desc.supports_bfloat16}


def probe(work: Path) -> None:
    """Writes work/report.json and work/outputs.safetensors (see the module docstring)."""
    import safetensors.torch
    import spandrel
    from spandrel import MAIN_REGISTRY, ModelLoader
    from spandrel.architectures.ParagonSR2 import ParagonSR2
    from spandrel.architectures.ParagonSR2 import _hyperparameters as contrib_hyperparameters

    from paragonsr2.fuse import unwrap
    from paragonsr2.spandrel_arch import ParagonSR2Arch as RuntimeArch

    from helpers import KEYS

    contrib_arch = MAIN_REGISTRY[ARCH_ID].architecture
    runtime_arch = RuntimeArch()
    x = safetensors.torch.load_file(str(work / "input.safetensors"))["x"]
    report = {"spandrel": spandrel.__file__, "contrib_module": type(contrib_arch).__module__, "cases": {},
              "dumps": {}, "foreign": {}, "conditions": [_condition(contrib_arch._detect),
                                                         _condition(runtime_arch._detect)]}
    outputs = {}
    for path in sorted((work / "cases").glob("*.safetensors")):
        loader = ModelLoader()
        sd = loader.load_state_dict_from_file(path)
        desc = loader.load_from_state_dict(dict(sd)).eval()  # as ComfyUI and chaiNNer do
        runtime = runtime_arch.load(dict(sd)).eval()
        xin = x[:, :desc.input_channels]
        with torch.no_grad():
            outputs[path.stem] = desc.model(xin)
            outputs[path.stem + "#runtime"] = unwrap(runtime.model)(xin)
        report["cases"][path.stem] = {
            "facts": _descriptor_facts(desc), "runtime_facts": _descriptor_facts(runtime),
            "hyperparameters": desc.model.hyperparameters, "model_class": type(desc.model).__name__,
            "others_detecting": [str(s.architecture.id) for s in MAIN_REGISTRY
                                 if s.architecture.id != ARCH_ID and s.detect(sd)],
            "runtime_detects": runtime_arch.detect(sd), "contrib_detects": contrib_arch.detect(sd)}
    for dump in sorted(KEYS.glob("*/*.json")):
        shapes = json.loads(dump.read_text())["keys"]
        with torch.device("meta"):
            sd = {k: torch.empty(shape, dtype=torch.bool if k.endswith("_initialized") else torch.float32)
                  for k, shape in shapes.items()}
            hp = contrib_hyperparameters(sd)
            built = {k: list(v.shape) for k, v in ParagonSR2(**hp).state_dict().items()}
        report["dumps"][f"{dump.parent.name}/{dump.stem}"] = {
            "hyperparameters": hp, "built_keys_equal": {k: v for k, v in built.items()
                                                        if not k.startswith("paragonsr2_")} == shapes,
            "runtime_detects": runtime_arch.detect(sd), "contrib_detects": contrib_arch.detect(sd),
            "first_detected": _first_detected(MAIN_REGISTRY, sd)}
    for (arch_id, cls), sd in _foreign_models(MAIN_REGISTRY).items():
        report["foreign"][f"{arch_id}/{cls}"] = {
            "id": arch_id, "with": _first_detected(MAIN_REGISTRY, sd),
            "without": _first_detected(MAIN_REGISTRY, sd, skip=ARCH_ID),
            "contrib_detects": contrib_arch.detect(sd), "runtime_detects": runtime_arch.detect(sd)}
    safetensors.torch.save_file({k: v.contiguous() for k, v in outputs.items()}, str(work / "outputs.safetensors"))
    (work / "report.json").write_text(json.dumps(report, indent=1))


# -- the cases (this process) ----------------------------------------------------------------------------------

def _cases(folder: Path) -> dict[str, Path]:
    """Random weights for every generation x the small design variants (the larger ones are checked from
    upstream's key dumps: their forward passes take minutes on a CPU), fused layouts, a 2025-11-14 table
    variant, 4 input channels, settings keys (scale 1/3/4, alpha) and the two real checkpoints."""
    import safetensors.torch

    from paragonsr2 import load_model, save_model
    from paragonsr2.arch import HEAD_2025_11_14, variant_config

    from helpers import REAL, REAL_EMA, random_state_dict

    folder.mkdir(parents=True)
    configs = {}
    for gen in ("A0", "A", "B"):
        for name in ("nano", "tiny", "anime", "s"):
            configs[f"{gen}_{name}"] = variant_config(name, gen)
    configs["B_nano_release"] = variant_config("nano").replace(has_generator=False)
    configs["A_nano_release"] = variant_config("nano", "A").replace(has_generator=False)
    configs["A0_nano_fused"] = variant_config("nano", "A0").replace(a0_fused=True, has_generator=False)
    configs["B_xs_2025-11-14"] = HEAD_2025_11_14["xs"]
    configs["B_nano_4to3ch"] = variant_config("nano").replace(in_chans=4, out_chans=3)
    paths = {}
    for key, cfg in configs.items():
        paths[key] = folder / f"{key}.safetensors"
        safetensors.torch.save_file(random_state_dict(cfg, seed=len(paths)), str(paths[key]))
    for key, settings in {"B_nano_x1": {"scale": 1}, "B_nano_x3": {"scale": 3},
                          "A_nano_x4_alpha0.25": {"scale": 4, "upsampler_alpha": 0.25}}.items():
        model = load_model(random_state_dict(variant_config("nano", key[0])), **settings)
        paths[key] = save_model(model, folder / f"{key}.safetensors")
    for real in (REAL, REAL_EMA):
        if real.is_file():
            paths[real.stem] = folder / real.name
            shutil.copyfile(real, paths[real.stem])
    return paths


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """(cases, report, outputs, input) after applying the contribution to a copy of the installed spandrel."""
    spandrel = pytest.importorskip("spandrel")
    import safetensors.torch

    site = tmp_path_factory.mktemp("site")
    shutil.copytree(Path(spandrel.__file__).parent, site / "spandrel",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _apply_module().apply(site, log=lambda _: None)
    work = tmp_path_factory.mktemp("probe")
    cases = _cases(work / "cases")
    x = torch.rand(SIZE, generator=torch.Generator().manual_seed(1))
    safetensors.torch.save_file({"x": x}, str(work / "input.safetensors"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), str(ROOT / "tests")])}
    done = subprocess.run([sys.executable, __file__, "--probe", str(work)], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((work / "report.json").read_text())
    assert report["spandrel"].startswith(str(site)), report["spandrel"]
    return cases, report, safetensors.torch.load_file(str(work / "outputs.safetensors")), x


def test_apply_is_idempotent_and_refuses_other_folders(tmp_path, capsys):
    spandrel = pytest.importorskip("spandrel")
    apply = _apply_module()
    copy = tmp_path / "spandrel"
    shutil.copytree(Path(spandrel.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    first, second = [], []
    apply.apply(copy, log=first.append)
    registry = (copy / "__helpers/main_registry.py").read_text()
    apply.apply(copy, log=second.append)
    assert any("main_registry.py" in line for line in first) and second == []
    assert (copy / "__helpers/main_registry.py").read_text() == registry
    assert registry.count(f"{ARCH_ID}.{ARCH_ID}Arch()") == 1 and registry.count(f"    {ARCH_ID},\n") == 1
    generated = (copy / f"architectures/{ARCH_ID}/__arch/network.py").read_text()
    assert "from .checks import" in generated and "from .." not in generated
    assert apply.main([str(tmp_path / "nowhere")]) == 2
    assert "is not a spandrel checkout" in capsys.readouterr().err


def test_apply_to_a_checkout_places_what_the_inference_test_needs(tmp_path, real_path):
    """Checkout layout (libs/spandrel/spandrel + tests/ + README.md, inputs random here): the test file and its
    snapshot, the upstream checkpoint, expected images equal to the pack's output, the README line; idempotent."""
    spandrel = pytest.importorskip("spandrel")
    import numpy as np
    from PIL import Image

    from paragonsr2 import load_model

    apply = _apply_module()
    shutil.copytree(Path(spandrel.__file__).parent, tmp_path / "libs/spandrel/spandrel",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tests/images/inputs").mkdir(parents=True)
    (tmp_path / "tests/util.py").write_text("")
    (tmp_path / "README.md").write_text("#### Single Image Super Resolution\n\n- [AuraSR](x)\n\n#### Face\n")
    rng = np.random.default_rng(0)
    for name in apply.TEST_IMAGES:
        side = int(name.split("x")[0])
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(
            tmp_path / f"tests/images/inputs/{name}.png")
    apply.apply(tmp_path, real_path.parent, log=lambda _: None)
    log = []
    apply.apply(tmp_path, real_path.parent, log=log.append)
    assert log == []
    assert (tmp_path / "tests/test_ParagonSR2.py").read_bytes() == (APPLY.parent / "test_ParagonSR2.py").read_bytes()
    assert (tmp_path / "tests/__snapshots__/test_ParagonSR2.ambr").is_file()
    assert (tmp_path / f"tests/models/{real_path.name}").read_bytes() == real_path.read_bytes()
    assert (tmp_path / "README.md").read_text().count("[ParagonSR2]") == 1
    model = load_model(real_path)
    for name in apply.TEST_IMAGES:
        x = torch.from_numpy(np.asarray(Image.open(tmp_path / f"tests/images/inputs/{name}.png"), np.float32) / 255)
        with torch.no_grad():
            ref = model(x.permute(2, 0, 1)[None]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        out = np.asarray(Image.open(tmp_path / f"tests/images/outputs/{name}/{real_path.stem}.png"), np.float32)
        assert out.shape == ref.shape and np.abs(out - ref * 255).max() <= 0.5 + 1e-3, name


def test_apply_refuses_a_checkpoint_that_is_not_the_public_one(tmp_path):
    apply = _apply_module()
    (tmp_path / apply.MODEL_NAME).write_bytes(b"not the model")
    with pytest.raises(apply.ApplyError, match="sha256 differs"):
        apply.checkpoint_bytes(tmp_path)
    with pytest.raises(apply.ApplyError, match="--checkpoints DIR"):
        apply.checkpoint_bytes(tmp_path / "missing")


def test_registry_refuses_an_unknown_layout(tmp_path):
    apply = _apply_module()
    with pytest.raises(apply.ApplyError, match="MAIN_REGISTRY.add"):
        apply.registry_source("MAIN_REGISTRY = ArchRegistry()\n", tmp_path / "main_registry.py")


def test_network_copy_refuses_imports_of_the_rest_of_the_pack(monkeypatch, tmp_path):
    apply = _apply_module()
    (tmp_path / "network.py").write_text("from ..engine import upscale\n")
    monkeypatch.setattr(apply, "PACK_ARCH", tmp_path)
    with pytest.raises(apply.ApplyError, match="reaches outside paragonsr2/arch"):
        apply.network_source("network.py")


@pytest.mark.parametrize("value", [2, 2.5, 1, 16, 0.5, 17, 0, -2, float("nan"), float("inf"), True, None, "2",
                                   (2, 3), [3, 3], (2,), (2, 3, 4), (2, 0.5), [], 0.25, 1.0])
def test_network_checks_match_the_pack_validation(value):
    """contrib's __arch/checks.py (what the network calls inside spandrel) accepts and normalises scale and
    alpha as paragonsr2/validate.py does, for the numbers and pairs the network is given."""
    from paragonsr2 import validate

    spec = importlib.util.spec_from_file_location("contrib_checks", APPLY.parent / "ParagonSR2/__arch/checks.py")
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    for contrib, pack in ((checks.check_scale, validate.check_scale), (checks.check_alpha, validate.check_alpha)):
        results = []
        for check in (contrib, pack):
            try:
                results.append(check(value))
            except ValueError:
                results.append("refused")
        if isinstance(value, str):  # the pack also parses text (CLI, metadata); the network is given numbers
            assert results[0] == "refused"
        else:
            assert results[0] == results[1], (contrib.__name__, value, results)


def test_spandrel_loads_every_case_to_the_pack_outputs(probed):
    from paragonsr2 import load_model
    from paragonsr2.numerics import float32_bound

    cases, report, outputs, x = probed
    assert report["contrib_module"] == "spandrel.architectures.ParagonSR2"
    assert set(report["cases"]) == set(cases) and len(cases) >= 20
    for key, path in cases.items():
        case = report["cases"][key]
        assert case["facts"]["arch"] == ARCH_ID and case["model_class"] == ARCH_ID, key
        assert case["others_detecting"] == [], key  # no other architecture claims a ParagonSR2 file
        ref_model = load_model(path)
        with torch.no_grad():
            ref = ref_model(x[:, :ref_model.config.in_chans])
        assert case["facts"]["scale"] == ref_model.scale[0] and case["facts"]["in"] == ref_model.config.in_chans
        assert outputs[key].shape == ref.shape, key
        err = float((outputs[key] - ref).abs().max())
        assert err <= float32_bound(ref_model, ref), (key, err)


def test_hyperparameters_match_the_pack_detection(probed):
    from paragonsr2.arch import DEFAULT_ALPHA
    from paragonsr2.checkpoint.detect import detect_config
    from paragonsr2.checkpoint.files import read_checkpoint

    cases, report, _, _ = probed
    for key, path in cases.items():
        sd, _ = read_checkpoint(path)
        cfg = detect_config({k: tuple(v.shape) for k, v in sd.items() if not k.startswith("paragonsr2_")})
        hp = report["cases"][key]["hyperparameters"]
        for field in ("num_feat", "num_groups", "num_blocks", "band", "hr_blocks", "generation", "in_chans",
                      "out_chans", "has_generator", "a0_fused"):
            assert hp[field] == getattr(cfg, field), (key, field)
        assert int(hp["num_feat"] * hp["ffn_expansion"]) == cfg.hidden, key
        expected_alpha = 0.25 if "alpha0.25" in key else DEFAULT_ALPHA[cfg.generation]
        assert hp["upsampler_alpha"] == expected_alpha, key
    assert report["cases"]["B_nano_x3"]["facts"]["scale"] == 3
    assert report["cases"]["B_nano_x1"]["facts"]["purpose"] == "Restoration"


def test_every_upstream_key_dump_detects_and_builds(probed):
    """Every generation and variant of upstream's key dumps (tests/helpers.KEYS): spandrel picks ParagonSR2,
    the contribution reads the pack's hyperparameters from the shapes and builds exactly those keys/shapes."""
    from paragonsr2.checkpoint.detect import detect_config

    from helpers import KEYS

    _, report, _, _ = probed
    dumps = sorted(KEYS.glob("*/*.json")) if KEYS.is_dir() else []
    if not dumps:
        pytest.skip("shared key dumps not present")
    assert len(report["dumps"]) == len(dumps) >= 20
    for dump in dumps:
        entry = report["dumps"][f"{dump.parent.name}/{dump.stem}"]
        assert entry["first_detected"] == ARCH_ID and entry["built_keys_equal"], dump
        assert entry["runtime_detects"] is entry["contrib_detects"] is True, dump
        cfg = detect_config(json.loads(dump.read_text())["keys"])
        hp = entry["hyperparameters"]
        for field in ("num_feat", "num_groups", "num_blocks", "band", "hr_blocks", "generation", "in_chans",
                      "out_chans", "has_generator", "a0_fused"):
            assert hp[field] == getattr(cfg, field), (dump, field)


def test_runtime_registration_matches_the_contribution(probed):
    """One definition: the pack's run-time Architecture and the contribution detect the same files (ParagonSR2
    and every other architecture's) and compute the same network output (the pack's descriptor adds its
    border extension around that network, unwrapped here)."""
    cases, report, outputs, _ = probed
    contrib_condition, runtime_condition = report["conditions"]
    assert contrib_condition == runtime_condition and len(json.dumps(contrib_condition)) > 100
    for key in cases:
        case = report["cases"][key]
        assert case["runtime_detects"] is case["contrib_detects"] is True, key
        assert case["runtime_facts"] == case["facts"], key
        assert torch.equal(outputs[key + "#runtime"], outputs[key]), key
    for name, foreign in report["foreign"].items():
        assert foreign["runtime_detects"] is foreign["contrib_detects"] is False, name


def test_other_architectures_are_detected_as_before(probed):
    _, report, _, _ = probed
    foreign = report["foreign"]
    assert len({f["id"] for f in foreign.values()}) >= 30, sorted(foreign)  # most of spandrel's architectures
    changed = {name: f for name, f in foreign.items() if f["with"] != f["without"]}
    assert changed == {}
    themselves = [name for name, f in foreign.items() if f["with"] == f["id"]]
    assert len(themselves) >= 0.8 * len(foreign), sorted(set(foreign) - set(themselves))


def test_real_checkpoints_load_through_spandrel(probed, real_path, real_ema_path):
    cases, report, _, _ = probed
    for path in (real_path, real_ema_path):
        facts = report["cases"][path.stem]["facts"]
        assert facts == {"arch": ARCH_ID, "scale": 2, "tags": ["nano", "genA", "24nf"], "in": 3, "out": 3,
                         "purpose": "SR", "half": True, "bf16": True}


CHAINNER_PYTHON = os.environ.get("CHAINNER_TORCH_PYTHON")  # a Python with chaiNNer's requirements and torch


@pytest.mark.skipif(not CHAINNER_PYTHON, reason="set CHAINNER_TORCH_PYTHON (docs/spandrel.md: chaiNNer with torch)")
@pytest.mark.parametrize("model", ["2xParagonSR2_Nano_Pretrain_a6736e0b_ema", "4x_ParagonSR2_nano_default"])
def test_chainner_pytorch_nodes_match_the_pack(tmp_path, model):
    """chaiNNer's own Load Image -> PyTorch Load Model -> Upscale Image on the patched spandrel: the output
    equals the pack's within one 8-bit level (contrib/spandrel/chainner_pytorch.py)."""
    spandrel = pytest.importorskip("spandrel")
    from helpers import CHECKPOINTS

    path = (CHECKPOINTS if model.startswith("2x") else ROOT / "paragonsr2/models") / f"{model}.safetensors"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    shutil.copytree(Path(spandrel.__file__).parent, tmp_path / "spandrel", ignore=shutil.ignore_patterns("__pycache__"))
    _apply_module().apply(tmp_path / "spandrel", log=lambda _: None)
    done = subprocess.run([CHAINNER_PYTHON, str(APPLY.parent / "chainner_pytorch.py"), str(path),
                           str(ROOT / "paragonsr2/data/verify.png")], env={**os.environ, "PYTHONPATH": str(tmp_path)},
                          capture_output=True, text=True, timeout=600, check=False)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and summary["ok"], (summary, done.stderr[-2000:])
    assert summary["arch"] == ARCH_ID and summary["spandrel"].startswith(str(tmp_path))
    assert summary["output"][:2] == [96 * summary["scale"], 128 * summary["scale"]]


if __name__ == "__main__" and sys.argv[1:2] == ["--probe"]:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    probe(Path(sys.argv[2]))
