#!/usr/bin/env python3
"""The tensor table of a GGUF header, read by the `gguf` package (not tabllm).

Usage: python3 scripts/gguf_tensor_table.py [--out OUT.json] IN.gguf...

Reads only the header (metadata and tensor infos), so IN may be the first
bytes of a larger file (the DeepSeek 7B header part). Writes a JSON list, one
object per IN (to OUT, or stdout): path, data_offset, alignment, file_bytes, tensors[] (name, dims in ggml
order, type name as llama.cpp prints it, n_bytes from gguf's
GGML_QUANT_SIZES, offset), weight_bytes (sum of n_bytes), bytes_by_type, and
the integer/float/string metadata (arrays as their length).
"""

import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf.constants import GGML_QUANT_SIZES


class HeaderReader(gguf.GGUFReader):
    """GGUFReader that stops after the tensor infos: no tensor data views,
    so a truncated file (a header part) reads. String arrays (the
    vocabulary and merges) are stepped over by their lengths instead of
    being split into one numpy view per string, and numeric arrays are one
    view, not one per element: GGUFReader takes ~10 s on a 150k-token
    vocabulary otherwise. Element counts are kept."""

    def _get_field_parts(self, orig_offs, raw_type):
        if raw_type == gguf.GGUFValueType.ARRAY:
            raw_itype = self._get(orig_offs, np.uint32)
            if raw_itype[0] == gguf.GGUFValueType.STRING:
                alen = self._get(orig_offs + 4, np.uint64)
                mv = memoryview(self.data)
                offs = orig_offs + 12
                for _ in range(int(alen[0])):
                    offs += 8 + int.from_bytes(mv[offs:offs + 8], "little")
                blob = self._get(orig_offs + 12, np.uint8, offs - orig_offs - 12)
                types = [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.STRING]
                return offs - orig_offs, [raw_itype, alen, blob], [], types
            nptype = self.gguf_scalar_to_np.get(gguf.GGUFValueType(int(raw_itype[0])))
            if nptype is not None:
                # One view over the whole numeric array (token types, scores).
                alen = self._get(orig_offs + 4, np.uint64)
                values = self._get(orig_offs + 12, nptype, int(alen[0]))
                types = [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType(int(raw_itype[0]))]
                return 12 + int(values.nbytes), [raw_itype, alen, values], [2], types
        return super()._get_field_parts(orig_offs, raw_type)

    def _build_tensors(self, start_offs, fields):
        self.infos = []
        for field in fields:
            _name_len, name, _n_dims, dims, raw_type, offset = field.parts
            ty = gguf.GGMLQuantizationType(int(raw_type[0]))
            n = int(np.prod([int(d) for d in dims]))
            block, size = GGML_QUANT_SIZES[ty]
            assert n % block == 0, (bytes(name), n, ty)
            self.infos.append({
                "name": bytes(name).decode("utf-8"),
                "dims": [int(d) for d in dims],
                "type": ty.name,
                "n_bytes": n // block * size,
                "offset": int(offset[0]),
            })


def table(path):
    r = HeaderReader(path)
    metadata = {}
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            # parts: key length, key, value type, element type, element count, ...
            metadata[key] = {"array_len": int(field.parts[4][0])}
        else:
            v = field.contents()
            metadata[key] = v if not isinstance(v, (np.generic,)) else v.item()
    by_type = {}
    for t in r.infos:
        e = by_type.setdefault(t["type"], {"count": 0, "bytes": 0})
        e["count"] += 1
        e["bytes"] += t["n_bytes"]
    return {
        "generator": "scripts/gguf_tensor_table.py",
        "path": str(path),
        "file_bytes": os.path.getsize(path),
        "data_offset": int(r.data_offset),
        "alignment": int(r.alignment),
        "tensors": r.infos,
        "weight_bytes": sum(t["n_bytes"] for t in r.infos),
        "bytes_by_type": by_type,
        "metadata": metadata,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out")
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args()
    doc = json.dumps([table(p) for p in args.inputs])
    if args.out:
        with open(args.out, "w") as f:
            f.write(doc)
    else:
        print(doc)
