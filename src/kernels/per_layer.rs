//! Gemma 4's per-layer input block on decode in one dispatch
//! (`shaders/per_layer.wgsl`).

use super::matvec::{decode_variant_x, matvec_defines, rows_per_group, TOKENS_PER_GROUP};
use super::pending::with_pending;
use super::{shape_err, weight_kind, KernelError, PendingNorm, Rows};
use crate::gpu::{Extent, GpuContext, GpuTensor, Op, OpBuilder};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    cols: u32,
    x_stride: u32,
    norm_off: u32,
    eps: f32,
    width: u32,
    up_offset: u32,
    up_stride: u32,
    y_stride: u32,
    gate_kind: u32,
    gate_row_bytes: u32,
    proj_kind: u32,
    proj_row_bytes: u32,
}

/// Workgroup memory `per_layer` may use: WebGPU's guaranteed
/// `maxComputeWorkgroupStorageSize`.
pub const PER_LAYER_SHARED_BYTES: u32 = 16384;

/// Workgroup bytes of per_layer.wgsl at per-layer width `p` with `tokens`
/// tokens per workgroup: the gated activation (tokens x p f32) and the lane
/// reduction scratch (tokens x WG_SIZE f32).
fn shared_bytes(p: u32, tokens: u32) -> u32 {
    4 * tokens * p + 4 * tokens * super::WG_SIZE
}

/// Whether [`per_layer`] runs these weights: each in one binding, a
/// per-layer width that is a multiple of 32 and whose decode activation
/// fits the workgroup memory (else the block runs as separate ops).
pub fn per_layer_fits(gate: &GpuTensor, proj: &GpuTensor) -> bool {
    let p = gate.rows();
    gate.parts.len() == 1 && proj.parts.len() == 1 && p % 32 == 0 && p <= u32::MAX as u64 && shared_bytes(p as u32, 1) <= PER_LAYER_SHARED_BYTES
}

/// y[t, :] = W_proj (gelu_tanh(W_gate x[t]) ⊙ up[t, up.offset ..][..P]) for
/// the step's tokens: Gemma 4's per-layer input block before its post-norm
/// (llama.cpp `gemma4.cpp`: inp_gate, gelu, the product with the layer's
/// per-layer input, proj). W_gate: (P, dim); W_proj: (dim, P); x: (n_tokens,
/// dim); y: (n_tokens, y_stride ≥ dim); up: rows of every layer's per-layer
/// inputs. Every workgroup computes the whole activation (P values per
/// token) and its rows of y. With `pending` x is the residual stream with a
/// post-norm add still to apply ([`PendingNorm`]); its `xb` must not be y.
#[allow(clippy::too_many_arguments)]
pub fn per_layer(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    gate: &GpuTensor,
    proj: &GpuTensor,
    x: &wgpu::Buffer,
    up: Rows<'_>,
    y: &wgpu::Buffer,
    y_stride: u64,
    pending: Option<PendingNorm<'_>>,
) -> Result<Op, KernelError> {
    let (p, dim) = (gate.rows(), gate.cols());
    let ok = per_layer_fits(gate, proj) && dim % 32 == 0 && proj.dims == [p, dim] && up.holds(p) && y_stride >= dim && y.size() >= y_stride * 4 && y != x && y != up.buffer;
    if !ok {
        return Err(shape_err(name, format!("gate {:?}, proj {:?} in {} and {} parts, factors at {} of {}, y stride {y_stride}", gate.dims, proj.dims, gate.parts.len(), proj.parts.len(), up.offset, up.stride)));
    }
    if let Some(pn) = &pending {
        pn.check(ctx, name, x, dim, None)?;
        if pn.xb == y {
            return Err(shape_err(name, "a pending post-norm reads the buffer the block writes"));
        }
    }
    let params = Params {
        cols: dim as u32,
        x_stride: dim as u32,
        norm_off: 0,
        eps: pending.map_or(0.0, |pn| pn.eps),
        width: p as u32,
        up_offset: up.offset,
        up_stride: up.stride,
        y_stride: y_stride as u32,
        gate_kind: weight_kind(name, gate.ty)?,
        gate_row_bytes: gate.row_bytes as u32,
        proj_kind: weight_kind(name, proj.ty)?,
        proj_row_bytes: proj.row_bytes as u32,
    };
    let mut types = vec![gate.ty, proj.ty];
    types.dedup();
    let tokens = (1..=TOKENS_PER_GROUP).rev().find(|&t| shared_bytes(p as u32, t) <= PER_LAYER_SHARED_BYTES).unwrap_or(1);
    let flags = |d: crate::gpu::Defines| with_pending(d.flag("W_PART1").u32("MAX_P", p as u32), pending.as_ref());
    let b = OpBuilder::new(ctx, name, "per_layer.wgsl", "per_layer", flags(matvec_defines(ctx, name, &types, tokens)?));
    let b = decode_variant_x(b, ctx, flags(matvec_defines(ctx, name, &types, 1)?), x, dim, None, pending.map(|pn| pn.xb))
        .params(&params)
        .buffer(&gate.parts[0].buffer)
        .buffer(x)
        .buffer(up.buffer)
        .buffer(y)
        .buffer(&proj.parts[0].buffer);
    let b = match &pending {
        Some(pn) => pn.bind(b),
        None => b,
    };
    let rpg = rows_per_group(ctx) as u64;
    Ok(b.dispatch(Extent::Fixed(dim.div_ceil(rpg) as u32), Extent::Fixed(1), Extent::Tokens { per_group: tokens }).build(step)?)
}
