"""One declarative description per node, compiled to ComfyUI's V3 schema (``comfy_api``) or the V1
class contract, so that every node is written once and runs on old and new ComfyUI alike."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CATEGORY = "image/upscaling/ParagonSR2"


@dataclass(frozen=True)
class In:
    """A node input. kind: IMAGE, VIDEO, UPSCALE_MODEL, INT, FLOAT, STRING, BOOLEAN, a list (combo), or a
    callable returning a list (a combo re-read each time ComfyUI asks for the schema)."""

    name: str
    kind: Any
    tooltip: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    optional: bool = False
    multiline: bool = False


@dataclass(frozen=True)
class Out:
    kind: str
    name: str
    tooltip: str


@dataclass(frozen=True)
class NodeSpec:
    """``run(**inputs, unique_id=...)`` returns (outputs tuple, ui dict or None)."""

    node_id: str
    display_name: str
    description: str
    inputs: list[In]
    outputs: list[Out]
    run: Callable[..., tuple[tuple, dict | None]]
    output_node: bool = False
    extra: dict = field(default_factory=dict)


def _kind(i: In):
    """The input's type; a callable kind (a combo of files) is evaluated at schema time."""
    return i.kind() if callable(i.kind) else i.kind


def _v1_input(i: In) -> tuple:
    opts: dict[str, Any] = {"tooltip": i.tooltip}
    for key in ("default", "min", "max", "step"):
        if getattr(i, key) is not None:
            opts[key] = getattr(i, key)
    if i.multiline:
        opts["multiline"] = True
    kind = _kind(i)
    return (list(kind) if isinstance(kind, (list, tuple)) else kind, opts)


def to_v1(spec: NodeSpec) -> type:
    """A classic ComfyUI node class (INPUT_TYPES / RETURN_TYPES / FUNCTION)."""

    def input_types(cls):
        required = {i.name: _v1_input(i) for i in spec.inputs if not i.optional}
        optional = {i.name: _v1_input(i) for i in spec.inputs if i.optional}
        return {"required": required, "optional": optional, "hidden": {"unique_id": "UNIQUE_ID"}}

    def execute(self, unique_id=None, **kwargs):
        outputs, ui = spec.run(unique_id=unique_id, **kwargs)
        return {"ui": ui, "result": outputs} if ui else outputs

    return type(spec.node_id, (), {
        "INPUT_TYPES": classmethod(input_types),
        "RETURN_TYPES": tuple(o.kind for o in spec.outputs),
        "RETURN_NAMES": tuple(o.name for o in spec.outputs),
        "OUTPUT_TOOLTIPS": tuple(o.tooltip for o in spec.outputs),
        "FUNCTION": "execute",
        "CATEGORY": CATEGORY,
        "DESCRIPTION": spec.description,
        "OUTPUT_NODE": spec.output_node,
        "execute": execute,
    })


def _v3_input(io, i: In):
    common = {"tooltip": i.tooltip, "optional": i.optional}
    kind = _kind(i)
    if isinstance(kind, (list, tuple)):
        return io.Combo.Input(i.name, options=list(kind), default=i.default, **common)
    if kind == "IMAGE":
        return io.Image.Input(i.name, **common)
    if kind == "UPSCALE_MODEL":
        return io.UpscaleModel.Input(i.name, **common)
    if kind == "VIDEO":
        return io.Video.Input(i.name, **common)
    if kind == "INT":
        return io.Int.Input(i.name, default=i.default, min=i.min, max=i.max, step=i.step, **common)
    if kind == "FLOAT":
        return io.Float.Input(i.name, default=i.default, min=i.min, max=i.max, step=i.step, **common)
    if kind == "STRING":
        return io.String.Input(i.name, default=i.default, multiline=i.multiline, **common)
    if kind == "BOOLEAN":
        return io.Boolean.Input(i.name, default=i.default, **common)
    raise ValueError(f"no V3 mapping for input kind {kind!r}")


def _v3_output(io, o: Out):
    kinds = {"IMAGE": io.Image, "UPSCALE_MODEL": io.UpscaleModel, "STRING": io.String, "VIDEO": io.Video}
    return kinds[o.kind].Output(display_name=o.name, tooltip=o.tooltip)


def to_v3(spec: NodeSpec, io) -> type:
    """A ``comfy_api`` V3 node (io.ComfyNode subclass) for the given ``io`` module."""

    def define_schema(cls):
        return io.Schema(node_id=spec.node_id, display_name=spec.display_name, category=CATEGORY,
                         description=spec.description, inputs=[_v3_input(io, i) for i in spec.inputs],
                         outputs=[_v3_output(io, o) for o in spec.outputs], hidden=[io.Hidden.unique_id],
                         is_output_node=spec.output_node)

    def execute(cls, **kwargs):
        hidden = getattr(cls, "hidden", None)
        outputs, ui = spec.run(unique_id=getattr(hidden, "unique_id", None), **kwargs)
        return io.NodeOutput(*outputs, ui=ui)

    return type(spec.node_id, (io.ComfyNode,), {"define_schema": classmethod(define_schema),
                                                 "execute": classmethod(execute)})
