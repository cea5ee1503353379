//! [`CpuThreads`] in the browser: the engine's side of the threads that
//! pkg/cpu-threads.js runs (docs/cpu-threads.md).
//!
//! The engine (wasm32-unknown-unknown, wasm-bindgen) cannot share its own
//! memory, so the pool and the weights it reads live in the kernels module
//! (crates/cpu-threads) on a shared `WebAssembly.Memory` that the engine's
//! worker and `threads − 1` more workers instantiate. The engine calls the
//! functions the worker installs as `globalThis.tabllmCpuThreads` before it
//! creates a threaded engine (pkg/cpu-threads.js `engineBridge`), passing
//! byte addresses in its own memory; the JS copies between the two memories.
//! Addresses in the shared memory are the weights' handles.

use wasm_bindgen::prelude::*;

use super::matmul::Write;
use super::pool::PoolError;
use super::threads::{CpuThreads, WeightHandle};
use super::CpuError;
use crate::quant::GgmlType;

#[wasm_bindgen(js_namespace = tabllmCpuThreads)]
extern "C" {
    /// Threads in the pool, the engine's worker included.
    #[wasm_bindgen(js_name = count, catch)]
    fn js_count() -> Result<u32, JsValue>;
    /// `bytes` in the shared memory, 8-byte aligned; 0 when it cannot grow.
    #[wasm_bindgen(js_name = alloc, catch)]
    fn js_alloc(bytes: u32) -> Result<u32, JsValue>;
    #[wasm_bindgen(js_name = free, catch)]
    fn js_free(at: u32, bytes: u32) -> Result<(), JsValue>;
    /// Copies `len` bytes from the engine's memory at `src` to the shared memory at `dst`.
    #[wasm_bindgen(js_name = write, catch)]
    fn js_write(dst: u32, src: u32, len: u32) -> Result<(), JsValue>;
    /// Copies `len` bytes from the shared memory at `src` to the engine's memory at `dst`.
    #[wasm_bindgen(js_name = read, catch)]
    fn js_read(dst: u32, src: u32, len: u32) -> Result<(), JsValue>;
    /// The pool's matmul: copies x (x_len f32 at `x`) and y (y_len f32 at
    /// `y`) of the engine's memory into the shared memory, runs
    /// `pool_matmul` on the weight at `w`, copies y back; returns its status
    /// (crates/cpu-threads/src/exports.rs: 0 done, 1 unsupported type, 2
    /// bad shape, 3 a worker was lost).
    #[wasm_bindgen(js_name = matmul, catch)]
    fn js_matmul(kind: u32, w: u32, rows: u32, cols: u32, x: u32, x_len: u32, n_tokens: u32, y: u32, y_len: u32, y_stride: u32, write: u32) -> Result<u32, JsValue>;
}

/// The bridge to the worker's pool; one per threaded engine.
pub struct BridgeThreads {
    count: usize,
}

// SAFETY: wasm32-unknown-unknown runs the engine on one thread; the JS
// functions are globals of that worker.
unsafe impl Send for BridgeThreads {}
unsafe impl Sync for BridgeThreads {}

fn js_error(what: &str, e: JsValue) -> CpuError {
    let msg = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"));
    CpuError::SharedMemory(format!("{what}: {msg}"))
}

fn u32_of(what: &str, n: usize) -> Result<u32, CpuError> {
    u32::try_from(n).map_err(|_| CpuError::SharedMemory(format!("{what} of {n} is past 32-bit addresses")))
}

impl BridgeThreads {
    /// The bridge the worker installed. Errors: none is installed (the page
    /// did not start threads), or it says fewer than 2 threads.
    pub fn connect() -> Result<Self, CpuError> {
        let count = js_count().map_err(|e| js_error("no CPU threads were started by this worker (globalThis.tabllmCpuThreads)", e))? as usize;
        if count < 2 {
            return Err(CpuError::SharedMemory(format!("the worker's pool has {count} thread(s); a threaded engine needs 2 or more")));
        }
        Ok(Self { count })
    }
}

impl CpuThreads for BridgeThreads {
    fn count(&self) -> usize {
        self.count
    }

    fn alloc(&self, name: &str, n_bytes: usize) -> Result<WeightHandle, CpuError> {
        let oom = || CpuError::OutOfMemory { what: format!("{name} (in the CPU threads' shared memory)"), bytes: n_bytes as u64 };
        let bytes = u32::try_from(n_bytes.max(1)).map_err(|_| oom())?;
        match js_alloc(bytes).map_err(|e| js_error("alloc", e))? {
            0 => Err(oom()),
            at => Ok(at as WeightHandle),
        }
    }

    fn write(&self, w: WeightHandle, at: usize, bytes: &[u8]) -> Result<(), CpuError> {
        let dst = u32_of("an offset", w as usize + at)?;
        js_write(dst, bytes.as_ptr() as u32, u32_of("a write", bytes.len())?).map_err(|e| js_error("write", e))
    }

    fn read(&self, w: WeightHandle, at: usize, dst: &mut [u8]) -> Result<(), CpuError> {
        let src = u32_of("an offset", w as usize + at)?;
        js_read(dst.as_mut_ptr() as u32, src, u32_of("a read", dst.len())?).map_err(|e| js_error("read", e))
    }

    fn free(&self, w: WeightHandle, n_bytes: usize) {
        let _ = js_free(w as u32, n_bytes.max(1) as u32);
    }

    fn matmul(&self, ty: GgmlType, w: WeightHandle, n_rows: usize, cols: usize, x: &[f32], n_tokens: usize, y: &mut [f32], y_stride: usize, write: Write) -> Result<(), CpuError> {
        let x_len = n_tokens.checked_mul(cols).filter(|&n| n <= x.len()).ok_or_else(|| CpuError::Shape(format!("x has {} floats; {n_tokens} tokens × {cols} need more", x.len())))?;
        let y_len = n_tokens.saturating_sub(1).checked_mul(y_stride).and_then(|n| n.checked_add(n_rows)).filter(|&n| n <= y.len());
        let y_len = y_len.ok_or_else(|| CpuError::Shape(format!("y has {} floats; {n_tokens} tokens {y_stride} apart of {n_rows} rows need more", y.len())))?;
        let write = match write {
            Write::Store => 0,
            Write::Accumulate => 1,
        };
        let status = js_matmul(ty.id(), w as u32, u32_of("rows", n_rows)?, u32_of("cols", cols)?, x.as_ptr() as u32, x_len as u32, n_tokens as u32, y.as_mut_ptr() as u32, y_len as u32, u32_of("a stride", y_stride)?, write).map_err(|e| js_error("matmul", e))?;
        match status {
            0 => Ok(()),
            3 => Err(PoolError::Lost.into()),
            1 => Err(CpuError::Shape(format!("the CPU threads do not read {ty} weights"))),
            s => Err(CpuError::Shape(format!("the CPU threads refused a {n_rows} × {cols} {ty} matmul of {n_tokens} token(s) (status {s})"))),
        }
    }
}
