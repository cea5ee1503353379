//! The CPU backend's f32 ops besides the matmuls, each the arithmetic of
//! its WGSL twin (the file named on each) so both backends agree with the
//! same llama.cpp references. Buffers are token-major: `(n_tokens, stride)`.
//! Attention over the f16 KV cache is in [`super::attention`].

use crate::kernels::{GateActivation, RopeLayout, RopeShape};

/// RMSNorm of each row of `dim` (rmsnorm.wgsl): y = x / sqrt(mean(x²) + eps) · g · scale;
/// with `add`, y += that. `x`, `y`: (rows, dim); `g`: (dim).
pub fn rmsnorm(x: &[f32], g: &[f32], y: &mut [f32], dim: usize, eps: f32, scale: f32, add: bool) {
    for (xr, yr) in x.chunks_exact(dim).zip(y.chunks_exact_mut(dim)) {
        let inv = inv_rms(xr, eps) * scale;
        if add {
            yr.iter_mut().zip(xr).zip(g).for_each(|((y, x), g)| *y += x * inv * g);
        } else {
            yr.iter_mut().zip(xr).zip(g).for_each(|((y, x), g)| *y = x * inv * g);
        }
    }
}

/// RMSNorm in place over rows of `dim` (QK norm: one row per head); without
/// `g` the weight is 1 (Gemma 4's V norm).
pub fn rmsnorm_in_place(x: &mut [f32], g: Option<&[f32]>, dim: usize, eps: f32) {
    for xr in x.chunks_exact_mut(dim) {
        let inv = inv_rms(xr, eps);
        match g {
            Some(g) => xr.iter_mut().zip(g).for_each(|(x, g)| *x = *x * inv * g),
            None => xr.iter_mut().for_each(|x| *x *= inv),
        }
    }
}

/// LayerNorm in place over rows of `dim` (layernorm.wgsl, ggml_norm): x =
/// (x − mean) / sqrt(mean((x − mean)²) + eps) · w + b, the variance about
/// the mean in a second pass.
pub fn layernorm(x: &mut [f32], w: &[f32], b: &[f32], dim: usize, eps: f32) {
    for xr in x.chunks_exact_mut(dim) {
        let mean = xr.iter().sum::<f32>() / dim as f32;
        let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / dim as f32;
        let inv = 1.0 / (var + eps).sqrt();
        xr.iter_mut().zip(w).zip(b).for_each(|((x, w), b)| *x = (*x - mean) * inv * w + b);
    }
}

/// x = act(x), elementwise, no gate (elementwise.wgsl `gelu`: BERT's FFN).
pub fn activation(act: GateActivation, x: &mut [f32]) {
    match act {
        GateActivation::SiLU => x.iter_mut().for_each(|g| *g /= 1.0 + (-*g).exp()),
        GateActivation::Gelu => x.iter_mut().for_each(|g| *g = gelu_tanh(*g)),
    }
}

fn inv_rms(x: &[f32], eps: f32) -> f32 {
    let ss: f32 = x.iter().map(|v| v * v).sum();
    1.0 / (ss / x.len() as f32 + eps).sqrt()
}

/// RoPE in place (rope.wgsl, common/rope.wgsl): for token t at position
/// pos0 + t, pair i of each head turns by pos · freq_scale ·
/// freq_base^(−2i / n_rot) (divided by `factors[i]` when given). Pairs are
/// (2i, 2i+1) (Normal) or (i, i + n_rot/2) (NeoX); dimensions past n_rot stay.
/// `x`: (n_tokens, stride).
pub fn rope(x: &mut [f32], n_tokens: usize, stride: usize, pos0: u32, s: &RopeShape, factors: Option<&[f32]>) {
    let (hd, half) = (s.head_dim as usize, s.n_rot as usize / 2);
    for t in 0..n_tokens {
        let pos = (pos0 + t as u32) as f32;
        for i in 0..half {
            let mut theta = pos * s.freq_scale * s.freq_base.powf(-((2 * i) as f32) / s.n_rot as f32);
            if let Some(f) = factors {
                theta /= f[i];
            }
            let (sn, cs) = theta.sin_cos();
            let (sn, cs) = (sn * s.mscale, cs * s.mscale);
            let (a, b) = match s.layout {
                RopeLayout::Neox => (i, i + half),
                RopeLayout::Normal => (2 * i, 2 * i + 1),
            };
            for h in 0..s.n_heads as usize {
                let base = t * stride + h * hd;
                let (x0, x1) = (x[base + a], x[base + b]);
                x[base + a] = x0 * cs - x1 * sn;
                x[base + b] = x0 * sn + x1 * cs;
            }
        }
    }
}

/// gate = act(gate) · up, elementwise (elementwise.wgsl, common/act.wgsl).
/// SiLU takes its exp from the attention's vector kernels
/// (`attention::simd::silu_mul`, Cephes' expf): libm's scalar `expf` made
/// it a serial tenth of a long prefill in the browser.
pub fn gated_activation(act: GateActivation, gate: &mut [f32], up: &[f32]) {
    match act {
        GateActivation::SiLU => super::attention::simd::silu_mul(gate, up),
        GateActivation::Gelu => gate.iter_mut().zip(up).for_each(|(g, u)| *g = gelu_tanh(*g) * u),
    }
}

/// GELU, tanh approximation (ggml_gelu).
fn gelu_tanh(g: f32) -> f32 {
    let inner = 0.797_884_6 * (g + 0.044715 * g * g * g);
    0.5 * g * (1.0 + inner.clamp(-15.0, 15.0).tanh())
}

/// logits = cap · tanh(logits / cap) (Gemma's final soft-cap, matvec.wgsl).
pub fn softcap(v: &mut [f32], cap: f32) {
    v.iter_mut().for_each(|x| *x = cap * (*x / cap).clamp(-15.0, 15.0).tanh());
}

/// Index of the largest value, ties to the lowest index (argmax.wgsl); NaN never wins.
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = (0usize, f32::NEG_INFINITY);
    for (i, &x) in v.iter().enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best.0 as u32
}
