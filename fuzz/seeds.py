"""Writes the seed corpus for the gguf_stream fuzz target into corpus/gguf_stream/.

Input layout the target expects: byte 0 = k (mod 16) chunk-size bytes, then
those k bytes, then the GGUF file. Needs Python `gguf` and numpy.
Run from fuzz/: python3 seeds.py [path/to/shared/reference/tiny]
"""
import glob
import os
import struct
import sys

import numpy as np
from gguf import GGUFWriter

tiny = sys.argv[1] if len(sys.argv) > 1 else "../../shared/reference/tiny"
out = "corpus/gguf_stream"
os.makedirs(out, exist_ok=True)

for f in sorted(glob.glob(f"{tiny}/*.gguf")):
    data = open(f, "rb").read()
    name = os.path.basename(f)[:-5]
    open(f"{out}/{name}.full", "wb").write(bytes([0]) + data)  # one push per 24 KiB
    open(f"{out}/{name}.head", "wb").write(bytes([3, 7, 1, 200]) + data[:40000])

# Every metadata value type, nested arrays, an F32 and an F16 tensor; v3 and v2.
for version in (3, 2):
    tmp = f"/tmp/gguf_seed_v{version}.gguf"
    w = GGUFWriter(tmp, "test")
    w.add_uint8("u8", 1); w.add_int8("i8", -1); w.add_uint16("u16", 2); w.add_int16("i16", -2)
    w.add_uint32("u32", 3); w.add_int32("i32", -3); w.add_float32("f32", 1.5); w.add_bool("b", True)
    w.add_string("s", "héllo"); w.add_uint64("u64", 4); w.add_int64("i64", -4); w.add_float64("f64", 2.5)
    w.add_array("arr_s", ["a", "bc", ""]); w.add_array("arr_i", [1, 2, 3]); w.add_array("arr_nested", [[1, 2], [3]])
    w.add_tensor("a", np.arange(8, dtype=np.float32))
    w.add_tensor("b", np.zeros((2, 32), dtype=np.float16))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    data = bytearray(open(tmp, "rb").read())
    data[4:8] = struct.pack("<I", version)
    open(f"{out}/small_v{version}", "wb").write(bytes([2, 1, 9]) + bytes(data))
