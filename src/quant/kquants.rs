//! K-quants: 256-weight super-blocks split into sub-blocks of 16 or 32
//! weights, each with its own small integer scale (and min) multiplied by the
//! super-block's f16 `d` (and `dmin`).
//!
//! Bit-plane layout shared by Q2_K, Q3_K and Q6_K: weight `w = 128·h + 32·k + l`
//! (half `h` ∈ 0..2, plane `k` ∈ 0..4, lane `l` ∈ 0..32) takes its 2 low bits
//! from byte `32·h + l` of `qs`, shifted right by `2·k`.

use super::Block;
use bytemuck::{Pod, Zeroable};
use half::f16;

/// Q2_K, 84 bytes: 16 sub-blocks of 16; `w = d·sc·q − dmin·m`, q ∈ 0..4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ2K {
    pub scales: [u8; 16], // sub-block s: scale = low nibble, min = high nibble
    pub qs: [u8; 64],     // 2-bit quants, bit-plane layout
    pub d: f16,           // super-block scale for the scales
    pub dmin: f16,        // super-block scale for the mins
}
const _: () = assert!(size_of::<BlockQ2K>() == 84);

/// Q3_K, 110 bytes: 16 sub-blocks of 16; `w = d·(sc − 32)·q`, q ∈ −4..4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ3K {
    pub hmask: [u8; 32],  // bit w/32 of byte w%32: 1 = q as is, 0 = q − 4
    pub qs: [u8; 64],     // low 2 bits, bit-plane layout
    pub scales: [u8; 12], // 16 × 6-bit scales, see `q3k_scale`
    pub d: f16,           // super-block scale
}
const _: () = assert!(size_of::<BlockQ3K>() == 110);

/// Q4_K, 144 bytes: 8 sub-blocks of 32; `w = d·sc·q − dmin·m`, q ∈ 0..16.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4K {
    pub d: f16,           // super-block scale for the scales
    pub dmin: f16,        // super-block scale for the mins
    pub scales: [u8; 12], // 8 × (6-bit scale, 6-bit min), see `k4_scale_min`
    pub qs: [u8; 128], // weight 64·j + l: low nibble of byte 32·j + l (l < 32), high nibble for l ≥ 32
}
const _: () = assert!(size_of::<BlockQ4K>() == 144);

/// Q5_K, 176 bytes: like Q4_K plus a 5th bit; `w = d·sc·q − dmin·m`, q ∈ 0..32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5K {
    pub d: f16,           // super-block scale for the scales
    pub dmin: f16,        // super-block scale for the mins
    pub scales: [u8; 12], // 8 × (6-bit scale, 6-bit min), see `k4_scale_min`
    pub qh: [u8; 32],     // 5th bit of weight w: bit w/32 of byte w%32
    pub qs: [u8; 128],    // low 4 bits, as in Q4_K
}
const _: () = assert!(size_of::<BlockQ5K>() == 176);

/// Q6_K, 210 bytes: 16 sub-blocks of 16; `w = d·sc·(q − 32)`, q ∈ 0..64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; 128], // low 4 bits: w = 128·h + 32·k + l → byte 64·h + 32·(k%2) + l, high nibble if k ≥ 2
    pub qh: [u8; 64],  // high 2 bits, bit-plane layout (byte 32·h + l, shift 2·k)
    pub scales: [i8; 16], // sub-block scales, signed
    pub d: f16,        // super-block scale
}
const _: () = assert!(size_of::<BlockQ6K>() == 210);

/// Splits weight index `w` (0..256) into (half, plane, lane) of the bit-plane layout.
fn planes(w: usize) -> (usize, usize, usize) {
    (w / 128, (w % 128) / 32, w % 32)
}

/// (scale, min) of sub-block `j` (0..8) from Q4_K/Q5_K's 12 packed bytes.
///
/// Bytes 0..4 hold scales 0..4 in their low 6 bits, bytes 4..8 mins 0..4.
/// Scales/mins 4..8 take their low 4 bits from the nibbles of bytes 8..12 and
/// their top 2 bits from the spare top bits of bytes 0..4 / 4..8.
pub fn k4_scale_min(j: usize, s: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        let sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        let m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        (sc, m)
    }
}

/// 6-bit scale of sub-block `i` (0..16) from Q3_K's 12 packed bytes, before
/// the −32 offset. Low 4 bits: nibble `i / 8` of byte `i % 8`; high 2 bits:
/// bits `2·(i / 4)` of byte `8 + i % 4`.
pub fn q3k_scale(i: usize, s: &[u8; 12]) -> u8 {
    let low = (s[i % 8] >> (4 * (i / 8))) & 0x0F;
    let high = (s[8 + i % 4] >> (2 * (i / 4))) & 0x03;
    low | high << 4
}

impl Block for BlockQ2K {
    const ELEMS: usize = 256;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        for (w, y) in out.iter_mut().enumerate() {
            let (h, k, l) = planes(w);
            let sc = self.scales[w / 16];
            let dl = d * (sc & 0x0F) as f32;
            let ml = dmin * (sc >> 4) as f32;
            let q = (self.qs[32 * h + l] >> (2 * k)) & 3;
            *y = dl * q as f32 - ml;
        }
    }
}

impl Block for BlockQ3K {
    const ELEMS: usize = 256;
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (w, y) in out.iter_mut().enumerate() {
            let (h, k, l) = planes(w);
            let dl = d * (q3k_scale(w / 16, &self.scales) as i32 - 32) as f32;
            let low = ((self.qs[32 * h + l] >> (2 * k)) & 3) as i32;
            let high_set = (self.hmask[l] >> (w / 32)) & 1 == 1;
            let q = if high_set { low } else { low - 4 };
            *y = dl * q as f32;
        }
    }
}

/// The 4-bit part of weight `w` of a Q4_K / Q5_K block.
fn k4_nibble(qs: &[u8; 128], w: usize) -> u8 {
    let byte = qs[32 * (w / 64) + w % 32];
    if w % 64 < 32 {
        byte & 0x0F
    } else {
        byte >> 4
    }
}

impl Block for BlockQ4K {
    const ELEMS: usize = 256;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        for (sub, ys) in out.chunks_exact_mut(32).enumerate() {
            let (sc, m) = k4_scale_min(sub, &self.scales);
            let (d1, m1) = (d * sc as f32, dmin * m as f32);
            for (l, y) in ys.iter_mut().enumerate() {
                *y = d1 * k4_nibble(&self.qs, 32 * sub + l) as f32 - m1;
            }
        }
    }
}

impl Block for BlockQ5K {
    const ELEMS: usize = 256;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        for (sub, ys) in out.chunks_exact_mut(32).enumerate() {
            let (sc, m) = k4_scale_min(sub, &self.scales);
            let (d1, m1) = (d * sc as f32, dmin * m as f32);
            for (l, y) in ys.iter_mut().enumerate() {
                let high = (self.qh[l] >> sub) & 1;
                let q = k4_nibble(&self.qs, 32 * sub + l) | high << 4;
                *y = d1 * q as f32 - m1;
            }
        }
    }
}

impl Block for BlockQ6K {
    const ELEMS: usize = 256;
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (w, y) in out.iter_mut().enumerate() {
            let (h, k, l) = planes(w);
            let low_byte = self.ql[64 * h + 32 * (k % 2) + l];
            let low = if k < 2 {
                low_byte & 0x0F
            } else {
                low_byte >> 4
            };
            let high = (self.qh[32 * h + l] >> (2 * k)) & 3;
            let q = (low | high << 4) as i32 - 32;
            let dl = d * self.scales[w / 16] as f32;
            *y = dl * q as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs 8 (scale, min) pairs the way llama.cpp's Q4_K quantizer does.
    fn pack_k4(pairs: [(u8, u8); 8]) -> [u8; 12] {
        let mut s = [0u8; 12];
        for (j, &(sc, m)) in pairs.iter().enumerate() {
            if j < 4 {
                s[j] = sc;
                s[j + 4] = m;
            } else {
                s[j + 4] = (sc & 0x0F) | ((m & 0x0F) << 4);
                s[j - 4] |= (sc >> 4) << 6;
                s[j] |= (m >> 4) << 6;
            }
        }
        s
    }

    #[test]
    fn k4_scale_min_round_trips() {
        let pairs = [
            (1, 63),
            (17, 2),
            (33, 40),
            (63, 0),
            (5, 62),
            (48, 31),
            (16, 47),
            (63, 63),
        ];
        let s = pack_k4(pairs);
        for (j, &p) in pairs.iter().enumerate() {
            assert_eq!(k4_scale_min(j, &s), p, "sub-block {j}");
        }
    }

    #[test]
    fn q3k_scale_unpacks_each_of_16() {
        // Pack scale i = (i * 5 + 3) % 64 with the layout the doc comment states.
        let want: Vec<u8> = (0..16).map(|i| ((i * 5 + 3) % 64) as u8).collect();
        let mut s = [0u8; 12];
        for (i, &v) in want.iter().enumerate() {
            s[i % 8] |= (v & 0x0F) << (4 * (i / 8));
            s[8 + i % 4] |= (v >> 4) << (2 * (i / 4));
        }
        for (i, &v) in want.iter().enumerate() {
            assert_eq!(q3k_scale(i, &s), v, "scale {i}");
        }
    }

    #[test]
    fn q6k_extremes() {
        let b = BlockQ6K {
            ql: [0xFF; 128],
            qh: [0xFF; 64],
            scales: [1; 16],
            d: f16::from_f32(1.0),
        };
        let mut y = [0.0; 256];
        b.dequantize(&mut y);
        assert!(y.iter().all(|&v| v == 31.0));
        let b = BlockQ6K {
            ql: [0; 128],
            qh: [0; 64],
            scales: [-2; 16],
            d: f16::from_f32(0.5),
        };
        b.dequantize(&mut y);
        assert!(y.iter().all(|&v| v == 32.0));
    }
}
