//! Plain-loop attention primitives (native builds, wasm without simd128),
//! written as fixed-width lane loops so the compiler vectorizes them.

pub(in super::super) const IMPL: &str = "portable";

const L: usize = 8;

/// x[i] = exp(x[i] − m) (x[i] ≤ m; see `super::exp_scalar`); returns Σ x[i].
#[inline(always)]
pub(in super::super) fn exp_sub_sum(x: &mut [f32], m: f32) -> f32 {
    let mut lanes = [0.0f32; L];
    let mut chunks = x.chunks_exact_mut(L);
    for c in &mut chunks {
        for (v, s) in c.iter_mut().zip(lanes.iter_mut()) {
            *v = super::exp_scalar(*v - m);
            *s += *v;
        }
    }
    let mut tail = 0.0;
    for v in chunks.into_remainder() {
        *v = super::exp_scalar(*v - m);
        tail += *v;
    }
    lanes.iter().sum::<f32>() + tail
}

/// o[i] += Σ_t p[t] · v[t][i] over i < o.len() (each `v[t]` at least as long).
#[inline(always)]
pub(in super::super) fn axpy<const T: usize>(o: &mut [f32], p: [f32; T], v: [&[f32]; T]) {
    let n = o.len();
    let v = v.map(|r| &r[..n]);
    for (i, oi) in o.iter_mut().enumerate() {
        let mut acc = *oi;
        for t in 0..T {
            acc += p[t] * v[t][i];
        }
        *oi = acc;
    }
}

/// o[i] *= c.
#[inline(always)]
pub(in super::super) fn scale(o: &mut [f32], c: f32) {
    o.iter_mut().for_each(|v| *v *= c);
}
