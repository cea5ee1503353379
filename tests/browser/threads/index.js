// The kernel checks' page: runs kernels-worker.js (the coordinator) with the
// configuration in the URL's query (threads, batchMs, rounds, spin) and shows the
// result; tests/browser/threads.mjs reads `window.spikeResult`.
const q = new URLSearchParams(location.search);
const config = {
  wasmUrl: new URL('../../../pkg/wasm/tabllm_cpu_threads.wasm', import.meta.url).href,
  threads: (q.get('threads') ?? '1,2,3').split(',').map(Number),
  // SmolLM2-135M (576 → 1536, 1536 → 576) and a Qwen3.5-0.8B-like FFN (1024
  // → 3584), one token (decode: rows split) and a prefill batch of 37 (tiles
  // of tokens split, a partial tile last): (rows, cols, tokens).
  shapes: [[1536, 576, 1], [576, 1536, 1], [3584, 1024, 1], [1536, 576, 37], [576, 1536, 37]],
  kinds: [3, 12, 1], // Q4_1, Q4_K, F16 (GGUF type ids)
  batchMs: Number(q.get('batchMs') ?? 100),
  rounds: Number(q.get('rounds') ?? 5),
  // Iterations a wait spins before it sleeps (crates/cpu-threads DEFAULT_SPIN).
  spin: Number(q.get('spin') ?? 16384),
};
const worker = new Worker(new URL('kernels-worker.js', import.meta.url), { type: 'module' });
worker.onmessage = ({ data }) => {
  window.spikeResult = data;
  document.getElementById('out').textContent = JSON.stringify(data, null, 1);
};
worker.onerror = (e) => { window.spikeResult = { error: e.message }; };
worker.postMessage(config);
