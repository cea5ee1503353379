//! The CPU backend: the same forward pass as the GPU's (`model::record_body`)
//! run on host memory, for browsers without a usable WebGPU adapter and for
//! software adapters, where the CPU is faster. Weights stay in their GGUF
//! blocks; matmuls quantize activations per block and take integer dot
//! products (`matmul`); attention reads an f16 KV cache (`attention`); the
//! other ops are f32 (`ops`).

pub mod attention;
#[cfg(target_arch = "wasm32")]
pub mod bridge;
mod forward;
pub mod matmul;
pub mod ops;
pub mod pool;
pub mod recurrent;
mod tensor;
pub mod threads;

pub use forward::{CpuForward, CpuOp, CpuWeight};
pub use tensor::CpuTensor;
pub use threads::{CpuThreads, WeightHandle};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuError {
    #[error("{what} needs {bytes} bytes, which this host could not allocate")]
    OutOfMemory { what: String, bytes: u64 },
    #[error("bad shape: {0}")]
    Shape(String),
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
    #[error(transparent)]
    Matmul(#[from] matmul::MatmulError),
    #[error(transparent)]
    Attention(#[from] attention::AttentionError),
    #[error(transparent)]
    Threads(#[from] pool::PoolError),
    /// The shared memory of the threads (the browser's kernels module) refused an operation.
    #[error("the CPU threads' memory: {0}")]
    SharedMemory(String),
}

/// Browser: lets the worker's event loop run (an abort message, a progress
/// post) between CPU steps, which otherwise never give it back: a task
/// posted through a MessageChannel, which (unlike setTimeout) is not
/// clamped to 4 ms when nested.
#[cfg(target_arch = "wasm32")]
pub async fn yield_to_event_loop() {
    #[wasm_bindgen::prelude::wasm_bindgen(inline_js = "export function tabllm_next_task() { return new Promise((resolve) => { const ch = new MessageChannel(); ch.port1.onmessage = () => { ch.port1.close(); resolve(); }; ch.port2.postMessage(0); }); }")]
    extern "C" {
        fn tabllm_next_task() -> js_sys::Promise;
    }
    let _ = wasm_bindgen_futures::JsFuture::from(tabllm_next_task()).await;
}
