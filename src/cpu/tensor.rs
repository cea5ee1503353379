//! A weight tensor in host memory: its raw GGUF bytes (quantized blocks
//! stay quantized), streamed in as the file arrives.

use crate::quant::GgmlType;

use super::CpuError;

/// A tensor's GGUF bytes in one 8-byte-aligned allocation, so block structs
/// (2-byte scales, 4-byte words) can be read in place.
pub struct CpuTensor {
    pub name: String,
    pub ty: GgmlType,
    /// ggml order: dims[0] is the contiguous (row) dimension.
    pub dims: Vec<u64>,
    pub row_bytes: usize,
    pub n_bytes: usize,
    words: Vec<u64>, // (ceil(n_bytes / 8)) the bytes, zero-padded
    written: usize,
}

impl CpuTensor {
    /// Reserves host memory for a tensor of `n_bytes`; an allocation the
    /// host refuses is an error, not an abort.
    pub fn allocate(name: &str, ty: GgmlType, dims: &[u64], n_bytes: u64) -> Result<Self, CpuError> {
        let too_large = || CpuError::OutOfMemory { what: name.to_string(), bytes: n_bytes };
        let n = usize::try_from(n_bytes).map_err(|_| too_large())?;
        let mut words = Vec::new();
        words.try_reserve_exact(n.div_ceil(8)).map_err(|_| too_large())?;
        words.resize(n.div_ceil(8), 0);
        let rows = dims.iter().skip(1).product::<u64>().max(1) as usize;
        Ok(Self { name: name.to_string(), ty, dims: dims.to_vec(), row_bytes: n / rows.max(1), n_bytes: n, words, written: 0 })
    }

    /// Elements per row.
    pub fn cols(&self) -> usize {
        self.dims.first().copied().unwrap_or(1) as usize
    }

    pub fn rows(&self) -> usize {
        self.dims.iter().skip(1).product::<u64>().max(1) as usize
    }

    pub fn is_complete(&self) -> bool {
        self.written == self.n_bytes
    }

    /// Appends the next bytes of the tensor (streaming, in order); bytes
    /// past its size are dropped (the GGUF parser never sends them).
    pub fn write_next(&mut self, bytes: &[u8]) {
        let n_bytes = self.n_bytes;
        let start = self.written;
        let n = bytes.len().min(n_bytes - start);
        let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut self.words);
        dst[start..start + n].copy_from_slice(&bytes[..n]);
        self.written += n;
    }

    /// The tensor's GGUF bytes.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.n_bytes]
    }

    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        &self.bytes()[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// An F32 tensor (norm weight, bias, RoPE factors) as values.
    pub fn f32s(&self) -> Result<Vec<f32>, CpuError> {
        if self.ty != GgmlType::F32 {
            return Err(CpuError::Shape(format!("{}: expected an F32 vector, got {}", self.name, self.ty)));
        }
        Ok(bytemuck::cast_slice::<u8, f32>(&bytemuck::cast_slice::<u64, u8>(&self.words)[..self.n_bytes & !3]).to_vec())
    }
}

impl crate::model::WeightTensor for std::sync::Arc<CpuTensor> {
    fn byte_len(&self) -> u64 {
        self.n_bytes as u64
    }
}
