//! The fused decode/prefill kernels of a layer (`shaders/attn_qkv.wgsl`,
//! `shaders/ffn_gate_up.wgsl`): RMSNorm folded into the projections' inner
//! loop, and what follows the projections (bias, QK norm, RoPE, KV store;
//! the gated activation) in their epilogue.

use super::matvec::{decode_variant_x, matvec_defines, rows_per_group, TOKENS_PER_GROUP};
use super::{shape_err, weight_kind, GateActivation, KernelError, RopeLayout, MAX_HEAD_DIM};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder, PackedTensors, PackedVectors, Segment};

/// The attention input side of one layer (see `attn_qkv`).
#[derive(Clone, Copy, Debug)]
pub struct QkvShape {
    pub dim: u32,
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    pub n_rot: u32,
    pub layout: RopeLayout,
    pub freq_base: f32,
    pub freq_scale: f32,
    /// The rotated pairs are multiplied by this (see `RopeShape::mscale`).
    pub mscale: f32,
    pub eps: f32,
    /// v gets an RMSNorm over each head without a weight (Gemma 4; needs
    /// the QK norm).
    pub v_norm: bool,
}

/// Where `attn_qkv` finds its f32 vectors in the layer's [`PackedVectors`].
#[derive(Clone, Copy, Debug, Default)]
pub struct QkvVectors {
    /// f32 index of attn_norm.
    pub attn_norm: u32,
    /// f32 indices of the q, k, v biases (Qwen2).
    pub bias: Option<[u32; 3]>,
    /// f32 indices of attn_q_norm and attn_k_norm (Qwen3, Gemma 3).
    pub qk_norm: Option<[u32; 2]>,
    /// f32 index of rope_freqs (Llama 3.1+).
    pub rope_factors: Option<u32>,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct QkvParams {
    cols: u32,
    x_stride: u32,
    norm_off: u32,
    eps: f32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    n_rot: u32,
    q_stride: u32,
    n_cache: u32,
    freq_base: f32,
    freq_scale: f32,
    q_norm_off: u32,
    k_norm_off: u32,
    factors_off: u32,
    mscale: f32,
    seg: [[u32; 4]; 3],
}

fn segment_params(op: &str, s: &Segment, extra: u32) -> Result<[u32; 4], KernelError> {
    Ok([weight_kind(op, s.ty)?, s.offset as u32, s.row_bytes as u32, extra])
}

fn vec4_index(op: &str, f32_index: u32) -> Result<u32, KernelError> {
    if f32_index % 4 != 0 {
        return Err(shape_err(op, format!("vector at f32 index {f32_index} is not vec4-aligned")));
    }
    Ok(f32_index / 4)
}

/// RMSNorm(x) → q|k|v (packed `w`: the three segments, rows of `dim`) → bias,
/// QK norm, [V norm], RoPE → q into `q` (n_tokens, q_dim), k and v into the
/// layer's caches (n_cache, kv_dim) at slot (pos0 + t) % n_cache. x:
/// (n_tokens, dim). A `w` of one segment is q alone (a layer that reads an
/// earlier layer's KV cache, Gemma 4): only q is computed and the caches are
/// bound but not written.
#[allow(clippy::too_many_arguments)]
pub fn attn_qkv(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    w: &PackedTensors,
    x: &wgpu::Buffer,
    vecs: &PackedVectors,
    at: QkvVectors,
    s: QkvShape,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    n_cache: u32,
) -> Result<Op, KernelError> {
    let (q_dim, kv_dim) = ((s.n_heads * s.head_dim) as u64, (s.n_kv_heads * s.head_dim) as u64);
    let (wq, wk, wv, kv_heads) = match &w.segments[..] {
        [wq, wk, wv] => (wq, wk, wv, s.n_kv_heads),
        // q alone: k and v point at q's segment and no workgroup reads them.
        [wq] => (wq, wq, wq, 0),
        _ => return Err(shape_err(name, format!("{} packed tensors, expected q, k, v (or q alone)", w.segments.len()))),
    };
    let kv_rows = if kv_heads == 0 { q_dim } else { kv_dim };
    let ok = s.dim % 32 == 0
        && s.head_dim <= MAX_HEAD_DIM
        && s.n_rot % 2 == 0
        && s.n_rot <= s.head_dim
        && (!s.v_norm || at.qk_norm.is_some())
        && [wq, wk, wv].iter().all(|t| t.cols() == s.dim as u64)
        && (wq.rows(), wk.rows(), wv.rows()) == (q_dim, kv_rows, kv_rows);
    if !ok {
        return Err(shape_err(name, format!("{s:?} with q {:?}, k {:?}, v {:?}", wq.dims, wk.dims, wv.dims)));
    }
    let bias = at.bias.unwrap_or([0; 3]);
    let [q_norm_off, k_norm_off] = at.qk_norm.unwrap_or([0; 2]);
    let params = QkvParams {
        cols: s.dim,
        x_stride: s.dim,
        norm_off: vec4_index(name, at.attn_norm)?,
        eps: s.eps,
        n_heads: s.n_heads,
        n_kv_heads: s.n_kv_heads,
        head_dim: s.head_dim,
        n_rot: s.n_rot,
        q_stride: q_dim as u32,
        n_cache,
        freq_base: s.freq_base,
        freq_scale: s.freq_scale,
        q_norm_off,
        k_norm_off,
        factors_off: at.rope_factors.unwrap_or(0),
        mscale: s.mscale,
        seg: [segment_params(name, wq, bias[0])?, segment_params(name, wk, bias[1])?, segment_params(name, wv, bias[2])?],
    };
    let types = distinct_types(&w.segments);
    let flags = |d: crate::gpu::Defines| {
        d.flag("NORM_X")
            .u32("MAX_HEAD_DIM", MAX_HEAD_DIM)
            .flag_if("BIAS", at.bias.is_some())
            .flag_if("QK_NORM", at.qk_norm.is_some())
            .flag_if("V_NORM", s.v_norm)
            .flag_if("NEOX", s.layout == RopeLayout::Neox)
            .flag_if("FREQ_FACTORS", at.rope_factors.is_some())
    };
    let b = OpBuilder::new(ctx, name, "attn_qkv.wgsl", "attn_qkv", flags(matvec_defines(ctx, name, &types, TOKENS_PER_GROUP)?));
    Ok(decode_variant_x(b, ctx, flags(matvec_defines(ctx, name, &types, 1)?), x, s.dim as u64, None)
        .params(&params)
        .buffer(&w.buffer)
        .buffer(x)
        .buffer(&vecs.buffer)
        .buffer(q)
        .buffer(k_cache)
        .buffer(v_cache)
        .dispatch(Extent::Fixed(s.n_heads + 2 * kv_heads), Extent::Fixed(1), Extent::Tokens { per_group: TOKENS_PER_GROUP })
        .build(step)?)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GateUpParams {
    rows: u32,
    cols: u32,
    x_stride: u32,
    y_stride: u32,
    norm_off: u32,
    eps: f32,
    _pad: [u32; 2],
    seg: [[u32; 4]; 2],
}

/// RMSNorm(x) with the norm weight `norm` (dim f32) → gate|up (packed `w`,
/// rows of `dim`) → y = act(gate) * up. x: (n_tokens, dim); y: (n_tokens, ffn_dim).
#[allow(clippy::too_many_arguments)]
pub fn ffn_gate_up(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    w: &PackedTensors,
    x: &wgpu::Buffer,
    norm: &wgpu::Buffer,
    eps: f32,
    act: GateActivation,
    y: &wgpu::Buffer,
) -> Result<Op, KernelError> {
    let [wg, wu] = &w.segments[..] else {
        return Err(shape_err(name, format!("{} packed tensors, expected gate, up", w.segments.len())));
    };
    let (dim, ffn) = (wg.cols(), wg.rows());
    if dim % 32 != 0 || wu.dims != wg.dims {
        return Err(shape_err(name, format!("gate {:?}, up {:?}", wg.dims, wu.dims)));
    }
    let params = GateUpParams {
        rows: ffn as u32,
        cols: dim as u32,
        x_stride: dim as u32,
        y_stride: ffn as u32,
        norm_off: 0,
        eps,
        _pad: [0; 2],
        seg: [segment_params(name, wg, 0)?, segment_params(name, wu, 0)?],
    };
    let types = distinct_types(&w.segments);
    let flags = |d: crate::gpu::Defines| d.flag("NORM_X").flag_if("GEGLU", act == GateActivation::Gelu);
    let rpg = rows_per_group(ctx) as u64;
    let b = OpBuilder::new(ctx, name, "ffn_gate_up.wgsl", "ffn_gate_up", flags(matvec_defines(ctx, name, &types, TOKENS_PER_GROUP)?));
    Ok(decode_variant_x(b, ctx, flags(matvec_defines(ctx, name, &types, 1)?), x, dim, Some((4, norm)))
        .params(&params)
        .buffer(&w.buffer)
        .buffer(x)
        .buffer(norm)
        .buffer(y)
        .dispatch(Extent::Fixed(ffn.div_ceil(rpg) as u32), Extent::Fixed(1), Extent::Tokens { per_group: TOKENS_PER_GROUP })
        .build(step)?)
}

fn distinct_types(segments: &[Segment]) -> Vec<crate::quant::GgmlType> {
    let mut v: Vec<_> = segments.iter().map(|s| s.ty).collect();
    v.sort_by_key(|t| t.name());
    v.dedup();
    v
}
