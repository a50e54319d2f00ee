"""Where does half precision lose accuracy? PSNR vs float64 for LR/HR parts in fp32/fp16/bf16 (CUDA)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import os  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

import paragonsr2 as p  # noqa: E402

torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
shared = Path(os.environ.get("PARAGONSR2_SHARED", ROOT.parent / "shared")) / "checkpoints"
paths = [ROOT / "paragonsr2/models/2x_ParagonSR2_nano_default.safetensors",
         shared / "2xParagonSR2_Nano_Pretrain.safetensors"]
from paragonsr2.sample import sample_crop  # noqa: E402

x = sample_crop(96, 128).cuda()
xb = torch.rand(1, 3, 1024, 1024, device="cuda")
print("| model | LR part | HR part | PSNR vs fp64 | 1024² time (ms) |\n|---|---|---|---|---|")
for path in paths:
    if not path.is_file():
        continue
    ref = p.load_model(path, fuse=True, dtype=torch.float64, device="cuda")
    with torch.no_grad():
        r = ref(x.double()).float().clamp(0, 1)
    for lr_dt in (torch.float32, torch.float16, torch.bfloat16):
        for hr_dt in (torch.float32, torch.float16, torch.bfloat16):
            a = p.load_model(path, fuse=True, dtype=lr_dt, device="cuda")
            b = p.load_model(path, fuse=True, device="cuda")
            b.set_hr_dtype(hr_dt)

            def run(inp, a=a, b=b):
                return b.hr_output(a.lr_features(inp)).float()
            with torch.no_grad():
                y = run(x).clamp(0, 1)
                mse = ((y - r) ** 2).mean().item()
                run(xb)
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(5):
                    run(xb)
                torch.cuda.synchronize()
            ms = (time.perf_counter() - t) / 5 * 1000
            q = 99 if mse == 0 else 10 * torch.log10(torch.tensor(1 / mse)).item()
            print(f"| {path.stem[:28]} | {str(lr_dt)[6:]} | {str(hr_dt)[6:]} | {q:.1f} dB | {ms:.1f} |")
