//! The module's exports (wasm32 only). Pointers are byte offsets into the
//! shared memory; lengths are counted in elements unless named `bytes`.
//! (`buf_alloc` / `buf_free`, not `alloc` / `free`: wasi-libc defines those.)
//! Status codes: 0 done, [`UNSUPPORTED`] the type is not one the kernels
//! take, [`BAD_SHAPE`] a shape or range the kernels refuse (nothing is
//! written then), [`LOST`] a worker of the pool died.

use crate::cpu::attention::Shape;
use crate::cpu::matmul::{matmul, Write};
use crate::cpu::pool::{self, Pool, PoolError};
use crate::quant::testing::random_tensor;
use crate::quant::{is_supported, GgmlType};
use std::alloc::Layout;

pub const UNSUPPORTED: i32 = 1;
pub const BAD_SHAPE: i32 = 2;
/// A worker of the pool died: no job runs any more.
pub const LOST: i32 = 3;

fn kind(k: u32) -> Result<GgmlType, i32> {
    GgmlType::from_id(k).filter(|&t| is_supported(t)).ok_or(UNSUPPORTED)
}

fn status(r: Result<(), i32>) -> i32 {
    r.err().unwrap_or(0)
}

/// `bytes` bytes aligned to `align` (a power of two), or 0 when the layout
/// is invalid, `bytes` is 0 or memory cannot grow.
#[no_mangle]
pub extern "C" fn buf_alloc(bytes: usize, align: usize) -> *mut u8 {
    match Layout::from_size_align(bytes, align) {
        // SAFETY: the layout has a nonzero size.
        Ok(l) if l.size() > 0 => unsafe { std::alloc::alloc(l) },
        _ => std::ptr::null_mut(),
    }
}

/// Frees what [`buf_alloc`] returned for the same `bytes` and `align`.
///
/// # Safety
/// `ptr` came from `buf_alloc(bytes, align)` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn buf_free(ptr: *mut u8, bytes: usize, align: usize) {
    if let Ok(l) = Layout::from_size_align(bytes, align) {
        if !ptr.is_null() && l.size() > 0 {
            std::alloc::dealloc(ptr, l);
        }
    }
}

/// Bytes of a `rows` × `cols` matrix of GGUF type `kind`, 0 when it has
/// none (unsupported type, partial block, overflow).
#[no_mangle]
pub extern "C" fn matrix_bytes(kind_id: u32, rows: usize, cols: usize) -> usize {
    kind(kind_id).ok().and_then(|t| pool::matrix_bytes(t, rows, cols).ok()).unwrap_or(0)
}

fn write_mode(w: u32) -> Result<Write, i32> {
    match w {
        0 => Ok(Write::Store),
        1 => Ok(Write::Accumulate),
        _ => Err(BAD_SHAPE),
    }
}

/// `y[t · y_stride + r] (+)= Σ_c W[r, c] · x[t · cols + c]` on the calling
/// thread alone (`crate::cpu::matmul::matmul`, all rows): the reference the
/// pool is checked against. `w`: `rows` × `cols` of GGUF type `kind_id`;
/// `x`: (n_tokens, cols) f32; `y`: `(n_tokens − 1) · y_stride + rows` f32;
/// `write`: 0 store, 1 add.
///
/// # Safety
/// The pointers hold what the shapes say.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn matmul_one(kind_id: u32, w: *const u8, rows: usize, cols: usize, x: *const f32, n_tokens: usize, y: *mut f32, y_stride: usize, write: u32) -> i32 {
    status((|| {
        let (ty, write) = (kind(kind_id)?, write_mode(write)?);
        let (w, x, y) = views(ty, w, rows, cols, x, n_tokens, y, y_stride)?;
        matmul(ty, w, rows, cols, 0..rows, x, n_tokens, y, y_stride, write).map_err(|_| BAD_SHAPE)
    })())
}

/// The slices a matmul request names, or [`BAD_SHAPE`] when its sizes overflow.
#[allow(clippy::too_many_arguments)]
unsafe fn views<'a>(ty: GgmlType, w: *const u8, rows: usize, cols: usize, x: *const f32, n_tokens: usize, y: *mut f32, y_stride: usize) -> Result<(&'a [u8], &'a [f32], &'a mut [f32]), i32> {
    let bytes = pool::matrix_bytes(ty, rows, cols).map_err(|_| BAD_SHAPE)?;
    let x_len = n_tokens.checked_mul(cols).ok_or(BAD_SHAPE)?;
    let y_len = n_tokens.saturating_sub(1).checked_mul(y_stride).and_then(|v| v.checked_add(rows)).ok_or(BAD_SHAPE)?;
    Ok((std::slice::from_raw_parts(w, bytes), std::slice::from_raw_parts(x, x_len), std::slice::from_raw_parts_mut(y, y_len)))
}

/// A pool of `threads` (the caller, the coordinator, included); 0 when
/// `threads` is outside 1..=64. `spin`: iterations a wait spins before it
/// sleeps. Start `threads − 1` workers in [`worker_run`] with ids 1…
#[no_mangle]
pub extern "C" fn pool_new(threads: u32, spin: u32) -> *mut Pool {
    Pool::new(threads as usize, spin).map_or(std::ptr::null_mut(), |p| Box::into_raw(Box::new(p)))
}

/// A worker's loop: runs its share of each job until [`pool_quit`]. Blocks
/// (Atomics.wait): never on a page's main thread.
///
/// # Safety
/// `pool` came from [`pool_new`] and is not freed while this runs.
#[no_mangle]
pub unsafe extern "C" fn worker_run(pool: *const Pool, id: u32) {
    (*pool).worker_run(id as usize);
}

/// [`matmul_one`] split across the pool's threads (one token by rows,
/// several by tiles of tokens); returns when all are done. Bit-equal to
/// one thread. [`LOST`] once a worker died ([`pool_lose`]).
///
/// # Safety
/// As [`matmul_one`]; `pool` from [`pool_new`]; one coordinator at a time.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn pool_matmul(pool: *const Pool, kind_id: u32, w: *const u8, rows: usize, cols: usize, x: *const f32, n_tokens: usize, y: *mut f32, y_stride: usize, write: u32) -> i32 {
    status((|| {
        let (ty, write) = (kind(kind_id)?, write_mode(write)?);
        let (w, x, y) = views(ty, w, rows, cols, x, n_tokens, y, y_stride)?;
        (*pool).matmul(ty, w, rows, cols, x, n_tokens, y, y_stride, write).map_err(|e| match e {
            PoolError::Lost => LOST,
            _ => BAD_SHAPE,
        })
    })())
}

/// The slices and shape an attention request names, or [`BAD_SHAPE`] when
/// its sizes overflow.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
unsafe fn attention_views<'a>(q: *const f32, k: *const half::f16, v: *const half::f16, cache_len: usize, n_tokens: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize, window: usize, scale: f32, causal: u32, out: *mut f32) -> Result<(Shape, &'a [f32], &'a [half::f16], &'a [half::f16], &'a mut [f32]), i32> {
    let shape = Shape { n_heads, n_kv_heads, head_dim, window, scale, causal: causal != 0 };
    let width = n_heads.checked_mul(head_dim).ok_or(BAD_SHAPE)?;
    let qn = n_tokens.checked_mul(width).ok_or(BAD_SHAPE)?;
    let kvn = cache_len.checked_mul(n_kv_heads.checked_mul(head_dim).ok_or(BAD_SHAPE)?).ok_or(BAD_SHAPE)?;
    Ok((shape, std::slice::from_raw_parts(q, qn), std::slice::from_raw_parts(k, kvn), std::slice::from_raw_parts(v, kvn), std::slice::from_raw_parts_mut(out, qn)))
}

/// `crate::cpu::attention::attention` on the calling thread alone: the
/// reference [`pool_attention`] is checked against. Arguments as there.
///
/// # Safety
/// The pointers hold what the shapes say.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn attention_one(q: *const f32, k: *const half::f16, v: *const half::f16, cache_len: usize, pos0: usize, n_tokens: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize, window: usize, scale: f32, causal: u32, out: *mut f32) -> i32 {
    status((|| {
        let (shape, q, k, v, o) = attention_views(q, k, v, cache_len, n_tokens, n_heads, n_kv_heads, head_dim, window, scale, causal, out)?;
        crate::cpu::attention::attention(q, k, v, cache_len, pos0, n_tokens, &shape, o, &mut Default::default()).map_err(|_| BAD_SHAPE)
    })())
}

/// `crate::cpu::attention::attention` split across the pool's threads by
/// units; returns when all are done. Bit-equal to one thread. `q`, `out`:
/// (n_tokens, n_heads · head_dim) f32; `k`, `v`: (cache_len, n_kv_heads ·
/// head_dim) f16; `window` 0 for none; `causal` 0 or 1. [`BAD_SHAPE`] for a
/// request attention refuses, [`LOST`] once a worker died.
///
/// # Safety
/// The pointers hold what the shapes say; `pool` from [`pool_new`]; one
/// coordinator at a time.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn pool_attention(pool: *const Pool, q: *const f32, k: *const half::f16, v: *const half::f16, cache_len: usize, pos0: usize, n_tokens: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize, window: usize, scale: f32, causal: u32, out: *mut f32) -> i32 {
    status((|| {
        let (shape, q, k, v, o) = attention_views(q, k, v, cache_len, n_tokens, n_heads, n_kv_heads, head_dim, window, scale, causal, out)?;
        (*pool).attention(q, k, v, cache_len, pos0, n_tokens, &shape, o).map_err(|e| match e {
            PoolError::Lost => LOST,
            _ => BAD_SHAPE,
        })
    })())
}

/// A job with nothing to do: the cost of a post and its barrier. [`LOST`]
/// once a worker died.
///
/// # Safety
/// `pool` from [`pool_new`]; one coordinator at a time.
#[no_mangle]
pub unsafe extern "C" fn pool_empty(pool: *const Pool) -> i32 {
    status((*pool).empty().map_err(|_| LOST))
}

/// Says worker `id` died (its JS caught a trap): the coordinator stops
/// waiting for it (not for the live ones) and every later job returns
/// [`LOST`]. Idempotent.
///
/// # Safety
/// `pool` from [`pool_new`].
#[no_mangle]
pub unsafe extern "C" fn pool_lose(pool: *const Pool, id: u32) {
    (*pool).lose(id as usize);
}

/// Makes the workers' [`worker_run`] return.
///
/// # Safety
/// `pool` from [`pool_new`].
#[no_mangle]
pub unsafe extern "C" fn pool_quit(pool: *const Pool) {
    (*pool).quit();
}

/// Fills `n` elements of GGUF type `kind` at `out` with valid random blocks
/// (`quant::testing::random_tensor`, deterministic in `seed`; F32: floats
/// in [−1, 1)). Returns the bytes written, 0 when `n` is not a whole
/// number of blocks or the type is unsupported.
///
/// # Safety
/// `out` has room for `matrix_bytes(kind, 1, n)` bytes.
#[no_mangle]
pub unsafe extern "C" fn fill_random(kind_id: u32, out: *mut u8, n: usize, seed: u32) -> usize {
    let Ok(ty) = kind(kind_id) else { return 0 };
    if pool::matrix_bytes(ty, 1, n).is_err() {
        return 0;
    }
    let bytes = random_tensor(ty, n, u64::from(seed));
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len());
    bytes.len()
}
