//! The generation loop on SmolLM2: penalties at temperature 0 (the GPU
//! sampler applies them; the plain argmax cannot), text held back for a
//! stop string that never came, and log-probabilities against llama.cpp's.

mod common;
use common::*;
use std::sync::Arc;
use tabllm::engine::{load_engine, Engine, FinishReason, GenerateParams, TokenLogprob};
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::{LoadOptions, Output};
use tabllm::sampler::SamplerConfig;
use tabllm::chat::ChatMessage;

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

/// A difference of two logits, each within `reference::TOP_LOGIT_TOL` of llama.cpp's.
const LOGPROB_DIFF_TOL: f32 = 2.0 * reference::TOP_LOGIT_TOL;
/// f32 rounding of log-probabilities summed as probabilities.
const PROB_SUM_TOL: f64 = 1e-5;

/// What holds for every token's log-probabilities at temperature 0: the
/// picked token is the likeliest, nothing is above 0, the alternatives come
/// highest first and their probabilities sum to at most 1.
fn check_greedy_logprobs(what: &str, lps: &[TokenLogprob], k: usize) {
    for (i, lp) in lps.iter().enumerate() {
        assert_eq!(lp.top.len(), k, "{what} token {i}: {lp:?}");
        assert!(lp.logprob <= 0.0, "{what} token {i}: logprob above 0: {lp:?}");
        assert!(lp.top.windows(2).all(|w| w[0].1 >= w[1].1), "{what} token {i}: top not sorted: {lp:?}");
        let mass: f64 = lp.top.iter().map(|t| (t.1 as f64).exp()).sum();
        assert!(mass <= 1.0 + PROB_SUM_TOL, "{what} token {i}: top probabilities sum to {mass}");
        if let Some(&(id, l)) = lp.top.first() {
            assert_eq!((id, l), (lp.id, lp.logprob), "{what} token {i}: the greedy token is the likeliest");
        }
    }
}

/// `logprobs: Some(20)` at temperature 0: the same ids as the fast GPU path,
/// one log-probability per token of the text, and the first token's 20
/// alternatives as llama.cpp's top-20 logits after log-softmax. Only the
/// reference's top 20 are known, not its normalizer, so differences between
/// alternatives are compared (the log-softmax shifts every logit alike), and
/// ours are at most the reference's log-softmax over its top 20 alone.
#[test]
fn logprobs_match_the_greedy_tokens_and_llama_cpp() {
    let mut e = engine();
    let case = &reference::cases("smollm2-135m-instruct-q4_1.json")[0];
    let fast = gen(&mut e, &case.prompt_ids, &greedy(8, 1.0));
    let p = GenerateParams { logprobs: Some(20), ..greedy(8, 1.0) };
    let g = gen(&mut e, &case.prompt_ids, &p);
    assert_eq!(g.ids, fast.ids, "reading the logits back picks the same greedy tokens");
    assert_eq!(g.logprobs.iter().map(|l| l.id).collect::<Vec<_>>(), g.ids, "one per token (no end-of-generation token in 8)");
    check_greedy_logprobs(&case.name, &g.logprobs, 20);

    let first = &g.logprobs[0];
    let (want0_id, want0) = case.want_top[0];
    assert_eq!(first.id, want0_id, "{}: llama.cpp's first greedy token", case.name);
    let ref_lse = want0 as f64 + case.want_top.iter().map(|&(_, l)| ((l - want0) as f64).exp()).sum::<f64>().ln();
    let mut matched = 0;
    for &(id, want) in &case.want_top {
        // Near-ties at the tail may rank differently: compare the ids both lists hold.
        let Some(&(_, got)) = first.top.iter().find(|t| t.0 == id) else { continue };
        matched += 1;
        let (got_diff, want_diff) = (got - first.logprob, want - want0);
        assert!((got_diff - want_diff).abs() <= LOGPROB_DIFF_TOL, "{}: id {id}: logprob - top logprob {got_diff}, llama.cpp {want_diff} (tolerance {LOGPROB_DIFF_TOL})", case.name);
        let upper = (want as f64 - ref_lse) as f32 + LOGPROB_DIFF_TOL;
        assert!(got <= upper, "{}: id {id}: logprob {got} above llama.cpp's over its top 20 alone ({upper} with the tolerance)", case.name);
    }
    assert!(matched >= 15, "{}: only {matched} of llama.cpp's top 20 among ours: {:?}", case.name, first.top);

    // top_logprobs 0: the token's own log-probability only.
    let g0 = gen(&mut e, &case.prompt_ids, &GenerateParams { logprobs: Some(0), ..greedy(4, 1.0) });
    assert_eq!(g0.logprobs.iter().map(|l| (l.id, l.logprob)).collect::<Vec<_>>(), g.logprobs[..4].iter().map(|l| (l.id, l.logprob)).collect::<Vec<_>>());
    check_greedy_logprobs("top_logprobs 0", &g0.logprobs, 0);
}

/// Streamed: each piece of text comes with the log-probabilities of the
/// tokens since the previous piece, together every one of the result's; a
/// final end-of-generation token has none (it is not in the text).
#[test]
fn logprobs_stream_with_their_text() {
    let mut e = engine();
    let prompt = capital(&e);
    let p = GenerateParams { stop: vec!["Paris. Q:".into()], logprobs: Some(3), ..greedy(24, 1.0) };
    let mut streamed: Vec<(String, Vec<u32>)> = Vec::new();
    let g = pollster::block_on(e.generate_streamed(
        &prompt,
        &p,
        &mut |s, lps, _| {
            streamed.push((s.to_string(), lps.iter().map(|l| l.id).collect()));
            true
        },
        &mut |_| true,
    ))
    .unwrap();
    assert!(e.tokenizer.is_eog(*g.ids.last().unwrap()), "{:?}", g.ids);
    assert_eq!(g.logprobs.iter().map(|l| l.id).collect::<Vec<_>>(), g.ids[..g.ids.len() - 1]);
    check_greedy_logprobs("chat", &g.logprobs, 3);
    let ids: Vec<u32> = streamed.iter().flat_map(|(_, ids)| ids.clone()).collect();
    assert_eq!(ids, g.ids[..g.ids.len() - 1], "every token's log-probability streamed once, in order");
    // Text held back for a stop string splits pieces inside tokens (" Paris"
    // goes out as " " now, "Paris" later): pieces and tokens agree in total.
    assert_eq!(streamed.iter().map(|(s, _)| s.as_str()).collect::<String>(), g.text);
    assert_eq!(e.tokenizer.decode(&ids), g.text);
}

/// The package's `n` choices are generations of one prompt, one after
/// another, seeds seed + i: each choice after the first runs only the
/// prompt's last token again (the KV cache holds the rest), and a choice is
/// the generation its seed gives alone.
#[test]
fn choices_of_one_prompt_reuse_its_kv_cache() {
    let mut e = engine();
    let prompt = capital(&e);
    let sampled = |seed| GenerateParams { max_tokens: 6, sampler: SamplerConfig { temperature: 1.0, seed, ..SamplerConfig::default() }, ..GenerateParams::default() };
    let choices: Vec<_> = (0..3).map(|i| gen(&mut e, &prompt, &sampled(7 + i))).collect();
    assert_eq!(choices[0].prefilled, prompt.len());
    assert!(choices[1..].iter().all(|c| c.prefilled == 1), "{:?}", choices.iter().map(|c| c.prefilled).collect::<Vec<_>>());
    e.reset();
    let alone = gen(&mut e, &prompt, &sampled(8));
    assert_eq!(alone.ids, choices[1].ids, "choice 1 is seed 8's generation");
}
