//! A weight tensor on the GPU: its raw GGUF bytes (quantized blocks stay
//! quantized), in one buffer or, when larger than the device's binding limit,
//! split by whole rows across several.

use super::context::{GpuContext, GpuError};
use crate::quant::GgmlType;

/// Rows [row_start, row_start + rows) of a tensor, in one buffer.
pub struct TensorPart {
    pub buffer: wgpu::Buffer,   // (rows, row_bytes) raw GGUF bytes from byte `offset`, padded to 4
    /// Where the part starts in `buffer`: 0 for a buffer of its own; a
    /// segment's offset when streamed straight into a packed group
    /// ([`GpuTensor::segment_of`]).
    pub offset: u64,
    pub row_start: u64,
    pub rows: u64,
}

pub struct GpuTensor {
    pub name: String,
    pub ty: GgmlType,
    /// ggml order: dims[0] is the contiguous (row) dimension.
    pub dims: Vec<u64>,
    pub row_bytes: u64,
    pub n_bytes: u64,
    pub parts: Vec<TensorPart>,
    /// Streaming write state: bytes received so far, and up to 3 bytes held
    /// back until a whole 4-byte word is available.
    written: u64,
    carry: Vec<u8>,
}

impl GpuTensor {
    /// Allocates the buffers for a tensor of `n_bytes`.
    pub fn allocate(ctx: &GpuContext, name: &str, ty: GgmlType, dims: &[u64], n_bytes: u64) -> Result<Self, GpuError> {
        let rows: u64 = dims.iter().skip(1).product::<u64>().max(1);
        let row_bytes = if rows > 0 { n_bytes / rows } else { n_bytes };
        let limit = ctx.max_binding_size().min(ctx.limits.max_buffer_size);
        let rows_per_part = rows_per_part(dims, n_bytes, limit)
            .map_err(|_| GpuError::TensorTooLarge { name: name.to_string(), bytes: n_bytes, limit })?;
        let mut parts = Vec::new();
        let mut row_start = 0;
        while row_start < rows {
            let n = rows_per_part.min(rows - row_start);
            let label = format!("{name}[{row_start}..{}]", row_start + n);
            // F32 vectors (norm weights) may be read as uniform windows (`OpBuilder::decode_uniform`).
            let buffer = if ty == GgmlType::F32 { super::buffers::activation_buffer(ctx, &label, n * row_bytes) } else { super::buffers::storage_buffer(ctx, &label, n * row_bytes) };
            parts.push(TensorPart { buffer, offset: 0, row_start, rows: n });
            row_start += n;
        }
        Ok(Self {
            name: name.to_string(),
            ty,
            dims: dims.to_vec(),
            row_bytes,
            n_bytes,
            parts,
            written: 0,
            carry: Vec::with_capacity(4),
        })
    }

    /// A tensor of `n_bytes` that streams into `buffer` from byte `offset`
    /// (a multiple of 4), in one part: a segment of a packed group
    /// (`gpu::PackedTensors::plan`), so packing needs no copy and no second
    /// allocation. The caller sized `buffer` to hold it.
    pub fn segment_of(buffer: &wgpu::Buffer, offset: u64, name: &str, ty: GgmlType, dims: &[u64], n_bytes: u64) -> Self {
        let rows: u64 = dims.iter().skip(1).product::<u64>().max(1);
        Self {
            name: name.to_string(),
            ty,
            dims: dims.to_vec(),
            row_bytes: n_bytes / rows,
            n_bytes,
            parts: vec![TensorPart { buffer: buffer.clone(), offset, row_start: 0, rows }],
            written: 0,
            carry: Vec::with_capacity(4),
        }
    }

    pub fn cols(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }

    pub fn rows(&self) -> u64 {
        self.dims.iter().skip(1).product::<u64>().max(1)
    }

    pub fn is_complete(&self) -> bool {
        self.written == self.n_bytes && self.carry.is_empty()
    }

    /// Appends the next bytes of the tensor (streaming, in order).
    pub fn write_next(&mut self, queue: &wgpu::Queue, mut bytes: &[u8]) {
        if !self.carry.is_empty() {
            let need = (4 - self.carry.len()).min(bytes.len());
            self.carry.extend_from_slice(&bytes[..need]);
            bytes = &bytes[need..];
            self.written += need as u64;
            if self.carry.len() == 4 {
                let word = std::mem::take(&mut self.carry);
                self.write_aligned(queue, self.written - 4, &word);
            }
        }
        let aligned = bytes.len() / 4 * 4;
        if aligned > 0 {
            self.write_aligned(queue, self.written, &bytes[..aligned]);
            self.written += aligned as u64;
        }
        if aligned < bytes.len() {
            self.carry.extend_from_slice(&bytes[aligned..]);
            self.written += (bytes.len() - aligned) as u64;
        }
        if self.written >= self.n_bytes && !self.carry.is_empty() {
            // The tensor's last word: pad with zeros.
            let mut word = std::mem::take(&mut self.carry);
            let at = self.written - word.len() as u64;
            word.resize(4, 0);
            self.write_aligned(queue, at, &word);
        }
    }

    /// Writes `data` at tensor byte `offset` (both 4-aligned), across parts.
    fn write_aligned(&self, queue: &wgpu::Queue, mut offset: u64, mut data: &[u8]) {
        for part in &self.parts {
            let start = part.row_start * self.row_bytes;
            let end = start + part.rows * self.row_bytes;
            if data.is_empty() {
                break;
            }
            if offset >= end {
                continue;
            }
            let n = ((end - offset) as usize).min(data.len());
            let padded = n.next_multiple_of(4).min(data.len());
            queue.write_buffer(&part.buffer, part.offset + offset - start, &data[..padded]);
            offset += padded as u64;
            data = &data[padded..];
        }
    }
}

/// How a tensor of `dims` (ggml order) and `n_bytes` is laid out under a
/// per-buffer `limit`: all rows in one buffer when its size rounded up to 4
/// bytes fits, otherwise whole rows per buffer, a multiple of 4 bytes each
/// (a multiple of 4 / gcd(row_bytes, 4) rows) so every part starts
/// word-aligned. `Ok(rows per part)`, or `Err(bytes)`: the smallest part it
/// would need (one such group of rows, or the whole tensor if it is one row).
pub fn rows_per_part(dims: &[u64], n_bytes: u64, limit: u64) -> Result<u64, u64> {
    let rows = dims.iter().skip(1).try_fold(1u64, |p, &d| p.checked_mul(d)).unwrap_or(u64::MAX).max(1);
    if n_bytes.next_multiple_of(4) <= limit {
        return Ok(rows);
    }
    let row_bytes = (n_bytes / rows).max(1);
    let align_rows = 4 / gcd(row_bytes, 4);
    let per_part = limit / row_bytes / align_rows * align_rows;
    if rows == 1 || per_part == 0 || dims.first() == Some(&0) {
        let min = if rows == 1 { n_bytes } else { row_bytes.saturating_mul(align_rows) };
        return Err(min.next_multiple_of(4));
    }
    Ok(per_part)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
