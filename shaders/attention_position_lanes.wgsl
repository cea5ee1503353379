// Causal attention for the decode op list (steps of a few tokens) on CPU
// adapters: the result of attention.wgsl, shaped for a rasterizer that runs a
// workgroup as one SIMD vector of PL_LANES invocations and loads storage
// buffers one lane at a time (lavapipe).
//
// A workgroup serves PL_HEADS query heads of one KV head for one token (grid
// x = n_heads / PL_HEADS; grid y = the token, or at decode the split of a
// long span, as attention.wgsl splits it). Its lanes take the positions
// of the span in turn: lane i reads rows start + i, start + i + PL_LANES, ...
// so each K and V row is loaded by one lane of the workgroup, once for its
// PL_HEADS heads, 16 bytes a load (Rust picks PL_HEADS within a register
// budget: on lavapipe more loads cost less than more registers). Each lane keeps an online softmax and an output
// accumulator per head in registers (PL_HEADS x HEAD_DIM f32), rescaled once
// per PL_BLOCK of its positions. At the end the lanes' partial results are
// merged through workgroup memory, one head at a time; a split writes them
// to `partials` for attention.wgsl's `combine`, an unsplit span to `out`.
//
// The queries are read where every lane reads the same element: with
// Q_UNIFORM (the decode pipeline) from a uniform window of the first token's
// Q_UNIFORM_VECS vec4s, which a rasterizer loads once for all lanes.
//
// Token t sits at position pos0 + t and (causal; non-causal: up to the
// step's last position, span_end) attends to positions [start, pos0 +
// t], start = 0 or, with a sliding window, pos0 + t + 1 - window; position j
// is in cache slot j % n_cache.
//
// HEAD_DIM (a multiple of 8), PL_LANES, PL_HEADS (dividing n_heads /
// n_kv_heads), PL_BLOCK, PL_MERGE_VECS, SPLIT_PER and SPLIT_MIN_SPAN come from Rust
// (src/kernels/attention_lanes.rs).
#include "common/step.wgsl"

#include "common/attention_params.wgsl"

#include "common/attention_splits.wgsl"

#include "common/kv_rows.wgsl"

const HV: u32 = HEAD_DIM / 4u;   // vec4s per head row
const NEG: f32 = -1.0e30;

// The workgroup's queries, PL_HEADS rows of HV vec4s from vec4 `qb` of q:
// with Q_UNIFORM read where needed (one load for all lanes), else copied to
// registers first (a storage load costs a loop over the lanes).
#ifdef Q_UNIFORM
@group(0) @binding(2) var<uniform> q: array<vec4<f32>, Q_UNIFORM_VECS>;  // (1, q_stride / 4): the step's one token
fn load_queries(qb: u32) {}
fn q4(qb: u32, g: u32, i: u32) -> vec4<f32> {
    return q[qb + g * HV + i];
}
#else
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;            // (n_tokens, q_stride / 4): heads of head_dim
var<private> q_regs: array<vec4<f32>, PL_HEADS * HV>;                    // (PL_HEADS, HV)
fn load_queries(qb: u32) {
    for (var k = 0u; k < PL_HEADS * HV; k++) {
        q_regs[k] = q[qb + k];
    }
}
fn q4(qb: u32, g: u32, i: u32) -> vec4<f32> {
    return q_regs[g * HV + i];
}
#endif
@group(0) @binding(5) var<storage, read_write> out: array<f32>;         // (n_tokens, out_stride)
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;    // (n_heads, max_splits, head_dim + 2): m, l, acc

// The lanes' running max, sum and accumulator of one head, to merge them;
// the accumulators PL_MERGE_VECS vec4s at a time (within WebGPU's 16 KiB of
// workgroup memory at head dim 512).
var<workgroup> lane_m: array<f32, PL_LANES>;
var<workgroup> lane_l: array<f32, PL_LANES>;
var<workgroup> lane_acc: array<vec4<f32>, PL_LANES * PL_MERGE_VECS>;  // (PL_LANES, PL_MERGE_VECS)

@compute @workgroup_size(PL_LANES)
fn attention_position_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let h0 = wid.x * PL_HEADS;  // first query head of the workgroup
    // Decode: grid y is the split; otherwise the token.
    let t = select(wid.y, 0u, step.n_tokens == 1u);
    let split = select(0u, wid.y, step.n_tokens == 1u);
    if (t >= step.n_tokens) {
        return;
    }
    let kv_off = (h0 / (p.n_heads / p.n_kv_heads)) * HEAD_DIM;
    let span = split_span(t, split);
    let start = span.x;
    let end = span.y;
    let splits = span.z;
    if (split >= splits) {
        return;
    }
    let qb = (t * p.q_stride + h0 * HEAD_DIM) / 4u;  // vec4 of the first head's query
    load_queries(qb);

    var m: array<f32, PL_HEADS>;
    var l: array<f32, PL_HEADS>;
    var acc: array<array<vec4<f32>, HV>, PL_HEADS>;  // unnormalised output per head
    for (var g = 0u; g < PL_HEADS; g++) {
        m[g] = NEG;
    }
    for (var base = start + lane; base < end; base += PL_LANES * PL_BLOCK) {
        // Scores of this lane's PL_BLOCK positions base + PL_LANES * jj (NEG past the span).
        var sc: array<array<f32, PL_BLOCK>, PL_HEADS>;  // set before read: each jj sets every head
        for (var jj = 0u; jj < PL_BLOCK; jj++) {
            let j = base + PL_LANES * jj;
            let e = (min(j, end - 1u) % p.n_cache) * p.kv_dim + kv_off;
            // Zeroed here, not by the declaration: Chromium's compiler
            // zeroed a var declared in a loop only once (SwiftShader gave
            // wrong attention where naga's build was right).
            var s: array<f32, PL_HEADS>;  // set before read: zeroed just below
            for (var g = 0u; g < PL_HEADS; g++) {
                s[g] = 0.0;
            }
            for (var u = 0u; u < HV / 2u; u++) {
                let kk = kv_oct(false, e, u);
                for (var g = 0u; g < PL_HEADS; g++) {
                    s[g] += dot(q4(qb, g, 2u * u), kk[0]) + dot(q4(qb, g, 2u * u + 1u), kk[1]);
                }
            }
            for (var g = 0u; g < PL_HEADS; g++) {
                sc[g][jj] = select(NEG, s[g] * p.scale, j < end);
            }
        }
        var w: array<array<f32, PL_BLOCK>, PL_HEADS>;  // set before read: each head sets every jj
        for (var g = 0u; g < PL_HEADS; g++) {
            var m_new = m[g];
            for (var jj = 0u; jj < PL_BLOCK; jj++) {
                m_new = max(m_new, sc[g][jj]);
            }
            let corr = exp(m[g] - m_new);
            l[g] *= corr;
            for (var i = 0u; i < HV; i++) {
                acc[g][i] *= corr;
            }
            for (var jj = 0u; jj < PL_BLOCK; jj++) {
                w[g][jj] = select(0.0, exp(sc[g][jj] - m_new), sc[g][jj] > NEG);
                l[g] += w[g][jj];
            }
            m[g] = m_new;
        }
        for (var jj = 0u; jj < PL_BLOCK; jj++) {
            // Past the span: the last row again, at weight 0.
            let e = (min(base + PL_LANES * jj, end - 1u) % p.n_cache) * p.kv_dim + kv_off;
            for (var u = 0u; u < HV / 2u; u++) {
                let vv = kv_oct(true, e, u);
                for (var g = 0u; g < PL_HEADS; g++) {
                    acc[g][2u * u] += w[g][jj] * vv[0];
                    acc[g][2u * u + 1u] += w[g][jj] * vv[1];
                }
            }
        }
    }

    // Merge the lanes, one head at a time: M = max m_i, L = sum e^(m_i - M) l_i,
    // A = sum e^(m_i - M) acc_i (a lane without positions has l = 0, acc = 0).
    for (var g = 0u; g < PL_HEADS; g++) {
        lane_m[lane] = m[g];
        lane_l[lane] = l[g];
        workgroupBarrier();
        var mx = NEG;
        for (var k = 0u; k < PL_LANES; k++) {
            mx = max(mx, lane_m[k]);
        }
        var sum = 0.0;
        for (var k = 0u; k < PL_LANES; k++) {
            sum += exp(lane_m[k] - mx) * lane_l[k];
        }
        let h = h0 + g;
        let pb = (h * p.max_splits + split) * (HEAD_DIM + 2u);
        if (splits > 1u && lane == 0u) {
            partials[pb] = mx;
            partials[pb + 1u] = sum;
        }
        for (var c0 = 0u; c0 < HV; c0 += PL_MERGE_VECS) {
            for (var i = 0u; i < PL_MERGE_VECS; i++) {
                if (c0 + i < HV) {
                    lane_acc[lane * PL_MERGE_VECS + i] = acc[g][c0 + i];
                }
            }
            workgroupBarrier();
            // Each lane finishes the vec4s c0 + i, i = lane, lane + PL_LANES, ...
            for (var i = lane; i < PL_MERGE_VECS && c0 + i < HV; i += PL_LANES) {
                var a = vec4<f32>(0.0);
                for (var k = 0u; k < PL_LANES; k++) {
                    a += exp(lane_m[k] - mx) * lane_acc[k * PL_MERGE_VECS + i];
                }
                let d = 4u * (c0 + i);
                for (var c = 0u; c < 4u; c++) {
                    if (splits > 1u) {
                        partials[pb + 2u + d + c] = a[c];
                    } else {
                        out[t * p.out_stride + h * HEAD_DIM + d + c] = a[c] / sum;
                    }
                }
            }
            workgroupBarrier();
        }
    }
}
