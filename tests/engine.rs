//! The generation loop on a tiny model: seeded sampling is reproducible and
//! runs on the GPU sampler (penalties too, at temperature 0), stop strings cut
//! the text, the caller can abort, and reusing the KV cache of a shared
//! prefix gives exactly what a fresh prefill gives.

mod common;
use common::*;
use std::sync::Arc;
use tabllm::engine::{load_engine, Engine, FinishReason, GenerateParams};
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::{LoadOptions, Output};
use tabllm::sampler::{LogitBias, Sampler, SamplerConfig};

fn engine(ctx: &Arc<GpuContext>) -> Engine {
    let path = shared("tiny/tiny-llama-q4_0.gguf");
    load_engine(ctx.clone(), &path, LoadOptions { n_ctx: Some(128), max_batch: 8, ..Default::default() }, 1 << 16, &mut |_| {}).unwrap()
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

/// Prefill steps are paced: the first takes FIRST_PREFILL_CHUNK tokens, later
/// ones what fits the target time at the measured rate, between
/// MIN_PREFILL_CHUNK and max_batch (or what remains), and the answer is the
/// one a prefill in fixed steps gives.
#[test]
fn prefill_steps_are_paced() {
    use tabllm::engine::{FIRST_PREFILL_CHUNK, MIN_PREFILL_CHUNK};
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let path = shared("tiny/tiny-llama-q4_0.gguf");
    let load = |max_batch| load_engine(ctx.clone(), &path, LoadOptions { n_ctx: Some(512), max_batch, ..Default::default() }, 1 << 16, &mut |_| {}).unwrap();
    let max_batch = 160;
    let mut e = load(max_batch);
    let prompt: Vec<u32> = (0..400u32).map(|i| (i * 37 + 5) % 1000).collect();
    let mut done = vec![0];
    let g = pollster::block_on(e.generate_observed(&prompt, &greedy(4), &mut |_| true, &mut |p| {
        if p.done > 0 {
            done.push(p.done);
        }
        true
    }))
    .unwrap();
    let steps: Vec<usize> = done.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("prefill steps of {steps:?} tokens");
    assert_eq!(steps[0], FIRST_PREFILL_CHUNK);
    assert_eq!(*done.last().unwrap(), prompt.len());
    for (i, &n) in steps.iter().enumerate().skip(1) {
        let remaining = prompt.len() - done[i];
        assert!(n <= max_batch as usize && (n >= MIN_PREFILL_CHUNK || n == remaining), "step {i} of {n} tokens: {steps:?}");
    }
    assert_eq!(g.ids, gen(&mut load(8), &prompt, &greedy(4)).ids, "paced steps answer as steps of 8 do");
}

/// The callback hears of every token, also one whose text is held back (a
/// possible start of a stop string) and so not sent: an abort then ends the
/// generation at that token, not when text flows again (here: never).
#[test]
fn abort_while_text_is_held_back() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let mut e = engine(&ctx);
    let prompt = e.encode_prompt("The capital of France is");
    let full = gen(&mut e, &prompt, &greedy(16));
    assert!(full.ids.iter().take(3).all(|&id| !e.tokenizer.is_eog(id)), "{:?}", full.ids);
    // The whole greedy text starts this stop string: all of it is held back.
    let p = GenerateParams { stop: vec![format!("{}\u{1}never", full.text)], ..greedy(16) };
    let mut calls = Vec::new();
    let r = pollster::block_on(e.generate(&prompt, &p, &mut |s| {
        calls.push(s.to_string());
        calls.len() < 3
    }))
    .unwrap();
    assert_eq!(r.finish_reason, FinishReason::Aborted);
    assert_eq!(calls, ["", "", ""], "one call per token, nothing sent");
    assert_eq!(r.ids, full.ids[..3], "stopped at the third token");
    assert_eq!(r.text, e.tokenizer.decode(&r.ids), "the held text is kept in the result");
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

/// A long prompt reports its prefill before and after each step and can be
/// stopped between steps; the steps already run stay in the KV cache, so the
/// same prompt afterwards runs only the rest and gives what a fresh engine gives.
#[test]
fn prefill_reports_progress_and_stops_between_steps() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let mut e = engine(&ctx);
    // 30 prompt tokens: steps of max_batch = 8.
    let prompt: Vec<u32> = (0..30u32).map(|i| (i * 37 + 5) % 1000).collect();
    let mut seen = Vec::new();
    let g = pollster::block_on(e.generate_observed(&prompt, &greedy(4), &mut |_| true, &mut |p| {
        seen.push((p.done, p.total));
        true
    }))
    .unwrap();
    assert_eq!(seen, vec![(0, 30), (8, 30), (16, 30), (24, 30), (30, 30)]);
    assert_eq!(g.ids.len(), 4);

    // Stop after the second step: no token, finish reason abort, 16 tokens prefilled.
    e.reset();
    let mut calls = 0;
    let stopped = pollster::block_on(e.generate_observed(&prompt, &greedy(4), &mut |_| panic!("no text before the prompt is read"), &mut |p| {
        calls += 1;
        p.done < 16
    }))
    .unwrap();
    assert_eq!(calls, 3, "progress at 0, 8, 16: the third call stops it");
    assert_eq!(stopped.finish_reason, FinishReason::Aborted);
    assert!(stopped.ids.is_empty() && stopped.text.is_empty());
    assert_eq!(stopped.prefilled, 16);
    // Stopped before it starts: nothing runs.
    let mut nothing = Vec::new();
    let none = pollster::block_on(e.generate_observed(&prompt, &greedy(4), &mut |_| true, &mut |p| {
        nothing.push(p.done);
        false
    }))
    .unwrap();
    assert_eq!((nothing, none.prefilled, none.finish_reason), (vec![0], 0, FinishReason::Aborted));

    // The next request reuses the 16 cached tokens and answers as a fresh engine does.
    let resumed = gen(&mut e, &prompt, &greedy(4));
    assert_eq!(resumed.prefilled, 14);
    assert_eq!(resumed.ids, g.ids);
}

/// The engine queues each greedy decode step before reading the previous
/// token back (its input copied on the GPU). The ids must be those of the
/// plain loop (one Model::step at a time, ids from the host) on the same
/// prompt, at every length (the speculative step past max_tokens is dropped),
/// and the KV cache the engine keeps must continue exactly: a follow-up turn
/// that reuses it equals a fresh prefill of the whole conversation.
#[test]
fn pipelined_greedy_decode_equals_the_plain_loop() {
    use tabllm::model::Output;
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let mut e = engine(&ctx);
    let prompt = e.encode_prompt("Once upon a time there was");
    let plain = {
        let m = &e.model;
        let mut tok = 0;
        for (i, chunk) in prompt.chunks(m.max_batch() as usize).enumerate() {
            let out = if (i + 1) * (m.max_batch() as usize) >= prompt.len() { Output::Argmax } else { Output::None };
            let r = pollster::block_on(m.step(chunk, (i * m.max_batch() as usize) as u32, out)).unwrap();
            tok = r.token.unwrap_or(tok);
        }
        let mut ids = vec![tok];
        for pos in prompt.len()..prompt.len() + 29 {
            tok = pollster::block_on(m.step(&[tok], pos as u32, Output::Argmax)).unwrap().token.unwrap();
            ids.push(tok);
        }
        ids
    };
    for max_tokens in [1, 2, 3, 17, 30] {
        let g = gen(&mut e, &prompt, &greedy(max_tokens));
        let n = g.ids.len();
        assert_eq!(g.ids, plain[..n], "max_tokens {max_tokens}");
        assert!(n == max_tokens as usize || e.tokenizer.is_eog(g.ids[n - 1]), "max_tokens {max_tokens}: {n} ids");
    }
    // Continue from the cache the pipelined run left.
    let first = gen(&mut e, &prompt, &greedy(12));
    let mut follow = prompt.clone();
    follow.extend(&first.ids);
    follow.extend(e.encode_prompt(" and then"));
    let reused = gen(&mut e, &follow, &greedy(12));
    assert!(reused.prefilled < follow.len(), "the follow-up should reuse the cache ({} of {})", reused.prefilled, follow.len());
    let mut fresh_engine = engine(&ctx);
    let fresh = gen(&mut fresh_engine, &follow, &greedy(12));
    assert_eq!(reused.ids, fresh.ids);
}

/// Penalties at temperature 0 and seeded sampling with every filter go
/// through the GPU sampler (`Output::Sample`): the engine's tokens are what
/// the model's own steps give with the same settings, penalty windows and
/// seeded draws; each is a candidate of the CPU sampler on that step's logits
/// (greedy: exactly its pick); the same seed gives the same tokens.
#[test]
fn penalties_and_seeded_sampling_run_on_the_gpu() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let mut e = engine(&ctx);
    let prompt = e.encode_prompt("Once upon a time, once upon a time");
    let penalties = |c: SamplerConfig| SamplerConfig { repetition_penalty: 1.5, frequency_penalty: 0.3, presence_penalty: 0.2, penalty_last_n: 24, ..c };
    let greedy_pen = penalties(SamplerConfig { temperature: 0.0, ..SamplerConfig::default() });
    let sampled_pen = penalties(SamplerConfig { temperature: 0.9, top_k: 20, top_p: 0.9, min_p: 0.02, seed: 11, ..SamplerConfig::default() });
    let n = 20;
    let run = |e: &mut Engine, c: SamplerConfig| gen(e, &prompt, &GenerateParams { max_tokens: n, sampler: c, ..GenerateParams::default() }).ids;

    let plain = gen(&mut e, &prompt, &greedy(n)).ids;
    let greedy_ids = run(&mut e, greedy_pen);
    assert_ne!(greedy_ids, plain, "the penalties changed nothing");
    let a = run(&mut e, sampled_pen);
    assert_eq!(a, run(&mut e, sampled_pen), "same seed, same tokens");
    assert_ne!(a, run(&mut e, SamplerConfig { seed: 12, ..sampled_pen }), "another seed, other tokens");

    for (what, c, got) in [("greedy with penalties", greedy_pen, &greedy_ids), ("seeded sampling", sampled_pen, &a)] {
        e.reset();
        let m = &e.model;
        let mut cpu = Sampler::new(c);
        let mut draws = Sampler::new(c);
        // The model's GPU sampler with the engine's inputs, step by step.
        let mut history = prompt.clone();
        let mut ids = vec![];
        while ids.len() < got.len() {
            assert!(m.set_sampling(&c, &LogitBias::default(), &history, draws.next_draw()));
            let t = if ids.is_empty() {
                reference::prefill(m, &prompt, Output::Sample)
            } else {
                pollster::block_on(m.step(&history[history.len() - 1..], history.len() as u32 - 1, Output::Sample)).unwrap()
            };
            let t = t.token.unwrap();
            ids.push(t);
            history.push(t);
        }
        assert_eq!(&ids, got, "{what}: the engine's tokens are the GPU sampler's");
        // The same tokens through the logits: each a CPU candidate.
        let mut history = prompt.clone();
        for (i, &t) in got.iter().enumerate() {
            let r = if i == 0 {
                reference::prefill(m, &prompt, Output::Logits)
            } else {
                pollster::block_on(m.step(&history[history.len() - 1..], history.len() as u32 - 1, Output::Logits)).unwrap()
            };
            let logits = r.logits.unwrap();
            let cands = cpu.candidates(&logits, &history);
            assert!(cands.iter().any(|&(id, p)| id == t && p > 0.0), "{what}: token {i} ({t}) is not a candidate of the CPU sampler: {cands:?}");
            if c.temperature <= 0.0 {
                assert_eq!(t, cpu.sample(&logits, &history), "{what}: token {i}");
            }
            history.push(t);
        }
    }
}
