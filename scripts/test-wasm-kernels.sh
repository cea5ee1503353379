#!/usr/bin/env bash
# Checks the CPU matmul kernels (src/cpu/matmul) compiled to wasm32, under
# node: the same cases as `cargo test --lib cpu` (every format and shape
# against quant::matvec_ref, src/cpu/matmul/check.rs), run on the SIMD128
# path (-C target-feature=+simd128) and on the portable path as wasm without
# simd128. Needs the wasm32-unknown-unknown target and node; no browser.
#
#   scripts/test-wasm-kernels.sh          checks, both builds
#   scripts/test-wasm-kernels.sh bench    SIMD128 benchmark (SmolLM2 shapes)
#   scripts/test-wasm-kernels.sh bench-all  every format at one shape
#   scripts/test-wasm-kernels.sh bench-model  all of a SmolLM2-135M Q4_1 step's matmuls
#
# The kernels build in tools/cpu-kernel-check (see its Cargo.toml for why not
# the main crate), each flavour in its own target dir so the RUSTFLAGS do not
# invalidate the main build's cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what=${1:-check}
wasm=wasm32-unknown-unknown/release/tabllm_cpu_kernel_check.wasm

build() { # $1: target dir, $2: RUSTFLAGS
  RUSTFLAGS="$2" cargo build --locked --release --quiet -p tabllm-cpu-kernel-check \
    --target wasm32-unknown-unknown --target-dir "$1"
}

build target/wasm-kernel-check '-C target-feature=+simd128'
case "$what" in
  bench | bench-all | bench-model) exec node tools/cpu-kernel-check/run.mjs "target/wasm-kernel-check/$wasm" "$what" ;;
  check) ;;
  *) echo "usage: $0 [check | bench | bench-all | bench-model]" >&2; exit 2 ;;
esac
node tools/cpu-kernel-check/run.mjs "target/wasm-kernel-check/$wasm" check

build target/wasm-kernel-check-nosimd ''
node tools/cpu-kernel-check/run.mjs "target/wasm-kernel-check-nosimd/$wasm" check
