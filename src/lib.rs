//! tabllm: a language-model runtime for the browser tab.
//!
//! GGUF bytes stream through [`gguf`] straight into GPU buffers ([`gpu`]),
//! WGSL kernels ([`kernels`]) run the forward pass ([`model`]), and the
//! [`engine`] turns that into tokens and text with the [`tokenizer`] and
//! [`sampler`]; [`chat`] turns conversations into prompts and replies into
//! messages and tool calls.

pub mod bench;
pub mod budget;
pub mod catalog;
pub mod chat;
pub mod constrain;
pub mod cpu;
pub mod embed;
pub mod engine;
pub mod gguf;
pub mod gpu;
pub mod hub;
pub mod inspect;
pub mod kernels;
pub mod model;
pub mod quant;
pub mod sampler;
pub mod synth;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod web;
