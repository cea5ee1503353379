//! Activations quantized to 16 bits, once per `matmul` call, in the two block
//! shapes of ggml-cpu's `vec_dot` kernels (ggml's `block_q8_1` / `block_q8_K`
//! layouts, with i16 quants instead of i8):
//!
//! - [`BlockQ16_1`]: 32 values, for the 32-weight formats (Q4_0 … Q8_0,
//!   IQ4_NL). Carries `s = d·Σq` so formats with a min (Q4_1, Q5_1) add
//!   `m · s` per block, as with ggml's `block_q8_1`.
//! - [`BlockQ16K`]: 256 values with the sums of each 16 (`bsums`, i32), for
//!   the k-quants and IQ4_XS; the sums turn the k-quants' per-sub-block mins
//!   into 16 products per block (ggml's `block_q8_K`).
//!
//! Both are symmetric: `d = max|x| / 32767`, `q = round(x / d)` ∈
//! −32767..=32767, so `|x − d·q| ≤ d / 2 = amax / 65534` (258× finer than
//! ggml's 8 bits, whose per-matmul error of ~0.4 % relative RMS moved
//! 30-layer models' logits by ~0.3). `d` and `s` stay f32: these blocks
//! never leave memory.
//!
//! Integer ranges (the kernels rely on them): `|q| ≤ 32767` fits i16 for
//! `i32x4_dot_i16x8`; a 16-sum is at most 16 · 32767 = 524 272 and a 32-sum
//! 1 048 544 (i32); the products with weights are bounded in `simd.rs`.

/// Largest quant magnitude: `d = amax / Q_MAX`.
pub(super) const Q_MAX: f32 = 32767.0;

/// 32 activations: `x ≈ d · qs[i]`; `s = d · Σ qs`.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockQ16_1 {
    pub d: f32,
    pub s: f32,
    pub qs: [i16; 32],
}

/// 256 activations: `x ≈ d · qs[i]`; `bsums[j] = Σ qs[16·j .. 16·j + 16]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockQ16K {
    pub d: f32,
    pub qs: [i16; 256],
    pub bsums: [i32; 16],
}

/// (scale, 1 / scale) for a block whose largest magnitude is `amax`; an
/// all-zero block (or one without a finite amax) gets (0, 0) so its quants
/// are 0.
fn scale_for(amax: f32) -> (f32, f32) {
    let d = amax / Q_MAX;
    let id = if d > 0.0 && d.is_finite() {
        1.0 / d
    } else {
        0.0
    };
    (d, id)
}

/// Rounds `x · id` into `qs` (half away from zero, as ggml's `roundf`).
/// `|x · id| ≤ amax · (1/d) ≈ 32767 (1 + 2ε)`, which rounds to ≤ 32767; the
/// `as` cast saturates anyway.
fn quantize_into(x: &[f32], id: f32, qs: &mut [i16]) {
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = (v * id).round() as i16;
    }
}

fn amax(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Quantizes `x` (a whole number of 32-blocks) into `out` (cleared first).
pub(super) fn quantize_q16_1(x: &[f32], out: &mut Vec<BlockQ16_1>) {
    out.clear();
    out.extend(x.chunks_exact(32).map(|xb| {
        let (d, id) = scale_for(amax(xb));
        let mut qs = [0i16; 32];
        quantize_into(xb, id, &mut qs);
        let sum: i32 = qs.iter().map(|&q| q as i32).sum();
        BlockQ16_1 {
            d,
            s: d * sum as f32,
            qs,
        }
    }));
}

/// Quantizes `x` (a whole number of 256-blocks) into `out` (cleared first).
pub(super) fn quantize_q16_k(x: &[f32], out: &mut Vec<BlockQ16K>) {
    out.clear();
    out.extend(x.chunks_exact(256).map(|xb| {
        let (d, id) = scale_for(amax(xb));
        let mut qs = [0i16; 256];
        quantize_into(xb, id, &mut qs);
        let mut bsums = [0i32; 16];
        for (s, q) in bsums.iter_mut().zip(qs.chunks_exact(16)) {
            *s = q.iter().map(|&v| v as i32).sum();
        }
        BlockQ16K { d, qs, bsums }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q16_blocks_round_within_half_a_step() {
        let x = crate::quant::testing::random_f32(512, 7);
        let mut a = Vec::new();
        quantize_q16_1(&x, &mut a);
        let mut k = Vec::new();
        quantize_q16_k(&x, &mut k);
        // Half a step, plus f32 rounding of `x / d` and of `d · q` (each up
        // to 2^-24 of |q| ≤ 32767 steps ≈ 0.002 d).
        let half = 0.5 + 2.0 * 32767.0 * f32::EPSILON / 2.0;
        for (i, &v) in x.iter().enumerate() {
            let b = &a[i / 32];
            assert!(
                (v - b.d * b.qs[i % 32] as f32).abs() <= b.d * half,
                "q16_1 {i}"
            );
            let b = &k[i / 256];
            assert!(
                (v - b.d * b.qs[i % 256] as f32).abs() <= b.d * half,
                "q16_K {i}"
            );
        }
        let sum = a[0].qs.iter().map(|&q| q as i32).sum::<i32>();
        assert_eq!(a[0].s, a[0].d * sum as f32);
        assert_eq!(
            k[1].bsums[3],
            k[1].qs[48..64].iter().map(|&q| q as i32).sum::<i32>()
        );
        // The largest magnitude of each block maps to ±32767.
        assert!(a
            .iter()
            .all(|b| b.qs.iter().any(|q| q.unsigned_abs() == 32767)));
        assert!(k
            .iter()
            .all(|b| b.qs.iter().any(|q| q.unsigned_abs() == 32767)));
    }

    #[test]
    fn zero_block_quantizes_to_zero() {
        let mut a = Vec::new();
        quantize_q16_1(&[0.0; 32], &mut a);
        assert_eq!((a[0].d, a[0].s, a[0].qs), (0.0, 0.0, [0; 32]));
    }
}
