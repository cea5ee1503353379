//! SmolLM2-135M-Instruct Q4_1 against llama.cpp run on the same weights with
//! f32 activations (../shared/reference/smollm2-135m-instruct-q4_1.json):
//! greedy ids for every `greedy` prompt and `chat` conversation (at most one
//! may part at a near-tie, whose two logits are printed) and the first-step
//! top-20 logits within 0.1 (see tests/common/reference.rs). Token ids come
//! from the reference, so this tests the model alone; tests/cli.rs covers
//! tokenizer + template + model together.

mod common;
use common::*;
use std::sync::Arc;
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::{self, LoadOptions};

#[test]
fn smollm2_matches_llama_cpp_f32_activations() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let path = model_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    let (m, _) = model::load_path(ctx.clone(), &path, LoadOptions { n_ctx: Some(256), max_batch: 64, ..Default::default() }, 1 << 20).unwrap();
    reference::check_model(&m, &reference::cases("smollm2-135m-instruct-q4_1.json"));
}
