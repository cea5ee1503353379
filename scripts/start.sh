#!/usr/bin/env bash
# Installs what is needed, fetches the default model (SmolLM2-135M-Instruct)
# and serves the chat page on http://127.0.0.1:8080/ (PORT=... to change).
# For a terminal chat instead: cargo run --release -- chat --model models/SmolLM2-135M-Instruct.Q4_1.gguf
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/install-deps.sh
scripts/fetch-models.sh
scripts/build-web.sh
port="${PORT:-8080}"
echo "open http://127.0.0.1:${port}/ in a browser with WebGPU (Chrome, Edge; Firefox/Safari with WebGPU enabled)"
exec node scripts/serve.mjs "$port"
