"""The `gguf` package's GGUFReader for a file that may be only the first
part of a model: the header (metadata, tensor infos) and maybe some weights.
The stock reader maps every tensor's data and fails when the file ends
before it; this one reads no tensor data. Shared by the reference scripts."""

import gguf


class HeaderOnlyReader(gguf.GGUFReader):
    def _build_tensors(self, start_offs, fields):
        self.tensors = []


def metadata_value(reader, path, key):
    """The value of `key` in the file at `path` (a Python str, int, float, bool or list); exits
    with a message when the file does not have it."""
    field = reader.fields.get(key)
    if field is None:
        raise SystemExit(f"{path}: metadata key {key} is missing")
    return field.contents()


def writer_with_metadata(reader, path, **kwargs):
    """A `gguf.GGUFWriter` to `path` holding every metadata key of `reader`
    (a `gguf.GGUFReader`) with its type, for scripts that rewrite a file's
    tensors; `kwargs` go to the writer (e.g. `split_max_tensors`)."""
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(path, arch, **kwargs)
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    return writer
