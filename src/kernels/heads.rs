//! Per-head strided copies between activation rows (`shaders/heads.wgsl`):
//! Qwen3.5's gated attention, whose `attn_q` output holds each head's query
//! then its output gate, and the Gated DeltaNet's alpha|beta row.

use super::{base_defines, groups, shape_err, KernelError};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

/// Where `n_heads` runs of `width` f32 lie in each token's row: element
/// (t, h, i) is `offset + t · stride + h · head_stride + i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLayout {
    pub offset: u32,
    pub head_stride: u32,
    pub stride: u32,
}

impl HeadLayout {
    /// Heads of `width` one after another in rows of `stride`.
    pub fn dense(width: u32, stride: u32) -> Self {
        Self { offset: 0, head_stride: width, stride }
    }

    /// f32 one token's row must hold: the end of its last head (None when
    /// the heads overrun the stride, or overlap).
    pub fn row_end(&self, n_heads: u32, width: u32) -> Option<u64> {
        let end = self.offset as u64 + (n_heads as u64).checked_sub(1)? * self.head_stride as u64 + width as u64;
        (end <= self.stride as u64 && (n_heads == 1 || self.head_stride >= width)).then_some(end)
    }

    /// Index of element (t, h, i).
    pub fn at(&self, t: usize, h: usize, i: usize) -> usize {
        self.offset as usize + t * self.stride as usize + h * self.head_stride as usize + i
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_heads: u32,
    width: u32,
    dst_offset: u32,
    dst_head_stride: u32,
    dst_stride: u32,
    src_offset: u32,
    src_head_stride: u32,
    src_stride: u32,
}

#[allow(clippy::too_many_arguments)]
fn op(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, entry: &'static str, dst: &wgpu::Buffer, dl: HeadLayout, src: &wgpu::Buffer, sl: HeadLayout, n_heads: u32, width: u32) -> Result<Op, KernelError> {
    let fits = |b: &wgpu::Buffer, l: HeadLayout| width > 0 && l.row_end(n_heads, width).is_some_and(|end| end * 4 <= b.size());
    if !fits(dst, dl) || !fits(src, sl) {
        return Err(shape_err(name, format!("{n_heads} heads of {width}: dst {dl:?} ({} bytes), src {sl:?} ({} bytes)", dst.size(), src.size())));
    }
    let p = Params {
        n_heads,
        width,
        dst_offset: dl.offset,
        dst_head_stride: dl.head_stride,
        dst_stride: dl.stride,
        src_offset: sl.offset,
        src_head_stride: sl.head_stride,
        src_stride: sl.stride,
    };
    Ok(OpBuilder::new(ctx, name, "heads.wgsl", entry, base_defines())
        .params(&p)
        .buffer(dst)
        .buffer(src)
        .dispatch(Extent::Fixed(groups(n_heads as u64 * width as u64)), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}

/// dst[t, h, i] = src[t, h, i] for h < n_heads, i < width, every token of
/// the step (Qwen3.5: the queries out of `attn_q`'s query|gate heads).
/// `dst` and `src` must be different buffers.
/// Errors: [`KernelError::Shape`] when a layout's heads overrun its stride
/// or a token's row its buffer, or `width` is 0.
#[allow(clippy::too_many_arguments)]
pub fn copy_heads(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, dst: &wgpu::Buffer, dl: HeadLayout, src: &wgpu::Buffer, sl: HeadLayout, n_heads: u32, width: u32) -> Result<Op, KernelError> {
    op(ctx, step, name, "copy_heads", dst, dl, src, sl, n_heads, width)
}

/// dst[t, h, i] ·= sigmoid(src[t, h, i]): Qwen3.5's attention output gate
/// (llama.cpp `src/models/qwen35.cpp` build_layer_attn: `cur * sigmoid(gate)`
/// before `wo`). Errors as [`copy_heads`].
#[allow(clippy::too_many_arguments)]
pub fn sigmoid_gate_heads(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, dst: &wgpu::Buffer, dl: HeadLayout, src: &wgpu::Buffer, sl: HeadLayout, n_heads: u32, width: u32) -> Result<Op, KernelError> {
    op(ctx, step, name, "sigmoid_gate_heads", dst, dl, src, sl, n_heads, width)
}
