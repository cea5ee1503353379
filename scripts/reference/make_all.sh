#!/usr/bin/env bash
# Regenerate every tiny-architecture llama.cpp reference:
#   scripts/reference/make_all.sh            (QUANTS=Q4_K_M by default; QUANTS=Q4_K_M,Q8_0 adds Q8_0)
# 1. build_llama_cpp.sh: llama.cpp from llama-cpp-python 0.3.36 (CPU, no AVX-512/AMX) + ref_logits, ref_embed
# 2. make_tiny_arch.py: seeded random-weight F32 GGUFs (qwen35 gemma4 phi3 smollm3 lfm2, and the
#    embedding models qwen3emb llamaemb_mean bert nomic_bert gemma_embedding) in target/tiny-arch
# 3. make_reference.py: llama-quantize -> dequantize to F32 -> llama.cpp logits/greedy on both
#    -> tests/reference/tiny/tiny-ARCH-QUANT.{gguf,json} + index.json
# 4. make_embed_reference.py: the embedding models: llama-quantize Q8_0 -> dequantize to F32 ->
#    llama.cpp embedding mode on both -> tests/reference/tiny/tiny-NAME-q8_0.{gguf,json} + embed_index.json
# Pass names to limit the set, e.g. scripts/reference/make_all.sh qwen35 lfm2 qwen3emb
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
QUANTS="${QUANTS:-Q4_K_M}"  # Q8_0 files would be ~4 MB each (over the 3 MB fixture budget)
EMBED_NAMES=(qwen3emb llamaemb_mean bert nomic_bert gemma_embedding)
LOGIT_ARCHS=() EMBED_ARGS=()
for n in "$@"; do
  if [[ " ${EMBED_NAMES[*]} " == *" $n "* ]]; then EMBED_ARGS+=("$n"); else LOGIT_ARCHS+=("$n"); fi
done
bash scripts/reference/build_llama_cpp.sh
export PYTHONPATH="$ROOT/target/llama-cpp-python-0.3.36/vendor/llama.cpp/gguf-py${PYTHONPATH:+:$PYTHONPATH}"
python3 -c 'import numpy' || { echo "FAILED: numpy missing (pip install numpy)" >&2; exit 1; }
python3 scripts/reference/make_tiny_arch.py --out-dir target/tiny-arch "$@" \
  || { echo "FAILED at step: make_tiny_arch.py" >&2; exit 1; }
if [ $# -eq 0 ] || [ ${#LOGIT_ARCHS[@]} -gt 0 ]; then
  python3 scripts/reference/make_reference.py --work target/tiny-arch --bin target/llama-cpp-build/bin \
    --out tests/reference/tiny --quants "$QUANTS" ${LOGIT_ARCHS[@]+"${LOGIT_ARCHS[@]}"} \
    || { echo "FAILED at step: make_reference.py" >&2; exit 1; }
fi
if [ $# -eq 0 ] || [ ${#EMBED_ARGS[@]} -gt 0 ]; then
  python3 scripts/reference/make_embed_reference.py --work target/tiny-arch --bin target/llama-cpp-build/bin \
    --out tests/reference/tiny ${EMBED_ARGS[@]+"${EMBED_ARGS[@]}"} \
    || { echo "FAILED at step: make_embed_reference.py" >&2; exit 1; }
fi
echo "done: tests/reference/tiny" >&2
