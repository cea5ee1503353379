//! Sampling on the GPU: the plain greedy argmax (`shaders/argmax.wgsl`) and
//! the whole sampler (`shaders/sample.wgsl`): logit bias and penalties,
//! then the argmax or one draw through top-k → top-p → min-p → temperature, as
//! [`Sampler`](crate::sampler::Sampler) does on the CPU. Only the chosen id
//! comes back.

use super::{base_defines, shape_err, KernelError};
use crate::gpu::{self, Extent, GpuContext, Op, OpBuilder};
use crate::sampler::{LogitBias, SamplerConfig, MAX_LOGIT_BIAS};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}

/// out[0] = argmax(logits[..n]) (ties: lowest id). logits: (n) f32; out: (1) u32.
pub fn argmax(ctx: &GpuContext, step: &wgpu::Buffer, logits: &wgpu::Buffer, out: &wgpu::Buffer, n: u32) -> Result<Op, KernelError> {
    Ok(OpBuilder::new(ctx, "argmax", "argmax.wgsl", "argmax", base_defines().u32("WG_SIZE", 256))
        .params(&Params { n, _pad: [0; 3] })
        .buffer(logits)
        .buffer(out)
        .dispatch(Extent::Fixed(1), Extent::Fixed(1), Extent::Fixed(1))
        .build(step)?)
}

/// Most distinct token ids whose logits the logit bias and the penalties
/// change in one step: the capacity of [`SampleInputs::adjusted`], a full
/// logit bias ([`MAX_LOGIT_BIAS`]) and as many penalised ids. A step with
/// more cannot be sampled on the GPU ([`SampleInputs::write`] says so) and
/// is sampled on the CPU instead.
pub const MAX_ADJUSTED: usize = MAX_LOGIT_BIAS + 4096;

/// Threads of the one workgroup `sample.wgsl` runs (= its histogram bins).
const SAMPLE_WG: u32 = 256;

/// The sampler settings of one step as `sample.wgsl` reads them, with every
/// "off" value made explicit (the shader tests no NaN).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SampleParams {
    /// 1: the argmax of the biased and penalised logits (temperature ≤ 0 or NaN, or top_k 1).
    pub greedy: u32,
    /// 0 < top_k < vocab, else 0 (off).
    pub top_k: u32,
    /// < 1, else 1 (off).
    pub top_p: f32,
    /// In (0, 1], else 0 (off).
    pub min_p: f32,
    pub temperature: f32,
    pub repetition_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    /// Entries of the adjusted-id buffer in use (0: no bias, no penalties).
    pub n_adjusted: u32,
    /// A uniform u32 from the seeded RNG ([`Sampler::next_draw`]); the shader
    /// uses u = (draw >> 8) / 2^24, the same u as `Rng::next_f32` would give.
    ///
    /// [`Sampler::next_draw`]: crate::sampler::Sampler::next_draw
    pub draw: u32,
    pub _pad: [u32; 2],
}

const _: () = assert!(std::mem::size_of::<SampleParams>() == 48);

impl SampleParams {
    /// `cfg` for a vocabulary of `vocab`, with `n_adjusted` adjusted ids
    /// written and the uniform `draw` of this step.
    pub fn new(cfg: &SamplerConfig, vocab: u32, n_adjusted: u32, draw: u32) -> Self {
        let top_k = if cfg.top_k == 0 || cfg.top_k >= vocab as usize { 0 } else { cfg.top_k as u32 };
        // As Sampler::is_greedy; top_k 1 keeps only the argmax.
        let greedy = cfg.temperature.is_nan() || cfg.temperature <= 0.0 || top_k == 1;
        // As Sampler::top_p: off for NaN, ≥ 1, or a single candidate.
        let top_p = if cfg.top_p.is_nan() || cfg.top_p >= 1.0 || vocab <= 1 { 1.0 } else { cfg.top_p };
        let min_p = if cfg.min_p.is_nan() || cfg.min_p <= 0.0 { 0.0 } else { cfg.min_p.min(1.0) };
        Self {
            greedy: greedy as u32,
            top_k,
            top_p,
            min_p,
            temperature: if greedy { 1.0 } else { cfg.temperature },
            repetition_penalty: cfg.repetition_penalty,
            frequency_penalty: cfg.frequency_penalty,
            presence_penalty: cfg.presence_penalty,
            n_adjusted,
            draw,
            _pad: [0; 2],
        }
    }
}

/// The penalties' input, as [`Sampler`](crate::sampler::Sampler) counts it:
/// each distinct id among the last `penalty_last_n` of `recent` (ids ≥
/// `vocab` left out), in id order, as `[id, count, 0]` (the shader keeps the
/// original logit in the third word). Empty when `cfg` has no penalties.
pub fn penalty_counts(cfg: &SamplerConfig, vocab: u32, recent: &[u32]) -> Vec<[u32; 3]> {
    let on = cfg.repetition_penalty != 1.0 || cfg.frequency_penalty != 0.0 || cfg.presence_penalty != 0.0;
    if !on || cfg.penalty_last_n == 0 {
        return Vec::new();
    }
    let mut window: Vec<u32> = recent[recent.len().saturating_sub(cfg.penalty_last_n)..].iter().copied().filter(|&id| id < vocab).collect();
    window.sort_unstable();
    window.chunk_by(|a, b| a == b).map(|run| [run[0], run.len() as u32, 0]).collect()
}

/// One entry of the adjusted-id buffer, as `sample.wgsl`'s `Adjusted`: a
/// token id whose logit the step changes, how often it occurs in the penalty
/// window (0: not penalised), scratch for the kernel (it keeps the original
/// logit there), and the logit bias added to it (0.0: none).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Adjusted {
    pub id: u32,
    pub count: u32,
    pub saved: u32,
    pub bias: f32,
}

const _: () = assert!(std::mem::size_of::<Adjusted>() == 16);

/// The ids whose logits one step changes, in id order: the penalised ids of
/// [`penalty_counts`] merged with `bias`'s (ids ≥ `vocab` left out), each
/// once with its count and bias.
pub fn adjustments(cfg: &SamplerConfig, bias: &LogitBias, vocab: u32, recent: &[u32]) -> Vec<Adjusted> {
    let mut out: Vec<Adjusted> = penalty_counts(cfg, vocab, recent).into_iter().map(|[id, count, _]| Adjusted { id, count, saved: 0, bias: 0.0 }).collect();
    let n_penalized = out.len();
    for &(id, b) in bias.entries().iter().filter(|e| e.0 < vocab) {
        match out[..n_penalized].binary_search_by_key(&id, |a| a.id) {
            Ok(i) => out[i].bias = b,
            Err(_) => out.push(Adjusted { id, count: 0, saved: 0, bias: b }),
        }
    }
    out.sort_unstable_by_key(|a| a.id);
    out
}

/// The per-step inputs of the sample op, allocated once.
pub struct SampleInputs {
    /// uniform [`SampleParams`]
    pub params: wgpu::Buffer,
    /// (MAX_ADJUSTED) [`Adjusted`]: the ids the logit bias and the penalties change
    pub adjusted: wgpu::Buffer,
}

impl SampleInputs {
    /// Holding the default sampler settings (what `tabllm bench --profile` times).
    pub fn new(ctx: &GpuContext) -> Self {
        let defaults = SampleParams::new(&SamplerConfig::default(), u32::MAX, 0, 0);
        Self {
            params: gpu::uniform_buffer(ctx, "sample params", bytemuck::bytes_of(&defaults)),
            adjusted: gpu::storage_buffer(ctx, "adjusted ids", (MAX_ADJUSTED * std::mem::size_of::<Adjusted>()) as u64),
        }
    }

    /// Writes the settings, logit bias, penalties and draw of the next
    /// sample op for a vocabulary of `vocab`; `recent` holds the tokens the
    /// penalties look at (oldest first, the step's own ids included).
    /// Returns false, writing nothing, when the bias and the window together
    /// change more than [`MAX_ADJUSTED`] distinct ids.
    pub fn write(&self, queue: &wgpu::Queue, cfg: &SamplerConfig, bias: &LogitBias, vocab: u32, recent: &[u32], draw: u32) -> bool {
        let adjusted = adjustments(cfg, bias, vocab, recent);
        if adjusted.len() > MAX_ADJUSTED {
            return false;
        }
        if !adjusted.is_empty() {
            queue.write_buffer(&self.adjusted, 0, bytemuck::cast_slice(&adjusted));
        }
        let p = SampleParams::new(cfg, vocab, adjusted.len() as u32, draw);
        queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
        true
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SampleShape {
    n: u32,
    max_adjusted: u32,
    _pad: [u32; 2],
}

/// out[0] = the id [`Sampler::sample`](crate::sampler::Sampler::sample)
/// would draw from `logits` with the settings, logit bias, penalties and
/// draw last written to `inputs`. logits: (n) f32, changed during the op and restored
/// before it ends; out: (1) u32. One workgroup.
pub fn sample(ctx: &GpuContext, step: &wgpu::Buffer, logits: &wgpu::Buffer, inputs: &SampleInputs, out: &wgpu::Buffer, n: u32) -> Result<Op, KernelError> {
    build(ctx, step, logits, inputs, out, None, n)
}

/// [`sample`], and probs[i] = the probability that the draw picks id i (a
/// test variant: one more pass over the vocabulary). probs: (n) f32.
pub fn sample_with_probs(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    logits: &wgpu::Buffer,
    inputs: &SampleInputs,
    out: &wgpu::Buffer,
    probs: &wgpu::Buffer,
    n: u32,
) -> Result<Op, KernelError> {
    build(ctx, step, logits, inputs, out, Some(probs), n)
}

fn build(ctx: &GpuContext, step: &wgpu::Buffer, logits: &wgpu::Buffer, inputs: &SampleInputs, out: &wgpu::Buffer, probs: Option<&wgpu::Buffer>, n: u32) -> Result<Op, KernelError> {
    let row = n as u64 * 4;
    if n == 0 || logits.size() < row || out.size() < 4 || probs.is_some_and(|p| p.size() < row) {
        return Err(shape_err("sample", format!("vocabulary {n}: logits {} bytes, out {} bytes", logits.size(), out.size())));
    }
    let defines = base_defines().u32("WG_SIZE", SAMPLE_WG).flag_if("PROBS", probs.is_some());
    let mut b = OpBuilder::new(ctx, "sample", "sample.wgsl", "sample", defines)
        .params(&SampleShape { n, max_adjusted: MAX_ADJUSTED as u32, _pad: [0; 2] })
        .buffer(&inputs.params)
        .buffer(logits)
        .buffer(&inputs.adjusted)
        .buffer(out);
    if let Some(p) = probs {
        b = b.buffer(p);
    }
    Ok(b.dispatch(Extent::Fixed(1), Extent::Fixed(1), Extent::Fixed(1)).build(step)?)
}
