#!/usr/bin/env bash
# Extracts the images that train and validate the bundled default model into data/templates/
# (the exact files used are listed in trainer/configs/default_nano_x2_files.txt). The same as
# `paragonsr2-train --fetch-data` run from the repository root.
# Then: python -m trainer --config trainer/configs/default_nano_x2.toml   (about 55 minutes on 1 CPU core)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m trainer --fetch-data data/templates
