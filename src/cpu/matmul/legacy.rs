//! Block kernels for the 32-weight formats against [`BlockQ16_1`] activations.
//!
//! Per block and token: the weights unpack once to 32 i8 lanes, an integer
//! dot with the 16-bit activation quants gives `Σ q·xq`, and the scales
//! finish it: `d · d_x · Σ q·xq`, plus `m · d_x · Σ xq` for the formats with
//! a min (ggml-cpu `ggml_vec_dot_q4_1_q8_1` and friends). Q4_0 and Q5_0 keep
//! their quants unsigned too (0..16, 0..32) and treat the offset as a min
//! (`−8·d`, `−16·d`), as ggml's q4_0 × q8_1 path does.
//!
//! Integer range (`|xq| ≤ 32767`): the weights are 0..=15 (Q4_0, Q4_1),
//! 0..=31 (Q5_0, Q5_1), −127..=113 (IQ4_NL) or −128..=127 (Q8_0), so a block's
//! `Σ q·xq` is at most 32 · 128 · 32767 ≈ 1.34e8 < 2^31.

use super::act::BlockQ16_1;
use super::simd::{
    dot_i16_scaled_acc, f16_at, unpack_nibbles, unpack_nibbles_5, unpack_nibbles_table, Acc,
};
use super::BlockKernel;
use crate::quant::KVALUES_IQ4NL;

/// The 16 nibble-packed bytes at `off` of a block.
#[inline(always)]
fn packed16(w: &[u8], off: usize) -> &[u8; 16] {
    w[off..off + 16]
        .try_into()
        .expect("block holds 16 packed bytes here")
}

/// `acc[t] += d · d_x · Σ q·xq` for each token.
#[inline(always)]
fn idot<const T: usize>(q: &[i8], d: f32, x: [&BlockQ16_1; T], acc: &mut [Acc; T]) {
    let mul = std::array::from_fn(|t| d * x[t].d);
    dot_i16_scaled_acc(q, x.map(|a| &a.qs[..]), &[1], 32, mul, acc)
}

/// `extra[t] += m · d_x · Σ xq`: the min's share (Q4_1, Q5_1; Q4_0 and Q5_0
/// with their offsets as mins).
#[inline(always)]
fn add_min<const T: usize>(m: f32, x: [&BlockQ16_1; T], extra: &mut [f32; T]) {
    for (e, a) in extra.iter_mut().zip(x) {
        *e += m * a.s;
    }
}

pub(super) struct Q4_0;
impl BlockKernel for Q4_0 {
    type Act = BlockQ16_1;
    const ELEMS: usize = 32;
    const BYTES: usize = 18;
    #[inline(always)]
    fn dot<const T: usize>(
        w: &[u8],
        x: [&BlockQ16_1; T],
        acc: &mut [Acc; T],
        extra: &mut [f32; T],
    ) {
        let d = f16_at(w, 0);
        let mut q = [0i8; 32];
        unpack_nibbles(packed16(w, 2), 0, &mut q);
        idot(&q, d, x, acc);
        add_min(-8.0 * d, x, extra);
    }
}

pub(super) struct Q4_1;
impl BlockKernel for Q4_1 {
    type Act = BlockQ16_1;
    const ELEMS: usize = 32;
    const BYTES: usize = 20;
    #[inline(always)]
    fn dot<const T: usize>(w: &[u8], x: [&BlockQ16_1; T], acc: &mut [Acc; T], extra: &mut [f32; T]) {
        let (d, m) = (f16_at(w, 0), f16_at(w, 2));
        let mut q = [0i8; 32];
        unpack_nibbles(packed16(w, 4), 0, &mut q);
        idot(&q, d, x, acc);
        add_min(m, x, extra);
    }
}

pub(super) struct Q5_0;
impl BlockKernel for Q5_0 {
    type Act = BlockQ16_1;
    const ELEMS: usize = 32;
    const BYTES: usize = 22;
    #[inline(always)]
    fn dot<const T: usize>(
        w: &[u8],
        x: [&BlockQ16_1; T],
        acc: &mut [Acc; T],
        extra: &mut [f32; T],
    ) {
        let d = f16_at(w, 0);
        let qh = u32::from_le_bytes([w[2], w[3], w[4], w[5]]);
        let mut q = [0i8; 32];
        unpack_nibbles_5(packed16(w, 6), qh, 0, &mut q);
        idot(&q, d, x, acc);
        add_min(-16.0 * d, x, extra);
    }
}

pub(super) struct Q5_1;
impl BlockKernel for Q5_1 {
    type Act = BlockQ16_1;
    const ELEMS: usize = 32;
    const BYTES: usize = 24;
    #[inline(always)]
    fn dot<const T: usize>(w: &[u8], x: [&BlockQ16_1; T], acc: &mut [Acc; T], extra: &mut [f32; T]) {
        let (d, m) = (f16_at(w, 0), f16_at(w, 2));
        let qh = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
        let mut q = [0i8; 32];
        unpack_nibbles_5(packed16(w, 8), qh, 0, &mut q);
        idot(&q, d, x, acc);
        add_min(m, x, extra);
    }
}

pub(super) struct Q8_0;
impl BlockKernel for Q8_0 {
    type Act = BlockQ16_1;
    const ELEMS: usize = 32;
    const BYTES: usize = 34;
    #[inline(always)]
    fn dot<const T: usize>(
        w: &[u8],
        x: [&BlockQ16_1; T],
        acc: &mut [Acc; T],
        _extra: &mut [f32; T],
    ) {
        let d = f16_at(w, 0);
        let q: &[i8] = bytemuck::cast_slice(&w[2..34]);
        idot(q, d, x, acc);
    }
}

pub(super) struct IQ4NL;
impl BlockKernel for IQ4NL {
    type Act = BlockQ16_1;
    const ELEMS: usize = 32;
    const BYTES: usize = 18;
    #[inline(always)]
    fn dot<const T: usize>(
        w: &[u8],
        x: [&BlockQ16_1; T],
        acc: &mut [Acc; T],
        _extra: &mut [f32; T],
    ) {
        let d = f16_at(w, 0);
        let mut q = [0i8; 32];
        unpack_nibbles_table(packed16(w, 2), &KVALUES_IQ4NL, &mut q);
        idot(&q, d, x, acc);
    }
}
