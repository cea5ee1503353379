//! The CPU backend on several threads (issue 29, docs/cpu-threads.md).
//!
//! The matmuls (every projection and the head) run on a [`pool::Pool`] of
//! threads that share one memory. In the browser that memory is not the
//! engine's: the engine is a wasm-bindgen module on wasm32-unknown-unknown,
//! whose memory cannot be shared on stable Rust, so the pool lives in a
//! second, small module (crates/cpu-threads, wasm32-wasip1-threads) that N
//! Web Workers instantiate on one shared `WebAssembly.Memory`. The weights
//! the matmuls read are streamed into that memory at load, and each matmul
//! copies its activations in and its outputs back (`bridge`). Natively
//! ([`NativeThreads`]: the tests and the CLI) the same split runs on
//! `std::thread`s with the weights in a separate arena, so the engine takes
//! the same path (weights behind a [`WeightHandle`], read back by row for
//! embeddings) as in the browser.
//!
//! Attention runs there too, over KV caches the threads hold (the engine
//! writes each step's rows). Everything else (norms, RoPE, activations,
//! recurrent layers) stays on the engine's thread.

use super::attention::Shape;
use super::matmul::Write;
use super::CpuError;
use crate::quant::GgmlType;

/// A weight's place in the threads' memory (an offset there in the
/// browser, an arena slot natively).
pub type WeightHandle = u64;

/// Where the CPU backend's matmuls run on several threads, and where the
/// weights they read live.
pub trait CpuThreads: Send + Sync {
    /// Threads each matmul is split across, the engine's own included.
    fn count(&self) -> usize;
    /// Room for a weight of `n_bytes` (8-byte aligned). Errors:
    /// [`CpuError::OutOfMemory`] when the threads' memory cannot hold it.
    fn alloc(&self, name: &str, n_bytes: usize) -> Result<WeightHandle, CpuError>;
    /// Copies `bytes` to byte `at` of weight `w`. Errors: past its end
    /// (in the browser: past the end of the shared memory; the callers keep
    /// within the allocation).
    fn write(&self, w: WeightHandle, at: usize, bytes: &[u8]) -> Result<(), CpuError>;
    /// Copies `dst.len()` bytes from byte `at` of weight `w`. Errors: past
    /// its end (in the browser, as for `write`).
    fn read(&self, w: WeightHandle, at: usize, dst: &mut [u8]) -> Result<(), CpuError>;
    /// Gives back what `alloc` returned for `n_bytes`.
    fn free(&self, w: WeightHandle, n_bytes: usize);
    /// `crate::cpu::matmul::matmul` of all `n_rows` rows of weight `w`
    /// (`n_rows` × `cols` of `ty`) on every thread: `x` (n_tokens, cols)
    /// f32; `y` `(n_tokens − 1) · y_stride + n_rows` f32. Bit-equal to one
    /// thread (`pool`). Errors: as `matmul`'s, a lost thread, the memory.
    #[allow(clippy::too_many_arguments)]
    fn matmul(&self, ty: GgmlType, w: WeightHandle, n_rows: usize, cols: usize, x: &[f32], n_tokens: usize, y: &mut [f32], y_stride: usize, write: Write) -> Result<(), CpuError>;
    /// `crate::cpu::attention::attention` on every thread, split by units
    /// (`pool`): `k`, `v` are caches this holds ([`CpuThreads::alloc`] of
    /// `cache_len · kv_dim` f16, written with [`CpuThreads::write`]); `q`,
    /// `out` (n_tokens, n_heads · head_dim) f32. Bit-equal to one thread.
    #[allow(clippy::too_many_arguments)]
    fn attention(&self, q: &[f32], k: WeightHandle, v: WeightHandle, cache_len: usize, pos0: usize, n_tokens: usize, shape: &Shape, out: &mut [f32]) -> Result<(), CpuError>;
}

impl std::fmt::Debug for dyn CpuThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpuThreads({})", self.count())
    }
}

/// [`CpuThreads`] on `std::thread`s ([`super::pool::NativePool`]), the
/// weights in an arena of their own: the native twin of the browser's
/// bridge, for the tests and the CLI.
#[cfg(not(target_arch = "wasm32"))]
pub struct NativeThreads {
    pool: super::pool::NativePool,
    /// By handle: a weight's bytes in 8-byte words (None once freed).
    arena: std::sync::Mutex<Vec<Option<Vec<u64>>>>,
}

#[cfg(not(target_arch = "wasm32"))]
impl NativeThreads {
    /// `n_threads` threads (the caller included), waits spinning
    /// [`super::pool::DEFAULT_SPIN`] times before they sleep. Errors:
    /// `n_threads` outside 1..=64, a thread the OS would not start.
    pub fn start(n_threads: usize) -> Result<Self, CpuError> {
        Self::with_spin(n_threads, super::pool::DEFAULT_SPIN)
    }

    /// As [`NativeThreads::start`], each wait spinning `spin` times before
    /// it sleeps (0: at once; what a machine running more threads than it
    /// has cores wants, such as a test runner's).
    pub fn with_spin(n_threads: usize, spin: u32) -> Result<Self, CpuError> {
        Ok(Self { pool: super::pool::NativePool::start(n_threads, spin)?, arena: std::sync::Mutex::new(Vec::new()) })
    }

    fn with_weight<R>(&self, w: WeightHandle, f: impl FnOnce(&mut [u8]) -> Result<R, CpuError>) -> Result<R, CpuError> {
        let mut arena = self.arena.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let words = arena.get_mut(w as usize).and_then(Option::as_mut).ok_or_else(|| CpuError::SharedMemory(format!("no weight {w}")))?;
        f(bytemuck::cast_slice_mut(words))
    }

    /// Two buffers as f16, read-only (a layer's K and V caches).
    fn with_kv<R>(&self, k: WeightHandle, v: WeightHandle, f: impl FnOnce(&[half::f16], &[half::f16]) -> Result<R, CpuError>) -> Result<R, CpuError> {
        let arena = self.arena.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let get = |h: WeightHandle| arena.get(h as usize).and_then(Option::as_ref).map(|w| bytemuck::cast_slice::<u64, half::f16>(w)).ok_or_else(|| CpuError::SharedMemory(format!("no cache {h}")));
        f(get(k)?, get(v)?)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn span(len: usize, at: usize, n: usize) -> Result<std::ops::Range<usize>, CpuError> {
    match at.checked_add(n) {
        Some(end) if end <= len => Ok(at..end),
        _ => Err(CpuError::SharedMemory(format!("bytes {at}..+{n} past a weight of {len}"))),
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl CpuThreads for NativeThreads {
    fn count(&self) -> usize {
        self.pool.pool().n_threads()
    }

    fn alloc(&self, name: &str, n_bytes: usize) -> Result<WeightHandle, CpuError> {
        let mut words = Vec::new();
        words.try_reserve_exact(n_bytes.div_ceil(8)).map_err(|_| CpuError::OutOfMemory { what: name.to_string(), bytes: n_bytes as u64 })?;
        words.resize(n_bytes.div_ceil(8), 0u64);
        let mut arena = self.arena.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        arena.push(Some(words));
        Ok((arena.len() - 1) as WeightHandle)
    }

    fn write(&self, w: WeightHandle, at: usize, bytes: &[u8]) -> Result<(), CpuError> {
        self.with_weight(w, |b| {
            let r = span(b.len(), at, bytes.len())?;
            b[r].copy_from_slice(bytes);
            Ok(())
        })
    }

    fn read(&self, w: WeightHandle, at: usize, dst: &mut [u8]) -> Result<(), CpuError> {
        self.with_weight(w, |b| {
            let r = span(b.len(), at, dst.len())?;
            dst.copy_from_slice(&b[r]);
            Ok(())
        })
    }

    fn free(&self, w: WeightHandle, _n_bytes: usize) {
        let mut arena = self.arena.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = arena.get_mut(w as usize) {
            *slot = None;
        }
    }

    fn matmul(&self, ty: GgmlType, w: WeightHandle, n_rows: usize, cols: usize, x: &[f32], n_tokens: usize, y: &mut [f32], y_stride: usize, write: Write) -> Result<(), CpuError> {
        self.with_weight(w, |bytes| {
            // The arena pads a weight to whole words: the matrix is its first bytes.
            let n = super::pool::matrix_bytes(ty, n_rows, cols).map_err(|e| CpuError::Matmul(e.into()))?;
            let bytes = bytes.get(..n).ok_or_else(|| CpuError::SharedMemory(format!("a {n_rows} × {cols} {ty} matrix is {n} bytes, past its weight")))?;
            Ok(self.pool.pool().matmul(ty, bytes, n_rows, cols, x, n_tokens, y, y_stride, write)?)
        })
    }

    fn attention(&self, q: &[f32], k: WeightHandle, v: WeightHandle, cache_len: usize, pos0: usize, n_tokens: usize, shape: &Shape, out: &mut [f32]) -> Result<(), CpuError> {
        // The arena pads a cache to whole words: its first cache_len · kv_dim halves.
        let n = cache_len * shape.kv_dim();
        self.with_kv(k, v, |k, v| {
            let (k, v) = (k.get(..n).unwrap_or(k), v.get(..n).unwrap_or(v));
            Ok(self.pool.pool().attention(q, k, v, cache_len, pos0, n_tokens, shape, out)?)
        })
    }
}
