//! Flash attention for steps of several tokens (`shaders/flash_attention.wgsl`):
//! the result of [`attention`](fn@super::attention) for a prefill step, with each
//! workgroup serving a tile of consecutive tokens so that every K and V row is
//! read from the cache once per tile rather than once per token.
//!
//! Meant for prefill. It is correct for one token too, but then only that
//! token's rows of the tile work, and a long span is not split across
//! workgroups as `attention`'s decode path splits it.

use super::attention::{divisor_within, AttentionShape, Params};
use super::{shape_err, KernelError};
use crate::gpu::{Defines, Extent, GpuContext, Op, OpBuilder, PrefillKernels};

/// Most invocations in one workgroup: WebGPU's guaranteed
/// `maxComputeInvocationsPerWorkgroup`.
pub const FLASH_MAX_THREADS: u32 = 256;
/// Head dims each invocation holds of its query row and of its output (the
/// row's dims are spread over lanes of at most this many each).
pub const FLASH_DIMS_PER_LANE: u32 = 16;
/// Workgroup memory one tile may use: WebGPU's guaranteed
/// `maxComputeWorkgroupStorageSize`.
pub const FLASH_SHARED_BYTES: u32 = 16384;
/// Invocations per workgroup of the token-lanes variant (`FL_LANES`): one
/// SIMD vector of 32-bit lanes on an AVX2 host, one token each.
pub const FLASH_LANE_TOKENS: u32 = 8;
/// Largest head dim the token-lanes variant takes (a larger one runs the
/// tiled kernel): at head dim 256 it went wrong on lavapipe past about 700
/// positions (0.2 % off at 900, with 64 + 64 vec4 of registers per lane),
/// which 64 and 128 do not at 2100 and 1500 (`kernel_flash_attention`).
pub const FLASH_LANE_MAX_HEAD_DIM: u32 = 128;
/// Positions the token-lanes variant scores before each online-softmax
/// rescale (`FL_BLOCK`).
pub const FLASH_LANE_BLOCK: u32 = 8;

/// Most positions staged in workgroup memory at a time (each invocation keeps
/// that many scores in registers).
pub const FLASH_MAX_KV_BLOCK: u32 = 16;

/// How one workgroup divides its work; every field is injected into the
/// shader as the define named in brackets. A workgroup serves `heads` query
/// heads (sharing one KV head) for `tokens` consecutive tokens: rows =
/// heads x tokens query rows, each held by `lanes` invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlashTile {
    /// Head dimension (`HEAD_DIM`).
    pub head_dim: u32,
    /// Invocations per query row (`LANES`), a power of two.
    pub lanes: u32,
    /// Dims of the row each invocation holds (`DPL`), whole vec4s: lanes x
    /// dims_per_lane >= head_dim.
    pub dims_per_lane: u32,
    /// Query heads per workgroup (`HEADS`), a divisor of n_heads / n_kv_heads.
    pub heads: u32,
    /// Consecutive tokens per workgroup (`TILE`): the grid's step along tokens.
    pub tokens: u32,
    /// Positions of K and V staged in workgroup memory at a time (`KV_BLOCK`).
    pub kv_block: u32,
}

impl FlashTile {
    /// The tile for `s`: dims spread over the fewest power-of-two lanes that
    /// hold at most [`FLASH_DIMS_PER_LANE`] each (rounded up to whole vec4s,
    /// the pad dims zero); as many rows as [`FLASH_MAX_THREADS`] allows,
    /// taken as the most heads of one KV group that fit, then as many tokens;
    /// the largest K/V block (up to [`FLASH_MAX_KV_BLOCK`]) whose K, V and
    /// partial scores fit [`FLASH_SHARED_BYTES`]. SmolLM2 (9 / 3 heads of 64):
    /// 4 lanes, 3 heads x 21 tokens, 10 positions, 15200 bytes; Gemma 3 1B
    /// (4 / 1 of 256): 16 lanes, 4 heads x 4 tokens, 5 positions, 15360 bytes;
    /// Gemma 4 E2B's full layers (8 / 1 of 512): 32 lanes, 8 heads x 1 token,
    /// 3 positions, 15360 bytes.
    pub fn for_shape(s: &AttentionShape) -> Self {
        let head_dim = s.head_dim.max(1);
        let lanes = head_dim.div_ceil(FLASH_DIMS_PER_LANE).next_power_of_two();
        let dims_per_lane = head_dim.div_ceil(lanes).next_multiple_of(4);
        let rows = FLASH_MAX_THREADS / lanes;
        let heads = divisor_within(s.n_heads / s.n_kv_heads.max(1), rows);
        let tokens = rows / heads;
        let tile = |kv_block| FlashTile { head_dim, lanes, dims_per_lane, heads, tokens, kv_block };
        (1..=FLASH_MAX_KV_BLOCK).rev().map(tile).find(|t| t.shared_bytes() <= FLASH_SHARED_BYTES).unwrap_or(tile(1))
    }

    /// Invocations per workgroup (`THREADS`).
    pub fn threads(&self) -> u32 {
        self.tokens * self.heads * self.lanes
    }

    /// Workgroup memory: K and V blocks (kv_block, lanes x dims_per_lane) and
    /// one partial score per invocation and staged position, all f32, each
    /// array rounded up to 16 bytes (as browsers count it).
    pub fn shared_bytes(&self) -> u32 {
        let kv = 4 * self.kv_block * self.lanes * self.dims_per_lane;
        let part = 4 * self.kv_block * self.threads();
        2 * kv.next_multiple_of(16) + part.next_multiple_of(16)
    }

    fn defines(&self) -> Defines {
        Defines::new()
            .u32("HEAD_DIM", self.head_dim)
            .u32("LANES", self.lanes)
            .u32("DPL", self.dims_per_lane)
            .u32("HEADS", self.heads)
            .u32("TILE", self.tokens)
            .u32("KV_BLOCK", self.kv_block)
            .u32("THREADS", self.threads())
    }
}

/// out[t, h] = softmax(q[t, h] · K[start..=pos0+t]) V for every head of the
/// step's tokens, as [`attention`](fn@super::attention) computes it (same
/// buffers and shape conventions), for steps of any number of tokens.
///
/// q, out: (n_tokens, n_heads * head_dim) f32; k_cache, v_cache: (n_cache,
/// kv_dim) of the context's KV element type (f16 with shader-f16, else f32),
/// position j in slot j % n_cache as [`kv_store`](super::kv_store) wrote it;
/// a ring cache (n_cache below the context) must hold window + n_tokens - 1
/// positions.
///
/// Grid (tiled, `PrefillKernels::Tiled`): x = n_heads / [`FlashTile::heads`]
/// (head groups, each within one KV head), y = ceil(n_tokens /
/// [`FlashTile::tokens`]) (token tiles). Token lanes
/// (`PrefillKernels::TokenLanes`, head_dim a multiple of 8 up to
/// [`FLASH_LANE_MAX_HEAD_DIM`]; otherwise the tiled kernel): x = n_heads,
/// y = ceil(n_tokens / [`FLASH_LANE_TOKENS`]).
#[allow(clippy::too_many_arguments)]
pub fn flash_attention(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    out: &wgpu::Buffer,
    shape: AttentionShape,
    n_cache: u32,
) -> Result<Op, KernelError> {
    shape.check(name)?;
    check_cache(ctx, name, k_cache, v_cache, &shape, n_cache)?;
    if token_lanes_take(ctx, &shape) {
        return token_lanes(ctx, step, name, [q, k_cache, v_cache, out], shape, n_cache);
    }
    let tile = FlashTile::for_shape(&shape);
    if tile.threads() > FLASH_MAX_THREADS || tile.shared_bytes() > FLASH_SHARED_BYTES {
        return Err(shape_err(name, format!("{tile:?} exceeds the workgroup limits")));
    }
    Ok(OpBuilder::new(ctx, name, "flash_attention.wgsl", "flash_attention", tile.defines())
        .params(&Params::new(&shape, n_cache, 0))
        .buffer(q)
        .buffer(k_cache)
        .buffer(v_cache)
        .buffer(out)
        .dispatch(Extent::Fixed(shape.n_heads / tile.heads), Extent::Tokens { per_group: tile.tokens }, Extent::Fixed(1))
        .build(step)?)
}

/// Whether the token-lanes kernel serves `shape` here: a CPU adapter's
/// layout, K and V rows in whole 8-dim (16-byte) loads, head dim within
/// [`FLASH_LANE_MAX_HEAD_DIM`].
fn token_lanes_take(ctx: &GpuContext, shape: &AttentionShape) -> bool {
    ctx.prefill_kernels == PrefillKernels::TokenLanes && shape.head_dim % 8 == 0 && shape.head_dim <= FLASH_LANE_MAX_HEAD_DIM
}

/// The token-lanes flash kernel: one query head and FLASH_LANE_TOKENS tokens per workgroup.
fn token_lanes(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, bufs: [&wgpu::Buffer; 4], shape: AttentionShape, n_cache: u32) -> Result<Op, KernelError> {
    let [q, k_cache, v_cache, out] = bufs;
    let defines = Defines::new().u32("HEAD_DIM", shape.head_dim).u32("FL_LANES", FLASH_LANE_TOKENS).u32("FL_BLOCK", FLASH_LANE_BLOCK);
    Ok(OpBuilder::new(ctx, name, "flash_attention_token_lanes.wgsl", "flash_attention_token_lanes", defines)
        .params(&Params::new(&shape, n_cache, 0))
        .buffer(q)
        .buffer(k_cache)
        .buffer(v_cache)
        .buffer(out)
        .dispatch(Extent::Fixed(shape.n_heads), Extent::Tokens { per_group: FLASH_LANE_TOKENS }, Extent::Fixed(1))
        .build(step)?)
}

/// The caches hold `n_cache` slots (at least one) of the shape's kv_dim elements.
pub(super) fn check_cache(ctx: &GpuContext, name: &str, k_cache: &wgpu::Buffer, v_cache: &wgpu::Buffer, shape: &AttentionShape, n_cache: u32) -> Result<(), KernelError> {
    if n_cache == 0 {
        return Err(shape_err(name, "empty KV cache"));
    }
    let kv_bytes = if ctx.has_f16() { 2 } else { 4 };
    let cache_bytes = n_cache as u64 * shape.kv_dim() as u64 * kv_bytes;
    for (what, buf) in [("k_cache", k_cache), ("v_cache", v_cache)] {
        if buf.size() < cache_bytes {
            return Err(shape_err(name, format!("{what} of {} bytes, {cache_bytes} needed for {n_cache} slots", buf.size())));
        }
    }
    Ok(())
}
