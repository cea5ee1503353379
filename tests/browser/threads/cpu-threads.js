// The threaded CPU kernels module (crates/cpu-threads, built by
// scripts/build-cpu-threads.sh) on N workers sharing one
// WebAssembly.Memory({ shared: true }). Spike for issue 29
// (docs/cpu-threads.md); not wired into the engine.
//
// Runs in a worker, the coordinator (the engine's pkg/worker.js in the full
// integration): a pool's jobs block in Atomics.wait, which a page's main
// thread may not call. Needs `crossOriginIsolated` (a page served with
// COOP: same-origin and COEP: require-corp): without it there is no
// SharedArrayBuffer and `createPool` refuses.
//
//   const kernels = instantiate(module, memory);        // once per memory, first
//   const pool = await createPool({ module, memory, kernels, threads: 3 });
//   pool.matvec(kind, w, rows, cols, x, y);              // pointers into memory
//   await pool.close();

/** Bytes of each extra worker's stack (the Rust target's main stack is 1 MiB). */
const STACK_BYTES = 1 << 20;

/** Status codes of the module's matvec exports (crates/cpu-threads/src/exports.rs). */
const STATUS = { 1: 'unsupported weight type', 2: 'bad shape' };

/**
 * The WASI preview-1 functions the module imports (std's needs on
 * wasm32-wasip1-threads): no environment, clocks from performance.now(),
 * stdout/stderr lines to the console (a panic's message), proc_exit throws.
 * Every view is made at the call: the shared memory may have grown.
 */
export function wasiImports(memory) {
  const pending = { 1: '', 2: '' };
  const decoder = new TextDecoder();
  const u32 = (p, v) => new DataView(memory.buffer).setUint32(p >>> 0, v, true);
  return {
    environ_sizes_get: (count, size) => (u32(count, 0), u32(size, 0), 0),
    environ_get: () => 0,
    clock_time_get: (id, _precision, out) => {
      const ms = id === 0 ? performance.timeOrigin + performance.now() : performance.now();
      new DataView(memory.buffer).setBigUint64(out >>> 0, BigInt(Math.round(ms * 1e6)), true);
      return 0;
    },
    fd_write: (fd, iovs, n, written) => {
      const view = new DataView(memory.buffer);
      let total = 0;
      for (let i = 0; i < n; i++) {
        const ptr = view.getUint32((iovs >>> 0) + 8 * i, true);
        const len = view.getUint32((iovs >>> 0) + 8 * i + 4, true);
        // TextDecoder refuses views of a SharedArrayBuffer: copy first.
        const text = decoder.decode(new Uint8Array(memory.buffer, ptr, len).slice());
        if (fd === 1 || fd === 2) {
          const lines = (pending[fd] + text).split('\n');
          pending[fd] = lines.pop();
          for (const l of lines) (fd === 2 ? console.error : console.log)(`[cpu-threads] ${l}`);
        }
        total += len;
      }
      u32(written, total);
      return 0;
    },
    proc_exit: (code) => { throw new Error(`cpu-threads: proc_exit(${code})`); },
    sched_yield: () => 0,
  };
}

/** An instance of the kernels module on `memory`, ready to call: the first
 * instance on a memory (`first`) initializes its data, owns the module's own
 * stack and thread-local block, and runs the C runtime's start-up (what a
 * WASI reactor's `_initialize` does); a later one needs a stack and a
 * thread-local block of its own (`thread`: { stackTop, tls }, from the
 * first instance's buf_alloc) before any call. */
export function instantiate(module, memory, thread = null) {
  const { exports } = new WebAssembly.Instance(module, { env: { memory }, wasi_snapshot_preview1: wasiImports(memory) });
  if (thread) {
    // Every instance starts on the first one's stack and with no
    // thread-local block (__tls_base 0): switch both before anything runs.
    exports.__stack_pointer.value = thread.stackTop;
    exports.__wasm_init_tls(thread.tls);
  }
  // libc's per-thread struct (pthread_self) lives in the thread-local
  // block; std's thread_local! destructors need it.
  exports.__wasi_init_tp();
  if (!thread) exports.__wasm_call_ctors();
  return exports;
}

/**
 * A pool of `threads` (this worker, the coordinator, included): starts
 * `threads − 1` workers (cpu-threads-worker.js), each with its own instance,
 * stack and thread-local block, and resolves when all are running.
 * `kernels`: this worker's instance (from `instantiate`, the first on
 * `memory`). `spin`: iterations a wait spins before it sleeps.
 * Throws: not cross-origin isolated, `threads` outside 1..64, a worker that
 * fails to start (those already started are ended).
 */
export async function createPool({ module, memory, kernels, threads, spin = 1 << 14, workerUrl = new URL('./cpu-threads-worker.js', import.meta.url) }) {
  if (!globalThis.crossOriginIsolated) {
    throw new Error('cpu-threads: the page is not cross-origin isolated (COOP: same-origin, COEP: require-corp), so it has no shared memory; use the single-thread path');
  }
  const pool = kernels.pool_new(threads, spin);
  if (!pool) throw new RangeError(`cpu-threads: threads must be 1 to 64, not ${threads}`);
  const started = [];
  const close = async () => {
    kernels.pool_quit(pool);
    await Promise.all(started.map((s) => s.exited));
    for (const s of started) {
      s.worker.terminate();
      kernels.buf_free(s.stack, STACK_BYTES, 16);
      kernels.buf_free(s.tls, kernels.__tls_size.value, kernels.__tls_align.value);
    }
    // The pool itself (a few hundred bytes) is not freed: the spike has no pool_free.
  };
  try {
    for (let id = 1; id < threads; id++) {
      const stack = kernels.buf_alloc(STACK_BYTES, 16);
      const tls = kernels.buf_alloc(kernels.__tls_size.value, kernels.__tls_align.value);
      if (!stack || !tls) throw new Error('cpu-threads: no memory for a worker\'s stack');
      const worker = new Worker(workerUrl, { type: 'module', name: `tabllm-cpu-${id}` });
      let exited;
      const ready = new Promise((resolve, reject) => {
        exited = new Promise((done) => {
          worker.onmessage = ({ data }) => {
            if (data.ready) resolve();
            else if (data.exited) done();
            else if (data.error) {
              // After `ready` nobody awaits the rejection: say it here.
              console.error(`cpu-threads worker ${id}: ${data.error}`);
              reject(new Error(`cpu-threads worker ${id}: ${data.error}`));
              done();
            }
          };
        });
        worker.onerror = (e) => reject(new Error(`cpu-threads worker ${id}: ${e.message}`));
      });
      started.push({ worker, stack, tls, exited });
      worker.postMessage({ module, memory, pool, id, stackTop: stack + STACK_BYTES, tls });
      await ready;
    }
  } catch (e) {
    await close();
    throw e;
  }
  const check = (rc) => {
    if (rc !== 0) throw new Error(`cpu-threads: ${STATUS[rc] ?? `status ${rc}`}`);
  };
  return {
    threads,
    /** y = W · x over all rows, split across the threads (bit-equal to one thread). */
    matvec: (kind, w, rows, cols, x, y) => check(kernels.pool_matvec(pool, kind, w, rows, cols, x, y)),
    /** A job with nothing to do: the cost of posting a job and its barrier. */
    empty: () => kernels.pool_empty(pool),
    close,
  };
}
