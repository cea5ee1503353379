//! llama-bench-style throughput of a loaded model: `ppN` reads a prompt of N
//! tokens from an empty cache, in steps of the model's `max_batch` (what
//! llama-bench's ubatch is), and `tgN` decodes N tokens one at a time from an
//! empty cache; each reported as tokens/s. The first tg test also gives the
//! bytes a decode step reads, so decode can be set against the memory
//! bandwidth (bytes/token × tok/s = implied GB/s). A depth (llama-bench's
//! `-d`) first fills that many cache positions, untimed, so `tg128 @ d4096`
//! is decode with 4,096 positions of context already there.

use serde::Serialize;
use web_time::Instant;

use crate::bench::{decode_bytes_per_token, DecodeBytes};
use crate::model::{Model, ModelError, Output, StepInput};

/// Most prompt tokens of the warm-up before the tests (llama-bench's warm-up:
/// min(ubatch, prompt, 32) tokens, then one decode step).
const WARMUP_PROMPT_TOKENS: u32 = 32;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("nothing to measure: give a pp or a tg test, a depth and at least one repetition")]
    NothingToMeasure,
    #[error("{0} measures nothing: a test takes at least 1 token")]
    NoTokens(String),
    /// A test fills one KV cache position per token, from an empty cache.
    #[error("{test} needs {needed} positions but the context holds {n_ctx}")]
    OverContext { test: String, needed: u64, n_ctx: u32 },
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// One llama-bench test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchTest {
    /// Prompt processing: this many tokens from an empty cache, `max_batch` per step.
    Pp(u32),
    /// Text generation: this many greedy decode steps from an empty cache.
    Tg(u32),
}

impl BenchTest {
    /// `pp512`, `tg128`: llama-bench's names.
    pub fn name(self) -> String {
        match self {
            BenchTest::Pp(n) => format!("pp{n}"),
            BenchTest::Tg(n) => format!("tg{n}"),
        }
    }

    pub fn tokens(self) -> u32 {
        match self {
            BenchTest::Pp(n) | BenchTest::Tg(n) => n,
        }
    }
}

/// A test run after `depth` positions of the cache were filled (untimed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchCase {
    pub test: BenchTest,
    pub depth: u32,
}

impl BenchCase {
    /// `tg128`, or llama-bench's `tg128 @ d4096` at a depth.
    pub fn name(self) -> String {
        match self.depth {
            0 => self.test.name(),
            d => format!("{} @ d{d}", self.test.name()),
        }
    }

    /// Cache positions the case fills: its depth and its tokens (u64: their
    /// sum may pass any u32 context).
    pub fn positions(self) -> u64 {
        self.depth as u64 + self.test.tokens() as u64
    }
}

/// What [`measure_throughput`] runs: at each depth, each pp test, then each
/// tg test, every one `repetitions` times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchPlan {
    pub pp: Vec<u32>,
    pub tg: Vec<u32>,
    /// Cache positions filled before each test (llama-bench's `-d`); 0 is an empty cache.
    pub depth: Vec<u32>,
    pub repetitions: u32,
}

impl Default for BenchPlan {
    /// llama-bench's figures people compare: pp512 and tg128, from an empty cache.
    fn default() -> Self {
        Self { pp: vec![512], tg: vec![128], depth: vec![0], repetitions: 1 }
    }
}

impl BenchPlan {
    pub fn tests(&self) -> Vec<BenchCase> {
        let tests: Vec<BenchTest> = self.pp.iter().map(|&n| BenchTest::Pp(n)).chain(self.tg.iter().map(|&n| BenchTest::Tg(n))).collect();
        self.depth.iter().flat_map(|&depth| tests.iter().map(move |&test| BenchCase { test, depth })).collect()
    }

    /// KV cache positions the largest case fills: the context the model needs.
    pub fn positions(&self) -> u64 {
        self.tests().iter().map(|t| t.positions()).max().unwrap_or(0)
    }

    /// There is a test, a depth and a repetition; every test has at least one
    /// token and, with its depth, fits `n_ctx`.
    pub fn check(&self, n_ctx: u32) -> Result<(), BenchError> {
        let tests = self.tests();
        if tests.is_empty() || self.repetitions == 0 {
            return Err(BenchError::NothingToMeasure);
        }
        if let Some(t) = tests.iter().find(|t| t.test.tokens() == 0) {
            return Err(BenchError::NoTokens(t.name()));
        }
        match tests.iter().find(|t| t.positions() > n_ctx as u64) {
            Some(t) => Err(BenchError::OverContext { test: t.name(), needed: t.positions(), n_ctx }),
            None => Ok(()),
        }
    }
}

/// One test's figures.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// `pp512`, `tg128`, `tg128 @ d4096`.
    pub test: String,
    pub tokens: u32,
    /// Cache positions filled before the test ran.
    pub depth: u32,
    /// Wall seconds of one run (mean over the runs).
    pub seconds: f64,
    /// tokens / seconds of each run, averaged (llama-bench's avg_ts).
    pub tok_s: f64,
    /// Sample standard deviation of the runs' tok/s (0 for one run).
    pub tok_s_stddev: f64,
    pub runs: u32,
    /// pp tests: weight bytes read per prompt token, from the kernels' tiling
    /// (`Model::weight_bytes_read` over the test's steps); with
    /// `weight_fraction`, that over the model's weight bytes.
    pub weight_bytes_per_token: Option<f64>,
    pub weight_fraction: Option<f64>,
}

impl BenchRow {
    fn of(case: BenchCase, seconds: &[f64]) -> Self {
        let test = case.test;
        let n = seconds.len().max(1) as f64;
        let rates: Vec<f64> = seconds.iter().map(|s| test.tokens() as f64 / s.max(1e-9)).collect();
        let mean = rates.iter().sum::<f64>() / n;
        let var = if rates.len() > 1 { rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        Self {
            test: case.name(),
            tokens: test.tokens(),
            depth: case.depth,
            seconds: seconds.iter().sum::<f64>() / n,
            tok_s: mean,
            tok_s_stddev: var.sqrt(),
            runs: seconds.len() as u32,
            weight_bytes_per_token: None,
            weight_fraction: None,
        }
    }
}

/// The first pp test, under the names the bench page and older tools read.
#[derive(Clone, Debug, Serialize)]
pub struct PrefillSummary {
    pub prompt_tokens: u32,
    pub prefill_tok_s: f64,
}

/// The first tg test (at the first depth), with what its decode steps read and cost.
#[derive(Clone, Debug, Serialize)]
pub struct DecodeSummary {
    pub gen_tokens: u32,
    pub decode_tok_s: f64,
    /// Weights + KV cache read by a decode step, averaged over the steps.
    pub bytes_per_token: f64,
    pub weight_bytes_per_token: f64,
    pub kv_bytes_per_token: f64,
    /// bytes_per_token × decode_tok_s / 1e9.
    pub implied_gbps: f64,
    /// Compute dispatches a greedy decode step records (`Model::dispatches_per_step`).
    pub dispatches_per_token: usize,
    /// Host time to write, encode and submit one decode step, in ms (mean
    /// over the steps of every run): the CPU side of a token, which on a real
    /// GPU in a browser can bound decode before bandwidth does.
    pub host_encode_ms_per_token: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    /// One row per test, in the plan's order: at each depth in turn, pp then tg.
    pub tests: Vec<BenchRow>,
    /// Tokens per prefill step (`Model::max_batch`).
    pub max_batch: u32,
    #[serde(flatten)]
    pub prefill: Option<PrefillSummary>,
    #[serde(flatten)]
    pub decode: Option<DecodeSummary>,
}

/// Arbitrary valid ids; speed does not depend on them.
fn bench_ids(model: &Model, n: u32) -> Vec<u32> {
    (0..n).map(|i| (i * 7919 + 13) % model.config.vocab).collect()
}

/// Prefills `n` tokens at positions `pos0`.. in steps of `max_batch`; returns the seconds.
async fn run_pp(model: &Model, n: u32, pos0: u32) -> Result<f64, ModelError> {
    let ids = bench_ids(model, n);
    let t = Instant::now();
    let mut pos = pos0 as usize;
    for chunk in ids.chunks(model.max_batch() as usize) {
        let out = if pos + chunk.len() == pos0 as usize + ids.len() { Output::Argmax } else { Output::None };
        model.step(chunk, pos as u32, out).await?;
        pos += chunk.len();
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Decodes `n` greedy tokens at positions `pos0`.. as the engine does: each
/// step queued before the previous token is read back, its input taken from
/// the GPU. Returns the seconds and the host encode seconds of all the steps.
async fn run_tg(model: &Model, n: u32, pos0: u32) -> Result<(f64, f64), ModelError> {
    let t = Instant::now();
    let mut pending = model.submit(StepInput::Ids(&bench_ids(model, 1)), pos0, Output::Argmax)?;
    let mut encode_s = model.last_encode_seconds();
    for pos in pos0 + 1..=pos0 + n {
        let next = if pos < pos0 + n {
            let p = model.submit(StepInput::PreviousToken, pos, Output::Argmax)?;
            encode_s += model.last_encode_seconds();
            Some(p)
        } else {
            None
        };
        model.finish(pending).await?;
        match next {
            Some(p) => pending = p,
            None => break,
        }
    }
    Ok((t.elapsed().as_secs_f64(), encode_s))
}

/// Runs a short warm-up (not counted), then every test of `plan`, each from
/// an empty cache. Overwrites the KV cache.
pub async fn measure_throughput(model: &Model, plan: &BenchPlan) -> Result<Throughput, BenchError> {
    plan.check(model.n_ctx())?;
    // Warm-up: compiles every pipeline and touches every weight.
    if let Some(&least) = plan.pp.iter().min() {
        run_pp(model, least.min(model.max_batch()).min(WARMUP_PROMPT_TOKENS), 0).await?;
    }
    if !plan.tg.is_empty() {
        run_tg(model, 1, 0).await?;
    }
    let mut tests = Vec::new();
    let mut decode = None;
    let mut filled = 0;
    for case in plan.tests() {
        let (test, depth) = (case.test, case.depth);
        // Tests write positions from `depth` on, so the fill below it stands
        // for every test and repetition at that depth.
        if depth > 0 && filled != depth {
            run_pp(model, depth, 0).await?;
            filled = depth;
        }
        let mut seconds = Vec::new();
        let mut encode_s = 0.0;
        for _ in 0..plan.repetitions {
            match test {
                BenchTest::Pp(n) => seconds.push(run_pp(model, n, depth).await?),
                BenchTest::Tg(n) => {
                    let (s, e) = run_tg(model, n, depth).await?;
                    seconds.push(s);
                    encode_s += e;
                }
            }
        }
        let mut row = BenchRow::of(case, &seconds);
        if let BenchTest::Pp(n) = test {
            let steps = bench_ids(model, n).chunks(model.max_batch() as usize).map(|c| model.weight_bytes_read(c.len() as u32)).sum::<u64>();
            let per_token = steps as f64 / n.max(1) as f64;
            row.weight_bytes_per_token = Some(per_token);
            row.weight_fraction = Some(per_token / model.weight_bytes().max(1) as f64);
        }
        if let (BenchTest::Tg(n), None) = (test, &decode) {
            // Decode step i attends over depth + i + 1 positions.
            let DecodeBytes { weights, kv, total } = decode_bytes_per_token(model, depth as f64 + (n as f64 + 1.0) / 2.0);
            decode = Some(DecodeSummary {
                gen_tokens: n,
                decode_tok_s: row.tok_s,
                bytes_per_token: total,
                weight_bytes_per_token: weights,
                kv_bytes_per_token: kv,
                implied_gbps: total * row.tok_s / 1e9,
                // At the test's last step: past SPLIT_MIN_SPAN positions attention splits and combines.
                dispatches_per_token: model.dispatches_per_step_at(1, depth + n - 1, Output::Argmax),
                host_encode_ms_per_token: encode_s * 1e3 / (n as f64 * plan.repetitions as f64),
            });
        }
        tests.push(row);
    }
    let prefill = tests.iter().find(|r| r.test.starts_with("pp")).map(|r| PrefillSummary { prompt_tokens: r.tokens, prefill_tok_s: r.tok_s });
    Ok(Throughput { tests, max_batch: model.max_batch(), prefill, decode })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_order_and_context() {
        let plan = BenchPlan { pp: vec![512, 2048], tg: vec![128], depth: vec![0], repetitions: 1 };
        assert_eq!(plan.tests().iter().map(|t| t.name()).collect::<Vec<_>>(), ["pp512", "pp2048", "tg128"]);
        assert_eq!(plan.positions(), 2048);
        assert!(plan.check(2048).is_ok());
        let e = plan.check(2047).unwrap_err();
        assert_eq!(e.to_string(), "pp2048 needs 2048 positions but the context holds 2047");
        assert!(matches!(BenchPlan { pp: vec![], tg: vec![], depth: vec![0], repetitions: 1 }.check(64), Err(BenchError::NothingToMeasure)));
        assert!(matches!(BenchPlan { pp: vec![0], tg: vec![], depth: vec![0], repetitions: 1 }.check(64), Err(BenchError::NoTokens(t)) if t == "pp0"));
        assert!(matches!(BenchPlan { depth: vec![], ..BenchPlan::default() }.check(4096), Err(BenchError::NothingToMeasure)));
        assert!(matches!(BenchPlan { repetitions: 0, ..BenchPlan::default() }.check(4096), Err(BenchError::NothingToMeasure)));
    }

    #[test]
    fn depths_repeat_every_test_and_count_in_the_context() {
        // llama-bench's order: every test at the first depth, then at the next.
        let plan = BenchPlan { pp: vec![512], tg: vec![128], depth: vec![0, 4096], repetitions: 1 };
        assert_eq!(plan.tests().iter().map(|t| t.name()).collect::<Vec<_>>(), ["pp512", "tg128", "pp512 @ d4096", "tg128 @ d4096"]);
        assert_eq!(plan.positions(), 4608);
        assert!(plan.check(4608).is_ok());
        assert_eq!(plan.check(4607).unwrap_err().to_string(), "pp512 @ d4096 needs 4608 positions but the context holds 4607");
        // A depth near u32::MAX overflows into "does not fit", not a wrapped small number.
        let huge = BenchPlan { depth: vec![u32::MAX], ..BenchPlan::default() };
        assert!(matches!(huge.check(u32::MAX), Err(BenchError::OverContext { .. })));
        assert_eq!(huge.check(u32::MAX).unwrap_err().to_string(), "pp512 @ d4294967295 needs 4294967807 positions but the context holds 4294967295");
    }

    fn case(test: BenchTest) -> BenchCase {
        BenchCase { test, depth: 0 }
    }

    #[test]
    fn row_mean_and_stddev_of_the_runs() {
        // 100 tokens in 1 s and 0.5 s: 100 and 200 tok/s.
        let r = BenchRow::of(case(BenchTest::Pp(100)), &[1.0, 0.5]);
        assert_eq!((r.test.as_str(), r.tokens, r.runs), ("pp100", 100, 2));
        assert!((r.tok_s - 150.0).abs() < 1e-9 && (r.seconds - 0.75).abs() < 1e-12);
        assert!((r.tok_s_stddev - 50.0 * 2f64.sqrt()).abs() < 1e-9);
        assert_eq!(BenchRow::of(case(BenchTest::Tg(8)), &[2.0]).tok_s_stddev, 0.0);
    }
}
