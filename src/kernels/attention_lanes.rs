//! Attention for the decode op list on CPU adapters
//! (`shaders/attention_position_lanes.wgsl`): the result of
//! [`attention`](fn@super::attention), with the lanes of a workgroup taking
//! the span's positions in turn so that each K and V row is loaded by one
//! lane of a workgroup.
//!
//! Why a separate kernel: lavapipe (and SwiftShader) run a workgroup as one
//! SIMD vector and compile every storage load as a loop over its lanes.
//! `attention.wgsl` reads each cache element with one lane per head dim and
//! its workgroup memory with barriers; the token-lanes flash kernel has every
//! lane load the same row. Here a row costs one lane's 16-byte loads, the
//! queries come from a uniform window (one load for all lanes), and the
//! lanes' online softmaxes merge once at the end. SmolLM2 over 4,000
//! positions on lavapipe: about 2 ms a layer, where the token-lanes kernel
//! (query heads across lanes) took 6.2.

use super::attention::{check_partials, combine, divisor_within, split_rule, AttentionShape, Params, SPLIT_MIN_SPAN, SPLIT_PER};
use super::{shape_err, KernelError};
use crate::gpu::{Defines, Extent, GpuContext, Op, OpBuilder};

/// Invocations per workgroup (`PL_LANES`): one SIMD vector of 32-bit lanes
/// on an AVX2 host, each walking every `PL_LANES`-th position of the span.
pub const POSITION_LANES: u32 = 8;
/// Positions a lane scores before each rescale of its accumulators
/// (`PL_BLOCK`). SmolLM2's shape over 4,000 positions on lavapipe: 8 and 16
/// were about even, 2 about 25 % slower.
pub const POSITION_LANE_BLOCK: u32 = 8;
/// The accumulator f32 per lane (heads per workgroup x head_dim) up to which
/// a workgroup takes several heads of a GQA group, reading each K/V row once
/// for them; above it one head per workgroup, whatever its head_dim, and the
/// group's workgroups each read the KV head's rows. On lavapipe registers
/// cost more than loads: SmolLM2's three heads of 64 in one workgroup took
/// about 2.9 ms a layer at 4,000 positions, one head per workgroup (three
/// times the loads) 1.85 to 2.5 ms.
pub const POSITION_LANE_MAX_ACC: u32 = 64;

/// Accumulator vec4s per lane merged through workgroup memory at a time
/// (`PL_MERGE_VECS`): PL_LANES x 64 vec4 = 8 KiB, half of WebGPU's
/// guaranteed `maxComputeWorkgroupStorageSize`; a head of up to 256 dims
/// merges in one pass, one of 512 (Gemma 4's full layers) in two.
pub const POSITION_LANE_MERGE_VECS: u32 = 64;

/// Workgroup bytes of the kernel at head dim `head_dim`: each lane's max and
/// sum, and the accumulators of one merge pass, each array rounded up to 16
/// bytes as browsers count them.
pub fn position_lanes_shared_bytes(head_dim: u32) -> u32 {
    let vecs = POSITION_LANE_MERGE_VECS.min(head_dim / 4).max(1);
    2 * (4 * POSITION_LANES).next_multiple_of(16) + 16 * POSITION_LANES * vecs
}

/// Query heads per workgroup for `s`: the largest divisor of the GQA group
/// whose accumulators fit [`POSITION_LANE_MAX_ACC`] (at least 1).
pub fn position_lane_heads(s: &AttentionShape) -> u32 {
    divisor_within(s.n_heads / s.n_kv_heads.max(1), (POSITION_LANE_MAX_ACC / s.head_dim.max(1)).max(1))
}

/// Whether this kernel serves `s` on `ctx`: a CPU adapter's layout (the one
/// its prefill kernels take, `PrefillKernels::TokenLanes`) and head_dim a
/// multiple of 8 (K and V rows read in whole 16-byte loads).
pub fn position_lanes_take(ctx: &GpuContext, s: &AttentionShape) -> bool {
    ctx.prefill_kernels == crate::gpu::PrefillKernels::TokenLanes && s.head_dim % 8 == 0
}

/// out[t, h] = softmax(q[t, h] · K[start..=pos0+t]) V for every head of a
/// step of a few tokens (the decode op list), as
/// [`attention`](fn@super::attention) computes it, with the same buffers:
/// q, out (n_tokens, n_heads * head_dim) f32; k_cache, v_cache (n_cache,
/// kv_dim) of the context's KV element type, position j in slot j % n_cache;
/// partials (n_heads, max_splits, head_dim + 2) f32 for a span of up to
/// `n_ctx` positions.
///
/// Returns two ops: the kernel (grid x = n_heads / [`position_lane_heads`],
/// y = the token, or at decode the split of the span by [`split_rule`]) and
/// attention's combine (only dispatched when the span was split). The
/// decode pipeline reads q through a uniform window when q was made by
/// `gpu::activation_buffer` and one token's queries fit the device's
/// uniform binding. Errors: a shape this kernel does not take
/// ([`position_lanes_take`], [`AttentionShape`]'s limits), caches or
/// partials too small.
#[allow(clippy::too_many_arguments)]
pub fn attention_position_lanes(
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
    if s.head_dim % 8 != 0 {
        return Err(shape_err(name, format!("head_dim {} is not a multiple of 8", s.head_dim)));
    }
    super::flash_attention::check_cache(ctx, name, k_cache, v_cache, &s, n_cache)?;
    let max_splits = check_partials(name, partials, &s, n_ctx)?;
    let params = Params::new(&s, n_cache, max_splits);
    let heads = position_lane_heads(&s);
    let defines = Defines::new()
        .u32("HEAD_DIM", s.head_dim)
        .u32("PL_LANES", POSITION_LANES)
        .u32("PL_HEADS", heads)
        .u32("PL_BLOCK", POSITION_LANE_BLOCK)
        .u32("PL_MERGE_VECS", POSITION_LANE_MERGE_VECS.min(s.head_dim / 4))
        .u32("SPLIT_PER", SPLIT_PER)
        .u32("SPLIT_MIN_SPAN", SPLIT_MIN_SPAN);
    let mut b = OpBuilder::new(ctx, name, "attention_position_lanes.wgsl", "attention_position_lanes", defines.clone())
        .params(&params)
        .buffer(q)
        .buffer(k_cache)
        .buffer(v_cache)
        .buffer(out)
        .buffer_at(6, partials)
        .dispatch(Extent::Fixed(s.n_heads / heads), Extent::TokensOrSplits(split_rule(s.window)), Extent::Fixed(1));
    // One token's queries as a uniform window from offset 0 (whole vec4s).
    let q_bytes = (s.n_heads as u64 * s.head_dim as u64 * 4).next_multiple_of(16);
    let window = q.size().min(ctx.limits.max_uniform_buffer_binding_size as u64) / 16 * 16;
    b = if q.usage().contains(wgpu::BufferUsages::UNIFORM) && q_bytes <= window {
        b.decode_uniform(2, window).decode_variant(defines.flag("Q_UNIFORM").u32("Q_UNIFORM_VECS", (window / 16) as u32))
    } else {
        b
    };
    Ok(vec![b.build(step)?, combine(ctx, step, name, out, partials, &params, s)?])
}
