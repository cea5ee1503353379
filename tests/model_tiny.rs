//! The tiny random-weight llama models in ../shared/reference/tiny/ against
//! llama.cpp (see `common::tiny::check_tiny`). Both precisions.

mod common;
use common::tiny::check_tiny;

#[test]
fn tiny_llama_q4_0() {
    check_tiny("tiny-llama-q4_0");
}

#[test]
fn tiny_llama_q5_1() {
    check_tiny("tiny-llama-q5_1");
}

#[test]
fn tiny_llama_bf16() {
    check_tiny("tiny-llama-bf16");
}

/// The dispatch count `tabllm bench` reports as `dispatches_per_token`,
/// against the op list written out by hand. Fused (the default), per llama
/// layer (no biases, no QK norm): attn_qkv (norm, q|k|v, RoPE, KV store),
/// attention, attn_output (+ residual), ffn_gate_up (norm, gate|up,
/// activation), ffn_down (+ residual). Unfused: attn_norm, q, k, v, rope_q,
/// rope_k, kv_store, attention, out+residual, ffn_norm, gate, up, act,
/// down+residual. Then the embedding before the layers, and after them the
/// output head (final norm folded in) and the GPU argmax or sampler.
#[test]
fn dispatches_per_step_follow_the_op_list() {
    let ctx = std::sync::Arc::new(common::contexts().remove(0));
    let path = common::shared("tiny/tiny-llama-q4_0.gguf");
    for (fuse, per_layer) in [(true, 5), (false, 14)] {
        let opts = tabllm::model::LoadOptions { n_ctx: Some(64), max_batch: 16, fuse, prefill: tabllm::model::PrefillPath::Matvec, cpu_threads: None };
        let (m, _) = tabllm::model::load_path(ctx.clone(), &path, opts, 4096).unwrap();
        let layers = m.config.n_layers as usize;
        assert_eq!(layers, 2);
        assert_eq!(m.fused_layers(), (if fuse { layers } else { 0 }, layers));
        use tabllm::model::Output;
        assert_eq!(m.dispatches_per_step(1, Output::Argmax), 1 + per_layer * layers + 2, "decode, fuse {fuse}");
        assert_eq!(m.dispatches_per_step(1, Output::Logits), 1 + per_layer * layers + 1, "decode with logits, fuse {fuse}");
        assert_eq!(m.dispatches_per_step(1, Output::Sample), 1 + per_layer * layers + 2, "decode sampled on the GPU, fuse {fuse}");
        assert_eq!(m.dispatches_per_step(16, Output::None), 1 + per_layer * layers, "prefill chunk, fuse {fuse}");
    }
    // The GEMM prefill list runs the unfused op list's 14 per layer (its
    // projections as GEMMs) from GEMM_MIN_TOKENS tokens; decode keeps 5.
    let opts = tabllm::model::LoadOptions { n_ctx: Some(64), max_batch: 32, ..Default::default() };
    let (m, _) = tabllm::model::load_path(ctx.clone(), &path, opts, 4096).unwrap();
    use tabllm::model::{Output, GEMM_MIN_TOKENS};
    assert_eq!(m.dispatches_per_step(1, Output::Argmax), 1 + 5 * 2 + 2, "decode");
    assert_eq!(m.dispatches_per_step(GEMM_MIN_TOKENS - 1, Output::None), 1 + 5 * 2, "short step: the decode list");
    assert_eq!(m.dispatches_per_step(GEMM_MIN_TOKENS, Output::None), 1 + 14 * 2, "prefill step: the GEMM list");
    assert_eq!(m.dispatches_per_step(32, Output::Logits), 1 + 14 * 2 + 1, "prefill step with the logits");
    // Decode over a span past SPLIT_MIN_SPAN splits attention: a combine per layer.
    let long = tabllm::model::LoadOptions { n_ctx: Some(2 * tabllm::kernels::SPLIT_MIN_SPAN), ..Default::default() };
    let (m2, _) = tabllm::model::load_path(ctx.clone(), &path, long, 4096).unwrap();
    assert_eq!(m2.dispatches_per_step_at(1, tabllm::kernels::SPLIT_MIN_SPAN - 1, Output::Argmax), 1 + 5 * 2 + 2, "decode over one split");
    assert_eq!(m2.dispatches_per_step_at(1, tabllm::kernels::SPLIT_MIN_SPAN, Output::Argmax), 1 + 6 * 2 + 2, "decode over a split span");

    // Weight bytes a step reads, from the GGUF tensor sizes: the layer
    // matrices once per GEMM tile of tokens (per 8 tokens on the matvec
    // list), one embedding row per token, the output head once.
    let size = |name: &str| m.weight_sizes().iter().find(|(n, _)| n == name).map(|(_, b)| *b).unwrap();
    let matrices: u64 = m.weight_sizes().iter().filter(|(n, _)| n.starts_with("blk.") && ["attn_q.", "attn_k.", "attn_v.", "attn_output.", "ffn_gate.", "ffn_up.", "ffn_down."].iter().any(|p| n.contains(p))).map(|(_, b)| b).sum();
    let embd_row = size("token_embd.weight") / m.config.vocab as u64;
    let head = m.weight_sizes().iter().find(|(n, _)| n == "output.weight").map_or(size("token_embd.weight"), |(_, b)| *b);
    assert_eq!(m.weight_bytes_read(1), matrices + embd_row + head, "decode");
    assert_eq!(m.weight_bytes_read(12), 2 * matrices + 12 * embd_row + head, "12 tokens on the matvec list: 2 groups of 8");
    // 64-token tiles on a GPU (tiled GEMM), 32 on a CPU adapter (token lanes).
    let tiles = 130u64.div_ceil(ctx.prefill_kernels.tokens_per_group() as u64);
    assert_eq!(tiles, match ctx.prefill_kernels { tabllm::gpu::PrefillKernels::Tiled => 3, tabllm::gpu::PrefillKernels::TokenLanes => 5 });
    assert_eq!(m.weight_bytes_read(130), tiles * matrices + 130 * embd_row + head, "130 tokens: {tiles} GEMM tiles");
}
