//! Sampling on the GPU: the plain greedy argmax (`shaders/argmax.wgsl`) and
//! the whole sampler (`shaders/sample.wgsl`): penalties, then the argmax or
//! one draw through top-k → top-p → min-p → temperature, as
//! [`Sampler`](crate::sampler::Sampler) does on the CPU. Only the chosen id
//! comes back.

use super::{base_defines, shape_err, KernelError};
use crate::gpu::{self, Extent, GpuContext, Op, OpBuilder};
use crate::sampler::SamplerConfig;

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

/// Most distinct token ids the penalties cover in one step: the capacity of
/// [`SampleInputs::penalized`]. A penalty window with more distinct ids
/// cannot be sampled on the GPU ([`SampleInputs::write`] says so) and is
/// sampled on the CPU instead.
pub const MAX_PENALIZED: usize = 4096;

/// Threads of the one workgroup `sample.wgsl` runs (= its histogram bins).
const SAMPLE_WG: u32 = 256;

/// The sampler settings of one step as `sample.wgsl` reads them, with every
/// "off" value made explicit (the shader tests no NaN).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SampleParams {
    /// 1: the argmax of the penalised logits (temperature ≤ 0 or NaN, or top_k 1).
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
    /// Entries of the penalised-id buffer in use (0: no penalties).
    pub n_penalized: u32,
    /// A uniform u32 from the seeded RNG ([`Sampler::next_draw`]); the shader
    /// uses u = (draw >> 8) / 2^24, the same u as `Rng::next_f32` would give.
    ///
    /// [`Sampler::next_draw`]: crate::sampler::Sampler::next_draw
    pub draw: u32,
    pub _pad: [u32; 2],
}

const _: () = assert!(std::mem::size_of::<SampleParams>() == 48);

impl SampleParams {
    /// `cfg` for a vocabulary of `vocab`, with `n_penalized` penalised ids
    /// written and the uniform `draw` of this step.
    pub fn new(cfg: &SamplerConfig, vocab: u32, n_penalized: u32, draw: u32) -> Self {
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
            n_penalized,
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

/// The per-step inputs of the sample op, allocated once.
pub struct SampleInputs {
    /// uniform [`SampleParams`]
    pub params: wgpu::Buffer,
    /// (MAX_PENALIZED, 3) u32: [id, count, scratch] per distinct penalised id
    pub penalized: wgpu::Buffer,
}

impl SampleInputs {
    /// Holding the default sampler settings (what `tabllm bench --profile` times).
    pub fn new(ctx: &GpuContext) -> Self {
        let defaults = SampleParams::new(&SamplerConfig::default(), u32::MAX, 0, 0);
        Self {
            params: gpu::uniform_buffer(ctx, "sample params", bytemuck::bytes_of(&defaults)),
            penalized: gpu::storage_buffer(ctx, "penalized ids", MAX_PENALIZED as u64 * 12),
        }
    }

    /// Writes the settings, penalties and draw of the next sample op for a
    /// vocabulary of `vocab`; `recent` holds the tokens the penalties look at
    /// (oldest first, the step's own ids included). Returns false, writing
    /// nothing, when the window holds more than [`MAX_PENALIZED`] distinct ids.
    pub fn write(&self, queue: &wgpu::Queue, cfg: &SamplerConfig, vocab: u32, recent: &[u32], draw: u32) -> bool {
        let counts = penalty_counts(cfg, vocab, recent);
        if counts.len() > MAX_PENALIZED {
            return false;
        }
        if !counts.is_empty() {
            queue.write_buffer(&self.penalized, 0, bytemuck::cast_slice(&counts));
        }
        let p = SampleParams::new(cfg, vocab, counts.len() as u32, draw);
        queue.write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
        true
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SampleShape {
    n: u32,
    max_penalized: u32,
    _pad: [u32; 2],
}

/// out[0] = the id [`Sampler::sample`](crate::sampler::Sampler::sample)
/// would draw from `logits` with the settings, penalties and draw last
/// written to `inputs`. logits: (n) f32, changed during the op and restored
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
        .params(&SampleShape { n, max_penalized: MAX_PENALIZED as u32, _pad: [0; 2] })
        .buffer(&inputs.params)
        .buffer(logits)
        .buffer(&inputs.penalized)
        .buffer(out);
    if let Some(p) = probs {
        b = b.buffer(p);
    }
    Ok(b.dispatch(Extent::Fixed(1), Extent::Fixed(1), Extent::Fixed(1)).build(step)?)
}
