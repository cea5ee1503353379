// Per-head strided copies between activation rows (src/kernels/heads.rs).
//   copy_heads:         dst[t, h, i] = src[t, h, i]
//   sigmoid_gate_heads: dst[t, h, i] = dst[t, h, i] * sigmoid(src[t, h, i])
// where x[t, h, i] is element x_offset + t * x_stride + h * x_head_stride + i,
// h < n_heads, i < width.
#include "common/step.wgsl"
#include "common/act.wgsl"

struct Params {
    n_heads: u32,
    width: u32,
    dst_offset: u32,
    dst_head_stride: u32,
    dst_stride: u32,
    src_offset: u32,
    src_head_stride: u32,
    src_stride: u32,
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> src: array<f32>;

// (dst index, src index), or 0xffffffff outside the step.
fn indices(gid: vec3<u32>) -> vec2<u32> {
    if (gid.y >= step.n_tokens || gid.x >= p.n_heads * p.width) {
        return vec2<u32>(0xffffffffu, 0u);
    }
    let h = gid.x / p.width;
    let i = gid.x % p.width;
    return vec2<u32>(
        p.dst_offset + gid.y * p.dst_stride + h * p.dst_head_stride + i,
        p.src_offset + gid.y * p.src_stride + h * p.src_head_stride + i,
    );
}

@compute @workgroup_size(WG_SIZE)
fn copy_heads(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ix = indices(gid);
    if (ix.x == 0xffffffffu) {
        return;
    }
    dst[ix.x] = src[ix.y];
}

@compute @workgroup_size(WG_SIZE)
fn sigmoid_gate_heads(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ix = indices(gid);
    if (ix.x == 0xffffffffu) {
        return;
    }
    dst[ix.x] = dst[ix.x] * sigmoid(src[ix.y]);
}
