//! The GPU layer: device set-up, the shader preprocessor and pipeline cache,
//! buffers and read-back, and the [`Op`] that the forward pass records once at
//! load and replays every step.

mod buffers;
mod context;
mod op;
mod packed;
mod pipelines;
mod preprocess;
mod tensor;
#[cfg(target_arch = "wasm32")]
pub mod web_replay;

pub use buffers::{activation_buffer, read_buffer, storage_buffer, uniform_buffer, ReadbackSlot};
pub use context::{next_task, DeviceOptions, PrefillKernels, GpuContext, GpuError, MatvecVariant, Precision};
pub use packed::{PackedTensors, PackedVectors, Segment};
pub use op::{Extent, Op, OpBuilder, SplitRule, Step, STEP_BYTES};
pub use pipelines::{Defines, PipelineCache, PipelineKey};
pub use preprocess::{preprocess, ShaderError};
pub use tensor::{rows_per_part, GpuTensor, TensorPart};
