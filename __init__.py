"""ComfyUI entry of the ParagonSR2 node pack (light: no tensorrt/onnxruntime at import).

V3 (``comfy_api.v0_0_2``, else ``latest``) when ComfyUI has it, else the V1 mappings. ParagonSR2 is
registered with spandrel so that the core "Load Upscale Model" node loads ParagonSR2 files too.
"""
import logging

_log = logging.getLogger("paragonsr2")
WEB_DIRECTORY = "./js"

try:
    from .paragonsr2.spandrel_arch import register as _register_spandrel

    _register_spandrel()
except Exception as _e:  # noqa: BLE001 - a missing spandrel must not hide the pack's own nodes
    _log.warning("ParagonSR2: spandrel registration skipped (%s)", _e)

from .nodes import bridge as _bridge  # noqa: E402

_bridge.register_model_folders()

try:
    try:
        from comfy_api.v0_0_2 import ComfyExtension, io
    except ImportError:
        from comfy_api.latest import ComfyExtension, io
except ImportError:  # ComfyUI before the V3 API: classic mappings
    from .nodes import v1_mappings as _v1_mappings

    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = _v1_mappings()
    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
else:
    from .nodes import v3_nodes as _v3_nodes

    class ParagonSR2Extension(ComfyExtension):
        async def get_node_list(self):
            return _v3_nodes(io)

    async def comfy_entrypoint():
        return ParagonSR2Extension()

    __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]

if False:  # literal ids for registry scanners that read V1 dict literals
    NODE_CLASS_MAPPINGS = {"ParagonSR2Loader": None, "ParagonSR2Upscale": None, "ParagonSR2Export": None,
                           "ParagonSR2Train": None, "ParagonSR2ModelInfo": None, "ParagonSR2UpscaleVideo": None}
