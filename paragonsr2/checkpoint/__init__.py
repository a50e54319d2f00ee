"""Files <-> models."""
from .detect import detect_config, other_architecture, scale_from_filename
from .files import atomic_write, read_checkpoint, unwrap_state_dict, write_safetensors
from .load import load_model, model_metadata, repair_ema_flags, save_model

__all__ = ["atomic_write", "detect_config", "load_model", "model_metadata", "other_architecture",
           "read_checkpoint", "repair_ema_flags", "save_model", "scale_from_filename", "unwrap_state_dict",
           "write_safetensors"]
