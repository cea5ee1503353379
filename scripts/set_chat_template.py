"""Copies a GGUF file with its `tokenizer.chat_template` replaced by the text
of a template file (tensors and all other metadata unchanged), using the
`gguf` package's own reader and writer. The tests use it to give a tiny
random-weight model a real family's template (e.g. Qwen2.5's, which takes tools).

Usage: python3 scripts/set_chat_template.py IN.gguf TEMPLATE.jinja OUT.gguf
"""
import sys
from pathlib import Path

import gguf


def set_template(src: Path, template: str, dst: Path) -> None:
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for field in reader.fields.values():
        if field.name in ("general.architecture", "tokenizer.chat_template") or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    writer.add_chat_template(template)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(t.data)
    writer.close()


if __name__ == "__main__":
    # newline="": the template's line ends are kept as written (Qwen2.5's are CRLF).
    with open(sys.argv[2], encoding="utf-8", newline="") as f:
        set_template(Path(sys.argv[1]), f.read(), Path(sys.argv[3]))
