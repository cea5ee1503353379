// The attention block's input side in one dispatch: RMSNorm(x) * g, the
// q|k|v projections from one packed weight buffer (the three tensors may use
// different formats), then per head: + bias (BIAS, Qwen2), RMSNorm over the
// head (QK_NORM, Qwen3/Gemma 3; V_NORM: v too, without a weight, Gemma 4),
// RoPE on q and k, and the stores: q to `q`, k and v straight into the
// layer's KV cache at slot (pos0 + t) % n_cache (a ring for sliding-window
// layers, as kv_store.wgsl).
//
// One workgroup per head (q heads, then k heads, then v heads: grid x =
// n_heads + 2 n_kv_heads) and TT tokens (grid z), so the whole head is in
// workgroup memory when the epilogue needs it.
//
// OUTPUT_GATE (Qwen3.5's gated attention): the q tensor holds per head
// head_dim query rows then head_dim output-gate rows; n_heads more
// workgroups (after the v heads) compute the gate rows and store them as
// they are (no bias, norm or RoPE) to `gate`, heads one after another.
//
// A layer that reads an earlier layer's KV cache (Gemma 4's shared-KV
// layers) runs only the q heads (grid x = n_heads) and writes no cache; it
// has no output gate.
#include "common/step.wgsl"
#include "common/kv.wgsl"
#include "common/rope.wgsl"

struct Params {
    cols: u32,         // model dim (multiple of 32)
    x_stride: u32,     // f32 elements between tokens in x
    norm_off: u32,     // vec4 index of attn_norm in vecs
    eps: f32,          // RMSNorm epsilon (attn_norm and the QK norms)
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,     // <= MAX_HEAD_DIM
    n_rot: u32,        // rotated dimensions per head (even, <= head_dim)
    q_stride: u32,     // f32 elements between tokens in q
    n_cache: u32,      // cache slots of this layer
    freq_base: f32,
    freq_scale: f32,
    q_norm_off: u32,   // QK_NORM: f32 index of attn_q_norm in vecs
    k_norm_off: u32,   // QK_NORM: f32 index of attn_k_norm in vecs
    factors_off: u32,  // FREQ_FACTORS: f32 index of rope_freqs in vecs
    mscale: f32,       // rotated pairs are multiplied by this (llama.cpp's attn_factor)
    seg: array<vec4<u32>, 3>,   // q, k, v: (format kind, first byte in w, bytes per row, BIAS: f32 index of the bias in vecs)
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;                // q rows | k rows | v rows, raw GGUF blocks
// x: the residual stream.
#include "common/matvec_x.wgsl"
@group(0) @binding(4) var<storage, read> vecs: array<vec4<f32>>;       // the layer's f32 vectors (norms, biases, rope factors)
@group(0) @binding(5) var<storage, read_write> q: array<f32>;          // (n_tokens, q_stride)
@group(0) @binding(6) var<storage, read_write> k_cache: array<kv_t>;   // (n_cache, n_kv_heads * head_dim) by slot
@group(0) @binding(7) var<storage, read_write> v_cache: array<kv_t>;   // (n_cache, n_kv_heads * head_dim) by slot
#ifdef OUTPUT_GATE
@group(0) @binding(8) var<storage, read_write> gate: array<f32>;       // (n_tokens, q_stride) the output gate, before its sigmoid
#endif

#include "common/bytes.wgsl"
#include "common/quant.wgsl"
#include "common/matvec_core.wgsl"

var<workgroup> hv: array<f32, TT * MAX_HEAD_DIM>;   // (TT, head_dim) the head's projections
var<workgroup> head_ss: f32;                          // QK_NORM: sum of squares of one token's head

fn vec_f32(i: u32) -> f32 {
    return vecs[i >> 2u][i & 3u];
}

@compute @workgroup_size(WG_SIZE)
fn attn_qkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t0 = wid.z * TT;
    let nt = min(TT, step.n_tokens - min(t0, step.n_tokens));
    // Which projection this workgroup computes, and its head within it.
    var seg = 0u;
    var h = wid.x;
    if (h >= p.n_heads) {
        seg = 1u;
        h -= p.n_heads;
        if (h >= p.n_kv_heads) {
            seg = 2u;
            h -= p.n_kv_heads;
            if (h >= p.n_kv_heads) {
                seg = 3u;   // OUTPUT_GATE: gate heads
                h -= p.n_kv_heads;
            }
        }
    }
    let hd = p.head_dim;
    // The head's first row in its tensor (gate heads read the q tensor).
    var row0 = h * hd;
#ifdef OUTPUT_GATE
    if (seg == 0u) {
        row0 = 2u * h * hd;
    } else if (seg == 3u) {
        row0 = 2u * h * hd + hd;
    }
#endif
    let sg = p.seg[select(seg, 0u, seg == 3u)];
#ifdef PENDING
    pending_prologue(lid, t0, nt, wid.x == 0u);
#endif
    norm_prologue(lid, t0, nt);
    let lane = lid % TPR;
    for (var r0 = 0u; r0 < hd; r0 += RPW) {
        let r = r0 + lid / TPR;
        row_partial(sg.x, sg.y + (row0 + min(r, hd - 1u)) * sg.z, lane, t0, nt);
        reduce_lanes(lid);
        if (lane == 0u && r < hd) {
            for (var t = 0u; t < TT; t++) {
                hv[t * MAX_HEAD_DIM + r] = acc[t];
            }
        }
    }
    workgroupBarrier();
    for (var t = 0u; t < TT; t++) {
        if (t >= nt) {
            break;
        }
        let o = t * MAX_HEAD_DIM;
#ifdef BIAS
        for (var d = lid; d < hd; d += WG_SIZE) {
            hv[o + d] += vec_f32(sg.w + h * hd + d);
        }
        workgroupBarrier();
#endif
#ifdef QK_NORM
#ifdef V_NORM
        let normed = true;
#else
        let normed = seg < 2u;
#endif
        if (normed) {
            var s = 0.0;
            for (var d = lid; d < hd; d += WG_SIZE) {
                s += hv[o + d] * hv[o + d];
            }
            partial[lid] = s;
        }
        workgroupBarrier();
        if (lid == 0u && normed) {
            var s = 0.0;
            for (var i = 0u; i < WG_SIZE; i++) {
                s += partial[i];
            }
            head_ss = s;
        }
        workgroupBarrier();
        if (normed) {
            let inv = inverseSqrt(head_ss / f32(hd) + p.eps);
            let g = select(p.k_norm_off, p.q_norm_off, seg == 0u);
            for (var d = lid; d < hd; d += WG_SIZE) {
                // v's norm has no weight.
                let w = select(vec_f32(g + d), 1.0, seg == 2u);
                hv[o + d] = hv[o + d] * inv * w;
            }
        }
        workgroupBarrier();
#endif
        let pos = step.pos0 + t0 + t;
        if (seg < 2u) {
            for (var i = lid; i < p.n_rot / 2u; i += WG_SIZE) {
                var theta = rope_theta(pos, i, p.n_rot, p.freq_base, p.freq_scale);
#ifdef FREQ_FACTORS
                theta = theta / vec_f32(p.factors_off + i);
#endif
                let ab = rope_pair(i, p.n_rot) + vec2<u32>(o);
                let x0 = hv[ab.x];
                let x1 = hv[ab.y];
                let cs = cos(theta) * p.mscale;
                let sn = sin(theta) * p.mscale;
                hv[ab.x] = x0 * cs - x1 * sn;
                hv[ab.y] = x0 * sn + x1 * cs;
            }
        }
        workgroupBarrier();
        let kv_dim = p.n_kv_heads * hd;
        let slot = pos % p.n_cache;
        for (var d = lid; d < hd; d += WG_SIZE) {
            let v = hv[o + d];
            if (seg == 0u) {
                q[(t0 + t) * p.q_stride + h * hd + d] = v;
            } else if (seg == 1u) {
                k_cache[slot * kv_dim + h * hd + d] = kv_t(v);
            } else if (seg == 2u) {
                v_cache[slot * kv_dim + h * hd + d] = kv_t(v);
            }
#ifdef OUTPUT_GATE
            if (seg == 3u) {
                gate[(t0 + t) * p.q_stride + h * hd + d] = v;
            }
#endif
        }
    }
}
