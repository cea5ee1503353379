//! Causal depthwise conv1d with a rolling state (`shaders/ssm_conv.wgsl`):
//! LFM2's gated short conv and the conv in front of Qwen3.5's Gated DeltaNet.

use super::{base_defines, groups, shape_err, KernelError, Rows};
use crate::gpu::{Extent, GpuContext, Op, OpBuilder};

/// Most taps (`shortconv.l_cache`, `ssm.conv_kernel`) the kernel holds: the
/// models use 3 (LFM2) and 4 (Qwen3.5).
pub const MAX_CONV_TAPS: u32 = 8;

/// What surrounds the convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvGating {
    /// LFM2 (`build_shortconv_block`): the input row is the in_proj output
    /// [b | c | x] (3 · channels); the conv runs over u = b ⊙ x and the output
    /// is c ⊙ y.
    ShortConv,
    /// Qwen3.5 (`build_layer_attn_linear`): the input row is u (channels)
    /// and the output is silu(y).
    Silu,
}

#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    /// C: the conv's channels (LFM2: n_embd; Qwen3.5: 2 · n_k_heads · head_k_dim + n_v_heads · head_v_dim).
    pub channels: u32,
    /// L: taps per channel, the GGUF conv weight's first dimension.
    pub taps: u32,
    pub gating: ConvGating,
}

impl ConvShape {
    /// f32 of one token's input row the kernel reads: 3C or C.
    pub fn input_width(&self) -> u64 {
        match self.gating {
            ConvGating::ShortConv => 3 * self.channels as u64,
            ConvGating::Silu => self.channels as u64,
        }
    }

    /// f32 of the rolling state: (L − 1, C).
    pub fn state_len(&self) -> u64 {
        (self.taps as u64).saturating_sub(1) * self.channels as u64
    }

    pub(crate) fn check(&self, op: &str) -> Result<(), KernelError> {
        // One invocation per channel, within WebGPU's 65535 workgroups along x.
        let max_channels = 65535 * super::WG_SIZE;
        if self.channels == 0 || self.channels > max_channels || !(2..=MAX_CONV_TAPS).contains(&self.taps) {
            return Err(shape_err(op, format!("{self:?}: needs 1..={max_channels} channels and 2..={MAX_CONV_TAPS} taps")));
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    channels: u32,
    in_offset: u32,
    in_stride: u32,
    _pad: u32,
}

/// The conv of one step (ggml_ssm_conv, as llama.cpp's
/// `src/models/lfm2.cpp` build_shortconv_block and
/// `src/models/delta-net-base.cpp` build_conv_state use it): with
/// u_ext = [state; u], y[t, c] = Σ_{j<L} weight[c, j] · u_ext[t + j, c], and
/// afterwards `state` holds u_ext's last L − 1 rows (also when the step has
/// fewer tokens than that). A step at position 0 (`Step::pos0`) starts from a
/// zero state whatever the buffer holds: a new sequence needs no clearing.
///
/// - `input`: (n_tokens, ≥ offset + [`ConvShape::input_width`]) f32: [b | c | x] for
///   [`ConvGating::ShortConv`], u for [`ConvGating::Silu`].
/// - `weight`: (C, L) f32, the GGUF `shortconv.conv.weight` / `ssm_conv1d.weight` (dims {L, C}).
/// - `state`: (L − 1, C) f32, read and written: the previous L − 1 inputs u, oldest first.
/// - `out`: (n_tokens, C) f32: c ⊙ y, or silu(y).
///
/// One dispatch, an invocation per channel scanning the step's tokens.
/// Errors: [`KernelError::Shape`] for taps outside 2..=[`MAX_CONV_TAPS`], an
/// input row that does not fit its stride or buffer, or a weight, state or
/// output buffer smaller than the shape.
#[allow(clippy::too_many_arguments)]
pub fn ssm_conv(ctx: &GpuContext, step: &wgpu::Buffer, name: &str, input: Rows<'_>, weight: &wgpu::Buffer, state: &wgpu::Buffer, out: &wgpu::Buffer, s: ConvShape) -> Result<Op, KernelError> {
    s.check(name)?;
    let c = s.channels as u64;
    if !input.holds(s.input_width()) || weight.size() < c * s.taps as u64 * 4 || state.size() < s.state_len() * 4 || out.size() < c * 4 {
        return Err(shape_err(
            name,
            format!(
                "{s:?}: input offset {} stride {} ({} bytes), weight {} bytes, state {} bytes, out {} bytes",
                input.offset,
                input.stride,
                input.buffer.size(),
                weight.size(),
                state.size(),
                out.size()
            ),
        ));
    }
    let params = Params { channels: s.channels, in_offset: input.offset, in_stride: input.stride, _pad: 0 };
    let defines = base_defines().u32("TAPS", s.taps).flag_if("SHORT_CONV", s.gating == ConvGating::ShortConv);
    Ok(OpBuilder::new(ctx, name, "ssm_conv.wgsl", "ssm_conv", defines)
        .params(&params)
        .buffer(input.buffer)
        .buffer(weight)
        .buffer(state)
        .buffer(out)
        .dispatch(Extent::Fixed(groups(c)), Extent::Fixed(1), Extent::Fixed(1))
        .build(step)?)
}
