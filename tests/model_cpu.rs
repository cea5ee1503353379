//! The CPU backend against llama.cpp's references, as the GPU path is tested:
//! SmolLM2-135M-Instruct Q4_1 and Gemma 3 270M Q4_K_M (greedy ids of every
//! `greedy` prompt and `chat` conversation, first-step top-20 logits within
//! 0.1; see tests/common/reference.rs). The CPU kernels round activations to
//! 8 bits inside quantized dot products as llama.cpp's CPU kernels do, so the
//! targets are llama.cpp's run on the quantized file (`Activations::Q8`); the
//! f32-activation run differs from it by up to ~0.7 (shared/reference/README.md).
//! The tiny models run on the CPU backend in `common::tiny::check_tiny`
//! (tests/model_tiny*.rs).

mod common;
use common::*;
use tabllm::model::{self, BackendKind, Device, LoadOptions};

fn load(file: &str, n_ctx: u32) -> model::Model {
    let (m, _) = model::load_path_on(Device::Cpu, &model_path(file), LoadOptions { n_ctx: Some(n_ctx), max_batch: 64, ..Default::default() }, 1 << 20).unwrap();
    assert_eq!(m.backend(), BackendKind::Cpu);
    assert!(m.gpu_context().is_none(), "a CPU model holds no GPU");
    m
}

#[test]
fn smollm2_on_the_cpu_matches_llama_cpp() {
    let m = load("SmolLM2-135M-Instruct.Q4_1.gguf", 256);
    reference::check_model(&m, &reference::cases_for("smollm2-135m-instruct-q4_1.json", reference::Activations::Q8));
}

#[test]
fn gemma3_on_the_cpu_matches_llama_cpp() {
    let m = load("gemma-3-270m-q4_k_m.gguf", 1024);
    reference::check_model(&m, &reference::cases_for("gemma-3-270m-q4_k_m.json", reference::Activations::Q8));
}
