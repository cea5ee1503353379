//! Gated DeltaNet with its gated RMSNorm (`shaders/gated_delta_net.wgsl`):
//! the recurrent core of Qwen3.5's linear-attention layers.

use super::{base_defines, shape_err, KernelError, Rows};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

/// Largest head_k_dim / head_v_dim the kernel takes: a state row of
/// head_k_dim f32 per invocation, head_v_dim invocations per workgroup
/// (WebGPU guarantees 256). Qwen3.5 uses 128.
pub const DELTA_NET_MAX_HEAD_DIM: u32 = 256;

#[derive(Clone, Copy, Debug)]
pub struct DeltaNetShape {
    /// Key (and query) heads: `ssm.group_count`.
    pub n_k_heads: u32,
    /// Value heads: `ssm.time_step_rank`; a multiple of n_k_heads.
    pub n_v_heads: u32,
    /// `ssm.state_size`.
    pub head_k_dim: u32,
    /// `ssm.inner_size` / n_v_heads (equal to head_k_dim in llama.cpp's models).
    pub head_v_dim: u32,
    /// Epsilon of the q and k L2 norms: the model's RMS norm epsilon
    /// (llama.cpp `build_gdn_l2_norm(x, f_norm_rms_eps)`).
    pub eps: f32,
}

impl DeltaNetShape {
    /// f32 of one token's [q | k | v] row: 2 · n_k_heads · head_k_dim + n_v_heads · head_v_dim
    /// (the conv's channels).
    pub fn qkv_width(&self) -> u64 {
        2 * self.n_k_heads as u64 * self.head_k_dim as u64 + self.n_v_heads as u64 * self.head_v_dim as u64
    }

    /// f32 of one token's output (and of z): n_v_heads · head_v_dim.
    pub fn out_width(&self) -> u64 {
        self.n_v_heads as u64 * self.head_v_dim as u64
    }

    /// f32 of the state: (n_v_heads, head_v_dim, head_k_dim).
    pub fn state_len(&self) -> u64 {
        self.out_width() * self.head_k_dim as u64
    }

    pub(crate) fn check(&self, op: &str, max_group: u32) -> Result<(), KernelError> {
        let max_v = DELTA_NET_MAX_HEAD_DIM.min(max_group);
        let ok = self.n_k_heads > 0
            && self.n_v_heads % self.n_k_heads == 0
            && (1..=65535).contains(&self.n_v_heads)
            && (1..=DELTA_NET_MAX_HEAD_DIM).contains(&self.head_k_dim)
            && (1..=max_v).contains(&self.head_v_dim)
            && self.eps.is_finite()
            && self.eps >= 0.0;
        if !ok {
            return Err(shape_err(op, format!("{self:?}: needs n_v_heads a multiple of n_k_heads, head_k_dim 1..={DELTA_NET_MAX_HEAD_DIM}, head_v_dim 1..={max_v}, eps >= 0")));
        }
        Ok(())
    }
}

/// The alpha and beta projections (n_tokens, n_v_heads) each, side by side
/// in one buffer (one binding for both keeps the kernel within WebGPU's 8
/// storage buffers): alpha (t, h) is f32 number `alpha_offset + t · stride + h`,
/// beta (t, h) `beta_offset + t · stride + h`.
#[derive(Clone, Copy, Debug)]
pub struct DeltaNetGates<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub stride: u32,
    pub alpha_offset: u32,
    pub beta_offset: u32,
}

/// The layer's per-head gate parameters, (n_v_heads) f32 each.
#[derive(Clone, Copy, Debug)]
pub struct DeltaNetParams<'a> {
    /// `ssm_dt.bias`: added to alpha before the softplus.
    pub dt_bias: &'a wgpu::Buffer,
    /// `ssm_a`: −exp(A_log), as the converter stores it (already negated).
    pub ssm_a: &'a wgpu::Buffer,
}

/// The gated RMSNorm folded into the output (Qwen3.5 `build_norm_gated`).
#[derive(Clone, Copy, Debug)]
pub struct GatedNorm<'a> {
    /// z: (n_tokens, n_v_heads · head_v_dim) f32, the `attn_gate` projection.
    pub z: Rows<'a>,
    /// `ssm_norm.weight`: (head_v_dim) f32, shared by the heads.
    pub weight: &'a wgpu::Buffer,
    /// The model's RMS norm epsilon.
    pub eps: f32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_k_heads: u32,
    n_v_heads: u32,
    qkv_offset: u32,
    qkv_stride: u32,
    gate_stride: u32,
    alpha_offset: u32,
    beta_offset: u32,
    z_offset: u32,
    z_stride: u32,
    eps: f32,
    norm_eps: f32,
    scale: f32,
}

/// One step of the gated delta rule for every value head (llama.cpp
/// `ggml_gated_delta_net` with one gate per head, as
/// `src/models/qwen35.cpp` build_layer_attn_linear and
/// `src/models/delta-net-base.cpp` build it; ggml-cpu `ops.cpp` for the
/// arithmetic). For value head h, key head h mod n_k_heads, and each token t
/// in order:
/// q = q̂ / √head_k_dim and k = k̂ with x̂ = x / √(|x|² + eps);
/// g = exp(softplus(alpha + dt_bias[h]) · ssm_a[h]); β = sigmoid(beta);
/// S ← g·S; d = β(v − S k); S ← S + d kᵀ; o = S q. With `norm`,
/// o ← rmsnorm(o) · weight · silu(z) per head.
///
/// - `qkv`: (n_tokens, ≥ offset + [`DeltaNetShape::qkv_width`]) f32, the conv
///   output [q (n_k_heads, head_k_dim) | k (same) | v (n_v_heads, head_v_dim)].
/// - `state`: (n_v_heads, head_v_dim, head_k_dim) f32, read and written:
///   S_h[j, i] at (h · head_v_dim + j) · head_k_dim + i (ggml's layout); zeros
///   before a sequence's first step.
/// - `out`: (n_tokens, n_v_heads · head_v_dim) f32.
///
/// One dispatch: a workgroup of head_v_dim invocations per value head, each
/// holding one state row and scanning the step's tokens in order.
/// Errors: [`KernelError::Shape`] for a shape [`DeltaNetShape`] rejects, an
/// input row that does not fit its stride or buffer, or a state, parameter or
/// output buffer smaller than the shape.
#[allow(clippy::too_many_arguments)]
pub fn gated_delta_net(
    ctx: &GpuContext,
    step: &wgpu::Buffer,
    name: &str,
    qkv: Rows<'_>,
    gates: DeltaNetGates<'_>,
    params: DeltaNetParams<'_>,
    state: &wgpu::Buffer,
    out: &wgpu::Buffer,
    s: DeltaNetShape,
    norm: Option<GatedNorm<'_>>,
) -> Result<Op, KernelError> {
    s.check(name, ctx.limits.max_compute_invocations_per_workgroup.min(ctx.limits.max_compute_workgroup_size_x))?;
    let n_v = s.n_v_heads as u64;
    let gate_rows = |offset: u32| Rows { buffer: gates.buffer, offset, stride: gates.stride };
    let fits = qkv.holds(s.qkv_width())
        && gate_rows(gates.alpha_offset).holds(n_v)
        && gate_rows(gates.beta_offset).holds(n_v)
        && params.dt_bias.size() >= n_v * 4
        && params.ssm_a.size() >= n_v * 4
        && state.size() >= s.state_len() * 4
        && out.size() >= s.out_width() * 4
        && norm.is_none_or(|n| n.z.holds(s.out_width()) && n.weight.size() >= s.head_v_dim as u64 * 4 && n.eps.is_finite() && n.eps >= 0.0);
    if !fits {
        return Err(shape_err(name, format!("{s:?}: qkv {qkv:?}, gates {gates:?}, state {} bytes, out {} bytes, norm {norm:?}", state.size(), out.size())));
    }
    let p = Params {
        n_k_heads: s.n_k_heads,
        n_v_heads: s.n_v_heads,
        qkv_offset: qkv.offset,
        qkv_stride: qkv.stride,
        gate_stride: gates.stride,
        alpha_offset: gates.alpha_offset,
        beta_offset: gates.beta_offset,
        z_offset: norm.map_or(0, |n| n.z.offset),
        z_stride: norm.map_or(0, |n| n.z.stride),
        eps: s.eps,
        norm_eps: norm.map_or(0.0, |n| n.eps),
        scale: 1.0 / (s.head_k_dim as f32).sqrt(),
    };
    let defines = base_defines().u32("HEAD_K", s.head_k_dim).u32("HEAD_V", s.head_v_dim).flag_if("GATED_NORM", norm.is_some());
    let mut b = OpBuilder::new(ctx, name, "gated_delta_net.wgsl", "gated_delta_net", defines)
        .params(&p)
        .buffer(qkv.buffer)
        .buffer(gates.buffer)
        .buffer(params.dt_bias)
        .buffer(params.ssm_a)
        .buffer(state)
        .buffer(out);
    if let Some(n) = norm {
        b = b.buffer(n.z.buffer).buffer(n.weight);
    }
    Ok(b.dispatch(Extent::Fixed(s.n_v_heads), Extent::Fixed(1), Extent::Fixed(1)).build(step)?)
}
