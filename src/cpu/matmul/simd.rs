//! The vector primitives the format kernels are written against, with one
//! implementation per instruction set behind a compile-time dispatch:
//!
//! - `wasm32` + `simd128`: `core::arch::wasm32` (`i32x4_dot_i16x8` integer
//!   dots, swizzle table lookups, f32x4 dots) — what the browser runs.
//! - everything else (native tests, wasm without simd128): plain loops that
//!   the compiler autovectorizes; the reference the wasm path is checked
//!   against by the same tests (`scripts/test-wasm-kernels.sh`).
//!
//! Both implementations compute exactly the same integers; float results may
//! differ in summation order only.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[path = "simd/wasm.rs"]
mod wasm;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) use wasm::*;
/// Also the CPU attention's (`cpu::attention::simd`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(in crate::cpu) use wasm::{dot_f32, f16_to_f32};

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[path = "simd/portable.rs"]
mod portable;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(super) use portable::*;
/// Also the CPU attention's (`cpu::attention::simd`).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(in crate::cpu) use portable::{dot_f32, f16_to_f32};

/// Which implementation this build uses ("wasm simd128" or "portable").
pub const PATH: &str = IMPL;

/// One IEEE half (little-endian bits) to f32, exactly (subnormals, ±inf and
/// NaN included): the f16 bits shifted into f32 position read as a number
/// 2^112 too small, which one multiply fixes for normals and subnormals.
#[inline(always)]
pub(super) fn f16_bits_to_f32(h: u16) -> f32 {
    let m = (h & 0x7FFF) as u32;
    let sign = ((h & 0x8000) as u32) << 16;
    let mag = if m >= 0x7C00 {
        f32::from_bits((m << 13) | 0x7F80_0000)
    } else {
        f32::from_bits(m << 13) * TWO_POW_112
    };
    f32::from_bits(mag.to_bits() | sign)
}

/// 2^112: the f16 → f32 exponent-bias difference (127 − 15).
pub(super) const TWO_POW_112: f32 = f32::from_bits((127 + 112) << 23);

/// The f16 at byte `i` of `b` as f32 (GGUF scales are little-endian f16).
#[inline(always)]
pub(super) fn f16_at(b: &[u8], i: usize) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([b[i], b[i + 1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_matches_half_for_every_bit_pattern() {
        for h in 0..=u16::MAX {
            let want = half::f16::from_bits(h).to_f32();
            let got = f16_bits_to_f32(h);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "f16 bits {h:#06x}: {got} vs {want}"
            );
        }
    }
}
