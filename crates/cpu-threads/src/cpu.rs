//! `crate::cpu::matmul`: the main crate's kernels, by path (a file rather
//! than an inline module; see tools/cpu-kernel-check/src/lib.rs for why).

#[path = "../../../src/cpu/matmul.rs"]
pub mod matmul;
