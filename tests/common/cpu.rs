//! CPU references of kernels that several test files check.

use tabllm::kernels::AttentionShape;

/// Attention in f64 over positions [start, pos0 + t] of token t, grouped KV
/// heads: q, out (n_tokens, n_heads * head_dim); k, v (positions, kv_dim)
/// indexed by position.
pub fn attention(q: &[f32], k: &[f32], v: &[f32], pos0: usize, n_tokens: usize, s: AttentionShape) -> Vec<f32> {
    let (hd, kv_dim, width) = (s.head_dim as usize, s.kv_dim() as usize, (s.n_heads * s.head_dim) as usize);
    let group = (s.n_heads / s.n_kv_heads) as usize;
    let mut out = vec![0f32; n_tokens * width];
    for t in 0..n_tokens {
        // Causal: up to its own position; bidirectional: up to the step's last.
        let end = if s.causal { pos0 + t + 1 } else { pos0 + n_tokens };
        let start = if s.window > 0 { end.saturating_sub(s.window as usize) } else { 0 };
        for h in 0..s.n_heads as usize {
            let kvo = (h / group) * hd;
            let qh = &q[t * width + h * hd..][..hd];
            let scores: Vec<f64> = (start..end)
                .map(|j| (0..hd).map(|d| qh[d] as f64 * k[j * kv_dim + kvo + d] as f64).sum::<f64>() * s.scale as f64)
                .collect();
            let m = scores.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = scores.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for d in 0..hd {
                let acc: f64 = (start..end).zip(&e).map(|(j, p)| p * v[j * kv_dim + kvo + d] as f64).sum();
                out[t * width + h * hd + d] = (acc / z) as f32;
            }
        }
    }
    out
}
