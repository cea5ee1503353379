"""Copies a GGUF file with its `tokenizer.chat_template` replaced by the text
of a template file (tensors and all other metadata unchanged), using the
`gguf` package's own reader and writer. The tests use it to give a tiny
random-weight model a real family's template (e.g. Qwen2.5's, which takes tools).

Each ID=TEXT after OUT.gguf also renames token ID to TEXT (its type and the
tensors unchanged), e.g. `3='<think>' 4='</think>'` gives a tiny model the
think tags of a thinking model's vocabulary.

Usage: python3 scripts/set_chat_template.py IN.gguf TEMPLATE.jinja OUT.gguf [ID=TEXT ...]
"""
import sys
from pathlib import Path

import gguf


def set_template(src: Path, template: str, dst: Path, renames: dict[int, str] | None = None) -> None:
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for field in reader.fields.values():
        if field.name in ("general.architecture", "tokenizer.chat_template") or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == "tokenizer.ggml.tokens" and renames:
            for i, text in renames.items():
                value[i] = text
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
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
        template = f.read()
    renames = {int(i): text for i, text in (arg.split("=", 1) for arg in sys.argv[4:])}
    set_template(Path(sys.argv[1]), template, Path(sys.argv[3]), renames)
