//! The first ggml formats: 32 weights per block, one f16 scale (and min).
//!
//! Nibble order in every 4-bit format: byte `j` of `qs` holds weight `j` in its
//! low nibble and weight `j + 16` in its high nibble.

use super::Block;
use bytemuck::{Pod, Zeroable};
use half::f16;

/// Q4_0, 18 bytes: `w = d · (q − 8)`, q ∈ 0..16.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_0 {
    pub d: f16,       // scale
    pub qs: [u8; 16], // 32 × 4-bit quants, nibble-packed
}
const _: () = assert!(size_of::<BlockQ4_0>() == 18);

/// Q4_1, 20 bytes: `w = d · q + m`, q ∈ 0..16.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_1 {
    pub d: f16,       // scale
    pub m: f16,       // min (offset)
    pub qs: [u8; 16], // 32 × 4-bit quants, nibble-packed
}
const _: () = assert!(size_of::<BlockQ4_1>() == 20);

/// Q5_0, 22 bytes: `w = d · (q − 16)`, q ∈ 0..32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_0 {
    pub d: f16,       // scale
    pub qh: [u8; 4],  // 5th bit of weight i = bit i of this u32 (little-endian)
    pub qs: [u8; 16], // low 4 bits, nibble-packed
}
const _: () = assert!(size_of::<BlockQ5_0>() == 22);

/// Q5_1, 24 bytes: `w = d · q + m`, q ∈ 0..32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_1 {
    pub d: f16,       // scale
    pub m: f16,       // min (offset)
    pub qh: [u8; 4],  // 5th bit of weight i = bit i of this u32 (little-endian)
    pub qs: [u8; 16], // low 4 bits, nibble-packed
}
const _: () = assert!(size_of::<BlockQ5_1>() == 24);

/// Q8_0, 34 bytes: `w = d · q`, q ∈ −128..128.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8_0 {
    pub d: f16,       // scale
    pub qs: [i8; 32], // quants
}
const _: () = assert!(size_of::<BlockQ8_0>() == 34);

/// The 32 4-bit values of a nibble-packed `qs`, in weight order.
fn nibble(qs: &[u8; 16], i: usize) -> u8 {
    if i < 16 {
        qs[i] & 0x0F
    } else {
        qs[i - 16] >> 4
    }
}

/// The 5-bit value of weight `i` (0..32) of a Q5 block.
fn five_bits(qs: &[u8; 16], qh: [u8; 4], i: usize) -> u8 {
    let high = (u32::from_le_bytes(qh) >> i) & 1;
    nibble(qs, i) | (high as u8) << 4
}

impl Block for BlockQ4_0 {
    const ELEMS: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (i, y) in out.iter_mut().enumerate() {
            *y = d * (nibble(&self.qs, i) as i32 - 8) as f32;
        }
    }
}

impl Block for BlockQ4_1 {
    const ELEMS: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (i, y) in out.iter_mut().enumerate() {
            *y = d * nibble(&self.qs, i) as f32 + m;
        }
    }
}

impl Block for BlockQ5_0 {
    const ELEMS: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (i, y) in out.iter_mut().enumerate() {
            *y = d * (five_bits(&self.qs, self.qh, i) as i32 - 16) as f32;
        }
    }
}

impl Block for BlockQ5_1 {
    const ELEMS: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (i, y) in out.iter_mut().enumerate() {
            *y = d * five_bits(&self.qs, self.qh, i) as f32 + m;
        }
    }
}

impl Block for BlockQ8_0 {
    const ELEMS: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (q, y) in self.qs.iter().zip(out) {
            *y = *q as f32 * d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_nibble_order_and_offset() {
        let mut qs = [0u8; 16];
        qs[0] = 0xF0; // weight 0 → 0, weight 16 → 15
        qs[3] = 0x09; // weight 3 → 9
        let b = BlockQ4_0 {
            d: f16::from_f32(0.5),
            qs,
        };
        let mut y = [0.0; 32];
        b.dequantize(&mut y);
        assert_eq!(y[0], -4.0);
        assert_eq!(y[16], 3.5);
        assert_eq!(y[3], 0.5);
        assert_eq!(y[1], -4.0);
    }

    #[test]
    fn q5_0_high_bits() {
        // Weight 1 and weight 20 get their 5th bit; all low nibbles 0.
        let qh = ((1u32 << 1) | (1u32 << 20)).to_le_bytes();
        let b = BlockQ5_0 {
            d: f16::from_f32(1.0),
            qh,
            qs: [0; 16],
        };
        let mut y = [0.0; 32];
        b.dequantize(&mut y);
        assert_eq!(y[0], -16.0);
        assert_eq!(y[1], 0.0);
        assert_eq!(y[20], 0.0);
        assert_eq!(y[21], -16.0);
    }

    #[test]
    fn q5_1_and_q4_1_add_min() {
        let b = BlockQ5_1 {
            d: f16::from_f32(0.25),
            m: f16::from_f32(-1.0),
            qh: [0xFF; 4],
            qs: [0x21; 16],
        };
        let mut y = [0.0; 32];
        b.dequantize(&mut y);
        assert_eq!(y[0], 0.25 * 17.0 - 1.0);
        assert_eq!(y[16], 0.25 * 18.0 - 1.0);
        let b = BlockQ4_1 {
            d: f16::from_f32(0.25),
            m: f16::from_f32(-1.0),
            qs: [0x21; 16],
        };
        b.dequantize(&mut y);
        assert_eq!(y[0], -0.75);
        assert_eq!(y[31], -0.5);
    }

    #[test]
    fn q8_0_signed() {
        let mut qs = [0i8; 32];
        qs[5] = -128;
        qs[6] = 127;
        let b = BlockQ8_0 {
            d: f16::from_f32(0.5),
            qs,
        };
        let mut y = [0.0; 32];
        b.dequantize(&mut y);
        assert_eq!((y[5], y[6]), (-64.0, 63.5));
    }
}
