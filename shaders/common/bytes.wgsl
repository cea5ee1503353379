// Byte-level reads from the raw GGUF bytes of a weight tensor, bound by the
// including shader as `w: array<u32>`. GGUF blocks are not 4-byte aligned
// (Q4_0 blocks are 18 bytes), so reads go through these helpers.

fn w_u16(b: u32) -> u32 {            // b must be even
    return (w[b >> 2u] >> ((b & 2u) * 8u)) & 0xffffu;
}

fn w_u32(b: u32) -> u32 {            // any byte offset
    let s = (b & 3u) * 8u;
    let lo = w[b >> 2u];
    if (s == 0u) {
        return lo;
    }
    return (lo >> s) | (w[(b >> 2u) + 1u] << (32u - s));
}

fn w_f16(b: u32) -> f32 {
    return unpack2x16float(w_u16(b)).x;
}

fn w_i8(b: u32) -> i32 {
    let v = (w[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
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
