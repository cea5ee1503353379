#!/usr/bin/env bash
# Build the llama.cpp vendored in llama-cpp-python 0.3.36 (CPU only, no native
# tuning, no AVX-512/AMX): only libllama + libggml*, then two small programs against
# llama.h: scripts/reference/ref_logits.cpp (logits + greedy ids as JSON),
# scripts/reference/ref_embed.cpp (embedding-mode pooled embeddings as JSON) and
# scripts/reference/ref_quantize.cpp (llama_model_quantize with default parameters,
# i.e. what the llama-quantize tool does; building the tool itself would also
# build the large llama-common library).
# Idempotent: each step is skipped when its output exists.
# Outputs (all under target/, ignored by git):
#   target/llama-cpp-python-0.3.36/vendor/llama.cpp       sources (gguf-py, models/, convert_hf_to_gguf.py)
#   target/llama-cpp-build/bin/libllama.so, libggml*.so
#   target/llama-cpp-build/bin/ref_logits, ref_embed, ref_quantize
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
T="$ROOT/target"
VER=0.3.36
SRC="$T/llama-cpp-python-$VER"
LL="$SRC/vendor/llama.cpp"
BUILD="$T/llama-cpp-build"
JOBS="${JOBS:-2}"
step() { echo "== $*" >&2; }
fail() { echo "FAILED at step: $*" >&2; exit 1; }

mkdir -p "$T/dl"
if [ ! -f "$T/dl/llama_cpp_python-$VER.tar.gz" ]; then
  step "download llama-cpp-python==$VER sdist"
  # No wheels exist; pip fetches the sdist. --no-binary :all: would build cmake.
  pip download --no-deps "llama-cpp-python==$VER" -d "$T/dl" || fail "pip download (network or registry)"
fi
if [ ! -f "$LL/CMakeLists.txt" ]; then
  step "unpack sdist"
  tar -xzf "$T/dl/llama_cpp_python-$VER.tar.gz" -C "$T" || fail "unpack"
  mv "$T/llama_cpp_python-$VER" "$SRC" || fail "rename unpacked dir"
fi
if ! command -v cmake >/dev/null; then
  step "install cmake"
  apt-get install -y cmake >/dev/null 2>&1 || pip install cmake || fail "install cmake (apt-get and pip both failed)"
fi
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  step "cmake configure"
  cmake -S "$LL" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF \
    -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_OPENSSL=OFF \
    >"$BUILD.configure.log" 2>&1 || { tail -30 "$BUILD.configure.log" >&2; fail "cmake configure (log: $BUILD.configure.log)"; }
fi
if [ ! -f "$BUILD/bin/libllama.so" ]; then
  step "build libllama (-j$JOBS)"
  cmake --build "$BUILD" --target llama -j "$JOBS" >"$BUILD.build.log" 2>&1 \
    || { tail -30 "$BUILD.build.log" >&2; fail "cmake build (log: $BUILD.build.log)"; }
fi
for prog in ref_logits ref_embed ref_quantize; do
  if [ ! -x "$BUILD/bin/$prog" ] || [ "$ROOT/scripts/reference/$prog.cpp" -nt "$BUILD/bin/$prog" ]; then
    step "compile $prog"
    g++ -O2 -std=c++17 -I"$LL/include" -I"$LL/ggml/include" "$ROOT/scripts/reference/$prog.cpp" \
      -L"$BUILD/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$BUILD/bin" -o "$BUILD/bin/$prog" \
      || fail "compile $prog.cpp"
  fi
done
echo "llama.cpp ready: $BUILD/bin" >&2
