//! `crate::cpu::{matmul, pool}`: the main crate's kernels and thread pool,
//! by path (files rather than inline modules; see
//! tools/cpu-kernel-check/src/lib.rs for why).

#[path = "../../../src/cpu/matmul.rs"]
pub mod matmul;
#[path = "../../../src/cpu/pool.rs"]
pub mod pool;
