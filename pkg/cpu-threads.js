// The CPU backend's threads (issue 29, docs/cpu-threads.md): the kernels
// module (crates/cpu-threads, built by scripts/build-cpu-threads.sh into
// wasm/tabllm_cpu_threads.wasm) on N workers sharing one
// WebAssembly.Memory({ shared: true }), and the bridge the engine calls
// (src/cpu/bridge.rs) to stream weights there and run its matmuls.
//
// Runs in the engine's worker (pkg/worker.js), the pool's coordinator: a
// pool's jobs block in Atomics.wait, which a page's main thread may not
// call. Needs `crossOriginIsolated` (a page served with COOP: same-origin
// and COEP: require-corp): without it there is no SharedArrayBuffer and
// `startThreads` refuses.
//
//   const threads = await startThreads({ threads: 2, engineMemory });  // installs globalThis.tabllmCpuThreads
//   WebEngine.create_cpu(context, 2)                                    // the engine finds the bridge
//   await threads.close();

// `instantiate` lives in cpu-threads-instance.js, which the threads' worker
// imports instead of this file: importing this one (and its `new Worker(new
// URL('./cpu-threads-worker.js', …))`) would make a worker that starts
// itself, a cycle Next.js 16's Turbopack never finishes building.
import { instantiate } from './cpu-threads-instance.js';

export { instantiate, wasiImports } from './cpu-threads-instance.js';

/** How long a worker may take to start (fetch its script, instantiate the
 * module) before the pool gives up: a few hundred ms is usual. */
const START_MS = 5000;

/** How long close() waits for a worker to leave its loop before ending it anyway. */
const EXIT_MS = 2000;

/** Bytes of each extra worker's stack (the Rust target's main stack is 1 MiB). */
const STACK_BYTES = 1 << 20;

/** Status codes of the module's matvec exports (crates/cpu-threads/src/exports.rs). */
const STATUS = { 1: 'unsupported weight type', 2: 'bad shape', 3: 'a CPU thread was lost (a worker trapped)' };

/**
 * A pool of `threads` (this worker, the coordinator, included): starts
 * `threads − 1` workers (cpu-threads-worker.js), each with its own instance,
 * stack and thread-local block, and resolves when all are running.
 * `kernels`: this worker's instance (from `instantiate`, the first on
 * `memory`). `spin`: iterations a wait spins before it sleeps.
 * Throws: not cross-origin isolated, `threads` outside 1..64, a worker that
 * fails to start (those already started are ended).
 */
export async function createPool({ module, memory, kernels, threads, spin = 1 << 14, startMs = START_MS }) {
  if (!globalThis.crossOriginIsolated) {
    throw new Error('cpu-threads: the page is not cross-origin isolated (COOP: same-origin, COEP: require-corp), so it has no shared memory; use the single-thread path');
  }
  const pool = kernels.pool_new(threads, spin);
  if (!pool) throw new RangeError(`cpu-threads: threads must be 1 to 64, not ${threads}`);
  const started = [];
  let lostWorker = null;
  const close = async () => {
    kernels.pool_quit(pool);
    // Only a worker that started runs the loop pool_quit ends; one that
    // never started is ended at once, and so is one that has not left the
    // loop within EXIT_MS (a browser that stopped running it): a close
    // never hangs. Such a worker's stack is not freed (it may still be on
    // it); it goes with the memory.
    let timer;
    const bound = new Promise((resolve) => { timer = setTimeout(resolve, EXIT_MS); });
    await Promise.race([Promise.all(started.filter((s) => s.ready).map((s) => s.exited.then(() => { s.left = true; }))), bound]);
    clearTimeout(timer);
    for (const s of started) {
      s.worker.terminate();
      if (s.ready && !s.left) continue; // may still be on its stack
      kernels.buf_free(s.stack, STACK_BYTES, 16);
      kernels.buf_free(s.tls, kernels.__tls_size.value, kernels.__tls_align.value);
    }
    // The pool itself (a few hundred bytes) is not freed: the spike has no pool_free.
  };
  try {
    for (let id = 1; id < threads; id++) {
      const stack = kernels.buf_alloc(STACK_BYTES, 16) >>> 0;
      const tls = kernels.buf_alloc(kernels.__tls_size.value, kernels.__tls_align.value) >>> 0;
      if (!stack || !tls) throw new Error('cpu-threads: no memory for a worker\'s stack');
      // Written out in full (not a URL from a parameter): the form Vite,
      // webpack and Next.js recognize, so a bundled app emits this worker
      // and its imports too.
      const worker = new Worker(new URL('./cpu-threads-worker.js', import.meta.url), { type: 'module', name: `tabllm-cpu-${id}` });
      let done;
      const exited = new Promise((resolve) => { done = resolve; });
      const ready = new Promise((resolve, reject) => {
        // The thread is gone. After `ready` nobody awaits a rejection: say
        // it here, and tell the pool (its barrier stops waiting for this
        // thread; every later job fails).
        const lose = (why) => {
          console.error(`cpu-threads worker ${id}: ${why}`);
          lostWorker = id;
          kernels.pool_lose(pool, id);
          done();
        };
        worker.onmessage = ({ data }) => {
          if (data.ready) resolve();
          else if (data.exited) done();
          else if (data.error) {
            // A trap: the worker told the pool itself too (the barrier may
            // hold this thread in Atomics.wait, so this message can come late).
            lose(data.error);
            reject(new Error(`cpu-threads worker ${id}: ${data.error}`));
          }
        };
        worker.onerror = (e) => {
          // After `ready`: an error the worker's own handler did not catch.
          if (started.find((s) => s.worker === worker)?.ready) lose(e.message ?? 'an uncaught error');
          reject(new Error(`cpu-threads worker ${id} did not start: ${e.message ?? 'its script did not load or was blocked (on a cross-origin-isolated page a worker script needs Cross-Origin-Embedder-Policy too)'}`));
        };
      });
      started.push({ worker, stack, tls, exited, ready: false, left: false });
      worker.postMessage({ module, memory, pool, id, stackTop: stack + STACK_BYTES, tls });
      // A worker the browser blocks (a script served without COEP) or never
      // runs (WebKitGTK 2.50 with a nested worker on a shared memory) gives
      // no error event: without a bound the load would wait forever.
      let timer;
      const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`cpu-threads worker ${id} did not start within ${startMs} ms`)), startMs); });
      try {
        await Promise.race([ready, late]);
        started.at(-1).ready = true;
      } finally {
        clearTimeout(timer);
      }
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
    /** The pool's address, for the module's pool_* exports. */
    id: pool,
    /** y = W · x of n tokens over all rows, split across the threads (bit-equal to one thread); pointers into `memory`. */
    matmul: (kind, w, rows, cols, x, nTokens, y, yStride, write = 0) => check(kernels.pool_matmul(pool, kind, w, rows, cols, x, nTokens, y, yStride, write)),
    /** A job with nothing to do: the cost of posting a job and its barrier. */
    empty: () => check(kernels.pool_empty(pool)),
    /** Whether a worker died (its trap was caught and the pool told). */
    lost: () => lostWorker !== null,
    close,
  };
}

/** Status codes of the module's matmul exports (crates/cpu-threads/src/exports.rs). */
export const LOST = 3;

const MAX_PAGES = 65536; // 4 GiB: wasm32's limit, as the module links (--max-memory)

/**
 * Starts `threads` CPU threads for the engine and installs the bridge the
 * engine calls as `globalThis.tabllmCpuThreads` (src/cpu/bridge.rs):
 * compiles the kernels module (`wasmUrl`), makes the shared memory,
 * instantiates the module here (the coordinator) and starts `threads − 1`
 * workers. `engineMemory`: a function returning the engine's
 * WebAssembly.Memory (read afresh at each call: it grows).
 * Returns { threads, close() }: close ends the workers and removes the bridge.
 * Throws: not cross-origin isolated, `threads` outside 2..64, a memory or
 * worker the browser refuses.
 */
export async function startThreads({ threads, engineMemory, spin = 1 << 14, startMs = START_MS, wasmUrl = new URL('./wasm/tabllm_cpu_threads.wasm', import.meta.url) }) {
  if (!globalThis.crossOriginIsolated) {
    throw new Error('the page is not cross-origin isolated (COOP: same-origin, COEP: require-corp), so it has no shared memory');
  }
  if (!Number.isInteger(threads) || threads < 2 || threads > 64) throw new RangeError(`threads must be an integer 2 to 64, not ${threads}`);
  const module = await WebAssembly.compileStreaming(fetch(wasmUrl));
  // The module's own minimum (its data, stack and heap start) is what the import needs.
  const memory = new WebAssembly.Memory({ initial: 64, maximum: MAX_PAGES, shared: true });
  const kernels = instantiate(module, memory);
  const pool = await createPool({ module, memory, kernels, threads, spin, startMs });
  // Scratch in the shared memory for one matmul's x and y, grown as needed.
  const scratch = { x: 0, xBytes: 0, y: 0, yBytes: 0 };
  const room = (which, bytes) => {
    const key = `${which}Bytes`;
    if (scratch[key] >= bytes) return scratch[which];
    if (scratch[which]) kernels.buf_free(scratch[which], scratch[key], 64);
    const at = kernels.buf_alloc(bytes, 64) >>> 0;
    if (!at) throw new Error(`the CPU threads' shared memory cannot grow by ${bytes} bytes`);
    scratch[which] = at;
    scratch[key] = bytes;
    return at;
  };
  // A trap in this instance's own share (a panic is an abort on this
  // target) leaves its state unusable (a borrowed scratch, its stack
  // pointer) and the workers possibly still in that job: no job may run
  // after it. Every later call answers LOST, which the engine reports.
  let broken = false;
  const coordinate = (run) => {
    try {
      return run();
    } catch (e) {
      broken = true;
      console.error(`cpu-threads: the coordinator's share trapped: ${e?.stack ?? e}`);
      return LOST;
    }
  };
  const u8 = (mem, at, len) => new Uint8Array(mem.buffer, at >>> 0, len >>> 0);
  const f32 = (mem, at, len) => new Float32Array(mem.buffer, at >>> 0, len >>> 0);
  const bridge = {
    count: () => threads,
    alloc: (bytes) => kernels.buf_alloc(bytes, 8) >>> 0,
    free: (at, bytes) => kernels.buf_free(at, bytes, 8),
    write: (dst, src, len) => u8(memory, dst, len).set(u8(engineMemory(), src, len)),
    read: (dst, src, len) => u8(engineMemory(), dst, len).set(u8(memory, src, len)),
    matmul: (kind, w, rows, cols, x, xLen, nTokens, y, yLen, yStride, write) => {
      if (broken) return LOST;
      if (nTokens === 0 || rows === 0) return 0; // nothing to write (and no stale scratch copied back)
      const xs = room('x', Math.max(4, xLen * 4));
      const ys = room('y', Math.max(4, yLen * 4));
      const engine = engineMemory();
      f32(memory, xs, xLen).set(f32(engine, x, xLen));
      // y in too where the matmul does not overwrite all of it: an
      // accumulate adds to it, and a store into a wider y (yStride > rows)
      // leaves the columns past `rows` as they were.
      if (write !== 0 || (nTokens > 1 && yStride !== rows)) f32(memory, ys, yLen).set(f32(engine, y, yLen));
      const rc = coordinate(() => kernels.pool_matmul(pool.id, kind, w, rows, cols, xs, nTokens, ys, yStride, write));
      if (rc === 0) f32(engineMemory(), y, yLen).set(f32(memory, ys, yLen));
      return rc;
    },
    attention: (q, k, v, cacheLen, pos0, nTokens, nHeads, nKvHeads, headDim, window, scale, causal, out) => {
      if (broken) return LOST;
      const n = nTokens * nHeads * headDim;
      if (n === 0) return 0;
      const qs = room('x', Math.max(4, n * 4));
      const os = room('y', Math.max(4, n * 4));
      f32(memory, qs, n).set(f32(engineMemory(), q, n));
      const rc = coordinate(() => kernels.pool_attention(pool.id, qs, k, v, cacheLen, pos0, nTokens, nHeads, nKvHeads, headDim, window, scale, causal, os));
      if (rc === 0) f32(engineMemory(), out, n).set(f32(memory, os, n));
      return rc;
    },
  };
  globalThis.tabllmCpuThreads = bridge;
  return {
    threads,
    /** Whether a worker (or this coordinator's share) died: every matmul from now on fails (the engine reports it). */
    lost: () => broken || pool.lost(),
    async close() {
      if (globalThis.tabllmCpuThreads === bridge) delete globalThis.tabllmCpuThreads;
      await pool.close();
    },
  };
}
