//! Token sampling: greedy, temperature, top-k, top-p, min-p, penalties, seeded RNG.
//! The engine samples on the GPU (`shaders/sample.wgsl`, the same stages and
//! probabilities); this CPU sampler is its reference, and picks the token
//! when the caller wants the logits row anyway (top logits).
//!
//! The chain is llama.cpp's default order, its logit bias first
//! (`common_sampler_init` in llama.cpp's `common/sampling.cpp`):
//! logit bias → penalties → top-k → top-p → min-p → temperature → softmax → draw.
//! Everything is f32 arithmetic with our own RNG ([`Rng`]) and our own `exp`
//! (only +, ×, ÷ and exact rounding), so a seed gives the same tokens on every
//! platform, wasm32 included.

mod bias;

pub use bias::{LogitBias, LogitBiasError, MAX_BIAS, MAX_LOGIT_BIAS};

/// Sampling settings. "Off" values leave a stage out. The logit bias, a
/// list, is set apart ([`Sampler::with_logit_bias`]) so that this stays `Copy`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Softmax temperature; ≤ 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep the `top_k` highest logits; 0 = off.
    pub top_k: usize,
    /// Keep the smallest head whose probability reaches `top_p`; 1 = off.
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` × the top probability; 0 = off.
    pub min_p: f32,
    /// Divide positive / multiply negative logits of recent tokens; 1 = off.
    pub repetition_penalty: f32,
    /// OpenAI's: subtract `count × frequency_penalty` from the logit of a token
    /// seen `count` times among the recent tokens; 0 = off.
    pub frequency_penalty: f32,
    /// OpenAI's: subtract `presence_penalty` from the logit of each token seen
    /// among the recent tokens; 0 = off.
    pub presence_penalty: f32,
    /// How many of the most recent tokens (prompt included, as llama.cpp's
    /// `penalty_last_n`) the penalties look at; 0 = no penalties.
    pub penalty_last_n: usize,
    /// RNG seed; the same seed and inputs give the same tokens.
    pub seed: u64,
}

impl Default for SamplerConfig {
    /// llama.cpp's defaults, penalties off, and a fixed seed (0).
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }
}

/// A token id and its (adjusted) logit.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    id: u32,
    logit: f32,
}

/// Picks the next token from a logits vector.
#[derive(Clone, Debug)]
pub struct Sampler {
    cfg: SamplerConfig,
    /// Added to the logits before anything else (empty: none).
    bias: LogitBias,
    rng: Rng,
    /// (vocab) candidates, refilled each call; capacity kept between calls.
    candidates: Vec<Candidate>,
    /// (≤ penalty_last_n) recent tokens, sorted to count repeats.
    window: Vec<u32>,
}

impl Sampler {
    pub fn new(cfg: SamplerConfig) -> Self {
        Self {
            cfg,
            bias: LogitBias::default(),
            rng: Rng::new(cfg.seed),
            candidates: Vec::new(),
            window: Vec::new(),
        }
    }

    /// This sampler with `bias` added to the logits before the penalties
    /// (see [`LogitBias`]); ids past a logits row are skipped.
    pub fn with_logit_bias(mut self, bias: LogitBias) -> Self {
        self.bias = bias;
        self
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    pub fn logit_bias(&self) -> &LogitBias {
        &self.bias
    }

    /// Greedy, and nothing changes the logits first (no penalties, no logit
    /// bias): the pick is the plain argmax of the model's logits, which the
    /// GPU's argmax op computes alone.
    pub fn is_plain_argmax(&self) -> bool {
        self.is_greedy() && !self.has_penalties() && self.bias.is_empty()
    }

    /// Temperature ≤ 0 (or NaN): every call returns the argmax.
    pub fn is_greedy(&self) -> bool {
        self.cfg.temperature.is_nan() || self.cfg.temperature <= 0.0
    }

    /// Some penalty changes logits: then even a greedy pick cannot be the
    /// plain GPU argmax (it knows nothing of the recent tokens); the GPU
    /// sampler (`kernels::sample`) applies them.
    pub fn has_penalties(&self) -> bool {
        let c = &self.cfg;
        let on = c.repetition_penalty != 1.0 || c.frequency_penalty != 0.0 || c.presence_penalty != 0.0;
        on && c.penalty_last_n > 0
    }

    /// `logits` after the logit bias and the penalties for `recent` (what
    /// [`Self::sample`] picks from; NaN as −∞).
    pub fn penalized_logits(&mut self, logits: &[f32], recent: &[u32]) -> Vec<f32> {
        self.fill_candidates(logits);
        self.apply_penalties(recent);
        self.candidates.iter().map(|c| c.logit).collect()
    }

    /// The uniform u32 for one draw on the GPU (`kernels::sample`), from the
    /// same seeded sequence [`Self::sample`] draws from: one step of the RNG,
    /// and `(draw >> 8) / 2^24` is the u that step would give on the CPU.
    pub fn next_draw(&mut self) -> u32 {
        self.rng.next_u32()
    }

    /// What [`Self::sample`] draws from: every candidate left after the
    /// logit bias, the penalties for `recent` and the filters, with the
    /// probability the draw gives it, in id order (the reference for the GPU
    /// sampler). Greedy: the argmax with probability 1. Candidates of probability 0 (−∞ or NaN
    /// logits a filter kept) are listed with 0.
    pub fn candidates(&mut self, logits: &[f32], recent: &[u32]) -> Vec<(u32, f32)> {
        if logits.is_empty() {
            return Vec::new();
        }
        self.fill_candidates(logits);
        self.apply_penalties(recent);
        if self.is_greedy() {
            return vec![(argmax(&self.candidates), 1.0)];
        }
        self.top_k();
        self.top_p();
        self.min_p();
        let max = self.candidates.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.logit));
        if max == f32::NEG_INFINITY {
            return vec![(argmax(&self.candidates), 1.0)];
        }
        let t = self.cfg.temperature;
        let weights: Vec<f32> = self.candidates.iter().map(|c| exp((c.logit - max) / t)).collect();
        let sum: f32 = weights.iter().sum();
        let mut v: Vec<(u32, f32)> = self.candidates.iter().zip(&weights).map(|(c, w)| (c.id, w / sum)).collect();
        v.sort_unstable_by_key(|c| c.0);
        v
    }

    /// Restarts the random sequence from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.cfg.seed = seed;
        self.rng = Rng::new(seed);
    }

    /// Samples a token id from `logits` (vocab), the logit bias added first,
    /// penalising the tokens in `recent` (oldest first; only the last
    /// `penalty_last_n` count). NaN
    /// logits are never picked unless all are NaN. Returns 0 for empty logits.
    pub fn sample(&mut self, logits: &[f32], recent: &[u32]) -> u32 {
        if logits.is_empty() {
            return 0;
        }
        self.fill_candidates(logits);
        self.apply_penalties(recent);
        if self.is_greedy() {
            return argmax(&self.candidates);
        }
        self.top_k();
        self.top_p();
        self.min_p();
        self.draw()
    }

    /// One candidate per id, in id order; NaN logits become −∞; then the
    /// logit bias is added (−∞ stays −∞, as in llama.cpp).
    fn fill_candidates(&mut self, logits: &[f32]) {
        self.candidates.clear();
        self.candidates
            .extend(logits.iter().enumerate().map(|(id, &l)| Candidate {
                id: id as u32,
                logit: if l.is_nan() { f32::NEG_INFINITY } else { l },
            }));
        for &(id, bias) in self.bias.entries() {
            if let Some(c) = self.candidates.get_mut(id as usize) {
                c.logit += bias;
            }
        }
    }

    /// llama.cpp's penalties over the last `penalty_last_n` tokens (prompt
    /// included), each distinct id once: the repeat penalty divides a positive
    /// logit and multiplies a negative one; then, as OpenAI defines them,
    /// logit −= count × frequency_penalty + presence_penalty. `candidates` is
    /// still indexed by id here.
    fn apply_penalties(&mut self, recent: &[u32]) {
        let c = self.cfg;
        if !self.has_penalties() {
            return;
        }
        let start = recent.len().saturating_sub(c.penalty_last_n);
        self.window.clear();
        self.window.extend_from_slice(&recent[start..]);
        self.window.sort_unstable();
        for run in self.window.chunk_by(|a, b| a == b) {
            let Some(cand) = self.candidates.get_mut(run[0] as usize) else {
                continue;
            };
            if cand.logit <= 0.0 {
                cand.logit *= c.repetition_penalty;
            } else {
                cand.logit /= c.repetition_penalty;
            }
            cand.logit -= run.len() as f32 * c.frequency_penalty + c.presence_penalty;
        }
    }

    fn top_k(&mut self) {
        let k = self.cfg.top_k;
        if k == 0 || k >= self.candidates.len() {
            return;
        }
        self.candidates.select_nth_unstable_by(k - 1, by_logit_desc);
        self.candidates.truncate(k);
    }

    /// Nucleus filter on the temperature-1 probabilities (as llama.cpp).
    fn top_p(&mut self) {
        let p = self.cfg.top_p;
        if p.is_nan() || p >= 1.0 || self.candidates.len() <= 1 {
            return;
        }
        self.candidates.sort_unstable_by(by_logit_desc);
        let max = self.candidates[0].logit;
        if max == f32::NEG_INFINITY {
            return;
        }
        let sum: f32 = self.candidates.iter().map(|c| exp(c.logit - max)).sum();
        let mut cum = 0.0;
        let mut keep = self.candidates.len();
        for (i, c) in self.candidates.iter().enumerate() {
            cum += exp(c.logit - max);
            if cum >= p * sum {
                keep = i + 1;
                break;
            }
        }
        self.candidates.truncate(keep);
    }

    /// Keeps tokens with probability ≥ `min_p` × the top probability.
    fn min_p(&mut self) {
        let min_p = self.cfg.min_p;
        if min_p.is_nan() || min_p <= 0.0 {
            return;
        }
        let max = self
            .candidates
            .iter()
            .fold(f32::NEG_INFINITY, |m, c| m.max(c.logit));
        if max == f32::NEG_INFINITY {
            return;
        }
        // The max itself always passes (exp(0) = 1 ≥ min_p when min_p ≤ 1).
        let min_p = min_p.min(1.0);
        self.candidates.retain(|c| exp(c.logit - max) >= min_p);
    }

    /// Temperature, softmax, and one draw from the RNG.
    fn draw(&mut self) -> u32 {
        let t = self.cfg.temperature;
        let max = self
            .candidates
            .iter()
            .fold(f32::NEG_INFINITY, |m, c| m.max(c.logit));
        if max == f32::NEG_INFINITY {
            return argmax(&self.candidates);
        }
        let sum: f32 = self
            .candidates
            .iter()
            .map(|c| exp((c.logit - max) / t))
            .sum();
        let u = self.rng.next_f32() * sum;
        let mut cum = 0.0;
        for c in &self.candidates {
            cum += exp((c.logit - max) / t);
            if u < cum {
                return c.id;
            }
        }
        // Rounding left `u` at the very top: take the last token with any weight.
        let last = self
            .candidates
            .iter()
            .rev()
            .find(|c| exp((c.logit - max) / t) > 0.0);
        last.map_or(self.candidates[0].id, |c| c.id)
    }
}

/// Highest logit first; equal logits by lowest id, so the order is total.
fn by_logit_desc(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Id of the highest logit; ties go to the lowest id.
fn argmax(cands: &[Candidate]) -> u32 {
    let mut best = cands[0];
    for c in &cands[1..] {
        if c.logit > best.logit || (c.logit == best.logit && c.id < best.id) {
            best = *c;
        }
    }
    best.id
}

/// e^x in f32 from +, ×, exact rounding and bit tricks only, so it gives the
/// same bits on every platform (`f32::exp` calls the platform's libm).
/// Relative error about 1e-7; 0 below −87 (and for NaN), +∞ above 88.
fn exp(x: f32) -> f32 {
    if x.is_nan() || x < -87.0 {
        return 0.0;
    }
    if x > 88.0 {
        return f32::INFINITY;
    }
    // x = k·ln2 + r with |r| ≤ ln2/2; ln2 split in two (Cody–Waite) so k·C1 is exact.
    const C1: f32 = 0.693_359_4; // 355/512
    const C2: f32 = -2.121_944_4e-4;
    let k = (x * std::f32::consts::LOG2_E).round();
    let r = x - k * C1 - k * C2;
    // Taylor series of e^r to degree 7: truncation error < 1e-8 for |r| ≤ 0.35.
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // 2^k for k in −126..=127 is a normal f32.
    p * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

/// SplitMix64: a tiny, fast, seedable generator with identical output on
/// every platform. Also used by the kernel tests (`quant::testing::Rng`).
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in [0, 1) with 24 random bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let v = lo + (hi - lo) * self.next_f32();
        if v < hi {
            v
        } else {
            lo
        }
    }

    /// Uniform integer in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        let mut x = -87.0f32;
        while x <= 20.0 {
            let (ours, std) = (exp(x), x.exp());
            assert!(
                ((ours - std) / std).abs() < 3e-7,
                "exp({x}): {ours} vs {std}"
            );
            x += 0.0137;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(f32::NAN), 0.0);
    }

    #[test]
    fn rng_known_values() {
        // SplitMix64 from seed 0: the published first output.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = Rng::new(7);
        assert!((0..1000)
            .map(|_| r.next_f32())
            .all(|v| (0.0..1.0).contains(&v)));
    }
}
