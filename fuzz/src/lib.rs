//! The GGUF parser's own source files, compiled without the rest of tabllm so
//! that the instrumented fuzz build does not have to build wgpu. The modules
//! keep the paths they have in the crate (`crate::gguf`, `crate::quant`).

#[path = "../../src/gguf/mod.rs"]
pub mod gguf;

#[path = "../../src/quant/types.rs"]
mod quant_types;

pub mod quant {
    pub use crate::quant_types::GgmlType;
}
