// Dequantize-matmul: y[t, y_offset + r] = sum_c W[r, c] * x[t, c] (or += with
// `accumulate`, which folds a residual add into the projection). With NORM_X
// the input is RMSNorm(x) * g (the output head's final norm folded in); with
// SOFTCAP the result is cap * tanh(y / cap) (Gemma's final logit soft-cap).
// Decode runs the TT = 1 variant; for prefill each workgroup multiplies every
// dequantized chunk against up to TT tokens, so weights are read once per TT
// tokens. Weights stay quantized in memory and are dequantized in registers.
// With PENDING x is the residual stream with a post-norm add still to apply
// (common/matvec_x.wgsl: the output head after Gemma's last post-norm).
#include "common/step.wgsl"

struct Params {
    rows: u32,       // output rows in the bindings of W this op reads
    cols: u32,       // inner dimension (multiple of 32)
    row_bytes: u32,  // bytes per row of W
    x_stride: u32,   // f32 elements between tokens in x (multiple of 4)
    y_stride: u32,   // f32 elements between tokens in y
    y_offset: u32,   // first output column written (row range of a split tensor)
    last_only: u32,  // 1: only the step's last token, written to y row 0 (logits)
    accumulate: u32, // 1: y += W x instead of y = W x
    kind: u32,       // weight format (K_* in common/quant.wgsl)
    norm_off: u32,   // NORM_X: vec4 index of the norm weight in vecs
    eps: f32,        // NORM_X: RMSNorm epsilon
    softcap: f32,    // SOFTCAP: the cap
    part_start: vec4<u32>, // W_PART1..: first row (relative to y_offset) held by w, w1, w2, w3
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;            // (rows, row_bytes / 4) raw GGUF blocks
#include "common/matvec_x.wgsl"
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // (n_tokens or 1, y_stride)
#ifdef NORM_X
#ifdef G_UNIFORM
@group(0) @binding(5) var<uniform> vecs: array<vec4<f32>, G_UNIFORM_VECS>;  // (cols / 4) norm weight, a uniform window as x's
#else
@group(0) @binding(5) var<storage, read> vecs: array<vec4<f32>>;   // (cols / 4 at norm_off) norm weight
#endif
#endif
#include "common/weight_parts.wgsl"

#include "common/bytes.wgsl"
#include "common/quant.wgsl"
#include "common/matvec_core.wgsl"

// Each (token, row) is written by exactly one invocation, so += is race-free.
fn store(t: u32, row: u32, v: f32) {
    let o = t * p.y_stride + p.y_offset + row;
    var r = v;
#ifdef SOFTCAP
    r = p.softcap * tanh(clamp(v / p.softcap, -15.0, 15.0));
#endif

    if (p.accumulate == 1u) {
        y[o] += r;
    } else {
        y[o] = r;
    }
}

@compute @workgroup_size(WG_SIZE)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let row = linear_group(wid, nwg) * RPW + lid / TPR;
    let lane = lid % TPR;
    var t0 = wid.z * TT;
    var nt = min(TT, step.n_tokens - min(t0, step.n_tokens));
    if (p.last_only == 1u) {
        t0 = step.n_tokens - 1u;
        nt = 1u;
    }
#ifdef PENDING
    pending_prologue(lid, t0, nt, linear_group(wid, nwg) == 0u);
#endif
#ifdef NORM_X
    norm_prologue(lid, t0, nt);
#endif
    // Rows past the end compute a copy of the last row and store nothing, so
    // every invocation reaches the reduction.
    let r = min(row, p.rows - 1u);
    row_partial(p.kind, (r - select_part(r, p.part_start)) * p.row_bytes, lane, t0, nt);
    reduce_lanes(lid);
    if (lane == 0u && row < p.rows) {
        for (var t = 0u; t < TT; t++) {
            if (t < nt) {
                store(select(t0 + t, 0u, p.last_only == 1u), row, acc[t]);
            }
        }
    }
}
