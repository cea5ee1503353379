//! The GPU sampler (`shaders/sample.wgsl`) against the CPU one
//! (`tabllm::sampler::Sampler`) on seeded logits: the same candidate set with
//! the same probabilities, draws that follow those probabilities (each draw
//! lands where its u falls in the id-ordered distribution, and many draws
//! pass a chi-square test), the same tokens for the same seed, and the
//! logits row left as it was; with a logit bias too.

mod common;
use common::*;
use tabllm::gpu::GpuContext;
use tabllm::kernels::{self, SampleInputs};
use tabllm::sampler::{LogitBias, Rng as SamplerRng, Sampler, SamplerConfig};

/// The GPU's probabilities against the exact (f64) softmax over the CPU
/// sampler's candidates: |gpu - exact| ≤ PROB_REL_TOL × exact + PROB_ABS_TOL
/// (f32 weights, sums in blocks). The CPU's own f32 probabilities are not
/// the yardstick: its running sum in logit order loses up to about 3e-4 over
/// tens of thousands of small terms.
const PROB_REL_TOL: f64 = 2e-5;
const PROB_ABS_TOL: f64 = 1e-7;

/// How far the CPU sampler's running f32 sums over n terms may be off,
/// relative (its top-p running mass, which sets the nucleus boundary):
/// √n × ε with a factor 8 of headroom; 262 144 terms: 5e-4.
fn f32_sum_tol(n: usize) -> f64 {
    8.0 * (n as f64).sqrt() * f32::EPSILON as f64
}

/// How far (in probability) a draw's u may sit outside the cumulative
/// interval of the id it picked, from the f32 sums.
const CDF_TOL: f64 = 1e-4;
/// The chi-square tests reject at this significance (z of the upper tail).
const CHI2_Z: f64 = 3.09; // p = 0.001

/// A GPU sampler over `n` logits: the op with its probabilities output (test
/// variant) and the production op.
struct Gpu {
    ctx: GpuContext,
    n: usize,
    logits: wgpu::Buffer,
    inputs: SampleInputs,
    out: wgpu::Buffer,
    probs: wgpu::Buffer,
    with_probs: tabllm::gpu::Op,
    plain: tabllm::gpu::Op,
}

impl Gpu {
    fn new(ctx: GpuContext, n: usize) -> Self {
        let step = step_buffer(&ctx, 0, 1);
        let logits = buffer_f32(&ctx, &vec![0.0; n]);
        let inputs = SampleInputs::new(&ctx);
        let out = buffer_f32(&ctx, &[0.0]);
        let probs = buffer_f32(&ctx, &vec![0.0; n]);
        let with_probs = kernels::sample_with_probs(&ctx, &step, &logits, &inputs, &out, &probs, n as u32).unwrap();
        let plain = kernels::sample(&ctx, &step, &logits, &inputs, &out, n as u32).unwrap();
        Self { ctx, n, logits, inputs, out, probs, with_probs, plain }
    }

    fn set_logits(&self, logits: &[f32]) {
        assert_eq!(logits.len(), self.n);
        self.ctx.queue.write_buffer(&self.logits, 0, bytemuck::cast_slice(logits));
    }

    fn set(&self, cfg: &SamplerConfig, bias: &LogitBias, recent: &[u32], draw: u32) {
        assert!(self.inputs.write(&self.ctx.queue, cfg, bias, self.n as u32, recent, draw), "too many adjusted ids");
    }

    /// The token for `draw`, by the production op.
    fn token(&self, cfg: &SamplerConfig, recent: &[u32], draw: u32) -> u32 {
        self.biased_token(cfg, &LogitBias::default(), recent, draw)
    }

    fn biased_token(&self, cfg: &SamplerConfig, bias: &LogitBias, recent: &[u32], draw: u32) -> u32 {
        self.set(cfg, bias, recent, draw);
        run(&self.ctx, std::slice::from_ref(&self.plain), 1);
        read_u32(&self.ctx, &self.out, 1)[0]
    }

    /// The token for `draw` and every id's probability, by the test variant.
    fn token_and_probs(&self, cfg: &SamplerConfig, recent: &[u32], draw: u32) -> (u32, Vec<f32>) {
        self.biased_token_and_probs(cfg, &LogitBias::default(), recent, draw)
    }

    fn biased_token_and_probs(&self, cfg: &SamplerConfig, bias: &LogitBias, recent: &[u32], draw: u32) -> (u32, Vec<f32>) {
        self.set(cfg, bias, recent, draw);
        run(&self.ctx, std::slice::from_ref(&self.with_probs), 1);
        (read_u32(&self.ctx, &self.out, 1)[0], read_f32(&self.ctx, &self.probs, self.n))
    }
}

fn cfg(temperature: f32, top_k: usize, top_p: f32, min_p: f32) -> SamplerConfig {
    SamplerConfig { temperature, top_k, top_p, min_p, repetition_penalty: 1.0, frequency_penalty: 0.0, presence_penalty: 0.0, penalty_last_n: 64, seed: 0 }
}

fn penalized(c: SamplerConfig) -> SamplerConfig {
    SamplerConfig { repetition_penalty: 1.3, frequency_penalty: 0.2, presence_penalty: 0.4, penalty_last_n: 64, ..c }
}

/// The configurations every test runs, by name.
fn configs() -> Vec<(&'static str, SamplerConfig)> {
    vec![
        ("greedy with penalties", penalized(cfg(0.0, 40, 0.95, 0.05))),
        ("temp 0.7 top_p 0.9", cfg(0.7, 0, 0.9, 0.0)),
        ("top_k 40", cfg(1.0, 40, 1.0, 0.0)),
        ("min_p 0.05", cfg(1.0, 0, 1.0, 0.05)),
        ("defaults with penalties", penalized(cfg(0.8, 40, 0.95, 0.05))),
        ("temp 1.3 alone", cfg(1.3, 0, 1.0, 0.0)),
        ("top_k 3000 top_p 0.5", cfg(1.0, 3000, 0.5, 0.0)),
    ]
}

/// Seeded logits of two shapes: `flat` (uniform in ±3, so top-p and min-p
/// keep many thousands of ids) or peaked like a language model's (a few ids
/// several nats above a spread of the rest), with a NaN and a −∞.
fn logits(n: usize, seed: u64, flat: bool) -> Vec<f32> {
    let mut rng = SamplerRng::new(seed);
    let mut v: Vec<f32> = if flat {
        (0..n).map(|_| rng.uniform(-3.0, 3.0)).collect()
    } else {
        (0..n).map(|_| 2.0 * (rng.uniform(-1.0, 1.0) + rng.uniform(-1.0, 1.0) + rng.uniform(-1.0, 1.0))).collect()
    };
    if !flat {
        for j in 0..12 {
            let id = rng.below(n as u64) as usize;
            v[id] = 9.0 + j as f32 * 0.4;
        }
    }
    v[n / 2] = f32::NAN;
    v[n / 2 + 1] = f32::NEG_INFINITY;
    v
}

/// 200 recent ids with repeats: the 6 highest logits (some several times),
/// random ids, and one outside the vocabulary (ignored).
fn recent(logits: &[f32], seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..logits.len() as u32).filter(|&i| !logits[i as usize].is_nan()).collect();
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
    let mut rng = SamplerRng::new(seed);
    let mut r: Vec<u32> = (0..200).map(|_| if rng.below(3) == 0 { order[rng.below(6) as usize] } else { rng.below(logits.len() as u64) as u32 }).collect();
    r[150] = logits.len() as u32 + 5;
    r
}

/// The GPU's probabilities `got` (one per id) against the CPU's candidates
/// `want` (with exact probabilities): the same candidate set, except that where the CPU's f32 running
/// sum over a nucleus of many thousand ids rounds to a neighbouring boundary
/// the sets may differ at their low end (logits no higher than any common
/// candidate's, `penalized` being the logits after penalties) by at most
/// f32_sum_tol(vocabulary) of the probability (how far that running sum
/// may be off); and the same probability for each common candidate. Fails
/// naming the id and both values.
fn assert_same_distribution(what: &str, want: &[(u32, f32)], got: &[f32], penalized: &[f32]) {
    let mut cpu = vec![0f64; got.len()];
    for &(id, p) in want {
        cpu[id as usize] = p as f64;
    }
    let one_sided: Vec<usize> = (0..got.len()).filter(|&i| (got[i] > 0.0) != (cpu[i] > 0.0)).collect();
    let lowest_common = (0..got.len()).filter(|&i| got[i] > 0.0 && cpu[i] > 0.0).map(|i| penalized[i]).fold(f32::INFINITY, f32::min);
    let one_sided_mass: f64 = one_sided.iter().map(|&i| cpu[i].max(got[i] as f64)).sum();
    let set_mass_tol = f32_sum_tol(got.len());
    let n_cands = cpu.iter().filter(|&&p| p > 0.0).count();
    // Candidates on one side only also scale the others' probabilities by up to their mass.
    let prob_tol = PROB_REL_TOL + one_sided_mass;
    for &i in &one_sided {
        assert!(
            penalized[i] <= lowest_common && one_sided_mass <= set_mass_tol,
            "{what}: id {i} (logit {}) is a candidate on one side only: gpu p = {:e}, cpu p = {:e}; {} such ids, mass {one_sided_mass:e}",
            penalized[i],
            got[i],
            cpu[i],
            one_sided.len()
        );
    }
    // The common candidate farthest off, relative to its tolerance.
    let (mut worst, mut worst_id) = (0f64, 0usize);
    for (id, (&g, &w)) in got.iter().zip(&cpu).enumerate() {
        if g > 0.0 && w > 0.0 {
            let r = (g as f64 - w).abs() / (prob_tol * w + PROB_ABS_TOL);
            if r > worst {
                (worst, worst_id) = (r, id);
            }
        }
    }
    let set = if one_sided.is_empty() { "same set".to_string() } else { format!("{} boundary ids on one side only (mass {one_sided_mass:.1e})", one_sided.len()) };
    let (g, w) = (got[worst_id] as f64, cpu[worst_id]);
    eprintln!("{what}: {n_cands} candidates, {set}; worst: id {worst_id} at {worst:.2} of its tolerance ({:.1e} relative)", (g - w).abs() / w.max(1e-30));
    assert!(worst <= 1.0, "{what}: id {worst_id}: gpu p = {g:e}, cpu p = {w:e} (tolerance {prob_tol:.1e} relative)");
}

/// The upper `CHI2_Z` quantile of chi-square with `dof` degrees of freedom (Wilson–Hilferty).
fn chi2_bound(dof: usize) -> f64 {
    let k = dof as f64;
    k * (1.0 - 2.0 / (9.0 * k) + CHI2_Z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

/// Draws `draws` tokens with seeded uniform draws and checks each against the
/// id-ordered cumulative distribution `probs` (the token is where u falls),
/// then the counts against `want` by chi-square over buckets of about equal
/// probability (ids in order).
fn check_draws(what: &str, gpu: &Gpu, c: &SamplerConfig, bias: &LogitBias, recent: &[u32], want: &[(u32, f32)], probs: &[f32], draws: usize) {
    let mut cdf = vec![0f64; probs.len() + 1];
    for (i, &p) in probs.iter().enumerate() {
        cdf[i + 1] = cdf[i] + p as f64;
    }
    let mut rng = SamplerRng::new(99);
    let mut tokens = Vec::with_capacity(draws);
    for _ in 0..draws {
        let draw = rng.next_u32();
        let t = gpu.biased_token(c, bias, recent, draw) as usize;
        let u = (draw >> 8) as f64 / (1u64 << 24) as f64;
        assert!(t < probs.len() && probs[t] > 0.0, "{what}: draw {draw:#x} picked id {t}, not a candidate");
        assert!(cdf[t] - CDF_TOL <= u && u <= cdf[t + 1] + CDF_TOL, "{what}: u = {u} picked id {t}, whose cumulative interval is [{}, {}]", cdf[t], cdf[t + 1]);
        tokens.push(t as u32);
    }
    // Buckets of about equal probability over the candidates in id order.
    let n_buckets = want.len().min(10);
    if n_buckets < 2 {
        assert!(tokens.iter().all(|&t| t == want[0].0), "{what}: one candidate, {} drawn", want[0].0);
        return;
    }
    let mut bucket_of = std::collections::HashMap::new();
    let mut expected = vec![0f64; n_buckets];
    let mut cum = 0f64;
    for &(id, p) in want {
        // By the middle of its interval, so no bucket is left empty.
        let b = (((cum + p as f64 / 2.0) * n_buckets as f64) as usize).min(n_buckets - 1);
        bucket_of.insert(id, b);
        expected[b] += p as f64 * draws as f64;
        cum += p as f64;
    }
    let mut seen = vec![0f64; n_buckets];
    for t in &tokens {
        seen[bucket_of[t]] += 1.0;
    }
    let used: Vec<usize> = (0..n_buckets).filter(|&b| expected[b] > 0.0).collect();
    if used.len() < 2 {
        assert_eq!(seen[used[0]], draws as f64, "{what}: every draw in the only bucket with mass");
        return;
    }
    let chi2: f64 = used.iter().map(|&b| (seen[b] - expected[b]).powi(2) / expected[b]).sum();
    let bound = chi2_bound(used.len() - 1);
    eprintln!("{what}: {draws} draws, chi-square {chi2:.1} over {} buckets (bound {bound:.1})", used.len());
    assert!(chi2 <= bound, "{what}: chi-square {chi2:.1} > {bound:.1}: seen {seen:?}, expected {expected:?}");
}

/// The CPU sampler's candidates with their probabilities recomputed in f64
/// from the penalised logits (greedy: the one candidate).
fn exact_probabilities(cpu: &[(u32, f32)], penalized: &[f32], temperature: f32) -> Vec<(u32, f32)> {
    if cpu.len() == 1 {
        return cpu.to_vec();
    }
    let max = cpu.iter().map(|&(id, _)| penalized[id as usize] as f64).fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = cpu.iter().map(|&(id, _)| ((penalized[id as usize] as f64 - max) / temperature as f64).exp()).collect();
    let sum: f64 = w.iter().sum();
    cpu.iter().zip(&w).map(|(&(id, _), &w)| (id, (w / sum) as f32)).collect()
}

fn check_config(gpu: &Gpu, what: &str, c: SamplerConfig, logits: &[f32], recent: &[u32], draws: usize) {
    check_biased_config(gpu, what, c, &LogitBias::default(), logits, recent, draws);
}

/// [`check_config`] with a logit bias on both samplers.
fn check_biased_config(gpu: &Gpu, what: &str, c: SamplerConfig, bias: &LogitBias, logits: &[f32], recent: &[u32], draws: usize) {
    let cpu_sampler = || Sampler::new(c).with_logit_bias(bias.clone());
    let cpu = cpu_sampler().candidates(logits, recent);
    let penalized_logits = cpu_sampler().penalized_logits(logits, recent);
    let want = exact_probabilities(&cpu, &penalized_logits, c.temperature);
    let (token, probs) = gpu.biased_token_and_probs(&c, bias, recent, 0x8000_0000);
    assert_same_distribution(what, &want, &probs, &penalized_logits);
    assert!(probs[token as usize] > 0.0, "{what}: picked {token}, not a candidate");
    if c.temperature <= 0.0 {
        assert_eq!(token, cpu_sampler().sample(logits, recent), "{what}: greedy pick");
    }
    check_draws(what, gpu, &c, bias, recent, &want, &probs, draws);
}

#[test]
fn matches_the_cpu_sampler_vocab_1000() {
    for ctx in contexts() {
        let l = label(&ctx);
        let gpu = Gpu::new(ctx, 1000);
        for flat in [true, false] {
            let logits = logits(1000, 3, flat);
            let recent = recent(&logits, 4);
            gpu.set_logits(&logits);
            for (name, c) in configs() {
                check_config(&gpu, &format!("n 1000 {} {name} ({l})", if flat { "flat" } else { "peaked" }), c, &logits, &recent, 1000);
            }
        }
    }
}

#[test]
fn matches_the_cpu_sampler_vocab_262144() {
    let gpu = Gpu::new(contexts().remove(0), 262_144);
    for flat in [true, false] {
        let logits = logits(262_144, 5, flat);
        let recent = recent(&logits, 6);
        gpu.set_logits(&logits);
        for (name, c) in configs() {
            check_config(&gpu, &format!("n 262144 {} {name}", if flat { "flat" } else { "peaked" }), c, &logits, &recent, 300);
        }
    }
}

/// Logits on a coarse grid (13 values, about 385 ids each) put ties at the
/// top-k and top-p boundaries: the lowest ids among equal logits are kept, as
/// the CPU sampler's order (logit descending, id ascending) does. Both of the
/// shader's paths: candidate sets that fit its workgroup memory (1024), and
/// larger ones (top_k 1500; a nucleus of 1500 ids) whose cut is found over
/// the whole row (a gathered ladder step, or with ties that fill a step the
/// radix select).
#[test]
fn ties_at_the_boundaries_keep_the_lowest_ids() {
    let n = 5000;
    let gpu = Gpu::new(contexts().remove(0), n);
    let mut rng = SamplerRng::new(8);
    let logits: Vec<f32> = (0..n).map(|_| (rng.uniform(-3.0, 3.0) * 2.0).round() * 0.5).collect();
    gpu.set_logits(&logits);
    let recent = recent(&logits, 9);
    for (name, c) in [
        ("top_k 100", cfg(1.0, 100, 1.0, 0.0)),
        ("top_p 0.3", cfg(1.0, 0, 0.3, 0.0)),
        ("top_k 700 top_p 0.6", cfg(1.0, 700, 0.6, 0.0)),
        ("top_k 100 with penalties", penalized(cfg(1.0, 100, 1.0, 0.0))),
        ("min_p 0.3", cfg(1.0, 0, 1.0, 0.3)),
        ("top_k 1500", cfg(1.0, 1500, 1.0, 0.0)),
        ("top_p 0.8", cfg(1.0, 0, 0.8, 0.0)),
        ("top_k 1500 top_p 0.7", cfg(1.0, 1500, 0.7, 0.0)),
    ] {
        check_config(&gpu, &format!("ties {name}"), c, &logits, &recent, 500);
    }
    // All equal: greedy takes id 0, top_k 5 keeps ids 0..5.
    let flat = vec![1.5f32; n];
    gpu.set_logits(&flat);
    let (t, probs) = gpu.token_and_probs(&cfg(0.0, 0, 1.0, 0.0), &[], 0);
    assert_eq!((t, probs[0]), (0, 1.0));
    let (_, probs) = gpu.token_and_probs(&cfg(1.0, 5, 1.0, 0.0), &[], 0);
    let kept: Vec<usize> = (0..n).filter(|&i| probs[i] > 0.0).collect();
    assert_eq!(kept, vec![0, 1, 2, 3, 4]);
}

/// The same seed gives the same tokens run after run; another seed others.
/// And the logits row is as it was after the op (penalties are undone).
#[test]
fn same_seed_same_tokens_and_logits_restored() {
    let n = 49_152;
    let gpu = Gpu::new(contexts().remove(0), n);
    let logits = logits(n, 11, false);
    gpu.set_logits(&logits);
    let recent = recent(&logits, 12);
    let c = penalized(cfg(1.5, 0, 0.98, 0.0));
    let run_seed = |seed: u64| -> Vec<u32> {
        let mut s = Sampler::new(SamplerConfig { seed, ..c });
        (0..24).map(|_| gpu.token(&c, &recent, s.next_draw())).collect()
    };
    let (a, b, other) = (run_seed(7), run_seed(7), run_seed(8));
    assert_eq!(a, b, "same seed");
    assert_ne!(a, other, "another seed");
    assert!(a.iter().collect::<std::collections::HashSet<_>>().len() > 4, "temperature 1.5 over a wide nucleus draws varied tokens: {a:?}");
    let after = read_f32(&gpu.ctx, &gpu.logits, n);
    for (i, (x, y)) in after.iter().zip(&logits).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "logit {i} changed: {x} (was {y})");
    }
}

/// More distinct adjusted ids (penalised or biased) than the GPU buffer
/// holds: refused, so the caller samples on the CPU. A full logit bias fits
/// beside 4096 penalised ids; an id both penalised and biased counts once.
#[test]
fn too_many_adjusted_ids_are_refused() {
    let n = 20_000;
    let gpu = Gpu::new(contexts().remove(0), n);
    let c = SamplerConfig { penalty_last_n: 20_000, ..penalized(cfg(1.0, 0, 1.0, 0.0)) };
    let none = LogitBias::default();
    let write = |bias: &LogitBias, recent: &[u32]| gpu.inputs.write(&gpu.ctx.queue, &c, bias, n as u32, recent, 0);
    let many: Vec<u32> = (0..kernels::MAX_ADJUSTED as u32 + 1).collect();
    assert!(!write(&none, &many));
    assert!(write(&none, &many[1..]));
    let full_bias = LogitBias::from_pairs((0..tabllm::sampler::MAX_LOGIT_BIAS as u32).map(|i| (i, -1.0))).unwrap();
    let window: Vec<u32> = (0..(kernels::MAX_ADJUSTED - tabllm::sampler::MAX_LOGIT_BIAS) as u32).map(|i| 10_000 + i).collect();
    assert!(write(&full_bias, &window));
    assert!(!write(&full_bias, &[&window[..], &[19_999]].concat()));
    assert!(write(&full_bias, &[&window[..], &[5]].concat()), "id 5 is biased and penalised: one entry");
    let merged = kernels::adjustments(&c, &LogitBias::from_pairs([(5, 2.0), (1, -1.0), (n as u32, 1.0)]).unwrap(), n as u32, &[5, 9, 5]);
    let merged: Vec<(u32, u32, f32)> = merged.iter().map(|a| (a.id, a.count, a.bias)).collect();
    assert_eq!(merged, [(1, 0, -1.0), (5, 2, 2.0), (9, 1, 0.0)], "in id order, ids past the vocabulary left out");
}

/// A logit bias (OpenAI's `logit_bias`: the number added to the logit, as
/// llama.cpp's sampler does): on the seeded logits, −100 on the highest ids,
/// small biases up and down on others (some of them penalised too, so
/// bias then penalty apply to one logit), and one on the −∞ and NaN ids.
fn mixed_bias(logits: &[f32], seed: u64) -> LogitBias {
    let mut order: Vec<u32> = (0..logits.len() as u32).filter(|&i| !logits[i as usize].is_nan()).collect();
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
    let mut rng = SamplerRng::new(seed);
    let n = logits.len() as u64;
    let mut pairs: Vec<(u32, f32)> = order[..5].iter().map(|&id| (id, -100.0)).collect();
    pairs.extend((0..60).map(|_| (rng.below(n) as u32, rng.uniform(0.5, 4.0))));
    pairs.extend((0..60).map(|_| (rng.below(n) as u32, -rng.uniform(0.5, 4.0))));
    pairs.extend([(order[5], 1.5), (order[6], -0.75), (logits.len() as u32 / 2, 100.0), (logits.len() as u32 / 2 + 1, 100.0)]);
    LogitBias::from_pairs(pairs).unwrap()
}

/// The GPU sampler with a logit bias against the CPU one, in every
/// configuration, on both precisions (f32 and, where the adapter has it,
/// f16), flat and peaked rows, with and without penalties: the same
/// candidates and probabilities, draws where their u falls, the logits row
/// as it was. Then +100 forces a low id, greedy and sampled, whatever the
/// filters; and on a wider row, the shader's long paths (a cut over more
/// candidates than its workgroup memory holds) with the bias.
#[test]
fn logit_bias_matches_the_cpu_sampler() {
    for ctx in contexts() {
        let l = label(&ctx);
        let gpu = Gpu::new(ctx, 1000);
        for flat in [true, false] {
            let logits = logits(1000, 21, flat);
            let recent = recent(&logits, 22);
            let bias = mixed_bias(&logits, 23);
            gpu.set_logits(&logits);
            for (name, c) in configs() {
                check_biased_config(&gpu, &format!("bias n 1000 {} {name} ({l})", if flat { "flat" } else { "peaked" }), c, &bias, &logits, &recent, 500);
            }
            let after = read_f32(&gpu.ctx, &gpu.logits, 1000);
            assert!(after.iter().zip(&logits).all(|(x, y)| x.to_bits() == y.to_bits()), "({l}) the biased logits were restored");
            // +100 on the lowest finite logit: every configuration picks it.
            let low = (0..1000u32).filter(|&i| logits[i as usize].is_finite()).min_by(|&a, &b| logits[a as usize].total_cmp(&logits[b as usize])).unwrap();
            let force = LogitBias::from_pairs([(low, 100.0)]).unwrap();
            for (name, c) in configs() {
                // (Not u = 0 exactly: at temperature 1.3 the others keep
                // weights of about e^-60, and u = 0 takes the first id with any.)
                for draw in [0x100, 0x8000_0000, u32::MAX] {
                    assert_eq!(gpu.biased_token(&c, &force, &recent, draw), low, "forced ({l}, {name}, draw {draw:#x})");
                }
            }
        }
    }
    let n = 20_000;
    let gpu = Gpu::new(contexts().remove(0), n);
    let logits = logits(n, 24, true);
    let recent = recent(&logits, 25);
    let bias = mixed_bias(&logits, 26);
    gpu.set_logits(&logits);
    for (name, c) in [("top_k 1500", cfg(1.0, 1500, 1.0, 0.0)), ("top_p 0.8", cfg(1.0, 0, 0.8, 0.0)), ("top_k 3000 top_p 0.5 with penalties", penalized(cfg(1.0, 3000, 0.5, 0.0))), ("temp 1.3 alone", cfg(1.3, 0, 1.0, 0.0))] {
        check_biased_config(&gpu, &format!("bias n {n} flat {name}"), c, &bias, &logits, &recent, 300);
    }
}

/// Not a check: prints what the sample op costs here (lavapipe) for the
/// vocabularies of the default models (SmolLM2: 49 152 × 576, Gemma 3:
/// 262 144 × 640), beside the argmax and the output head's matvec (Q8_0, as
/// both models store it) over the same rows: the fastest of 7 runs of each,
/// with submit and read-back.
#[test]
fn print_sample_op_cost() {
    use tabllm::gpu::GpuTensor;
    use tabllm::quant::{testing, GgmlType};
    for (n, dim) in [(49_152usize, 576usize), (262_144, 640)] {
        let gpu = Gpu::new(contexts().remove(0), n);
        eprintln!("{} ({:?})", gpu.ctx.adapter_info.name, gpu.ctx.adapter_info.backend);
        let logits = logits(n, 13, false);
        gpu.set_logits(&logits);
        let recent = recent(&logits, 14);
        let step = step_buffer(&gpu.ctx, 0, 1);
        let argmax = kernels::argmax(&gpu.ctx, &step, &gpu.logits, &gpu.out, n as u32).unwrap();
        let w = testing::random_tensor(GgmlType::Q8_0, n * dim, 15);
        let mut t = GpuTensor::allocate(&gpu.ctx, "output", GgmlType::Q8_0, &[dim as u64, n as u64], w.len() as u64).unwrap();
        t.write_next(&gpu.ctx.queue, &w);
        let x = buffer_f32(&gpu.ctx, &testing::random_f32(dim, 16));
        let y = buffer_f32(&gpu.ctx, &vec![0.0; n]);
        let head = kernels::matvec(&gpu.ctx, &step, "output", &t, &x, dim as u64, &y, n as u64, kernels::MatvecOut::LastToken).unwrap();
        let fastest = |f: &dyn Fn()| {
            f();
            (0..7)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::INFINITY, f64::min)
        };
        let head_ms = fastest(&|| {
            run(&gpu.ctx, &head, 1);
            read_f32(&gpu.ctx, &y, 1);
        });
        let argmax_ms = fastest(&|| {
            run(&gpu.ctx, std::slice::from_ref(&argmax), 1);
            read_u32(&gpu.ctx, &gpu.out, 1);
        });
        eprintln!("n {n}: output matvec {head_ms:.2} ms; argmax {argmax_ms:.2} ms");
        for (name, c) in configs() {
            let ms = fastest(&|| {
                gpu.token(&c, &recent, 12345);
            });
            eprintln!("n {n}: sample {name}: {ms:.2} ms ({:.1}% of the output matvec)", ms / head_ms * 100.0);
        }
    }
}
