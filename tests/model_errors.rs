//! Bad input gets a typed error and nothing panics: an unsupported
//! architecture or tensor type, or a missing tensor, is reported from the
//! header alone (before any weight bytes); a tensor larger than the device
//! allows, a prompt longer than the context (as ids, or as text too long to
//! tokenize into it), an id outside the vocabulary and
//! a lost GPU device all come back as errors.

mod common;
use common::*;
use std::sync::Arc;
use tabllm::engine::{EngineError, GenerateParams};
use tabllm::gpu::{DeviceOptions, GpuContext, GpuError, GpuTensor};
use tabllm::model::{LoadOptions, ModelError, ModelLoader, Output};
use tabllm::quant::GgmlType;
use tabllm::chat::ChatMessage;

fn tiny() -> Vec<u8> {
    std::fs::read(shared("tiny/tiny-llama-q4_0.gguf")).unwrap()
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap_or_else(|| panic!("{:?} not in file", String::from_utf8_lossy(needle)))
}

/// Byte offset of a tensor info's type field: after name (u64 length + bytes), n_dims u32, dims u64 each.
fn tensor_type_offset(file: &[u8], name: &str) -> usize {
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    let at = find(file, &key) + key.len();
    let n_dims = u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    at + 4 + 8 * n_dims
}

/// Feeds only the header (everything before the tensor data) to a loader.
fn load_header_only(ctx: &Arc<GpuContext>, file: &[u8]) -> Result<(), ModelError> {
    let h = tabllm::gguf::read_header(file).unwrap();
    let mut loader = ModelLoader::new(ctx.clone(), LoadOptions::default());
    loader.push(&file[..h.data_offset as usize])
}

#[test]
fn unsupported_or_incomplete_models_fail_at_header_time() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());

    let mut f = tiny();
    let at = find(&f, b"general.architecture") + "general.architecture".len() + 4 + 8;
    f[at..at + 5].copy_from_slice(b"mamba");
    match load_header_only(&ctx, &f) {
        Err(e @ ModelError::UnsupportedArchitecture(_)) => assert!(e.to_string().contains("mamba"), "{e}"),
        other => panic!("expected UnsupportedArchitecture, got {other:?}"),
    }

    let mut f = tiny();
    let at = tensor_type_offset(&f, "blk.0.attn_q.weight");
    f[at..at + 4].copy_from_slice(&16u32.to_le_bytes()); // IQ2_XXS: smaller than Q4_0, so the layout stays valid
    match load_header_only(&ctx, &f) {
        Err(e @ ModelError::UnsupportedTensorType { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("blk.0.attn_q.weight") && msg.contains("IQ2_XXS"), "{msg}");
        }
        other => panic!("expected UnsupportedTensorType, got {other:?}"),
    }

    let mut f = tiny();
    let at = find(&f, b"blk.1.ffn_up.weight");
    f[at..at + 19].copy_from_slice(b"blk.1.ffn_xx.weight");
    match load_header_only(&ctx, &f) {
        Err(ModelError::MissingTensor(name)) => assert_eq!(name, "blk.1.ffn_up.weight"),
        other => panic!("expected MissingTensor, got {other:?}"),
    }

    // A file cut inside the weights: the loader accepts the chunks, finish() says it is incomplete.
    let f = tiny();
    let mut loader = ModelLoader::new(ctx.clone(), LoadOptions::default());
    loader.push(&f[..f.len() - 1000]).unwrap();
    assert!(matches!(loader.finish(), Err(ModelError::Gguf(tabllm::gguf::GgufError::Truncated { .. }))));
}

#[test]
fn tensor_row_larger_than_binding_limit() {
    let ctx = GpuContext::new_blocking(&DeviceOptions { max_binding_size: Some(4096), ..Default::default() }).unwrap();
    // One F32 row of 4096 values is 16 KiB: it cannot be split below a row.
    match GpuTensor::allocate(&ctx, "big", GgmlType::F32, &[4096, 8], 4096 * 8 * 4) {
        Err(e @ GpuError::TensorTooLarge { .. }) => assert!(e.to_string().contains("4096"), "{e}"),
        other => panic!("expected TensorTooLarge, got {:?}", other.err()),
    }
}

#[test]
fn runtime_errors_are_typed() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let path = shared("tiny/tiny-llama-q4_0.gguf");
    let mut engine = tabllm::engine::load_engine(ctx.clone(), &path, LoadOptions { n_ctx: Some(16), max_batch: 8, ..Default::default() }, 4096, &mut |_| {}).unwrap();

    let long: Vec<u32> = (0..40).collect();
    let r = pollster::block_on(engine.generate(&long, &GenerateParams::default(), &mut |_| true));
    assert!(matches!(r, Err(EngineError::PromptTooLong { prompt: 40, n_ctx: 16 })), "{r:?}");
    assert!(matches!(pollster::block_on(engine.generate(&[], &GenerateParams::default(), &mut |_| true)), Err(EngineError::EmptyPrompt)));

    // A text that cannot fit whatever it tokenizes to is refused before it
    // is tokenized, as a chat message too.
    let huge = "word ".repeat(1 << 20);
    let Err(EngineError::TextTooLong { bytes, max_bytes, n_ctx: 16 }) = engine.check_text_fits(&huge) else { panic!("a 5 MB prompt fits 16 tokens?") };
    assert_eq!(bytes, huge.len());
    assert!(matches!(engine.encode_chat(&[ChatMessage::new("user", huge)]), Err(EngineError::TextTooLong { n_ctx: 16, .. })));
    // The bound holds: no text tokenizes to fewer than bytes / (max_bytes / n_ctx) tokens.
    let per_token = max_bytes / 16;
    for text in ["word ".repeat(200), "a".repeat(3000), "<|im_start|>".repeat(50), "日本語 ".repeat(300), " ".repeat(999), "\u{1F600}".repeat(100)] {
        let ids = engine.encode_prompt(&text);
        assert!(ids.len() * per_token >= text.len(), "{} tokens for {} bytes at {per_token} bytes per token at most", ids.len(), text.len());
        assert_eq!(engine.check_text_fits(&text).is_ok(), text.len() <= max_bytes);
    }

    let m = &engine.model;
    assert!(matches!(pollster::block_on(m.step(&[5000], 0, Output::Argmax)), Err(ModelError::BadToken { id: 5000, vocab: 1024 })));
    assert!(matches!(pollster::block_on(m.step(&[1, 2], 15, Output::Argmax)), Err(ModelError::ContextFull { needed: 17, n_ctx: 16 })));

    // Generation that runs into the end of the context stops with "length", not an error.
    let g = pollster::block_on(engine.generate(&[1, 2, 3], &GenerateParams { max_tokens: 100, ..Default::default() }, &mut |_| true)).unwrap();
    assert_eq!(g.finish_reason, tabllm::engine::FinishReason::Length);
    assert!(g.prompt_ids.len() + g.ids.len() <= 16);
}

#[test]
fn lost_device_is_an_error_not_a_panic() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let (m, _) = tabllm::model::load_path(ctx.clone(), &shared("tiny/tiny-llama-q4_0.gguf"), LoadOptions { n_ctx: Some(32), max_batch: 8, ..Default::default() }, 1 << 16).unwrap();
    assert!(pollster::block_on(m.step(&[1, 2, 3], 0, Output::Argmax)).is_ok());
    ctx.device.destroy();
    // A loss is told as a loss (the page offers to load again), never as a
    // validation or read-back error, on this step and every later one.
    for pos in [3, 4] {
        let r = pollster::block_on(m.step(&[4], pos, Output::Argmax));
        assert!(matches!(r, Err(ModelError::Gpu(GpuError::DeviceLost(_)))), "after device loss, step at {pos}: {r:?}");
    }
}

/// A context the device cannot hold (one layer's K cache over the binding
/// limit) is refused by name with how many positions fit, before any cache
/// is allocated; so is an empty context.
#[test]
fn context_beyond_the_device_is_refused() {
    let cap = 1 << 20;
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions { max_binding_size: Some(cap), ..Default::default() }).unwrap());
    let path = shared("tiny/tiny-llama-q4_0.gguf");
    let load = |n_ctx| tabllm::model::load_path(ctx.clone(), &path, LoadOptions { n_ctx: Some(n_ctx), ..Default::default() }, 1 << 16).map(|_| ());
    let elem = if ctx.has_f16() { 2 } else { 4 };
    let h = tabllm::gguf::read_header_from_path(&path).unwrap();
    let c = tabllm::model::ModelConfig::from_header(&h).unwrap();
    let fit = (cap / (c.kv_dim() as u64 * elem)) as u32;
    match load(fit + 1) {
        Err(ModelError::ContextTooLarge { n_ctx, limit, max_n_ctx, .. }) => assert_eq!((n_ctx, limit, max_n_ctx), (fit + 1, cap, fit)),
        other => panic!("context {}: {:?}", fit + 1, other.err()),
    }
    assert!(load(fit).is_ok(), "a context of {fit} fits");
    assert!(matches!(load(0), Err(ModelError::Config(m)) if m.contains("at least 1")));
}

#[test]
fn too_large_for_the_cpu_suggests_a_shorter_context_only_when_the_weights_fit() {
    let limit = 4 << 30;
    let kv_over = ModelError::TooLargeForCpu { weights: 3 << 30, kv: 2 << 30, limit }.to_string();
    assert!(kv_over.ends_with("; use WebGPU, a smaller model or quantization, or a shorter context"), "{kv_over}");
    let weights_over = ModelError::TooLargeForCpu { weights: 5 << 30, kv: 1 << 20, limit }.to_string();
    assert!(weights_over.ends_with("; the weights alone are over it: use WebGPU, or a smaller model or quantization"), "{weights_over}");
    assert!(!weights_over.contains("context;") && !weights_over.contains("shorter"), "{weights_over}");
}
