"""The frontend extension (js/) under Node's own test runner, laid out as ComfyUI serves it, with stand-in
app/api modules and LiteGraph nodes (tests/js/). Skips where Node.js >= 18 is not installed."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JS_TESTS = Path(__file__).resolve().parent / "js"


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (the js/ extension tests need node >= 18)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    if int(re.match(r"v(\d+)", version).group(1)) < 18:
        pytest.skip(f"Node.js {version.strip()} is older than 18 (node:test)")
    return node


def test_extension_under_node(tmp_path):
    node = node_executable()
    import paragonsr2

    desc = paragonsr2.load_model(ROOT / "paragonsr2" / "models" / "4x_ParagonSR2_nano_default.safetensors").description
    ext = tmp_path / "extensions" / "paragonsr2"
    shutil.copytree(ROOT / "js", ext)
    shutil.copytree(JS_TESTS / "comfy_scripts", tmp_path / "scripts")
    run = subprocess.run([node, "--test", "--test-reporter=spec", str(JS_TESTS / "extension.test.mjs")],
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": str(Path(node).parent), "PSR2_EXT": str(ext),
                              "PSR2_DESC": json.dumps(desc.to_dict())})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert re.search(r"\bpass (\d+)", run.stdout) and "fail 0" in run.stdout


def test_extension_imports_only_what_comfyui_serves():
    """Every import in js/ is ComfyUI's app/api (two levels up, as /extensions/<pack>/x.js sees them) or a
    sibling file that exists; nothing from a bundler or node_modules."""
    for path in (ROOT / "js").glob("*.js"):
        for spec in re.findall(r"^import .* from \"([^\"]+)\";", path.read_text(), flags=re.M):
            if spec.startswith("../../scripts/"):
                assert spec in ("../../scripts/app.js", "../../scripts/api.js"), (path.name, spec)
            else:
                assert spec.startswith("./") and (path.parent / spec).is_file(), (path.name, spec)
