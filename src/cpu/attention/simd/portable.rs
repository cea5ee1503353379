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

/// gate[i] = silu(gate[i]) · up[i], silu(g) = g / (1 + e^−g), with e^−|g|
/// (always ≤ 0 for `super::exp_scalar`): g ≥ 0 takes 1 / (1 + e), g < 0
/// takes e / (1 + e). `up` at least as long as `gate`.
#[inline(always)]
pub(crate) fn silu_mul(gate: &mut [f32], up: &[f32]) {
    let up = &up[..gate.len()];
    for (g, &u) in gate.iter_mut().zip(up) {
        let e = super::exp_scalar(-g.abs());
        let s = if *g >= 0.0 { 1.0 } else { e } / (1.0 + e);
        *g = *g * s * u;
    }
}
