// Parameters of attention.wgsl and flash_attention.wgsl (src/kernels/attention.rs
// `Params`).
struct Params {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,    // <= MAX_HEAD_DIM (flash_attention.wgsl: == HEAD_DIM)
    q_stride: u32,    // f32 elements between tokens in q
    kv_dim: u32,      // n_kv_heads * head_dim: elements per cache position
    out_stride: u32,  // f32 elements between tokens in out
    window: u32,      // 0: attend to every earlier position
    scale: f32,       // usually 1 / sqrt(head_dim)
    n_cache: u32,     // cache slots (positions the cache holds)
    max_splits: u32,  // splits `partials` holds per head (attention.wgsl)
    causal: u32,      // 1: token t attends up to itself; 0: to every position of the step (BERT)
    _pad2: u32,
};
@group(0) @binding(1) var<uniform> p: Params;

// One past the last position token t of the step attends to: its own
// position (causal), or the step's last token's (non-causal: bidirectional
// encoders such as BERT, whose text is one step from position 0), within
// window / 2 positions after its own when a non-causal layer has a window
// (llama.cpp's LLAMA_SWA_TYPE_SYMMETRIC, EmbeddingGemma: |j - i| <= window / 2).
fn span_end(t: u32) -> u32 {
    if (p.causal == 0u) {
        let last = step.pos0 + step.n_tokens;
        if (p.window > 0u) {
            return min(last, step.pos0 + t + p.window / 2u + 1u);
        }
        return last;
    }
    return step.pos0 + t + 1u;
}

// First position token t of the step attends to: with a causal window the
// last `window` positions up to its own; with a non-causal (symmetric) one
// window / 2 positions before its own; else 0.
fn span_start(t: u32) -> u32 {
    let pos = step.pos0 + t;
    if (p.window == 0u) {
        return 0u;
    }
    if (p.causal == 0u) {
        return pos - min(pos, p.window / 2u);
    }
    let end = pos + 1u;
    if (end > p.window) {
        return end - p.window;
    }
    return 0u;
}
