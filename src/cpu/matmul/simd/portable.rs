//! Plain-loop primitives: the native build and wasm without simd128. Written
//! as fixed-width lane loops so the compiler can vectorize them.

pub(in super::super) const IMPL: &str = "portable";

/// For each of `T` activation rows: Σ_s scales[s] · Σ_{i ∈ sub-block s} w[i]·x[i],
/// sub-blocks of `sub` lanes (16 or 32); `w.len() == scales.len() · sub`,
/// each `xs[t]` at least as long. Exact in i32 for our ranges (|w| ≤ 128,
/// |x| ≤ 127, |scale| ≤ 128, ≤ 256 lanes: < 2^31).
#[inline(always)]
fn dot_i8_scaled<const T: usize>(w: &[i8], xs: [&[i8]; T], scales: &[i32], sub: usize) -> [i32; T] {
    xs.map(|x| match (scales.len(), sub) {
        (1, 32) => dot_one::<1, 32>(w, x, scales),
        (8, 32) => dot_one::<8, 32>(w, x, scales),
        (16, 16) => dot_one::<16, 16>(w, x, scales),
        _ => unreachable!("kernels use 1×32, 8×32 or 16×16 lanes"),
    })
}

/// One token's `Σ_s scales[s] · Σ w·x` over `S` sub-blocks of `SUB` lanes,
/// with the shape fixed at compile time so the lane loops vectorize.
#[inline(always)]
fn dot_one<const S: usize, const SUB: usize>(w: &[i8], x: &[i8], scales: &[i32]) -> i32 {
    let (w, x, scales) = (&w[..S * SUB], &x[..S * SUB], &scales[..S]);
    let mut acc = 0i32;
    for s in 0..S {
        let mut d = 0i32;
        for i in 0..SUB {
            d += w[s * SUB + i] as i32 * x[s * SUB + i] as i32;
        }
        acc += scales[s] * d;
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

/// `acc[t] += mul[t] · dot_i8_scaled(w, xs, scales, sub)[t]`.
#[inline(always)]
pub(in super::super) fn dot_i8_scaled_acc<const T: usize>(
    w: &[i8],
    xs: [&[i8]; T],
    scales: &[i32],
    sub: usize,
    mul: [f32; T],
    acc: &mut [Acc; T],
) {
    let s = dot_i8_scaled(w, xs, scales, sub);
    for t in 0..T {
        acc[t] += mul[t] * s[t] as f32;
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

/// [`dot_i8_scaled_acc`] for weights known to lie in 0..=127, which the
/// relaxed-SIMD wasm build multiplies without widening.
#[inline(always)]
pub(in super::super) fn dot_u7_scaled_acc<const T: usize>(
    w: &[i8],
    xs: [&[i8]; T],
    scales: &[i32],
    sub: usize,
    mul: [f32; T],
    acc: &mut [Acc; T],
) {
    debug_assert!(w.iter().all(|&q| q >= 0), "dot_u7: a weight lane is negative");
    dot_i8_scaled_acc(w, xs, scales, sub, mul, acc)
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
pub(in super::super) fn f16_to_f32(src: &[u8], dst: &mut [f32]) {
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
pub(in super::super) fn dot_f32<const T: usize>(w: &[f32], xs: [&[f32]; T]) -> [f32; T] {
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
