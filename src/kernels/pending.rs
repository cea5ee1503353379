//! A post-norm residual add folded into the next kernel that reads the
//! residual stream (`shaders/common/matvec_x.wgsl`, PENDING): Gemma's
//! post-norms (`x += rmsnorm(W y) · g`, then Gemma 4's layer output scale)
//! leave the projection's output in xb, and the matvec-core kernel that next
//! reads x reads x' = (x + rmsnorm(xb) · g) · scale instead, one workgroup
//! writing x' to another buffer for the ops after it. Two dispatches (the
//! norm-add and the scale) fold into one that runs anyway.

use super::{shape_err, KernelError};
use crate::gpu::{Defines, GpuContext, OpBuilder};

/// The post-norm add a kernel applies to its x before using it.
#[derive(Clone, Copy, Debug)]
pub struct PendingNorm<'a> {
    /// (n_tokens, x_stride) f32: the projection output the post-norm reads.
    pub xb: &'a wgpu::Buffer,
    /// (cols) f32: the post-norm's weight, read as a uniform array: a buffer
    /// with `UNIFORM` usage (F32 tensors, `gpu::activation_buffer`), a
    /// multiple of 16 bytes, within the device's uniform binding size.
    pub norm: &'a wgpu::Buffer,
    /// One f32 (Gemma 4's `layer_output_scale`), read as a uniform vec4: a
    /// buffer of at least 16 bytes with `UNIFORM` usage.
    pub scale: Option<&'a wgpu::Buffer>,
    /// (n_tokens, x_stride) f32: where x' goes (one workgroup per token group
    /// writes it); neither x nor xb. None: x' is used and dropped (the head).
    pub out: Option<&'a wgpu::Buffer>,
    /// The post-norm's epsilon. The shaders use one epsilon for it and a
    /// folded input norm (a model's single `rms_eps`): a kernel with both
    /// refuses two different ones.
    pub eps: f32,
}

impl PendingNorm<'_> {
    /// Checks the buffers against `cols` elements per token of `x`.
    pub(crate) fn check(&self, ctx: &GpuContext, op: &str, x: &wgpu::Buffer, cols: u64, norm_eps: Option<f32>) -> Result<(), KernelError> {
        if norm_eps.is_some_and(|e| e != self.eps) || !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(shape_err(op, format!("a pending post-norm's epsilon {} differs from the input norm's {norm_eps:?}", self.eps)));
        }
        let uniform = |b: &wgpu::Buffer, min: u64| {
            b.usage().contains(wgpu::BufferUsages::UNIFORM) && b.size() >= min && b.size() % 16 == 0 && b.size() <= ctx.limits.max_uniform_buffer_binding_size as u64
        };
        if !uniform(self.norm, cols * 4) || !self.scale.is_none_or(|s| uniform(s, 16)) {
            return Err(shape_err(op, format!("a pending post-norm's weight ({} bytes) or scale must be uniform buffers of at least {} and 16 bytes", self.norm.size(), cols * 4)));
        }
        if self.xb.size() < cols * 4 || self.out.is_some_and(|o| o == x || o == self.xb || o.size() < x.size().min(self.xb.size())) || self.xb == x {
            return Err(shape_err(op, "a pending post-norm writes x' to a buffer of x's size that is neither x nor xb"));
        }
        Ok(())
    }

    /// The shader defines of this fold.
    pub(crate) fn defines(&self, d: Defines) -> Defines {
        d.flag("PENDING").u32("PENDING_G_VECS", (self.norm.size() / 16) as u32).flag_if("PENDING_SCALE", self.scale.is_some()).flag_if("PENDING_OUT", self.out.is_some())
    }

    /// Binds xb, the weight, the scale and x' at 10..13.
    pub(crate) fn bind<'a>(&self, b: OpBuilder<'a>) -> OpBuilder<'a>
    where
        Self: 'a,
    {
        let mut b = b.buffer_at(10, self.xb).buffer_at(11, self.norm);
        if let Some(s) = self.scale {
            b = b.buffer_at(12, s);
        }
        if let Some(o) = self.out {
            b = b.buffer_at(13, o);
        }
        b
    }
}

/// `defines` with the fold's flags, when there is one.
pub(crate) fn with_pending(d: Defines, pending: Option<&PendingNorm<'_>>) -> Defines {
    match pending {
        Some(pn) => pn.defines(d),
        None => d,
    }
}
