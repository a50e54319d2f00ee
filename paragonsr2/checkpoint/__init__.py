"""Files <-> models."""
from .bundled import bundled_model, bundled_models, bundled_names, model_for_input, resolve_model, scale_warning
from .detect import Detection, Foreign, detect, detect_config, other_architecture, scale_from_filename
from .files import atomic_write, read_checkpoint, unwrap_state_dict, write_safetensors
from .load import load_model, model_metadata, repair_ema_flags, save_model
from .settings import SCALE_KEY, upstream_state_dict

__all__ = ["SCALE_KEY", "Detection", "Foreign", "atomic_write", "bundled_model", "bundled_models", "bundled_names",
           "detect", "detect_config", "load_model", "model_for_input", "model_metadata", "other_architecture",
           "read_checkpoint", "repair_ema_flags", "resolve_model", "save_model", "scale_from_filename", "scale_warning",
           "unwrap_state_dict", "upstream_state_dict", "write_safetensors"]
