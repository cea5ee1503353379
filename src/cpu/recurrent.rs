//! The recurrent blocks' ops on the CPU, each the arithmetic of its WGSL twin
//! (named on each) and of the llama.cpp op it follows: the causal conv with a
//! rolling state (LFM2's short conv, Qwen3.5's conv) and the gated delta rule
//! with its gated RMSNorm (Qwen3.5's linear attention). f32 throughout.

use super::CpuError;
use crate::kernels::{ConvGating, ConvShape, DeltaNetShape, DELTA_NET_MAX_HEAD_DIM};

/// A (n_tokens, width) f32 input inside host rows: element (t, i) is
/// `data[offset + t · stride + i]` (the CPU twin of [`crate::kernels::Rows`]).
#[derive(Clone, Copy, Debug)]
pub struct HostRows<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub stride: usize,
}

impl<'a> HostRows<'a> {
    /// Rows holding just this input: (n_tokens, width).
    pub fn dense(data: &'a [f32], width: usize) -> Self {
        Self { data, offset: 0, stride: width }
    }

    /// Token t's `width` elements.
    fn row(&self, t: usize, width: usize) -> &'a [f32] {
        &self.data[self.offset + t * self.stride..][..width]
    }

    /// Whether n_tokens rows of `width` fit (so `row` cannot go out of bounds).
    fn holds(&self, n_tokens: usize, width: usize) -> bool {
        let last = n_tokens.checked_sub(1).map_or(Some(0), |t| t.checked_mul(self.stride));
        self.offset.checked_add(width).is_some_and(|end| end <= self.stride)
            && last.and_then(|l| l.checked_add(self.offset + width)).is_some_and(|end| end <= self.data.len())
    }
}

fn shape_err(op: &str, detail: String) -> CpuError {
    CpuError::Shape(format!("{op}: {detail}"))
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// ggml's softplus: ln(1 + eˣ), x itself above 20.
fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        (1.0 + x.exp()).ln()
    }
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The causal depthwise conv of one step (ssm_conv.wgsl; ggml_ssm_conv as
/// llama.cpp's `src/models/lfm2.cpp` build_shortconv_block and
/// `src/models/delta-net-base.cpp` build_conv_state use it): with
/// u_ext = [state; u], y[t, c] = Σ_{j<L} weight[c, j] · u_ext[t + j, c]; then
/// `state` holds u_ext's last L − 1 rows. [`ConvGating::ShortConv`]: the
/// input row is [b | c | x], u = b ⊙ x, out = c ⊙ y; [`ConvGating::Silu`]:
/// the input row is u, out = silu(y).
///
/// `input`: (n_tokens, [`ConvShape::input_width`]) rows; `weight`: (C, L);
/// `state`: (L − 1, C), oldest first, read and written; `out`: (n_tokens, C).
/// Errors: [`CpuError::Shape`] when a shape or a slice length disagrees.
pub fn ssm_conv(input: HostRows<'_>, weight: &[f32], state: &mut [f32], out: &mut [f32], n_tokens: usize, s: &ConvShape) -> Result<(), CpuError> {
    const OP: &str = "ssm_conv";
    s.check(OP).map_err(|e| CpuError::Shape(e.to_string()))?;
    let (ch, taps) = (s.channels as usize, s.taps as usize);
    let d = taps - 1;
    if !input.holds(n_tokens, s.input_width() as usize) || weight.len() < ch * taps || state.len() < d * ch || out.len() < n_tokens * ch {
        return Err(shape_err(OP, format!("{s:?} for {n_tokens} tokens: input {} f32 (offset {}, stride {}), weight {}, state {}, out {}", input.data.len(), input.offset, input.stride, weight.len(), state.len(), out.len())));
    }
    let u_row = |t: usize, c: usize| -> f32 {
        let r = input.row(t, s.input_width() as usize);
        match s.gating {
            ConvGating::ShortConv => r[c] * r[2 * ch + c],
            ConvGating::Silu => r[c],
        }
    };
    // Row r of u_ext for channel c: the state's rows first, then the step's inputs.
    let u_ext = |state: &[f32], r: usize, c: usize| if r < d { state[r * ch + c] } else { u_row(r - d, c) };
    for t in 0..n_tokens {
        let in_row = input.row(t, s.input_width() as usize);
        for c in 0..ch {
            let w = &weight[c * taps..][..taps];
            let y: f32 = w.iter().enumerate().map(|(j, wj)| wj * u_ext(state, t + j, c)).sum();
            out[t * ch + c] = match s.gating {
                ConvGating::ShortConv => in_row[ch + c] * y,
                ConvGating::Silu => silu(y),
            };
        }
    }
    // New row r is u_ext row n_tokens + r: a later row of the old state or an
    // input, so rows are rewritten in order, each read before it is written.
    for r in 0..d {
        for c in 0..ch {
            state[r * ch + c] = u_ext(state, n_tokens + r, c);
        }
    }
    Ok(())
}

/// What the gated delta rule reads besides its state.
#[derive(Clone, Copy, Debug)]
pub struct DeltaNetInputs<'a> {
    /// The conv output [q (n_k_heads, head_k_dim) | k (same) | v (n_v_heads, head_v_dim)]:
    /// (n_tokens, [`DeltaNetShape::qkv_width`]) rows.
    pub qkv: HostRows<'a>,
    /// (n_tokens, n_v_heads) rows of the `ssm_alpha` projection.
    pub alpha: HostRows<'a>,
    /// (n_tokens, n_v_heads) rows of the `ssm_beta` projection (before its sigmoid).
    pub beta: HostRows<'a>,
    /// `ssm_dt.bias`: (n_v_heads).
    pub dt_bias: &'a [f32],
    /// `ssm_a` = −exp(A_log): (n_v_heads).
    pub ssm_a: &'a [f32],
}

/// The gated RMSNorm applied to each head's output (Qwen3.5 `build_norm_gated`).
#[derive(Clone, Copy, Debug)]
pub struct HostGatedNorm<'a> {
    /// z: (n_tokens, n_v_heads · head_v_dim) rows of the `attn_gate` projection.
    pub z: HostRows<'a>,
    /// `ssm_norm.weight`: (head_v_dim), shared by the heads.
    pub weight: &'a [f32],
    pub eps: f32,
}

/// One step of the gated delta rule for every value head
/// (gated_delta_net.wgsl; ggml_gated_delta_net with one gate per head as
/// llama.cpp's `src/models/qwen35.cpp` build_layer_attn_linear builds it).
/// For value head h, key head h mod n_k_heads, and each token in order:
/// q = q̂ / √head_k_dim, k = k̂ with x̂ = x / √(|x|² + eps);
/// g = exp(softplus(alpha + dt_bias[h]) · ssm_a[h]); β = sigmoid(beta);
/// S ← g·S; d = β(v − S k); S ← S + d kᵀ; o = S q; with `norm`,
/// o ← rmsnorm(o) · weight · silu(z).
///
/// `state`: (n_v_heads, head_v_dim, head_k_dim), S_h[j, i] at
/// (h · head_v_dim + j) · head_k_dim + i, read and written; `out`:
/// (n_tokens, n_v_heads · head_v_dim).
/// Errors: [`CpuError::Shape`] when a shape or a slice length disagrees.
pub fn gated_delta_net(x: &DeltaNetInputs<'_>, state: &mut [f32], out: &mut [f32], n_tokens: usize, s: &DeltaNetShape, norm: Option<&HostGatedNorm<'_>>) -> Result<(), CpuError> {
    const OP: &str = "gated_delta_net";
    s.check(OP, DELTA_NET_MAX_HEAD_DIM).map_err(|e| CpuError::Shape(e.to_string()))?;
    let (n_k, n_v) = (s.n_k_heads as usize, s.n_v_heads as usize);
    let (hk, hv) = (s.head_k_dim as usize, s.head_v_dim as usize);
    let width = n_v * hv;
    let fits = x.qkv.holds(n_tokens, s.qkv_width() as usize)
        && x.alpha.holds(n_tokens, n_v)
        && x.beta.holds(n_tokens, n_v)
        && x.dt_bias.len() >= n_v
        && x.ssm_a.len() >= n_v
        && state.len() >= n_v * hv * hk
        && out.len() >= n_tokens * width
        && norm.is_none_or(|n| n.z.holds(n_tokens, width) && n.weight.len() >= hv);
    if !fits {
        return Err(shape_err(OP, format!("{s:?} for {n_tokens} tokens: inputs, state ({}) or out ({}) too short", state.len(), out.len())));
    }
    let scale = 1.0 / (hk as f32).sqrt();
    let l2_normed = |v: &[f32], into: &mut [f32], extra: f32| {
        let inv = 1.0 / (v.iter().map(|a| a * a).sum::<f32>() + s.eps).sqrt() * extra;
        into.iter_mut().zip(v).for_each(|(o, a)| *o = a * inv);
    };
    let (mut q, mut k) = (vec![0.0f32; hk], vec![0.0f32; hk]);
    for h in 0..n_v {
        let kh = h % n_k;
        let sh = &mut state[h * hv * hk..][..hv * hk];
        for t in 0..n_tokens {
            let row = x.qkv.row(t, s.qkv_width() as usize);
            l2_normed(&row[kh * hk..][..hk], &mut q, scale);
            l2_normed(&row[(n_k + kh) * hk..][..hk], &mut k, 1.0);
            let v = &row[(2 * n_k * hk) + h * hv..][..hv];
            let g = (softplus(x.alpha.row(t, n_v)[h] + x.dt_bias[h]) * x.ssm_a[h]).exp();
            let beta = sigmoid(x.beta.row(t, n_v)[h]);
            let o = &mut out[t * width + h * hv..][..hv];
            for ((srow, vj), oj) in sh.chunks_exact_mut(hk).zip(v).zip(o.iter_mut()) {
                let mut sk = 0.0;
                for (sji, ki) in srow.iter_mut().zip(&k) {
                    *sji *= g;
                    sk += *sji * ki;
                }
                let d = beta * (vj - sk);
                let mut sq = 0.0;
                for ((sji, ki), qi) in srow.iter_mut().zip(&k).zip(&q) {
                    *sji += d * ki;
                    sq += *sji * qi;
                }
                *oj = sq;
            }
            if let Some(n) = norm {
                let z = &n.z.row(t, width)[h * hv..][..hv];
                let inv = 1.0 / (o.iter().map(|a| a * a).sum::<f32>() / hv as f32 + n.eps).sqrt();
                for ((oj, wj), zj) in o.iter_mut().zip(n.weight).zip(z) {
                    *oj = *oj * inv * wj * silu(*zj);
                }
            }
        }
    }
    Ok(())
}
