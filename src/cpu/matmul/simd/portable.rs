//! Plain-loop primitives: the native build and wasm without simd128. Written
//! as fixed-width lane loops so the compiler can vectorize them.

pub(in super::super) const IMPL: &str = "portable";

/// One token's `mul · Σ_s scales[s] · Σ_{i ∈ sub-block s} w[i]·x[i]` over
/// `S` sub-blocks of `SUB` lanes, with the shape fixed at compile time so the
/// lane loops vectorize. Each sub-block's integer dot is exact in i32 (see
/// `dot_i16_scaled_acc`); the scales apply in f32.
#[inline(always)]
fn dot_one<const S: usize, const SUB: usize>(w: &[i8], x: &[i16], scales: &[i32], mul: f32) -> f32 {
    let (w, x, scales) = (&w[..S * SUB], &x[..S * SUB], &scales[..S]);
    let mut acc = 0.0f32;
    for s in 0..S {
        let mut d = 0i32;
        for i in 0..SUB {
            d += w[s * SUB + i] as i32 * x[s * SUB + i] as i32;
        }
        acc += (mul * scales[s] as f32) * d as f32;
    }
    acc
}

/// A row's running f32 sum: one lane here (the wasm path keeps four).
pub(in super::super) type Acc = f32;
pub(in super::super) const ACC_ZERO: Acc = 0.0;

/// The running sum's value.
#[inline(always)]
pub(in super::super) fn acc_sum(a: Acc) -> f32 {
    a
}

/// For each of `T` tokens: `acc[t] += mul[t] · Σ_s scales[s] · Σ_{i ∈
/// sub-block s} w[i]·x_t[i]`, sub-blocks of `sub` lanes (1×32, 8×32 or
/// 16×16); `w.len() == scales.len() · sub`, each `xs[t]` at least as long.
///
/// Overflow: |w| ≤ 128 (i8; the formats' unpacked ranges are 0..=63 or
/// −128..=127), |x| ≤ 32767 (16-bit activations), so a sub-block's dot is at
/// most 32 · 128 · 32767 ≈ 1.34e8 < 2^31 in i32 (exact). The scales (up to
/// |128| for Q6_K) would overflow an i32 sum of scaled sub-blocks (e.g.
/// 16 · 16 · 63 · 32767 · 128 ≈ 6.8e10), so each sub-block converts to f32
/// and is scaled there (relative rounding 6e-8 per sub-block).
#[inline(always)]
pub(in super::super) fn dot_i16_scaled_acc<const T: usize>(
    w: &[i8],
    xs: [&[i16]; T],
    scales: &[i32],
    sub: usize,
    mul: [f32; T],
    acc: &mut [Acc; T],
) {
    for t in 0..T {
        let x = xs[t];
        acc[t] += match (scales.len(), sub) {
            (1, 32) => dot_one::<1, 32>(w, x, scales, mul[t]),
            (8, 32) => dot_one::<8, 32>(w, x, scales, mul[t]),
            (16, 16) => dot_one::<16, 16>(w, x, scales, mul[t]),
            _ => unreachable!("kernels use 1×32, 8×32 or 16×16 lanes"),
        };
    }
}

/// Nibble-packed `qs` (byte j: weight j low, weight j + 16 high) to 32 i8
/// values minus `offset`.
#[inline(always)]
pub(in super::super) fn unpack_nibbles(qs: &[u8; 16], offset: i8, out: &mut [i8; 32]) {
    let (lo, hi) = out.split_at_mut(16);
    for j in 0..16 {
        lo[j] = (qs[j] & 0x0F) as i8 - offset;
        hi[j] = (qs[j] >> 4) as i8 - offset;
    }
}

/// Q5_0 / Q5_1 weights: the nibbles of `qs` (as [`unpack_nibbles`]) with bit
/// `i` of `qh` as bit 4 of weight `i`, minus `offset`.
#[inline(always)]
pub(in super::super) fn unpack_nibbles_5(qs: &[u8; 16], qh: u32, offset: i8, out: &mut [i8; 32]) {
    unpack_nibbles(qs, 0, out);
    for (j, v) in out.iter_mut().enumerate() {
        *v = (*v | (((qh >> j) & 1) << 4) as i8) - offset;
    }
}

/// The k-quants' 64-weight nibble layout (Q4_K, Q5_K): weight `l` is the low
/// nibble of byte `l`, weight `32 + l` its high nibble (l < 32).
#[inline(always)]
pub(in super::super) fn unpack_nibbles_64(qs: &[u8; 32], out: &mut [i8; 64]) {
    let (lo, hi) = out.split_at_mut(32);
    for l in 0..32 {
        lo[l] = (qs[l] & 0x0F) as i8;
        hi[l] = (qs[l] >> 4) as i8;
    }
}

/// Q6_K's 128-weight half (ggml's `block_q6_K` layout): weight `32·k + l`
/// is `(ql[32·(k % 2) + l] >> 4·(k / 2)) & 15` with bits `2k..2k+2` of
/// `qh[l]` above it, minus 32: −32..=31.
#[inline(always)]
pub(in super::super) fn unpack_q6k_half(ql: &[u8; 64], qh: &[u8; 32], out: &mut [i8; 128]) {
    for k in 0..4 {
        for l in 0..32 {
            let low = (ql[32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0F;
            let high = (qh[l] >> (2 * k)) & 3;
            out[32 * k + l] = (low | high << 4) as i8 - 32;
        }
    }
}

/// Nibble-packed indices (same order as [`unpack_nibbles`]) to `table` values.
#[inline(always)]
pub(in super::super) fn unpack_nibbles_table(qs: &[u8; 16], table: &[i8; 16], out: &mut [i8; 32]) {
    let (lo, hi) = out.split_at_mut(16);
    for j in 0..16 {
        lo[j] = table[(qs[j] & 0x0F) as usize];
        hi[j] = table[(qs[j] >> 4) as usize];
    }
}

/// Little-endian f16 bytes to f32 (`src.len() == 2 · dst.len()`).
#[inline(always)]
pub(in crate::cpu) fn f16_to_f32(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(2).zip(dst) {
        *y = super::f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// Little-endian bf16 bytes to f32 (the top half of an f32: exact).
#[inline(always)]
pub(in super::super) fn bf16_to_f32(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(2).zip(dst) {
        *y = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16);
    }
}

/// For each of `T` rows: Σ_i w[i]·x[i] in f32 (eight interleaved partial
/// sums, then the tail); each `xs[t]` at least `w.len()` long.
#[inline(always)]
pub(in crate::cpu) fn dot_f32<const T: usize>(w: &[f32], xs: [&[f32]; T]) -> [f32; T] {
    const L: usize = 8;
    let mut out = [0.0f32; T];
    for (o, x) in out.iter_mut().zip(xs) {
        let x = &x[..w.len()];
        let mut lanes = [0.0f32; L];
        let (wc, xc) = (w.chunks_exact(L), x.chunks_exact(L));
        let (wr, xr) = (wc.remainder(), xc.remainder());
        for (a, b) in wc.zip(xc) {
            for l in 0..L {
                lanes[l] += a[l] * b[l];
            }
        }
        let tail: f32 = wr.iter().zip(xr).map(|(a, b)| a * b).sum();
        *o = lanes.iter().sum::<f32>() + tail;
    }
    out
}
