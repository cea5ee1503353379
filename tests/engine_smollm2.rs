//! The generation loop on SmolLM2: penalties at temperature 0 (the GPU
//! sampler applies them; the plain argmax cannot) and text held back for a
//! stop string that never came.

mod common;
use common::*;
use std::sync::Arc;
use tabllm::engine::{load_engine, Engine, FinishReason, GenerateParams};
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::{LoadOptions, Output};
use tabllm::sampler::SamplerConfig;
use tabllm::tokenizer::ChatMessage;

fn engine() -> Engine {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).expect("GPU adapter (install mesa-vulkan-drivers)"));
    let path = model_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    load_engine(ctx, &path, LoadOptions { n_ctx: Some(256), max_batch: 64, ..Default::default() }, 1 << 20, &mut |_| {}).unwrap()
}

fn greedy(max_tokens: u32, repetition_penalty: f32) -> GenerateParams {
    GenerateParams {
        max_tokens,
        sampler: SamplerConfig { temperature: 0.0, repetition_penalty, penalty_last_n: 64, ..SamplerConfig::default() },
        ..GenerateParams::default()
    }
}

fn gen(e: &mut Engine, ids: &[u32], p: &GenerateParams) -> tabllm::engine::Generation {
    pollster::block_on(e.generate(ids, p, &mut |_| true)).unwrap()
}

/// llama.cpp's repeat penalty, written out here: each distinct id among the
/// last `last_n` tokens has a positive logit divided by `penalty`, a negative
/// one multiplied. Then the argmax, lowest id on ties.
fn penalized_argmax(logits: &[f32], history: &[u32], penalty: f32, last_n: usize) -> u32 {
    let mut l = logits.to_vec();
    let recent: std::collections::BTreeSet<u32> = history[history.len().saturating_sub(last_n)..].iter().copied().collect();
    for id in recent {
        let v = &mut l[id as usize];
        *v = if *v > 0.0 { *v / penalty } else { *v * penalty };
    }
    let mut best = 0;
    for (i, &v) in l.iter().enumerate() {
        if v > l[best] {
            best = i;
        }
    }
    best as u32
}

/// Greedy with `repetition_penalty: 1.3` must apply it (it once ran the
/// plain GPU argmax; now the GPU sampler): the ids differ from a run without
/// it and equal the penalised argmax of the model's logits, step by step.
#[test]
fn repetition_penalty_applies_at_temperature_zero() {
    let mut e = engine();
    let prompt = e.encode_prompt("Once upon a time, in a small village, there was a small village");
    let n = 24;
    let plain = gen(&mut e, &prompt, &greedy(n, 1.0));
    let penalized = gen(&mut e, &prompt, &greedy(n, 1.3));
    assert_ne!(plain.ids, penalized.ids, "repetition_penalty 1.3 changed nothing: {:?}", e.tokenizer.decode(&penalized.ids));

    // The model's full logits after each chosen token; the choice made here.
    e.reset();
    let m = &e.model;
    let mut history = prompt.clone();
    let mut logits = reference::prefill(m, &prompt, Output::Logits).logits.unwrap();
    let mut want = Vec::new();
    for _ in 0..n {
        let next = penalized_argmax(&logits, &history, 1.3, 64);
        want.push(next);
        if e.tokenizer.is_eog(next) || want.len() == n as usize {
            break;
        }
        logits = pollster::block_on(m.step(&[next], history.len() as u32, Output::Logits)).unwrap().logits.unwrap();
        history.push(next);
    }
    assert_eq!(penalized.ids, want, "engine {:?}\nby hand {:?}", e.tokenizer.decode(&penalized.ids), e.tokenizer.decode(&want));
}

fn capital(e: &Engine) -> Vec<u32> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/cases/messages/capital.json");
    let messages: Vec<ChatMessage> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    e.encode_chat(&messages).unwrap()
}

/// shared/cases: `--stop 'Paris. Q:'`, greedy, 24 tokens. "Paris." is held
/// back as a possible start of the stop string; the end-of-generation token
/// comes next, and the held text must be flushed, to the callback too.
#[test]
fn held_back_text_is_flushed_at_end_of_generation() {
    let mut e = engine();
    let prompt = capital(&e);
    let p = GenerateParams { stop: vec!["Paris. Q:".into()], ..greedy(24, 1.0) };
    let mut streamed = String::new();
    let g = pollster::block_on(e.generate(&prompt, &p, &mut |s| {
        streamed.push_str(s);
        true
    }))
    .unwrap();
    assert_eq!(g.finish_reason, FinishReason::Stop);
    let last = *g.ids.last().unwrap();
    assert!(e.tokenizer.is_eog(last), "ended by the end-of-generation token, not the stop string: {:?}", g.ids);
    assert_eq!(g.text, "The capital of France is Paris.");
    assert_eq!(g.text, e.tokenizer.decode(&g.ids[..g.ids.len() - 1]), "the text is every generated token but the last");
    assert_eq!(streamed, g.text, "the callback got the held-back text too");
}

/// The same held-back text when the token budget ends the generation, and
/// when the caller aborts: in `text` (it was produced), not sent after abort.
#[test]
fn held_back_text_is_kept_at_max_tokens_and_abort() {
    let mut e = engine();
    let prompt = capital(&e);
    let full = gen(&mut e, &prompt, &greedy(24, 1.0));
    let words = e.tokenizer.decode(&full.ids[..full.ids.len() - 1]);
    assert_eq!(words, "The capital of France is Paris.");
    // Stop at "Paris" + something never generated: budget ends at the last word token.
    let k = full.ids.len() - 1;
    let p = GenerateParams { stop: vec!["Paris. Q:".into()], ..greedy(k as u32, 1.0) };
    let g = gen(&mut e, &prompt, &p);
    assert_eq!((g.finish_reason, g.text.as_str()), (FinishReason::Length, words.as_str()));
    // Abort on the piece sent when "Paris" is held back (the text up to "is "):
    // what was held is in `text` (it was produced) but is not sent after the abort.
    let mut sent = String::new();
    let g = pollster::block_on(e.generate(&prompt, &p, &mut |s| {
        sent.push_str(s);
        !sent.ends_with("is ")
    }))
    .unwrap();
    assert_eq!((g.finish_reason, sent.as_str()), (FinishReason::Aborted, "The capital of France is "));
    assert_eq!(g.text, e.tokenizer.decode(&g.ids), "text is every generated token");
    assert!(g.text.len() > sent.len() && words.starts_with(&g.text), "{:?}", g.text);
}
