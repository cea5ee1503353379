// One instance of the CPU threads' kernels module (crates/cpu-threads, built
// into wasm/tabllm_cpu_threads.wasm) on a shared WebAssembly.Memory: the WASI
// functions it imports and the start-up each instance needs. Imported by the
// pool (cpu-threads.js) and by each of its workers (cpu-threads-worker.js).

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
