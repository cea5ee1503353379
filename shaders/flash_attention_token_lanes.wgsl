// Causal attention for prefill steps on CPU adapters: the result of
// flash_attention.wgsl (and attention.wgsl), shaped as gemm_token_lanes.wgsl
// is for a rasterizer that runs a workgroup as SIMD vectors of invocations.
//
// A workgroup is FL_LANES invocations (one vector of 8 lanes on an AVX2
// host) serving FL_HEADS query heads of one KV head for FL_LANES / FL_HEADS
// consecutive tokens, one (token, head) pair per lane (lanes past those
// pairs idle): prefill takes one head and 8 tokens; decode takes the heads
// of a GQA group, which then read each K and V row once for all of them. Each lane keeps its scaled query and its output accumulator in
// registers (HEAD_DIM / 4 vec4s each). Positions are walked FL_BLOCK at a
// time over the union of the lanes' spans; the cache address of a position
// depends only on the workgroup, so all lanes read the same K and V row
// together (16 bytes a load, f16 pairs unpacked), with no workgroup memory
// and no barrier: on lavapipe both cost a loop over the lanes. Each lane
// masks the positions outside its own span and keeps its own online softmax.
//
// Token t sits at position pos0 + t and attends to positions [start, pos0 +
// t], start = 0 or, with a sliding window, pos0 + t + 1 - window; position j
// is in cache slot j % n_cache (a ring needs n_cache >= window + n_tokens -
// 1). Lanes past the step's end repeat its last token and store nothing.
//
// HEAD_DIM (a multiple of 8: K and V rows are whole 16-byte loads), FL_LANES,
// FL_HEADS (dividing n_heads / n_kv_heads and FL_LANES) and FL_BLOCK come
// from Rust (src/kernels/flash_attention.rs).
#include "common/step.wgsl"

#include "common/attention_params.wgsl"

#ifdef F16
// 8 f16 per vec4<u32>.
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<u32>>;  // (n_cache, kv_dim / 8) by slot
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<u32>>;  // (n_cache, kv_dim / 8) by slot
#else
// 8 f32 per pair of vec4<f32>.
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<f32>>;  // (n_cache, kv_dim / 4) by slot
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<f32>>;  // (n_cache, kv_dim / 4) by slot
#endif
@group(0) @binding(2) var<storage, read> q: array<f32>;              // (n_tokens, q_stride): heads of head_dim
@group(0) @binding(5) var<storage, read_write> out: array<f32>;      // (n_tokens, out_stride)

const HV: u32 = HEAD_DIM / 4u;   // vec4s per head row
const FL_TOKENS: u32 = FL_LANES / FL_HEADS;  // tokens per workgroup
const NEG: f32 = -1.0e30;

// Dims 8u..8u+7 of the K (v false) or V (v true) row that starts at element
// `e` (a multiple of 8). `v` is a constant at every call, so the branch folds.
fn kv_oct(v: bool, e: u32, u: u32) -> array<vec4<f32>, 2> {
#ifdef F16
    var w: vec4<u32>;
    if (v) {
        w = v_cache[e / 8u + u];
    } else {
        w = k_cache[e / 8u + u];
    }
    return array<vec4<f32>, 2>(vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)), vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)));
#else
    let i = e / 4u + 2u * u;
    if (v) {
        return array<vec4<f32>, 2>(v_cache[i], v_cache[i + 1u]);
    }
    return array<vec4<f32>, 2>(k_cache[i], k_cache[i + 1u]);
#endif
}

@compute @workgroup_size(FL_LANES)
fn flash_attention_token_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let h0 = wid.x * FL_HEADS;              // first query head of the workgroup
    let h = h0 + lane % FL_HEADS;           // this lane's head
    let tt = lane / FL_HEADS;               // this lane's token in the workgroup
    let t0 = wid.y * FL_TOKENS;             // first token of the workgroup
    if (t0 >= step.n_tokens) {
        return;
    }
    let live = tt < FL_TOKENS && t0 + tt < step.n_tokens;
    let t = min(t0 + tt, step.n_tokens - 1u);
    let kv_off = (h0 / (p.n_heads / p.n_kv_heads)) * HEAD_DIM;
    // This lane's span [start, end) and the workgroup's [lo, hi).
    let end = step.pos0 + t + 1u;
    let start = span_start(end);
    let lo = span_start(step.pos0 + t0 + 1u);
    let hi = step.pos0 + min(t0 + FL_TOKENS, step.n_tokens);

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
        var sc: array<f32, FL_BLOCK>;
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
