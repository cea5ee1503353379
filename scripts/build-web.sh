#!/usr/bin/env bash
# Builds the wasm engine into pkg/wasm/ (wasm-bindgen output, optimized with
# wasm-opt; not in git, shipped in the npm package) and installs the page's
# npm dependencies (marked, DOMPurify) into www/node_modules.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | grep version | cut -d'"' -f2)
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  cargo install -q wasm-bindgen-cli --version "$version" --locked
fi
cargo build --release --lib --target wasm32-unknown-unknown
wasm-bindgen --target web --out-dir pkg/wasm --out-name tabllm target/wasm32-unknown-unknown/release/tabllm.wasm
if command -v wasm-opt >/dev/null 2>&1; then
  # The features rustc's wasm32 target emits by default.
  wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    --enable-reference-types --enable-multivalue pkg/wasm/tabllm_bg.wasm -o pkg/wasm/tabllm_bg.wasm
fi
if [ -f www/package-lock.json ]; then
  (cd www && npm ci --no-audit --no-fund --silent)
fi
