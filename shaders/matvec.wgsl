// Dequantize-matmul: y[t, y_offset + r] = sum_c W[r, c] * x[t, c] (or += with
// `accumulate`, which folds a residual add into the projection).
// Decode is the n_tokens = 1 case; for prefill each workgroup multiplies every
// dequantized chunk against up to TT tokens, so weights are read once per TT
// tokens. Weights stay quantized in memory and are dequantized in registers.
#include "common/step.wgsl"

struct Params {
    rows: u32,       // output rows in this binding of W
    cols: u32,       // inner dimension (multiple of 32)
    row_bytes: u32,  // bytes per row of W
    x_stride: u32,   // f32 elements between tokens in x (multiple of 4)
    y_stride: u32,   // f32 elements between tokens in y
    y_offset: u32,   // first output column written (row range of a split tensor)
    last_only: u32,  // 1: only the step's last token, written to y row 0 (logits)
    accumulate: u32, // 1: y += W x instead of y = W x
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;            // (rows, row_bytes / 4) raw GGUF blocks
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;      // (n_tokens, x_stride / 4)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // (n_tokens or 1, y_stride)

#include "common/bytes.wgsl"
#include "common/quant.wgsl"

const RPW: u32 = WG_SIZE / TPR;    // rows per workgroup
const TT: u32 = 8u;                // tokens per workgroup (grid z)
var<workgroup> partial: array<f32, WG_SIZE * TT>;   // (TT, WG_SIZE)

// Each (token, row) is written by exactly one invocation, so += is race-free.
fn store(t: u32, row: u32, v: f32) {
    let o = t * p.y_stride + p.y_offset + row;
    if (p.accumulate == 1u) {
        y[o] += v;
    } else {
        y[o] = v;
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
    var acc: array<f32, TT>;
    if (row < p.rows) {
        let rb = row * p.row_bytes;
        let xs = p.x_stride / 4u;
        for (var c = lane; c < p.cols / 32u; c += TPR) {
            load_chunk(rb, c);
            for (var t = 0u; t < nt; t++) {
                let xb = (t0 + t) * xs + c * 8u;
                var s = 0.0;
                for (var i = 0u; i < 8u; i++) {
                    s += dot(vec4<f32>(cv[i]), x[xb + i]);
                }
                acc[t] += s;
            }
        }
    }
    if (TPR == 1u) {
        // One thread per row (CPU adapters): no reduction, no barrier.
        if (row < p.rows) {
            for (var t = 0u; t < nt; t++) {
                store(select(t0 + t, 0u, p.last_only == 1u), row, acc[t]);
            }
        }
        return;
    }
    for (var t = 0u; t < TT; t++) {
        partial[t * WG_SIZE + lid] = acc[t];
    }
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            for (var t = 0u; t < nt; t++) {
                partial[t * WG_SIZE + lid] += partial[t * WG_SIZE + lid + s];
            }
        }
        workgroupBarrier();
    }
    if (lane == 0u && row < p.rows) {
        for (var t = 0u; t < nt; t++) {
            store(select(t0 + t, 0u, p.last_only == 1u), row, partial[t * WG_SIZE + lid]);
        }
    }
}
