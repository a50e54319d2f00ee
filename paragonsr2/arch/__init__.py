"""Network code only (no file I/O)."""
from .network import DEFAULT_ALPHA, ParagonConfig, ParagonSR2
from .upsampler import scale_pair, target_size
from .variants import DESIGN, HEAD_2025_11_14, variant_config, variant_name

__all__ = ["DEFAULT_ALPHA", "DESIGN", "HEAD_2025_11_14", "ParagonConfig", "ParagonSR2", "scale_pair",
           "target_size", "variant_config", "variant_name"]
