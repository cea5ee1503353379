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
    _pad1: u32,
    _pad2: u32,
};
@group(0) @binding(1) var<uniform> p: Params;

// First position token `end - 1` attends to.
fn span_start(end: u32) -> u32 {
    if (p.window > 0u && end > p.window) {
        return end - p.window;
    }
    return 0u;
}
