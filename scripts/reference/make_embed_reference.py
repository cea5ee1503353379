#!/usr/bin/env python3
"""Embedding-mode llama.cpp references for the tiny embedding models (qwen3emb: `qwen3`,
last-token pooling; llamaemb_mean: `llama`, mean pooling; bert: `bert`, bidirectional
attention, mean pooling, WordPiece; nomic_bert: `nomic-bert`, the same with RoPE, fused q|k|v
and a SwiGLU FFN; gemma_embedding: `gemma-embedding`, bidirectional
attention with a symmetric window, mean pooling, dense projections) written by make_tiny_arch.py.

For each NAME: quantize target/tiny-arch/tiny-NAME-f32.gguf to Q8_0 with llama.cpp's quantizer
(ref_quantize.cpp), dequantize that file back to F32 (gguf.quants.dequantize, as
make_reference.py), run scripts/reference/ref_embed.cpp on both files for TEXTS, and write
tests/reference/tiny/tiny-NAME-q8_0.{gguf,json} and tests/reference/tiny/embed_index.json.

  PYTHONPATH=target/llama-cpp-python-0.3.36/vendor/llama.cpp/gguf-py \\
    python3 scripts/reference/make_embed_reference.py --work target/tiny-arch \\
      --bin target/llama-cpp-build/bin --out tests/reference/tiny [NAME ...]

JSON: ref_embed's output for the Q8_0 file (pooling, n_embd, add_bos, add_eos, texts[] with
text, ids, pooled, embedding), each text also with pooled_f32_activations and
embedding_f32_activations (ref_embed on the dequantized F32 file: the same weights without
llama.cpp's 8-bit activation rounding inside Q8_0 dot products), plus model_file, sha256,
architecture (the GGUF's), name, quant, tensor_types, hparams, layer_kinds, tokenizer_overrides,
settings (how llama.cpp was run) and max_abs_diff_embedding_between_the_two.
The whole pipeline: scripts/reference/make_all.sh.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from make_reference import dequantize_file, sha256, tensor_types

NAMES = ["qwen3emb", "llamaemb_mean", "bert", "nomic_bert", "gemma_embedding"]
QUANT = "Q8_0"
MAX_FIXTURE_BYTES = 3 * 1024 * 1024

PARAGRAPH = (
    "The old lighthouse stood at the end of a narrow spit of rock, and for more than a century "
    "its keepers had written the weather into a ledger every evening at six. When the light was "
    "automated the ledgers were boxed and sent to the county archive, where they sat unread until "
    "a retired schoolteacher asked to see them. She had grown up in the village and remembered the "
    "last keeper, a quiet man who grew tomatoes in the lee of the tower and sold them from a crate "
    "by the gate. Reading the ledgers page by page, she noticed that the entries were not only "
    "about wind and rain. Between the columns of pressure readings the keepers had noted ships "
    "that passed, birds that rested on the gallery, a whale seen in March of one hard winter, and "
    "once, in pencil, the birth of a daughter. She began to copy these notes into a notebook of "
    "her own, and after two years she had enough to fill a small book. The village hall printed "
    "two hundred copies. They sold out in a week, mostly to people who had never met a keeper but "
    "who wanted to know what the sea had looked like on the day they were born."
)

# Varied on purpose: shortest, unicode (accents, CJK, emoji), a long paragraph (~200 words),
# code, near-duplicates, special-token text (parse_special), whitespace, a query with
# Qwen3-Embedding's instruction prefix.
TEXTS = [
    "a",
    "Grüße aus Köln: naïve café, 東京は晴れ 🌤️ — ça va?",
    PARAGRAPH,
    'fn main() {\n    let xs: Vec<i32> = (1..=10).map(|x| x * x).collect();\n    println!("{:?}", xs);\n}\n',
    "The quick brown fox jumps over the lazy dog.",
    "The quick brown fox jumped over the lazy dog.",
    "<|im_start|>user\nWhat is 2 + 2?<|im_end|>",
    "  leading spaces,\ttabs\n\nand blank lines  ",
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\n"
    "Query: what is the capital of France?",
]

# ref_embed.cpp's fixed settings, recorded in each JSON.
SETTINGS = {
    "program": "scripts/reference/ref_embed.cpp against llama.cpp of llama-cpp-python 0.3.36 (CPU)",
    "embeddings": True,
    "pooling_type_requested": "unspecified (the GGUF's {arch}.pooling_type)",
    "attention_type_requested": "unspecified (causal unless {arch}.attention.causal is false)",
    "tokenize": "llama_tokenize(add_special=true, parse_special=true), as llama-embedding",
    "one_text_per_decode": True,
    "memory_cleared_between_texts": True,
    "n_ctx": 1024, "n_batch": 1024, "n_ubatch": 1024, "n_threads": 2,
    "flash_attn": False,
    "kv_cache_type": "f16",
    "normalization": "embedding = pooled / ||pooled||_2 (common_embd_normalize, embd_norm 2)",
}


def run_embed(bin_dir, model, texts_file):
    p = subprocess.run([os.path.join(bin_dir, "ref_embed"), model, texts_file], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"ref_embed failed on {model}:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="dir with tiny-NAME-f32.gguf and tiny-NAME.meta.json")
    ap.add_argument("--bin", required=True, help="dir with ref_quantize and ref_embed")
    ap.add_argument("--out", required=True)
    ap.add_argument("names", nargs="*", default=NAMES)
    a = ap.parse_args()
    unknown = [n for n in a.names if n not in NAMES]
    if unknown:
        sys.exit(f"not an embedding model here: {unknown} (known: {NAMES})")
    os.makedirs(a.out, exist_ok=True)
    index_path = os.path.join(a.out, "embed_index.json")
    index = json.load(open(index_path)) if os.path.exists(index_path) else []

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(TEXTS, f)
        texts_file = f.name
    try:
        for name in a.names:
            meta = json.load(open(os.path.join(a.work, f"tiny-{name}.meta.json")))
            f32 = os.path.join(a.work, f"tiny-{name}-f32.gguf")
            q = QUANT.lower()
            qfile = f"tiny-{name}-{q}.gguf"
            qpath = os.path.join(a.work, qfile)
            dqpath = os.path.join(a.work, f"tiny-{name}-{q}-dequant-f32.gguf")
            p = subprocess.run([os.path.join(a.bin, "ref_quantize"), f32, qpath, QUANT], capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"ref_quantize {name} {QUANT} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
            if os.path.getsize(qpath) > MAX_FIXTURE_BYTES:
                sys.exit(f"{qfile} is {os.path.getsize(qpath)} bytes (> 3 MB fixture budget)")
            dequantize_file(qpath, dqpath)
            llc = run_embed(a.bin, qpath, texts_file)
            ref = run_embed(a.bin, dqpath, texts_file)
            for k in ("pooling", "n_embd", "add_bos", "add_eos"):
                assert llc[k] == ref[k], (k, llc[k], ref[k])
            max_diff = 0.0
            for t, r, text in zip(llc["texts"], ref["texts"], TEXTS):
                assert t["text"] == r["text"] == text, (t["text"], text)
                assert t["ids"] == r["ids"]
                t["pooled_f32_activations"] = r["pooled"]
                t["embedding_f32_activations"] = r["embedding"]
                ea, eb = np.array(t["embedding"]), np.array(r["embedding"])
                d = float(np.max(np.abs(ea - eb)))
                max_diff = max(max_diff, d)
                pa = np.array(t["pooled"])
                print(f"{name} {text[:20]!r}: {len(t['ids'])} ids, |pooled| {np.linalg.norm(pa):.3f}, "
                      f"embedding [{ea.min():.3f}, {ea.max():.3f}], q8_0 vs f32 {d:.2e}", file=sys.stderr)
            e = np.array([t["embedding"] for t in llc["texts"]])
            cos = e @ e.T
            print(f"{name}: cosine near-duplicates {cos[4, 5]:.4f}, 'a' vs paragraph {cos[0, 2]:.4f}", file=sys.stderr)

            shutil.copyfile(qpath, os.path.join(a.out, qfile))
            types = tensor_types(qpath)
            doc = {
                "model_file": qfile,
                "sha256": sha256(qpath),
                "architecture": meta["hparams"]["general.architecture"],
                "name": name,
                "quant": QUANT,
                "tensor_types": types,
                "hparams": meta["hparams"],
                "layer_kinds": meta["layer_kinds"],
                "tokenizer_overrides": meta.get("tokenizer_overrides", {}),
                "settings": SETTINGS,
                "pooling": llc["pooling"],
                "n_embd": llc["n_embd"],
                "add_bos": llc["add_bos"],
                "add_eos": llc["add_eos"],
                "max_abs_diff_embedding_between_the_two": max_diff,
                "texts": llc["texts"],
            }
            with open(os.path.join(a.out, f"tiny-{name}-{q}.json"), "w", encoding="utf-8") as f:
                json.dump(doc, f, ensure_ascii=False)
            index = [x for x in index if x["file"] != qfile]
            index.append({
                "file": qfile,
                "name": name,
                "arch": doc["architecture"],
                "quant": QUANT,
                "pooling": doc["pooling"],
                "tensor_types": types,
                "max_abs_diff_embedding_llama_cpp_vs_f32": max_diff,
            })
    finally:
        os.unlink(texts_file)
    index.sort(key=lambda x: x["file"])
    with open(index_path, "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
