//! Unquantized element types: F32, F16, BF16 (little-endian, one weight each).

use half::{bf16, f16};

pub(crate) fn dequantize_f32(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(4).zip(out) {
        *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

pub(crate) fn dequantize_f16(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(2).zip(out) {
        *y = f16::from_le_bytes([b[0], b[1]]).to_f32();
    }
}

/// BF16 is the top half of an f32, so widening is exact.
pub(crate) fn dequantize_bf16(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(2).zip(out) {
        *y = bf16::from_le_bytes([b[0], b[1]]).to_f32();
    }
}
