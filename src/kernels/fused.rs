//! The fused decode/prefill kernels of a layer (`shaders/attn_qkv.wgsl`,
//! `shaders/ffn_gate_up.wgsl`): RMSNorm folded into the projections' inner
//! loop, and what follows the projections (bias, QK norm, RoPE, KV store;
//! the gated activation) in their epilogue; and `shaders/norm_projections.wgsl`:
//! the norm folded into several projections of one input, each written to its
//! own rows (the Gated DeltaNet's input side).

use super::matvec::{decode_variant_x, matvec_defines, rows_per_group, TOKENS_PER_GROUP};
use super::attention::head_dim_capacity;
use super::pending::with_pending;
use super::{shape_err, weight_kind, GateActivation, KernelError, PendingNorm, RopeLayout, Rows, MAX_HEAD_DIM, WG_SIZE};
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

/// Workgroup memory `attn_qkv` may use: WebGPU's guaranteed
/// `maxComputeWorkgroupStorageSize`.
pub const QKV_SHARED_BYTES: u32 = 16384;

/// Workgroup bytes of attn_qkv.wgsl at head dim `head_dim` with `tokens`
/// tokens per workgroup (`TT`): the head's projections (tokens x
/// [`head_dim_capacity`] f32), the lane reduction scratch (tokens x WG_SIZE
/// f32) and the QK norm's sum, each rounded up to 16 bytes as browsers count.
pub fn qkv_shared_bytes(head_dim: u32, tokens: u32) -> u32 {
    (4 * tokens * head_dim_capacity(head_dim)).next_multiple_of(16) + (4 * tokens * WG_SIZE).next_multiple_of(16) + 16
}

/// Tokens per workgroup of `attn_qkv`'s multi-token pipeline: the most, up
/// to [`TOKENS_PER_GROUP`], whose workgroup memory fits [`QKV_SHARED_BYTES`]
/// (8 up to head dim 256, 7 at 512).
pub fn qkv_tokens_per_group(head_dim: u32) -> u32 {
    (1..=TOKENS_PER_GROUP).rev().find(|&t| qkv_shared_bytes(head_dim, t) <= QKV_SHARED_BYTES).unwrap_or(1)
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
/// QK norm, RoPE → q into `q` (n_tokens, q_dim), k and v into the layer's
/// caches (n_cache, kv_dim) at slot (pos0 + t) % n_cache. x: (n_tokens, dim).
///
/// With `gate` (Qwen3.5's gated attention, llama.cpp `qwen35.cpp`
/// build_layer_attn) the q tensor has 2 · q_dim rows, per head head_dim
/// query rows then head_dim output-gate rows: the query rows go on as
/// above, the gate rows (no bias, norm or RoPE) into `gate` (n_tokens,
/// q_dim), heads one after another. Biases with a gate are refused.
///
/// A `w` of one segment is q alone (a layer that reads an earlier layer's KV
/// cache, Gemma 4): only q is computed and the caches are bound but not
/// written; such a layer has no gate.
///
/// With `pending` x is the residual stream with a post-norm add still to
/// apply ([`PendingNorm`], the previous layer's; x' goes to its `out`); not
/// with a gate (the bindings would pass WebGPU's 8 storage buffers).
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
    gate: Option<&wgpu::Buffer>,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    n_cache: u32,
    pending: Option<PendingNorm<'_>>,
) -> Result<Op, KernelError> {
    let (q_dim, kv_dim) = ((s.n_heads * s.head_dim) as u64, (s.n_kv_heads * s.head_dim) as u64);
    let q_rows = if gate.is_some() { 2 * q_dim } else { q_dim };
    let (wq, wk, wv, kv_heads) = match &w.segments[..] {
        [wq, wk, wv] => (wq, wk, wv, s.n_kv_heads),
        // q alone: k and v point at q's segment and no workgroup reads them.
        [wq] if gate.is_none() => (wq, wq, wq, 0),
        _ => return Err(shape_err(name, format!("{} packed tensors{}, expected q, k, v (or q alone without a gate)", w.segments.len(), if gate.is_some() { " and an output gate" } else { "" }))),
    };
    let kv_rows = if kv_heads == 0 { q_rows } else { kv_dim };
    let ok = s.dim % 32 == 0
        && s.head_dim <= MAX_HEAD_DIM
        && s.n_rot % 2 == 0
        && s.n_rot <= s.head_dim
        && (!s.v_norm || at.qk_norm.is_some())
        && [wq, wk, wv].iter().all(|t| t.cols() == s.dim as u64)
        && (wq.rows(), wk.rows(), wv.rows()) == (q_rows, kv_rows, kv_rows);
    if !ok {
        return Err(shape_err(name, format!("{s:?} with q {:?}, k {:?}, v {:?}{}", wq.dims, wk.dims, wv.dims, if gate.is_some() { " and an output gate" } else { "" })));
    }
    if gate.is_some() && at.bias.is_some() {
        return Err(shape_err(name, "q|k|v biases with an output gate"));
    }
    if let Some(pn) = &pending {
        if gate.is_some() {
            return Err(shape_err(name, "a pending post-norm with an output gate"));
        }
        pn.check(ctx, name, x, s.dim as u64, Some(s.eps))?;
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
        with_pending(d, pending.as_ref())
            .flag("NORM_X")
            .u32("MAX_HEAD_DIM", head_dim_capacity(s.head_dim))
            .flag_if("BIAS", at.bias.is_some())
            .flag_if("QK_NORM", at.qk_norm.is_some())
            .flag_if("V_NORM", s.v_norm)
            .flag_if("NEOX", s.layout == RopeLayout::Neox)
            .flag_if("FREQ_FACTORS", at.rope_factors.is_some())
            .flag_if("OUTPUT_GATE", gate.is_some())
    };
    let tokens = qkv_tokens_per_group(s.head_dim);
    let b = OpBuilder::new(ctx, name, "attn_qkv.wgsl", "attn_qkv", flags(matvec_defines(ctx, name, &types, tokens)?));
    let mut b = decode_variant_x(b, ctx, flags(matvec_defines(ctx, name, &types, 1)?), x, s.dim as u64, None, pending.map(|pn| pn.xb))
        .params(&params)
        .buffer(&w.buffer)
        .buffer(x)
        .buffer(&vecs.buffer)
        .buffer(q)
        .buffer(k_cache)
        .buffer(v_cache);
    if let Some(g) = gate {
        b = b.buffer(g);
    }
    if let Some(pn) = &pending {
        b = pn.bind(b);
    }
    // One workgroup per q, k, v head, then per gate head (the gate's heads
    // start after 2 n_kv_heads k and v heads: no q-only layer has a gate).
    let heads = s.n_heads + 2 * kv_heads + if gate.is_some() { s.n_heads } else { 0 };
    Ok(b.dispatch(Extent::Fixed(heads), Extent::Fixed(1), Extent::Tokens { per_group: tokens }).build(step)?)
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
/// With `pending` x is the residual stream with a post-norm add still to
/// apply ([`PendingNorm`]: Gemma's post_attention_norm; x' goes to its `out`).
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
    pending: Option<PendingNorm<'_>>,
) -> Result<Op, KernelError> {
    let [wg, wu] = &w.segments[..] else {
        return Err(shape_err(name, format!("{} packed tensors, expected gate, up", w.segments.len())));
    };
    let (dim, ffn) = (wg.cols(), wg.rows());
    if dim % 32 != 0 || wu.dims != wg.dims {
        return Err(shape_err(name, format!("gate {:?}, up {:?}", wg.dims, wu.dims)));
    }
    if let Some(pn) = &pending {
        pn.check(ctx, name, x, dim, Some(eps))?;
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
    let flags = |d: crate::gpu::Defines| with_pending(d.flag("NORM_X").flag_if("GEGLU", act == GateActivation::Gelu), pending.as_ref());
    let rpg = rows_per_group(ctx) as u64;
    let b = OpBuilder::new(ctx, name, "ffn_gate_up.wgsl", "ffn_gate_up", flags(matvec_defines(ctx, name, &types, TOKENS_PER_GROUP)?));
    let b = decode_variant_x(b, ctx, flags(matvec_defines(ctx, name, &types, 1)?), x, dim, Some((4, norm)), pending.map(|pn| pn.xb)).params(&params).buffer(&w.buffer).buffer(x).buffer(norm).buffer(y);
    let b = match &pending {
        Some(pn) => pn.bind(b),
        None => b,
    };
    Ok(b.dispatch(Extent::Fixed(ffn.div_ceil(rpg) as u32), Extent::Fixed(1), Extent::Tokens { per_group: TOKENS_PER_GROUP })
        .build(step)?)
}

fn distinct_types(segments: &[Segment]) -> Vec<crate::quant::GgmlType> {
    let mut v: Vec<_> = segments.iter().map(|s| s.ty).collect();
    v.sort_by_key(|t| t.name());
    v.dedup();
    v
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ProjectionsParams {
    cols: u32,
    x_stride: u32,
    norm_off: u32,
    eps: f32,
    n_seg: u32,
    _pad: [u32; 3],
    seg: [[u32; 4]; 4],
    out: [[u32; 4]; 4],
}

/// Most projections [`norm_projections`] runs in one dispatch.
pub const MAX_NORM_PROJECTIONS: usize = 4;
/// Most distinct output buffers [`norm_projections`] writes.
const MAX_PROJECTION_BUFFERS: usize = 3;

/// RMSNorm(x) with the norm weight `norm` (dim f32) → each projection `s`
/// of the packed `w` (rows of `dim`, 1..=4 of them) into its own rows:
/// `outs[s]` gets y[t, r] = W_s[r] · xn[t] for r < W_s's rows, at f32
/// `outs[s].offset + t · outs[s].stride + r` of its buffer (at most three
/// distinct buffers). x: (n_tokens, dim). The Gated DeltaNet's decode input
/// (llama.cpp `qwen35.cpp`: attn_qkv, attn_gate, ssm_alpha, ssm_beta of
/// one normed input) in one dispatch instead of a norm and four matvecs.
#[allow(clippy::too_many_arguments)]
pub fn norm_projections(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    w: &PackedTensors,
    x: &wgpu::Buffer,
    norm: &wgpu::Buffer,
    eps: f32,
    outs: &[Rows<'_>],
) -> Result<Op, KernelError> {
    let n = w.segments.len();
    if n == 0 || n > MAX_NORM_PROJECTIONS || outs.len() != n {
        return Err(shape_err(name, format!("{n} packed tensors for {} outputs (1 to {MAX_NORM_PROJECTIONS})", outs.len())));
    }
    let dim = w.segments[0].cols();
    let fits = w.segments.iter().zip(outs).all(|(s, o)| s.cols() == dim && s.rows() <= u32::MAX as u64 && o.holds(s.rows()));
    if dim % 32 != 0 || dim > u32::MAX as u64 || !fits {
        let dims: Vec<_> = w.segments.iter().map(|s| &s.dims).collect();
        return Err(shape_err(name, format!("tensors {dims:?} into rows {:?}", outs.iter().map(|o| (o.offset, o.stride)).collect::<Vec<_>>())));
    }
    // Each distinct output buffer once, in order of first use.
    let mut buffers: Vec<&wgpu::Buffer> = Vec::new();
    let mut slot = Vec::with_capacity(n);
    for o in outs {
        let i = buffers.iter().position(|b| *b == o.buffer).unwrap_or_else(|| {
            buffers.push(o.buffer);
            buffers.len() - 1
        });
        slot.push(i as u32);
    }
    if buffers.len() > MAX_PROJECTION_BUFFERS {
        return Err(shape_err(name, format!("{} output buffers (at most {MAX_PROJECTION_BUFFERS})", buffers.len())));
    }
    let rpg = rows_per_group(ctx) as u64;
    let mut params = ProjectionsParams { cols: dim as u32, x_stride: dim as u32, norm_off: 0, eps, n_seg: n as u32, _pad: [0; 3], seg: [[0; 4]; 4], out: [[0; 4]; 4] };
    let mut groups = 0u64;
    for (i, (s, o)) in w.segments.iter().zip(outs).enumerate() {
        params.seg[i] = segment_params(name, s, s.rows() as u32)?;
        params.out[i] = [slot[i], o.offset, o.stride, groups as u32];
        groups += s.rows().div_ceil(rpg);
    }
    let groups = u32::try_from(groups).map_err(|_| shape_err(name, format!("{groups} workgroups")))?;
    let types = distinct_types(&w.segments);
    let flags = |d: crate::gpu::Defines| d.flag("NORM_X").flag_if("OUT_1", buffers.len() > 1).flag_if("OUT_2", buffers.len() > 2);
    let b = OpBuilder::new(ctx, name, "norm_projections.wgsl", "norm_projections", flags(matvec_defines(ctx, name, &types, TOKENS_PER_GROUP)?));
    let mut b = decode_variant_x(b, ctx, flags(matvec_defines(ctx, name, &types, 1)?), x, dim, Some((4, norm)), None).params(&params).buffer(&w.buffer).buffer(x).buffer(norm);
    for buf in buffers {
        b = b.buffer(buf);
    }
    Ok(b.dispatch(Extent::Fixed(groups), Extent::Fixed(1), Extent::Tokens { per_group: TOKENS_PER_GROUP }).build(step)?)
}
