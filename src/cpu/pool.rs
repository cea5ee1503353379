//! A pool of threads that split one matmul: the coordinator (the caller
//! of [`Pool::matmul`], thread 0) and `n_threads − 1` workers (each in
//! [`Pool::worker_run`]) run their share of the same job, then meet at a
//! barrier. One token (decode's matvecs) is split by output rows
//! ([`rows_of`]); several tokens (prefill) by whole tiles of tokens
//! ([`tokens_of`]), so each thread's outputs are contiguous whole rows of y.
//!
//! In the browser every thread is a Web Worker holding its own instance of
//! the kernels module (crates/cpu-threads) on one shared
//! `WebAssembly.Memory`; natively (the engine's tests and the CLI) they are
//! `std::thread`s ([`NativePool`]). Either way the pool lives in memory all
//! of them see and they talk only through its atomics:
//!
//! - `seq`, the job word: the coordinator writes the job, then increments
//!   `seq`; a worker that sees it change runs its share.
//! - `done`, the barrier: each worker increments it after its share; the
//!   coordinator, after its own share, waits until it is `n_threads − 1`.
//! - `lost`: set by [`Pool::lose`] when a worker died (a trap in the
//!   browser, a panic natively); the coordinator stops waiting and every
//!   later job fails with [`PoolError::Lost`] instead of hanging.
//!
//! Both waits spin (an atomic load per iteration) up to `spin` times, then
//! sleep on a `std::sync::Condvar`. On wasm32 with atomics std's futex is
//! `memory.atomic.wait32` / `memory.atomic.notify`, i.e. `Atomics.wait` /
//! `Atomics.notify`; the `core::arch::wasm32` intrinsics themselves are
//! unstable (`stdarch_wasm_atomic_wait`, rust-lang/rust#77839), so stable
//! Rust reaches them through std. Sleepers are counted so that a job posted
//! while every worker spins costs no lock and no notify (the Dekker pattern:
//! each side does its SeqCst write before its SeqCst read of the other's flag,
//! so at least one of them sees the other).
//!
//! Results are bit-equal to one thread's: each output element's reduction
//! is the same `crate::cpu::matmul` arithmetic whichever thread runs it (a
//! row split changes only which thread does a row; a token split keeps
//! every token in the same tile of [`TILE`] tokens as one thread would, and
//! activations are quantized per token).
//!
//! Never call the waits on a browser page's main thread: `Atomics.wait`
//! throws there. The coordinator is itself a worker (pkg/worker.js).

use crate::cpu::attention::{self, AttentionError};
use crate::cpu::matmul::{matmul, MatmulError, Write, TILE};
use crate::quant::{bytes_for, QuantError};
use crate::quant::GgmlType;
use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::*};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Most threads a pool takes (a browser reports at most a few dozen cores).
pub const MAX_THREADS: usize = 64;

/// Spin iterations before a wait sleeps, when the caller has no better
/// number: about 10–50 µs of atomic loads, longer than a decode step's gap
/// between two matmuls on a small model and far shorter than a token.
pub const DEFAULT_SPIN: u32 = 1 << 14;

/// What can be wrong with a pool or one of its jobs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("a pool takes 1 to {MAX_THREADS} threads, not {0}")]
    Threads(usize),
    /// The request itself (checked before any thread starts, or met by a
    /// thread: then that thread's share is not written).
    #[error(transparent)]
    Matmul(#[from] MatmulError),
    #[error(transparent)]
    Attention(#[from] AttentionError),
    #[error("a CPU thread stopped (a trap or a panic in a worker); the threads cannot run more work")]
    Lost,
    #[error("the system would not start a CPU thread: {0}")]
    Spawn(String),
}

/// The rows thread `id` of `n_threads` computes out of `n_rows`: contiguous,
/// as even as can be (the first `n_rows % n_threads` threads take one more).
/// `id` must be below `n_threads` (an empty range otherwise).
pub fn rows_of(n_rows: usize, n_threads: usize, id: usize) -> Range<usize> {
    if n_threads == 0 || id >= n_threads {
        return 0..0;
    }
    let base = n_rows / n_threads;
    let extra = n_rows % n_threads;
    let start = id * base + id.min(extra);
    start..start + base + usize::from(id < extra)
}

/// The tokens thread `id` of `n_threads` computes out of `n_tokens`: whole
/// tiles of [`TILE`] tokens split as [`rows_of`] splits rows (the last
/// thread with work takes the partial tile), so every token stays in the
/// tile it has on one thread.
pub fn tokens_of(n_tokens: usize, n_threads: usize, id: usize) -> Range<usize> {
    let tiles = rows_of(n_tokens.div_ceil(TILE), n_threads, id);
    (tiles.start * TILE).min(n_tokens)..(tiles.end * TILE).min(n_tokens)
}

/// One job: raw pointers into the memory every thread shares, valid (and
/// `y` written by nobody else) from [`Pool::post`] until the barrier.
#[derive(Clone, Copy)]
enum Job {
    /// Nothing to compute: measures the post and the barrier.
    Empty,
    Matmul(MatmulJob),
    Attention(AttentionJob),
}

/// `crate::cpu::attention::attention` of one layer, split by its units
/// (a KV head's query heads over a block of tokens), round-robin: unit u
/// goes to thread u % n_threads, so a causal step's long and short blocks
/// spread over every thread. `q`, `out`: (n_tokens, n_heads · head_dim) f32;
/// `k`, `v`: (cache_len, kv_dim) f16.
#[derive(Clone, Copy)]
struct AttentionJob {
    q: *const f32,
    q_len: usize,
    k: *const half::f16,
    v: *const half::f16,
    kv_len: usize,
    cache_len: usize,
    pos0: usize,
    n_tokens: usize,
    shape: attention::Shape,
    out: *mut f32,
}

thread_local! {
    /// Each thread's attention scratch (bounded by the heads, not the context).
    static ATTENTION_SCRATCH: std::cell::RefCell<attention::Scratch> = std::cell::RefCell::new(attention::Scratch::default());
}

impl AttentionJob {
    /// # Safety
    /// The pointers hold what [`AttentionJob`] says, the request passed
    /// `attention::check`, and each unit runs on one thread.
    unsafe fn run(&self, n_threads: usize, id: usize) {
        let q = std::slice::from_raw_parts(self.q, self.q_len);
        let k = std::slice::from_raw_parts(self.k, self.kv_len);
        let v = std::slice::from_raw_parts(self.v, self.kv_len);
        let units = (id..attention::units(&self.shape, self.n_tokens)).step_by(n_threads);
        ATTENTION_SCRATCH.with(|sc| attention::attention_units(q, k, v, self.cache_len, self.pos0, self.n_tokens, &self.shape, self.out, units, &mut sc.borrow_mut()));
    }
}

/// `y[t · y_stride + r] (+)= Σ_c W[r, c] · x[t · cols + c]` for every row r
/// and token t: `w` is `n_rows` rows of `row_bytes` bytes of `ty`, `x` has
/// `n_tokens · cols` floats, `y` `(n_tokens − 1) · y_stride + n_rows`.
#[derive(Clone, Copy)]
struct MatmulJob {
    ty: GgmlType,
    w: *const u8,
    n_rows: usize,
    cols: usize,
    row_bytes: usize,
    x: *const f32,
    n_tokens: usize,
    y: *mut f32,
    y_stride: usize,
    write: Write,
}

impl MatmulJob {
    /// Computes thread `id`'s share of the job.
    ///
    /// # Safety
    /// The pointers hold what [`MatmulJob`] says, and no other thread
    /// touches this share's outputs meanwhile.
    unsafe fn run(&self, n_threads: usize, id: usize) -> Result<(), MatmulError> {
        let (cols, stride) = (self.cols, self.y_stride);
        if self.n_tokens == 1 {
            // Decode: this thread's rows of w and y only, so the threads'
            // `&mut` slices of y never overlap.
            let rows = rows_of(self.n_rows, n_threads, id);
            let n = rows.len();
            if n == 0 {
                return Ok(());
            }
            let w = std::slice::from_raw_parts(self.w.add(rows.start * self.row_bytes), n * self.row_bytes);
            let x = std::slice::from_raw_parts(self.x, cols);
            let y = std::slice::from_raw_parts_mut(self.y.add(rows.start), n);
            return matmul(self.ty, w, n, cols, 0..n, x, 1, y, n, self.write);
        }
        // Prefill: this thread's tokens, all rows; token t's outputs end
        // before token t + 1's start (n_rows ≤ y_stride), so the slices of
        // consecutive ranges are disjoint.
        let tokens = tokens_of(self.n_tokens, n_threads, id);
        let n = tokens.len();
        if n == 0 {
            return Ok(());
        }
        let w = std::slice::from_raw_parts(self.w, self.n_rows * self.row_bytes);
        let x = std::slice::from_raw_parts(self.x.add(tokens.start * cols), n * cols);
        let y = std::slice::from_raw_parts_mut(self.y.add(tokens.start * stride), (n - 1) * stride + self.n_rows);
        matmul(self.ty, w, self.n_rows, cols, 0..self.n_rows, x, n, y, stride, self.write)
    }
}

/// See the module doc. One coordinator at a time: [`Pool::matmul`] and
/// [`Pool::empty`] must not be called from two threads at once (`&mut`
/// would say so, but the pool is shared with the workers by `&`).
pub struct Pool {
    n_threads: usize,
    spin: u32,
    /// The job word: incremented once per posted job (and by [`Pool::quit`]).
    seq: AtomicU32,
    quit: AtomicBool,
    /// A worker died: no job runs any more ([`Pool::lose`]).
    lost: AtomicBool,
    /// Which workers died (bit id): the barrier stops waiting for them, and
    /// only for them, so it never opens while a live worker still runs.
    dead: std::sync::atomic::AtomicU64,
    /// Workers that finished the current job.
    done: AtomicU32,
    /// The first error a worker met in the current job (its share is lost).
    worker_error: Mutex<Option<MatmulError>>,
    /// Workers asleep on `wake` (or about to be).
    sleepers: AtomicU32,
    /// Whether the coordinator sleeps on `done_cv` (or is about to).
    coordinator_asleep: AtomicBool,
    job: UnsafeCell<Job>,
    wake_lock: Mutex<()>,
    wake: Condvar,
    done_lock: Mutex<()>,
    done_cv: Condvar,
}

// SAFETY: `job` is written only by the coordinator while no worker reads it
// (before the `seq` increment that publishes it, after the barrier of the
// previous job) and read by the workers only after they see that increment.
unsafe impl Sync for Pool {}
// SAFETY: the job's raw pointers are only dereferenced under `post`'s
// contract, whichever thread holds the pool.
unsafe impl Send for Pool {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// A pool of `n_threads` (the coordinator included; 1 runs everything on
    /// the caller, with no atomics). `spin`: iterations each wait spins
    /// before it sleeps (0: sleep at once).
    ///
    /// Errors: `n_threads` outside 1..=[`MAX_THREADS`].
    pub fn new(n_threads: usize, spin: u32) -> Result<Pool, PoolError> {
        if !(1..=MAX_THREADS).contains(&n_threads) {
            return Err(PoolError::Threads(n_threads));
        }
        Ok(Pool {
            n_threads,
            spin,
            seq: AtomicU32::new(0),
            quit: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            dead: std::sync::atomic::AtomicU64::new(0),
            done: AtomicU32::new(0),
            worker_error: Mutex::new(None),
            sleepers: AtomicU32::new(0),
            coordinator_asleep: AtomicBool::new(false),
            job: UnsafeCell::new(Job::Empty),
            wake_lock: Mutex::new(()),
            wake: Condvar::new(),
            done_lock: Mutex::new(()),
            done_cv: Condvar::new(),
        })
    }

    pub fn n_threads(&self) -> usize {
        self.n_threads
    }

    /// `y[t · y_stride + r] = (or +=) Σ_c W[r, c] · x[t · cols + c]` for all
    /// `n_rows` rows and `n_tokens` tokens, on every thread of the pool: one
    /// token split by rows, several by tiles of tokens (module doc).
    ///
    /// - `w`: `n_rows` × `cols` weights of `ty` in their GGUF blocks
    ///   (exactly `n_rows` rows' bytes).
    /// - `x`: (n_tokens, cols) f32 activations (at least; the rest is ignored).
    /// - `y`: at least `(n_tokens − 1) · y_stride + n_rows` f32;
    ///   `y_stride ≥ n_rows` when `n_tokens > 1`.
    ///
    /// Bit-equal to `crate::cpu::matmul` of all rows and tokens on one thread.
    /// Errors: as `matmul`'s (checked here, before any thread starts), and
    /// [`PoolError::Lost`] once a worker died. Nothing is written on a
    /// request error.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &self,
        ty: GgmlType,
        w: &[u8],
        n_rows: usize,
        cols: usize,
        x: &[f32],
        n_tokens: usize,
        y: &mut [f32],
        y_stride: usize,
        write: Write,
    ) -> Result<(), PoolError> {
        // The whole request as one thread would take it: the same checks and
        // errors, and nothing written when it is wrong.
        matmul(ty, w, n_rows, cols, 0..0, x, n_tokens, &mut [], y_stride, write)?;
        let row_bytes = crate::quant::matrix_row_bytes(ty, cols, n_rows, w.len()).map_err(MatmulError::from)?;
        if n_tokens == 0 || n_rows == 0 {
            return Ok(());
        }
        if n_tokens > 1 && y_stride < n_rows {
            return Err(MatmulError::Stride { stride: y_stride, end: n_rows }.into());
        }
        let y_len = (n_tokens - 1).checked_mul(y_stride).and_then(|v| v.checked_add(n_rows)).unwrap_or(usize::MAX);
        if y.len() < y_len {
            return Err(MatmulError::Output { end: n_rows, n_tokens, stride: y_stride, expected: y_len, got: y.len() }.into());
        }
        let job = MatmulJob { ty, w: w.as_ptr(), n_rows, cols, row_bytes, x: x.as_ptr(), n_tokens, y: y.as_mut_ptr(), y_stride, write };
        // SAFETY: the borrows above hold the memory until the barrier.
        unsafe { self.post(Job::Matmul(job)) }
    }

    /// `crate::cpu::attention::attention` on every thread of the pool, split
    /// by units ([`AttentionJob`]); the same arguments, shapes and errors
    /// (checked here, before any thread starts; nothing written on error).
    /// Bit-equal to one thread: a unit's arithmetic does not depend on the
    /// thread that runs it.
    #[allow(clippy::too_many_arguments)]
    pub fn attention(&self, q: &[f32], k: &[half::f16], v: &[half::f16], cache_len: usize, pos0: usize, n_tokens: usize, shape: &attention::Shape, out: &mut [f32]) -> Result<(), PoolError> {
        attention::check(q, k, v, cache_len, pos0, n_tokens, shape, out)?;
        if n_tokens == 0 || k.len() != v.len() {
            return if k.len() != v.len() { Err(AttentionError::Length { what: "the V cache", expected: k.len(), got: v.len() }.into()) } else { Ok(()) };
        }
        let job = AttentionJob { q: q.as_ptr(), q_len: q.len(), k: k.as_ptr(), v: v.as_ptr(), kv_len: k.len(), cache_len, pos0, n_tokens, shape: *shape, out: out.as_mut_ptr() };
        // SAFETY: checked above; the borrows hold the memory until the barrier.
        unsafe { self.post(Job::Attention(job)) }
    }

    /// A job with nothing to compute: what posting a job and its barrier
    /// cost.
    pub fn empty(&self) -> Result<(), PoolError> {
        // SAFETY: no pointers.
        unsafe { self.post(Job::Empty) }
    }

    /// Runs `job` on every thread and waits for all of them.
    ///
    /// # Safety
    /// The job's pointers stay valid, and its output untouched by others,
    /// until this returns.
    unsafe fn post(&self, job: Job) -> Result<(), PoolError> {
        if self.n_threads == 1 {
            return Ok(Self::share(&job, self.n_threads, 0)?);
        }
        if self.lost.load(Acquire) {
            return Err(PoolError::Lost);
        }
        *self.job.get() = job;
        self.done.store(0, Relaxed);
        // SeqCst: releases the job, and orders before the sleepers check.
        self.seq.fetch_add(1, SeqCst);
        if self.sleepers.load(SeqCst) > 0 {
            drop(lock(&self.wake_lock));
            self.wake.notify_all();
        }
        let mine = Self::share(&job, self.n_threads, 0);
        if !self.wait_workers() {
            return Err(PoolError::Lost);
        }
        let theirs = lock(&self.worker_error).take();
        Ok(mine.and(theirs.map_or(Ok(()), Err))?)
    }

    fn share(job: &Job, n_threads: usize, id: usize) -> Result<(), MatmulError> {
        match job {
            Job::Empty => Ok(()),
            // SAFETY: `post`'s contract; `rows_of` / `tokens_of` shares are disjoint.
            Job::Matmul(m) => unsafe { m.run(n_threads, id) },
            Job::Attention(a) => {
                unsafe { a.run(n_threads, id) };
                Ok(())
            }
        }
    }

    /// The barrier, coordinator side: true when every worker finished,
    /// false when one was lost.
    fn wait_workers(&self) -> bool {
        let target = (self.n_threads - 1) as u32;
        // Every live worker finished its share (a dead one never will; one
        // that finished and then died counts once either way: done + dead
        // only reaches the target when no live worker still runs).
        let finished = |order| self.done.load(order) + self.dead.load(order).count_ones() >= target;
        let mut spins = 0;
        while !finished(Acquire) {
            if spins < self.spin {
                spins += 1;
                spin_loop();
                continue;
            }
            let mut g = lock(&self.done_lock);
            self.coordinator_asleep.store(true, SeqCst);
            while !finished(SeqCst) {
                g = self.done_cv.wait(g).unwrap_or_else(PoisonError::into_inner);
            }
            self.coordinator_asleep.store(false, SeqCst);
            break;
        }
        !self.lost.load(Acquire)
    }

    /// A worker's life: waits for jobs and runs share `id` of each until
    /// [`Pool::quit`]. `id` in `1..n_threads`, each taken by exactly one
    /// worker (the coordinator is 0); call it once per pool and id. A job
    /// posted before the worker arrives waits for it.
    pub fn worker_run(&self, id: usize) {
        if id == 0 || id >= self.n_threads {
            return;
        }
        let target = (self.n_threads - 1) as u32;
        let mut seen = 0;
        loop {
            seen = self.wait_job(seen);
            if self.quit.load(Acquire) {
                return;
            }
            // SAFETY: published by the `seq` increment `wait_job` saw; not
            // rewritten until every worker is past the barrier.
            let job = unsafe { *self.job.get() };
            if let Err(e) = Self::share(&job, self.n_threads, id) {
                lock(&self.worker_error).get_or_insert(e);
            }
            // The last live worker wakes the coordinator (dead ones count as done).
            let done = self.done.fetch_add(1, SeqCst) + 1;
            if done + self.dead.load(SeqCst).count_ones() >= target && self.coordinator_asleep.load(SeqCst) {
                drop(lock(&self.done_lock));
                self.done_cv.notify_one();
            }
        }
    }

    /// Waits until `seq` is not `seen`; returns it.
    fn wait_job(&self, seen: u32) -> u32 {
        let mut spins = 0;
        loop {
            let s = self.seq.load(Acquire);
            if s != seen {
                return s;
            }
            if spins < self.spin {
                spins += 1;
                spin_loop();
                continue;
            }
            let mut g = lock(&self.wake_lock);
            self.sleepers.fetch_add(1, SeqCst);
            while self.seq.load(SeqCst) == seen {
                g = self.wake.wait(g).unwrap_or_else(PoisonError::into_inner);
            }
            self.sleepers.fetch_sub(1, SeqCst);
            return self.seq.load(Acquire);
        }
    }

    /// Says worker `id` died (its JS caught a trap; natively, a panic): the
    /// coordinator stops waiting for it (it still waits for the live ones,
    /// whose shares read and write the job's memory) and every job from now
    /// on fails with [`PoolError::Lost`]. Safe to call from any thread, any
    /// number of times; an `id` that is not a worker's marks the pool lost
    /// without excusing anyone from the barrier.
    pub fn lose(&self, id: usize) {
        if (1..self.n_threads).contains(&id) {
            self.dead.fetch_or(1 << id, SeqCst);
        }
        self.lost.store(true, SeqCst);
        drop(lock(&self.done_lock));
        self.done_cv.notify_all();
    }

    /// Whether a worker died ([`Pool::lose`]).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Acquire)
    }

    /// Makes every worker's [`Pool::worker_run`] return (after the job it
    /// runs, if any). The pool takes no jobs afterwards.
    pub fn quit(&self) {
        self.quit.store(true, Release);
        self.seq.fetch_add(1, SeqCst);
        drop(lock(&self.wake_lock));
        self.wake.notify_all();
    }
}

/// Bytes of an `n_rows` × `cols` matrix of `ty`, or why it has none.
pub fn matrix_bytes(ty: GgmlType, n_rows: usize, cols: usize) -> Result<usize, QuantError> {
    let row = bytes_for(ty, cols)?;
    row.checked_mul(n_rows)
        .ok_or(QuantError::Length { expected: usize::MAX, got: 0 })
}

/// A [`Pool`] whose workers are `std::thread`s (native builds: the engine's
/// tests and the CLI; a browser's workers are Web Workers, pkg/worker.js).
/// Dropping it ends and joins them.
#[cfg(not(target_arch = "wasm32"))]
pub struct NativePool {
    pool: std::sync::Arc<Pool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

#[cfg(not(target_arch = "wasm32"))]
impl NativePool {
    /// Starts `n_threads − 1` workers. Errors: `n_threads` outside
    /// 1..=[`MAX_THREADS`]; a thread the OS would not start.
    pub fn start(n_threads: usize, spin: u32) -> Result<NativePool, PoolError> {
        let pool = std::sync::Arc::new(Pool::new(n_threads, spin)?);
        let mut me = NativePool { pool, workers: Vec::new() };
        for id in 1..n_threads {
            let p = me.pool.clone();
            let spawned = std::thread::Builder::new().name(format!("tabllm-cpu-{id}")).spawn(move || {
                // A panic in a share would leave the barrier one short: say
                // the worker is gone instead (its message went to stderr).
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.worker_run(id))).is_err() {
                    p.lose(id);
                }
            });
            match spawned {
                Ok(h) => me.workers.push(h),
                Err(e) => return Err(PoolError::Spawn(e.to_string())), // `me` drops: the started ones end
            }
        }
        Ok(me)
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for NativePool {
    fn drop(&mut self) {
        self.pool.quit();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::testing::{random_f32, random_tensor};

    #[test]
    fn rows_of_covers_every_row_once_in_order() {
        for n_rows in [0, 1, 2, 5, 576, 1536, 3584] {
            for n in 1..=7 {
                let mut next = 0;
                for id in 0..n {
                    let r = rows_of(n_rows, n, id);
                    assert_eq!(r.start, next, "n_rows {n_rows}, {n} threads, id {id}");
                    assert!(r.len() <= n_rows / n + 1);
                    next = r.end;
                }
                assert_eq!(next, n_rows, "n_rows {n_rows}, {n} threads");
            }
        }
        assert_eq!(rows_of(10, 3, 3), 0..0);
    }

    #[test]
    fn tokens_of_covers_every_token_once_in_whole_tiles() {
        for n_tokens in [0, 1, 2, 3, 4, 5, 9, 17, 512] {
            for n in 1..=5 {
                let mut next = 0;
                for id in 0..n {
                    let r = tokens_of(n_tokens, n, id);
                    assert_eq!(r.start, next.min(n_tokens), "{n_tokens} tokens, {n} threads, id {id}");
                    assert!(r.is_empty() || r.start % TILE == 0, "{n_tokens} tokens, {n} threads, id {id}: {r:?}");
                    assert!(r.end == n_tokens || r.end % TILE == 0, "{n_tokens} tokens, {n} threads, id {id}: {r:?}");
                    next = r.end;
                }
                assert_eq!(next, n_tokens, "{n_tokens} tokens, {n} threads");
            }
        }
    }

    /// Quits the pool when dropped, so that a failed assertion in the
    /// coordinator ends the workers (and the test) instead of hanging.
    struct QuitOnDrop<'a>(&'a Pool);
    impl Drop for QuitOnDrop<'_> {
        fn drop(&mut self) {
            self.0.quit();
        }
    }

    /// Runs `f(pool)` as the coordinator of `n` threads (n − 1 std threads
    /// in `worker_run`), then quits the pool.
    fn with_pool<R>(n: usize, spin: u32, f: impl FnOnce(&Pool) -> R) -> R {
        let pool = Pool::new(n, spin).unwrap();
        std::thread::scope(|s| {
            for id in 1..n {
                let pool = &pool;
                s.spawn(move || pool.worker_run(id));
            }
            let _quit = QuitOnDrop(&pool);
            f(&pool)
        })
    }

    /// SmolLM2-135M's and a Qwen3.5-0.8B-like shapes (those that are whole
    /// blocks), Q4_1, Q4_K and F16, one token (rows split) and 1–9 tokens
    /// (tiles of tokens split, with a partial tile), stored and accumulated
    /// into a wider y, at 1, 2 and 3 threads with spinning and sleeping
    /// waits: bit-equal to one thread's `matmul`, over several jobs in a row.
    #[test]
    fn threaded_matmul_is_bit_equal_to_one_thread() {
        let shapes = [(1536, 576, 1), (576, 1536, 1), (3584, 1024, 1), (7, 256, 1), (576, 1536, 9), (96, 256, 5), (64, 576, 2)];
        for ty in [GgmlType::Q4_1, GgmlType::Q4K, GgmlType::F16] {
            let cases: Vec<_> = shapes
                .iter()
                .enumerate()
                // Q4_K has 256-column blocks: not SmolLM2's 576.
                .filter(|(_, &(_, cols, _))| cols % ty.block_elems() as usize == 0)
                .flat_map(|(i, &(rows, cols, n))| {
                    let w = random_tensor(ty, rows * cols, 1 + i as u64);
                    let x = random_f32(n * cols, 100 + i as u64);
                    // y rows are wider than the matrix (as an FFN's y is), so
                    // the stride and the untouched columns are checked too.
                    let stride = rows + 3;
                    let y0 = random_f32((n - 1) * stride + rows + 3, 200 + i as u64);
                    [Write::Store, Write::Accumulate].map(|write| {
                        let mut want = y0.clone();
                        matmul(ty, &w, rows, cols, 0..rows, &x, n, &mut want, stride, write).unwrap();
                        (rows, cols, n, stride, write, w.clone(), x.clone(), y0.clone(), want)
                    })
                })
                .collect();
            for threads in 1..=3 {
                for spin in [0, DEFAULT_SPIN] {
                    with_pool(threads, spin, |pool| {
                        for _round in 0..2 {
                            for (rows, cols, n, stride, write, w, x, y0, want) in &cases {
                                let mut y = y0.clone();
                                pool.matmul(ty, w, *rows, *cols, x, *n, &mut y, *stride, *write).unwrap();
                                for (i, (a, b)) in y.iter().zip(want).enumerate() {
                                    assert_eq!(a.to_bits(), b.to_bits(), "{ty} {rows}×{cols}, {n} tokens, {write:?}, {threads} threads, spin {spin}: y[{i}]: {a} vs {b}");
                                }
                                pool.empty().unwrap();
                            }
                        }
                    });
                }
            }
        }
    }

    /// Attention split by units at 1, 2 and 3 threads: SmolLM2's heads (9
    /// query, 3 KV, 64 wide) over 37 prefill tokens after 100 cached ones
    /// and one decode token, a sliding window on a ring, and a
    /// bidirectional step: bit-equal to one thread's `attention`.
    #[test]
    fn threaded_attention_is_bit_equal_to_one_thread() {
        let shape = |window, causal| attention::Shape { n_heads: 9, n_kv_heads: 3, head_dim: 64, window, scale: 0.125, causal };
        // (shape, cache_len, pos0, n_tokens)
        let cases = [(shape(0, true), 256, 100, 37), (shape(0, true), 256, 200, 1), (shape(32, true), 96, 150, 20), (shape(0, false), 64, 0, 40)];
        for threads in 1..=3 {
            with_pool(threads, DEFAULT_SPIN, |pool| {
                for (i, (s, cache_len, pos0, n)) in cases.iter().enumerate() {
                    let kv: Vec<half::f16> = random_f32(cache_len * s.kv_dim(), 10 + i as u64).into_iter().map(half::f16::from_f32).collect();
                    let vv: Vec<half::f16> = random_f32(cache_len * s.kv_dim(), 20 + i as u64).into_iter().map(half::f16::from_f32).collect();
                    let q = random_f32(n * s.n_heads * s.head_dim, 30 + i as u64);
                    let mut want = vec![0.0; q.len()];
                    attention::attention(&q, &kv, &vv, *cache_len, *pos0, *n, s, &mut want, &mut attention::Scratch::default()).unwrap();
                    let mut got = vec![f32::NAN; q.len()];
                    pool.attention(&q, &kv, &vv, *cache_len, *pos0, *n, s, &mut got).unwrap();
                    for (j, (a, b)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(a.to_bits(), b.to_bits(), "case {i}, {threads} threads: out[{j}]: {a} vs {b}");
                    }
                }
                // A request attention refuses is refused here, before any thread runs.
                let s = shape(0, true);
                let mut out = vec![0.0; 9 * 64];
                let k = vec![half::f16::ZERO; 8 * s.kv_dim()];
                assert!(matches!(pool.attention(&vec![0.0; 9 * 64], &k, &k, 8, 20, 1, &s, &mut out[1..]), Err(PoolError::Attention(_))));
            });
        }
    }

    #[test]
    fn bad_requests_are_refused_before_any_thread_runs() {
        assert_eq!(Pool::new(0, 0).err(), Some(PoolError::Threads(0)));
        assert_eq!(Pool::new(MAX_THREADS + 1, 0).err(), Some(PoolError::Threads(MAX_THREADS + 1)));
        with_pool(2, DEFAULT_SPIN, |pool| {
            let w = random_tensor(GgmlType::Q4_1, 4 * 64, 1);
            let x = random_f32(2 * 64, 2);
            let mut y = vec![0.0; 8];
            let mm = |w: &[u8], cols, x: &[f32], n, y: &mut [f32], ty| pool.matmul(ty, w, 4, cols, x, n, y, 4, Write::Store);
            // A partial block, a short matrix, short x and y, an unsupported type.
            assert!(matches!(mm(&w, 48, &x, 1, &mut y, GgmlType::Q4_1), Err(PoolError::Matmul(_))));
            assert!(matches!(mm(&w[1..], 64, &x, 1, &mut y, GgmlType::Q4_1), Err(PoolError::Matmul(_))));
            assert!(matches!(mm(&w, 64, &x[65..], 2, &mut y, GgmlType::Q4_1), Err(PoolError::Matmul(MatmulError::Input { .. }))));
            assert!(matches!(mm(&w, 64, &x, 2, &mut y[1..], GgmlType::Q4_1), Err(PoolError::Matmul(MatmulError::Output { .. }))));
            assert!(matches!(pool.matmul(GgmlType::Q4_1, &w, 4, 64, &x, 2, &mut y, 3, Write::Store), Err(PoolError::Matmul(MatmulError::Stride { .. }))));
            assert!(matches!(mm(&w, 64, &x, 1, &mut y, GgmlType::Q8_1), Err(PoolError::Matmul(_))));
            assert_eq!(y, vec![0.0; 8], "nothing is written on a refused request");
            // The pool still works afterwards.
            mm(&w, 64, &x, 2, &mut y, GgmlType::Q4_1).unwrap();
            assert!(y.iter().any(|&v| v != 0.0));
        });
    }

    /// A worker that died (Pool::lose, what a trapped Web Worker's JS calls)
    /// fails the job in flight and every later one instead of hanging; a
    /// one-thread pool has no worker to lose.
    #[test]
    fn a_lost_worker_fails_jobs_instead_of_hanging() {
        let pool = Pool::new(3, 0).unwrap();
        std::thread::scope(|s| {
            let p = &pool;
            // Worker 1 runs; worker 2 never arrives and is declared lost
            // while the coordinator waits for it.
            s.spawn(move || p.worker_run(1));
            s.spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                p.lose(2);
            });
            let _quit = QuitOnDrop(p);
            assert_eq!(p.empty(), Err(PoolError::Lost));
            assert!(p.is_lost());
            let w = random_tensor(GgmlType::Q4_1, 4 * 64, 1);
            let mut y = vec![0.0; 4];
            assert_eq!(p.matmul(GgmlType::Q4_1, &w, 4, 64, &random_f32(64, 2), 1, &mut y, 4, Write::Store), Err(PoolError::Lost));
        });
    }

    /// When one worker dies mid-job, the coordinator still waits for the
    /// live ones: the job's memory is theirs until they finish.
    #[test]
    fn a_lost_worker_does_not_release_the_barrier_before_the_live_ones() {
        let pool = Pool::new(3, 0).unwrap();
        let finished = AtomicBool::new(false);
        std::thread::scope(|s| {
            let (p, f) = (&pool, &finished);
            // Worker 1 is live but slow: it takes its job 200 ms late.
            s.spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(200));
                f.store(true, SeqCst);
                p.worker_run(1)
            });
            // Worker 2 dies 50 ms in, while the coordinator waits.
            s.spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                p.lose(2)
            });
            let _quit = QuitOnDrop(p);
            assert_eq!(p.empty(), Err(PoolError::Lost));
            assert!(finished.load(SeqCst), "the barrier opened before the live worker ran its share");
            // Losing the same worker again (its JS and the coordinator's both say so) counts once.
            p.lose(2);
            assert_eq!(p.empty(), Err(PoolError::Lost));
        });
    }

    #[test]
    fn native_pool_matches_one_thread_and_drop_joins() {
        let native = NativePool::start(3, DEFAULT_SPIN).unwrap();
        let w = random_tensor(GgmlType::Q4_1, 64 * 64, 1);
        let x = random_f32(64, 2);
        let (mut a, mut b) = (vec![0.0; 64], vec![0.0; 64]);
        native.pool().matmul(GgmlType::Q4_1, &w, 64, 64, &x, 1, &mut a, 64, Write::Store).unwrap();
        matmul(GgmlType::Q4_1, &w, 64, 64, 0..64, &x, 1, &mut b, 64, Write::Store).unwrap();
        assert_eq!(a, b);
        drop(native); // joins: the test ends
    }
}
