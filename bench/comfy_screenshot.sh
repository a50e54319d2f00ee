#!/usr/bin/env bash
# Screenshots of the example workflows in a real ComfyUI (the shared harness: ComfyUI 0.3.64, its frontend in
# headless Chromium), after running the quick ones, so the nodes show what a user sees (model facts, export
# text, previews). Writes $OUT/comfy_<example>.png (default bench/out, git-ignored). The pictures in README.md
# and docs/comfyui.md are two of them:
#
#   bash bench/comfy_screenshot.sh [HARNESS_DIR]        # default ../shared/harness; about 5 minutes on 2 cores
#   cp bench/out/comfy_ParagonSR2_upscale.png docs/comfyui_nodes.png
#   cp bench/out/comfy_ParagonSR2_train.png docs/comfyui_train.png
set -euo pipefail
cd "$(dirname "$0")/.."
H=$(cd "${1:-../shared/harness}" && pwd)
. "$H/env.sh"
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
BASE=${COMFY_BASE:-$(mktemp -d)}   # COMFY_BASE / COMFY_PORT: a scratch folder and port of your own
mkdir -p "$BASE/input"
cp "$COMFY_DIR/input/example.png" "$BASE/input/"
export COMFY_BASE=$BASE COMFY_PORT=${COMFY_PORT:-8190} COMFY_PACK_NAME=paragonsr2 COMFY_RUN_DIR=$BASE/run
PID=$(nice -n 5 bash "$H/comfy_up.sh" "$PWD")
trap 'bash "$H/comfy_down.sh" "$PID" >/dev/null; rm -rf "$BASE"' EXIT
RUN="new Promise((done) => { const later = () => setTimeout(done, 3000);  // the extension reads /history
  app.api.addEventListener('execution_success', later, { once: true });
  app.api.addEventListener('execution_error', later, { once: true }); app.queuePrompt(0, 1); })"
for wf in example_workflows/*.json; do
  name=$(basename "$wf" .json)
  evals=()
  case $name in *train*) ;; *) evals=(--eval "$RUN") ;; esac  # training takes minutes: shown as loaded
  nice -n 5 node "$H/comfy_browser.js" --workflow "$wf" --settle 3 "${evals[@]}" --timeout 300 \
    --screenshot "$OUT/comfy_$name.png" 2>&1 | grep -E '^(screenshot|OK|FAILED|PAGE ERROR|CONSOLE ERROR)'
done
