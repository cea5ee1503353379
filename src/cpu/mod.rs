//! The CPU backend's ops, for browsers without a usable WebGPU adapter
//! (issue 15). Weights stay in their GGUF blocks; [`matmul`] multiplies them
//! with f32 activations.

pub mod matmul;
