#!/usr/bin/env python3
"""recall@k of a sentence-transformers model on tests/reference/retrieval/set.json (issue 31).

Each document is embedded whole and each question alone (`encode(..., normalize_embeddings=True)`),
documents are ranked by cosine, and a question counts as found at k when its labelled document is
among the k best. Prints recall@1, recall@5 and the mean reciprocal rank, and each question whose
document is not ranked first (with the top 5).

  target/st-venv/bin/python scripts/reference/retrieval_recall.py --st-model DIR [--set FILE]
"""
import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--st-model", required=True)
    ap.add_argument("--set", default=os.path.join(HERE, "..", "..", "tests", "reference", "retrieval", "set.json"))
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    with open(a.set, encoding="utf-8") as f:
        s = json.load(f)
    ids = [d["id"] for d in s["documents"]]
    assert len(set(ids)) == len(ids), "document ids repeat"
    model = SentenceTransformer(a.st_model, device="cpu")
    for d in s["documents"]:
        n = len(model.tokenizer(d["text"])["input_ids"])
        assert n <= model.max_seq_length, f"{d['id']} has {n} tokens, over max_seq_length"
    docs = model.encode([d["text"] for d in s["documents"]], normalize_embeddings=True)
    qs = model.encode([q["q"] for q in s["questions"]], normalize_embeddings=True)
    scores = qs @ docs.T
    ranks = []
    for q, row in zip(s["questions"], scores):
        order = [ids[j] for j in np.argsort(-row, kind="stable")]
        rank = order.index(q["doc"]) + 1
        ranks.append(rank)
        if rank > 1:
            print(f"rank {rank}: {q['q']!r} -> {q['doc']}; top: {order[:5]}")
    ranks = np.array(ranks)
    print(f"{len(ids)} documents, {len(ranks)} questions: recall@1 {np.mean(ranks <= 1):.3f}, "
          f"recall@5 {np.mean(ranks <= 5):.3f}, MRR {np.mean(1 / ranks):.3f}")


if __name__ == "__main__":
    main()
