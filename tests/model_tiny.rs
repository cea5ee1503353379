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
/// against the op list written out by hand: per llama layer (no biases, no QK
/// norm) attn_norm, q, k, v, rope_q, rope_k, kv_store, attention,
/// out+residual, ffn_norm, gate, up, act, down+residual; then the embedding,
/// output_norm, the output head and the GPU argmax (or the GPU sampler). The decode-speed issue
/// lowers these figures; update the list here when the op list changes.
#[test]
fn dispatches_per_step_follow_the_op_list() {
    let ctx = std::sync::Arc::new(common::contexts().remove(0));
    let opts = tabllm::model::LoadOptions { n_ctx: Some(64), max_batch: 16 };
    let path = common::shared("tiny/tiny-llama-q4_0.gguf");
    let (m, _) = tabllm::model::load_path(ctx, &path, opts, 4096).unwrap();
    let layers = m.config.n_layers as usize;
    assert_eq!(layers, 2);
    let per_layer = 14;
    use tabllm::model::Output;
    assert_eq!(m.dispatches_per_step(1, Output::Argmax), 1 + per_layer * layers + 3, "decode");
    assert_eq!(m.dispatches_per_step(1, Output::Logits), 1 + per_layer * layers + 2, "decode with logits");
    assert_eq!(m.dispatches_per_step(1, Output::Sample), 1 + per_layer * layers + 3, "decode sampled on the GPU");
    assert_eq!(m.dispatches_per_step(16, Output::None), 1 + per_layer * layers, "prefill chunk");
}
