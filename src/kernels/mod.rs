//! One thin wrapper per shader family: shape checks, defines, parameter
//! blocks and dispatch sizes. Each returns [`Op`]s ready to replay.

mod attention;
mod elementwise;
mod embed;
mod matvec;
mod norm;
mod rope;
mod sample;

pub use attention::{attention, kv_store, AttentionShape, MAX_HEAD_DIM};

/// Largest head dimension the attention kernel supports.
pub fn attention_max_head_dim() -> u32 {
    MAX_HEAD_DIM
}
pub use elementwise::{add, bias_add, gated_activation, softcap, GateActivation};
pub use embed::embed;
pub use matvec::{matvec, MatvecOut};
pub use norm::{rmsnorm, rmsnorm_in_place};
pub use rope::{rope, RopeLayout, RopeShape};
pub use sample::{argmax, penalty_counts, sample, sample_with_probs, SampleInputs, SampleParams, MAX_PENALIZED};

use crate::gpu::{Defines, GpuError};
use crate::quant::GgmlType;

/// Threads per workgroup for every kernel (`WG_SIZE` in the shaders).
pub const WG_SIZE: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{op}: bad shape: {detail}")]
    Shape { op: String, detail: String },
    #[error("{op}: weights of type {ty} are not supported on the GPU")]
    UnsupportedType { op: String, ty: GgmlType },
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

pub(crate) fn shape_err(op: &str, detail: impl Into<String>) -> KernelError {
    KernelError::Shape { op: op.to_string(), detail: detail.into() }
}

pub(crate) fn base_defines() -> Defines {
    Defines::new().u32("WG_SIZE", WG_SIZE)
}

/// The `common/quant.wgsl` block that dequantizes `ty`.
pub fn weight_define(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::F32 => "W_F32",
        GgmlType::F16 => "W_F16",
        GgmlType::BF16 => "W_BF16",
        GgmlType::Q8_0 => "W_Q8_0",
        GgmlType::Q4_0 => "W_Q4_0",
        GgmlType::Q4_1 => "W_Q4_1",
        GgmlType::Q5_0 => "W_Q5_0",
        GgmlType::Q5_1 => "W_Q5_1",
        GgmlType::Q6K => "W_Q6_K",
        GgmlType::Q2K => "W_Q2_K",
        GgmlType::Q3K => "W_Q3_K",
        GgmlType::Q4K => "W_Q4_K",
        GgmlType::Q5K => "W_Q5_K",
        GgmlType::IQ4NL => "W_IQ4_NL",
        GgmlType::IQ4XS => "W_IQ4_XS",
        _ => return None,
    })
}

/// Whether the GPU kernels can read weights of this type.
pub fn gpu_supports(ty: GgmlType) -> bool {
    weight_define(ty).is_some()
}

pub(crate) fn weight_defines(op: &str, ty: GgmlType) -> Result<Defines, KernelError> {
    let d = weight_define(ty).ok_or_else(|| KernelError::UnsupportedType { op: op.to_string(), ty })?;
    Ok(base_defines().flag(d))
}

/// Parameter blocks are `#[repr(C)]` structs of 4-byte fields, padded to 16 bytes.
pub(crate) fn groups(n: u64) -> u32 {
    n.div_ceil(WG_SIZE as u64) as u32
}
