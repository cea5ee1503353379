//! `crate::cpu::matmul`: the main crate's kernels (see lib.rs).

#[path = "../../../src/cpu/matmul.rs"]
pub mod matmul;
