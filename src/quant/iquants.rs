//! Non-linear 4-bit formats: each 4-bit index picks a value from the fixed
//! table [`KVALUES_IQ4NL`], times a scale.

use super::Block;
use bytemuck::{Pod, Zeroable};
use half::f16;

/// IQ4_NL's 16 non-uniform levels (an int8 grid, denser near zero).
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// IQ4_NL, 18 bytes: `w = d · KVALUES[q]`; same nibble order as Q4_0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ4NL {
    pub d: f16,       // scale
    pub qs: [u8; 16], // byte j: index of weight j (low nibble) and j + 16 (high)
}
const _: () = assert!(size_of::<BlockIQ4NL>() == 18);

/// IQ4_XS, 136 bytes: 8 sub-blocks of 32, `w = d · (ls − 32) · KVALUES[q]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIQ4XS {
    pub d: f16,            // super-block scale
    pub scales_h: u16,     // top 2 bits of sub-block scale i: bits 2·i..2·i+2
    pub scales_l: [u8; 4], // low 4 bits of scale i: nibble i % 2 of byte i / 2
    pub qs: [u8; 128],     // sub-block i: bytes 16·i.., each as an IQ4_NL qs
}
const _: () = assert!(size_of::<BlockIQ4XS>() == 136);

/// Table value for the 32 nibble-packed indices of `qs`, weight `i` (0..32).
fn lookup(qs: &[u8], i: usize) -> f32 {
    let idx = if i < 16 {
        qs[i] & 0x0F
    } else {
        qs[i - 16] >> 4
    };
    KVALUES_IQ4NL[idx as usize] as f32
}

impl Block for BlockIQ4NL {
    const ELEMS: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (i, y) in out.iter_mut().enumerate() {
            *y = d * lookup(&self.qs, i);
        }
    }
}

impl BlockIQ4XS {
    /// 6-bit scale of sub-block `i` (0..8), before the −32 offset.
    pub fn sub_scale(&self, i: usize) -> u8 {
        let low = (self.scales_l[i / 2] >> (4 * (i % 2))) & 0x0F;
        let high = (self.scales_h >> (2 * i)) & 0x03;
        low | (high as u8) << 4
    }
}

impl Block for BlockIQ4XS {
    const ELEMS: usize = 256;
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (sub, ys) in out.chunks_exact_mut(32).enumerate() {
            let dl = d * (self.sub_scale(sub) as i32 - 32) as f32;
            let qs = &self.qs[16 * sub..16 * sub + 16];
            for (i, y) in ys.iter_mut().enumerate() {
                *y = dl * lookup(qs, i);
            }
        }
    }
}
