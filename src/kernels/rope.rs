//! Rotary position embedding (`shaders/rope.wgsl`).

use super::{base_defines, groups, shape_err, KernelError};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// Pairs (2i, 2i+1): Llama, Mistral.
    Normal,
    /// Pairs (i, i + n_rot/2): Qwen, Gemma, GPT-NeoX.
    Neox,
}

#[derive(Clone, Copy, Debug)]
pub struct RopeShape {
    pub n_heads: u32,
    pub head_dim: u32,
    pub n_rot: u32,
    pub freq_base: f32,
    pub freq_scale: f32,
    pub layout: RopeLayout,
    /// The rotated pairs are multiplied by this (llama.cpp's `attn_factor`:
    /// `rope.scaling.attn_factor`, LongRoPE's magnitude scale; 1 without).
    pub mscale: f32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    stride: u32,
    freq_base: f32,
    freq_scale: f32,
    mscale: f32,
    _pad: u32,
}

/// Rotates v: (n_tokens, stride) f32 holding n_heads heads of head_dim, in place.
/// `freq_factors`: (n_rot / 2) f32 divisors of each pair's angle (Llama 3.1+'s `rope_freqs.weight`).
pub fn rope(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    v: &wgpu::Buffer,
    stride: u32,
    s: RopeShape,
    freq_factors: Option<&wgpu::Buffer>,
) -> Result<Op, KernelError> {
    if s.n_rot % 2 != 0 || s.n_rot > s.head_dim || s.n_heads * s.head_dim > stride {
        return Err(shape_err(name, format!("{s:?} with stride {stride}")));
    }
    let params = Params {
        n_heads: s.n_heads,
        head_dim: s.head_dim,
        n_rot: s.n_rot,
        stride,
        freq_base: s.freq_base,
        freq_scale: s.freq_scale,
        mscale: s.mscale,
        _pad: 0,
    };
    let defines = base_defines().flag_if("NEOX", s.layout == RopeLayout::Neox).flag_if("FREQ_FACTORS", freq_factors.is_some());
    let mut b = OpBuilder::new(ctx, name, "rope.wgsl", "rope", defines).params(&params).buffer(v);
    if let Some(f) = freq_factors {
        b = b.buffer(f);
    }
    Ok(b
        .dispatch(Extent::Fixed(groups((s.n_heads * s.n_rot / 2) as u64)), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}
