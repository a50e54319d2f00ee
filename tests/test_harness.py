"""The pack in a real ComfyUI server with the real frontend (the shared harness, ../shared/harness; its README).

Opt-in: a server start, the example workflows, a training run and two headless-browser sessions take a few
minutes on two cores, so these run only with PARAGONSR2_HARNESS=1 and a set-up harness (ComfyUI, its venv,
Chromium + playwright-core); anything missing skips with the reason. Each run gets its own ComfyUI base folder
(models, input, output, user) and a free port, with this checkout linked in as the pack `paragonsr2`."""
import json
import os
import re
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_clips import make_clip, read_clip

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT.parent / "shared" / "harness"
WORKFLOWS = Path(__file__).resolve().parent / "workflows"
BROWSER_CHECKS = Path(__file__).resolve().parent / "js" / "browser_checks.js"
PACK = "paragonsr2"
NODES = "ParagonSR2Loader,ParagonSR2Upscale,ParagonSR2Export,ParagonSR2Train,ParagonSR2ModelInfo"


def _harness_paths() -> dict:
    if os.environ.get("PARAGONSR2_HARNESS") != "1":
        pytest.skip("real-ComfyUI tests are opt-in: PARAGONSR2_HARNESS=1 (needs ../shared/harness set up)")
    if not (HARNESS / "env.sh").is_file():
        pytest.skip(f"no integration harness at {HARNESS}")
    out = subprocess.run(["bash", "-c", f'. "{HARNESS}/env.sh"; echo "$COMFY_DIR"; echo "$COMFY_VENV"; '
                          'echo "$SR_NODE_DIR"'], capture_output=True, text=True, check=True).stdout.split("\n")
    paths = {"comfy": Path(out[0]), "venv": Path(out[1]), "node_dir": Path(out[2])}
    if not (paths["comfy"] / "main.py").is_file() or not (paths["venv"] / "bin" / "python").is_file():
        pytest.skip(f"ComfyUI is not set up at {paths['comfy']} (run {HARNESS}/setup.sh, see its README)")
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _crops(source: Path, folder: Path, count: int = 6, size: int = 192) -> None:
    """Training images: crops of ``source``."""
    photo = Image.open(source).convert("RGB")
    folder.mkdir(parents=True)
    w, h = photo.size
    for i in range(count):
        x, y = (i * 97) % max(1, w - size), (i * 61) % max(1, h - size)
        photo.crop((x, y, x + size, y + size)).save(folder / f"crop_{i}.png")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    paths = _harness_paths()
    base = tmp_path_factory.mktemp("comfy_base")
    (base / "input").mkdir()
    shutil.copy(paths["comfy"] / "input" / "example.png", base / "input" / "example.png")
    rgb = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    alpha = np.tile(np.linspace(0, 255, 56).astype(np.uint8), (40, 1))
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(base / "input" / "rgba.png")
    _crops(base / "input" / "example.png", base / "input" / "photos")
    make_clip(base / "input" / "example.mp4", frames=12, width=64, height=48)  # the video example's input
    env = {**os.environ, "COMFY_BASE": str(base), "COMFY_PORT": str(_free_port()), "COMFY_PACK_NAME": PACK,
           "COMFY_RUN_DIR": str(base / "run")}
    env["COMFY_URL"] = f"http://127.0.0.1:{env['COMFY_PORT']}"
    up = subprocess.run(["nice", "-n", "5", "bash", str(HARNESS / "comfy_up.sh"), str(ROOT)], env=env,
                        capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr[-4000:]
    pid = up.stdout.strip()
    yield {"env": env, "base": base, "paths": paths, "log": base / "run" / f"comfy-{env['COMFY_PORT']}.log"}
    subprocess.run(["bash", str(HARNESS / "comfy_down.sh"), pid], env=env, capture_output=True, timeout=60)


def run_workflow(server, workflow: dict, timeout: int = 600, fresh: bool = False) -> dict:
    """POSTs an API-format workflow through the harness's comfy_run.py (fresh: ComfyUI's cache emptied first, so
    that an identical prompt runs again); its JSON summary."""
    path = server["base"] / "wf.json"
    path.write_text(json.dumps(workflow))
    args = ["python3", str(HARNESS / "comfy_run.py"), str(path), "--json", "-q", "--timeout", str(timeout)]
    run = subprocess.run(args + (["--fresh"] if fresh else []), env=server["env"], capture_output=True, text=True,
                         timeout=timeout + 60)
    return json.loads(run.stdout.strip().splitlines()[-1])


def node_ui(server, summary: dict, node: str) -> dict:
    """The UI output a node sent in a finished run (from the server's /history)."""
    url = f"{server['env']['COMFY_URL']}/history/{summary['prompt_id']}"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)[summary["prompt_id"]]["outputs"].get(node, {})


def _twin(name: str, **changes) -> dict:
    """An example's API twin with ``"node.input": value`` changes."""
    workflow = json.loads((WORKFLOWS / f"example_{name}_api.json").read_text())
    for key, value in changes.items():
        node, name_ = key.split(".")
        workflow[node]["inputs"][name_] = value
    return workflow


def _image(summary: dict, node: str) -> Image.Image:
    assert summary["status"] == "success", summary["error"]
    return Image.open(next(o["path"] for o in summary["outputs"] if o["node_id"] == node))


def browser(server, *evals: str, screenshot: Path | None = None) -> list:
    """The real frontend in headless Chromium (comfy_browser.js) with tests/js/browser_checks.js loaded; the
    values of ``evals``."""
    node = shutil.which("node")
    if node is None or not (server["paths"]["node_dir"] / "node_modules" / "playwright-core").is_dir():
        pytest.skip("the harness browser (node + playwright-core, setup.sh browser) is not installed")
    args = [node, str(HARNESS / "comfy_browser.js"), "--timeout", "180", "--json", "--extension",
            "ParagonSR2.NodePack", "--eval", BROWSER_CHECKS.read_text()]
    for expr in evals:
        args += ["--eval", expr]
    if screenshot:
        args += ["--screenshot", str(screenshot)]
    run = subprocess.run(["nice", "-n", "5", *args], env=server["env"], capture_output=True, text=True,
                         timeout=900)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["ok"], (report["page_errors"], report["console_errors"], [e.get("error") for e in report["evals"]])
    return [e["value"] for e in report["evals"][1:]]


def test_pack_imports_and_every_node_is_documented(server):
    lint = subprocess.run(["python3", str(HARNESS / "comfy_nodes.py"), "--pack", PACK, "--check", "--expect", NODES],
                          env=server["env"], capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-2000:]
    templates = json.loads(subprocess.run(["curl", "-s", f"{server['env']['COMFY_URL']}/api/workflow_templates"],
                                          capture_output=True, text=True).stdout)
    assert set(templates[PACK]) == {p.stem for p in (ROOT / "example_workflows").glob("*.json")}


@pytest.mark.parametrize("name", ["upscale", "core_upscale"])
def test_upscale_examples_run(server, name):
    out = _image(run_workflow(server, _twin(name)), "4")
    assert out.size == (1536, 1536) and out.mode == "RGB"  # example.png is 768 x 768, the bundled model x2


def test_video_example_streams_load_video_to_save_video_with_audio(server):
    """Core Load Video -> Upscale Video (ParagonSR2) -> core Save Video: every frame x2, fps and audio kept."""
    summary = run_workflow(server, _twin("video"))
    assert summary["status"] == "success", summary["error"]
    out = read_clip(next(o["path"] for o in summary["outputs"] if o["node_id"] == "4"))
    src = read_clip(server["base"] / "input" / "example.mp4")
    assert out["size"] == (128, 96) and out["frames"] == src["frames"] and out["fps"] == src["fps"]
    assert out["audio_codecs"] and abs(out["audio_seconds"] - src["audio_seconds"]) < 0.05


def test_rgba_example_keeps_alpha_and_core_node_cannot(server):
    out = _image(run_workflow(server, _twin("rgba", **{"1.image": "rgba.png"})), "5")
    assert out.mode == "RGBA" and out.size == (112, 80)
    alpha = np.asarray(out)[..., 3].astype(float)
    expected = np.asarray(Image.open(server["base"] / "input" / "rgba.png").getchannel("A").resize(
        (112, 80), Image.BICUBIC)).astype(float)
    assert np.abs(alpha - expected).mean() < 4  # 8-bit levels: the model's alpha follows the input's ramp
    core = _twin("rgba", **{"1.image": "rgba.png"})
    core["4"] = {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["3", 0], "image": ["2", 0]}}
    summary = run_workflow(server, core)
    assert summary["status"] == "error" and "4 channels" in summary["error"]["exception_message"]


def test_core_loader_runs_the_bundled_x4_model_at_x4(server):
    workflow = {"1": {"class_type": "LoadImage", "inputs": {"image": "rgba.png"}},
                "2": {"class_type": "UpscaleModelLoader",
                      "inputs": {"model_name": "4x_ParagonSR2_nano_default.safetensors"}},
                "3": {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]}},
                "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "core_x4"}}}
    assert _image(run_workflow(server, workflow), "4").size == (224, 160)


def test_export_example_writes_a_verified_onnx_and_says_how_it_named_it(server):
    venv_python = server["paths"]["venv"] / "bin" / "python"
    if subprocess.run([str(venv_python), "-c", "import onnxruntime"], capture_output=True).returncode:
        pytest.skip("ComfyUI's venv has no onnxruntime (export verifies with it): pip install onnxruntime there")
    texts = []
    for _ in range(2):
        summary = run_workflow(server, _twin("export", **{"2.precision": "fp32", "2.filename": "../../evil"}),
                               fresh=True)
        assert summary["status"] == "success", summary["error"]
        texts.append(node_ui(server, summary, "2")["text"][0])
    written = sorted((server["base"] / "output" / "paragonsr2").glob("*.onnx"))
    assert [p.name for p in written] == ["evil_2x_fp32.onnx", "evil_2x_fp32_001.onnx"]
    assert "file name cleaned" in texts[0] and "already exists" not in texts[0]
    assert "added '_001'" in texts[1]


def test_train_node_publishes_only_the_final_model(server):
    models = server["base"] / "models" / "upscale_models"
    before = {p.relative_to(models) for p in models.rglob("*")}
    workflow = _twin("train", **{"1.dataset_folder": "photos", "1.steps": 30, "1.batch": 2, "1.patch": 32,
                                 "1.model_name": "harness", "1.resume": False, "2.image": "rgba.png"})
    summary = run_workflow(server, workflow, timeout=900)
    assert _image(summary, "4").size == (112, 80)
    print(node_ui(server, summary, "1").get("text", [""])[0])  # the node's summary, for the run's log
    after = {p.relative_to(models) for p in models.rglob("*")}
    assert after - before == {Path("2x_harness.safetensors")}


def _natural_photos() -> list[Path]:
    """The scikit-image wheel's photos (read as files; skimage is not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    data = Path(list(spec.submodule_search_locations)[0]) / "data" if spec else Path("/nonexistent")
    names = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
             "rocket.jpg", "brick.png", "grass.png", "gravel.png", "moon.png", "coins.png", "hubble_deep_field.jpg",
             "retina.jpg")
    return [data / n for n in names if (data / n).is_file()]


def test_train_example_on_natural_photos_is_not_worse_than_its_start(server):
    """The Train example with its default settings on >= 12 natural photos: the published model is at least as
    good as the starting (bundled) model on the validation split, and the summary says by how much."""
    photos = _natural_photos()
    if len(photos) < 12:
        pytest.skip("needs the scikit-image photos: pip install --no-deps scikit-image")
    folder = server["base"] / "input" / "photos12"
    folder.mkdir(exist_ok=True)
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    summary = run_workflow(server, _twin("train", **{"1.dataset_folder": "photos12", "1.resume": False}),
                           timeout=3600)
    assert summary["status"] == "success", summary["error"]
    text = node_ui(server, summary, "1").get("text", [""])[0]
    print(text)  # for the run's log
    published = float(re.search(r"published model\s+([\d.]+) dB", text).group(1))
    start, gain = re.search(r"starting model\s+([\d.]+) dB\s+\(([+-][\d.]+) dB\)", text).groups()
    assert published >= float(start) and float(gain) >= 0
    from trainer.validation import validation_count

    assert f"validation: {validation_count(len(photos), 0.1)} images" in text


def test_saved_workflow_reopens_with_widget_state_and_model_facts(server, tmp_path):
    edit, = browser(server, "psr2.edit()")
    assert edit["template_default"]["scale_value_hidden"] and edit["template_default"]["alpha_value_hidden"]
    assert not edit["opened_custom"]["scale_value_hidden"]  # a file/template opened with scale = custom
    assert not edit["ui_alpha_custom"]["alpha_value_hidden"]  # changed in the UI
    assert edit["run_ok"] and "scale 3x (argument)" in edit["after_run"]["facts"]
    assert edit["before_undo"]["scale_value_hidden"] and not edit["after_undo"]["scale_value_hidden"]
    assert edit["after_undo"]["scale"] == "custom" and edit["after_undo"]["facts"] == edit["after_run"]["facts"]
    assert edit["pasted"] == edit["after_undo"]
    assert not edit["export_int8_hidden"] and edit["export_fp32_hidden"]
    reopen, = browser(server, "psr2.reopen()", screenshot=tmp_path / "reopened.png")
    assert reopen["reopened"] == edit["after_undo"]  # a new page: widgets, facts and size as saved
    assert reopen["rerun_ok"] and reopen["after_cached_run"] == edit["after_undo"]
    assert not reopen["export_reopened_hidden"]


def test_examples_do_not_overlap_in_the_frontend(server):
    overlaps, = browser(server, "psr2.overlaps()")
    assert set(overlaps) == {p.stem for p in (ROOT / "example_workflows").glob("*.json")}
    assert overlaps == {name: [] for name in overlaps}
