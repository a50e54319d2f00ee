"""A finished run in words: validation PSNR against bicubic and against the starting weights."""
from __future__ import annotations

from pathlib import Path

WORSE_THAN_START_DB = 0.05  # below this margin under the starting model the summary warns


def summary(result, model_path: Path) -> str:
    """Several lines of text for the CLI and the Train node (never a raw dict)."""
    lines = [f"saved {Path(model_path).name} after {result.step} steps (EMA weights)"]
    val, start = result.val or {}, result.val_start or {}
    if not val:
        lines.append("no validation images (every 10th usable image is held back; add more images)")
        return "\n".join(lines)
    lines.append("validation, Y-PSNR with bicubic LR:")
    lines.append(f"  this model      {val['psnr']:.2f} dB")
    if start:
        lines.append(f"  starting model  {start['psnr']:.2f} dB   ({val['psnr'] - start['psnr']:+.2f} dB)")
    lines.append(f"  bicubic         {val['psnr_bicubic']:.2f} dB   ({val['psnr'] - val['psnr_bicubic']:+.2f} dB)")
    if start and val["psnr"] < start["psnr"] - WORSE_THAN_START_DB:
        lines.append(f"warning: {start['psnr'] - val['psnr']:.2f} dB worse than the starting model on this "
                     "validation split; train longer, lower learning_rate or use fewer degradations")
    elif val["psnr"] < val["psnr_bicubic"]:
        lines.append("warning: below bicubic; train longer or start from the bundled model")
    return "\n".join(lines)
