"""Measures the engine's memory model on the CPU: peak working memory of one forward pass per LR pixel,
in units of one HR feature map (C * sh * sw * 4 bytes). paragonsr2/engine/memory.py uses the rounded-up worst.

python bench/memory_model.py   (each measurement in a fresh process; VmHWM, fixed-size tiles)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = """
import sys, torch; sys.path.insert(0, {root!r}); torch.set_num_threads(1)
from paragonsr2.arch import ParagonSR2, variant_config
from paragonsr2.fuse import deploy_fuse
hwm = lambda: int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]) * 1024
net = deploy_fuse(ParagonSR2(variant_config({variant!r}))).to(memory_format=torch.channels_last)
x = torch.rand(1, 3, {tile}, {tile}).contiguous(memory_format=torch.channels_last)
with torch.inference_mode():
    net(x[:, :, :8, :8])
    base = hwm()
    net(x)
print(hwm() - base)
"""


def main() -> None:
    print("| variant | tile | peak bytes / LR px | HR maps (C*s^2*4 B) |")
    print("|---|---|---|---|")
    worst = 0.0
    for variant, c in (("nano", 24), ("tiny", 32), ("s", 56)):
        for tile in (256, 512):
            code = CODE.format(root=str(ROOT), variant=variant, tile=tile)
            delta = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout.strip())
            per_px = delta / tile / tile
            maps = per_px / (c * 4 * 4)
            worst = max(worst, maps)
            print(f"| {variant} | {tile} | {per_px:,.0f} | {maps:.2f} |")
    print(f"\nworst: {worst:.2f} HR feature maps per LR pixel")


if __name__ == "__main__":
    main()
