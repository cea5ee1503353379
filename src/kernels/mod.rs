//! One thin wrapper per shader family: shape checks, defines, parameter
//! blocks and dispatch sizes. Each returns [`Op`]s ready to replay.

mod attention;
mod attention_lanes;
mod delta_net;
mod elementwise;
mod heads;
mod embed;
mod flash_attention;
mod fused;
mod gemm;
mod matvec;
mod norm;
mod pending;
mod per_layer;
mod rope;
mod rows;
mod sample;
mod ssm_conv;

pub use attention::{attention, attention_gqa_limit, attention_shared_bytes, head_dim_capacity, heads_per_group, kv_store, max_splits as attention_max_splits, split_rule, AttentionShape, MAX_HEAD_DIM, SPLIT_MIN_SPAN, SPLIT_PER};

/// Largest head dimension the attention kernel supports.
pub fn attention_max_head_dim() -> u32 {
    MAX_HEAD_DIM
}
pub use elementwise::{activation, add, bias_add, gated_activation, scale_by, softcap, GateActivation};
pub use embed::{embed, embed_rows, EmbedRows};
pub use heads::{copy_heads, sigmoid_gate_heads, HeadLayout};
pub use attention_lanes::{attention_position_lanes, position_lane_heads, position_lanes_shared_bytes, position_lanes_take};
pub use flash_attention::{flash_attention, FlashTile, FLASH_DIMS_PER_LANE, FLASH_LANE_BLOCK, FLASH_LANE_MAX_HEAD_DIM, FLASH_LANE_TOKENS, FLASH_MAX_KV_BLOCK, FLASH_MAX_THREADS, FLASH_SHARED_BYTES};
pub use gemm::{gemm, gemm_segment, GEMM_ROWS, GEMM_TOKENS, LANE_GEMM_LANES, LANE_GEMM_ROWS, LANE_GEMM_TOKENS};
pub use fused::{attn_qkv, ffn_gate_up, norm_projections, qkv_shared_bytes, qkv_tokens_per_group, QkvShape, QkvVectors, MAX_NORM_PROJECTIONS, QKV_SHARED_BYTES};
pub use matvec::{matvec, matvec_folded, MatvecFold, MatvecOut, TOKENS_PER_GROUP};
pub use norm::{layernorm, rmsnorm, rmsnorm_add, rmsnorm_in_place};
pub use pending::PendingNorm;
pub use per_layer::{per_layer, per_layer_fits, PER_LAYER_SHARED_BYTES};
pub use rope::{rope, RopeLayout, RopeShape};
pub use delta_net::{gated_delta_net, DeltaNetGates, DeltaNetParams, DeltaNetShape, GatedNorm, DELTA_NET_MAX_HEAD_DIM};
pub use rows::Rows;
pub use ssm_conv::{ssm_conv, ConvGating, ConvShape, MAX_CONV_TAPS};
pub use sample::{adjustments, argmax, penalty_counts, sample, sample_with_probs, Adjusted, SampleInputs, SampleParams, MAX_ADJUSTED};

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

/// The weight formats the kernels read: `(type, flag, kind)`. The flag
/// compiles in its `common/quant.wgsl` block; the kind is the `K_*` constant
/// (this table's index) that `load_chunk_of` dispatches on.
const WEIGHT_FORMATS: [(GgmlType, &str); 15] = [
    (GgmlType::F32, "F32"),
    (GgmlType::F16, "F16"),
    (GgmlType::BF16, "BF16"),
    (GgmlType::Q8_0, "Q8_0"),
    (GgmlType::Q4_0, "Q4_0"),
    (GgmlType::Q4_1, "Q4_1"),
    (GgmlType::Q5_0, "Q5_0"),
    (GgmlType::Q5_1, "Q5_1"),
    (GgmlType::Q6K, "Q6_K"),
    (GgmlType::Q2K, "Q2_K"),
    (GgmlType::Q3K, "Q3_K"),
    (GgmlType::Q4K, "Q4_K"),
    (GgmlType::Q5K, "Q5_K"),
    (GgmlType::IQ4NL, "IQ4_NL"),
    (GgmlType::IQ4XS, "IQ4_XS"),
];

fn weight_format(ty: GgmlType) -> Option<(u32, &'static str)> {
    WEIGHT_FORMATS.iter().position(|(t, _)| *t == ty).map(|i| (i as u32, WEIGHT_FORMATS[i].1))
}

/// The `kind` a kernel passes to `load_chunk_of` for weights of `ty`.
pub(crate) fn weight_kind(op: &str, ty: GgmlType) -> Result<u32, KernelError> {
    weight_format(ty).map(|(k, _)| k).ok_or_else(|| KernelError::UnsupportedType { op: op.to_string(), ty })
}

/// Whether the GPU kernels can read weights of this type.
pub fn gpu_supports(ty: GgmlType) -> bool {
    weight_format(ty).is_some()
}

/// Defines that compile in the dequantizers of `types` (their `W_*` flags and
/// `K_*` kind constants), plus `W_KIND` when there is a single type.
pub(crate) fn weight_defines(op: &str, types: &[GgmlType]) -> Result<Defines, KernelError> {
    let mut d = base_defines();
    for &ty in types {
        let (kind, name) = weight_format(ty).ok_or_else(|| KernelError::UnsupportedType { op: op.to_string(), ty })?;
        d = d.flag(&format!("W_{name}")).u32(&format!("K_{name}"), kind);
    }
    if let [ty] = types {
        d = d.u32("W_KIND", weight_kind(op, *ty)?);
    }
    Ok(d)
}

/// Most bindings of one weight tensor a kernel reads in one dispatch
/// (`common/weight_parts.wgsl`); a tensor split into more takes several ops.
pub const MAX_WEIGHT_PARTS: usize = 4;

/// The parts of a split tensor `w` in groups one op reads: each group's
/// buffers, its first row, its row count, the defines naming the extra
/// bindings, and `part_start` (first row of each part relative to the group's;
/// unused parts u32::MAX).
pub(crate) struct PartGroup<'a> {
    pub buffers: Vec<&'a wgpu::Buffer>,
    pub row_start: u64,
    pub rows: u64,
    pub part_start: [u32; 4],
}

pub(crate) fn part_groups(w: &crate::gpu::GpuTensor) -> Vec<PartGroup<'_>> {
    w.parts
        .chunks(MAX_WEIGHT_PARTS)
        .map(|chunk| {
            let row_start = chunk[0].row_start;
            let mut part_start = [u32::MAX; 4];
            for (i, p) in chunk.iter().enumerate() {
                part_start[i] = (p.row_start - row_start) as u32;
            }
            PartGroup { buffers: chunk.iter().map(|p| &p.buffer).collect(), row_start, rows: chunk.iter().map(|p| p.rows).sum(), part_start }
        })
        .collect()
}

impl PartGroup<'_> {
    /// `W_PART1..` for the extra bindings.
    pub fn defines(&self, d: Defines) -> Defines {
        (1..self.buffers.len()).fold(d, |d, i| d.flag(&format!("W_PART{i}")))
    }

    /// Binds the extra parts at 6, 7, 8 (`common/weight_parts.wgsl`).
    pub fn bind_extra<'a>(&self, mut b: crate::gpu::OpBuilder<'a>) -> crate::gpu::OpBuilder<'a>
    where
        Self: 'a,
    {
        for (i, buf) in self.buffers.iter().enumerate().skip(1) {
            b = b.buffer_at(5 + i as u32, buf);
        }
        b
    }
}

/// Parameter blocks are `#[repr(C)]` structs of 4-byte fields, padded to 16 bytes.
pub(crate) fn groups(n: u64) -> u32 {
    n.div_ceil(WG_SIZE as u64) as u32
}
