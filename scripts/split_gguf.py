"""Splits a GGUF file into parts the way llama.cpp's gguf-split does
(`NAME-00001-of-0000N.gguf`, `split.no` / `split.count` / `split.tensors.count`
metadata, all other metadata in the first part), using the `gguf` package's
own writer, so our split loader is tested against files we did not write.

Usage: python3 scripts/split_gguf.py IN.gguf OUT_PREFIX TENSORS_PER_PART
"""
import sys
from pathlib import Path

import gguf
from gguf_header import writer_with_metadata


def split(src: Path, prefix: Path, tensors_per_part: int) -> None:
    reader = gguf.GGUFReader(src)
    writer = writer_with_metadata(reader, prefix.with_suffix(".gguf"), split_max_tensors=tensors_per_part)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(t.data)
    writer.close()


if __name__ == "__main__":
    split(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
