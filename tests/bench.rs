//! The bandwidth kernels compute what they claim (so their timings measure
//! real loads and stores), the sweep reports sane figures, and the roofline
//! arithmetic. No assertion depends on how fast anything ran.

mod common;

use common::{buffer_bytes, contexts, label, read_u32, run, step_buffer};
use tabllm::bench::{self, BandwidthOptions, BwBuffers, BwOp};
use tabllm::gpu::{self, GpuContext};

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
