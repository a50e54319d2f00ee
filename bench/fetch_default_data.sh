#!/usr/bin/env bash
# Extracts the images that train and validate the bundled default model into data/templates/
# (the exact files used are listed in trainer/configs/default_nano_x2_files.txt).
# Then: python -m trainer --config trainer/configs/default_nano_x2.toml   (about 55 minutes on 1 CPU core)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps -q -d "$tmp" \
  comfyui-workflow-templates-media-assets-01==0.1.48 \
  comfyui-workflow-templates-media-other==0.3.229 \
  comfyui-workflow-templates-media-video==0.3.101
mkdir -p data/templates
for wheel in "$tmp"/*.whl; do
  name=$(basename "$wheel"); name=${name%%-*}
  python3 -m zipfile -e "$wheel" "data/templates/$name"
done
echo "extracted into data/templates/"
