//! Placeholder: dequantizes each row and takes f32 dot products (replaced by
//! the block-wise integer kernels).

use std::ops::Range;

use super::CpuError;
use crate::quant::{self, GgmlType};

/// How `matmul` writes y.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    Store,
    Accumulate,
}

/// y[t · y_stride + r] = (or +=) Σ_c W[r, c] · x[t · cols + c] for t < n_tokens, r in `rows`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(ty: GgmlType, w: &[u8], n_rows: usize, cols: usize, rows: Range<usize>, x: &[f32], n_tokens: usize, y: &mut [f32], y_stride: usize, write: Write) -> Result<(), CpuError> {
    let row_bytes = quant::bytes_for(ty, cols)?;
    if w.len() != row_bytes * n_rows || rows.end > n_rows || x.len() < n_tokens * cols {
        return Err(CpuError::Shape(format!("matmul: {n_rows}x{cols} {ty} with rows {rows:?}")));
    }
    let mut wr = vec![0f32; cols];
    for r in rows {
        quant::dequantize(ty, &w[r * row_bytes..(r + 1) * row_bytes], &mut wr)?;
        for t in 0..n_tokens {
            let d: f32 = wr.iter().zip(&x[t * cols..(t + 1) * cols]).map(|(a, b)| a * b).sum();
            let o = &mut y[t * y_stride + r];
            match write {
                Write::Store => *o = d,
                Write::Accumulate => *o += d,
            }
        }
    }
    Ok(())
}
