//! A pool of threads that split one matvec's rows: the coordinator (the
//! caller of [`Pool::matvec`], thread 0) and `n_threads − 1` workers (each
//! in [`Pool::worker_run`]) run contiguous row ranges ([`rows_of`]) of the
//! same job, then meet at a barrier.
//!
//! In the browser every thread is a Web Worker holding its own instance of
//! this module on one shared `WebAssembly.Memory`; natively (the tests) they
//! are `std::thread`s. Either way the pool lives in memory all of them see
//! and they talk only through its atomics:
//!
//! - `seq`, the job word: the coordinator writes the job, then increments
//!   `seq`; a worker that sees it change runs its share.
//! - `done`, the barrier: each worker increments it after its share; the
//!   coordinator, after its own share, waits until it is `n_threads − 1`.
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
//! Results are bit-equal to one thread's: each output row's reduction is the
//! same `crate::cpu::matmul` call whichever thread runs it (the row split
//! only changes which thread does a row, never the order of a row's sums).
//!
//! Never call the waits on a browser page's main thread: `Atomics.wait`
//! throws there. The coordinator is itself a worker (pkg/worker.js).

use crate::cpu::matmul::{matmul, MatmulError, Write};
use crate::quant::{bytes_for, is_supported, GgmlType, QuantError};
use std::cell::UnsafeCell;
use std::hint::spin_loop;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::*};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Most threads a pool takes (a browser reports at most a few dozen cores).
pub const MAX_THREADS: usize = 64;

/// Spin iterations before a wait sleeps, when the caller has no better
/// number: about 10–50 µs of atomic loads, longer than a decode step's gap
/// between two matvecs on a small model and far shorter than a token.
pub const DEFAULT_SPIN: u32 = 1 << 14;

/// What can be wrong when making a [`Pool`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("a pool takes 1 to {MAX_THREADS} threads, not {0}")]
    Threads(usize),
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

/// One job: raw pointers into the memory every thread shares, valid (and
/// `y` written by nobody else) from [`Pool::post`] until the barrier.
#[derive(Clone, Copy)]
enum Job {
    /// Nothing to compute: measures the post and the barrier.
    Empty,
    Matvec(Matvec),
}

/// `y = W · x` for one token: `w` is `n_rows` rows of `row_bytes` bytes of
/// `ty`, `x` has `cols` floats, `y` has `n_rows`.
#[derive(Clone, Copy)]
struct Matvec {
    ty: GgmlType,
    w: *const u8,
    n_rows: usize,
    cols: usize,
    row_bytes: usize,
    x: *const f32,
    y: *mut f32,
}

impl Matvec {
    /// Computes rows `rows` of the job into `y[rows]`.
    ///
    /// # Safety
    /// The pointers hold what [`Matvec`] says, and no other thread touches
    /// `y[rows]` meanwhile.
    unsafe fn run(&self, rows: Range<usize>) -> Result<(), MatmulError> {
        let n = rows.len();
        if n == 0 {
            return Ok(());
        }
        // Only this thread's rows of w and y: the threads' `&mut` slices of y
        // never overlap.
        let w = std::slice::from_raw_parts(self.w.add(rows.start * self.row_bytes), n * self.row_bytes);
        let x = std::slice::from_raw_parts(self.x, self.cols);
        let y = std::slice::from_raw_parts_mut(self.y.add(rows.start), n);
        matmul(self.ty, w, n, self.cols, 0..n, x, 1, y, n, Write::Store)
    }
}

/// See the module doc. One coordinator at a time: [`Pool::matvec`] and
/// [`Pool::empty`] must not be called from two threads at once (`&mut`
/// would say so, but the pool is shared with the workers by `&`).
pub struct Pool {
    n_threads: usize,
    spin: u32,
    /// The job word: incremented once per posted job (and by [`Pool::quit`]).
    seq: AtomicU32,
    quit: AtomicBool,
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

    /// `y = W · x` on every thread of the pool, each a [`rows_of`] range.
    ///
    /// - `w`: `n_rows` × `cols` weights of `ty` in their GGUF blocks
    ///   (exactly `n_rows` rows' bytes).
    /// - `x`: `cols` f32 activations (at least; the rest is ignored).
    /// - `y`: `n_rows` f32 outputs (at least).
    ///
    /// Bit-equal to `crate::cpu::matmul` of all rows on one thread.
    /// Errors: as `matmul`'s (checked here, before any thread starts).
    pub fn matvec(
        &self,
        ty: GgmlType,
        w: &[u8],
        n_rows: usize,
        cols: usize,
        x: &[f32],
        y: &mut [f32],
    ) -> Result<(), MatmulError> {
        if !is_supported(ty) {
            return Err(QuantError::Unsupported(ty).into());
        }
        let row_bytes = crate::quant::matrix_row_bytes(ty, cols, n_rows, w.len())?;
        if x.len() < cols {
            return Err(MatmulError::Input { n_tokens: 1, cols, expected: cols, got: x.len() });
        }
        if y.len() < n_rows {
            return Err(MatmulError::Output { end: n_rows, n_tokens: 1, stride: n_rows, expected: n_rows, got: y.len() });
        }
        let job = Matvec { ty, w: w.as_ptr(), n_rows, cols, row_bytes, x: x.as_ptr(), y: y.as_mut_ptr() };
        // SAFETY: the borrows above hold the memory until the barrier.
        unsafe { self.post(Job::Matvec(job)) }
    }

    /// A job with nothing to compute: what posting a job and its barrier
    /// cost.
    pub fn empty(&self) {
        // SAFETY: no pointers.
        let _ = unsafe { self.post(Job::Empty) };
    }

    /// Runs `job` on every thread and waits for all of them.
    ///
    /// # Safety
    /// The job's pointers stay valid, and its output untouched by others,
    /// until this returns.
    unsafe fn post(&self, job: Job) -> Result<(), MatmulError> {
        if self.n_threads == 1 {
            return Self::share(&job, self.n_threads, 0);
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
        self.wait_workers();
        let theirs = lock(&self.worker_error).take();
        mine.and(theirs.map_or(Ok(()), Err))
    }

    fn share(job: &Job, n_threads: usize, id: usize) -> Result<(), MatmulError> {
        match job {
            Job::Empty => Ok(()),
            // SAFETY: `post`'s contract; `rows_of` ranges are disjoint.
            Job::Matvec(m) => unsafe { m.run(rows_of(m.n_rows, n_threads, id)) },
        }
    }

    /// The barrier, coordinator side.
    fn wait_workers(&self) {
        let target = (self.n_threads - 1) as u32;
        let mut spins = 0;
        while self.done.load(Acquire) != target {
            if spins < self.spin {
                spins += 1;
                spin_loop();
                continue;
            }
            let mut g = lock(&self.done_lock);
            self.coordinator_asleep.store(true, SeqCst);
            while self.done.load(SeqCst) != target {
                g = self.done_cv.wait(g).unwrap_or_else(PoisonError::into_inner);
            }
            self.coordinator_asleep.store(false, SeqCst);
            break;
        }
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
            if self.done.fetch_add(1, SeqCst) + 1 == target && self.coordinator_asleep.load(SeqCst) {
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

    /// Makes every worker's [`Pool::worker_run`] return (after the job it
    /// runs, if any). The pool takes no jobs afterwards.
    pub fn quit(&self) {
        self.quit.store(true, Release);
        self.seq.fetch_add(1, SeqCst);
        drop(lock(&self.wake_lock));
        self.wake.notify_all();
    }
}

/// One thread's rows of a matvec, as the module's `matvec_rows` export
/// takes them: rows `rows` of `y = W · x` into `y[rows]`, `w` holding all
/// `n_rows` rows. Errors: `matmul`'s.
pub fn matvec_rows(
    ty: GgmlType,
    w: &[u8],
    n_rows: usize,
    cols: usize,
    x: &[f32],
    y: &mut [f32],
    rows: Range<usize>,
) -> Result<(), MatmulError> {
    matmul(ty, w, n_rows, cols, rows, x, 1, y, n_rows, Write::Store)
}

/// Bytes of an `n_rows` × `cols` matrix of `ty`, or why it has none.
pub fn matrix_bytes(ty: GgmlType, n_rows: usize, cols: usize) -> Result<usize, QuantError> {
    let row = bytes_for(ty, cols)?;
    row.checked_mul(n_rows)
        .ok_or(QuantError::Length { expected: usize::MAX, got: 0 })
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

    /// SmolLM2-135M's and a Qwen3.5-0.8B-like matvec shapes (those that are
    /// whole blocks), Q4_1 and Q4_K,
    /// at 1, 2 and 3 threads (spinning and sleeping waits): bit-equal to one
    /// thread's `matmul`, over several jobs in a row.
    #[test]
    fn threaded_matvec_is_bit_equal_to_one_thread() {
        let shapes = [(1536, 576), (576, 1536), (3584, 1024), (7, 256)];
        for ty in [GgmlType::Q4_1, GgmlType::Q4K] {
            let cases: Vec<_> = shapes
                .iter()
                .enumerate()
                // Q4_K has 256-column blocks: not SmolLM2's 576.
                .filter(|(_, &(_, cols))| cols % ty.block_elems() as usize == 0)
                .map(|(i, &(rows, cols))| {
                    let w = random_tensor(ty, rows * cols, 1 + i as u64);
                    let x = random_f32(cols, 100 + i as u64);
                    let mut want = vec![0.0f32; rows];
                    matvec_rows(ty, &w, rows, cols, &x, &mut want, 0..rows).unwrap();
                    (rows, cols, w, x, want)
                })
                .collect();
            for n in 1..=3 {
                for spin in [0, DEFAULT_SPIN] {
                    with_pool(n, spin, |pool| {
                        for _round in 0..3 {
                            for (rows, cols, w, x, want) in &cases {
                                let mut y = vec![f32::NAN; *rows];
                                pool.matvec(ty, w, *rows, *cols, x, &mut y).unwrap();
                                for (r, (a, b)) in y.iter().zip(want).enumerate() {
                                    assert_eq!(
                                        a.to_bits(),
                                        b.to_bits(),
                                        "{ty} {rows}×{cols}, {n} threads, spin {spin}: row {r}: {a} vs {b}"
                                    );
                                }
                                pool.empty();
                            }
                        }
                    });
                }
            }
        }
    }

    #[test]
    fn bad_requests_are_refused_before_any_thread_runs() {
        assert_eq!(Pool::new(0, 0).err(), Some(PoolError::Threads(0)));
        assert_eq!(Pool::new(MAX_THREADS + 1, 0).err(), Some(PoolError::Threads(MAX_THREADS + 1)));
        with_pool(2, DEFAULT_SPIN, |pool| {
            let w = random_tensor(GgmlType::Q4_1, 4 * 64, 1);
            let x = random_f32(64, 2);
            let mut y = vec![0.0; 4];
            // A partial block, a short matrix, short x and y, an unsupported type.
            assert!(pool.matvec(GgmlType::Q4_1, &w, 4, 48, &x, &mut y).is_err());
            assert!(pool.matvec(GgmlType::Q4_1, &w[1..], 4, 64, &x, &mut y).is_err());
            assert!(pool.matvec(GgmlType::Q4_1, &w, 4, 64, &x[1..], &mut y).is_err());
            assert!(pool.matvec(GgmlType::Q4_1, &w, 4, 64, &x, &mut y[1..]).is_err());
            assert!(pool.matvec(GgmlType::Q8_1, &w, 4, 64, &x, &mut y).is_err());
            // The pool still works afterwards.
            pool.matvec(GgmlType::Q4_1, &w, 4, 64, &x, &mut y).unwrap();
        });
    }
}
