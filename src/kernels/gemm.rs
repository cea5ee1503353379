//! Prefill dequantize-matmul as a GEMM, in the variant the device runs
//! ([`PrefillKernels`]): on GPUs a tiled GEMM (`shaders/gemm.wgsl`) whose
//! workgroup multiplies a tile of [`GEMM_ROWS`] weight rows by
//! [`GEMM_TOKENS`] tokens, dequantizing each weight chunk once into workgroup
//! memory for all of them; on CPU adapters `shaders/gemm_token_lanes.wgsl`,
//! whose lanes take tokens and read each weight block together
//! ([`LANE_GEMM_ROWS`] x [`LANE_GEMM_TOKENS`]). Decode keeps the matvec
//! (`matvec.rs`); the forward pass takes this for steps of many tokens.

use super::{part_groups, shape_err, PartGroup, weight_defines, weight_kind, KernelError, MatvecOut};
use crate::gpu::{Extent, PrefillKernels, GpuContext, GpuTensor, Op, OpBuilder, PackedTensors};
use crate::quant::GgmlType;

/// Weight rows per workgroup tile (`GEMM_ROWS` in the shader).
pub const GEMM_ROWS: u32 = 64;
/// Tokens per workgroup tile (`GEMM_TOKENS`): each weight is read once per
/// this many tokens. With [`GEMM_ROWS`], 2 × 8 × 64 vec4 of workgroup memory
/// (16 KiB, WebGPU's guaranteed limit) and 64 invocations of 8 × 8 outputs.
pub const GEMM_TOKENS: u32 = 64;

/// Invocations per workgroup of the token-lanes GEMM (`LG_LANES`): one SIMD
/// vector of 32-bit lanes on an AVX2 host, which is how lavapipe runs them.
pub const LANE_GEMM_LANES: u32 = 8;
/// Weight rows per token-lanes workgroup (`LG_ROWS`): each lane keeps a
/// vec4 of sums per row, and x is loaded once per chunk for all of them
/// (16 rows: pp512 39 tok/s on lavapipe, 32: 42, 64: 44).
pub const LANE_GEMM_ROWS: u32 = 64;
/// Tokens per token-lanes workgroup: 4 per lane (the vec4 of sums). Each
/// weight is read once per this many tokens. Eight per lane, in two vec4s,
/// ran at a third of the speed on lavapipe (its arrays were no longer kept in
/// registers).
pub const LANE_GEMM_TOKENS: u32 = 4 * LANE_GEMM_LANES;

impl PrefillKernels {
    /// Tokens one workgroup multiplies by each weight it reads.
    pub fn tokens_per_group(self) -> u32 {
        match self {
            PrefillKernels::Tiled => GEMM_TOKENS,
            PrefillKernels::TokenLanes => LANE_GEMM_TOKENS,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    row_bytes: u32,
    w_offset: u32,
    x_stride: u32,
    y_stride: u32,
    y_offset: u32,
    accumulate: u32,
    kind: u32,
    _pad: [u32; 3],
    part_start: [u32; 4],
}

/// The weights one GEMM op reads: a whole tensor (possibly split across
/// bindings) or one tensor inside a packed buffer.
struct Source<'a> {
    /// Bindings, rows and first output column.
    part: PartGroup<'a>,
    ty: GgmlType,
    cols: u64,
    row_bytes: u64,
    /// Byte offset of row 0 in the first binding.
    w_offset: u64,
}

/// y = W x (or y += W x with `MatvecOut::Accumulate`) for every token of the
/// step. W: `w` (rows, cols), any GPU weight format, split tensors included;
/// x: (n_tokens, x_stride) f32 with the first cols used; y: (n_tokens,
/// y_stride) f32. Grid: (ceil(rows / GEMM_ROWS), 1, ceil(n_tokens /
/// GEMM_TOKENS)) for the tiled variant, (ceil(rows / LANE_GEMM_ROWS), 1,
/// ceil(n_tokens / LANE_GEMM_TOKENS)) for token lanes; one op per group of
/// bindings of W.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
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
    if out == MatvecOut::LastToken {
        return Err(shape_err(name, "the GEMM writes every token; the logits row takes the matvec"));
    }
    part_groups(w)
        .into_iter()
        .map(|part| {
            let src = Source { part, ty: w.ty, cols: w.cols(), row_bytes: w.row_bytes, w_offset: 0 };
            build(ctx, step, name, src, x, x_stride, y, y_stride, out == MatvecOut::Accumulate)
        })
        .collect()
}

/// y = W x for tensor `segment` of a packed buffer (q, k or v of a packed
/// q|k|v): W (rows, cols) from the segment's byte offset; x: (n_tokens,
/// x_stride); y: (n_tokens, y_stride), columns 0..rows.
#[allow(clippy::too_many_arguments)]
pub fn gemm_segment(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    packed: &PackedTensors,
    segment: usize,
    x: &wgpu::Buffer,
    x_stride: u64,
    y: &wgpu::Buffer,
    y_stride: u64,
) -> Result<Op, KernelError> {
    let s = packed.segments.get(segment).ok_or_else(|| shape_err(name, format!("no segment {segment} in {} packed tensors", packed.segments.len())))?;
    let part = PartGroup { buffers: vec![&packed.buffer], row_start: 0, rows: s.rows(), part_start: [0, u32::MAX, u32::MAX, u32::MAX] };
    let src = Source { part, ty: s.ty, cols: s.cols(), row_bytes: s.row_bytes, w_offset: s.offset };
    build(ctx, step, name, src, x, x_stride, y, y_stride, false)
}

#[allow(clippy::too_many_arguments)]
fn build(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    w: Source<'_>,
    x: &wgpu::Buffer,
    x_stride: u64,
    y: &wgpu::Buffer,
    y_stride: u64,
    accumulate: bool,
) -> Result<Op, KernelError> {
    let (rows, row_start) = (w.part.rows, w.part.row_start);
    let fits_u32 = |v: u64| v <= u32::MAX as u64;
    if w.cols % 32 != 0 || x_stride % 4 != 0 || x_stride < w.cols || y_stride < row_start + rows || w.w_offset % 4 != 0 || !fits_u32(w.w_offset + rows * w.row_bytes) {
        return Err(shape_err(name, format!("W ({rows}, {}) {} at byte {}, x stride {x_stride}, y stride {y_stride}", w.cols, w.ty, w.w_offset)));
    }
    let params = Params {
        rows: rows as u32,
        cols: w.cols as u32,
        row_bytes: w.row_bytes as u32,
        w_offset: w.w_offset as u32,
        x_stride: x_stride as u32,
        y_stride: y_stride as u32,
        y_offset: row_start as u32,
        accumulate: accumulate as u32,
        kind: weight_kind(name, w.ty)?,
        _pad: [0; 3],
        part_start: w.part.part_start,
    };
    let formats = weight_defines(name, &[w.ty])?;
    let (shader, entry, defines, tile_rows) = match ctx.prefill_kernels {
        PrefillKernels::Tiled => ("gemm.wgsl", "gemm", formats.u32("GEMM_ROWS", GEMM_ROWS).u32("GEMM_TOKENS", GEMM_TOKENS), GEMM_ROWS),
        PrefillKernels::TokenLanes => {
            ("gemm_token_lanes.wgsl", "gemm_token_lanes", formats.u32("LG_ROWS", LANE_GEMM_ROWS).u32("LG_LANES", LANE_GEMM_LANES), LANE_GEMM_ROWS)
        }
    };
    let b = OpBuilder::new(ctx, name, shader, entry, w.part.defines(defines)).params(&params).buffer(w.part.buffers[0]).buffer(x).buffer(y);
    let groups = Extent::Fixed(rows.div_ceil(tile_rows as u64) as u32);
    Ok(w.part.bind_extra(b).dispatch(groups, Extent::Fixed(1), Extent::Tokens { per_group: ctx.prefill_kernels.tokens_per_group() }).build(step)?)
}
