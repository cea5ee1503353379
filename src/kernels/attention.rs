//! KV-cache append and grouped-query attention (`shaders/kv_store.wgsl`,
//! `shaders/attention.wgsl`).

use super::{base_defines, groups, shape_err, KernelError, WG_SIZE};
use crate::gpu::{Defines, Extent, GpuContext, Op, OpBuilder, SplitRule};

/// Positions per split of a long decode span, and the span below which a
/// decode step is not split (one workgroup per head walks it): enough splits
/// at long contexts to fill a GPU, none (and no combine dispatch) at short ones.
pub const SPLIT_PER: u32 = 512;
pub const SPLIT_MIN_SPAN: u32 = 1024;

/// The split rule of a layer with sliding window `window` (0: none).
pub fn split_rule(window: u32) -> SplitRule {
    SplitRule { per_split: SPLIT_PER, min_span: SPLIT_MIN_SPAN, window }
}

/// Most splits a decode step over `n_positions` positions takes (the rows of
/// the partials buffer per head).
pub fn max_splits(n_positions: u32) -> u32 {
    if n_positions <= SPLIT_MIN_SPAN {
        1
    } else {
        n_positions.div_ceil(SPLIT_PER)
    }
}

/// Most query heads one attention workgroup serves (they share each K and V
/// row it reads); also bounded by workgroup memory ([`attention_gqa_limit`]).
pub const MAX_GQA_PER_GROUP: u32 = 8;

/// Workgroup memory attention.wgsl may use: WebGPU's guaranteed
/// `maxComputeWorkgroupStorageSize`.
pub const ATTENTION_SHARED_BYTES: u32 = 16384;

/// The head-dim capacity a pipeline is built for (`MAX_HEAD_DIM` in
/// attention.wgsl and attn_qkv.wgsl, the length of their per-head arrays):
/// 256 for head dims up to 256 (every model but Gemma 4's full layers), else
/// [`MAX_HEAD_DIM`], so the larger arrays cost only the layers that need them.
pub fn head_dim_capacity(head_dim: u32) -> u32 {
    if head_dim <= 256 {
        256
    } else {
        MAX_HEAD_DIM
    }
}

/// Most query heads attention.wgsl's workgroup holds at capacity `cap`
/// ([`head_dim_capacity`]): its queries (GQA x cap f32) and scores (GQA x
/// WG_SIZE f32) within [`ATTENTION_SHARED_BYTES`], and at most
/// [`MAX_GQA_PER_GROUP`]. 8 at 256, 7 at 512.
pub fn attention_gqa_limit(cap: u32) -> u32 {
    (ATTENTION_SHARED_BYTES / (4 * (cap + WG_SIZE))).clamp(1, MAX_GQA_PER_GROUP)
}

/// Query heads per workgroup for `n_heads` over `n_kv_heads` at head dim
/// `head_dim`: the largest divisor of the group size within
/// [`attention_gqa_limit`] (Gemma 4's 8 heads of 512 over one KV head: 4).
pub fn heads_per_group(n_heads: u32, n_kv_heads: u32, head_dim: u32) -> u32 {
    divisor_within(n_heads / n_kv_heads.max(1), attention_gqa_limit(head_dim_capacity(head_dim)))
}

/// Workgroup bytes of attention.wgsl's `attention` entry at head dim
/// `head_dim` and `gqa` heads per workgroup: qs (gqa x capacity f32) and
/// ps (gqa x WG_SIZE f32), each rounded up to 16 bytes as browsers count.
pub fn attention_shared_bytes(head_dim: u32, gqa: u32) -> u32 {
    (4 * gqa * head_dim_capacity(head_dim)).next_multiple_of(16) + (4 * gqa * WG_SIZE).next_multiple_of(16)
}

/// The largest divisor of `g` (at least 1) that is at most `max`.
pub(super) fn divisor_within(g: u32, max: u32) -> u32 {
    let g = g.max(1);
    (1..=g.min(max)).rev().find(|d| g % d == 0).unwrap_or(1)
}

fn attention_defines(head_dim: u32, gqa: u32) -> Defines {
    base_defines()
        .u32("MAX_HEAD_DIM", head_dim_capacity(head_dim))
        .u32("SPLIT_PER", SPLIT_PER)
        .u32("SPLIT_MIN_SPAN", SPLIT_MIN_SPAN)
        .u32("GQA", gqa)
}

/// Largest head dimension the attention kernels take (Gemma 4's full
/// layers: 512, HF `global_head_dim`). A pipeline holds only what its
/// layer's head dim needs ([`head_dim_capacity`]).
pub const MAX_HEAD_DIM: u32 = 512;

#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    /// 0 for full attention, else the sliding-window length: causal, the
    /// last `window` positions up to the token's own; non-causal, positions
    /// within `window / 2` of the token's on both sides (llama.cpp's
    /// `LLAMA_SWA_TYPE_SYMMETRIC`, EmbeddingGemma).
    pub window: u32,
    pub scale: f32,
    /// True: token t attends to positions up to its own. False
    /// (bidirectional encoders, llama.cpp's `causal_attn = false`): every
    /// token attends to every position up to the step's last, pos0 +
    /// n_tokens, so a text must be one step from position 0.
    pub causal: bool,
}

impl AttentionShape {
    pub fn kv_dim(&self) -> u32 {
        self.n_kv_heads * self.head_dim
    }
    pub(super) fn check(&self, op: &str) -> Result<(), KernelError> {
        if self.head_dim == 0 || self.head_dim > MAX_HEAD_DIM || self.n_kv_heads == 0 || self.n_heads % self.n_kv_heads != 0 {
            return Err(shape_err(op, format!("{self:?}")));
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct StoreParams {
    kv_dim: u32,
    ctx: u32,
    _pad: [u32; 2],
}

/// Appends k, v: (n_tokens, kv_dim) f32 to the caches (n_ctx, kv_dim): position
/// p goes to slot p % n_ctx (a ring when the cache is shorter than the context).
#[allow(clippy::too_many_arguments)]
pub fn kv_store(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    k: &wgpu::Buffer,
    v: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    kv_dim: u32,
    n_ctx: u32,
) -> Result<Op, KernelError> {
    let params = StoreParams { kv_dim, ctx: n_ctx, _pad: [0; 2] };
    Ok(OpBuilder::new(ctx, name, "kv_store.wgsl", "kv_store", base_defines())
        .params(&params)
        .buffer(k)
        .buffer(v)
        .buffer(k_cache)
        .buffer(v_cache)
        .dispatch(Extent::Fixed(groups(kv_dim as u64)), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}

/// `Params` of attention.wgsl and flash_attention.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Params {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    q_stride: u32,
    kv_dim: u32,
    out_stride: u32,
    window: u32,
    scale: f32,
    n_cache: u32,
    max_splits: u32,
    causal: u32,
    _pad: u32,
}

impl Params {
    /// q and out packed (n_tokens, n_heads * head_dim).
    pub(super) fn new(s: &AttentionShape, n_cache: u32, max_splits: u32) -> Self {
        let width = s.n_heads * s.head_dim;
        Params {
            n_heads: s.n_heads,
            n_kv_heads: s.n_kv_heads,
            head_dim: s.head_dim,
            q_stride: width,
            kv_dim: s.kv_dim(),
            out_stride: width,
            window: s.window,
            scale: s.scale,
            n_cache,
            max_splits,
            causal: s.causal as u32,
            _pad: 0,
        }
    }
}

/// out[t, h] = softmax(q[t, h] · K[..=pos0+t]) V for every head of the step's
/// tokens. q, out: (n_tokens, n_heads * head_dim) f32; caches (n_cache, kv_dim),
/// position j in slot j % n_cache as [`kv_store`] wrote it. A ring cache
/// (n_cache below the context) must hold window + n_tokens - 1 positions.
/// A decode step over a long span is split ([`split_rule`]): the first op
/// writes per-split partials (n_heads, max_splits, head_dim + 2) f32, the
/// second (dispatched only then) combines them into `out`.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    out: &wgpu::Buffer,
    partials: &wgpu::Buffer,
    s: AttentionShape,
    n_cache: u32,
    n_ctx: u32,
) -> Result<Vec<Op>, KernelError> {
    s.check(name)?;
    if n_cache == 0 {
        return Err(shape_err(name, "empty KV cache"));
    }
    let max_splits = check_partials(name, partials, &s, n_ctx)?;
    let params = Params::new(&s, n_cache, max_splits);
    let rule = split_rule(s.window);
    let gqa = heads_per_group(s.n_heads, s.n_kv_heads, s.head_dim);
    let main = OpBuilder::new(ctx, name, "attention.wgsl", "attention", attention_defines(s.head_dim, gqa))
        .params(&params)
        .buffer(q)
        .buffer(k_cache)
        .buffer(v_cache)
        .buffer_at(5, out)
        .buffer_at(6, partials)
        .dispatch(Extent::Fixed(s.n_heads / gqa), Extent::TokensOrSplits(rule), Extent::Fixed(1))
        .build(step)?;
    Ok(vec![main, combine(ctx, step, name, out, partials, &params, s)?])
}

/// The partials buffer holds the splits of a span of up to `n_ctx`
/// positions: (n_heads, max_splits, head_dim + 2) f32. Returns max_splits.
pub(super) fn check_partials(name: &str, partials: &wgpu::Buffer, s: &AttentionShape, n_ctx: u32) -> Result<u32, KernelError> {
    // A symmetric (non-causal) window spans window / 2 positions each side and the token's own.
    let span = match (s.window, s.causal) {
        (0, _) => n_ctx,
        (w, true) => n_ctx.min(w),
        (w, false) => n_ctx.min(w / 2 * 2 + 1),
    };
    let max_splits = max_splits(span);
    let need = s.n_heads as u64 * max_splits as u64 * (s.head_dim as u64 + 2) * 4;
    if partials.size() < need {
        return Err(shape_err(name, format!("partials buffer of {} bytes, {need} needed", partials.size())));
    }
    Ok(max_splits)
}

/// `{name}.combine`: merges the per-split partials a decode step over a
/// split span wrote into `out` (attention.wgsl's `combine`, one workgroup
/// per head; no workgroups when the span is one split).
pub(super) fn combine(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, out: &wgpu::Buffer, partials: &wgpu::Buffer, params: &Params, s: AttentionShape) -> Result<Op, KernelError> {
    let rule = split_rule(s.window);
    Ok(OpBuilder::new(ctx, format!("{name}.combine"), "attention.wgsl", "combine", attention_defines(s.head_dim, 1))
        .params(params)
        .buffer_at(5, out)
        .buffer_at(6, partials)
        .dispatch(Extent::IfSplit(s.n_heads, rule), Extent::Fixed(1), Extent::Fixed(1))
        .build(step)?)
}
