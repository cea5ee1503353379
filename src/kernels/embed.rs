//! Embedding lookup from quantized rows (`shaders/embed.wgsl`).

use super::{groups, shape_err, weight_defines, KernelError};
use crate::gpu::{Extent, GpuContext, GpuTensor, Op, OpBuilder};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    cols: u32,
    row_bytes: u32,
    row_start: u32,
    row_end: u32,
    scale: f32,
    source: u32,
    fixed_row: u32,
    add: u32,
    part_start: [u32; 4],
}

/// Which row of the table token t of a step reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedRows {
    /// Its id (`ids[t]`).
    Ids,
    /// Its position, pos0 + t (BERT's `position_embd`).
    Positions,
    /// The same row for every token (BERT's token type 0).
    Fixed(u32),
}

/// out[t, :] = scale * W[ids[t], :]. ids: (n_tokens) u32; out: (n_tokens, cols) f32.
/// `name` names the op (`token_embd`, Gemma 4's `per_layer_token_embd`).
pub fn embed(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    w: &GpuTensor,
    ids: &wgpu::Buffer,
    out: &wgpu::Buffer,
    scale: f32,
) -> Result<Vec<Op>, KernelError> {
    embed_rows(ctx, step, name, w, ids, out, scale, EmbedRows::Ids, false)
}

/// out[t, :] (+)= scale * W[row(t), :] with row(t) as `rows` says, added to
/// out with `add` (BERT: the position and token-type rows join the token's,
/// llama.cpp `bert.cpp`). A row outside the table is skipped: the loader
/// keeps positions within the table (`ModelConfig::check_n_ctx`).
#[allow(clippy::too_many_arguments)]
pub fn embed_rows(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    w: &GpuTensor,
    ids: &wgpu::Buffer,
    out: &wgpu::Buffer,
    scale: f32,
    rows: EmbedRows,
    add: bool,
) -> Result<Vec<Op>, KernelError> {
    let (source, fixed_row) = match rows {
        EmbedRows::Ids => (0, 0),
        EmbedRows::Positions => (1, 0),
        EmbedRows::Fixed(r) => (2, r),
    };
    let cols = w.cols();
    if cols % 32 != 0 {
        return Err(shape_err(name, format!("row length {cols} is not a multiple of 32")));
    }
    let defines = weight_defines(name, &[w.ty])?;
    super::part_groups(w)
        .iter()
        .map(|part| {
            let params = Params {
                cols: cols as u32,
                row_bytes: w.row_bytes as u32,
                row_start: part.row_start as u32,
                row_end: (part.row_start + part.rows) as u32,
                scale,
                source,
                fixed_row,
                add: add as u32,
                part_start: part.part_start,
            };
            let b = OpBuilder::new(ctx, name, "embed.wgsl", "embed", part.defines(defines.clone()))
                .params(&params)
                .buffer(part.buffers[0])
                .buffer(ids)
                .buffer(out);
            Ok(part.bind_extra(b)
                .dispatch(Extent::Fixed(groups(cols / 32)), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
                .build(step)?)
        })
        .collect()
}
