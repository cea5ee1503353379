// The rotary angle of dimension pair i (0 <= i < n_rot / 2) at position pos:
// pos * freq_scale * freq_base^(-2i / n_rot) (RoFormer; linear scaling by
// freq_scale). Llama 3.1+ frequency factors divide it further (callers).
fn rope_theta(pos: u32, i: u32, n_rot: u32, freq_base: f32, freq_scale: f32) -> f32 {
    return f32(pos) * freq_scale * pow(freq_base, -f32(2u * i) / f32(n_rot));
}

// Offsets of pair i within a head: (i, i + n_rot / 2) for NeoX (Qwen, Gemma),
// (2i, 2i + 1) otherwise (Llama).
fn rope_pair(i: u32, n_rot: u32) -> vec2<u32> {
#ifdef NEOX
    return vec2<u32>(i, i + n_rot / 2u);
#else
    return vec2<u32>(2u * i, 2u * i + 1u);
#endif
}
