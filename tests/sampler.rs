//! The sampler: greedy, seeding, each filter's limit case, penalties, the
//! logit bias, and a statistical check of temperature-1 sampling.

use tabllm::quant::testing::random_f32;
use tabllm::sampler::{LogitBias, Sampler, SamplerConfig};

/// Every filter off, temperature 1: plain softmax sampling.
fn plain(seed: u64) -> SamplerConfig {
    SamplerConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        seed,
        ..SamplerConfig::default()
    }
}

fn greedy() -> SamplerConfig {
    SamplerConfig {
        temperature: 0.0,
        ..SamplerConfig::default()
    }
}

/// (vocab) logits spread over about ±3, so sampling is far from greedy.
fn spread_logits(vocab: usize, seed: u64) -> Vec<f32> {
    random_f32(vocab, seed).iter().map(|v| 3.0 * v).collect()
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn draws(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<u32> {
    (0..n).map(|_| s.sample(logits, &[])).collect()
}

#[test]
fn greedy_is_argmax() {
    let mut s = Sampler::new(greedy());
    assert!(s.is_greedy());
    for seed in 0..20 {
        let logits = spread_logits(1000, seed);
        assert_eq!(s.sample(&logits, &[]), argmax(&logits), "seed {seed}");
    }
    // Ties go to the lowest id; NaN is never the max.
    assert_eq!(s.sample(&[1.0, 3.0, 3.0, f32::NAN], &[]), 1);
    assert_eq!(s.sample(&[f32::NAN, -1.0], &[]), 1);
    assert_eq!(s.sample(&[], &[]), 0);
}

#[test]
fn same_seed_same_sequence_other_seed_other_sequence() {
    let logits = spread_logits(1000, 1);
    let cfg = SamplerConfig {
        temperature: 1.0,
        seed: 7,
        ..SamplerConfig::default()
    };
    assert!(!Sampler::new(cfg).is_greedy());
    let a = draws(&mut Sampler::new(cfg), &logits, 64);
    let b = draws(&mut Sampler::new(cfg), &logits, 64);
    assert_eq!(a, b);
    let c = draws(
        &mut Sampler::new(SamplerConfig { seed: 8, ..cfg }),
        &logits,
        64,
    );
    assert_ne!(a, c);
    // reseed restarts the sequence.
    let mut s = Sampler::new(SamplerConfig { seed: 8, ..cfg });
    draws(&mut s, &logits, 10);
    s.reseed(7);
    assert_eq!(draws(&mut s, &logits, 64), a);
}

/// Pins the sequence so a change to the RNG or the chain's arithmetic shows
/// (the same ids are expected on every platform, wasm32 included).
#[test]
fn seeded_sequence_is_stable() {
    let logits = spread_logits(256, 3);
    let got = draws(&mut Sampler::new(plain(2024)), &logits, 12);
    assert_eq!(got, GOLDEN, "sequence changed: {got:?}");
}
const GOLDEN: [u32; 12] = [150, 25, 90, 29, 216, 137, 33, 147, 45, 109, 123, 220];

#[test]
fn limit_settings_are_greedy() {
    let logits = spread_logits(1000, 5);
    let want = argmax(&logits);
    let hot = plain(11).temperature * 1.5;
    for (what, cfg) in [
        (
            "top_k = 1",
            SamplerConfig {
                top_k: 1,
                temperature: hot,
                ..plain(11)
            },
        ),
        (
            "top_p = 1e-6",
            SamplerConfig {
                top_p: 1e-6,
                temperature: hot,
                ..plain(11)
            },
        ),
        (
            "min_p = 0.999",
            SamplerConfig {
                min_p: 0.999,
                temperature: hot,
                ..plain(11)
            },
        ),
    ] {
        let got = draws(&mut Sampler::new(cfg), &logits, 200);
        assert!(got.iter().all(|&t| t == want), "{what}: {got:?}");
    }
    // And without a filter the same temperature does not just pick the argmax.
    let got = draws(
        &mut Sampler::new(SamplerConfig {
            temperature: hot,
            ..plain(11)
        }),
        &logits,
        200,
    );
    assert!(got.iter().any(|&t| t != want));
}

#[test]
fn top_k_and_min_p_only_keep_the_head() {
    let logits = spread_logits(1000, 9);
    let mut order: Vec<u32> = (0..1000).collect();
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
    let got = draws(
        &mut Sampler::new(SamplerConfig {
            top_k: 5,
            ..plain(1)
        }),
        &logits,
        500,
    );
    assert!(
        got.iter().all(|t| order[..5].contains(t)),
        "top_k 5: {got:?}"
    );
    // min_p 0.5: only tokens within ln 2 of the max logit survive.
    let max = logits[order[0] as usize];
    let got = draws(
        &mut Sampler::new(SamplerConfig {
            min_p: 0.5,
            ..plain(1)
        }),
        &logits,
        500,
    );
    assert!(got
        .iter()
        .all(|&t| logits[t as usize] >= max - std::f32::consts::LN_2 - 1e-6));
}

#[test]
fn repetition_penalty_changes_the_argmax() {
    let cfg = SamplerConfig {
        repetition_penalty: 1.1,
        ..greedy()
    };
    let mut s = Sampler::new(cfg);
    // Positive logit divided: 2.0 / 1.1 = 1.82 < 1.9.
    assert_eq!(s.sample(&[2.0, 1.9, -1.0], &[]), 0);
    assert_eq!(s.sample(&[2.0, 1.9, -1.0], &[0]), 1);
    // Negative logit multiplied: −1.0 · 1.1 = −1.1 < −1.05.
    assert_eq!(s.sample(&[-1.0, -1.05], &[0]), 1);
    // Only the last `penalty_last_n` tokens count.
    let mut s = Sampler::new(SamplerConfig {
        penalty_last_n: 2,
        ..cfg
    });
    assert_eq!(s.sample(&[2.0, 1.9, -1.0], &[0, 2, 2]), 0);
    assert_eq!(s.sample(&[2.0, 1.9, -1.0], &[2, 0]), 1);
    // Out-of-vocab ids in `recent` are ignored.
    assert_eq!(s.sample(&[2.0, 1.9], &[7, 9]), 0);
}

#[test]
fn frequency_and_presence_penalties_subtract() {
    // Frequency: 1.0 − 3 · 0.05 = 0.85 < 0.9.
    let mut s = Sampler::new(SamplerConfig {
        frequency_penalty: 0.05,
        ..greedy()
    });
    assert_eq!(s.sample(&[1.0, 0.9], &[0, 0]), 0);
    assert_eq!(s.sample(&[1.0, 0.9], &[0, 0, 0]), 1);
    // Presence: once is enough, count does not matter.
    let mut s = Sampler::new(SamplerConfig {
        presence_penalty: 0.2,
        ..greedy()
    });
    assert_eq!(s.sample(&[1.0, 0.9], &[0]), 1);
    assert_eq!(s.sample(&[1.0, 0.9], &[0, 1, 1, 1]), 0);
}

/// Every penalty on fixed logits, against values worked out by hand.
/// recent = [0, 0, 1, 3, 0] (window 64): id 0 three times, ids 1 and 3 once.
#[test]
fn penalties_on_fixed_logits() {
    let logits = [2.0, -1.0, 0.5, 3.0];
    let recent = [0, 0, 1, 3, 0];
    let cfg = |repetition_penalty, frequency_penalty, presence_penalty| SamplerConfig {
        repetition_penalty,
        frequency_penalty,
        presence_penalty,
        ..greedy()
    };
    let check = |c: SamplerConfig, want: [f32; 4]| {
        let mut s = Sampler::new(c);
        assert!(s.has_penalties(), "{c:?}");
        let got = s.penalized_logits(&logits, &recent);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-6, "{c:?}: id {i}: {g} (want {w})");
        }
    };
    // Frequency 0.5: id 0 2 − 3·0.5 = 0.5; id 1 −1 − 0.5 = −1.5; id 3 3 − 0.5 = 2.5.
    check(cfg(1.0, 0.5, 0.0), [0.5, -1.5, 0.5, 2.5]);
    // Presence 0.25: once per seen id, whatever the count.
    check(cfg(1.0, 0.0, 0.25), [1.75, -1.25, 0.5, 2.75]);
    // All three, repeat penalty first: id 0 2/1.25 − 1.5 − 0.25 = −0.15;
    // id 1 −1·1.25 − 0.5 − 0.25 = −2.0; id 3 3/1.25 − 0.5 − 0.25 = 1.65.
    check(cfg(1.25, 0.5, 0.25), [-0.15, -2.0, 0.5, 1.65]);
    // Negative values (OpenAI allows them) raise seen tokens.
    check(cfg(1.0, -0.5, -0.25), [3.75, -0.25, 0.5, 3.75]);
    // The greedy pick follows the penalised logits: id 3 still at 1.65; with
    // frequency 3, id 3 falls to 0 and id 2 (0.5, never seen) wins.
    let mut s = Sampler::new(cfg(1.25, 0.5, 0.25));
    assert_eq!(s.sample(&logits, &recent), 3);
    let mut s = Sampler::new(cfg(1.0, 3.0, 0.0));
    assert_eq!(s.sample(&logits, &recent), 2);
    // Off: nothing changes and the GPU argmax may be used.
    let off = Sampler::new(SamplerConfig { penalty_last_n: 0, ..cfg(1.3, 0.5, 0.5) });
    assert!(!off.has_penalties() && !Sampler::new(greedy()).has_penalties());
}

fn bias(pairs: &[(u32, f32)]) -> LogitBias {
    LogitBias::from_pairs(pairs.iter().copied()).unwrap()
}

/// The logit bias is added to the logit (llama.cpp's `logit_bias` sampler,
/// OpenAI's field): −100 bans the greedy pick, so the next best wins; +100
/// forces a low token, greedy and sampled; a small bias shifts the softmax
/// by exactly e^bias; −∞ (a token a grammar forbade) stays −∞ whatever its
/// bias; ids past the row are skipped.
#[test]
fn logit_bias_bans_forces_and_shifts() {
    let logits = spread_logits(1000, 3);
    let top = argmax(&logits);
    let mut without_top = logits.clone();
    without_top[top as usize] = f32::NEG_INFINITY;
    let second = argmax(&without_top);
    let low = (0..1000u32).min_by(|&a, &b| logits[a as usize].total_cmp(&logits[b as usize])).unwrap();

    let mut s = Sampler::new(greedy()).with_logit_bias(bias(&[(top, -100.0)]));
    assert!(s.is_greedy() && !s.is_plain_argmax(), "a bias keeps greedy off the plain argmax");
    assert!(Sampler::new(greedy()).is_plain_argmax());
    assert_eq!(s.sample(&logits, &[]), second, "banned: the next best");
    let mut s = Sampler::new(greedy()).with_logit_bias(bias(&[(low, 100.0)]));
    assert_eq!(s.sample(&logits, &[]), low, "forced, greedy");
    let mut s = Sampler::new(plain(5)).with_logit_bias(bias(&[(low, 100.0)]));
    assert!(draws(&mut s, &logits, 200).iter().all(|&t| t == low), "forced, sampled");
    let mut s = Sampler::new(SamplerConfig { top_k: 40, top_p: 0.9, min_p: 0.05, ..plain(6) }).with_logit_bias(bias(&[(top, -100.0)]));
    assert!(!draws(&mut s, &logits, 500).contains(&top), "banned, sampled through every filter");
    assert!(s.candidates(&logits, &[]).iter().all(|&(id, _)| id != top));

    // Two tokens at equal logits; +ln 3 on id 1 makes it three times as likely.
    let c = Sampler::new(plain(0)).with_logit_bias(bias(&[(1, 3f32.ln())])).candidates(&[0.5, 0.5], &[]);
    assert!((c[0].1 - 0.25).abs() < 1e-6 && (c[1].1 - 0.75).abs() < 1e-6, "{c:?}");

    let mut s = Sampler::new(greedy()).with_logit_bias(bias(&[(0, 100.0), (9, 100.0)]));
    assert_eq!(s.penalized_logits(&[f32::NEG_INFINITY, 1.0, f32::NAN], &[]), [f32::NEG_INFINITY, 1.0, f32::NEG_INFINITY]);
    assert_eq!(s.sample(&[f32::NEG_INFINITY, 1.0, 0.0], &[]), 1, "a forbidden token stays forbidden");
}

/// The bias comes before the penalties (llama.cpp's chain: logit bias, then
/// penalties): logit 1, bias −3, repeat penalty 2 gives (1 − 3) · 2 = −4,
/// not 1 / 2 − 3 = −2.5.
#[test]
fn logit_bias_comes_before_the_penalties() {
    let c = SamplerConfig { repetition_penalty: 2.0, ..greedy() };
    let mut s = Sampler::new(c).with_logit_bias(bias(&[(0, -3.0)]));
    assert_eq!(s.penalized_logits(&[1.0, 0.0], &[0]), [-4.0, 0.0]);
}

/// Frequencies over 20 000 draws within 0.02 of the softmax probabilities.
#[test]
fn temperature_one_matches_softmax() {
    const DRAWS: usize = 20_000;
    const TOL: f64 = 0.02;
    let logits = [1.0f32, 0.5, -0.3, 2.0];
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64).exp()).collect();
    let total: f64 = exps.iter().sum();
    let mut s = Sampler::new(plain(12345));
    let mut counts = [0usize; 4];
    for _ in 0..DRAWS {
        counts[s.sample(&logits, &[]) as usize] += 1;
    }
    for i in 0..4 {
        let (freq, p) = (counts[i] as f64 / DRAWS as f64, exps[i] / total);
        assert!(
            (freq - p).abs() <= TOL,
            "token {i}: frequency {freq:.4}, softmax {p:.4}"
        );
    }
}

/// Temperature 0.5 sharpens: the top token's frequency follows softmax(l / 0.5).
#[test]
fn temperature_scales_logits() {
    const DRAWS: usize = 20_000;
    let logits = [1.0f32, 0.5, -0.3, 2.0];
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 / 0.5).exp()).collect();
    let p_top = exps[3] / exps.iter().sum::<f64>();
    let mut s = Sampler::new(SamplerConfig {
        temperature: 0.5,
        ..plain(99)
    });
    let top = (0..DRAWS).filter(|_| s.sample(&logits, &[]) == 3).count();
    let freq = top as f64 / DRAWS as f64;
    assert!(
        (freq - p_top).abs() <= 0.02,
        "top token: frequency {freq:.4}, softmax {p_top:.4}"
    );
}
