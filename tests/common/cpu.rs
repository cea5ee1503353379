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
        // Causal: up to its own position (a window: the last `window`);
        // bidirectional: up to the step's last (a window: symmetric, keys
        // within window / 2 of its own position, llama.cpp `is_masked_swa`).
        let (own, w) = (pos0 + t, s.window as usize);
        let (start, end) = match (s.causal, w) {
            (true, 0) => (0, own + 1),
            (true, w) => ((own + 1).saturating_sub(w), own + 1),
            (false, 0) => (0, pos0 + n_tokens),
            (false, w) => (own.saturating_sub(w / 2), (own + w / 2 + 1).min(pos0 + n_tokens)),
        };
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
