// LayerNorm in place, one row of `dim` per token, with weight and bias:
// x[t, :] = (x[t, :] - mean) / sqrt(mean((x[t, :] - mean)^2) + eps) * weight + bias
// (ggml_norm's two passes, mean then the centred variance, and llama.cpp's
// build_norm LLM_NORM: BERT's post-norms and embedding norm).
#include "common/step.wgsl"

struct Params {
    dim: u32,  // elements per row
    eps: f32,
    _pad0: u32,
    _pad1: u32,
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;  // (n_tokens, dim), overwritten
@group(0) @binding(3) var<storage, read> weight: array<f32>;   // (dim)
@group(0) @binding(4) var<storage, read> bias: array<f32>;     // (dim)

var<workgroup> sums: array<f32, WG_SIZE>;

// The sum over the workgroup of each invocation's `s`.
fn workgroup_sum(s: f32, lid: u32) -> f32 {
    sums[lid] = s;
    workgroupBarrier();
    for (var k = WG_SIZE / 2u; k > 0u; k >>= 1u) {
        if (lid < k) {
            sums[lid] += sums[lid + k];
        }
        workgroupBarrier();
    }
    let total = sums[0];
    // Every invocation has read the total before `sums` is reused.
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(WG_SIZE)
fn layernorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (wid.y >= step.n_tokens) {
        return;
    }
    let base = wid.y * p.dim;
    var s = 0.0;
    for (var i = lid; i < p.dim; i += WG_SIZE) {
        s += x[base + i];
    }
    let mean = workgroup_sum(s, lid) / f32(p.dim);
    var v = 0.0;
    for (var i = lid; i < p.dim; i += WG_SIZE) {
        let d = x[base + i] - mean;
        v += d * d;
    }
    let inv = inverseSqrt(workgroup_sum(v, lid) / f32(p.dim) + p.eps);
    // Each invocation rewrites only the elements it read, so in place is safe.
    for (var i = lid; i < p.dim; i += WG_SIZE) {
        x[base + i] = (x[base + i] - mean) * inv * weight[i] + bias[i];
    }
}
