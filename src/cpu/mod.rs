//! The CPU backend: the same forward pass as the GPU's (`model::record_body`)
//! run on host memory, for browsers without a usable WebGPU adapter and for
//! software adapters, where the CPU is faster. Weights stay in their GGUF
//! blocks; matmuls quantize activations per block and take integer dot
//! products (`matmul`); the other ops are f32 (`ops`).

mod forward;
pub mod matmul;
pub mod ops;
mod tensor;

pub use forward::{CpuForward, CpuOp, CpuWeight};
pub use tensor::CpuTensor;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuError {
    #[error("{what} needs {bytes} bytes, which this host could not allocate")]
    OutOfMemory { what: String, bytes: u64 },
    #[error("bad shape: {0}")]
    Shape(String),
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
}
