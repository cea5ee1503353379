//! `crate::cpu::matmul` and `crate::cpu::attention`: the main crate's kernels (see lib.rs).

#[path = "../../../src/cpu/attention.rs"]
pub mod attention;
#[path = "../../../src/cpu/matmul.rs"]
pub mod matmul;
