//! The generation loop on a tiny model: seeded sampling is reproducible, stop
//! strings cut the text, the caller can abort, and reusing the KV cache of a
//! shared prefix gives exactly what a fresh prefill gives.

mod common;
use common::*;
use std::sync::Arc;
use tabllm::engine::{load_engine, Engine, FinishReason, GenerateParams};
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::LoadOptions;
use tabllm::sampler::SamplerConfig;

fn engine(ctx: &Arc<GpuContext>) -> Engine {
    let path = shared("tiny/tiny-llama-q4_0.gguf");
    load_engine(ctx.clone(), &path, LoadOptions { n_ctx: Some(128), max_batch: 8 }, 1 << 16, &mut |_| {}).unwrap()
}

fn sampled(seed: u64) -> GenerateParams {
    GenerateParams {
        max_tokens: 24,
        sampler: SamplerConfig { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..SamplerConfig::default() },
        ..GenerateParams::default()
    }
}

fn greedy(max_tokens: u32) -> GenerateParams {
    GenerateParams { max_tokens, sampler: SamplerConfig { temperature: 0.0, ..SamplerConfig::default() }, ..GenerateParams::default() }
}

fn gen(e: &mut Engine, ids: &[u32], p: &GenerateParams) -> tabllm::engine::Generation {
    pollster::block_on(e.generate(ids, p, &mut |_| true)).unwrap()
}

#[test]
fn seeded_sampling_is_reproducible() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let mut e = engine(&ctx);
    let prompt = e.encode_prompt("Once upon a time");
    let a = gen(&mut e, &prompt, &sampled(7));
    let b = gen(&mut e, &prompt, &sampled(7));
    let c = gen(&mut e, &prompt, &sampled(8));
    assert_eq!(a.ids, b.ids, "same seed, same tokens");
    assert_ne!(a.ids, c.ids, "another seed, other tokens");
}

#[test]
fn stop_strings_and_abort() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let mut e = engine(&ctx);
    let prompt = e.encode_prompt("The capital of France is");
    let full = gen(&mut e, &prompt, &greedy(16));
    assert!(full.text.chars().count() > 4, "{:?}", full.text);
    // Stop on a piece of the greedy text: the result is the text before it.
    let cut: String = full.text.chars().skip(3).take(2).collect();
    let p = GenerateParams { stop: vec![cut.clone()], ..greedy(16) };
    let stopped = gen(&mut e, &prompt, &p);
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert_eq!(stopped.text, full.text[..full.text.find(&cut).unwrap()]);
    // Abort after the second piece of text.
    let mut pieces = 0;
    let r = pollster::block_on(e.generate(&prompt, &greedy(16), &mut |_| {
        pieces += 1;
        pieces < 2
    }))
    .unwrap();
    assert_eq!(r.finish_reason, FinishReason::Aborted);
    assert!(r.ids.len() < full.ids.len());
}

#[test]
fn kv_prefix_reuse_matches_a_fresh_prefill() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let mut warm = engine(&ctx);
    let first = warm.encode_prompt("Hello there, how are you");
    let g1 = gen(&mut warm, &first, &greedy(6));
    // A follow-up that extends the first prompt and its answer: only the new tokens are prefilled.
    let mut follow: Vec<u32> = first.iter().chain(&g1.ids).copied().collect();
    follow.extend(warm.encode_prompt(" and then"));
    let g2 = gen(&mut warm, &follow, &greedy(8));
    assert!(g2.prefilled < follow.len(), "prefilled {} of {}", g2.prefilled, follow.len());
    let mut fresh = engine(&ctx);
    let g3 = gen(&mut fresh, &follow, &greedy(8));
    assert_eq!(g3.prefilled, follow.len());
    assert_eq!(g2.ids, g3.ids, "cached prefix must not change the output");
    // A prompt that shares only part of the cache (an edited last turn) is also right.
    let mut edited = first.clone();
    edited.push(follow[first.len() + 1]);
    let g4 = gen(&mut warm, &edited, &greedy(8));
    let g5 = gen(&mut engine(&ctx), &edited, &greedy(8));
    assert_eq!(g4.ids, g5.ids);
}
