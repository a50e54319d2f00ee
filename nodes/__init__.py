"""ComfyUI nodes (thin): each is a NodeSpec compiled to V3 or V1 by nodes.spec."""
from .export import EXPORT
from .models import INFO, LOADER, UPSCALE
from .spec import to_v1, to_v3
from .train import TRAIN
from .video import UPSCALE_VIDEO

SPECS = [LOADER, UPSCALE, UPSCALE_VIDEO, EXPORT, TRAIN, INFO]


def v1_mappings() -> tuple[dict, dict]:
    classes = {s.node_id: to_v1(s) for s in SPECS}
    return classes, {s.node_id: s.display_name for s in SPECS}


def v3_nodes(io) -> list[type]:
    return [to_v3(s, io) for s in SPECS]
