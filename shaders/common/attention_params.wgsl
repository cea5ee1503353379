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
// encoders such as BERT, whose text is one step from position 0).
fn span_end(t: u32) -> u32 {
    if (p.causal == 0u) {
        return step.pos0 + step.n_tokens;
    }
    return step.pos0 + t + 1u;
}

// First position token `end - 1` attends to (with a window, which a
// non-causal layer never has).
fn span_start(end: u32) -> u32 {
    if (p.window > 0u && end > p.window) {
        return end - p.window;
    }
    return 0u;
}
