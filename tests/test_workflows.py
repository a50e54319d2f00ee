"""What a ComfyUI user meets first: the example workflows (template browser) and the export node's text.

Examples: every node type exists, our nodes' widgets match the node specs, each example's API-format twin in
tests/workflows (used by the real-server harness, tests/test_harness.py) is the same graph, and no two nodes
overlap, counting the title bar, the pack badge above it, the Load Image / Save Image previews and what the
extension adds below a node after a run (js/paragonsr2_core.js: LINE, MAX_LINES, LOSS_HEIGHT)."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_js import node_executable

import comfy_stubs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "example_workflows").glob("*.json"))
API_TWINS = ROOT / "tests" / "workflows"
TITLE, BADGE, GAP = 30, 24, 10  # LiteGraph title bar; the node-source badge drawn above custom nodes; spacing
PREVIEW_HEIGHT = {"LoadImage": 330, "SaveImage": 400,  # what the image previews grow these nodes to (measured)
                  "LoadVideo": 380, "SaveVideo": 480}  # video previews: set generously (not measured)
CORE_NODES = {"LoadImage": ["image", "upload"], "SaveImage": ["filename_prefix"], "ImageUpscaleWithModel": [],
              "JoinImageWithAlpha": [], "Note": ["text"], "LoadVideo": ["file", "upload"],
              "SaveVideo": ["filename_prefix", "format", "codec"]}
UI_ONLY_WIDGETS = {"upload"}
FRONTEND_ONLY = {"Note"}


def _js_constant(name: str) -> int:
    text = (ROOT / "js" / "paragonsr2_core.js").read_text()
    return int(re.search(rf"export const {name} = (\d+);", text).group(1))


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """The pack imported as ComfyUI imports it (V1 contract, stand-in ComfyUI modules), the bundled ×2 model in
    upscale_models."""
    tmp = tmp_path_factory.mktemp("comfy")
    pack_dir = tmp / "custom_nodes" / "paragonsr2"
    pack_dir.mkdir(parents=True)
    for item in ("__init__.py", "nodes", "paragonsr2", "trainer", "js"):
        (pack_dir / item).symlink_to(ROOT / item)
    models = tmp / "models"
    installed = comfy_stubs.install(models, tmp / "output", with_v3=False)
    shutil.copy(ROOT / "paragonsr2" / "models" / "2x_ParagonSR2_nano_default.safetensors", models / "upscale_models")
    before = set(sys.modules)
    module = comfy_stubs.import_pack(pack_dir)
    yield {"classes": module.NODE_CLASS_MAPPINGS, "output": tmp / "output", "events": installed["events"]}
    comfy_stubs.uninstall(installed)
    for name in set(sys.modules) - before:
        if name.startswith(str(pack_dir).replace(".", "_x_")):
            sys.modules.pop(name, None)


def _widget_names(pack, node_type: str) -> list[str]:
    """Widget inputs in order: ours from the node spec (sockets such as IMAGE are not widgets)."""
    if node_type in CORE_NODES:
        return CORE_NODES[node_type]
    spec = pack["classes"][node_type].INPUT_TYPES()
    inputs = {**spec["required"], **spec.get("optional", {})}
    return [n for n, (kind, _) in inputs.items() if isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING",
                                                                                         "BOOLEAN")]


def to_api(workflow: dict, pack) -> dict:
    """UI-format workflow -> API format (what the frontend queues): widget values by name plus links."""
    links = {link[0]: link for link in workflow["links"]}
    api = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        names = _widget_names(pack, node["type"])
        inputs = {n: v for n, v in zip(names, node.get("widgets_values") or []) if n not in UI_ONLY_WIDGETS}
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                _, origin, origin_slot, *_ = links[slot["link"]]
                inputs[slot["name"]] = [str(origin), origin_slot]
        api[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return api


def _twin(example: Path) -> Path:
    return API_TWINS / f"example_{example.stem.removeprefix('ParagonSR2_')}_api.json"


def test_there_are_examples_for_core_upscale_and_rgba():
    names = {p.stem for p in EXAMPLES}
    assert {"ParagonSR2_upscale", "ParagonSR2_export", "ParagonSR2_train", "ParagonSR2_core_upscale",
            "ParagonSR2_rgba"} <= names
    rgba = json.loads((ROOT / "example_workflows" / "ParagonSR2_rgba.json").read_text())
    types = [n["type"] for n in rgba["nodes"]]
    assert "JoinImageWithAlpha" in types and "ParagonSR2Upscale" in types and "ImageUpscaleWithModel" not in types
    core = json.loads((ROOT / "example_workflows" / "ParagonSR2_core_upscale.json").read_text())
    assert {"ParagonSR2Loader", "ImageUpscaleWithModel"} <= {n["type"] for n in core["nodes"]}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_the_nodes_and_its_api_twin(example, pack):
    workflow = json.loads(example.read_text())
    for node in workflow["nodes"]:
        assert node["type"] in CORE_NODES or node["type"] in pack["classes"], node["type"]
        names = _widget_names(pack, node["type"])
        ui_widgets = [s["widget"]["name"] for s in node.get("inputs", []) if "widget" in s]
        if node["type"] not in FRONTEND_ONLY:
            assert ui_widgets == names, (example.stem, node["type"])
        assert len(node.get("widgets_values") or []) == len(names), (example.stem, node["type"])
    for link_id, origin, _, target, target_slot, kind in workflow["links"]:
        slot = next(n for n in workflow["nodes"] if n["id"] == target)["inputs"][target_slot]
        assert slot["link"] == link_id and slot["type"] == kind
        assert any(n["id"] == origin for n in workflow["nodes"])
    assert to_api(workflow, pack) == json.loads(_twin(example).read_text())


def test_examples_leave_backend_and_precision_on_auto(pack):
    """Each example's Upscale and Upscale Video nodes (checked on the API twins, which equal the examples above)
    use the automatic choice, as does the node's default: an example never pins a slower path than the install
    allows."""
    spec = pack["classes"]["ParagonSR2Upscale"].INPUT_TYPES()["required"]
    assert spec["backend"][1]["default"] == spec["precision"][1]["default"] == "auto"
    seen = set()
    for example in EXAMPLES:
        for node in json.loads(_twin(example).read_text()).values():
            if node["class_type"] in ("ParagonSR2Upscale", "ParagonSR2UpscaleVideo"):
                assert (node["inputs"]["backend"], node["inputs"]["precision"]) == ("auto", "auto"), example.stem
                seen.add(example.stem)
    assert {"ParagonSR2_upscale", "ParagonSR2_rgba", "ParagonSR2_train", "ParagonSR2_video"} <= seen


def _boxes(workflow: dict) -> list[tuple[str, float, float, float, float]]:
    """(name, x0, y0, x1, y1) of each node as drawn at its largest: title and badge above, previews and the
    extension's text and loss curve below."""
    line, max_lines, loss = _js_constant("LINE"), _js_constant("MAX_LINES"), _js_constant("LOSS_HEIGHT")
    grows = {"ParagonSR2Loader": max_lines * line + 8, "ParagonSR2ModelInfo": max_lines * line + 8,
             "ParagonSR2Export": max_lines * line + 8, "ParagonSR2Train": max_lines * line + 8 + loss}
    boxes = []
    for n in workflow["nodes"]:
        (x, y), (w, h) = n["pos"], n["size"]
        h = max(h, PREVIEW_HEIGHT.get(n["type"], 0)) + grows.get(n["type"], 0)
        w = max(w, 280) if n["type"] in grows else w
        boxes.append((f"{n['id']}:{n['type']}", x, y - TITLE - BADGE, x + w, y + h))
    return boxes


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_nodes_never_overlap(example):
    boxes = _boxes(json.loads(example.read_text()))
    for i, (a, ax0, ay0, ax1, ay1) in enumerate(boxes):
        for b, bx0, by0, bx1, by1 in boxes[i + 1:]:
            apart = ax1 + GAP <= bx0 or bx1 + GAP <= ax0 or ay1 + GAP <= by0 or by1 + GAP <= ay0
            assert apart, f"{example.stem}: {a} overlaps {b}"


VIEW_WIDTH, SIDEBAR = 1600, 64  # a 1600-px-wide browser window; the frontend's left sidebar (1.27) takes 64 px


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_fits_a_1600_px_wide_view(example):
    """At the saved zoom and offset, every node (grown as drawn) lies inside the canvas of a 1600-px window."""
    workflow = json.loads(example.read_text())
    ds = workflow.get("extra", {}).get("ds", {"scale": 1, "offset": [0, 0]})
    for name, x0, _, x1, _ in _boxes(workflow):
        left, right = (x0 + ds["offset"][0]) * ds["scale"], (x1 + ds["offset"][0]) * ds["scale"]
        assert left >= 0 and SIDEBAR + right + GAP <= VIEW_WIDTH, f"{example.stem}: {name} ends at {right:g}"


def test_overlap_check_catches_the_old_layout():
    """The pre-fix upscale example (Load Image's preview over the loader's title) is caught."""
    old = {"nodes": [{"id": 1, "type": "LoadImage", "pos": [100, 130], "size": [274, 102]},
                     {"id": 2, "type": "ParagonSR2Loader", "pos": [100, 362], "size": [270, 150]}]}
    (_, _, _, _, image_bottom), (_, _, loader_top, _, _) = _boxes(old)
    assert image_bottom > loader_top


def test_dependent_widgets_name_real_widgets_and_options(pack):
    """Each (controller, dependent, showing values) rule of the extension names widgets the node has and values
    its controller combo offers (a renamed option would otherwise hide a widget for good)."""
    node = node_executable()
    script = (f"import('{(ROOT / 'js' / 'paragonsr2_core.js').as_uri()}')"
              ".then((m) => console.log(JSON.stringify(m.DEPENDENT_WIDGETS)))")
    rules = json.loads(subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True,
                                      check=True, timeout=60).stdout)
    assert rules
    for node_type, pairs in rules.items():
        spec = pack["classes"][node_type].INPUT_TYPES()
        inputs = {**spec["required"], **spec.get("optional", {})}
        for controller, dependent, values in pairs:
            assert dependent in inputs, (node_type, dependent)
            assert set(values) <= set(inputs[controller][0]), (node_type, controller, values)


def _export(pack, filename):
    cls = pack["classes"]
    loaded = cls["ParagonSR2Loader"]().execute(model_name="2x_ParagonSR2_nano_default.safetensors", scale="auto",
                                               scale_value=2.0, upsampler_alpha="auto", alpha_value=0.5,
                                               fusion="deploy")
    model = loaded["result"][0]
    out = cls["ParagonSR2Export"]().execute(upscale_model=model, precision="fp32", tensorrt=False, filename=filename,
                                            destination="output")
    (path, _), text = out["result"], out["ui"]["text"][0]
    return Path(path), text


def test_export_text_says_when_the_name_was_cleaned_or_suffixed(pack):
    pytest.importorskip("onnxruntime")
    path, text = _export(pack, "../../evil")
    assert path.name == "evil_2x_fp32.onnx" and path.parent == (pack["output"] / "paragonsr2").resolve()
    assert "file name cleaned: '../../evil_2x_fp32' -> 'evil_2x_fp32.onnx'" in text
    assert "already exists" not in text and "verif" in text
    path2, text2 = _export(pack, "../../evil")
    assert path2.name == "evil_2x_fp32_001.onnx"
    assert "file name cleaned" in text2 and "'evil_2x_fp32.onnx' already exists: added '_001'" in text2
    path3, text3 = _export(pack, "plain")
    assert path3.name == "plain_2x_fp32.onnx" and "cleaned" not in text3 and "exists" not in text3
