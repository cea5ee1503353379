#!/usr/bin/env python3
"""Quantize the tiny F32 models with llama.cpp's quantizer (ref_quantize.cpp:
llama_model_quantize, default parameters, as llama-quantize), dequantize the result
back to F32 with gguf.quants.dequantize, run llama.cpp (CPU, scripts/reference/ref_logits.cpp)
on both files for the three prompts of the existing tiny references, and write
tests/reference/tiny/tiny-ARCH-QUANT.{gguf,json} and tests/reference/tiny/index.json.

  PYTHONPATH=target/llama-cpp-python-0.3.36/vendor/llama.cpp/gguf-py \
    python3 scripts/reference/make_reference.py --work target/tiny-arch \
      --bin target/llama-cpp-build/bin --out tests/reference/tiny [--quants Q4_K_M,Q8_0] [ARCH ...]

JSON fields mirror /work/shared/reference/tiny/tiny-qwen3-q4_k_m.json, plus top-level
"hparams" (the metadata written, tokenizer.* excluded) and "layer_kinds".
The whole pipeline: scripts/reference/make_all.sh.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import gguf

SHARED_JSON = "/work/shared/reference/tiny/tiny-qwen3-q4_k_m.json"
N_GREEDY = 8
ARCHS = ["qwen35", "gemma4", "phi3", "smollm3", "lfm2"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dequantize_file(src, dst):
    """Every tensor of src dequantized to F32 (gguf.quants.dequantize), metadata copied."""
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(path=None, arch=arch)
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            w.add_key_value(key, int(gguf.LlamaFileType.ALL_F32), gguf.GGUFValueType.UINT32)
            continue
        t = f.types[0]
        if t == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, f.contents(), t, sub_type=f.types[1])
        else:
            w.add_key_value(key, f.contents(), t)
    for t in r.tensors:
        shape = tuple(int(x) for x in reversed(t.shape))
        arr = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        w.add_tensor(t.name, arr)
    w.write_header_to_file(path=dst)
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tensor_types(path):
    r = gguf.GGUFReader(path)
    return sorted({t.tensor_type.name for t in r.tensors})


def run_ref(bin_dir, model, prompt):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(prompt)
        pf = f.name
    try:
        p = subprocess.run([os.path.join(bin_dir, "ref_logits"), model, pf, str(N_GREEDY)],
                           capture_output=True, text=True)
    finally:
        os.unlink(pf)
    if p.returncode != 0:
        sys.exit(f"ref_logits failed on {model}:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout)


def r5(xs):
    return [round(float(x), 5) for x in xs]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="dir with tiny-ARCH-f32.gguf and tiny-ARCH.meta.json")
    ap.add_argument("--bin", required=True, help="dir with ref_quantize and ref_logits")
    ap.add_argument("--out", required=True)
    ap.add_argument("--quants", default="Q4_K_M")
    ap.add_argument("archs", nargs="*", default=ARCHS)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    prompts = [c["prompt"] for c in json.load(open(SHARED_JSON))["cases"]]

    index_path = os.path.join(a.out, "index.json")
    index = json.load(open(index_path)) if os.path.exists(index_path) else []

    for arch in a.archs:
        meta = json.load(open(os.path.join(a.work, f"tiny-{arch}.meta.json")))
        f32 = os.path.join(a.work, f"tiny-{arch}-f32.gguf")
        for quant in a.quants.split(","):
            q = quant.lower()
            qfile = f"tiny-{arch}-{q}.gguf"
            qpath = os.path.join(a.work, qfile)
            dqpath = os.path.join(a.work, f"tiny-{arch}-{q}-dequant-f32.gguf")
            p = subprocess.run([os.path.join(a.bin, "ref_quantize"), f32, qpath, quant],
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"ref_quantize {arch} {quant} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
            dequantize_file(qpath, dqpath)
            cases = []
            for prompt in prompts:
                ref = run_ref(a.bin, dqpath, prompt)
                llc = run_ref(a.bin, qpath, prompt)
                assert ref["prompt_ids"] == llc["prompt_ids"]
                la, lb = np.array(ref["logits"]), np.array(llc["logits"])
                cases.append({
                    "prompt": prompt,
                    "prompt_ids": ref["prompt_ids"],
                    "logits_f32_activations": r5(la),
                    "greedy_ids_f32_activations": ref["greedy_ids"],
                    "logits_llama_cpp": r5(lb),
                    "greedy_ids_llama_cpp": llc["greedy_ids"],
                    "max_abs_diff_between_the_two": round(float(np.max(np.abs(la - lb))), 5),
                })
                print(f"{arch} {quant} {prompt[:24]!r}: logits [{la.min():.2f}, {la.max():.2f}] std {la.std():.2f} "
                      f"greedy {ref['greedy_ids']} / {llc['greedy_ids']} diff {cases[-1]['max_abs_diff_between_the_two']}",
                      file=sys.stderr)
            shutil.copyfile(qpath, os.path.join(a.out, qfile))
            types = tensor_types(qpath)
            doc = {
                "model_file": qfile,
                "sha256": sha256(qpath),
                "architecture": arch,
                "quant": quant,
                "tensor_types": types,
                "hparams": meta["hparams"],
                "layer_kinds": meta["layer_kinds"],
                "cases": cases,
            }
            with open(os.path.join(a.out, f"tiny-{arch}-{q}.json"), "w") as f:
                json.dump(doc, f)
            index = [e for e in index if e["file"] != qfile]
            index.append({
                "file": qfile,
                "arch": arch,
                "quant": quant,
                "tensor_types": types,
                "max_abs_diff_llama_cpp_vs_f32": max(c["max_abs_diff_between_the_two"] for c in cases),
            })
    index.sort(key=lambda e: e["file"])
    with open(index_path, "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
