//! Seeded random tensors for kernel tests (here and in the GPU tests).
//!
//! [`random_tensor`] makes valid blocks: random quants, and f16 scales chosen
//! per type so that decoded weights stay within about ±2 (no NaN, no Inf).

use super::{
    Block, BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K,
    BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0, GgmlType,
};
use half::{bf16, f16};

pub use crate::sampler::Rng;

/// `n` floats uniform in [−1, 1).
pub fn random_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// The bytes of `n_elems` weights of type `ty`, deterministic in `seed`.
///
/// Panics when `ty` is not [`super::is_supported`] or `n_elems` is not a
/// whole number of blocks (this is a test helper).
pub fn random_tensor(ty: GgmlType, n_elems: usize, seed: u64) -> Vec<u8> {
    use GgmlType::*;
    let n_blocks = match ty.bytes_for(n_elems as u64) {
        Some(_) => n_elems / ty.block_elems() as usize,
        None => panic!("random_tensor: {n_elems} is not a whole number of {ty} blocks"),
    };
    let mut rng = Rng::new(seed);
    let rng = &mut rng;
    match ty {
        F32 => (0..n_elems)
            .flat_map(|_| rng.uniform(-1.0, 1.0).to_le_bytes())
            .collect(),
        F16 => (0..n_elems)
            .flat_map(|_| f16::from_f32(rng.uniform(-1.0, 1.0)).to_le_bytes())
            .collect(),
        BF16 => (0..n_elems)
            .flat_map(|_| bf16::from_f32(rng.uniform(-1.0, 1.0)).to_le_bytes())
            .collect(),
        Q4_0 => blocks(n_blocks, rng, |b: &mut BlockQ4_0, r| {
            b.d = scale(r, 0.01, 0.1)
        }),
        Q4_1 => blocks(n_blocks, rng, |b: &mut BlockQ4_1, r| {
            b.d = positive(r, 0.01, 0.1);
            b.m = f16::from_f32(-8.0 * b.d.to_f32() * r.uniform(0.5, 1.5));
        }),
        Q5_0 => blocks(n_blocks, rng, |b: &mut BlockQ5_0, r| {
            b.d = scale(r, 0.005, 0.05)
        }),
        Q5_1 => blocks(n_blocks, rng, |b: &mut BlockQ5_1, r| {
            b.d = positive(r, 0.005, 0.05);
            b.m = f16::from_f32(-16.0 * b.d.to_f32() * r.uniform(0.5, 1.5));
        }),
        Q8_0 => blocks(n_blocks, rng, |b: &mut BlockQ8_0, r| {
            b.d = scale(r, 0.001, 0.01)
        }),
        Q2K => blocks(n_blocks, rng, |b: &mut BlockQ2K, r| {
            b.d = positive(r, 0.005, 0.02);
            b.dmin = positive(r, 0.005, 0.02);
        }),
        Q3K => blocks(n_blocks, rng, |b: &mut BlockQ3K, r| {
            b.d = scale(r, 0.0005, 0.005)
        }),
        Q4K => blocks(n_blocks, rng, |b: &mut BlockQ4K, r| {
            b.d = positive(r, 0.0001, 0.001);
            b.dmin = positive(r, 0.0001, 0.001);
        }),
        Q5K => blocks(n_blocks, rng, |b: &mut BlockQ5K, r| {
            b.d = positive(r, 0.0001, 0.001);
            b.dmin = positive(r, 0.0001, 0.001);
        }),
        Q6K => blocks(n_blocks, rng, |b: &mut BlockQ6K, r| {
            b.d = scale(r, 0.0001, 0.0005)
        }),
        IQ4NL => blocks(n_blocks, rng, |b: &mut BlockIQ4NL, r| {
            b.d = scale(r, 0.001, 0.01)
        }),
        IQ4XS => blocks(n_blocks, rng, |b: &mut BlockIQ4XS, r| {
            b.d = scale(r, 0.0001, 0.0005)
        }),
        _ => panic!("random_tensor: no CPU reference for {ty}"),
    }
}

/// `n` blocks of random bytes, then `fix` sets the float fields.
fn blocks<B: Block>(n: usize, rng: &mut Rng, fix: impl Fn(&mut B, &mut Rng)) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * size_of::<B>());
    for _ in 0..n {
        let mut b = B::zeroed();
        rng.fill_bytes(bytemuck::bytes_of_mut(&mut b));
        fix(&mut b, rng);
        out.extend_from_slice(bytemuck::bytes_of(&b));
    }
    out
}

/// An f16 with magnitude uniform in [lo, hi) and a random sign.
fn scale(rng: &mut Rng, lo: f32, hi: f32) -> f16 {
    let sign = if rng.next_u32() & 1 == 0 { 1.0 } else { -1.0 };
    f16::from_f32(sign * rng.uniform(lo, hi))
}

fn positive(rng: &mut Rng, lo: f32, hi: f32) -> f16 {
    f16::from_f32(rng.uniform(lo, hi))
}
