// The kernel checks of tests/browser/threads.mjs, in a worker (the
// coordinator, as the engine's pkg/worker.js is): matmuls of real model
// shapes (one token: rows split; several: tiles of tokens split) at each
// thread count, checked bit-equal to one thread's matmul_one, timed, and
// the barrier's cost alone (an empty job).
import { createPool, instantiate } from '../../../pkg/cpu-threads.js';

const F32 = 0;
const F16 = 1;
const KIND_NAMES = { 1: 'F16', 3: 'Q4_1', 12: 'Q4_K' };
const BLOCK = { 1: 1, 3: 32, 12: 256 };

onmessage = async ({ data }) => {
  try {
    postMessage({ result: await run(data) });
  } catch (e) {
    postMessage({ error: String(e?.stack ?? e) });
  }
};

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** µs per call of `f`, batches of about `batchMs`: calls per batch found once by a warm-up. */
function perCall(f, batchMs) {
  let n = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < n; i++) f();
    const ms = performance.now() - t;
    if (ms >= batchMs / 4) return { n: Math.max(1, Math.round((n * batchMs) / ms)) };
    n *= 2;
  }
}

async function run({ wasmUrl, threads, shapes, kinds, batchMs = 100, rounds = 5, spin }) {
  const out = { spin, crossOriginIsolated: globalThis.crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency, cases: [], barrier: [] };
  if (!crossOriginIsolated) {
    try {
      await createPool({ threads: 2 });
      out.refused = null;
    } catch (e) {
      out.refused = String(e.message);
    }
    return out;
  }
  const module = await WebAssembly.compileStreaming(fetch(wasmUrl));
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 16384, shared: true });
  const k = instantiate(module, memory);
  const alloc = (bytes) => {
    const p = k.buf_alloc(bytes, 64) >>> 0;
    if (!p) throw new Error(`buf_alloc(${bytes}) failed`);
    return p;
  };
  const pools = [];
  for (const t of threads) pools.push(await createPool({ module, memory, kernels: k, threads: t, spin }));
  try {
    // The barrier alone: back to back (the workers spin) and after a pause
    // long enough for them to fall asleep (Atomics.wait on a private word).
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (const pool of pools) {
      const { n } = perCall(pool.empty, batchMs);
      const hot = [];
      for (let r = 0; r < rounds; r++) {
        const t = performance.now();
        for (let i = 0; i < n; i++) pool.empty();
        hot.push(((performance.now() - t) * 1000) / n);
      }
      const cold = [];
      for (let r = 0; r < 20; r++) {
        Atomics.wait(nap, 0, 0, 5);
        const t = performance.now();
        pool.empty();
        cold.push((performance.now() - t) * 1000);
      }
      out.barrier.push({ threads: pool.threads, hotUs: median(hot), coldUs: median(cold) });
    }
    let seed = 1;
    for (const kind of kinds) {
      for (const [rows, cols, tokens] of shapes) {
        if (cols % BLOCK[kind]) continue;
        const wBytes = k.matrix_bytes(kind, rows, cols) >>> 0;
        const w = alloc(wBytes);
        const x = alloc(tokens * cols * 4);
        const n = tokens * rows; // y: (tokens, rows)
        const want = alloc(n * 4);
        const y = alloc(n * 4);
        if (k.fill_random(kind, w, rows * cols, seed++) >>> 0 !== wBytes) throw new Error('fill_random (weights) failed');
        if (k.fill_random(F32, x, tokens * cols, seed++) >>> 0 !== tokens * cols * 4) throw new Error('fill_random (x) failed');
        const rc = k.matmul_one(kind, w, rows, cols, x, tokens, want, rows, 0);
        if (rc !== 0) throw new Error(`matmul_one: status ${rc}`);
        const c = { kind: KIND_NAMES[kind] ?? kind, rows, cols, tokens, weightBytes: wBytes, byThreads: {} };
        // Bit-equality with one thread's matmul_one, at each thread count.
        for (const pool of pools) {
          new Float32Array(memory.buffer, y, n).fill(NaN);
          pool.matmul(kind, w, rows, cols, x, tokens, y, rows);
          const a = new Uint32Array(memory.buffer, y, n);
          const b = new Uint32Array(memory.buffer, want, n);
          let firstDiff = -1;
          for (let i = 0; i < n && firstDiff < 0; i++) if (a[i] !== b[i]) firstDiff = i;
          c.byThreads[pool.threads] = { bitEqual: firstDiff < 0, firstDiff, us: [] };
        }
        // Timing: rounds × (one batch per thread count), interleaved so that
        // the machine's load drifts over all of them alike.
        const calls = pools.map((p) => perCall(() => p.matmul(kind, w, rows, cols, x, tokens, y, rows), batchMs).n);
        for (let r = 0; r < rounds; r++) {
          pools.forEach((pool, i) => {
            const t = performance.now();
            for (let j = 0; j < calls[i]; j++) pool.matmul(kind, w, rows, cols, x, tokens, y, rows);
            c.byThreads[pool.threads].us.push(((performance.now() - t) * 1000) / calls[i]);
          });
        }
        for (const v of Object.values(c.byThreads)) {
          v.medianUs = median(v.us);
          v.minUs = Math.min(...v.us);
        }
        out.cases.push(c);
        for (const [p, b] of [[w, wBytes], [x, tokens * cols * 4], [want, n * 4], [y, n * 4]]) k.buf_free(p, b, 64);
      }
    }
    // A store into a wider y and an accumulate (what the bridge copies y in
    // for): the columns past `rows` untouched, the sums added, bit-equal.
    out.wide = [];
    for (const write of [0, 1]) {
      const [kind, rows, cols, tokens, stride] = [3, 576, 1536, 5, 579];
      const wBytes = k.matrix_bytes(kind, rows, cols) >>> 0;
      const n = (tokens - 1) * stride + rows + 3;
      const [w, x, y0, want, y] = [alloc(wBytes), alloc(tokens * cols * 4), alloc(n * 4), alloc(n * 4), alloc(n * 4)];
      k.fill_random(kind, w, rows * cols, seed++);
      k.fill_random(F32, x, tokens * cols, seed++);
      k.fill_random(F32, y0, n, seed++);
      const copy = (dst) => new Float32Array(memory.buffer, dst, n).set(new Float32Array(memory.buffer, y0, n));
      copy(want);
      if (k.matmul_one(kind, w, rows, cols, x, tokens, want, stride, write) !== 0) throw new Error('matmul_one (wide) failed');
      const c = { write, byThreads: {} };
      for (const pool of pools) {
        copy(y);
        pool.matmul(kind, w, rows, cols, x, tokens, y, stride, write);
        c.byThreads[pool.threads] = firstDifference(new Uint32Array(memory.buffer, y, n), new Uint32Array(memory.buffer, want, n));
      }
      out.wide.push(c);
      for (const [p, b] of [[w, wBytes], [x, tokens * cols * 4], [y0, n * 4], [want, n * 4], [y, n * 4]]) k.buf_free(p, b, 64);
    }
    // Attention split by units (pool_attention) against attention_one:
    // SmolLM2's heads, prefill after a prefix, decode, a sliding window on a
    // ring, and a bidirectional step. (n_heads, n_kv_heads, head_dim, window, causal, cache_len, pos0, n_tokens)
    out.attention = [];
    for (const [nh, nkv, hd, window, causal, cacheLen, pos0, nt] of [[9, 3, 64, 0, 1, 256, 100, 37], [9, 3, 64, 0, 1, 256, 200, 1], [9, 3, 64, 32, 1, 96, 150, 20], [9, 3, 64, 0, 0, 64, 0, 40]]) {
      const kvn = cacheLen * nkv * hd;
      const qn = nt * nh * hd;
      const [q, kc, vc, want, o] = [alloc(qn * 4), alloc(kvn * 2), alloc(kvn * 2), alloc(qn * 4), alloc(qn * 4)];
      k.fill_random(F32, q, qn, seed++);
      k.fill_random(F16, kc, kvn, seed++);
      k.fill_random(F16, vc, kvn, seed++);
      if (k.attention_one(q, kc, vc, cacheLen, pos0, nt, nh, nkv, hd, window, 0.125, causal, want) !== 0) throw new Error('attention_one failed');
      const c = { label: `${nh}/${nkv}×${hd}, window ${window}, ${causal ? 'causal' : 'bidirectional'}, ${nt} at ${pos0} in ${cacheLen}`, byThreads: {} };
      for (const pool of pools) {
        new Float32Array(memory.buffer, o, qn).fill(NaN);
        const rc = k.pool_attention(pool.id, q, kc, vc, cacheLen, pos0, nt, nh, nkv, hd, window, 0.125, causal, o);
        if (rc !== 0) throw new Error(`pool_attention: status ${rc}`);
        c.byThreads[pool.threads] = firstDifference(new Uint32Array(memory.buffer, o, qn), new Uint32Array(memory.buffer, want, qn));
      }
      out.attention.push(c);
      for (const [p, b] of [[q, qn * 4], [kc, kvn * 2], [vc, kvn * 2], [want, qn * 4], [o, qn * 4]]) k.buf_free(p, b, 64);
    }
  } finally {
    for (const p of pools) await p.close();
  }
  return out;
}

/** The first index where `a` and `b` differ, or -1. */
function firstDifference(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
