//! GGUF encoding of a [`Header`]: magic, version, counts, metadata, tensor
//! infos, padding to the alignment (the layout `crate::gguf` documents).
//! Tensor bytes are written by the caller after it.

use crate::gguf::{Header, Value, ValueType};

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn value_type(v: &Value) -> ValueType {
    match v {
        Value::U8(_) => ValueType::U8,
        Value::I8(_) => ValueType::I8,
        Value::U16(_) => ValueType::U16,
        Value::I16(_) => ValueType::I16,
        Value::U32(_) => ValueType::U32,
        Value::I32(_) => ValueType::I32,
        Value::F32(_) => ValueType::F32,
        Value::Bool(_) => ValueType::Bool,
        Value::String(_) => ValueType::String,
        Value::Array(..) => ValueType::Array,
        Value::U64(_) => ValueType::U64,
        Value::I64(_) => ValueType::I64,
        Value::F64(_) => ValueType::F64,
    }
}

/// A value's bytes without its type id.
fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::Array(elem, items) => {
            out.extend_from_slice(&(*elem as u32).to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                if let Value::Array(..) = item {
                    out.extend_from_slice(&(value_type(item) as u32).to_le_bytes());
                }
                put_value(out, item);
            }
        }
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

/// Everything before the tensor data, padded to `h.alignment`. The tensor
/// offsets are written as they are in `h.tensors`.
pub fn encode_header(h: &Header) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&h.version.to_le_bytes());
    out.extend_from_slice(&(h.tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(h.metadata.len() as u64).to_le_bytes());
    for (k, v) in h.metadata.iter() {
        put_str(&mut out, k);
        out.extend_from_slice(&(value_type(v) as u32).to_le_bytes());
        put_value(&mut out, v);
    }
    for t in &h.tensors {
        put_str(&mut out, &t.name);
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&ggml_type_id(t.ggml_type).to_le_bytes());
        out.extend_from_slice(&t.offset.to_le_bytes());
    }
    out.resize((out.len() as u64).next_multiple_of(h.alignment) as usize, 0);
    out
}

/// The `ggml_type` id of a type (the inverse of `GgmlType::from_id`).
fn ggml_type_id(ty: crate::quant::GgmlType) -> u32 {
    (0..64).find(|&id| crate::quant::GgmlType::from_id(id) == Some(ty)).expect("every GgmlType has an id")
}
