//! `tabllm synth`: a GGUF file of a catalog shape in a quantization mix,
//! with random but valid weights, written block by block so memory stays at
//! one chunk ([`CHUNK_BYTES`]) plus the header whatever the file size.
//!
//! The tensor table is exactly [`ModelPlan`]'s (names, dims, types, offsets
//! in llama.cpp's order), the metadata [`ModelPlan::metadata`] plus a small
//! BPE tokenizer ([`vocab`]) padded to the model's vocabulary.

pub mod blocks;
mod gguf_writer;
pub mod vocab;

use std::io::Write;

use crate::catalog::ModelPlan;
use crate::gguf::Header;
use crate::quant::GgmlType;
use blocks::{Role, WyRand};

pub use gguf_writer::encode_header;

/// Bytes generated and written at a time (rounded down to whole blocks).
pub const CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("tensor `{tensor}`: no random-block generator for ggml type {ty}")]
    UnsupportedType { tensor: String, ty: GgmlType },
    #[error("a vocabulary of {vocab} tokens is below the synthetic tokenizer's {min}")]
    VocabTooSmall { vocab: u32, min: u32 },
    #[error("{0} exists; give another path, or --force to replace it")]
    Exists(std::path::PathBuf),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthSummary {
    /// Header bytes, padding included (= the data section's offset).
    pub header_bytes: u64,
    /// Sum of tensor bytes (padding excluded).
    pub weight_bytes: u64,
    pub file_bytes: u64,
    pub tensors: usize,
}

/// The header of the synthetic file: the plan's metadata and tokenizer, its
/// tensor table, and `data_offset` set to the encoded header's length.
pub fn synth_header(plan: &ModelPlan) -> Result<Header, SynthError> {
    let vocab = plan.shape.vocab;
    if vocab < vocab::MIN_VOCAB {
        return Err(SynthError::VocabTooSmall { vocab, min: vocab::MIN_VOCAB });
    }
    if let Some(t) = plan.tensors.iter().find(|t| !blocks::can_fill(t.ggml_type)) {
        return Err(SynthError::UnsupportedType { tensor: t.name.clone(), ty: t.ggml_type });
    }
    let mut md = plan.metadata();
    vocab::add_tokenizer(&mut md, vocab);
    let mut h = plan.header(md);
    h.data_offset = encode_header(&h).len() as u64;
    Ok(h)
}

/// Writes the whole file to `out` (wrap a `File` in a `BufWriter`), seeded by `seed`.
pub fn write_model(plan: &ModelPlan, seed: u64, out: &mut impl Write) -> Result<SynthSummary, SynthError> {
    let h = synth_header(plan)?;
    let head = encode_header(&h);
    out.write_all(&head)?;
    let mut rng = WyRand::new(seed);
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let zeros = [0u8; crate::gguf::DEFAULT_ALIGNMENT as usize];
    let mut pos = 0u64; // within the data section
    for t in &plan.tensors {
        // Padding up to the tensor's aligned offset (less than the alignment).
        out.write_all(&zeros[..(t.offset - pos) as usize])?;
        let bb = t.ggml_type.block_bytes() as usize;
        let per_chunk = (CHUNK_BYTES / bb * bb) as u64;
        let role = Role::of(&t.name);
        let mut left = t.n_bytes;
        while left > 0 {
            let n = left.min(per_chunk) as usize;
            blocks::fill(t.ggml_type, role, t.dims[0], &mut rng, &mut chunk[..n]);
            out.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        pos = t.offset + t.n_bytes;
    }
    out.flush()?;
    Ok(SynthSummary { header_bytes: head.len() as u64, weight_bytes: plan.weight_bytes(), file_bytes: head.len() as u64 + pos, tensors: plan.tensors.len() })
}

/// Writes the file at `path` through a buffered writer, first as
/// `path` + `.part`, renamed to `path` only once every byte is written, so an
/// interrupted run never leaves a short file under the model's name (its
/// header would still read as a whole model). An existing `path` is an
/// error unless `replace`; a failed write removes the partial file.
pub fn write_model_file(plan: &ModelPlan, seed: u64, path: &std::path::Path, replace: bool) -> Result<SynthSummary, SynthError> {
    if !replace && path.exists() {
        return Err(SynthError::Exists(path.to_path_buf()));
    }
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = std::path::PathBuf::from(part);
    let file = std::fs::File::create(&part)?;
    let mut w = std::io::BufWriter::with_capacity(CHUNK_BYTES, file);
    let r = write_model(plan, seed, &mut w).and_then(|s| {
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&part, path)?;
        Ok(s)
    });
    if r.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    r
}
