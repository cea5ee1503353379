//! Weight formats: block layouts and the CPU reference dequantize.
//!
//! Each quantized type is a `#[repr(C)]` block struct (size pinned at compile
//! time) that decodes to `Block::ELEMS` weights. The decoding follows ggml's
//! reference `dequantize_row_*` arithmetic in f32, operation for operation, so
//! the result matches `gguf.quants.dequantize` exactly. [`matvec_ref`] is the
//! reference the GPU kernels are tested against.
//!
//! Families: [`float`] (F32, F16, BF16), [`legacy`] (Q4_0 … Q8_0),
//! [`kquants`] (Q2_K … Q6_K, 256-weight super-blocks), [`iquants`] (IQ4_NL,
//! IQ4_XS). Bytes are little-endian, as in GGUF, and blocks are read with a
//! plain copy, so only little-endian hosts are supported (wasm32, x86, arm).

#[cfg(target_endian = "big")]
compile_error!("tabllm reads GGUF blocks in place: little-endian targets only");

pub mod float;
pub mod iquants;
pub mod kquants;
pub mod legacy;
#[doc(hidden)]
pub mod testing;
mod types;

pub use iquants::{BlockIQ4NL, BlockIQ4XS, KVALUES_IQ4NL};
pub use kquants::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K};
pub use legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0};
pub use types::GgmlType;

/// What can be wrong with a dequantize or matvec request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("no CPU dequantize for ggml type {0}")]
    Unsupported(GgmlType),
    #[error("expected {expected} bytes of weights, got {got}")]
    Length { expected: usize, got: usize },
    #[error("{n} elements is not a whole number of {ty} blocks")]
    PartialBlock { ty: GgmlType, n: usize },
    #[error("input vector has {got} elements, the matrix has {expected} columns")]
    VectorLength { expected: usize, got: usize },
}

/// One block of a quantized type: plain bytes that decode to `ELEMS` weights.
pub trait Block: bytemuck::Pod {
    /// Weights per block.
    const ELEMS: usize;
    /// Writes the block's weights to `out` (`out.len() == ELEMS`).
    fn dequantize(&self, out: &mut [f32]);
}

/// The types [`dequantize`] and [`matvec_ref`] handle.
pub const SUPPORTED: [GgmlType; 15] = {
    use GgmlType::*;
    [
        F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2K, Q3K, Q4K, Q5K, Q6K, IQ4NL, IQ4XS,
    ]
};

/// Whether [`dequantize`] and [`matvec_ref`] handle `ty`.
pub fn is_supported(ty: GgmlType) -> bool {
    SUPPORTED.contains(&ty)
}

/// Bytes that `n` elements of `ty` take, or why they can't.
pub fn bytes_for(ty: GgmlType, n: usize) -> Result<usize, QuantError> {
    ty.bytes_for(n as u64)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or(QuantError::PartialBlock { ty, n })
}

/// Bytes per row of a `rows` × `cols` matrix of `ty`, checking that the
/// matrix takes exactly `got` bytes (the weights handed to a matvec).
pub fn matrix_row_bytes(ty: GgmlType, cols: usize, rows: usize, got: usize) -> Result<usize, QuantError> {
    let row_bytes = bytes_for(ty, cols)?;
    let expected = row_bytes.checked_mul(rows).ok_or(QuantError::Length { expected: usize::MAX, got })?;
    if got != expected {
        return Err(QuantError::Length { expected, got });
    }
    Ok(row_bytes)
}

/// Decodes `out.len()` weights of type `ty` from `bytes`, which must be exactly
/// the bytes those weights take.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    use GgmlType::*;
    if !is_supported(ty) {
        return Err(QuantError::Unsupported(ty));
    }
    let expected = bytes_for(ty, out.len())?;
    if bytes.len() != expected {
        return Err(QuantError::Length {
            expected,
            got: bytes.len(),
        });
    }
    match ty {
        F32 => float::dequantize_f32(bytes, out),
        F16 => float::dequantize_f16(bytes, out),
        BF16 => float::dequantize_bf16(bytes, out),
        Q4_0 => dequantize_blocks::<BlockQ4_0>(bytes, out),
        Q4_1 => dequantize_blocks::<BlockQ4_1>(bytes, out),
        Q5_0 => dequantize_blocks::<BlockQ5_0>(bytes, out),
        Q5_1 => dequantize_blocks::<BlockQ5_1>(bytes, out),
        Q8_0 => dequantize_blocks::<BlockQ8_0>(bytes, out),
        Q2K => dequantize_blocks::<BlockQ2K>(bytes, out),
        Q3K => dequantize_blocks::<BlockQ3K>(bytes, out),
        Q4K => dequantize_blocks::<BlockQ4K>(bytes, out),
        Q5K => dequantize_blocks::<BlockQ5K>(bytes, out),
        Q6K => dequantize_blocks::<BlockQ6K>(bytes, out),
        IQ4NL => dequantize_blocks::<BlockIQ4NL>(bytes, out),
        IQ4XS => dequantize_blocks::<BlockIQ4XS>(bytes, out),
        _ => unreachable!("is_supported lists every type matched here"),
    }
    Ok(())
}

/// Decodes a whole tensor of type `ty`; the element count follows from the
/// byte length, which must be a whole number of blocks.
pub fn dequantize_to_vec(ty: GgmlType, bytes: &[u8]) -> Result<Vec<f32>, QuantError> {
    let (be, bb) = ty.block_geometry();
    let (be, bb) = (be as usize, bb as usize);
    if bytes.len() % bb != 0 {
        let expected = bytes.len().next_multiple_of(bb);
        return Err(QuantError::Length {
            expected,
            got: bytes.len(),
        });
    }
    let mut out = vec![0.0; bytes.len() / bb * be];
    dequantize(ty, bytes, &mut out)?;
    Ok(out)
}

/// Reference matrix-vector product: `y[r] = Σ_c W[r, c] · x[c]`.
///
/// `w`: (rows, cols) of type `ty`, row-major with `cols` contiguous (ggml's
/// `dims[0] == cols`), so each row is `bytes_for(ty, cols)` bytes.
/// `x`: (cols). Returns `y`: (rows). Sums in f64, rounded to f32 once.
pub fn matvec_ref(
    ty: GgmlType,
    w: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
) -> Result<Vec<f32>, QuantError> {
    if !is_supported(ty) {
        return Err(QuantError::Unsupported(ty));
    }
    if x.len() != cols {
        return Err(QuantError::VectorLength {
            expected: cols,
            got: x.len(),
        });
    }
    let row_bytes = matrix_row_bytes(ty, cols, rows, w.len())?;
    let mut row = vec![0.0f32; cols];
    let mut y = Vec::with_capacity(rows);
    for r in 0..rows {
        dequantize(ty, &w[r * row_bytes..(r + 1) * row_bytes], &mut row)?;
        let dot: f64 = row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
        y.push(dot as f32);
    }
    Ok(y)
}

/// Decodes consecutive blocks of type `B`; lengths were checked by the caller.
fn dequantize_blocks<B: Block>(bytes: &[u8], out: &mut [f32]) {
    let size = std::mem::size_of::<B>();
    for (chunk, y) in bytes.chunks_exact(size).zip(out.chunks_exact_mut(B::ELEMS)) {
        // File bytes carry no alignment promise: copy the block out.
        let block: B = bytemuck::pod_read_unaligned(chunk);
        block.dequantize(y);
    }
}
