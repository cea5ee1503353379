// Causal (or, with p.causal 0, bidirectional: span_end) attention of this
// step's queries over the KV cache, grouped-query:
// query head h reads KV head h / (n_heads / n_kv_heads). One workgroup per
// GQA query heads that share a KV head (grid x = n_heads / GQA) and token, so
// each K and V row is read once for all of them; positions are taken 64 at
// a time with an online softmax (one per head), so
// any context length works in fixed shared memory. A sliding window (window > 0)
// limits token p to positions (p - window, p]. Position j is in cache slot
// j % n_cache: a cache shorter than the context is a ring (kv_store.wgsl),
// which holds every position a window needs when n_cache >= window + n_tokens - 1.
//
// Decode (one token) splits a long span across workgroups (grid y = splits,
// SPLIT_PER / SPLIT_MIN_SPAN from Rust's SplitRule): each split writes its
// running max, sum and unnormalised output to `partials`, and `combine`
// merges them; a span that is one split writes `out` directly.
#include "common/step.wgsl"

#include "common/kv.wgsl"

#include "common/attention_params.wgsl"

@group(0) @binding(2) var<storage, read> q: array<f32>;             // (n_tokens, q_stride): heads of head_dim
@group(0) @binding(3) var<storage, read> k_cache: array<kv_t>;      // (n_cache, kv_dim) by slot
@group(0) @binding(4) var<storage, read> v_cache: array<kv_t>;      // (n_cache, kv_dim) by slot
@group(0) @binding(5) var<storage, read_write> out: array<f32>;     // (n_tokens, out_stride)
@group(0) @binding(6) var<storage, read_write> partials: array<f32>; // (n_heads, max splits, head_dim + 2): m, l, acc

#include "common/attention_splits.wgsl"

const DPT: u32 = MAX_HEAD_DIM / WG_SIZE;      // output dims per thread
var<workgroup> qs: array<f32, GQA * MAX_HEAD_DIM>;  // (GQA, head_dim) the scaled queries
var<workgroup> ps: array<f32, GQA * WG_SIZE>;       // (GQA, WG_SIZE) scores, then weights, of one block of positions
const NEG: f32 = -1.0e30;

@compute @workgroup_size(WG_SIZE)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h0 = wid.x * GQA;   // first query head of this workgroup
    // Decode: grid y is the split; otherwise the token.
    let t = select(wid.y, 0u, step.n_tokens == 1u);
    let split = select(0u, wid.y, step.n_tokens == 1u);
    if (t >= step.n_tokens) {
        return;
    }
    let hd = p.head_dim;
    let kv_off = (h0 / (p.n_heads / p.n_kv_heads)) * hd;
    for (var i = lid; i < GQA * hd; i += WG_SIZE) {
        qs[i] = q[t * p.q_stride + h0 * hd + i] * p.scale;
    }
    let span = split_span(t, split);
    let start = span.x;
    let end = span.y;
    let splits = span.z;
    var m: array<f32, GQA>;
    var l: array<f32, GQA>;
    var acc: array<array<f32, DPT>, GQA>;
    for (var g = 0u; g < GQA; g++) {
        m[g] = NEG;
    }
    workgroupBarrier();
    for (var base = start; base < end; base += WG_SIZE) {
        let j = base + lid;
        // Scores of position j for every head of the group: K[j] read once.
        var sc: array<f32, GQA>;  // set before read: the loop below sets every head
        for (var g = 0u; g < GQA; g++) {
            sc[g] = NEG;
        }
        if (j < end) {
            for (var g = 0u; g < GQA; g++) {
                sc[g] = 0.0;
            }
            let kb = (j % p.n_cache) * p.kv_dim + kv_off;
            for (var d = 0u; d < hd; d++) {
                let kd = f32(k_cache[kb + d]);
                for (var g = 0u; g < GQA; g++) {
                    sc[g] += qs[g * hd + d] * kd;
                }
            }
        }
        for (var g = 0u; g < GQA; g++) {
            ps[g * WG_SIZE + lid] = sc[g];
        }
        workgroupBarrier();
        var corr: array<f32, GQA>;  // set before read: the loop below sets every head
        var m_new: array<f32, GQA>;  // set before read: the loop below sets every head
        for (var g = 0u; g < GQA; g++) {
            var bmax = NEG;
            for (var i = 0u; i < WG_SIZE; i++) {
                bmax = max(bmax, ps[g * WG_SIZE + i]);
            }
            m_new[g] = max(m[g], bmax);
            corr[g] = exp(m[g] - m_new[g]);
        }
        workgroupBarrier();
        for (var g = 0u; g < GQA; g++) {
            ps[g * WG_SIZE + lid] = select(0.0, exp(sc[g] - m_new[g]), j < end);
        }
        workgroupBarrier();
        for (var g = 0u; g < GQA; g++) {
            l[g] *= corr[g];
            for (var k = 0u; k < DPT; k++) {
                acc[g][k] *= corr[g];
            }
        }
        let n = min(WG_SIZE, end - base);
        for (var i = 0u; i < n; i++) {
            let vb = ((base + i) % p.n_cache) * p.kv_dim + kv_off;
            for (var g = 0u; g < GQA; g++) {
                l[g] += ps[g * WG_SIZE + i];
            }
            for (var k = 0u; k < DPT; k++) {
                let d = lid + k * WG_SIZE;
                if (d < hd) {
                    let vd = f32(v_cache[vb + d]);
                    for (var g = 0u; g < GQA; g++) {
                        acc[g][k] += ps[g * WG_SIZE + i] * vd;
                    }
                }
            }
        }
        for (var g = 0u; g < GQA; g++) {
            m[g] = m_new[g];
        }
        workgroupBarrier();
    }
    for (var g = 0u; g < GQA; g++) {
        let h = h0 + g;
        if (splits > 1u) {
            let pb = (h * p.max_splits + split) * (hd + 2u);
            if (lid == 0u) {
                partials[pb] = m[g];
                partials[pb + 1u] = l[g];
            }
            for (var k = 0u; k < DPT; k++) {
                let d = lid + k * WG_SIZE;
                if (d < hd) {
                    partials[pb + 2u + d] = acc[g][k];
                }
            }
        } else {
            for (var k = 0u; k < DPT; k++) {
                let d = lid + k * WG_SIZE;
                if (d < hd) {
                    out[t * p.out_stride + h * hd + d] = acc[g][k] / l[g];
                }
            }
        }
    }
}

// out[h] = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s over the splits
// of a decode step (M = max_s m_s). One workgroup per head.
@compute @workgroup_size(WG_SIZE)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let hd = p.head_dim;
    let splits = split_span(0u, 0u).z;
    var mx = NEG;
    for (var s = 0u; s < splits; s++) {
        mx = max(mx, partials[(h * p.max_splits + s) * (hd + 2u)]);
    }
    var l = 0.0;
    for (var s = 0u; s < splits; s++) {
        let pb = (h * p.max_splits + s) * (hd + 2u);
        l += exp(partials[pb] - mx) * partials[pb + 1u];
    }
    for (var d = lid; d < hd; d += WG_SIZE) {
        var a = 0.0;
        for (var s = 0u; s < splits; s++) {
            let pb = (h * p.max_splits + s) * (hd + 2u);
            a += exp(partials[pb] - mx) * partials[pb + 2u + d];
        }
        out[h * hd + d] = a / l;
    }
}
