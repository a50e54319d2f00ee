#!/usr/bin/env bash
# GPU checks in one short run (< 10 minutes): the CUDA tests, bench/gpu_check.py's tables, then the pack's Upscale
# node against the core upscale node (bench/gpu_node_vs_core.py; real ComfyUI code when $COMFY_DIR has a tree).
# Usage on a machine with an NVIDIA GPU, from the repository root:  bash bench/gpu_check.sh
# Optional wheels (spandrel, onnxruntime-gpu, tensorrt) in .whl/ are installed to /tmp/site first.
set -uo pipefail
cd "$(dirname "$0")/.."
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
[ -d .gpu/shared ] && export PARAGONSR2_SHARED=$PWD/.gpu/shared
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 240 python3 -m pytest -q tests/test_engine.py tests/test_tensorrt.py tests/test_checkpoint.py -p no:cacheprovider
timeout 300 python3 bench/gpu_check.py
timeout 240 python3 bench/gpu_node_vs_core.py --rounds 3
