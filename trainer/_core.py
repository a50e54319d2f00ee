"""The paragonsr2 library, found both inside the ComfyUI pack (a sibling package) and standalone."""
try:  # inside the node pack: <pack>.trainer next to <pack>.paragonsr2
    from ..paragonsr2.arch import ParagonSR2, variant_config
    from ..paragonsr2.atomic import remove_orphans as remove_stale_parts
    from ..paragonsr2.checkpoint import atomic_write, load_model, save_model
    from ..paragonsr2.checkpoint.bundled import BUNDLED_DIR
    from ..paragonsr2.errors import ParagonError
except ImportError:  # standalone: `python -m trainer` from the repository root, or an installed wheel
    from paragonsr2.arch import ParagonSR2, variant_config
    from paragonsr2.atomic import remove_orphans as remove_stale_parts
    from paragonsr2.checkpoint import atomic_write, load_model, save_model
    from paragonsr2.checkpoint.bundled import BUNDLED_DIR
    from paragonsr2.errors import ParagonError


class TrainError(ParagonError, ValueError):
    """A training run cannot start or continue (missing data, bad setting, unusable state); one clear line."""


__all__ = ["BUNDLED_DIR", "ParagonError", "ParagonSR2", "TrainError", "atomic_write", "load_model",
           "remove_stale_parts", "save_model", "variant_config"]
