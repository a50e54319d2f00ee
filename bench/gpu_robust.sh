#!/usr/bin/env bash
# The prepared GPU run (issue 21 item 5): s-class robust x2 and x4 on the 'web' preset, about 7 minutes of
# training plus the quality report, everything written to $OUT. Needs bench/out/robust_data (python
# bench/robust_data.py here; the device tool carries it: carry=["bench/out/robust_data"]).
set -euo pipefail
cd "$(dirname "$0")/.."
test -d bench/out/robust_data || { echo "no bench/out/robust_data: run python bench/robust_data.py first" >&2; exit 2; }
export PYTHONUNBUFFERED=1
out="${OUT:-bench/out/gpu_robust}"
mkdir -p "$out"
python3 bench/gpu_robust.py --out "$out" --budget-s "${BUDGET_S:-400}" 2>&1 | tee "$out/run.log"
