//! Random but valid tensor bytes, fast: a wyrand generator fills whole
//! blocks with random bits (any bit pattern is a valid quant or sub-block
//! scale), then each block's f16 scale fields are overwritten with one
//! finite value chosen so that weights have a standard deviation near
//! 1 / sqrt(row length): activations stay finite through every layer.

use half::f16;

use crate::quant::GgmlType;

/// wyrand (Wang Yi's 64-bit generator): one multiply per 8 bytes.
#[derive(Clone, Debug)]
pub struct WyRand(u64);

impl WyRand {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) ^ t) as u64
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let tail = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        tail.copy_from_slice(&last[..tail.len()]);
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// What a tensor holds, which decides its non-random values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A matrix (or embedding): random weights.
    Weights,
    /// A norm weight or a RoPE frequency factor: all 1.0.
    Ones,
    /// A bias: all 0.0.
    Zeros,
    /// Qwen3.5's `ssm_a` (= −exp(A_log), the delta rule's decay rate): all
    /// −1.0, so the recurrent state decays instead of growing.
    MinusOnes,
}

impl Role {
    /// By GGUF tensor name.
    pub fn of(name: &str) -> Self {
        if name.ends_with(".bias") {
            Role::Zeros
        } else if name.ends_with(".ssm_a") {
            Role::MinusOnes
        } else if name.contains("norm") || name.starts_with("rope_") || name.contains("layer_output_scale") {
            Role::Ones
        } else {
            Role::Weights
        }
    }
}

/// Byte offsets of the f16 fields in one block that are overwritten:
/// (scale offsets, min offsets). Everything else stays random.
fn scale_fields(ty: GgmlType) -> (&'static [usize], &'static [usize]) {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => (&[0], &[]),    // d first (legacy.rs)
        Q4_1 | Q5_1 => (&[0], &[2]),          // d, m
        Q4K | Q5K => (&[0], &[2]),            // d, dmin
        Q6K => (&[208], &[]),                 // ql, qh, scales, then d
        _ => (&[], &[]),
    }
}

/// (scale, min) giving weights of about `sigma` standard deviation and a
/// mean near 0, from each format's dequantize formula (see quant::legacy and
/// quant::kquants); the divisors are the standard deviations of the random
/// integer parts (uniform 4-bit: 4.6, 5-bit: 9.2, i8: 73.9, 6-bit
/// sub-block scale: 36.4 rms).
fn scale_and_min(ty: GgmlType, sigma: f32) -> (f32, f32) {
    use GgmlType::*;
    match ty {
        Q4_0 => (sigma / 4.6, 0.0),
        Q5_0 => (sigma / 9.2, 0.0),
        Q8_0 => (sigma / 73.9, 0.0),
        Q4_1 => (sigma / 4.6, -7.5 * sigma / 4.6),
        Q5_1 => (sigma / 9.2, -15.5 * sigma / 9.2),
        // w = d·sc·q − dmin·m with sc, m uniform 6-bit: dmin = mean(q)·d centres it.
        Q4K => (sigma / (36.4 * 4.6), 7.5 * sigma / (36.4 * 4.6)),
        Q5K => (sigma / (36.4 * 9.2), 15.5 * sigma / (36.4 * 9.2)),
        // w = d·sc·(q − 32), sc an i8, q 6-bit.
        Q6K => (sigma / (73.9 * 18.5), 0.0),
        _ => (0.0, 0.0),
    }
}

/// The types [`fill`] can make: every type a catalog mix chooses.
pub fn can_fill(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(ty, F32 | F16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4K | Q5K | Q6K)
}

/// Fills `buf`, a whole number of `ty` blocks of a tensor with rows of
/// `ncols` elements, with valid values for `role`.
pub fn fill(ty: GgmlType, role: Role, ncols: u64, rng: &mut WyRand, buf: &mut [u8]) {
    let sigma = 1.0 / (ncols.max(1) as f32).sqrt();
    match ty {
        GgmlType::F32 | GgmlType::F16 => {
            let width = ty.block_bytes() as usize;
            for c in buf.chunks_exact_mut(width) {
                let v = match role {
                    Role::Ones => 1.0,
                    Role::Zeros => 0.0,
                    Role::MinusOnes => -1.0,
                    Role::Weights => rng.unit() * sigma * 1.73, // uniform on ±√3·σ: standard deviation σ
                };
                if width == 4 {
                    c.copy_from_slice(&v.to_le_bytes());
                } else {
                    c.copy_from_slice(&f16::from_f32(v).to_le_bytes());
                }
            }
        }
        _ => {
            rng.fill(buf);
            let (scales, mins) = scale_fields(ty);
            let (d, m) = scale_and_min(ty, sigma);
            let (d, m) = (f16::from_f32(d).to_le_bytes(), f16::from_f32(m).to_le_bytes());
            let bb = ty.block_bytes() as usize;
            for block in buf.chunks_exact_mut(bb) {
                for &o in scales {
                    block[o..o + 2].copy_from_slice(&d);
                }
                for &o in mins {
                    block[o..o + 2].copy_from_slice(&m);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dequantized random blocks are finite, centred and about as spread as asked.
    #[test]
    fn random_blocks_dequantize_to_small_finite_weights() {
        let ncols = 4096u64;
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q4K, GgmlType::Q5K, GgmlType::Q6K, GgmlType::F16] {
            let mut buf = vec![0u8; ty.bytes_for(ncols * 4).unwrap() as usize];
            fill(ty, Role::Weights, ncols, &mut WyRand::new(7), &mut buf);
            let w = crate::quant::dequantize_to_vec(ty, &buf).unwrap();
            let n = w.len() as f64;
            let mean = w.iter().map(|&x| x as f64).sum::<f64>() / n;
            let std = (w.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
            let sigma = 1.0 / (ncols as f64).sqrt();
            assert!(w.iter().all(|x| x.is_finite()), "{ty}: non-finite weight");
            assert!(mean.abs() < 0.5 * sigma, "{ty}: mean {mean} vs sigma {sigma}");
            assert!(std > 0.3 * sigma && std < 3.0 * sigma, "{ty}: std {std} vs sigma {sigma}");
        }
    }
}
