#!/usr/bin/env bash
# Builds the wasm engine into pkg/wasm/ (wasm-bindgen output, optimized with
# binaryen's wasm-opt; not in git, shipped in the npm package) and installs the
# page's npm dependencies (marked, DOMPurify, pdfjs-dist; not its optional
# @napi-rs/canvas, for Node only) into www/node_modules.
#
# Every tool comes pinned from the project and is called by its path here,
# never from PATH, so a leftover global binary cannot change the result:
#   wasm-bindgen  target/release/tabllm-wasm-bindgen, built from tools/wasm-bindgen
#                 (wasm-bindgen-cli-support at our wasm-bindgen's version; our
#                 Cargo.lock pins its whole dependency chain)
#   wasm-opt      scripts/node_modules/.bin/wasm-opt (npm binaryen, pinned by
#                 scripts/package-lock.json)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/step.sh

step "add the wasm32-unknown-unknown target" \
  "rustup could not add the target; check that rustup works and crates.io/rustup are reachable, then run: rustup target add wasm32-unknown-unknown" \
  bash -c 'rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown'

lock_version() { # the version Cargo.lock pins for crate $1
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}
lib_version=$(lock_version wasm-bindgen)
cli_version=$(lock_version wasm-bindgen-cli-support)
if [ -z "$lib_version" ] || [ "$lib_version" != "$cli_version" ]; then
  fail "check the wasm-bindgen versions" \
    "Cargo.lock pins wasm-bindgen ${lib_version:-?} but wasm-bindgen-cli-support ${cli_version:-?}; the generated JS only works with the CLI of the library's exact version" \
    "pin both to the same version with '=' (Cargo.toml and tools/wasm-bindgen/Cargo.toml), then run cargo update -p wasm-bindgen -p wasm-bindgen-cli-support"
fi

step "build the pinned wasm-bindgen $lib_version (tools/wasm-bindgen)" \
  "cargo could not build it from Cargo.lock. If the error names a crate version the registry does not serve, update that one crate (cargo update -p NAME) and commit Cargo.lock; if crates.io is unreachable, retry when it is" \
  cargo build --locked --release --quiet -p tabllm-wasm-bindgen
wasm_bindgen=target/release/tabllm-wasm-bindgen
echo "using $("$wasm_bindgen" --version) ($wasm_bindgen)"

step "build the engine for wasm32" \
  "the Rust code does not compile for wasm32-unknown-unknown; the compiler's message is above" \
  cargo build --locked --release --lib --target wasm32-unknown-unknown

# Inline JS snippets land in a folder named by a hash: drop old ones so the
# package ships only the current build's.
rm -rf pkg/wasm/snippets
step "generate the JS bindings (pkg/wasm)" \
  "wasm-bindgen rejected target/wasm32-unknown-unknown/release/tabllm.wasm; its message is above" \
  "$wasm_bindgen" --target web --out-dir pkg/wasm --out-name tabllm target/wasm32-unknown-unknown/release/tabllm.wasm

step "install the pinned wasm-opt (npm binaryen, scripts/package-lock.json)" \
  "npm ci failed in scripts/; check that the npm registry is reachable and that node and npm are installed (scripts/install-deps.sh)" \
  bash -c 'cd scripts && npm ci --no-audit --no-fund --silent'

# The features are the ones rustc's wasm32 target emits by default, plus
# SIMD (.cargo/config.toml builds with +simd128).
step "optimize the wasm (wasm-opt -O3)" \
  "wasm-opt failed on pkg/wasm/tabllm_bg.wasm; its message is above" \
  scripts/node_modules/.bin/wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    --enable-reference-types --enable-multivalue --enable-simd pkg/wasm/tabllm_bg.wasm -o pkg/wasm/tabllm_bg.wasm

# The CPU backend's threads (pkg/cpu-threads.js, docs/cpu-threads.md): the
# kernels module for wasm32-wasip1-threads, shipped beside the engine.
scripts/build-cpu-threads.sh
cp target/cpu-threads/wasm32-wasip1-threads/release/tabllm_cpu_threads.wasm pkg/wasm/tabllm_cpu_threads.wasm

if [ -f www/package-lock.json ]; then
  step "install the page's npm packages (www/package-lock.json)" \
    "npm ci failed in www/; check that the npm registry is reachable" \
    bash -c 'cd www && npm ci --omit=optional --no-audit --no-fund --silent'
fi
