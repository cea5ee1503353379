//! Greedy sampling on the GPU (`shaders/argmax.wgsl`).

use super::{base_defines, KernelError};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

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
