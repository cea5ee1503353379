#!/usr/bin/env bash
# Runs every test: installs what is missing, fetches the models, writes the
# dequantization references with the `gguf` package, then the Rust tests
# (kernels on lavapipe, models against llama.cpp's reference outputs), then
# the wasm build in headless Chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/install-deps.sh
scripts/fetch-models.sh

mkdir -p target
python3 scripts/dequant_reference.py target/dequant_reference.json

# Kernel and model tests each create GPU devices; lavapipe already uses every core.
cargo test --profile test -- --test-threads 2

# The wasm engine and the page in headless Chromium (WebGPU on SwiftShader).
scripts/build-web.sh
(cd tests/browser && npm ci --no-audit --no-fund --silent)
# Every file runs even when one fails; the command fails if any did.
failed=0
for t in package page bench; do
  node "tests/browser/$t.mjs" || failed=1
done
exit "$failed"
