// A block's input side in one dispatch: RMSNorm(x) * g, then up to four
// projections from one packed weight buffer (each in its own format), each
// into its own place: y_s[t, offset_s + r] = W_s[r] . xn[t] at stride_s in
// one of up to three output buffers (the Gated DeltaNet: q|k|v into Mix, z
// into Z, alpha and beta side by side into Gates).
//
// Each projection's rows start on a workgroup of their own (out[s].w is the
// first workgroup of projection s), so a workgroup reads one format and
// writes one buffer; grid x = sum over s of ceil(rows_s / RPW), z = token
// groups of TT.
#include "common/step.wgsl"

struct Params {
    cols: u32,       // model dim (multiple of 32)
    x_stride: u32,   // f32 elements between tokens in x
    norm_off: u32,   // vec4 index of the norm weight in vecs
    eps: f32,
    n_seg: u32,      // projections (1..=4)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    seg: array<vec4<u32>, 4>,   // (format kind, first byte in w, bytes per row, rows)
    out: array<vec4<u32>, 4>,   // (output buffer 0..2, f32 offset in a token's row, f32 between tokens, first workgroup)
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;            // the projections' rows back to back, raw GGUF blocks
// x: the residual stream.
#include "common/matvec_x.wgsl"
#ifdef G_UNIFORM
@group(0) @binding(4) var<uniform> vecs: array<vec4<f32>, G_UNIFORM_VECS>;  // the norm weight (cols / 4), a uniform window as x's
#else
@group(0) @binding(4) var<storage, read> vecs: array<vec4<f32>>;   // the norm weight (cols / 4 at norm_off)
#endif
@group(0) @binding(5) var<storage, read_write> y0: array<f32>;     // (n_tokens, out stride) each
#ifdef OUT_1
@group(0) @binding(6) var<storage, read_write> y1: array<f32>;
#endif
#ifdef OUT_2
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;
#endif

#include "common/bytes.wgsl"
#include "common/quant.wgsl"
#include "common/matvec_core.wgsl"

fn store(buf: u32, i: u32, v: f32) {
    if (buf == 0u) {
        y0[i] = v;
    }
#ifdef OUT_1
    if (buf == 1u) {
        y1[i] = v;
    }
#endif
#ifdef OUT_2
    if (buf == 2u) {
        y2[i] = v;
    }
#endif
}

@compute @workgroup_size(WG_SIZE)
fn norm_projections(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let g = linear_group(wid, nwg);
    // The projection this workgroup computes (uniform across it).
    var s = 0u;
    for (var i = 1u; i < p.n_seg; i++) {
        if (g >= p.out[i].w) {
            s = i;
        }
    }
    let sg = p.seg[s];
    let o = p.out[s];
    let row = (g - o.w) * RPW + lid / TPR;
    let lane = lid % TPR;
    let t0 = wid.z * TT;
    let nt = min(TT, step.n_tokens - min(t0, step.n_tokens));
    norm_prologue(lid, t0, nt);
    row_partial(sg.x, sg.y + min(row, sg.w - 1u) * sg.z, lane, t0, nt);
    reduce_lanes(lid);
    if (lane == 0u && row < sg.w) {
        for (var t = 0u; t < TT; t++) {
            if (t < nt) {
                store(o.x, (t0 + t) * o.z + o.y + row, acc[t]);
            }
        }
    }
}
