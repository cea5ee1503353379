#!/usr/bin/env bash
# Test fixtures from llama.cpp's own tree: its vocabulary-only GGUFs with
# their tokenizer fixtures (models/ggml-vocab-*.gguf, .inp, .out; read by
# tests/tokenizer_fixtures.rs) and its real chat templates
# (models/templates/*.jinja). llama.cpp comes from PyPI's
# llama-cpp-python==0.3.36, a source package vendoring llama.cpp of
# 2026-10-01 under vendor/llama.cpp/; only those files are unpacked, nothing
# is built.
#
# Writes target/llama.cpp-models/ggml-vocab-* and
# target/llama.cpp-models/templates/*. Idempotent: does nothing when the
# files from this exact package are already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=0.3.36
sdist=llama_cpp_python-$version.tar.gz
sum=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
download=target/llama-cpp-python-sdist
out=target/llama.cpp-models
stamp=$out/.from-$sdist

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then exit 0; fi

mkdir -p "$download"
if ! { [ -f "$download/$sdist" ] && echo "$sum  $download/$sdist" | sha256sum -c --quiet 2>/dev/null; }; then
  echo "fetching llama.cpp's vocab fixtures and templates (PyPI llama-cpp-python==$version, source package)"
  rm -f "$download/$sdist"
  python3 -m pip download -q --no-deps -d "$download" "llama-cpp-python==$version"
fi
echo "$sum  $download/$sdist" | sha256sum -c --quiet

rm -rf "$out"
mkdir -p "$out"
# Strip llama_cpp_python-VER/vendor/llama.cpp/models/ so that the files land in $out.
tar -xzf "$download/$sdist" -C "$out" --strip-components=4 --wildcards \
  "llama_cpp_python-$version/vendor/llama.cpp/models/ggml-vocab-*" \
  "llama_cpp_python-$version/vendor/llama.cpp/models/templates/*"
echo "$sum" > "$stamp"
