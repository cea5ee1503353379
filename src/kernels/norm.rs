//! RMSNorm (`shaders/rmsnorm.wgsl`) and LayerNorm (`shaders/layernorm.wgsl`).

use super::{base_defines, KernelError};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    dim: u32,
    rows_per_token: u32,
    eps: f32,
    /// The normed row is multiplied by this.
    scale: f32,
}

/// y[r] = x[r] / rms(x[r]) * weight for the step's n_tokens * rows_per_token
/// rows of `dim`. x, y: (n_tokens, rows_per_token, dim) f32; weight: (dim) f32.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    x: &wgpu::Buffer,
    weight: &wgpu::Buffer,
    y: &wgpu::Buffer,
    dim: u32,
    rows_per_token: u32,
    eps: f32,
) -> Result<Op, KernelError> {
    into_y(ctx, step, name, x, weight, y, dim, rows_per_token, eps, 1.0, false)
}

/// The out-of-place norm, writing y or (`add`) adding to it.
#[allow(clippy::too_many_arguments)]
fn into_y(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    x: &wgpu::Buffer,
    weight: &wgpu::Buffer,
    y: &wgpu::Buffer,
    dim: u32,
    rows_per_token: u32,
    eps: f32,
    scale: f32,
    add: bool,
) -> Result<Op, KernelError> {
    let params = Params { dim, rows_per_token, eps, scale };
    Ok(OpBuilder::new(ctx, name, "rmsnorm.wgsl", "rmsnorm", base_defines().flag_if("ADD", add))
        .params(&params)
        .buffer(x)
        .buffer(weight)
        .buffer(y)
        .dispatch(Extent::Fixed(rows_per_token), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}

/// x[r] = x[r] / rms(x[r]) * weight in place, for the step's n_tokens *
/// rows_per_token rows of `dim` (QK norm: one row per head). Without a
/// weight the normed row is the result (Gemma 4's V norm, llama.cpp
/// `ggml_rms_norm`). x: (n_tokens, rows_per_token, dim) f32; weight: (dim) f32.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_in_place(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    x: &wgpu::Buffer,
    weight: Option<&wgpu::Buffer>,
    dim: u32,
    rows_per_token: u32,
    eps: f32,
) -> Result<Op, KernelError> {
    let params = Params { dim, rows_per_token, eps, scale: 1.0 };
    let b = OpBuilder::new(ctx, name, "rmsnorm.wgsl", "rmsnorm", base_defines().flag("IN_PLACE").flag_if("NO_WEIGHT", weight.is_none()))
        .params(&params)
        .buffer(x);
    let b = match weight {
        Some(w) => b.buffer(w),
        None => b,
    };
    Ok(b.dispatch(Extent::Fixed(rows_per_token), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}

/// y += RMSNorm(x) * weight * scale, row by row (Gemma's post-norms: the
/// residual gains the normed projection, scale 1; Gemma 4's per-layer
/// inputs: rows_per_token rows per token, scale 1/sqrt(2)).
/// x, y: (n_tokens, rows_per_token, dim) f32; weight: (dim) f32.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_add(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    x: &wgpu::Buffer,
    weight: &wgpu::Buffer,
    y: &wgpu::Buffer,
    dim: u32,
    rows_per_token: u32,
    eps: f32,
    scale: f32,
) -> Result<Op, KernelError> {
    into_y(ctx, step, name, x, weight, y, dim, rows_per_token, eps, scale, true)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LayerNormParams {
    dim: u32,
    eps: f32,
    _pad: [u32; 2],
}

/// LayerNorm in place, one row of `dim` per token (`shaders/layernorm.wgsl`):
/// x[t] = (x[t] − mean) / sqrt(var + eps) · weight + bias, the variance
/// taken about the mean in a second pass as ggml_norm does (llama.cpp
/// build_norm LLM_NORM: BERT's norms). x: (n_tokens, dim) f32; weight,
/// bias: (dim) f32.
#[allow(clippy::too_many_arguments)]
pub fn layernorm(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, x: &wgpu::Buffer, weight: &wgpu::Buffer, bias: &wgpu::Buffer, dim: u32, eps: f32) -> Result<Op, KernelError> {
    let params = LayerNormParams { dim, eps, _pad: [0; 2] };
    Ok(OpBuilder::new(ctx, name, "layernorm.wgsl", "layernorm", base_defines())
        .params(&params)
        .buffer(x)
        .buffer(weight)
        .buffer(bias)
        .dispatch(Extent::Fixed(1), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}
