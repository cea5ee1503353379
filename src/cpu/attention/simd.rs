//! The vector primitives of the CPU attention, one implementation per
//! instruction set as in `matmul::simd` (whose f32 dot and f16 widening
//! this reuses): `core::arch::wasm32` SIMD128 on wasm built with `+simd128`,
//! plain lane loops (autovectorized) elsewhere. Both compute the same
//! values up to the order of float additions; the checks
//! (`attention::check`, also run on wasm by `scripts/test-wasm-kernels.sh`)
//! hold both to the same f64 reference.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[path = "simd/wasm.rs"]
mod wasm;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) use wasm::*;
/// The CPU backend's SiLU-gated product (`super::super::ops::gated_activation`), on this exp.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use wasm::silu_mul;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[path = "simd/portable.rs"]
mod portable;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(super) use portable::*;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(crate) use portable::silu_mul;

pub(super) use crate::cpu::matmul::simd::{dot_f32, f16_to_f32};

/// Which implementation this build uses ("wasm simd128" or "portable").
pub const PATH: &str = IMPL;

// exp(x) for x ≤ 0 as Cephes' `expf` computes it (S. L. Moshier, Cephes
// Math Library, expf.c; the same reduction ggml's vectorized `ggml_v_expf`
// uses): x = n·ln 2 + r with n = round(x / ln 2) and |r| ≤ ln 2 / 2
// (ln 2 split in two parts so n·ln 2 is exact), e^r = 1 + r + r²·P(r) with
// Cephes' degree-5 minimax P (relative error ≲ 2 ulp over that range),
// then times 2^n built from its exponent bits. Below EXP_LO, 2^n would be
// subnormal: the result is 0 (e^−87.3 ≈ 1.2e−38, nothing beside a weight of 1).

/// Below this, exp is 0 (2^n would leave the normal range).
pub(super) const EXP_LO: f32 = -87.336_54;
pub(super) const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO, LN2_HI with few enough mantissa bits that n·LN2_HI is exact.
pub(super) const LN2_HI: f32 = 0.693_359_4;
pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2^23: adding it rounds an f32 of magnitude < 2^22 to an integer,
/// which then sits in the low mantissa bits (bits − 0x4B40_0000).
pub(super) const ROUND: f32 = 12_582_912.0;
pub(super) const ROUND_BITS: i32 = 0x4B40_0000;
/// Cephes expf's P, highest degree first.
pub(super) const EXP_P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1];

/// exp(x) for one value by the vector kernels' arithmetic (x ≤ 0; NaN stays NaN).
#[inline(always)]
pub(super) fn exp_scalar(x: f32) -> f32 {
    let t = x * LOG2_E + ROUND;
    let n = t - ROUND;
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND_BITS);
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = EXP_P[1..].iter().fold(EXP_P[0], |acc, &c| acc * r + c);
    let e = p * (r * r) + r + 1.0;
    let y = e * f32::from_bits((ni.wrapping_add(127) << 23) as u32);
    if x < EXP_LO {
        0.0
    } else {
        y
    }
}
