//! KV-cache append and grouped-query attention (`shaders/kv_store.wgsl`,
//! `shaders/attention.wgsl`).

use super::{base_defines, groups, shape_err, KernelError};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

/// Largest head dimension the attention kernel holds (`MAX_HEAD_DIM`).
pub const MAX_HEAD_DIM: u32 = 256;

#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    /// 0 for full causal attention, else the sliding-window length.
    pub window: u32,
    pub scale: f32,
}

impl AttentionShape {
    pub fn kv_dim(&self) -> u32 {
        self.n_kv_heads * self.head_dim
    }
    fn check(&self, op: &str) -> Result<(), KernelError> {
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

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    q_stride: u32,
    kv_dim: u32,
    out_stride: u32,
    window: u32,
    scale: f32,
    n_cache: u32,
    _pad: [u32; 3],
}

/// out[t, h] = softmax(q[t, h] · K[..=pos0+t]) V for every head of the step's
/// tokens. q, out: (n_tokens, n_heads * head_dim) f32; caches (n_cache, kv_dim),
/// position j in slot j % n_cache as [`kv_store`] wrote it. A ring cache
/// (n_cache below the context) must hold window + n_tokens - 1 positions.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    out: &wgpu::Buffer,
    s: AttentionShape,
    n_cache: u32,
) -> Result<Op, KernelError> {
    s.check(name)?;
    if n_cache == 0 {
        return Err(shape_err(name, "empty KV cache"));
    }
    let width = s.n_heads * s.head_dim;
    let params = Params {
        n_heads: s.n_heads,
        n_kv_heads: s.n_kv_heads,
        head_dim: s.head_dim,
        q_stride: width,
        kv_dim: s.kv_dim(),
        out_stride: width,
        window: s.window,
        scale: s.scale,
        n_cache,
        _pad: [0; 3],
    };
    Ok(OpBuilder::new(ctx, name, "attention.wgsl", "attention", base_defines().u32("MAX_HEAD_DIM", MAX_HEAD_DIM))
        .params(&params)
        .buffer(q)
        .buffer(k_cache)
        .buffer(v_cache)
        .buffer(out)
        .dispatch(Extent::Fixed(s.n_heads), Extent::Tokens { per_group: 1 }, Extent::Fixed(1))
        .build(step)?)
}
