//! Dequantize-matmul (`shaders/matvec.wgsl`).

use super::{shape_err, weight_defines, KernelError};
use crate::gpu::{Extent, GpuContext, GpuTensor, Op, OpBuilder};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    x_stride: u32,
    y_stride: u32,
    y_offset: u32,
    last_only: u32,
    accumulate: u32,
}

/// Tokens per workgroup along z (`TT` in the shader).
const TOKENS_PER_GROUP: u32 = 8;

/// Where the product goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatvecOut {
    /// y[t, :] for every token of the step.
    AllTokens,
    /// Only the step's last token, into y row 0 (the logits).
    LastToken,
    /// y[t, :] += W x[t, :] for every token (a projection and its residual add in one pass).
    Accumulate,
}

/// y = W x for the step's tokens. x: (n_tokens, x_stride) f32 with the first
/// `cols` used; y: (n_tokens, y_stride) f32. One op per binding of W.
#[allow(clippy::too_many_arguments)]
pub fn matvec(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    w: &GpuTensor,
    x: &wgpu::Buffer,
    x_stride: u64,
    y: &wgpu::Buffer,
    y_stride: u64,
    out: MatvecOut,
) -> Result<Vec<Op>, KernelError> {
    let cols = w.cols();
    if cols % 32 != 0 || x_stride % 4 != 0 || x_stride < cols || y_stride < w.rows() {
        return Err(shape_err(
            name,
            format!("W {:?} ({}), x stride {x_stride}, y stride {y_stride}", w.dims, w.ty),
        ));
    }
    // Threads per row: 16 cooperate on a row on GPUs (coalesced reads, one
    // reduction); on CPU adapters (lavapipe, SwiftShader) barriers are costly
    // and one thread per row is several times faster.
    let tpr = if ctx.adapter_info.device_type == wgpu::DeviceType::Cpu { 1 } else { 16 };
    let rows_per_group = (super::WG_SIZE / tpr) as u64;
    let defines = weight_defines(name, w.ty)?.u32("TPR", tpr);
    let last_only = out == MatvecOut::LastToken;
    let z = if last_only { Extent::Fixed(1) } else { Extent::Tokens { per_group: TOKENS_PER_GROUP } };
    w.parts
        .iter()
        .map(|part| {
            let params = Params {
                rows: part.rows as u32,
                cols: cols as u32,
                row_bytes: w.row_bytes as u32,
                x_stride: x_stride as u32,
                y_stride: y_stride as u32,
                y_offset: part.row_start as u32,
                last_only: last_only as u32,
                accumulate: (out == MatvecOut::Accumulate) as u32,
            };
            Ok(OpBuilder::new(ctx, name, "matvec.wgsl", "matvec", defines.clone())
                .params(&params)
                .buffer(&part.buffer)
                .buffer(x)
                .buffer(y)
                .dispatch(Extent::Fixed(part.rows.div_ceil(rows_per_group) as u32), Extent::Fixed(1), z)
                .build(step)?)
        })
        .collect()
}
