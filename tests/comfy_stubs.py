"""Minimal stand-ins for the ComfyUI modules the pack touches, and a loader that imports the pack as
ComfyUI does (spec_from_file_location under a path-derived name, from an oddly named folder)."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path


class Interrupted(Exception):
    pass


def install(models_dir: Path, output_dir: Path, with_v3: bool) -> dict:
    """Puts stand-in modules into sys.modules; returns them (and a dict of captured events)."""
    events = {"progress": [], "sent": [], "interrupt": False}
    upscale_dir = models_dir / "upscale_models"
    upscale_dir.mkdir(parents=True, exist_ok=True)

    fp = types.ModuleType("folder_paths")
    fp.models_dir = str(models_dir)
    fp.folder_names_and_paths = {"upscale_models": ([str(upscale_dir)], {".pth", ".safetensors"}),
                                 "paragonsr2_onnx": (["/elsewhere/onnx"], {".onnx"})}
    fp.get_folder_paths = lambda name: list(fp.folder_names_and_paths[name][0])
    fp.get_filename_list = lambda name: sorted(p.name for p in upscale_dir.iterdir() if p.is_file())

    def full_path(name, filename):
        p = upscale_dir / filename
        if not p.is_file():
            raise FileNotFoundError(f"Model in folder '{name}' with filename '{filename}' not found.")
        return str(p)
    fp.get_full_path_or_raise = full_path
    fp.get_output_directory = lambda: str(output_dir)
    fp.get_temp_directory = lambda: str(output_dir.parent / "temp")

    comfy = types.ModuleType("comfy")
    utils = types.ModuleType("comfy.utils")

    class ProgressBar:
        def __init__(self, total, node_id=None):
            self.total = total

        def update_absolute(self, value, total=None, preview=None):
            events["progress"].append((value, total))
    utils.ProgressBar = ProgressBar
    mm = types.ModuleType("comfy.model_management")
    import torch

    mm.get_torch_device = lambda: torch.device("cpu")
    mm.unet_offload_device = lambda: torch.device("cpu")
    mm.processing_interrupted = lambda: events["interrupt"]
    mm.InterruptProcessingException = Interrupted

    def throw():
        if events["interrupt"]:
            raise Interrupted()
    mm.throw_exception_if_processing_interrupted = throw
    mm.free_memory = lambda n, d: events.setdefault("freed", []).append(n)
    mm.soft_empty_cache = lambda: None
    comfy.utils, comfy.model_management = utils, mm

    server = types.ModuleType("server")

    class _Instance:
        def send_sync(self, event, data):
            events["sent"].append((event, data))

        def send_progress_text(self, text, node_id):
            events.setdefault("text", []).append((text, node_id))
    server.PromptServer = type("PromptServer", (), {"instance": _Instance()})
    input_impl = types.ModuleType("comfy_api.input_impl")  # core VIDEO values: a file and what reads it

    class VideoFromFile:
        def __init__(self, file):
            self.file = file

        def get_stream_source(self):
            return self.file
    input_impl.VideoFromFile = VideoFromFile
    stand_in_nodes = types.ModuleType("nodes")  # ComfyUI's own top-level `nodes` module
    stand_in_nodes.NODE_CLASS_MAPPINGS = {}
    modules = {"folder_paths": fp, "comfy": comfy, "comfy.utils": utils, "comfy.model_management": mm,
               "server": server, "nodes": stand_in_nodes, "comfy_api.input_impl": input_impl}
    if with_v3:
        modules.update(_v3_modules())
    sys.modules.update(modules)
    return {"events": events, "modules": modules}


def _v3_modules() -> dict:
    api = types.ModuleType("comfy_api")
    v = types.ModuleType("comfy_api.v0_0_2")
    io = types.SimpleNamespace()

    class _Base:
        def __init__(self, id=None, **kw):
            self.id, self.kw = id, kw

    def kind(name):
        return type(name, (), {"Input": type("Input", (_Base,), {"io_type": name}),
                               "Output": type("Output", (_Base,), {"io_type": name})})
    for name in ("Combo", "Int", "Float", "String", "Boolean", "Image", "UpscaleModel", "Video"):
        setattr(io, name, kind(name))

    class Schema:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    class NodeOutput:
        def __init__(self, *args, ui=None):
            self.args, self.ui = args, ui

    io.Schema, io.NodeOutput = Schema, NodeOutput
    io.ComfyNode = type("ComfyNode", (), {})
    io.Hidden = types.SimpleNamespace(unique_id="UNIQUE_ID")

    class ComfyExtension:
        pass
    v.ComfyExtension, v.io = ComfyExtension, io
    return {"comfy_api": api, "comfy_api.v0_0_2": v}


def uninstall(installed: dict) -> None:
    for name in installed["modules"]:
        sys.modules.pop(name, None)


def import_pack(pack_dir: Path):
    """Imports the pack like ComfyUI's load_custom_node: a module named after its full path."""
    name = str(pack_dir).replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(name, str(pack_dir / "__init__.py"),
                                                  submodule_search_locations=[str(pack_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
