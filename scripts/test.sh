#!/usr/bin/env bash
# Runs every test: installs what is missing, fetches the models, writes the
# dequantization references with the `gguf` package and the chat-template
# references with `jinja2`, then the Rust tests
# (kernels on lavapipe, models against llama.cpp's reference outputs), then
# the wasm build in headless Chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/install-deps.sh
scripts/fetch-models.sh
scripts/fetch-llama-cpp-src.sh  # llama.cpp's vocab fixtures (tests/tokenizer_fixtures.rs) and templates

mkdir -p target
python3 scripts/dequant_reference.py target/dequant_reference.json
# Chat templates rendered by Python's jinja2 as Hugging Face sets it up (tests/chat_templates_jinja2.rs).
python3 scripts/render_templates_jinja2.py target/templates_jinja2.json
# DeepSeek-R1-Distill-Qwen-7B's tokenizer rebuilt with Hugging Face's tokenizers from the header (tests/tokenizer_deepseek.rs).
python3 scripts/tokenizer_reference_deepseek.py target/tokenizer_deepseek.json

# Kernel and model tests each create GPU devices; lavapipe already uses every core.
cargo test --locked --profile test -- --test-threads 2

# The wasm engine and the page in headless Chromium (WebGPU on SwiftShader).
# Decoys of the tools the build pins stand first on PATH: if build-web.sh ever
# picked up a global wasm-bindgen or wasm-opt (a leftover in ~/.cargo/bin once
# hid a broken install step), this run fails instead of passing by luck.
decoys=target/decoy-bin
mkdir -p "$decoys"
for tool in wasm-bindgen wasm-opt; do
  printf '#!/bin/sh\necho "decoy %s on PATH was called: the build must use its pinned copy" >&2\nexit 97\n' "$tool" > "$decoys/$tool"
  chmod +x "$decoys/$tool"
done
PATH="$PWD/$decoys:$PATH" scripts/build-web.sh
(cd tests/browser && npm ci --no-audit --no-fund --silent)
# The CPU backend's matmul kernels compiled to wasm (simd128 and portable
# under node, relaxed-simd in headless Chromium) against the same CPU
# references as the native run (src/cpu/matmul/check.rs).
scripts/test-wasm-kernels.sh
# pkg/tabllm.d.ts against the openai package's types (tests/browser/types/openai-compat.ts).
(cd tests/browser && npx tsc --noEmit -p types)
# Every file runs even when one fails; the command fails if any did.
# engines.mjs runs the page and the package in Firefox and WebKit (about 40 s).
failed=0
for t in package threads web-ai embed documents page isolation engines bench download hub examples; do
  node "tests/browser/$t.mjs" || failed=1
done
exit "$failed"
