//! Block kernels for the 256-weight formats (Q2_K … Q6_K, IQ4_XS) against
//! [`BlockQ16K`] activations.
//!
//! Per super-block and token: the weights unpack once to 256 i8 lanes, an
//! integer dot per sub-block is weighted by the sub-block's integer scale,
//! and the mins of Q2_K/Q4_K/Q5_K come from the activations' 16-sums:
//! `Σ w·x ≈ d_x · (d · Σ_s sc_s·Σ q·xq − dmin · Σ_s m_s·bsum_s)` (the
//! decomposition of ggml-cpu's `ggml_vec_dot_q4_K_q8_K` and friends).
//! Block layouts and scale packing: [`crate::quant::kquants`].
//!
//! Integer ranges (16-bit activations, `|xq| ≤ 32767`, 16-sums
//! `|bsum| ≤ 16 · 32767 = 524 272`): the unpacked weights are 0..=3 (Q2_K),
//! 0..=7 (Q3_K), 0..=15 (Q4_K), 0..=31 (Q5_K), −32..=31 (Q6_K), −127..=113
//! (IQ4_XS); a sub-block's `Σ q·xq` is at most 32 · 127 · 32767 ≈ 1.33e8 in
//! i32, and the sub-block scales apply in f32 (`dot_i16_scaled_acc`: scaled
//! in i32, Q6_K's 16 · 16 · 32 · 32767 · 128 ≈ 3.4e10 would overflow). The
//! min/offset terms: Q2_K `Σ 15 · bsum` over 16 ≤ 1.3e8 and Q4_K/Q5_K
//! `Σ 63 · (bsum + bsum)` over 8 ≤ 5.3e8 stay i32; the offsets' `offset ·
//! Σ sc · bsum` (Q3_K: 4 · 16 · 32 · 524 272 ≈ 1.1e9) go through i64.

use super::act::BlockQ16K;
use super::simd::{
    dot_i16_scaled_acc, f16_at, unpack_nibbles_64, unpack_nibbles_table, unpack_q6k_half, Acc,
};
use super::BlockKernel;
use crate::quant::kquants::{k4_scale_min, q3k_scale};
use crate::quant::KVALUES_IQ4NL;

#[inline(always)]
fn bytes12(w: &[u8], off: usize) -> &[u8; 12] {
    w[off..off + 12]
        .try_into()
        .expect("block holds 12 scale bytes here")
}

/// `acc[t] += d · d_x · Σ_s scales[s] · Σ q·xq` per token, sub-blocks of
/// `sub` weights. Q3_K unpacks unsigned and subtracts its offset
/// through [`offset_dot16`].
#[inline(always)]
fn idot<const T: usize>(
    q: &[i8; 256],
    d: f32,
    x: [&BlockQ16K; T],
    scales: &[i32],
    sub: usize,
    acc: &mut [Acc; T],
) {
    let mul = std::array::from_fn(|t| d * x[t].d);
    dot_i16_scaled_acc(q, x.map(|a| &a.qs[..]), scales, sub, mul, acc)
}

/// `extra[t] −= d · d_x · offset · Σ_s scales[s] · bsum_s`: the share of a
/// constant `offset` subtracted from every quant, 16 sub-blocks of 16.
#[inline(always)]
fn offset_dot16<const T: usize>(
    offset: i32,
    d: f32,
    scales: &[i32; 16],
    x: [&BlockQ16K; T],
    extra: &mut [f32; T],
) {
    for (e, a) in extra.iter_mut().zip(x) {
        let s: i64 = (0..16).map(|i| scales[i] as i64 * a.bsums[i] as i64).sum();
        *e -= d * a.d * (offset as i64 * s) as f32;
    }
}

/// `Σ_s mins[s] · (Σ xq over sub-block s)` per token, 8 sub-blocks of 32.
#[inline(always)]
fn min_dot32(mins: &[i32; 8], a: &BlockQ16K) -> i32 {
    (0..8)
        .map(|j| mins[j] * (a.bsums[2 * j] + a.bsums[2 * j + 1]))
        .sum()
}

/// The 2 bits of plane `k` for weight `128·h + 32·k + l` of the bit-plane
/// layout (Q2_K, Q3_K): `(bytes[32·h + l] >> 2k) & 3` into `q`.
#[inline(always)]
fn bit_planes(bytes: &[u8], q: &mut [i8; 256]) {
    for h in 0..2 {
        for k in 0..4 {
            for l in 0..32 {
                q[128 * h + 32 * k + l] = ((bytes[32 * h + l] >> (2 * k)) & 3) as i8;
            }
        }
    }
}

/// Q4_K / Q5_K low nibbles: weight `64·j + l` is the low nibble of byte
/// `32·j + l` for l < 32, the high nibble of byte `32·j + l − 32` above.
#[inline(always)]
fn k4_nibbles(qs: &[u8], q: &mut [i8; 256]) {
    for (j, out) in q.chunks_exact_mut(64).enumerate() {
        let bytes: &[u8; 32] = qs[32 * j..32 * j + 32].try_into().expect("32 bytes");
        unpack_nibbles_64(bytes, out.try_into().expect("64 lanes"));
    }
}

/// Q4_K / Q5_K scales and mins of the 8 sub-blocks.
#[inline(always)]
fn k4_scales(packed: &[u8; 12]) -> ([i32; 8], [i32; 8]) {
    let mut sc = [0i32; 8];
    let mut m = [0i32; 8];
    for j in 0..8 {
        let (a, b) = k4_scale_min(j, packed);
        (sc[j], m[j]) = (a as i32, b as i32);
    }
    (sc, m)
}

pub(super) struct Q2K;
impl BlockKernel for Q2K {
    type Act = BlockQ16K;
    const ELEMS: usize = 256;
    const BYTES: usize = 84;
    #[inline(always)]
    fn dot<const T: usize>(w: &[u8], x: [&BlockQ16K; T], acc: &mut [Acc; T], extra: &mut [f32; T]) {
        let (d, dmin) = (f16_at(w, 80), f16_at(w, 82));
        let packed = &w[0..16];
        let sc: [i32; 16] = std::array::from_fn(|s| (packed[s] & 0x0F) as i32);
        let mut q = [0i8; 256];
        bit_planes(&w[16..80], &mut q);
        idot(&q, d, x, &sc, 16, acc);
        for (e, a) in extra.iter_mut().zip(x) {
            let msum: i32 = (0..16)
                .map(|i| (packed[i] >> 4) as i32 * a.bsums[i])
                .sum();
            *e -= a.d * dmin * msum as f32;
        }
    }
}

pub(super) struct Q3K;
impl BlockKernel for Q3K {
    type Act = BlockQ16K;
    const ELEMS: usize = 256;
    const BYTES: usize = 110;
    #[inline(always)]
    fn dot<const T: usize>(w: &[u8], x: [&BlockQ16K; T], acc: &mut [Acc; T], extra: &mut [f32; T]) {
        let d = f16_at(w, 108);
        let packed = bytes12(w, 96);
        let sc: [i32; 16] = std::array::from_fn(|i| q3k_scale(i, packed) as i32 - 32);
        let hmask = &w[0..32];
        let mut q = [0i8; 256];
        bit_planes(&w[32..96], &mut q);
        // A clear hmask bit means q − 4 (bit 4h + k of byte l): unpack
        // u = low + 4·bit ∈ 0..8 and subtract 4 through the 16-sums.
        for h in 0..2 {
            for k in 0..4 {
                for l in 0..32 {
                    let set = (hmask[l] >> (4 * h + k)) & 1;
                    q[128 * h + 32 * k + l] += 4 * set as i8;
                }
            }
        }
        idot(&q, d, x, &sc, 16, acc);
        offset_dot16(4, d, &sc, x, extra);
    }
}

pub(super) struct Q4K;
impl BlockKernel for Q4K {
    type Act = BlockQ16K;
    const ELEMS: usize = 256;
    const BYTES: usize = 144;
    #[inline(always)]
    fn dot<const T: usize>(w: &[u8], x: [&BlockQ16K; T], acc: &mut [Acc; T], extra: &mut [f32; T]) {
        let (d, dmin) = (f16_at(w, 0), f16_at(w, 2));
        let (sc, m) = k4_scales(bytes12(w, 4));
        let mut q = [0i8; 256];
        k4_nibbles(&w[16..144], &mut q);
        idot(&q, d, x, &sc, 32, acc);
        for (e, a) in extra.iter_mut().zip(x) {
            *e -= a.d * dmin * min_dot32(&m, a) as f32;
        }
    }
}

pub(super) struct Q5K;
impl BlockKernel for Q5K {
    type Act = BlockQ16K;
    const ELEMS: usize = 256;
    const BYTES: usize = 176;
    #[inline(always)]
    fn dot<const T: usize>(w: &[u8], x: [&BlockQ16K; T], acc: &mut [Acc; T], extra: &mut [f32; T]) {
        let (d, dmin) = (f16_at(w, 0), f16_at(w, 2));
        let (sc, m) = k4_scales(bytes12(w, 4));
        let qh = &w[16..48];
        let mut q = [0i8; 256];
        k4_nibbles(&w[48..176], &mut q);
        // 5th bit of weight 32·j + l: bit j of qh[l].
        for j in 0..8 {
            for l in 0..32 {
                q[32 * j + l] |= (((qh[l] >> j) & 1) << 4) as i8;
            }
        }
        idot(&q, d, x, &sc, 32, acc);
        for (e, a) in extra.iter_mut().zip(x) {
            *e -= a.d * dmin * min_dot32(&m, a) as f32;
        }
    }
}

pub(super) struct Q6K;
impl BlockKernel for Q6K {
    type Act = BlockQ16K;
    const ELEMS: usize = 256;
    const BYTES: usize = 210;
    #[inline(always)]
    fn dot<const T: usize>(w: &[u8], x: [&BlockQ16K; T], acc: &mut [Acc; T], _extra: &mut [f32; T]) {
        let d = f16_at(w, 208);
        let sc: [i32; 16] = std::array::from_fn(|i| w[192 + i] as i8 as i32);
        let (ql, qh) = (&w[0..128], &w[128..192]);
        let mut q = [0i8; 256];
        // Weight 128·h + 32·k + l: low 4 bits from ql[64·h + 32·(k % 2) + l]
        // (high nibble for k ≥ 2), high 2 bits from plane k of qh[32·h + l],
        // minus 32.
        for (h, out) in q.chunks_exact_mut(128).enumerate() {
            let ql: &[u8; 64] = ql[64 * h..64 * h + 64].try_into().expect("64 bytes");
            let qh: &[u8; 32] = qh[32 * h..32 * h + 32].try_into().expect("32 bytes");
            unpack_q6k_half(ql, qh, out.try_into().expect("128 lanes"));
        }
        // Signed in the unpack (q − 32 fits i8), so no offset term.
        idot(&q, d, x, &sc, 16, acc);
    }
}

pub(super) struct IQ4XS;
impl BlockKernel for IQ4XS {
    type Act = BlockQ16K;
    const ELEMS: usize = 256;
    const BYTES: usize = 136;
    #[inline(always)]
    fn dot<const T: usize>(w: &[u8], x: [&BlockQ16K; T], acc: &mut [Acc; T], _extra: &mut [f32; T]) {
        let d = f16_at(w, 0);
        let scales_h = u16::from_le_bytes([w[2], w[3]]);
        let sc: [i32; 8] = std::array::from_fn(|i| {
            let low = (w[4 + i / 2] >> (4 * (i % 2))) & 0x0F;
            let high = ((scales_h >> (2 * i)) & 3) as u8;
            (low | high << 4) as i32 - 32
        });
        let mut q = [0i8; 256];
        for (j, out) in q.chunks_exact_mut(32).enumerate() {
            let packed: &[u8; 16] = w[8 + 16 * j..24 + 16 * j].try_into().expect("16 bytes");
            unpack_nibbles_table(packed, &KVALUES_IQ4NL, out.try_into().expect("32 lanes"));
        }
        idot(&q, d, x, &sc, 32, acc);
    }
}
