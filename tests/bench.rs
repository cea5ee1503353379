//! The bandwidth kernels compute what they claim (so their timings measure
//! real loads and stores), the sweep reports sane figures, the roofline
//! arithmetic, and llama-bench's pp / tg tests (library and `tabllm bench`)
//! report a row per test asked for. No assertion depends on how fast anything ran.

mod common;

use common::{buffer_bytes, contexts, label, read_u32, run, shared, step_buffer};
use std::sync::Arc;
use tabllm::bench::{self, BandwidthOptions, BwBuffers, BwOp};
use tabllm::engine::{measure_throughput, BenchError, BenchPlan};
use tabllm::gpu::{self, DeviceOptions, GpuContext};
use tabllm::model::{LoadOptions, Output};

fn seeded_words(seed: u64, n: usize) -> Vec<u32> {
    let mut rng = tabllm::sampler::Rng::new(seed);
    (0..n).map(|_| rng.next_u32()).collect()
}

struct Fixture {
    step: wgpu::Buffer,
    a: wgpu::Buffer,
    b: wgpu::Buffer,
    sums: wgpu::Buffer,
}

impl Fixture {
    fn new(ctx: &GpuContext, words: &[u32]) -> Self {
        let bytes = (words.len() * 4) as u64;
        let b = gpu::storage_buffer(ctx, "b", bytes);
        // Non-zero garbage in b so a copy that skips an element shows.
        ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(&vec![0xdead_beefu32; words.len()]));
        Self {
            step: step_buffer(ctx, 0, 1),
            a: buffer_bytes(ctx, bytemuck::cast_slice(words)),
            b,
            sums: gpu::storage_buffer(ctx, "sums", bench::READ_SUMS_BYTES),
        }
    }
    fn bufs(&self) -> BwBuffers<'_> {
        BwBuffers { a: &self.a, b: &self.b, sums: &self.sums }
    }
}

// Element counts that hit the unrolled loop, its tail, and partial workgroups;
// group counts from one to more than the elements need.
const CASES: [(usize, u32); 5] = [(1, 1), (5, 4), (4099, 1), (12_345, 3), (100_003, 0)];

fn groups_for(n_vec4: usize, g: u32) -> u32 {
    if g == 0 {
        bench::default_groups(n_vec4 as u64)
    } else {
        g
    }
}

#[test]
fn read_sums_every_word() {
    for ctx in contexts() {
        for (i, &(n_vec4, g)) in CASES.iter().enumerate() {
            let words = seeded_words(100 + i as u64, n_vec4 * 4);
            let f = Fixture::new(&ctx, &words);
            let groups = groups_for(n_vec4, g);
            let op = bench::bandwidth_op(&ctx, BwOp::Read, &f.step, &f.bufs(), (words.len() * 4) as u64, groups, 0).unwrap();
            run(&ctx, &[op], 1);
            let got = read_u32(&ctx, &f.sums, groups as usize * bench::BW_WG_SIZE as usize).iter().fold(0u32, |s, &x| s.wrapping_add(x));
            let want = words.iter().fold(0u32, |s, &x| s.wrapping_add(x));
            assert_eq!(got, want, "{}: read of {n_vec4} vec4 with {groups} groups", label(&ctx));
        }
        eprintln!("{}: read ok", label(&ctx));
    }
}

#[test]
fn write_stores_the_pattern() {
    for ctx in contexts() {
        for (i, &(n_vec4, g)) in CASES.iter().enumerate() {
            let pattern = 0x9e37_79b9u32.wrapping_mul(i as u32 + 1);
            // a starts as seeded garbage; the word after the range must survive.
            let mut words = seeded_words(200 + i as u64, n_vec4 * 4 + 4);
            let f = Fixture::new(&ctx, &words);
            let groups = groups_for(n_vec4, g);
            let op = bench::bandwidth_op(&ctx, BwOp::Write, &f.step, &f.bufs(), (n_vec4 * 16) as u64, groups, pattern).unwrap();
            run(&ctx, &[op], 1);
            let got = read_u32(&ctx, &f.a, words.len());
            for (w, x) in words.iter_mut().enumerate().take(n_vec4 * 4) {
                *x = bench::write_pattern(w as u32, pattern);
            }
            assert!(got == words, "{}: write of {n_vec4} vec4 with {groups} groups: first mismatch at word {:?}", label(&ctx), got.iter().zip(&words).position(|(a, b)| a != b));
        }
        eprintln!("{}: write ok", label(&ctx));
    }
}

#[test]
fn copy_copies_the_bytes() {
    for ctx in contexts() {
        for (i, &(n_vec4, g)) in CASES.iter().enumerate() {
            let words = seeded_words(300 + i as u64, n_vec4 * 4 + 4);
            let f = Fixture::new(&ctx, &words);
            let groups = groups_for(n_vec4, g);
            let op = bench::bandwidth_op(&ctx, BwOp::Copy, &f.step, &f.bufs(), (n_vec4 * 16) as u64, groups, 0).unwrap();
            run(&ctx, &[op], 1);
            let got = read_u32(&ctx, &f.b, words.len());
            let mut want = words.clone();
            want[n_vec4 * 4..].fill(0xdead_beef);
            assert!(got == want, "{}: copy of {n_vec4} vec4 with {groups} groups: first mismatch at word {:?}", label(&ctx), got.iter().zip(&want).position(|(a, b)| a != b));
        }
        eprintln!("{}: copy ok", label(&ctx));
    }
}

#[test]
fn measure_bandwidth_reports_sane_figures() {
    let ctx = contexts().remove(0);
    let opts = BandwidthOptions {
        sizes: vec![64 << 10, 256 << 10],
        runs: 3,
        min_sample_secs: 0.002,
        max_reps: 8,
        ..Default::default()
    };
    let r = pollster::block_on(bench::measure_bandwidth(&ctx, &opts)).unwrap();
    assert_eq!(r.results.len(), 6);
    for res in &r.results {
        let want = match res.op {
            BwOp::Copy => 2 * res.size,
            _ => res.size,
        };
        assert_eq!(res.bytes, want, "{:?}", res);
        assert!([64 << 10, 256 << 10].contains(&res.size));
        let g = res.gbps;
        assert!(g.min.is_finite() && g.max.is_finite() && g.min > 0.0, "{:?}", res);
        assert!(g.min <= g.median && g.median <= g.max, "{:?}", res);
        assert!(res.reps >= 1 && res.reps <= 8);
    }
    let best_read = r.results.iter().filter(|x| x.op == BwOp::Read).map(|x| x.gbps.median).fold(0.0, f64::max);
    assert_eq!(r.peak_gbps, best_read);
    // The device's own limits, not placeholders.
    assert_eq!(r.limits.max_buffer_size, ctx.limits.max_buffer_size);
    assert_eq!(r.limits.max_storage_buffer_binding_size, ctx.limits.max_storage_buffer_binding_size as u64);
    assert!(!r.adapter.name.is_empty());
    // The JSON shape other tools read.
    let v = serde_json::to_value(&r).unwrap();
    for key in ["adapter", "limits", "results", "peak_gbps"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["name", "backend", "device_type", "driver"] {
        assert!(v["adapter"].get(key).is_some(), "missing adapter.{key}");
    }
    assert_eq!(v["results"][0]["op"], "read");
    assert_eq!(v["results"][2]["op"], "copy");
    assert!(v["results"][0]["gbps"]["median"].is_number());
    eprintln!("{}", serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn sizes_respect_the_device_limit() {
    let ctx = contexts().remove(0);
    let max = bench::device_max_bytes(&ctx);
    let s = bench::sizes(max);
    assert!(!s.is_empty());
    assert!(s.iter().all(|&x| x <= max && x <= bench::MAX_SWEEP_BYTES && x % 16 == 0));
    assert_eq!(s[0], 1 << 20);
    // An empty sweep (cap below 16 bytes) reports nothing and a zero peak.
    let opts = BandwidthOptions { max_bytes: 8, ..Default::default() };
    let r = pollster::block_on(bench::measure_bandwidth(&ctx, &opts)).unwrap();
    assert!(r.results.is_empty());
    assert_eq!(r.peak_gbps, 0.0);
}

#[test]
fn roofline_arithmetic() {
    // 100 MB per token at 50 tok/s = 5 GB/s; against 20 GB/s that is 25 %.
    let r = bench::roofline(100e6, 50.0, 20.0);
    assert!((r.implied_gbps - 5.0).abs() < 1e-12);
    assert!((r.efficiency - 0.25).abs() < 1e-12);
    let r = bench::roofline(1.5e9, 2.0, 3.0);
    assert!((r.implied_gbps - 3.0).abs() < 1e-12 && (r.efficiency - 1.0).abs() < 1e-12);
    // No bandwidth measured: efficiency is 0, not inf/NaN.
    let r = bench::roofline(1e6, 10.0, 0.0);
    assert_eq!(r.efficiency, 0.0);
    assert!((r.implied_gbps - 0.01).abs() < 1e-15);
    assert_eq!(bench::roofline(1e6, 0.0, 10.0).implied_gbps, 0.0);
}

#[test]
fn bytes_moved_per_op() {
    assert_eq!(BwOp::Read.bytes_moved(1 << 20), 1 << 20);
    assert_eq!(BwOp::Write.bytes_moved(1 << 20), 1 << 20);
    assert_eq!(BwOp::Copy.bytes_moved(1 << 20), 2 << 20);
}

const TINY: &str = "tiny/tiny-llama-q4_0.gguf";

/// `v` is a finite number above 0.
fn positive(v: &serde_json::Value, what: &str) -> f64 {
    let x = v.as_f64().unwrap_or_else(|| panic!("{what} is {v}"));
    assert!(x.is_finite() && x > 0.0, "{what} is {x}");
    x
}

/// A row per test, in order, with the tokens asked for; the first pp and tg
/// under the older names; the decode bytes of the first tg; a test over the
/// context is an error, not a panic.
#[test]
fn throughput_reports_a_row_per_test() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    // max_batch 8: pp20 runs in three steps.
    let (m, _) = tabllm::model::load_path(ctx, &shared(TINY), LoadOptions { n_ctx: Some(24), max_batch: 8, ..Default::default() }, 1 << 16).unwrap();
    let plan = BenchPlan { pp: vec![8, 20], tg: vec![5, 24], depth: vec![0], repetitions: 2 };
    let t = pollster::block_on(measure_throughput(&m, &plan)).unwrap();
    let v = serde_json::to_value(&t).unwrap();
    eprintln!("{v}");
    let rows = v["tests"].as_array().unwrap();
    let got: Vec<(&str, u64, u64)> = rows.iter().map(|r| (r["test"].as_str().unwrap(), r["tokens"].as_u64().unwrap(), r["runs"].as_u64().unwrap())).collect();
    assert_eq!(got, [("pp8", 8, 2), ("pp20", 20, 2), ("tg5", 5, 2), ("tg24", 24, 2)]);
    for r in rows {
        let (secs, tok_s) = (positive(&r["seconds"], "seconds"), positive(&r["tok_s"], "tok_s"));
        let sd = r["tok_s_stddev"].as_f64().unwrap();
        assert!(sd.is_finite() && sd >= 0.0, "{r}");
        // The mean of tokens/s over the runs is at least tokens / mean seconds (Jensen).
        assert!(tok_s >= r["tokens"].as_f64().unwrap() / secs * (1.0 - 1e-9), "{r}");
    }
    assert_eq!(v["max_batch"], 8);
    assert_eq!((v["prompt_tokens"].as_u64(), v["gen_tokens"].as_u64()), (Some(8), Some(5)));
    assert_eq!(v["prefill_tok_s"], rows[0]["tok_s"]);
    assert_eq!(v["decode_tok_s"], rows[2]["tok_s"]);
    let d = t.decode.as_ref().unwrap();
    // tg5: steps over 1..=5 cached positions, 3 on average.
    let want = bench::decode_bytes_per_token(&m, 3.0);
    assert_eq!((d.weight_bytes_per_token, d.kv_bytes_per_token), (want.weights, want.kv));
    assert!((d.implied_gbps - d.bytes_per_token * d.decode_tok_s / 1e9).abs() < 1e-12);
    assert_eq!(d.dispatches_per_token, m.dispatches_per_step(1, Output::Argmax));
    positive(&v["host_encode_ms_per_token"], "host_encode_ms_per_token");

    // Only pp: no decode figures at all (not zeros).
    let v = serde_json::to_value(pollster::block_on(measure_throughput(&m, &BenchPlan { pp: vec![3], tg: vec![], depth: vec![0], repetitions: 1 })).unwrap()).unwrap();
    assert_eq!(v["tests"].as_array().unwrap().len(), 1);
    assert!(v.get("decode_tok_s").is_none() && v.get("bytes_per_token").is_none(), "{v}");
    positive(&v["prefill_tok_s"], "prefill_tok_s");

    // Over the context, and nothing to run: errors.
    let over = pollster::block_on(measure_throughput(&m, &BenchPlan { pp: vec![8], tg: vec![25], depth: vec![0], repetitions: 1 }));
    assert!(matches!(over, Err(BenchError::OverContext { ref test, needed: 25, n_ctx: 24 }) if test == "tg25"), "{over:?}");
    let none = pollster::block_on(measure_throughput(&m, &BenchPlan { pp: vec![], tg: vec![], depth: vec![0], repetitions: 1 }));
    assert!(matches!(none, Err(BenchError::NothingToMeasure)), "{none:?}");

    // At a depth: every test again after that many positions, named as
    // llama-bench names it; the decode bytes of the first tg count the depth
    // (tg5 @ d10: steps over 11..=15 cached positions, 13 on average); a
    // depth whose tests overrun the context is refused by its name.
    let plan = BenchPlan { pp: vec![4], tg: vec![5], depth: vec![10, 0], repetitions: 1 };
    let t = pollster::block_on(measure_throughput(&m, &plan)).unwrap();
    let names: Vec<(&str, u32)> = t.tests.iter().map(|r| (r.test.as_str(), r.depth)).collect();
    assert_eq!(names, [("pp4 @ d10", 10), ("tg5 @ d10", 10), ("pp4", 0), ("tg5", 0)]);
    let want = bench::decode_bytes_per_token(&m, 13.0);
    assert_eq!(t.decode.as_ref().map(|d| d.kv_bytes_per_token), Some(want.kv));
    let deep = pollster::block_on(measure_throughput(&m, &BenchPlan { pp: vec![], tg: vec![5], depth: vec![20], repetitions: 1 }));
    assert!(matches!(deep, Err(BenchError::OverContext { ref test, needed: 25, n_ctx: 24 }) if test == "tg5 @ d20"), "{deep:?}");
}

/// `tabllm bench`: the tests asked for, the JSON printed and written with
/// --out; a context too small is refused by name before anything runs.
#[test]
fn cli_bench_runs_the_tests_asked_for() {
    let dir = std::env::temp_dir().join(format!("tabllm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("figures.json");
    let model = shared(TINY);
    let bench = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_tabllm")).arg("bench").arg("--model").arg(&model).args(args).output().unwrap();
    let r = bench(&["--pp", "12,30", "--tg", "6", "--depth", "0,5", "--no-bandwidth", "--json", "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let tests: Vec<(&str, u64)> = v["tests"].as_array().unwrap().iter().map(|r| (r["test"].as_str().unwrap(), r["tokens"].as_u64().unwrap())).collect();
    assert_eq!(tests, [("pp12", 12), ("pp30", 30), ("tg6", 6), ("pp12 @ d5", 12), ("pp30 @ d5", 30), ("tg6 @ d5", 6)]);
    for r in v["tests"].as_array().unwrap() {
        positive(&r["tok_s"], "tok_s");
        positive(&r["seconds"], "seconds");
    }
    // The context is what the largest test needs, its depth included.
    assert_eq!(v["n_ctx"], 35);
    for key in ["prefill_tok_s", "decode_tok_s", "bytes_per_token", "implied_gbps", "dispatches_per_token"] {
        positive(&v[key], key);
    }
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written, v, "--out holds what --json printed");

    let r = bench(&["--pp", "64", "--tg", "8", "--ctx", "32", "--no-bandwidth"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("error: pp64 needs 64 positions but the context holds 32 (give --ctx 64 or more"), "{err}");
    let r = bench(&["--pp", "0", "--tg", "0"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("error: nothing to measure"), "{}", String::from_utf8_lossy(&r.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}
