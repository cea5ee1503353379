//! Weight formats: block layouts and the CPU reference dequantize.

mod types;
pub use types::GgmlType;
