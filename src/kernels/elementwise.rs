//! Gated activations, residual add, bias add, scaling by a scalar tensor
//! and logit soft-capping (`shaders/elementwise.wgsl`).

use super::{base_defines, groups, shape_err, KernelError, Rows};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    cap: f32,
    /// f32 from b's row start to its first element, and between its rows.
    b_offset: u32,
    b_stride: u32,
}

fn op(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, entry: &'static str, a: &wgpu::Buffer, b: Rows<'_>, width: u32) -> Result<Op, KernelError> {
    Ok(OpBuilder::new(ctx, name, "elementwise.wgsl", entry, base_defines())
        .params(&Params { width, cap: 0.0, b_offset: b.offset, b_stride: b.stride })
        .buffer(a)
        .buffer(b.buffer)
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

/// gate = act(gate) * up, in place; gate (n_tokens, width) f32, up `width`
/// f32 of each token's row of its buffer (dense for the FFN; Gemma 4's
/// per-layer input: the layer's slice of every layer's inputs).
pub fn gated_activation(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, act: GateActivation, gate: &wgpu::Buffer, up: Rows<'_>, width: u32) -> Result<Op, KernelError> {
    if !up.holds(width as u64) {
        return Err(shape_err(name, format!("up rows {up:?} do not hold {width} elements")));
    }
    let entry = match act {
        GateActivation::SiLU => "swiglu",
        GateActivation::Gelu => "geglu",
    };
    op(ctx, step, name, entry, gate, up, width)
}

/// a = act(a) in place, no gate: BERT's FFN (llama.cpp `LLM_FFN_GELU`
/// with `LLM_FFN_SEQ`, ggml_gelu's tanh approximation); a: (n_tokens, width) f32.
pub fn activation(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, act: GateActivation, a: &wgpu::Buffer, width: u32) -> Result<Op, KernelError> {
    let GateActivation::Gelu = act else { return Err(shape_err(name, format!("{act:?} without a gate is not a kernel"))) };
    Ok(OpBuilder::new(ctx, name, "elementwise.wgsl", "gelu", base_defines())
        .params(&Params { width, cap: 0.0, b_offset: 0, b_stride: 0 })
        .buffer(a)
        .dispatch(Extent::Fixed(groups(width as u64)), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}

/// a += b; both (n_tokens, width) f32.
pub fn add(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, a: &wgpu::Buffer, b: &wgpu::Buffer, width: u32) -> Result<Op, KernelError> {
    op(ctx, step, name, "add", a, Rows::dense(b, width), width)
}

/// a[t, :] += bias for every token; a: (n_tokens, width) f32, bias: (width) f32.
pub fn bias_add(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, a: &wgpu::Buffer, bias: &wgpu::Buffer, width: u32) -> Result<Op, KernelError> {
    op(ctx, step, name, "bias_add", a, Rows::dense(bias, width), width)
}

/// a[t, :] *= s[0] for every token: a (n_tokens, width) f32, s one f32
/// (Gemma 4's `layer_output_scale`, llama.cpp `gemma4.cpp`).
pub fn scale_by(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, a: &wgpu::Buffer, s: &wgpu::Buffer, width: u32) -> Result<Op, KernelError> {
    op(ctx, step, name, "scale_by", a, Rows::dense(s, width), width)
}

/// logits = cap * tanh(logits / cap) over one (width) row: the step's last
/// token's logits, whatever the number of tokens in the step.
pub fn softcap(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, logits: &wgpu::Buffer, width: u32, cap: f32) -> Result<Op, KernelError> {
    if !(cap.is_finite() && cap > 0.0) {
        return Err(shape_err(name, format!("soft-cap {cap}")));
    }
    Ok(OpBuilder::new(ctx, name, "elementwise.wgsl", "softcap", base_defines())
        .params(&Params { width, cap, b_offset: 0, b_stride: 0 })
        .buffer(logits)
        .dispatch(Extent::Fixed(groups(width as u64)), Extent::Fixed(1), Extent::Fixed(1))
        .build(step)?)
}
