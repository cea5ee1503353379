// Dequantize one 32-weight chunk of a weight row into registers.
//
// `load_chunk_of(kind, rb, c)` fills `cv` with weights [32c, 32c+32) of the
// row whose first byte is `rb` in `w`, stored in format `kind` (a `K_*`
// constant). The format blocks compiled in are those whose `W_*` flag the
// pipeline sets (`weight_defines` in src/kernels/mod.rs): one for most
// kernels, several for a fused kernel whose packed weights mix formats (the
// q|k|v rows of a Q4_K_M layer: Q4_K queries, Q6_K values). `kind` is uniform
// across a workgroup, so the branch below costs no divergence.
// Dequantization runs in f32 on both precision paths: f16 arithmetic here moved
// the tiny Q5_1 model's logits 0.025 from llama.cpp's (f32: 0.009) and buys
// nothing in decode, which is bound by memory, not arithmetic.

alias dq = f32;

var<private> cv: array<vec4<dq>, 8>;   // the chunk: weights 4i..4i+3 in cv[i]

#ifdef W_F32
fn load_f32(rb: u32, c: u32) {       // 32 x f32 = 128 bytes
    let b = (rb + c * 128u) >> 2u;
    for (var i = 0u; i < 8u; i++) {
        let o = b + 4u * i;
        cv[i] = vec4<dq>(bitcast<vec4<f32>>(vec4<u32>(w_word(o), w_word(o + 1u), w_word(o + 2u), w_word(o + 3u))));
    }
}
#endif

#ifdef W_F16
fn load_f16(rb: u32, c: u32) {       // 32 x f16 = 64 bytes
    let b = (rb + c * 64u) >> 2u;
    for (var i = 0u; i < 8u; i++) {
        let o = b + 2u * i;
        cv[i] = vec4<dq>(vec4<f32>(unpack2x16float(w_word(o)), unpack2x16float(w_word(o + 1u))));
    }
}
#endif

#ifdef W_BF16
fn load_bf16(rb: u32, c: u32) {       // 32 x bf16 = 64 bytes: the top half of an f32
    let b = (rb + c * 64u) >> 2u;
    for (var i = 0u; i < 8u; i++) {
        let a = w_word(b + 2u * i);
        let e = w_word(b + 2u * i + 1u);
        cv[i] = vec4<dq>(bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, e << 16u, e & 0xffff0000u)));
    }
}
#endif

#ifdef W_Q8_0
fn load_q8_0(rb: u32, c: u32) {       // block: d f16, qs[32] i8 (34 bytes); w = d * q
    let b = rb + c * 34u;
    let d = dq(w_f16(b));
    w_u32_run(b + 2u, 8u);
    for (var i = 0u; i < 8u; i++) {
        cv[i] = vec4<dq>(sbytes4(wrun[i])) * d;
    }
}
#endif

#ifdef W_Q4_0
fn load_q4_0(rb: u32, c: u32) {       // block: d f16, qs[16] (18 bytes); low nibbles are weights 0..15, high 16..31; w = d * (q - 8)
    let b = rb + c * 18u;
    let d = dq(w_f16(b));
    w_u32_run(b + 2u, 4u);
    for (var i = 0u; i < 4u; i++) {
        let q = wrun[i];
        cv[i] = (vec4<dq>(nib_lo(q)) - dq(8.0)) * d;
        cv[i + 4u] = (vec4<dq>(nib_hi(q)) - dq(8.0)) * d;
    }
}
#endif

#ifdef W_Q4_1
fn load_q4_1(rb: u32, c: u32) {       // block: d f16, m f16, qs[16] (20 bytes); w = d * q + m
    let b = rb + c * 20u;
    let dm = vec2<dq>(w_f16x2(b));   // 20-byte blocks: b is a multiple of 4
    let d = dm.x;
    let m = dm.y;
    for (var i = 0u; i < 4u; i++) {
        let q = w_u32a(b + 4u + 4u * i);
        cv[i] = vec4<dq>(nib_lo(q)) * d + m;
        cv[i + 4u] = vec4<dq>(nib_hi(q)) * d + m;
    }
}
#endif

#ifdef W_Q5_0
fn load_q5_0(rb: u32, c: u32) {       // block: d f16, qh u32 (5th bits), qs[16] (22 bytes); w = d * (q - 16)
    let b = rb + c * 22u;
    let d = dq(w_f16(b));
    w_u32_run(b + 2u, 5u);   // qh, then qs
    let qh = wrun[0];
    for (var i = 0u; i < 4u; i++) {
        let q = wrun[i + 1u];
        let sh = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
        let hl = ((vec4<u32>(qh) >> sh) & vec4<u32>(1u)) << vec4<u32>(4u);
        let hh = ((vec4<u32>(qh) >> (sh + vec4<u32>(16u))) & vec4<u32>(1u)) << vec4<u32>(4u);
        cv[i] = (vec4<dq>(nib_lo(q) | hl) - dq(16.0)) * d;
        cv[i + 4u] = (vec4<dq>(nib_hi(q) | hh) - dq(16.0)) * d;
    }
}
#endif

#ifdef W_Q5_1
fn load_q5_1(rb: u32, c: u32) {       // block: d f16, m f16, qh u32, qs[16] (24 bytes); w = d * q + m
    let b = rb + c * 24u;
    let dm = vec2<dq>(w_f16x2(b));   // 24-byte blocks: b is a multiple of 4
    let d = dm.x;
    let m = dm.y;
    let qh = w_u32a(b + 4u);
    for (var i = 0u; i < 4u; i++) {
        let q = w_u32a(b + 8u + 4u * i);
        let sh = vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
        let hl = ((vec4<u32>(qh) >> sh) & vec4<u32>(1u)) << vec4<u32>(4u);
        let hh = ((vec4<u32>(qh) >> (sh + vec4<u32>(16u))) & vec4<u32>(1u)) << vec4<u32>(4u);
        cv[i] = vec4<dq>(nib_lo(q) | hl) * d + m;
        cv[i + 4u] = vec4<dq>(nib_hi(q) | hh) * d + m;
    }
}
#endif

#ifdef W_Q6_K
// Super-block of 256 weights (210 bytes): ql[128] low 4 bits, qh[64] high 2
// bits, scales[16] i8, d f16. Weights come in two halves of 128; within a half,
// quarter j (32 weights) takes ql nibble (j >> 1) at offset (j & 1) * 32, qh
// bits 2j, and scale 2j (+1 for its second 16 weights). w = d * scale * (q - 32).
fn load_q6_k(rb: u32, c: u32) {
    let b = rb + (c >> 3u) * 210u;
    let k = c & 7u;
    let n = k >> 2u;
    let j = k & 3u;
    let d = w_f16(b + 208u);
    let s0 = dq(d * f32(w_i8(b + 192u + n * 8u + 2u * j)));
    let s1 = dq(d * f32(w_i8(b + 192u + n * 8u + 2u * j + 1u)));
    w_u32_run(b + n * 64u + (j & 1u) * 32u, 8u);
    let qls = wrun;
    w_u32_run(b + 128u + n * 32u, 8u);
    for (var i = 0u; i < 8u; i++) {
        let ql = qls[i];
        let qh = wrun[i];
        let lo = select(nib_lo(ql), nib_hi(ql), (j >> 1u) == 1u);
        let hi = (bytes4(qh) >> vec4<u32>(2u * j)) & vec4<u32>(3u);
        let q = vec4<dq>(lo | (hi << vec4<u32>(4u))) - dq(32.0);
        cv[i] = q * select(s0, s1, i >= 4u);
    }
}
#endif

// ---- K-quant helpers: compiled into every variant (unused ones cost nothing),
// because the preprocessor has no `#if A || B` to share them between formats.

fn w_u8(b: u32) -> u32 {
    return (w_word(b >> 2u) >> ((b & 3u) * 8u)) & 0xffu;
}

// (scale, min) of sub-block j (0..8) from Q4_K/Q5_K's 12 packed bytes at `s`:
// bytes 0..4 hold scales 0..3 in their low 6 bits, bytes 4..8 mins 0..3;
// scales/mins 4..7 take their low 4 bits from the low/high nibbles of bytes
// 8..12 and their top 2 bits from the top bits of bytes 0..4 / 4..8.
fn k4_scale_min(s: u32, j: u32) -> vec2<u32> {
    if (j < 4u) {
        return vec2<u32>(w_u8(s + j), w_u8(s + 4u + j)) & vec2<u32>(63u);
    }
    let lo = w_u8(s + j - 4u);
    let mid = w_u8(s + j);
    let hi = w_u8(s + j + 4u);
    return vec2<u32>((hi & 15u) | ((lo >> 6u) << 4u), (hi >> 4u) | ((mid >> 6u) << 4u));
}

#ifdef W_Q4_K
// Super-block of 256 weights (144 bytes): d f16, dmin f16, scales[12] (8 x
// 6-bit scale and min, see k4_scale_min), qs[128]. Sub-block j (32 weights) is
// the low nibbles (j even) or high nibbles (j odd) of qs[32 * (j >> 1) ..][..32].
// w = d * scale * q - dmin * min.
fn load_q4_k(rb: u32, c: u32) {
    let b = rb + (c >> 3u) * 144u;
    let j = c & 7u;
    let sm = k4_scale_min(b + 4u, j);
    let dmin = w_f16x2(b);   // d, dmin; 144-byte blocks: b is a multiple of 4
    let d = dq(dmin.x * f32(sm.x));
    let m = dq(dmin.y * f32(sm.y));
    for (var i = 0u; i < 8u; i++) {
        let q = w_u32a(b + 16u + (j >> 1u) * 32u + 4u * i);
        let n = select(nib_lo(q), nib_hi(q), (j & 1u) == 1u);
        cv[i] = vec4<dq>(n) * d - m;
    }
}
#endif

#ifdef W_Q5_K
// Super-block of 256 weights (176 bytes): d f16, dmin f16, scales[12] (as
// Q4_K), qh[32], qs[128] (low 4 bits, as Q4_K). Bit j of qh[l] is the 5th bit
// of weight l of sub-block j. w = d * scale * q - dmin * min.
fn load_q5_k(rb: u32, c: u32) {
    let b = rb + (c >> 3u) * 176u;
    let j = c & 7u;
    let sm = k4_scale_min(b + 4u, j);
    let dmin = w_f16x2(b);   // d, dmin; 176-byte blocks: b is a multiple of 4
    let d = dq(dmin.x * f32(sm.x));
    let m = dq(dmin.y * f32(sm.y));
    for (var i = 0u; i < 8u; i++) {
        let q = w_u32a(b + 48u + (j >> 1u) * 32u + 4u * i);
        let lo = select(nib_lo(q), nib_hi(q), (j & 1u) == 1u);
        let hi = (bytes4(w_u32a(b + 16u + 4u * i)) >> vec4<u32>(j)) & vec4<u32>(1u);
        cv[i] = vec4<dq>(lo | (hi << vec4<u32>(4u))) * d - m;
    }
}
#endif

#ifdef W_Q2_K
// Super-block of 256 weights (84 bytes): scales[16] (low nibble scale, high
// nibble min, per 16 weights), qs[64], d f16, dmin f16. Weights come in two
// halves of 128; within a half, quarter j (32 weights) is bits 2j..2j+1 of
// qs[32 * half ..][..32]. w = d * scale * q - dmin * min.
fn load_q2_k(rb: u32, c: u32) {
    let b = rb + (c >> 3u) * 84u;
    let k = c & 7u;
    let d = w_f16(b + 80u);
    let dmin = w_f16(b + 82u);
    let s0 = w_u8(b + 2u * k);
    let s1 = w_u8(b + 2u * k + 1u);
    let d0 = dq(d * f32(s0 & 15u));
    let d1 = dq(d * f32(s1 & 15u));
    let m0 = dq(dmin * f32(s0 >> 4u));
    let m1 = dq(dmin * f32(s1 >> 4u));
    for (var i = 0u; i < 8u; i++) {
        let qs = w_u32a(b + 16u + (k >> 2u) * 32u + 4u * i);
        let q = vec4<dq>((bytes4(qs) >> vec4<u32>(2u * (k & 3u))) & vec4<u32>(3u));
        cv[i] = select(q * d0 - m0, q * d1 - m1, i >= 4u);
    }
}
#endif

#ifdef W_Q3_K
// Super-block of 256 weights (110 bytes): hmask[32], qs[64] (low 2 bits, laid
// out as Q2_K's), scales[12] (16 x 6-bit, see q3k_scale), d f16. Bit k of
// hmask[l] is the high bit of weight l of chunk k: clear means q - 4.
// w = d * (scale - 32) * q, q in -4..3.
fn q3k_scale(s: u32, i: u32) -> dq {
    let lo = (w_u8(s + (i & 7u)) >> (4u * (i >> 3u))) & 15u;
    let hi = (w_u8(s + 8u + (i & 3u)) >> (2u * (i >> 2u))) & 3u;
    return dq(i32(lo | (hi << 4u)) - 32);
}

fn load_q3_k(rb: u32, c: u32) {
    let b = rb + (c >> 3u) * 110u;
    let k = c & 7u;
    let d = dq(w_f16(b + 108u));
    let d0 = d * q3k_scale(b + 96u, 2u * k);
    let d1 = d * q3k_scale(b + 96u, 2u * k + 1u);
    w_u32_run(b + 32u + (k >> 2u) * 32u, 8u);
    let qss = wrun;
    w_u32_run(b, 8u);   // hmask
    for (var i = 0u; i < 8u; i++) {
        let qs = qss[i];
        let lo = (bytes4(qs) >> vec4<u32>(2u * (k & 3u))) & vec4<u32>(3u);
        let hm = (bytes4(wrun[i]) >> vec4<u32>(k)) & vec4<u32>(1u);
        let q = vec4<dq>(vec4<i32>(lo) - 4 * vec4<i32>(1u - hm));
        cv[i] = q * select(d0, d1, i >= 4u);
    }
}
#endif

// ---- IQ4 helper: the 16 non-uniform levels of IQ4_NL / IQ4_XS.
const KVALUES_IQ4NL = array<f32, 16>(-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                     1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

fn iq4_levels(n: vec4<u32>) -> vec4<dq> {
    return vec4<dq>(KVALUES_IQ4NL[n.x], KVALUES_IQ4NL[n.y], KVALUES_IQ4NL[n.z], KVALUES_IQ4NL[n.w]);
}

#ifdef W_IQ4_NL
fn load_iq4_nl(rb: u32, c: u32) {       // block: d f16, qs[16] (18 bytes), nibbles as Q4_0; w = d * KVALUES_IQ4NL[q]
    let b = rb + c * 18u;
    let d = dq(w_f16(b));
    w_u32_run(b + 2u, 4u);
    for (var i = 0u; i < 4u; i++) {
        let q = wrun[i];
        cv[i] = iq4_levels(nib_lo(q)) * d;
        cv[i + 4u] = iq4_levels(nib_hi(q)) * d;
    }
}
#endif

#ifdef W_IQ4_XS
// Super-block of 256 weights (136 bytes): d f16, scales_h u16 (top 2 bits of
// sub-block scale j at bits 2j), scales_l[4] (low 4 bits: nibble j & 1 of byte
// j >> 1), qs[128] (sub-block j: bytes 16j.., nibbles as IQ4_NL).
// w = d * (scale - 32) * KVALUES_IQ4NL[q].
fn load_iq4_xs(rb: u32, c: u32) {
    let b = rb + (c >> 3u) * 136u;
    let j = c & 7u;
    let lo = (w_u8(b + 4u + (j >> 1u)) >> (4u * (j & 1u))) & 15u;
    let hi = (w_u16(b + 2u) >> (2u * j)) & 3u;
    let d = dq(w_f16(b) * f32(i32(lo | (hi << 4u)) - 32));
    for (var i = 0u; i < 4u; i++) {
        let q = w_u32a(b + 8u + 16u * j + 4u * i);
        cv[i] = iq4_levels(nib_lo(q)) * d;
        cv[i + 4u] = iq4_levels(nib_hi(q)) * d;
    }
}
#endif

fn load_chunk_of(kind: u32, rb: u32, c: u32) {
#ifdef W_F32
    if (kind == K_F32) {
        load_f32(rb, c);
        return;
    }
#endif
#ifdef W_F16
    if (kind == K_F16) {
        load_f16(rb, c);
        return;
    }
#endif
#ifdef W_BF16
    if (kind == K_BF16) {
        load_bf16(rb, c);
        return;
    }
#endif
#ifdef W_Q8_0
    if (kind == K_Q8_0) {
        load_q8_0(rb, c);
        return;
    }
#endif
#ifdef W_Q4_0
    if (kind == K_Q4_0) {
        load_q4_0(rb, c);
        return;
    }
#endif
#ifdef W_Q4_1
    if (kind == K_Q4_1) {
        load_q4_1(rb, c);
        return;
    }
#endif
#ifdef W_Q5_0
    if (kind == K_Q5_0) {
        load_q5_0(rb, c);
        return;
    }
#endif
#ifdef W_Q5_1
    if (kind == K_Q5_1) {
        load_q5_1(rb, c);
        return;
    }
#endif
#ifdef W_Q6_K
    if (kind == K_Q6_K) {
        load_q6_k(rb, c);
        return;
    }
#endif
#ifdef W_Q4_K
    if (kind == K_Q4_K) {
        load_q4_k(rb, c);
        return;
    }
#endif
#ifdef W_Q5_K
    if (kind == K_Q5_K) {
        load_q5_k(rb, c);
        return;
    }
#endif
#ifdef W_Q2_K
    if (kind == K_Q2_K) {
        load_q2_k(rb, c);
        return;
    }
#endif
#ifdef W_Q3_K
    if (kind == K_Q3_K) {
        load_q3_k(rb, c);
        return;
    }
#endif
#ifdef W_IQ4_NL
    if (kind == K_IQ4_NL) {
        load_iq4_nl(rb, c);
        return;
    }
#endif
#ifdef W_IQ4_XS
    if (kind == K_IQ4_XS) {
        load_iq4_xs(rb, c);
        return;
    }
#endif
}
