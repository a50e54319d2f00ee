"""The pack imported as ComfyUI imports it (odd folder name, stand-in `nodes` module), every node run."""
import asyncio
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

import comfy_stubs
from helpers import float64_bound

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["v1", "v3"])
def comfy(request, tmp_path, real_ema_path):
    pack = tmp_path / "custom_nodes" / "Paragon SR2.pack-v0"
    pack.mkdir(parents=True)
    for item in ("__init__.py", "nodes", "paragonsr2", "trainer", "js"):
        (pack / item).symlink_to(ROOT / item)
    models = tmp_path / "models"
    installed = comfy_stubs.install(models, tmp_path / "output", with_v3=request.param == "v3")
    shutil.copy(real_ema_path, models / "upscale_models" / real_ema_path.name)
    (models / "upscale_models" / "broken.safetensors").write_bytes(b"\x00" * 64)
    before = set(sys.modules)
    module = comfy_stubs.import_pack(pack)
    if request.param == "v3":
        ext = asyncio.run(module.comfy_entrypoint())
        classes = {c.define_schema().node_id: c for c in asyncio.run(ext.get_node_list())}

        def call(node_id, **kw):
            cls = classes[node_id]
            cls.hidden = type("H", (), {"unique_id": "7"})()
            out = cls.execute(**kw)
            return out.args, out.ui
    else:
        classes = module.NODE_CLASS_MAPPINGS

        def call(node_id, **kw):
            out = getattr(classes[node_id](), classes[node_id].FUNCTION)(unique_id="7", **kw)
            return (out["result"], out["ui"]) if isinstance(out, dict) else (out, None)
    errors = sys.modules[f"{module.__name__}.paragonsr2.errors"]  # the pack's own copy of the library
    yield {"module": module, "classes": classes, "call": call, "events": installed["events"], "mode": request.param,
           "models": models, "output": tmp_path / "output", "ParagonError": errors.ParagonError}
    comfy_stubs.uninstall(installed)
    for name in set(sys.modules) - before:
        if name.startswith(str(pack).replace(".", "_x_")):
            sys.modules.pop(name, None)


def test_import_is_light_and_registers(comfy):
    assert "tensorrt" not in sys.modules
    assert comfy["module"].WEB_DIRECTORY == "./js"
    assert set(comfy["classes"]) == {"ParagonSR2Loader", "ParagonSR2Upscale", "ParagonSR2Export",
                                     "ParagonSR2Train", "ParagonSR2ModelInfo", "ParagonSR2UpscaleVideo"}
    import folder_paths
    from spandrel import MAIN_REGISTRY

    assert "ParagonSR2" in MAIN_REGISTRY
    paths, exts = folder_paths.folder_names_and_paths["paragonsr2_onnx"]
    assert "/elsewhere/onnx" in paths and len(paths) == 2 and exts == {".onnx"}
    assert folder_paths.folder_names_and_paths["paragonsr2_engines"][1] == {".engine"}


def test_v1_schema_has_tooltips(comfy):
    if comfy["mode"] != "v1":
        schema = comfy["classes"]["ParagonSR2Loader"].define_schema()
        assert schema.inputs[0].kw["options"] == ["2xParagonSR2_Nano_Pretrain_a6736e0b_ema.safetensors",
                                                  "broken.safetensors"]
        return
    for cls in comfy["classes"].values():
        spec = cls.INPUT_TYPES()
        for group in ("required", "optional"):
            for name, (_, opts) in spec[group].items():
                assert opts.get("tooltip"), (cls.__name__, name)
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES) and cls.DESCRIPTION and cls.CATEGORY


def _load(comfy, **kw):
    args = dict(model_name="2xParagonSR2_Nano_Pretrain_a6736e0b_ema.safetensors", scale="auto", scale_value=2.0,
                upsampler_alpha="auto", alpha_value=0.5, fusion="deploy")
    args.update(kw)
    return comfy["call"]("ParagonSR2Loader", **args)


def test_loader_upscale_info(comfy):
    (model, text), ui = _load(comfy)
    assert "generation A" in text and "EMA" in text and model.scale == 2
    info = json.loads(ui["paragonsr2_info"][0])
    assert info["variant"] == "nano" and info["scale_source"] == "file name"
    image = torch.rand(2, 33, 41, 3)
    (out,), _ = comfy["call"]("ParagonSR2Upscale", image=image, upscale_model=model, tile="auto",
                              backend="pytorch", precision="auto")
    assert out.shape == (2, 66, 82, 3) and out.min() >= 0 and out.max() <= 1
    assert comfy["events"]["progress"][-1][0] == comfy["events"]["progress"][-1][1]
    assert comfy["events"]["freed"]
    # the core node's contract: descriptor call on [B,C,H,W]
    core = model(image.movedim(-1, 1))
    bound = float64_bound(model.model, image.movedim(-1, 1), out.movedim(-1, 1))
    assert (core.movedim(1, -1) - out).abs().max() <= bound
    (desc,), ui = comfy["call"]("ParagonSR2ModelInfo", upscale_model=model)
    assert "nano" in desc and ui["text"]
    (model3, _), _ = _load(comfy, scale="custom", scale_value=3.0, upsampler_alpha="custom", alpha_value=0.2)
    assert model3.scale == 3 and abs(model3.model.upsampler_alpha - 0.2) < 1e-9


def test_tensorrt_build_progress_shows_on_the_node(comfy, fake_trt, monkeypatch):
    import sys

    fake_trt()
    monkeypatch.setattr(sys.modules["comfy.model_management"], "get_torch_device", lambda: torch.device("cuda"))
    (model, _), _ = _load(comfy)
    with pytest.raises((RuntimeError, AssertionError), match="NVIDIA|CUDA"):  # the stand-in builds; running needs a GPU
        comfy["call"]("ParagonSR2Upscale", image=torch.rand(1, 8, 8, 3), upscale_model=model, tile="auto",
                      backend="tensorrt", precision="fp16")
    texts = comfy["events"].get("text", [])
    assert ("TensorRT engine build: Building (0/2)", "7") in texts
    assert texts[-1] == ("TensorRT engine build: Building done", "7")


def test_core_loader_path_feeds_our_upscale(comfy):
    from spandrel import ModelLoader

    desc = ModelLoader().load_from_file(str(comfy["models"] / "upscale_models" /
                                            "2xParagonSR2_Nano_Pretrain_a6736e0b_ema.safetensors"))
    (out,), _ = comfy["call"]("ParagonSR2Upscale", image=torch.rand(1, 8, 8, 3), upscale_model=desc, tile="none",
                              backend="pytorch", precision="fp32")
    assert out.shape == (1, 16, 16, 3)


def test_bad_inputs_are_clear(comfy):
    with pytest.raises(comfy["ParagonError"], match="broken.safetensors.*truncated or corrupt"):
        _load(comfy, model_name="broken.safetensors")
    with pytest.raises(FileNotFoundError):
        _load(comfy, model_name="missing.safetensors")
    (model, _), _ = _load(comfy)
    tiny = comfy["call"]("ParagonSR2Upscale", image=torch.rand(1, 1, 1, 3), upscale_model=model, tile="auto",
                         backend="pytorch", precision="auto")[0][0]
    assert tiny.shape == (1, 2, 2, 3)
    with pytest.raises(comfy["ParagonError"], match="tensorrt"):
        comfy["call"]("ParagonSR2Upscale", image=torch.rand(1, 8, 8, 3), upscale_model=model, tile="auto",
                      backend="tensorrt", precision="auto")

    class Other:
        model = torch.nn.Identity()
    with pytest.raises(comfy["ParagonError"], match="ParagonSR2 models only"):
        comfy["call"]("ParagonSR2Upscale", image=torch.rand(1, 8, 8, 3), upscale_model=Other(), tile="auto",
                      backend="pytorch", precision="auto")


def _foreign_file(comfy, arch: str) -> str:
    """A small SPAN / Compact / ESRGAN file (built by spandrel's own architectures) in upscale_models."""
    from safetensors.torch import save_file

    nets = {"SPAN": lambda: __import__("spandrel.architectures.SPAN", fromlist=["SPAN"]).SPAN(
                num_in_ch=3, num_out_ch=3, upscale=2, feature_channels=16),
            "Compact": lambda: __import__("spandrel.architectures.Compact", fromlist=["Compact"]).Compact(
                num_feat=16, num_conv=2, upscale=2),
            "ESRGAN": lambda: __import__("spandrel.architectures.ESRGAN", fromlist=["ESRGAN"]).ESRGAN(
                in_nc=3, out_nc=3, num_filters=16, num_blocks=2, scale=2)}
    name = f"2x_{arch}_small.safetensors"
    save_file({k: v.contiguous() for k, v in nets[arch]().state_dict().items()},
              str(comfy["models"] / "upscale_models" / name))
    return name


@pytest.mark.parametrize("arch, spandrel_name", [("SPAN", "SPAN"), ("Compact", "RealESRGAN Compact"),
                                                 ("ESRGAN", "ESRGAN")])
def test_loader_names_the_loader_for_other_architectures(comfy, arch, spandrel_name):
    name = _foreign_file(comfy, arch)
    with pytest.raises(comfy["ParagonError"]) as info:
        _load(comfy, model_name=name)
    text = str(info.value)
    assert text.startswith(f"{name}: a {spandrel_name} model, not ParagonSR2. Load it with ComfyUI's core "
                           "'Load Upscale Model' node")
    assert "Upscale Image (using Model)" in text and str(comfy["models"]) not in text  # no full path
    assert info.value.spandrel_loads and info.value.architecture == spandrel_name


def test_loader_without_a_known_architecture(comfy):
    from safetensors.torch import save_file

    save_file({"foo.weight": torch.zeros(4, 3, 3, 3)}, str(comfy["models"] / "upscale_models" / "odd.safetensors"))
    with pytest.raises(comfy["ParagonError"], match=r"^odd.safetensors is not a ParagonSR2 checkpoint \(.*\)\. "
                       "If it is another upscaler architecture, load it with ComfyUI's core 'Load Upscale Model'"):
        _load(comfy, model_name="odd.safetensors")


def test_info_and_upscale_fit_other_architectures(comfy):
    from spandrel import ModelLoader

    path = comfy["models"] / "upscale_models" / _foreign_file(comfy, "SPAN")
    span = ModelLoader().load_from_file(str(path))  # what ComfyUI's core loader hands on
    (text,), ui = comfy["call"]("ParagonSR2ModelInfo", upscale_model=span)
    assert text.splitlines()[0].split() == ["architecture", "SPAN"] and "scale            2x" in text
    assert "core 'Upscale Image (using Model)' runs it" in text and ui["text"] == [text]
    with pytest.raises(comfy["ParagonError"], match="'Upscale Image \\(ParagonSR2\\)' takes ParagonSR2 models only; "
                       "this one is SPAN: run it with ComfyUI's core 'Upscale Image \\(using Model\\)'"):
        comfy["call"]("ParagonSR2Upscale", image=torch.rand(1, 8, 8, 3), upscale_model=span, tile="auto",
                      backend="pytorch", precision="auto")
    with pytest.raises(comfy["ParagonError"], match="'Export ParagonSR2' takes ParagonSR2 models only; this one is "
                       "SPAN"):
        comfy["call"]("ParagonSR2Export", upscale_model=span, precision="fp32", tensorrt=False, filename="x",
                      destination="output")


def test_exception_type_comfyui_shows_has_no_path(comfy):
    """ComfyUI shows full_type_name(type(e)) = module + '.' + qualname, the pack being imported under its folder
    path: our exception classes name their module relative to the pack."""
    with pytest.raises(comfy["ParagonError"]) as info:
        _load(comfy, model_name="broken.safetensors")
    shown = f"{type(info.value).__module__}.{type(info.value).__qualname__}"
    assert shown == "paragonsr2.errors.CheckpointError"
    pack_errors = sys.modules[f"{comfy['module'].__name__}.paragonsr2.errors"]
    assert pack_errors.ParagonError.__module__ == "paragonsr2.errors"
    validate = sys.modules[f"{comfy['module'].__name__}.paragonsr2.validate"]
    assert validate.InvalidValueError.__module__ == "paragonsr2.validate"


def test_interrupt_mid_upscale(comfy):
    (model, _), _ = _load(comfy)
    comfy["events"]["interrupt"] = True
    with pytest.raises(comfy_stubs.Interrupted):
        comfy["call"]("ParagonSR2Upscale", image=torch.rand(1, 64, 64, 3), upscale_model=model, tile="128",
                      backend="pytorch", precision="auto")
    comfy["events"]["interrupt"] = False


def test_export_node(comfy):
    pytest.importorskip("onnxruntime")
    (model, _), _ = _load(comfy)
    (path, report), _ = comfy["call"]("ParagonSR2Export", upscale_model=model, precision="fp32", tensorrt=False,
                                      filename="../../evil name", destination="output")
    p = Path(path)
    assert p.is_file() and p.parent == (comfy["output"] / "paragonsr2").resolve() and ".." not in p.name
    assert json.loads(report)["passed"]
    (path2, _), _ = comfy["call"]("ParagonSR2Export", upscale_model=model, precision="fp32", tensorrt=False,
                                  filename="../../evil name", destination="output")
    assert path2 != path  # never overwrites
    with pytest.raises(comfy["ParagonError"], match="calibration"):
        comfy["call"]("ParagonSR2Export", upscale_model=model, precision="int8", tensorrt=False,
                      filename="x", destination="output")


def test_train_node(comfy, tmp_path):
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        Image.fromarray((torch.rand(80, 80, 3).numpy() * 255).astype("uint8")).save(data / f"{i}.png")
    with torch.inference_mode():  # ComfyUI runs every node under inference mode
        (model, summary), _ = comfy["call"]("ParagonSR2Train", dataset_folder=str(data), variant="nano", scale=2,
                                            steps=3, batch=2, patch=16, learning_rate=1e-3, degradations="light",
                                            model_name="mine", resume=False)
    assert (comfy["models"] / "upscale_models" / "2x_mine.safetensors").is_file()
    assert "3 steps" in summary and model.scale == 2
    assert any(e == "paragonsr2.train" for e, _ in comfy["events"]["sent"])
    with pytest.raises(comfy["ParagonError"], match="dataset_folder"):
        comfy["call"]("ParagonSR2Train", dataset_folder="", variant="nano", scale=2, steps=3, batch=2, patch=16,
                      learning_rate=1e-3, degradations="light", model_name="mine", resume=False)


def test_backend_cache_never_serves_a_freed_model(comfy):
    """Alternating loads of the bundled x2 and x4 files through ONNX Runtime: a freed model's id can be reused,
    the cache (weakly keyed by the model) cannot hand its backend to the next model."""
    pytest.importorskip("onnxruntime")
    import gc

    for scale in (2, 4):
        name = f"{scale}x_ParagonSR2_nano_default.safetensors"
        shutil.copy(ROOT / "paragonsr2" / "models" / name, comfy["models"] / "upscale_models" / name)
    image = torch.rand(1, 8, 8, 3)
    for scale in (2, 4, 2, 4, 2, 4):
        (model, _), _ = _load(comfy, model_name=f"{scale}x_ParagonSR2_nano_default.safetensors")
        (out,), _ = comfy["call"]("ParagonSR2Upscale", image=image, upscale_model=model, tile="auto",
                                  backend="onnxruntime", precision="fp32")
        assert out.shape == (1, 8 * scale, 8 * scale, 3)
        del model, out
        gc.collect()


@pytest.fixture
def without(monkeypatch, tmp_path):
    """without(*packages): those packages become unimportable (as when not installed); a fresh artifact cache."""
    monkeypatch.setenv("PARAGONSR2_CACHE", str(tmp_path / "cache"))

    def block(*packages):
        for name in packages:
            monkeypatch.setitem(sys.modules, name, None)
    return block


def _auto_upscale(comfy, model, image):
    (out,), ui = comfy["call"]("ParagonSR2Upscale", image=image, upscale_model=model, tile="auto", backend="auto",
                               precision="auto")
    text = ui["text"][0]
    assert comfy["events"]["text"][-1] == (text, "7")  # the same text as the node's status line
    return out, text


@pytest.fixture
def slim_install(without):
    """openvino and onnxruntime unimportable before the pack is imported (requested before `comfy`)."""
    without("openvino", "onnxruntime")


def test_pack_runs_without_openvino_and_names_its_gain_once(slim_install, comfy, tmp_path):
    """No openvino, no onnxruntime (blocked before the pack is imported): the pack imports and auto runs PyTorch
    fp32; the text says which path ran, its speed, and (once per session) what the fast path would give."""
    (model, _), _ = _load(comfy)
    image = torch.rand(1, 32, 40, 3)
    out, text = _auto_upscale(comfy, model, image)
    assert out.shape == (1, 64, 80, 3)
    first = text.splitlines()
    assert re.fullmatch(r"pytorch fp32 on cpu \(chosen by auto\): 40x32 -> 80x64 in \d+\.\d\d s, [\d.e+-]+ MP/s "
                        r"\(input pixels\)", first[0])
    assert first[1].startswith("auto: pytorch fp32") and "openvino fp32: openvino not installed" in first[1]
    assert first[2].startswith("tip: pip install openvino onnx onnxruntime would give the OpenVINO CPU path")
    assert len(first) == 3  # nothing was built: PyTorch fp32 needs no artifact
    _, again = _auto_upscale(comfy, model, image)
    assert "tip:" not in again and again.splitlines()[1] == first[1]


def test_first_run_says_what_it_prepared_and_where(without, comfy, tmp_path):
    pytest.importorskip("onnxruntime")
    without("openvino")
    (model, _), _ = _load(comfy)
    _, text = _auto_upscale(comfy, model, torch.rand(1, 24, 24, 3))
    lines = text.splitlines()
    assert lines[0].startswith("onnxruntime fp32 on cpu (chosen by auto): 24x24 -> 48x48")
    built = [line for line in lines if line.startswith("first run for this model: prepared ")]
    assert len(built) == 1 and "ONNX fp32 graph, accuracy check of the automatic choice in " in built[0]
    assert built[0].endswith(f"cached in {tmp_path / 'cache'} (reused next time)")
    assert any(line.startswith("tip: pip install openvino onnx onnxruntime would give") for line in lines)
    (model2, _), _ = _load(comfy)  # a new model object: a new backend, made from the cache
    _, again = _auto_upscale(comfy, model2, torch.rand(1, 24, 24, 3))
    assert "first run" not in again and "tip:" not in again and again.startswith("onnxruntime fp32")
