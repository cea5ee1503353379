//! The tiny random-weight Qwen2 (q/k/v biases) and Qwen3 (per-head QK norm)
//! models in ../shared/reference/tiny/ against llama.cpp on the same weights
//! dequantized to f32 (see `common::tiny::check_tiny`), both precisions; and
//! an architecture tabllm does not run is refused at header time, by name.

mod common;
use common::tiny::check_tiny;
use common::*;
use std::sync::Arc;
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::{LoadOptions, ModelError, ModelLoader};

#[test]
fn tiny_qwen2_q4_k_m() {
    check_tiny("tiny-qwen2-q4_k_m");
}

#[test]
fn tiny_qwen3_q4_k_m() {
    check_tiny("tiny-qwen3-q4_k_m");
}

#[test]
fn unsupported_architecture_is_named_at_header_time() {
    let mut bytes = std::fs::read(shared("tiny/tiny-qwen2-q4_k_m.gguf")).unwrap();
    // general.architecture's value: key, then type (u32) and length (u64), then "qwen2".
    let key = b"general.architecture";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len() + 4 + 8;
    assert_eq!(&bytes[at..at + 5], b"qwen2");
    bytes[at..at + 5].copy_from_slice(b"mamba");
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let mut loader = ModelLoader::new(ctx, LoadOptions::default());
    // The header alone (no tensor bytes) is enough for the refusal.
    let header_len = 64 << 10;
    match loader.push(&bytes[..header_len]) {
        Err(ModelError::UnsupportedArchitecture(name)) => {
            assert_eq!(name, "mamba");
            let msg = ModelError::UnsupportedArchitecture(name).to_string();
            for arch in tabllm::model::Arch::ALL {
                assert!(msg.contains(arch.name()), "`{msg}` does not list {}", arch.name());
            }
        }
        other => panic!("expected UnsupportedArchitecture, got {:?}", other.map(|_| ())),
    }
}
