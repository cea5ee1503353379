// Appends this step's keys and values to the layer's KV cache: position
// pos0 + t goes to slot (pos0 + t) % ctx. A cache as long as the context is
// written in order; a shorter one (sliding-window layers) is a ring.
// With F16 the cache holds f16 (as llama.cpp's default cache does).
#include "common/step.wgsl"

#include "common/kv.wgsl"

struct Params {
    kv_dim: u32,   // n_kv_heads * head_dim
    ctx: u32,      // cache capacity in positions (slots)
    _pad0: u32,
    _pad1: u32,
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> k: array<f32>;               // (n_tokens, kv_dim)
@group(0) @binding(3) var<storage, read> v: array<f32>;               // (n_tokens, kv_dim)
@group(0) @binding(4) var<storage, read_write> k_cache: array<kv_t>;  // (ctx, kv_dim) by slot
@group(0) @binding(5) var<storage, read_write> v_cache: array<kv_t>;  // (ctx, kv_dim) by slot

@compute @workgroup_size(WG_SIZE)
fn kv_store(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y;
    let i = gid.x;
    if (t >= step.n_tokens || i >= p.kv_dim) {
        return;
    }
    let slot = (step.pos0 + t) % p.ctx;
    k_cache[slot * p.kv_dim + i] = kv_t(k[t * p.kv_dim + i]);
    v_cache[slot * p.kv_dim + i] = kv_t(v[t * p.kv_dim + i]);
}
