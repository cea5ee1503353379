// Causal attention for prefill steps on CPU adapters: the result of
// flash_attention.wgsl (and attention.wgsl), shaped as gemm_token_lanes.wgsl
// is for a rasterizer that runs a workgroup as SIMD vectors of invocations.
//
// A workgroup is FL_LANES invocations (one vector of 8 lanes on an AVX2
// host) serving one query head for FL_LANES consecutive tokens, one token
// per lane. Each lane keeps its scaled query and its output accumulator in
// registers (HEAD_DIM / 4 vec4s each). Positions are walked FL_BLOCK at a
// time over the union of the lanes' spans; the cache address of a position
// depends only on the workgroup, so all lanes read the same K and V row
// together (16 bytes a load, f16 pairs unpacked), with no workgroup memory
// and no barrier: on lavapipe both cost a loop over the lanes. Each lane
// masks the positions outside its own span and keeps its own online softmax.
//
// Token t sits at position pos0 + t and (causal; non-causal: up to the
// step's last position, span_end) attends to positions [start, pos0 +
// t], start = 0 or, with a sliding window, pos0 + t + 1 - window; position j
// is in cache slot j % n_cache (a ring needs n_cache >= window + n_tokens -
// 1). Lanes past the step's end repeat its last token and store nothing.
//
// HEAD_DIM (a multiple of 8: K and V rows are whole 16-byte loads), FL_LANES
// and FL_BLOCK come from Rust (src/kernels/flash_attention.rs). Decode steps
// take attention_position_lanes.wgsl instead.
#include "common/step.wgsl"

#include "common/attention_params.wgsl"

#include "common/kv_rows.wgsl"

@group(0) @binding(2) var<storage, read> q: array<f32>;              // (n_tokens, q_stride): heads of head_dim
@group(0) @binding(5) var<storage, read_write> out: array<f32>;      // (n_tokens, out_stride)

const HV: u32 = HEAD_DIM / 4u;   // vec4s per head row
const NEG: f32 = -1.0e30;

@compute @workgroup_size(FL_LANES)
fn flash_attention_token_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let h = wid.x;                          // the workgroup's query head
    let tt = lane;                          // this lane's token in the workgroup
    let t0 = wid.y * FL_LANES;              // first token of the workgroup
    if (t0 >= step.n_tokens) {
        return;
    }
    let live = t0 + tt < step.n_tokens;
    let t = min(t0 + tt, step.n_tokens - 1u);
    let kv_off = (h / (p.n_heads / p.n_kv_heads)) * HEAD_DIM;
    // This lane's span [start, end) and the workgroup's [lo, hi).
    let end = span_end(t);
    let start = span_start(t);
    let lo = span_start(t0);
    let hi = span_end(min(t0 + FL_LANES, step.n_tokens) - 1u);

    var qr: array<vec4<f32>, HV>;   // scaled query, dims 4i..4i+3
    var acc: array<vec4<f32>, HV>;  // unnormalised output, same dims
    let qb = t * p.q_stride + h * HEAD_DIM;
    for (var i = 0u; i < HV; i++) {
        qr[i] = vec4<f32>(q[qb + 4u * i], q[qb + 4u * i + 1u], q[qb + 4u * i + 2u], q[qb + 4u * i + 3u]) * p.scale;
    }
    var m = NEG;
    var l = 0.0;
    for (var base = lo; base < hi; base += FL_BLOCK) {
        // Scores of the block's positions (NEG outside this lane's span).
        var sc: array<f32, FL_BLOCK>;  // set before read: each jj is set in the loop below
        var m_new = m;
        for (var jj = 0u; jj < FL_BLOCK; jj++) {
            let j = min(base + jj, hi - 1u);
            let e = (j % p.n_cache) * p.kv_dim + kv_off;
            var s = 0.0;
            for (var u = 0u; u < HV / 2u; u++) {
                let kk = kv_oct(false, e, u);
                s += dot(qr[2u * u], kk[0]) + dot(qr[2u * u + 1u], kk[1]);
            }
            let inside = base + jj >= start && base + jj < end;
            sc[jj] = select(NEG, s, inside);
            m_new = max(m_new, sc[jj]);
        }
        let corr = exp(m - m_new);
        l *= corr;
        for (var i = 0u; i < HV; i++) {
            acc[i] *= corr;
        }
        for (var jj = 0u; jj < FL_BLOCK; jj++) {
            let j = min(base + jj, hi - 1u);
            let e = (j % p.n_cache) * p.kv_dim + kv_off;
            let w = select(0.0, exp(sc[jj] - m_new), sc[jj] > NEG);
            l += w;
            for (var u = 0u; u < HV / 2u; u++) {
                let vv = kv_oct(true, e, u);
                acc[2u * u] += w * vv[0];
                acc[2u * u + 1u] += w * vv[1];
            }
        }
        m = m_new;
    }
    if (live) {
        let ob = t * p.out_stride + h * HEAD_DIM;
        for (var i = 0u; i < HV; i++) {
            for (var c = 0u; c < 4u; c++) {
                out[ob + 4u * i + c] = acc[i][c] / l;
            }
        }
    }
}
