// RMSNorm: y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight * scale.
// Rows are tokens (rows_per_token = 1) or heads of tokens (QK norm). With
// NO_WEIGHT there is no weight (Gemma 4's V norm): weight is 1.
// With IN_PLACE, y is x: a buffer cannot be bound read and read_write in one
// dispatch, so the in-place variant binds x once, read_write. With ADD the
// result is added to y (Gemma's post-norms: residual += norm(projection)).
#include "common/step.wgsl"

struct Params {
    dim: u32,             // elements per row
    rows_per_token: u32,  // rows of `dim` in each token
    eps: f32,
    scale: f32,           // the normed row is multiplied by this (1 but for Gemma 4's per-layer inputs)
};
@group(0) @binding(1) var<uniform> p: Params;
#ifdef IN_PLACE
@group(0) @binding(2) var<storage, read_write> x: array<f32>;     // (n_tokens * rows_per_token, dim), overwritten
#ifndef NO_WEIGHT
@group(0) @binding(3) var<storage, read> weight: array<f32>;      // (dim)
#endif
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;           // (n_tokens * rows_per_token, dim)
@group(0) @binding(3) var<storage, read> weight: array<f32>;      // (dim)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;     // (n_tokens * rows_per_token, dim)
#endif

var<workgroup> sums: array<f32, WG_SIZE>;

@compute @workgroup_size(WG_SIZE)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (wid.y >= step.n_tokens) {
        return;
    }
    let base = (wid.y * p.rows_per_token + wid.x) * p.dim;
    var s = 0.0;
    for (var i = lid; i < p.dim; i += WG_SIZE) {
        let v = x[base + i];
        s += v * v;
    }
    sums[lid] = s;
    workgroupBarrier();
    for (var k = WG_SIZE / 2u; k > 0u; k >>= 1u) {
        if (lid < k) {
            sums[lid] += sums[lid + k];
        }
        workgroupBarrier();
    }
    let inv = inverseSqrt(sums[0] / f32(p.dim) + p.eps) * p.scale;
    // Each thread rewrites only the elements it reads here, so in place is safe.
    for (var i = lid; i < p.dim; i += WG_SIZE) {
#ifdef NO_WEIGHT
        let g = 1.0;
#else
        let g = weight[i];
#endif
#ifdef IN_PLACE
        x[base + i] = x[base + i] * inv * g;
#else
#ifdef ADD
        y[base + i] += x[base + i] * inv * g;
#else
        y[base + i] = x[base + i] * inv * g;
#endif
#endif
    }
}
