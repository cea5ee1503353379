//! F32 / F16 / BF16 weights: each row converts to f32 once into scratch, then
//! f32 dot products against the (unquantized) activations of every token.
//! Only one row is ever converted, never the tensor.

use super::simd::{bf16_to_f32, dot_f32, f16_to_f32};
use super::{put, Write, TILE};
use crate::quant::GgmlType;
use std::ops::Range;

/// Converts one row of `ty` (F32, F16 or BF16; little-endian bytes) to f32.
fn convert_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    match ty {
        GgmlType::F16 => f16_to_f32(src, dst),
        GgmlType::BF16 => bf16_to_f32(src, dst),
        _ => {
            for (b, y) in src.chunks_exact(4).zip(dst) {
                *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
    }
}

/// `matmul` for float weights; arguments were validated by the caller.
/// `row`: scratch, resized to `cols`.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    ty: GgmlType,
    w: &[u8],
    cols: usize,
    rows: Range<usize>,
    x: &[f32],
    n_tokens: usize,
    y: &mut [f32],
    y_stride: usize,
    write: Write,
    row: &mut Vec<f32>,
) {
    let row_bytes = cols * ty.block_bytes() as usize;
    row.resize(cols, 0.0);
    for r in rows {
        convert_row(ty, &w[r * row_bytes..(r + 1) * row_bytes], row);
        let mut t0 = 0;
        while t0 + TILE <= n_tokens {
            let xs: [&[f32]; TILE] =
                std::array::from_fn(|i| &x[(t0 + i) * cols..(t0 + i + 1) * cols]);
            for (i, s) in dot_f32(row, xs).into_iter().enumerate() {
                put(y, (t0 + i) * y_stride + r, s, write);
            }
            t0 += TILE;
        }
        for t in t0..n_tokens {
            let [s] = dot_f32(row, [&x[t * cols..(t + 1) * cols]]);
            put(y, t * y_stride + r, s, write);
        }
    }
}
