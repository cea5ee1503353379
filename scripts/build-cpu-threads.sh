#!/usr/bin/env bash
# Builds the CPU backend's threads module (issue 29; docs/cpu-threads.md)
# into target/cpu-threads/wasm32-wasip1-threads/release/tabllm_cpu_threads.wasm:
# crates/cpu-threads for wasm32-wasip1-threads (std with atomics, memory
# imported and shared), SIMD128 on as in the engine's wasm build
# (.cargo/config.toml). scripts/build-web.sh copies it into pkg/wasm/.
#
# The link arguments export what each instance needs before it runs
# anything (pkg/cpu-threads.js calls them): the first one
# on a memory runs wasi-libc's reactor start-up (__wasi_init_tp, then
# __wasm_call_ctors: what crt1-reactor's _initialize does, which a Rust
# cdylib does not export); each extra worker's gets its own stack
# (__stack_pointer, set from JS), its own thread-local block
# (__wasm_init_tls with __tls_size / __tls_align) and then __wasi_init_tp,
# which sets up libc's per-thread struct in that block (without it the first
# thread_local! with a destructor, matmul's scratch, hangs in libc).
# --max-memory lets the page's shared memory grow to 4 GiB (wasm32's limit).
# Its own target dir: these RUSTFLAGS would otherwise invalidate the main
# build's cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/step.sh

step "add the wasm32-wasip1-threads target" \
  "rustup could not add the target; check that rustup works and its server is reachable, then run: rustup target add wasm32-wasip1-threads" \
  bash -c 'rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1-threads || rustup target add wasm32-wasip1-threads'

flags="-C target-feature=+simd128"
for sym in __stack_pointer __wasm_init_tls __tls_size __tls_align __tls_base __wasi_init_tp __wasm_call_ctors; do
  flags="$flags -C link-arg=--export=$sym"
done
flags="$flags -C link-arg=--max-memory=4294967296"

step "build crates/cpu-threads for wasm32-wasip1-threads" \
  "the kernels do not compile for wasm32-wasip1-threads; the compiler's message is above" \
  env RUSTFLAGS="$flags" cargo build --locked --release --quiet -p tabllm-cpu-threads \
    --target wasm32-wasip1-threads --target-dir target/cpu-threads
echo "built target/cpu-threads/wasm32-wasip1-threads/release/tabllm_cpu_threads.wasm"
