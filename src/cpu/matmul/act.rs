//! Activations quantized to 8 bits, once per `matmul` call, in the two block
//! shapes of ggml-cpu's `vec_dot` kernels:
//!
//! - [`BlockQ8_1`]: 32 values, for the 32-weight formats (Q4_0 … Q8_0,
//!   IQ4_NL). Carries `s = d·Σq` so formats with a min (Q4_1, Q5_1) add
//!   `m · s` per block, as with ggml's `block_q8_1`.
//! - [`BlockQ8K`]: 256 values with the sums of each 16 (`bsums`), for the
//!   k-quants and IQ4_XS; the sums turn the k-quants' per-sub-block mins into
//!   16 products per block (ggml's `block_q8_K`).
//!
//! Both are symmetric: `d = max|x| / 127`, `q = round(x / d)` ∈ −127..=127,
//! so `|x − d·q| ≤ d / 2`. Unlike ggml, `d` and `s` stay f32 in both (ggml
//! rounds `block_q8_1`'s to f16): these blocks never leave memory, so there
//! is nothing to save.

/// 32 activations: `x ≈ d · qs[i]`; `s = d · Σ qs`.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockQ8_1 {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

/// 256 activations: `x ≈ d · qs[i]`; `bsums[j] = Σ qs[16·j .. 16·j + 16]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; 256],
    pub bsums: [i16; 16],
}

/// (scale, 1 / scale) for a block whose largest magnitude is `amax`; an
/// all-zero block gets (0, 0) so its quants are 0.
fn scale_for(amax: f32) -> (f32, f32) {
    let d = amax / 127.0;
    (d, if d > 0.0 { 1.0 / d } else { 0.0 })
}

/// Rounds `x · id` into `qs` (half away from zero, as ggml's `roundf`).
fn quantize_into(x: &[f32], id: f32, qs: &mut [i8]) {
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = (v * id).round() as i8;
    }
}

fn amax(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Quantizes `x` (a whole number of 32-blocks) into `out` (cleared first).
pub(super) fn quantize_q8_1(x: &[f32], out: &mut Vec<BlockQ8_1>) {
    out.clear();
    out.extend(x.chunks_exact(32).map(|xb| {
        let (d, id) = scale_for(amax(xb));
        let mut qs = [0i8; 32];
        quantize_into(xb, id, &mut qs);
        let sum: i32 = qs.iter().map(|&q| q as i32).sum();
        BlockQ8_1 {
            d,
            s: d * sum as f32,
            qs,
        }
    }));
}

/// Quantizes `x` (a whole number of 256-blocks) into `out` (cleared first).
pub(super) fn quantize_q8_k(x: &[f32], out: &mut Vec<BlockQ8K>) {
    out.clear();
    out.extend(x.chunks_exact(256).map(|xb| {
        let (d, id) = scale_for(amax(xb));
        let mut qs = [0i8; 256];
        quantize_into(xb, id, &mut qs);
        let mut bsums = [0i16; 16];
        for (s, q) in bsums.iter_mut().zip(qs.chunks_exact(16)) {
            *s = q.iter().map(|&v| v as i16).sum();
        }
        BlockQ8K { d, qs, bsums }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_blocks_round_within_half_a_step() {
        let x = crate::quant::testing::random_f32(512, 7);
        let mut a = Vec::new();
        quantize_q8_1(&x, &mut a);
        let mut k = Vec::new();
        quantize_q8_k(&x, &mut k);
        for (i, &v) in x.iter().enumerate() {
            let b = &a[i / 32];
            assert!(
                (v - b.d * b.qs[i % 32] as f32).abs() <= b.d * 0.5001,
                "q8_1 {i}"
            );
            let b = &k[i / 256];
            assert!(
                (v - b.d * b.qs[i % 256] as f32).abs() <= b.d * 0.5001,
                "q8_K {i}"
            );
        }
        let sum = a[0].qs.iter().map(|&q| q as i32).sum::<i32>();
        assert_eq!(a[0].s, a[0].d * sum as f32);
        assert_eq!(
            k[1].bsums[3],
            k[1].qs[48..64].iter().map(|&q| q as i16).sum::<i16>()
        );
        // The largest magnitude of each block maps to ±127.
        assert!(a.iter().all(|b| b.qs.iter().any(|q| q.abs() == 127)));
    }

    #[test]
    fn zero_block_quantizes_to_zero() {
        let mut a = Vec::new();
        quantize_q8_1(&[0.0; 32], &mut a);
        assert_eq!((a[0].d, a[0].s, a[0].qs), (0.0, 0.0, [0; 32]));
    }
}
