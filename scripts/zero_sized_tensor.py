"""Copies a GGUF file with one tensor of a zero-sized dimension, using the
`gguf` package's own reader and writer (as llama.cpp's files with such
tensors are written; llama.cpp loads them since PR #25596). The tests use it
to check that tabllm loads a model with an unused empty tensor and refuses,
by name, one whose needed tensor is empty.

Usage:
  python3 scripts/zero_sized_tensor.py IN.gguf OUT.gguf add NAME    # a new F32 tensor NAME of shape [0, 4]
  python3 scripts/zero_sized_tensor.py IN.gguf OUT.gguf empty NAME  # tensor NAME becomes F32 of shape [0]
  python3 scripts/zero_sized_tensor.py IN.gguf OUT.gguf vector NAME:N:VALUE ...  # new F32 tensors of shape [N],
      # each all VALUE, or seeded random in [-1, 1) when VALUE is "random" (an optional bias, say)
"""
import sys
from pathlib import Path

import numpy as np

import gguf
from gguf_header import writer_with_metadata


def rewrite(src: Path, dst: Path, mode: str, name: str, more: list[str] = ()) -> None:
    reader = gguf.GGUFReader(src)
    if mode == "empty" and name not in {t.name for t in reader.tensors}:
        raise SystemExit(f"{src} has no tensor {name}")
    writer = writer_with_metadata(reader, dst)
    # numpy order: the last axis is ggml's dims[0].
    empty = np.zeros((4, 0) if mode == "add" else (0,), dtype=np.float32)
    tensors = []
    for t in reader.tensors:
        if mode == "empty" and t.name == name:
            tensors.append((t.name, empty, gguf.GGMLQuantizationType.F32))
        else:
            tensors.append((t.name, t.data, t.tensor_type))
    if mode == "add":
        tensors.insert(1, (name, empty, gguf.GGMLQuantizationType.F32))
    if mode == "vector":
        rng = np.random.default_rng(0)
        for spec in [name, *more]:
            vname, n, value = spec.split(":")
            data = rng.uniform(-1, 1, int(n)).astype(np.float32) if value == "random" else np.full(int(n), float(value), dtype=np.float32)
            tensors.append((vname, data, gguf.GGMLQuantizationType.F32))
    for tname, data, ttype in tensors:
        writer.add_tensor_info(tname, data.shape, data.dtype, data.nbytes, ttype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, data, _ in tensors:
        writer.write_tensor_data(data)
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[3] not in ("add", "empty", "vector") or (len(sys.argv) > 5 and sys.argv[3] != "vector"):
        raise SystemExit(__doc__)
    rewrite(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:])
