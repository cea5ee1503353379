//! The CPU backend's threads (issue 29, docs/cpu-threads.md): tabllm's CPU matmul kernels run on
//! several Web Workers that share one `WebAssembly.Memory`.
//!
//! Built for `wasm32-wasip1-threads` (std with atomics; the memory is
//! imported, shared) by scripts/build-cpu-threads.sh, without wasm-bindgen:
//! the exports below are plain `extern "C"` functions over pointers into the
//! shared memory, and the WASI imports std needs are a small JS shim
//! (pkg/cpu-threads.js). Every worker instantiates the same
//! module on the same memory; each but the first gets its own stack
//! (`__stack_pointer`, exported) and thread-local block (`__wasm_init_tls`)
//! from the JS before it calls anything.
//!
//! The kernels and the pool that splits them across threads are the main
//! crate's (src/cpu/matmul.rs and src/cpu/pool.rs, by path: [`cpu`]).

pub mod cpu;
#[path = "../../../src/quant/mod.rs"]
pub mod quant;
// quant::testing's RNG (the benchmark's random weights).
#[path = "../../../src/sampler/mod.rs"]
pub mod sampler;


#[cfg(target_arch = "wasm32")]
mod exports;
