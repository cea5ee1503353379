//! A model on the GPU: configuration from GGUF metadata, weights streamed into
//! GPU buffers, activations and KV cache allocated once, and the forward pass
//! recorded once as a list of ops and replayed every step.

mod backend;
mod config;
mod forward;
mod loader;
mod record;
mod state;
mod weights;

pub use config::{Arch, DeltaNetDims, DenseProjection, EncoderInput, LayerAttention, LayerPlan, Mixer, ModelConfig, NormPlacement, RopeFactors, TensorView};
pub use backend::{BackendKind, Model};
pub use forward::{GpuForward, Output, PendingStep, PrefillPath, StepInput, StepResult, GEMM_MIN_TOKENS};
pub use loader::{Device, LoadOptions, LoadProgress, ModelLoader, CPU_KV_BYTES_PER_ELEMENT, CPU_WASM32_MAX_BYTES, MAX_BATCH};
pub use state::{cache_layout, Ring};
pub use record::{per_layer_input_composed, record_body, record_head, record_hidden, settle, Act, ActRows, HeadFold, Pass, PostNorm, Proj, Recorder, Residual};
pub use weights::{AttentionWeights, EncoderBiases, EncoderInputWeights, ProjectionBiases, LayerTensor, LayerWeights, MixerWeights, PerLayerWeights, Projections, ShortConvWeights, DeltaNetWeights, WeightTensor, Weights};
#[cfg(not(target_arch = "wasm32"))]
pub use loader::{load_path, load_path_on};

use crate::gguf::GgufError;
use crate::gpu::GpuError;
use crate::kernels::KernelError;
use crate::quant::GgmlType;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unsupported model architecture `{0}` (supported: llama, qwen2, qwen3, gemma3, phi3, smollm3, lfm2, qwen35, gemma4, bert, nomic-bert, gemma-embedding)")]
    UnsupportedArchitecture(String),
    #[error("tensor `{tensor}` has type {ty}, which tabllm cannot run yet")]
    UnsupportedTensorType { tensor: String, ty: GgmlType },
    #[error("the model file has no tensor `{0}`")]
    MissingTensor(String),
    /// A tensor llama.cpp applies (an optional bias) that this
    /// architecture's forward pass in tabllm does not: running without it
    /// would give other outputs than llama.cpp's, so the file is refused.
    #[error("tensor `{0}` is in the file and llama.cpp applies it, but tabllm's forward pass for this architecture does not yet: refused rather than run without it")]
    TensorNotApplied(String),
    /// A tensor the forward pass reads has a dimension of 0 (such a file
    /// loads when the model does not need that tensor, as in llama.cpp).
    #[error("tensor `{tensor}` has shape {dims:?}, with no elements, and the model needs it")]
    EmptyTensor { tensor: String, dims: Vec<u64> },
    #[error("tensor `{tensor}` has shape {got:?}, expected {expected:?}")]
    TensorShape { tensor: String, expected: Vec<u64>, got: Vec<u64> },
    #[error("bad model metadata: {0}")]
    Config(String),
    #[error("the context is full: {needed} positions needed, {n_ctx} available")]
    ContextFull { needed: u32, n_ctx: u32 },
    /// Logits asked of a model that has no output head (BERT).
    #[error("this model has no output head (an encoder such as BERT gives hidden states for embeddings, not logits)")]
    NoHead,
    /// A step of a bidirectional model not at position 0: its tokens
    /// would attend to the earlier tokens but those never to them.
    #[error("this model's attention is bidirectional: a text runs as one step from position 0, not at position {pos0}")]
    BidirectionalStep { pos0: u32 },
    #[error("token id {id} is outside the vocabulary ({vocab})")]
    BadToken { id: u32, vocab: u32 },
    #[error("a context of {n_ctx} positions needs {bytes} bytes of KV cache per layer in one buffer, above this device's limit of {limit}; at most {max_n_ctx} positions fit")]
    ContextTooLarge { n_ctx: u32, bytes: u64, limit: u64, max_n_ctx: u32 },
    #[error("{}", too_large_for_cpu(*weights, *kv, *limit))]
    TooLargeForCpu { weights: u64, kv: u64, limit: u64 },
    #[error("the model file ended before all tensors arrived")]
    Incomplete,
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Cpu(#[from] crate::cpu::CpuError),
    /// An error in one file of a split model, with that file's name or URL
    /// (see `ModelLoader::name_part`).
    #[error("{file}: {source}")]
    InPart { file: String, source: Box<ModelError> },
}

/// `TooLargeForCpu`'s message: a shorter context is suggested only when it
/// could help, that is when the weights alone fit.
fn too_large_for_cpu(weights: u64, kv: u64, limit: u64) -> String {
    let what = format!("the model needs {weights} bytes of weights and {kv} bytes of KV cache on the CPU backend, above the {limit} bytes 32-bit wasm memory can hold");
    if weights >= limit {
        format!("{what}; the weights alone are over it: use WebGPU, or a smaller model or quantization")
    } else {
        format!("{what}; use WebGPU, a smaller model or quantization, or a shorter context")
    }
}
