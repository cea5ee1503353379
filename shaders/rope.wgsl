// Rotary position embedding, in place, for every head of every token.
// Normal layout rotates pairs (2i, 2i+1) (Llama); NeoX rotates (i, i + n_rot/2)
// (Qwen, Gemma). Dimensions past n_rot are left alone.
#include "common/step.wgsl"
#include "common/rope.wgsl"

struct Params {
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,       // rotated dimensions per head (even, <= head_dim)
    stride: u32,      // f32 elements between tokens
    freq_base: f32,
    freq_scale: f32,  // positions are multiplied by this (linear scaling)
    mscale: f32,      // rotated pairs are multiplied by this (llama.cpp's attn_factor)
    _pad1: u32,
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;   // (n_tokens, stride): heads of head_dim
#ifdef FREQ_FACTORS
// Llama 3.1+ `rope_freqs.weight`: the angle of pair i is divided by factor i.
@group(0) @binding(3) var<storage, read> freq_factors: array<f32>;  // (n_rot / 2)
#endif

@compute @workgroup_size(WG_SIZE)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y;
    let half = p.n_rot / 2u;
    if (t >= step.n_tokens || gid.x >= p.n_heads * half) {
        return;
    }
    let h = gid.x / half;
    let i = gid.x % half;
    var theta = rope_theta(step.pos0 + t, i, p.n_rot, p.freq_base, p.freq_scale);
#ifdef FREQ_FACTORS
    theta = theta / freq_factors[i];
#endif
    let cs = cos(theta) * p.mscale;
    let sn = sin(theta) * p.mscale;
    let base = t * p.stride + h * p.head_dim;
    let ab = rope_pair(i, p.n_rot);
    let a = base + ab.x;
    let b = base + ab.y;
    let x0 = v[a];
    let x1 = v[b];
    v[a] = x0 * cs - x1 * sn;
    v[b] = x0 * sn + x1 * cs;
}
