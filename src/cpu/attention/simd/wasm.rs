//! WebAssembly SIMD128 attention primitives (`core::arch::wasm32`), the
//! browser's path; same contracts as `portable.rs`.

use core::arch::wasm32::*;

pub(in super::super) const IMPL: &str = "wasm simd128";

/// Four f32 of `s` from `i` (bounds-checked by the slice).
#[inline(always)]
fn load(s: &[f32], i: usize) -> v128 {
    let chunk = &s[i..i + 4];
    // SAFETY: `chunk` is 4 f32 = 16 bytes, in bounds; no alignment requirement.
    unsafe { v128_load(chunk.as_ptr() as *const v128) }
}

#[inline(always)]
fn store(s: &mut [f32], i: usize, v: v128) {
    let chunk = &mut s[i..i + 4];
    // SAFETY: as `load`.
    unsafe { v128_store(chunk.as_mut_ptr() as *mut v128, v) }
}

/// `super::exp_scalar` on four lanes.
#[inline(always)]
fn exp4(x: v128) -> v128 {
    use super::{EXP_LO, EXP_P, LN2_HI, LN2_LO, LOG2_E, ROUND, ROUND_BITS};
    let t = f32x4_add(f32x4_mul(x, f32x4_splat(LOG2_E)), f32x4_splat(ROUND));
    let n = f32x4_sub(t, f32x4_splat(ROUND));
    let ni = i32x4_sub(t, i32x4_splat(ROUND_BITS));
    let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, f32x4_splat(LN2_HI))), f32x4_mul(n, f32x4_splat(LN2_LO)));
    let mut p = f32x4_splat(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = f32x4_add(f32x4_mul(p, r), f32x4_splat(c));
    }
    let e = f32x4_add(f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r), f32x4_splat(1.0));
    let y = f32x4_mul(e, i32x4_shl(i32x4_add(ni, i32x4_splat(127)), 23));
    // x < EXP_LO → 0 (NaN compares false and stays NaN).
    v128_andnot(y, f32x4_lt(x, f32x4_splat(EXP_LO)))
}

/// See `portable::exp_sub_sum`.
#[inline(always)]
pub(in super::super) fn exp_sub_sum(x: &mut [f32], m: f32) -> f32 {
    let n = x.len();
    let mv = f32x4_splat(m);
    let mut acc = f32x4_splat(0.0);
    let mut i = 0;
    while i + 4 <= n {
        let e = exp4(f32x4_sub(load(x, i), mv));
        store(x, i, e);
        acc = f32x4_add(acc, e);
        i += 4;
    }
    let mut tail = 0.0;
    for v in &mut x[i..] {
        *v = super::exp_scalar(*v - m);
        tail += *v;
    }
    (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc)) + (f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc)) + tail
}

/// See `portable::axpy`: four lanes of o at a time, each updated by all T rows.
#[inline(always)]
pub(in super::super) fn axpy<const T: usize>(o: &mut [f32], p: [f32; T], v: [&[f32]; T]) {
    let n = o.len();
    let pv = p.map(|x| f32x4_splat(x));
    let mut i = 0;
    while i + 4 <= n {
        let mut acc = load(o, i);
        for t in 0..T {
            acc = f32x4_add(acc, f32x4_mul(pv[t], load(v[t], i)));
        }
        store(o, i, acc);
        i += 4;
    }
    for j in i..n {
        let mut acc = o[j];
        for t in 0..T {
            acc += p[t] * v[t][j];
        }
        o[j] = acc;
    }
}

/// See `portable::scale`.
#[inline(always)]
pub(in super::super) fn scale(o: &mut [f32], c: f32) {
    let cv = f32x4_splat(c);
    let n = o.len();
    let mut i = 0;
    while i + 4 <= n {
        store(o, i, f32x4_mul(load(o, i), cv));
        i += 4;
    }
    for v in &mut o[i..] {
        *v *= c;
    }
}

/// See `portable::silu_mul`: four lanes at a time.
#[inline(always)]
pub(crate) fn silu_mul(gate: &mut [f32], up: &[f32]) {
    let n = gate.len();
    let up = &up[..n];
    let one = f32x4_splat(1.0);
    let mut i = 0;
    while i + 4 <= n {
        let g = load(gate, i);
        let e = exp4(f32x4_neg(f32x4_abs(g)));
        // g >= 0: 1 / (1 + e); g < 0 (or NaN): e / (1 + e).
        let num = v128_bitselect(one, e, f32x4_ge(g, f32x4_splat(0.0)));
        let s = f32x4_div(num, f32x4_add(one, e));
        store(gate, i, f32x4_mul(f32x4_mul(g, s), load(up, i)));
        i += 4;
    }
    for (g, &u) in gate[i..].iter_mut().zip(&up[i..]) {
        let e = super::exp_scalar(-g.abs());
        let s = if *g >= 0.0 { 1.0 } else { e } / (1.0 + e);
        *g = *g * s * u;
    }
}
