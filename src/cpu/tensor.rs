//! A weight tensor of the CPU backend: its raw GGUF bytes (quantized blocks
//! stay quantized), streamed in as the file arrives, in host memory or in
//! the memory the CPU threads share ([`super::threads`]).

use std::sync::Arc;

use crate::quant::GgmlType;

use super::matmul::{matmul, Write};
use super::threads::{CpuThreads, WeightHandle};
use super::CpuError;

/// Where a tensor's bytes live.
enum Storage {
    /// (ceil(n_bytes / 8)) the bytes, zero-padded, 8-byte aligned so block
    /// structs (2-byte scales, 4-byte words) can be read in place.
    Host(Vec<u64>),
    /// In the threads' memory, which only they read in place: the engine
    /// copies out what it needs (an embedding row, a vector).
    Threads { threads: Arc<dyn CpuThreads>, handle: WeightHandle },
}

/// A tensor's GGUF bytes in one allocation.
pub struct CpuTensor {
    pub name: String,
    pub ty: GgmlType,
    /// ggml order: dims[0] is the contiguous (row) dimension.
    pub dims: Vec<u64>,
    pub row_bytes: usize,
    pub n_bytes: usize,
    storage: Storage,
    written: usize,
}

impl CpuTensor {
    /// Reserves host memory for a tensor of `n_bytes`; an allocation the
    /// host refuses is an error, not an abort.
    pub fn allocate(name: &str, ty: GgmlType, dims: &[u64], n_bytes: u64) -> Result<Self, CpuError> {
        Self::allocate_on(None, name, ty, dims, n_bytes)
    }

    /// As [`CpuTensor::allocate`]; with `threads`, a matrix (two or more
    /// dims, more than one row: what the matmuls and embeddings read) goes
    /// to the threads' memory instead, vectors stay in host memory.
    pub fn allocate_on(threads: Option<&Arc<dyn CpuThreads>>, name: &str, ty: GgmlType, dims: &[u64], n_bytes: u64) -> Result<Self, CpuError> {
        let too_large = || CpuError::OutOfMemory { what: name.to_string(), bytes: n_bytes };
        let n = usize::try_from(n_bytes).map_err(|_| too_large())?;
        let rows = dims.iter().skip(1).product::<u64>().max(1) as usize;
        let storage = match threads {
            Some(t) if dims.len() >= 2 && rows > 1 => Storage::Threads { threads: t.clone(), handle: t.alloc(name, n)? },
            _ => {
                let mut words = Vec::new();
                words.try_reserve_exact(n.div_ceil(8)).map_err(|_| too_large())?;
                words.resize(n.div_ceil(8), 0);
                Storage::Host(words)
            }
        };
        Ok(Self { name: name.to_string(), ty, dims: dims.to_vec(), row_bytes: n / rows.max(1), n_bytes: n, storage, written: 0 })
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
    /// Errors: the threads' memory refused the write.
    pub fn write_next(&mut self, bytes: &[u8]) -> Result<(), CpuError> {
        let start = self.written;
        let n = bytes.len().min(self.n_bytes - start);
        match &mut self.storage {
            Storage::Host(words) => bytemuck::cast_slice_mut::<u64, u8>(words)[start..start + n].copy_from_slice(&bytes[..n]),
            Storage::Threads { threads, handle } => threads.write(*handle, start, &bytes[..n])?,
        }
        self.written += n;
        Ok(())
    }

    /// The tensor's GGUF bytes when they are in host memory (None in the
    /// threads' memory: there [`CpuTensor::threads`] runs the matmuls).
    pub fn host_bytes(&self) -> Option<&[u8]> {
        match &self.storage {
            Storage::Host(words) => Some(&bytemuck::cast_slice(words)[..self.n_bytes]),
            Storage::Threads { .. } => None,
        }
    }

    /// `y[t · y_stride + r] (+)= Σ_c W[r, c] · x[t · cols + c]` for every
    /// row of this matrix ([`super::matmul::matmul`]'s shapes and errors):
    /// on the threads holding it, else on the caller.
    pub fn matmul(&self, x: &[f32], n_tokens: usize, y: &mut [f32], y_stride: usize, write: Write) -> Result<(), CpuError> {
        let (rows, cols) = (self.rows(), self.cols());
        match &self.storage {
            Storage::Host(words) => Ok(matmul(self.ty, &bytemuck::cast_slice(words)[..self.n_bytes], rows, cols, 0..rows, x, n_tokens, y, y_stride, write)?),
            Storage::Threads { threads, handle } => threads.matmul(self.ty, *handle, rows, cols, x, n_tokens, y, y_stride, write),
        }
    }

    /// The bytes of row `r` (`r` < rows): in place in host memory, else
    /// copied into `buf`.
    pub fn row<'a>(&'a self, r: usize, buf: &'a mut Vec<u8>) -> Result<&'a [u8], CpuError> {
        let range = r * self.row_bytes..(r + 1) * self.row_bytes;
        match &self.storage {
            Storage::Host(words) => Ok(&bytemuck::cast_slice(words)[range]),
            Storage::Threads { threads, handle } => {
                buf.resize(self.row_bytes, 0);
                threads.read(*handle, range.start, buf)?;
                Ok(buf)
            }
        }
    }

    /// An F32 tensor (norm weight, bias, RoPE factors, conv taps) as values.
    pub fn f32s(&self) -> Result<Vec<f32>, CpuError> {
        if self.ty != GgmlType::F32 {
            return Err(CpuError::Shape(format!("{}: expected an F32 vector, got {}", self.name, self.ty)));
        }
        let n = self.n_bytes & !3;
        match &self.storage {
            Storage::Host(words) => Ok(bytemuck::cast_slice::<u8, f32>(&bytemuck::cast_slice::<u64, u8>(words)[..n]).to_vec()),
            Storage::Threads { threads, handle } => {
                let mut v = vec![0f32; n / 4];
                threads.read(*handle, 0, bytemuck::cast_slice_mut(&mut v))?;
                Ok(v)
            }
        }
    }
}

impl Drop for CpuTensor {
    fn drop(&mut self) {
        if let Storage::Threads { threads, handle } = &self.storage {
            threads.free(*handle, self.n_bytes);
        }
    }
}

impl crate::model::WeightTensor for std::sync::Arc<CpuTensor> {
    fn byte_len(&self) -> u64 {
        self.n_bytes as u64
    }
}
