//! Dequantize-matmul (`shaders/matvec.wgsl`, on `shaders/common/matvec_core.wgsl`).

use super::pending::with_pending;
use super::{shape_err, weight_defines, weight_kind, KernelError, PendingNorm};
use crate::gpu::{Defines, Extent, GpuContext, GpuTensor, MatvecVariant, Op, OpBuilder};
use crate::quant::GgmlType;

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
    kind: u32,
    norm_off: u32,
    eps: f32,
    softcap: f32,
    part_start: [u32; 4],
}

/// Tokens per workgroup along z (`TT` in the shaders) for steps of several
/// tokens: each dequantized chunk is used TT times. Decode compiles TT = 1.
pub const TOKENS_PER_GROUP: u32 = 8;

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

/// What is folded into the matvec besides the product.
#[derive(Clone, Copy, Default)]
pub struct MatvecFold<'a> {
    /// x is the un-normed residual: the input is RMSNorm(x) * g, with the
    /// norm weight g (cols f32) in this buffer and epsilon.
    pub norm: Option<(&'a wgpu::Buffer, f32)>,
    /// y = cap * tanh(y / cap) (Gemma's final logit soft-cap).
    pub softcap: Option<f32>,
    /// x is the residual stream with a post-norm add still to apply
    /// ([`PendingNorm`]).
    pub pending: Option<PendingNorm<'a>>,
}

/// Defines shared by every kernel built on `common/matvec_core.wgsl`: the
/// weight formats, the lane layout of `ctx.matvec` and `TT`.
pub(crate) fn matvec_defines(ctx: &GpuContext, op: &str, types: &[GgmlType], tokens_per_group: u32) -> Result<Defines, KernelError> {
    let v = ctx.matvec;
    let subgroups = matches!(v, MatvecVariant::SubgroupLanes { .. }) && v.lanes() > 1;
    Ok(weight_defines(op, types)?
        .u32("TPR", v.lanes())
        .u32("TT", tokens_per_group)
        .flag_if("SUBGROUP_REDUCE", subgroups)
        .flag_if("ENABLE_SUBGROUPS", subgroups && cfg!(target_arch = "wasm32")))
}

/// Sets the decode variant of a matvec-core kernel (`defines`, compiled for
/// one token), reading x (binding 3) through a uniform window where that
/// pays: one invocation per row, so all lanes read the same x element at
/// once (`common/matvec_x.wgsl`); x allocated with `UNIFORM` usage
/// (`gpu::activation_buffer`); the token's `cols` f32 within the device's
/// uniform binding size (64 KiB: 16384 f32). `norm`: the binding and buffer
/// of a folded norm weight, read the same way when its buffer allows
/// (`G_UNIFORM`); the kernel must read it from f32 0 (`norm_off` 0), since
/// the window starts there. `pending_xb`: a pending post-norm's input
/// ([`PendingNorm::xb`]), read through a window too when x is (`XB_UNIFORM`).
pub(crate) fn decode_variant_x<'a>(b: OpBuilder<'a>, ctx: &GpuContext, defines: Defines, x: &wgpu::Buffer, cols: u64, norm: Option<(u32, &wgpu::Buffer)>, pending_xb: Option<&wgpu::Buffer>) -> OpBuilder<'a> {
    let window = |buf: &wgpu::Buffer| {
        let bytes = buf.size().min(ctx.limits.max_uniform_buffer_binding_size as u64) / 16 * 16;
        (buf.usage().contains(wgpu::BufferUsages::UNIFORM) && cols * 4 <= bytes).then_some(bytes)
    };
    let Some(xw) = window(x).filter(|_| ctx.matvec == MatvecVariant::ThreadPerRow) else {
        return b.decode_variant(defines);
    };
    let mut defines = defines.flag("X_UNIFORM").u32("X_UNIFORM_VECS", (xw / 16) as u32);
    let mut b = b.decode_uniform(3, xw);
    if let Some(bw) = pending_xb.and_then(window) {
        defines = defines.flag("XB_UNIFORM").u32("XB_UNIFORM_VECS", (bw / 16) as u32);
        b = b.decode_uniform(10, bw);
    }
    if let Some((binding, gw)) = norm.and_then(|(binding, g)| window(g).map(|w| (binding, w))) {
        defines = defines.flag("G_UNIFORM").u32("G_UNIFORM_VECS", (gw / 16) as u32);
        b = b.decode_uniform(binding, gw);
    }
    b.decode_variant(defines)
}

/// Rows one workgroup of a matvec-core kernel computes at once.
pub(crate) fn rows_per_group(ctx: &GpuContext) -> u32 {
    super::WG_SIZE / ctx.matvec.lanes()
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
    matvec_folded(ctx, step, name, w, x, x_stride, y, y_stride, out, MatvecFold::default())
}

/// [`matvec`] with a norm prologue and/or a soft-cap epilogue folded in.
#[allow(clippy::too_many_arguments)]
pub fn matvec_folded(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    w: &GpuTensor,
    x: &wgpu::Buffer,
    x_stride: u64,
    y: &wgpu::Buffer,
    y_stride: u64,
    out: MatvecOut,
    fold: MatvecFold<'_>,
) -> Result<Vec<Op>, KernelError> {
    let cols = w.cols();
    if cols % 32 != 0 || x_stride % 4 != 0 || x_stride < cols || y_stride < w.rows() {
        return Err(shape_err(
            name,
            format!("W {:?} ({}), x stride {x_stride}, y stride {y_stride}", w.dims, w.ty),
        ));
    }
    let last_only = out == MatvecOut::LastToken;
    if let Some(pn) = &fold.pending {
        pn.check(ctx, name, x, cols, fold.norm.map(|n| n.1))?;
    }
    let folds = |d: Defines| with_pending(d.flag_if("NORM_X", fold.norm.is_some()).flag_if("SOFTCAP", fold.softcap.is_some()), fold.pending.as_ref());
    // The logits row is one token: the single-token variant serves every step.
    let defines = folds(matvec_defines(ctx, name, &[w.ty], if last_only { 1 } else { TOKENS_PER_GROUP })?);
    let decode = folds(matvec_defines(ctx, name, &[w.ty], 1)?);
    let z = if last_only { Extent::Fixed(1) } else { Extent::Tokens { per_group: TOKENS_PER_GROUP } };
    let rpg = rows_per_group(ctx) as u64;
    super::part_groups(w)
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
                kind: weight_kind(name, w.ty)?,
                norm_off: 0,
                eps: fold.norm.map(|n| n.1).or(fold.pending.map(|pn| pn.eps)).unwrap_or(0.0),
                softcap: fold.softcap.unwrap_or(0.0),
                part_start: part.part_start,
            };
            let b = OpBuilder::new(ctx, name, "matvec.wgsl", "matvec", part.defines(defines.clone()));
            let mut b = decode_variant_x(b, ctx, part.defines(decode.clone()), x, cols, fold.norm.map(|(g, _)| (5, g)), fold.pending.map(|pn| pn.xb))
                .params(&params)
                .buffer(part.buffers[0])
                .buffer(x)
                .buffer(y);
            if let Some((g, _)) = fold.norm {
                b = b.buffer(g);
            }
            b = part.bind_extra(b);
            if let Some(pn) = &fold.pending {
                b = pn.bind(b);
            }
            Ok(b.dispatch(Extent::Fixed(part.rows.div_ceil(rpg) as u32), Extent::Fixed(1), z).build(step)?)
        })
        .collect()
}
