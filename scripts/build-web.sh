#!/usr/bin/env bash
# Builds the wasm engine into pkg/wasm/ (wasm-bindgen output, not in git).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | grep version | cut -d'"' -f2)
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  cargo install -q wasm-bindgen-cli --version "$version" --locked
fi
cargo build --release --lib --target wasm32-unknown-unknown
wasm-bindgen --target web --out-dir pkg/wasm --out-name tabllm target/wasm32-unknown-unknown/release/tabllm.wasm
