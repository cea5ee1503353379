// Gemma 4's per-layer input block on decode in one dispatch (llama.cpp
// `gemma4.cpp`): a = gelu(W_gate x) ⊙ up[t, up_offset ..] (the layer's
// per-layer input, P wide), then y = W_proj a (the block's output before its
// post-norm). With PENDING x is the residual stream with the FFN's post-norm
// add still to apply (common/matvec_x.wgsl).
//
// Every workgroup computes all of a (W_gate is P x dim: small) into
// workgroup memory, then its RPW rows of y: W_gate's bytes are read once per
// workgroup (from cache after the first) so that the block needs one
// dispatch, not two. W_gate is bound as w, W_proj as w1 (common/bytes.wgsl's
// part switch: `w_part` picks the matrix). Grid x = ceil(dim / RPW), z =
// token groups of TT.
#include "common/step.wgsl"
#include "common/act.wgsl"

struct Params {
    cols: u32,        // model dim (multiple of 32): W_gate's columns, W_proj's rows
    x_stride: u32,    // f32 elements between tokens in x (and xb, x_out)
    norm_off: u32,    // unused (no input norm)
    eps: f32,         // PENDING: the post-norm's epsilon
    width: u32,       // P (multiple of 32, <= MAX_P): W_gate's rows, W_proj's columns
    up_offset: u32,   // f32 offset of the layer's inputs in a token's row of up
    up_stride: u32,   // f32 elements between tokens in up
    y_stride: u32,    // f32 elements between tokens in y
    gate_kind: u32,   // W_gate's format (K_* in common/quant.wgsl)
    gate_row_bytes: u32,
    proj_kind: u32,
    proj_row_bytes: u32,
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;            // W_gate (P, gate_row_bytes / 4) raw GGUF blocks
// x: the residual stream.
#include "common/matvec_x.wgsl"
@group(0) @binding(4) var<storage, read> up: array<f32>;           // (n_tokens, up_stride) every layer's per-layer inputs
@group(0) @binding(5) var<storage, read_write> y: array<f32>;      // (n_tokens, y_stride)
@group(0) @binding(6) var<storage, read> w1: array<u32>;           // W_proj (dim, proj_row_bytes / 4) raw GGUF blocks

#include "common/bytes.wgsl"
#include "common/quant.wgsl"
#include "common/matvec_core.wgsl"

var<workgroup> a: array<f32, TT * MAX_P>;   // (TT, P) the gated activation

@compute @workgroup_size(WG_SIZE)
fn per_layer(@builtin(workgroup_id) wid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let g = linear_group(wid, nwg);
    let lane = lid % TPR;
    let t0 = wid.z * TT;
    let nt = min(TT, step.n_tokens - min(t0, step.n_tokens));
#ifdef PENDING
    pending_prologue(lid, t0, nt, g == 0u);
#endif
    // a: all P rows of the gate, RPW at a time.
    w_part = 0u;
    for (var r0 = 0u; r0 < p.width; r0 += RPW) {
        let r = r0 + lid / TPR;
        row_partial(p.gate_kind, min(r, p.width - 1u) * p.gate_row_bytes, lane, t0, nt);
        reduce_lanes(lid);
        if (lane == 0u && r < p.width) {
            for (var t = 0u; t < TT; t++) {
                if (t < nt) {
                    a[t * MAX_P + r] = gelu_tanh(acc[t]) * up[(t0 + t) * p.up_stride + p.up_offset + r];
                }
            }
        }
    }
    workgroupBarrier();
    // This workgroup's rows of y = W_proj a.
    w_part = 1u;
    let row = g * RPW + lid / TPR;
    let rb = min(row, p.cols - 1u) * p.proj_row_bytes;
    for (var t = 0u; t < TT; t++) {
        acc[t] = 0.0;
    }
    for (var c = lane; c < p.width / 32u; c += TPR) {
        load_chunk_of(p.proj_kind, rb, c);
        for (var t = 0u; t < TT; t++) {
            if (t < nt) {
                let ab = t * MAX_P + c * 32u;
                var s = 0.0;
                for (var i = 0u; i < 8u; i++) {
                    let j = ab + 4u * i;
                    s += dot(cv[i], vec4<f32>(a[j], a[j + 1u], a[j + 2u], a[j + 3u]));
                }
                acc[t] += s;
            }
        }
    }
    reduce_lanes(lid);
    if (lane == 0u && row < p.cols) {
        for (var t = 0u; t < TT; t++) {
            if (t < nt) {
                y[(t0 + t) * p.y_stride + row] = acc[t];
            }
        }
    }
}
