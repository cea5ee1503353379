//! RMSNorm (`shaders/rmsnorm.wgsl`).

use super::{base_defines, KernelError};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    dim: u32,
    rows_per_token: u32,
    eps: f32,
    _pad: u32,
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
    into_y(ctx, step, name, x, weight, y, dim, rows_per_token, eps, false)
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
    add: bool,
) -> Result<Op, KernelError> {
    let params = Params { dim, rows_per_token, eps, _pad: 0 };
    Ok(OpBuilder::new(ctx, name, "rmsnorm.wgsl", "rmsnorm", base_defines().flag_if("ADD", add))
        .params(&params)
        .buffer(x)
        .buffer(weight)
        .buffer(y)
        .dispatch(Extent::Fixed(rows_per_token), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}

#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_in_place(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    x: &wgpu::Buffer,
    weight: &wgpu::Buffer,
    dim: u32,
    rows_per_token: u32,
    eps: f32,
) -> Result<Op, KernelError> {
    let params = Params { dim, rows_per_token, eps, _pad: 0 };
    Ok(OpBuilder::new(ctx, name, "rmsnorm.wgsl", "rmsnorm", base_defines().flag("IN_PLACE"))
        .params(&params)
        .buffer(x)
        .buffer(weight)
        .dispatch(Extent::Fixed(rows_per_token), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}

/// y += RMSNorm(x) * weight, row by row (Gemma's post-norms: the residual
/// gains the normed projection). x, y: (n_tokens, dim).
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_add(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    x: &wgpu::Buffer,
    weight: &wgpu::Buffer,
    y: &wgpu::Buffer,
    dim: u32,
    eps: f32,
) -> Result<Op, KernelError> {
    into_y(ctx, step, name, x, weight, y, dim, 1, eps, true)
}
