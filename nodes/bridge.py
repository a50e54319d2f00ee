"""The few ComfyUI services the nodes use, imported lazily (ComfyUI's own top-level modules)."""
from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

log = logging.getLogger("paragonsr2")


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def folder_paths():
    fp = _module("folder_paths")
    if fp is None:
        raise RuntimeError("ComfyUI's folder_paths module is not available")
    return fp


def model_management():
    return _module("comfy.model_management")


def torch_device():
    mm = model_management()
    if mm is not None:
        return mm.get_torch_device()
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def interrupted() -> bool:
    mm = model_management()
    return bool(mm is not None and mm.processing_interrupted())


def raise_if_interrupted() -> None:
    mm = model_management()
    if mm is not None:
        mm.throw_exception_if_processing_interrupted()


def free_memory(bytes_needed: int, device) -> None:
    """Asks ComfyUI to unload other models until ``bytes_needed`` is free on ``device``."""
    mm = model_management()
    if mm is None:
        return
    try:
        mm.free_memory(bytes_needed, device)
        mm.soft_empty_cache()
    except Exception as e:  # noqa: BLE001 - memory housekeeping must never fail a run
        log.debug("free_memory failed: %s", e)


class Progress:
    """progress(done, total) -> ComfyUI's ProgressBar (created on first call)."""

    def __init__(self, node_id=None) -> None:
        self.node_id, self.bar = node_id, None

    def __call__(self, done: int, total: int) -> None:
        utils = _module("comfy.utils")
        if utils is None:
            return
        if self.bar is None:
            self.bar = utils.ProgressBar(total, node_id=self.node_id) if self.node_id else utils.ProgressBar(total)
        self.bar.update_absolute(done, total)


def send(event: str, data: dict) -> None:
    """Server -> browser message (``api.addEventListener(event)`` in js/)."""
    server = _module("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is not None:
        try:
            instance.send_sync(event, data)
        except Exception as e:  # noqa: BLE001 - UI messages are best effort
            log.debug("send_sync failed: %s", e)


def status_text(text: str, node_id=None) -> None:
    """A line of status shown on the node (ComfyUI's progress text, where the server has it) and logged."""
    log.info("%s", text)
    server = _module("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    send_text = getattr(instance, "send_progress_text", None)
    if send_text is not None and node_id is not None:
        try:
            send_text(text, node_id)
        except Exception as e:  # noqa: BLE001 - UI messages are best effort
            log.debug("send_progress_text failed: %s", e)


def attach_patcher(descriptor) -> None:
    """New ComfyUI's core upscale node reads ``.patcher``; set it where the class exists."""
    patcher_mod = _module("comfy.model_patcher")
    mm = model_management()
    cls = getattr(patcher_mod, "CoreModelPatcher", None) or getattr(patcher_mod, "ModelPatcher", None)
    if cls is None or mm is None:
        return
    try:
        descriptor.patcher = cls(descriptor.model, load_device=mm.get_torch_device(),
                                 offload_device=mm.unet_offload_device())
    except Exception as e:  # noqa: BLE001 - older/newer signatures: the core node falls back to .to()
        log.debug("could not attach a model patcher: %s", e)


def model_descriptor(model):
    """The spandrel descriptor for a loaded ParagonSR2 model (the library's one builder), with ComfyUI's
    model patcher attached where the running ComfyUI has one."""
    from ..paragonsr2.spandrel_arch import descriptor

    out = descriptor(model)
    attach_patcher(out)
    return out


def upscale_model_names() -> list[str]:
    try:
        return folder_paths().get_filename_list("upscale_models")
    except Exception:  # noqa: BLE001 - listing must not break /object_info
        return []


def upscale_model_path(name: str) -> Path:
    return Path(folder_paths().get_full_path_or_raise("upscale_models", name))


def upscale_models_dir() -> Path:
    fp = folder_paths()
    return Path(fp.get_folder_paths("upscale_models")[0])


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_output_path(folder: Path, name: str, suffix: str) -> Path:
    """``folder/name<suffix>`` with a sanitised name that cannot leave ``folder``; never an existing file."""
    stem = SAFE_NAME.sub("_", Path(name).name).strip("._") or "ParagonSR2"
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    candidate = folder / f"{stem}{suffix}"
    counter = 1
    while candidate.exists():
        candidate = folder / f"{stem}_{counter:03d}{suffix}"
        counter += 1
    if candidate.resolve().parent != folder:
        raise ValueError(f"refusing to write outside {folder}")
    return candidate


def register_model_folders(root: Path | None = None) -> None:
    """Adds ``paragonsr2_onnx`` (.onnx) and ``paragonsr2_engines`` (.engine) model folders, merged with any
    entries extra_model_paths.yaml already made, and the pack's bundled model folder to upscale_models."""
    fp = _module("folder_paths")
    if fp is None:
        return
    bundled = str(Path(__file__).resolve().parents[1] / "paragonsr2" / "models")
    if "upscale_models" in fp.folder_names_and_paths:  # the pack's default model, listed in every loader
        paths, exts = fp.folder_names_and_paths["upscale_models"]
        if bundled not in paths:
            fp.folder_names_and_paths["upscale_models"] = (list(paths) + [bundled], exts)
    base = Path(root or fp.models_dir)
    for key, sub, exts in (("paragonsr2_onnx", "onnx", {".onnx"}),
                           ("paragonsr2_engines", "tensorrt/paragonsr2", {".engine"})):
        path = str(base / sub)
        paths, known = fp.folder_names_and_paths.get(key, ([], set()))
        paths = list(paths) + ([path] if path not in paths else [])
        fp.folder_names_and_paths[key] = (paths, set(known) | exts)


def input_dir() -> Path | None:
    """ComfyUI's input folder (where uploaded images and datasets go), None when the server has none."""
    get = getattr(_module("folder_paths"), "get_input_directory", None)
    return Path(get()) if get is not None else None


def training_runs_dir() -> Path:
    """Where training runs keep their state and intermediate checkpoints: ``models/paragonsr2_runs``, beside
    (not inside) ``upscale_models`` so that no loader lists them."""
    return Path(folder_paths().models_dir) / "paragonsr2_runs"


def temp_dir() -> Path:
    """ComfyUI's temp folder (emptied when the server starts), where intermediate videos go."""
    return Path(folder_paths().get_temp_directory())


def video_from_file(path: Path):
    """ComfyUI's VIDEO value for a file (``VideoFromFile``: core Save Video and previews read it)."""
    for name in ("comfy_api.latest", "comfy_api.input_impl"):
        module = _module(name)
        impl = getattr(getattr(module, "InputImpl", module), "VideoFromFile", None)
        if impl is not None:
            return impl(str(path))
    raise RuntimeError("this ComfyUI has no VIDEO type (comfy_api VideoFromFile); update ComfyUI")
