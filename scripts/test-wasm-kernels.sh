#!/usr/bin/env bash
# Checks the CPU matmul and attention kernels (src/cpu/matmul, src/cpu/attention)
# compiled to wasm32: the same cases as `cargo test --lib cpu` (every format
# and shape against quant::matvec_ref, src/cpu/matmul/check.rs; attention
# against its f64 reference, src/cpu/attention/check.rs) on three builds:
#   simd128            -C target-feature=+simd128, under node
#   portable           wasm without simd128, under node
#   relaxed            +simd128,+relaxed-simd, in headless Chromium (node 20's
#                      experimental relaxed SIMD computes relaxed dots wrongly);
#                      the kernels no longer use relaxed SIMD (16-bit
#                      activations, see src/cpu/matmul.rs), so this checks that
#                      the build still compiles and runs the simd128 code
# Needs the wasm32-unknown-unknown target, node and chromium.
#
#   scripts/test-wasm-kernels.sh                      checks, all three builds
#   scripts/test-wasm-kernels.sh bench [relaxed]      SmolLM2/Gemma formats at SmolLM2's shapes
#   scripts/test-wasm-kernels.sh bench-all [relaxed]  every format at one shape
#   scripts/test-wasm-kernels.sh bench-model [relaxed]  all of a SmolLM2-135M Q4_1 step's matmuls
#   scripts/test-wasm-kernels.sh bench-attention [relaxed]  attention at SmolLM2's heads, contexts 100..3000
# (benchmarks: the simd128 build under node, or the relaxed build in Chromium)
#
# The kernels build in tools/cpu-kernel-check (see its Cargo.toml for why not
# the main crate), each flavour in its own target dir so the RUSTFLAGS do not
# invalidate the main build's cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what=${1:-check}
flavour=${2:-simd128}
wasm=wasm32-unknown-unknown/release/tabllm_cpu_kernel_check.wasm

build() { # $1: target dir, $2: RUSTFLAGS
  RUSTFLAGS="$2" cargo build --locked --release --quiet -p tabllm-cpu-kernel-check \
    --target wasm32-unknown-unknown --target-dir "$1"
}
simd=target/wasm-kernel-check
relaxed=target/wasm-kernel-check-relaxed
nosimd=target/wasm-kernel-check-nosimd

case "$what" in
  bench | bench-all | bench-model | bench-attention)
    case "$flavour" in
      simd128)
        build "$simd" '-C target-feature=+simd128'
        exec node tools/cpu-kernel-check/run.mjs "$simd/$wasm" "$what" ;;
      relaxed)
        build "$relaxed" '-C target-feature=+simd128,+relaxed-simd'
        exec node tools/cpu-kernel-check/chromium.mjs "$relaxed/$wasm" "$what" ;;
      *) echo "unknown build $flavour: simd128 or relaxed" >&2; exit 2 ;;
    esac ;;
  check) ;;
  *) echo "usage: $0 [check | bench | bench-all | bench-model | bench-attention] [simd128 | relaxed]" >&2; exit 2 ;;
esac

build "$simd" '-C target-feature=+simd128'
node tools/cpu-kernel-check/run.mjs "$simd/$wasm" check

build "$nosimd" ''
node tools/cpu-kernel-check/run.mjs "$nosimd/$wasm" check

build "$relaxed" '-C target-feature=+simd128,+relaxed-simd'
node tools/cpu-kernel-check/chromium.mjs "$relaxed/$wasm" check
