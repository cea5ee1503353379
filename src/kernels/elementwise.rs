//! Gated activations, residual add, bias add and logit soft-capping
//! (`shaders/elementwise.wgsl`).

use super::{base_defines, groups, shape_err, KernelError};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    cap: f32,
    _pad: [u32; 2],
}

fn op(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, entry: &'static str, a: &wgpu::Buffer, b: &wgpu::Buffer, width: u32) -> Result<Op, KernelError> {
    Ok(OpBuilder::new(ctx, name, "elementwise.wgsl", entry, base_defines())
        .params(&Params { width, cap: 0.0, _pad: [0; 2] })
        .buffer(a)
        .buffer(b)
        .dispatch(Extent::Fixed(groups(width as u64)), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateActivation {
    /// silu(gate) * up (Llama, Qwen, Mistral).
    SiLU,
    /// gelu_tanh(gate) * up (Gemma).
    Gelu,
}

/// gate = act(gate) * up, in place; both (n_tokens, width) f32.
pub fn gated_activation(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, act: GateActivation, gate: &wgpu::Buffer, up: &wgpu::Buffer, width: u32) -> Result<Op, KernelError> {
    let entry = match act {
        GateActivation::SiLU => "swiglu",
        GateActivation::Gelu => "geglu",
    };
    op(ctx, step, name, entry, gate, up, width)
}

/// a += b; both (n_tokens, width) f32.
pub fn add(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, a: &wgpu::Buffer, b: &wgpu::Buffer, width: u32) -> Result<Op, KernelError> {
    op(ctx, step, name, "add", a, b, width)
}

/// a[t, :] += bias for every token; a: (n_tokens, width) f32, bias: (width) f32.
pub fn bias_add(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, a: &wgpu::Buffer, bias: &wgpu::Buffer, width: u32) -> Result<Op, KernelError> {
    op(ctx, step, name, "bias_add", a, bias, width)
}

/// logits = cap * tanh(logits / cap) over one (width) row: the step's last
/// token's logits, whatever the number of tokens in the step.
pub fn softcap(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, logits: &wgpu::Buffer, width: u32, cap: f32) -> Result<Op, KernelError> {
    if !(cap.is_finite() && cap > 0.0) {
        return Err(shape_err(name, format!("soft-cap {cap}")));
    }
    Ok(OpBuilder::new(ctx, name, "elementwise.wgsl", "softcap", base_defines())
        .params(&Params { width, cap, _pad: [0; 2] })
        .buffer(logits)
        .dispatch(Extent::Fixed(groups(width as u64)), Extent::Fixed(1), Extent::Fixed(1))
        .build(step)?)
}
