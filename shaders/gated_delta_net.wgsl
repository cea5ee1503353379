// Gated DeltaNet, one scalar gate per value head (ggml_gated_delta_net's GDA
// form; llama.cpp src/models/qwen35.cpp build_layer_attn_linear,
// src/models/delta-net-base.cpp, ggml-cpu ops.cpp). For each value head h,
// with key head kh = h % n_k_heads (ggml_repeat_4d tiles the key heads; the
// converter orders the value heads to match), and each token t in order:
//   q = l2norm(q[t, kh]) / sqrt(HEAD_K),  k = l2norm(k[t, kh])
//       l2norm(x) = x / sqrt(|x|^2 + eps)   (build_gdn_l2_norm: rms_norm(x, eps / n) / sqrt(n))
//   g = exp(softplus(alpha[t, h] + dt_bias[h]) * ssm_a[h])   (ssm_a = -exp(A_log), stored negated)
//   beta = sigmoid(beta_in[t, h])
//   S <- g S;  d = beta (v[t, h] - S k);  S <- S + d k^T;  o[t, h] = S q
// S is HEAD_V x HEAD_K: row j belongs to value element j, as ggml stores it.
// With GATED_NORM (build_norm_gated) the output is then
//   o[t, h] = rmsnorm(o[t, h]) * norm_weight * silu(z[t, h]).
//
// One workgroup per value head, one invocation per row of S: a row's update
// needs only its own dot products (S[j] . k, S[j] . q), so the row lives in
// registers for the whole step and nothing is shared but q, k and the gates,
// read by every invocation. q and k are normalised by folding 1/|k| and 1/|q|
// into the dot products (their squares are summed in the same loops).
// Tokens are scanned in order. The chunked form (llama.cpp
// build_delta_net_chunking, 64 tokens a chunk) would instead turn each
// chunk's token-to-token terms into small matmuls (K K^T under a decay mask,
// one triangular solve) and apply the state once per chunk: more parallel
// work per head for prefill, the same state traffic as here (once per step).
#include "common/step.wgsl"
#include "common/act.wgsl"

struct Params {
    n_k_heads: u32,
    n_v_heads: u32,
    qkv_offset: u32,    // f32 from a token's qkv row start to q
    qkv_stride: u32,    // f32 between tokens of qkv
    gate_stride: u32,   // f32 between tokens of gates
    alpha_offset: u32,  // f32 from a token's gates row start to alpha
    beta_offset: u32,   // f32 from a token's gates row start to beta
    z_offset: u32,      // GATED_NORM: f32 from a token's z row start to z
    z_stride: u32,      // GATED_NORM: f32 between tokens of z
    eps: f32,           // of the q, k L2 norms (the model's RMS norm epsilon)
    norm_eps: f32,      // GATED_NORM: of the RMS norm
    scale: f32,         // 1 / sqrt(HEAD_K)
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;          // (n_tokens, qkv_stride): [q (n_k_heads, HEAD_K) | k (n_k_heads, HEAD_K) | v (n_v_heads, HEAD_V)] at qkv_offset
@group(0) @binding(3) var<storage, read> gates: array<f32>;        // (n_tokens, gate_stride): alpha (n_v_heads) at alpha_offset, beta (n_v_heads) at beta_offset
@group(0) @binding(4) var<storage, read> dt_bias: array<f32>;      // (n_v_heads)
@group(0) @binding(5) var<storage, read> ssm_a: array<f32>;        // (n_v_heads): -exp(A_log)
@group(0) @binding(6) var<storage, read_write> state: array<f32>;  // (n_v_heads, HEAD_V, HEAD_K)
@group(0) @binding(7) var<storage, read_write> out: array<f32>;    // (n_tokens, n_v_heads * HEAD_V)
#ifdef GATED_NORM
@group(0) @binding(8) var<storage, read> z: array<f32>;            // (n_tokens, z_stride): (n_v_heads, HEAD_V) at z_offset
@group(0) @binding(9) var<storage, read> norm_weight: array<f32>;  // (HEAD_V), shared by the heads
#endif

@compute @workgroup_size(HEAD_V)
fn gated_delta_net(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) j: u32) {
    let h = wid.x;
    let kh = h % p.n_k_heads;
    let width = p.n_v_heads * HEAD_V;
    let row = (h * HEAD_V + j) * HEAD_K;
    var s: array<f32, HEAD_K>;  // S[j, :]; set before read: loaded below
    // A step at position 0 starts a sequence: its state is zero, whatever
    // the buffer holds from an earlier one.
    let fresh = step.pos0 == 0u;
    for (var i = 0u; i < HEAD_K; i++) {
        s[i] = select(state[row + i], 0.0, fresh);
    }
    let bias = dt_bias[h];
    let a = ssm_a[h];
    for (var t = 0u; t < step.n_tokens; t++) {
        let base = t * p.qkv_stride + p.qkv_offset;
        let q_at = base + kh * HEAD_K;
        let k_at = base + (p.n_k_heads + kh) * HEAD_K;
        let v = qkv[base + 2u * p.n_k_heads * HEAD_K + h * HEAD_V + j];
        let gate_row = t * p.gate_stride;
        let g = exp(softplus(gates[gate_row + p.alpha_offset + h] + bias) * a);
        let beta = sigmoid(gates[gate_row + p.beta_offset + h]);
        // S <- g S, with S[j] . k and |k|^2 for the unnormalised k.
        var sk = 0.0;
        var kk = 0.0;
        for (var i = 0u; i < HEAD_K; i++) {
            let ki = qkv[k_at + i];
            s[i] *= g;
            sk += s[i] * ki;
            kk += ki * ki;
        }
        let inv_k = inverseSqrt(kk + p.eps);
        // d = beta (v - S k_hat); S += d k_hat^T, k_hat = k * inv_k.
        let dk = beta * (v - sk * inv_k) * inv_k;
        var sq = 0.0;
        var qq = 0.0;
        for (var i = 0u; i < HEAD_K; i++) {
            let qi = qkv[q_at + i];
            s[i] += dk * qkv[k_at + i];
            sq += s[i] * qi;
            qq += qi * qi;
        }
        out[t * width + h * HEAD_V + j] = sq * inverseSqrt(qq + p.eps) * p.scale;
    }
    for (var i = 0u; i < HEAD_K; i++) {
        state[row + i] = s[i];
    }
#ifdef GATED_NORM
    // Every row of this head's outputs is written: each invocation now takes
    // whole tokens, o[t, h] = rmsnorm(o[t, h]) * norm_weight * silu(z[t, h]).
    storageBarrier();
    for (var t = j; t < step.n_tokens; t += HEAD_V) {
        let o_at = t * width + h * HEAD_V;
        let z_at = t * p.z_stride + p.z_offset + h * HEAD_V;
        var ss = 0.0;
        for (var i = 0u; i < HEAD_V; i++) {
            let o = out[o_at + i];
            ss += o * o;
        }
        let inv = inverseSqrt(ss / f32(HEAD_V) + p.norm_eps);
        for (var i = 0u; i < HEAD_V; i++) {
            out[o_at + i] = out[o_at + i] * inv * norm_weight[i] * silu(z[z_at + i]);
        }
    }
#endif
}
