//! WebAssembly SIMD128 primitives (`core::arch::wasm32`), the browser's path.
//! Same contracts as `portable.rs`, which the tests compare them against.
//!
//! Integer dots use `i32x4_dot_i16x8` (pairwise i16 products summed into i32
//! lanes, as ggml-cpu's wasm `vec_dot` kernels do) on the 16-bit activations
//! as stored; the weight lanes are widened i8 → i16 once and reused for every
//! token of a tile.
//!
//! A `+relaxed-simd` build runs this same code: relaxed SIMD's integer dot
//! (`i32x4_relaxed_dot_i8x16_i7x16_add`) multiplies i8 by i7 and cannot take
//! 16-bit activations, so the earlier relaxed variants are gone.

use core::arch::wasm32::*;

#[cfg(not(target_feature = "relaxed-simd"))]
pub(in super::super) const IMPL: &str = "wasm simd128";
/// Built with `+relaxed-simd`, which these kernels do not use (see above).
#[cfg(target_feature = "relaxed-simd")]
pub(in super::super) const IMPL: &str = "wasm simd128 (relaxed-simd build, same kernels)";

/// 16 bytes of `s` from `i` (bounds-checked by the slice).
#[inline(always)]
fn load<T: Copy>(s: &[T], i: usize, lanes: usize) -> v128 {
    let chunk = &s[i..i + lanes];
    // SAFETY: `chunk` is `lanes` elements = 16 bytes, in bounds (checked by
    // the slicing above); v128_load has no alignment requirement.
    unsafe { v128_load(chunk.as_ptr() as *const v128) }
}

#[inline(always)]
fn hsum_f32(v: v128) -> f32 {
    (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
        + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
}

/// A row's running f32 sum, four lanes (summed once per row, not per block).
pub(in super::super) type Acc = v128;
pub(in super::super) const ACC_ZERO: Acc = f32x4(0.0, 0.0, 0.0, 0.0);

/// The running sum's value.
#[inline(always)]
pub(in super::super) fn acc_sum(a: Acc) -> f32 {
    hsum_f32(a)
}

/// See `portable::dot_i16_scaled_acc` (which also bounds the integers):
/// per 16 weights, one i8 → i16 widening (two `i16x8` halves, reused for
/// every token of the tile) and two `i32x4_dot_i16x8` per token against the
/// activations, already i16. Each i32 lane sums `sub / 4 ≤ 8` products
/// (≤ 8 · 128 · 32767 ≈ 3.4e7); per sub-block the lanes convert to f32 and
/// add, times `scales[s]`, into a per-token f32 block sum, which adds into
/// `acc` times `mul[t]` once per call; no horizontal sums. (Summing a few
/// scaled sub-blocks in i32 first, where the per-lane bound allows, measured
/// slower under V8: Q6_K decode 0.26–0.31 ms vs 0.22 ms per 1536 × 768.)
#[inline(always)]
pub(in super::super) fn dot_i16_scaled_acc<const T: usize>(
    w: &[i8],
    xs: [&[i16]; T],
    scales: &[i32],
    sub: usize,
    mul: [f32; T],
    acc: &mut [Acc; T],
) {
    if let [1] = scales {
        // One unscaled sub-block (the 32-weight formats): straight into acc.
        let part = dot_part(w, xs, 0, sub);
        for t in 0..T {
            let m = f32x4_splat(mul[t]);
            acc[t] = f32x4_add(acc[t], f32x4_mul(f32x4_convert_i32x4(part[t]), m));
        }
        return;
    }
    // Σ_s scales[s] · f32(sub-block s) per token in f32 lanes, then one
    // multiply by mul[t]: the scale splat is shared by the tile's tokens.
    let mut blk = [f32x4_splat(0.0); T];
    for (s, &sc) in scales.iter().enumerate() {
        let part = dot_part(w, xs, s * sub, sub);
        let scv = f32x4_splat(sc as f32);
        for t in 0..T {
            blk[t] = f32x4_add(blk[t], f32x4_mul(f32x4_convert_i32x4(part[t]), scv));
        }
    }
    for t in 0..T {
        acc[t] = f32x4_add(acc[t], f32x4_mul(blk[t], f32x4_splat(mul[t])));
    }
}

/// The i32 lanes of `Σ w[i]·x_t[i]` over `start..start + sub` per token
/// (`sub` a multiple of 16).
#[inline(always)]
fn dot_part<const T: usize>(w: &[i8], xs: [&[i16]; T], start: usize, sub: usize) -> [v128; T] {
    let mut part = [i32x4_splat(0); T];
    let mut i = start;
    while i < start + sub {
        let wv = load(w, i, 16);
        let (wl, wh) = (i16x8_extend_low_i8x16(wv), i16x8_extend_high_i8x16(wv));
        for (p, x) in part.iter_mut().zip(xs) {
            let lo = i32x4_dot_i16x8(wl, load(x, i, 8));
            let hi = i32x4_dot_i16x8(wh, load(x, i + 8, 8));
            *p = i32x4_add(*p, i32x4_add(lo, hi));
        }
        i += 16;
    }
    part
}

/// See `portable::unpack_nibbles`.
#[inline(always)]
pub(in super::super) fn unpack_nibbles(qs: &[u8; 16], offset: i8, out: &mut [i8; 32]) {
    let v = load(qs, 0, 16);
    let off = i8x16_splat(offset);
    let lo = i8x16_sub(v128_and(v, u8x16_splat(0x0F)), off);
    let hi = i8x16_sub(u8x16_shr(v, 4), off);
    // SAFETY: `out` is 32 bytes; v128_store has no alignment requirement.
    unsafe {
        v128_store(out.as_mut_ptr() as *mut v128, lo);
        v128_store(out.as_mut_ptr().add(16) as *mut v128, hi);
    }
}

/// See `portable::unpack_nibbles_5`: each qh byte is spread over 8 lanes
/// (`i8x16_swizzle`), tested against its lane's bit and turned into 0x10.
#[inline(always)]
pub(in super::super) fn unpack_nibbles_5(qs: &[u8; 16], qh: u32, offset: i8, out: &mut [i8; 32]) {
    let v = load(qs, 0, 16);
    let off = i8x16_splat(offset);
    let q = u32x4_splat(qh);
    let bits = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    let fifth = |bytes: v128| v128_and(i8x16_eq(v128_and(bytes, bits), bits), u8x16_splat(0x10));
    let h_lo = fifth(i8x16_swizzle(q, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)));
    let h_hi = fifth(i8x16_swizzle(q, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)));
    let lo = i8x16_sub(v128_or(v128_and(v, u8x16_splat(0x0F)), h_lo), off);
    let hi = i8x16_sub(v128_or(u8x16_shr(v, 4), h_hi), off);
    // SAFETY: `out` is 32 bytes; v128_store has no alignment requirement.
    unsafe {
        v128_store(out.as_mut_ptr() as *mut v128, lo);
        v128_store(out.as_mut_ptr().add(16) as *mut v128, hi);
    }
}

/// See `portable::unpack_nibbles_64`: two loads, an and and a shift each.
#[inline(always)]
pub(in super::super) fn unpack_nibbles_64(qs: &[u8; 32], out: &mut [i8; 64]) {
    let mask = u8x16_splat(0x0F);
    for h in 0..2 {
        let v = load(qs, 16 * h, 16);
        // SAFETY: `out` is 64 bytes, the stores end at 16·h + 48 ≤ 64;
        // v128_store has no alignment requirement.
        unsafe {
            v128_store(out.as_mut_ptr().add(16 * h) as *mut v128, v128_and(v, mask));
            v128_store(
                out.as_mut_ptr().add(32 + 16 * h) as *mut v128,
                u8x16_shr(v, 4),
            );
        }
    }
}

/// See `portable::unpack_q6k_half`: per 16 lanes of `l`, the two `ql` rows
/// and the `qh` row load once and give the four planes `k`.
#[inline(always)]
pub(in super::super) fn unpack_q6k_half(ql: &[u8; 64], qh: &[u8; 32], out: &mut [i8; 128]) {
    let (mask4, mask2, offset) = (u8x16_splat(0x0F), u8x16_splat(0x03), i8x16_splat(32));
    for h in 0..2 {
        let (a, b) = (load(ql, 16 * h, 16), load(ql, 32 + 16 * h, 16));
        let q = load(qh, 16 * h, 16);
        let lows = [
            v128_and(a, mask4),
            v128_and(b, mask4),
            u8x16_shr(a, 4),
            u8x16_shr(b, 4),
        ];
        for (k, low) in lows.into_iter().enumerate() {
            let high = i8x16_shl(v128_and(u8x16_shr(q, 2 * k as u32), mask2), 4);
            // SAFETY: `out` is 128 bytes, the store ends at 32·3 + 16 + 16 = 128;
            // v128_store has no alignment requirement.
            unsafe {
                v128_store(
                    out.as_mut_ptr().add(32 * k + 16 * h) as *mut v128,
                    i8x16_sub(v128_or(low, high), offset),
                )
            };
        }
    }
}

/// See `portable::unpack_nibbles_table`: one `i8x16_swizzle` per 16 lanes.
#[inline(always)]
pub(in super::super) fn unpack_nibbles_table(qs: &[u8; 16], table: &[i8; 16], out: &mut [i8; 32]) {
    let v = load(qs, 0, 16);
    let t = load(table, 0, 16);
    let lo = i8x16_swizzle(t, v128_and(v, u8x16_splat(0x0F)));
    let hi = i8x16_swizzle(t, u8x16_shr(v, 4));
    // SAFETY: `out` is 32 bytes; v128_store has no alignment requirement.
    unsafe {
        v128_store(out.as_mut_ptr() as *mut v128, lo);
        v128_store(out.as_mut_ptr().add(16) as *mut v128, hi);
    }
}

/// Four f16 (as u32 lanes) to f32, as `super::f16_bits_to_f32` does per lane.
#[inline(always)]
fn f16x4_to_f32x4(h: v128) -> v128 {
    let m = v128_and(h, u32x4_splat(0x7FFF));
    let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
    let shifted = i32x4_shl(m, 13);
    let finite = f32x4_mul(shifted, f32x4_splat(super::TWO_POW_112));
    let special = v128_or(shifted, u32x4_splat(0x7F80_0000));
    let is_special = u32x4_ge(m, u32x4_splat(0x7C00));
    v128_or(v128_bitselect(special, finite, is_special), sign)
}

/// See `portable::f16_to_f32`: eight at a time, then the tail.
#[inline(always)]
pub(in crate::cpu) fn f16_to_f32(src: &[u8], dst: &mut [f32]) {
    let n = dst.len();
    let mut i = 0;
    while i + 8 <= n {
        let h = load(src, 2 * i, 16);
        let lo = f16x4_to_f32x4(u32x4_extend_low_u16x8(h));
        let hi = f16x4_to_f32x4(u32x4_extend_high_u16x8(h));
        let out = &mut dst[i..i + 8];
        // SAFETY: `out` is 8 f32 = 32 bytes; no alignment requirement.
        unsafe {
            v128_store(out.as_mut_ptr() as *mut v128, lo);
            v128_store(out.as_mut_ptr().add(4) as *mut v128, hi);
        }
        i += 8;
    }
    for (j, y) in dst.iter_mut().enumerate().skip(i) {
        *y = super::f16_at(src, 2 * j);
    }
}

/// See `portable::bf16_to_f32`: eight at a time, then the tail.
#[inline(always)]
pub(in super::super) fn bf16_to_f32(src: &[u8], dst: &mut [f32]) {
    let n = dst.len();
    let mut i = 0;
    while i + 8 <= n {
        let h = load(src, 2 * i, 16);
        let lo = i32x4_shl(u32x4_extend_low_u16x8(h), 16);
        let hi = i32x4_shl(u32x4_extend_high_u16x8(h), 16);
        let out = &mut dst[i..i + 8];
        // SAFETY: `out` is 8 f32 = 32 bytes; no alignment requirement.
        unsafe {
            v128_store(out.as_mut_ptr() as *mut v128, lo);
            v128_store(out.as_mut_ptr().add(4) as *mut v128, hi);
        }
        i += 8;
    }
    for (j, y) in dst.iter_mut().enumerate().skip(i) {
        *y = f32::from_bits((u16::from_le_bytes([src[2 * j], src[2 * j + 1]]) as u32) << 16);
    }
}

/// See `portable::dot_f32`: two f32x4 partial sums per row, then the tail.
#[inline(always)]
pub(in crate::cpu) fn dot_f32<const T: usize>(w: &[f32], xs: [&[f32]; T]) -> [f32; T] {
    let n = w.len();
    for x in xs {
        assert!(
            x.len() >= n,
            "dot_f32: activation row shorter than the weights"
        );
    }
    let mut a0 = [f32x4_splat(0.0); T];
    let mut a1 = [f32x4_splat(0.0); T];
    let mut i = 0;
    while i + 8 <= n {
        let w0 = load(w, i, 4);
        let w1 = load(w, i + 4, 4);
        for t in 0..T {
            a0[t] = f32x4_add(a0[t], f32x4_mul(w0, load(xs[t], i, 4)));
            a1[t] = f32x4_add(a1[t], f32x4_mul(w1, load(xs[t], i + 4, 4)));
        }
        i += 8;
    }
    let mut out = [0.0f32; T];
    for t in 0..T {
        let tail: f32 = (i..n).map(|j| w[j] * xs[t][j]).sum();
        out[t] = hsum_f32(f32x4_add(a0[t], a1[t])) + tail;
    }
    out
}
