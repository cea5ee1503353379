#!/usr/bin/env bash
# Installs what is needed and starts a chat with the default model
# (SmolLM2-135M-Instruct) in the terminal.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/install-deps.sh
scripts/fetch-models.sh
cargo build --release --bin tabllm
exec target/release/tabllm chat --model models/SmolLM2-135M-Instruct.Q4_1.gguf "$@"
