// Byte-level reads from the raw GGUF bytes of a weight tensor, bound by the
// including shader as `w: array<u32>`. GGUF blocks are not 4-byte aligned
// (Q4_0 blocks are 18 bytes), so reads go through these helpers.
//
// A tensor split across bindings (larger than the device's binding limit)
// is bound as w, w1, w2, w3 (W_PART1..W_PART3), each holding whole rows; the
// kernel sets `w_part` before reading a row, and offsets are within that part.

#ifdef W_PART1
var<private> w_part: u32;
fn w_word(i: u32) -> u32 {
    switch (w_part) {
        case 1u: {
            return w1[i];
        }
#ifdef W_PART2
        case 2u: {
            return w2[i];
        }
#endif
#ifdef W_PART3
        case 3u: {
            return w3[i];
        }
#endif
        default: {
            return w[i];
        }
    }
}
#else
fn w_word(i: u32) -> u32 {
    return w[i];
}
#endif

fn w_u16(b: u32) -> u32 {            // b must be even
    return (w_word(b >> 2u) >> ((b & 2u) * 8u)) & 0xffffu;
}

fn w_u32(b: u32) -> u32 {            // any byte offset
    let s = (b & 3u) * 8u;
    let lo = w_word(b >> 2u);
    if (s == 0u) {
        return lo;
    }
    return (lo >> s) | (w_word((b >> 2u) + 1u) << (32u - s));
}

// A u32 at a byte offset that is a multiple of 4: one load. Formats whose
// blocks are a multiple of 4 bytes (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K, IQ4_XS)
// read their fields with this: rows and packed segments start 4-byte
// aligned (`PackedTensors::layout`), so their fields always are.
fn w_u32a(b: u32) -> u32 {
    return w_word(b >> 2u);
}

// w_u32 of n consecutive values (n <= 8, a constant) from byte b, into
// wrun[0..n]: n + 1 word loads where unaligned w_u32s take two each (blocks
// of 2 mod 4 bytes: Q8_0, Q4_0, Q5_0, IQ4_NL, Q3_K, Q6_K). No branch on the
// alignment, so lanes reading rows of different alignment do not diverge.
// The last word read may lie one past the values (bounds-checked like any
// read; its bits are discarded).
var<private> wrun: array<u32, 8>;
fn w_u32_run(b: u32, n: u32) {
    let s = (b & 3u) * 8u;
    var lo = w_word(b >> 2u);
    for (var i = 0u; i < n; i++) {
        let hi = w_word((b >> 2u) + i + 1u);
        wrun[i] = select((lo >> s) | (hi << ((32u - s) & 31u)), lo, s == 0u);
        lo = hi;
    }
}

// The two f16 at byte b (a multiple of 4) and b + 2, from one word.
fn w_f16x2(b: u32) -> vec2<f32> {
    return unpack2x16float(w_word(b >> 2u));
}

fn w_f16(b: u32) -> f32 {
    return unpack2x16float(w_u16(b)).x;
}

fn w_i8(b: u32) -> i32 {
    let v = (w_word(b >> 2u) >> ((b & 3u) * 8u)) & 0xffu;
    return i32(v) - select(0, 256, v >= 128u);
}

// The four bytes of q, as unsigned and as signed values.
fn bytes4(q: u32) -> vec4<u32> {
    return (vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
}
fn sbytes4(q: u32) -> vec4<i32> {
    return bitcast<vec4<i32>>(vec4<u32>(q) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
}
// Low and high nibbles of the four bytes of q.
fn nib_lo(q: u32) -> vec4<u32> {
    return (vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xfu);
}
fn nib_hi(q: u32) -> vec4<u32> {
    return (vec4<u32>(q) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(0xfu);
}
