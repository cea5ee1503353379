// The feed-forward block's input side in one dispatch: RMSNorm(x) * g, the
// gate and up projections (rows r of both, from one packed weight buffer;
// the two may use different formats), and the gated activation:
// y[t, r] = act(gate_r . xn) * (up_r . xn), act = SiLU (SWIGLU) or GELU-tanh
// (GEGLU, Gemma). With PENDING x is the residual stream with a post-norm add
// still to apply (common/matvec_x.wgsl).
#include "common/step.wgsl"
#include "common/act.wgsl"

struct Params {
    rows: u32,       // ffn_dim
    cols: u32,       // model dim (multiple of 32)
    x_stride: u32,   // f32 elements between tokens in x
    y_stride: u32,   // f32 elements between tokens in y
    norm_off: u32,   // vec4 index of ffn_norm in vecs
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    seg: array<vec4<u32>, 2>,   // gate, up: (format kind, first byte in w, bytes per row, 0)
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;            // gate rows | up rows, raw GGUF blocks
// x: the residual stream.
#include "common/matvec_x.wgsl"
#ifdef G_UNIFORM
@group(0) @binding(4) var<uniform> vecs: array<vec4<f32>, G_UNIFORM_VECS>;  // ffn_norm (cols / 4), a uniform window as x's
#else
@group(0) @binding(4) var<storage, read> vecs: array<vec4<f32>>;   // ffn_norm (cols / 4 at norm_off)
#endif
@group(0) @binding(5) var<storage, read_write> y: array<f32>;      // (n_tokens, y_stride) activated product

#include "common/bytes.wgsl"
#include "common/quant.wgsl"
#include "common/matvec_core.wgsl"

fn act(g: f32) -> f32 {
#ifdef GEGLU
    return gelu_tanh(g);
#else
    return silu(g);
#endif
}

@compute @workgroup_size(WG_SIZE)
fn ffn_gate_up(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = linear_group(wid, nwg) * RPW + lid / TPR;
    let lane = lid % TPR;
    let t0 = wid.z * TT;
    let nt = min(TT, step.n_tokens - min(t0, step.n_tokens));
#ifdef PENDING
    pending_prologue(lid, t0, nt, linear_group(wid, nwg) == 0u);
#endif
    norm_prologue(lid, t0, nt);
    let rr = min(row, p.rows - 1u);
    row_partial(p.seg[0].x, p.seg[0].y + rr * p.seg[0].z, lane, t0, nt);
    reduce_lanes(lid);
    var gate: array<f32, TT>;
    for (var t = 0u; t < TT; t++) {
        gate[t] = acc[t];
    }
    row_partial(p.seg[1].x, p.seg[1].y + rr * p.seg[1].z, lane, t0, nt);
    reduce_lanes(lid);
    if (lane == 0u && row < p.rows) {
        for (var t = 0u; t < TT; t++) {
            if (t < nt) {
                y[(t0 + t) * p.y_stride + row] = act(gate[t]) * acc[t];
            }
        }
    }
}
