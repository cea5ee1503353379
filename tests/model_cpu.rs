//! The CPU backend against llama.cpp's references, as the GPU path is tested:
//! SmolLM2-135M-Instruct Q4_1 and Gemma 3 270M Q4_K_M (greedy ids of every
//! `greedy` prompt and `chat` conversation, first-step top-20 logits within
//! 0.1; see tests/common/reference.rs). The CPU kernels round activations to
//! 16 bits inside quantized dot products (src/cpu/matmul/act.rs: ~1/258 of
//! the rounding of llama.cpp's 8-bit CPU kernels), so the targets are the
//! f32-activation ones the GPU path meets (`reference::cases`), not
//! llama.cpp's 8-bit-activation CPU run, which differs from them by up to
//! ~0.7 (shared/reference/README.md).
//! The tiny models run on the CPU backend in `common::tiny::check_tiny`
//! (tests/model_tiny*.rs).

mod common;
use common::*;
use std::sync::Arc;
use tabllm::cpu::{threads::NativeThreads, CpuThreads};
use tabllm::model::{self, BackendKind, Device, LoadOptions};

/// The model on the CPU backend, on `threads` threads (1: the engine's own;
/// more: the matmuls and attention split across them with the weights and
/// KV cache in their memory, `tabllm::cpu::threads`, as in a
/// cross-origin-isolated browser). Their waits sleep at once: the test
/// runner runs other tests beside these on a few cores, where spinning
/// threads only wait for each other.
fn load(file: &str, n_ctx: u32, threads: usize) -> model::Model {
    let cpu_threads = (threads > 1).then(|| Arc::new(NativeThreads::with_spin(threads, 0).unwrap()) as Arc<dyn CpuThreads>);
    let (m, _) = model::load_path_on(Device::Cpu, &model_path(file), LoadOptions { n_ctx: Some(n_ctx), max_batch: 64, cpu_threads, ..Default::default() }, 1 << 20).unwrap();
    assert_eq!(m.backend(), BackendKind::Cpu);
    assert!(m.gpu_context().is_none(), "a CPU model holds no GPU");
    m
}

#[test]
fn smollm2_on_the_cpu_matches_llama_cpp() {
    let m = load("SmolLM2-135M-Instruct.Q4_1.gguf", 256, 1);
    // The KV cache is f16 (src/cpu/attention.rs): 30 layers × 256 positions × K and V of 3 heads × 64 × 2 bytes.
    assert_eq!(m.kv_cache_bytes(), 30 * 256 * 2 * 192 * 2);
    reference::check_model(&m, &reference::cases("smollm2-135m-instruct-q4_1.json"));
}

#[test]
fn gemma3_on_the_cpu_matches_llama_cpp() {
    let m = load("gemma-3-270m-q4_k_m.gguf", 1024, 1);
    reference::check_model(&m, &reference::cases("gemma-3-270m-q4_k_m.json"));
}

/// The same references with the matmuls on 2 (SmolLM2) and 3 (Gemma 3)
/// threads: each thread's share is the one-thread arithmetic, so the
/// results are the ones above.
#[test]
fn smollm2_on_two_cpu_threads_matches_llama_cpp() {
    let m = load("SmolLM2-135M-Instruct.Q4_1.gguf", 256, 2);
    assert_eq!(m.kv_cache_bytes(), 30 * 256 * 2 * 192 * 2);
    reference::check_model(&m, &reference::cases("smollm2-135m-instruct-q4_1.json"));
}

#[test]
fn gemma3_on_three_cpu_threads_matches_llama_cpp() {
    let m = load("gemma-3-270m-q4_k_m.gguf", 1024, 3);
    reference::check_model(&m, &reference::cases("gemma-3-270m-q4_k_m.json"));
}
