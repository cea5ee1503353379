#!/usr/bin/env python3
"""Reference dequantizations for tests/quant_dequant.rs, from the `gguf` package.

Usage: python3 scripts/dequant_reference.py OUT.json [--tiny-dir DIR]

Needs `pip install gguf==0.19.0` (and numpy). Writes JSON:
  dequant[]:   for the first tensor of each type in each tiny GGUF file:
               file, tensor, type, shape_ggml, row0_first64, row7_first64 (rows
               along ggml dims[0], the contiguous one), sum, sum_sq (float64)
               of the whole dequantized tensor.
  synthetic[]: types the package can quantize itself (F16, BF16, Q4_0, Q4_1,
               Q5_0, Q5_1, Q8_0; Q5_0 and F16 occur in no tiny file): seeded
               random floats quantized by gguf, the block bytes as hex and
               every dequantized value.
"""

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

import numpy as np


from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

ROOT = Path(__file__).resolve().parent.parent
# shared/ sits beside the checkout (../shared); from a worktree in wt/, one up.
DEFAULT_TINY = next(
    (p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()),
    ROOT.parent / "shared",
) / "reference" / "tiny"
SYNTHETIC_TYPES = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
SYNTHETIC_ELEMS = 4 * 256


def summarize(values: np.ndarray, ne0: int) -> dict:
    rows = values.astype(np.float32).reshape(-1, ne0)
    as64 = rows.astype(np.float64)
    return {
        "row0_first64": [float(v) for v in rows[0, :64]],
        "row7_first64": [float(v) for v in rows[7, :64]] if rows.shape[0] > 7 else [],
        "sum": float(as64.sum()),
        "sum_sq": float((as64 * as64).sum()),
    }


def tiny_entries(tiny_dir: Path) -> list:
    entries = []
    files = sorted(tiny_dir.glob("*.gguf"))
    if not files:
        sys.exit(f"no .gguf files in {tiny_dir}")
    for path in files:
        seen = set()
        for t in GGUFReader(path).tensors:
            if t.tensor_type in seen:
                continue
            seen.add(t.tensor_type)
            shape = [int(d) for d in t.shape]  # ggml order: shape[0] is contiguous
            values = dequantize(t.data, t.tensor_type)
            assert values.size == int(np.prod(shape)), (path.name, t.name)
            entries.append({
                "file": path.name,
                "tensor": t.name,
                "type": t.tensor_type.name,
                "shape_ggml": shape,
                **summarize(values, shape[0]),
            })
    return entries


def synthetic_entries() -> list:
    entries = []
    for i, qtype in enumerate(SYNTHETIC_TYPES):
        rng = np.random.default_rng(1000 + i)
        data = (rng.standard_normal(SYNTHETIC_ELEMS) * 0.5).astype(np.float32).reshape(4, 256)
        blocks = quantize(data, qtype)
        values = dequantize(blocks, qtype).astype(np.float32).reshape(-1)
        entries.append({
            "type": qtype.name,
            "n_elems": SYNTHETIC_ELEMS,
            "bytes_hex": blocks.tobytes().hex(),
            "values": [float(v) for v in values],
        })
    return entries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--tiny-dir", type=Path, default=DEFAULT_TINY)
    args = ap.parse_args()
    doc = {
        "generator": "scripts/dequant_reference.py",
        "gguf_version": importlib.metadata.version("gguf"),
        "dequant": tiny_entries(args.tiny_dir),
        "synthetic": synthetic_entries(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc))
    print(f"wrote {len(doc['dequant'])} tensors, {len(doc['synthetic'])} synthetic to {args.out}")


if __name__ == "__main__":
    main()
