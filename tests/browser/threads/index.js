// The spike's page: runs spike-worker.js (the coordinator) with the
// configuration in the URL's query (threads, batchMs, rounds, spin) and shows the
// result; tests/browser/threads-spike.mjs reads `window.spikeResult`.
const q = new URLSearchParams(location.search);
const config = {
  wasmUrl: new URL('../../../target/cpu-threads/wasm32-wasip1-threads/release/tabllm_cpu_threads.wasm', import.meta.url).href,
  threads: (q.get('threads') ?? '1,2,3').split(',').map(Number),
  // SmolLM2-135M (576 → 1536, 1536 → 576) and a Qwen3.5-0.8B-like FFN (1024 → 3584): (rows, cols).
  shapes: [[1536, 576], [576, 1536], [3584, 1024]],
  kinds: [3, 12], // Q4_1, Q4_K (GGUF type ids)
  batchMs: Number(q.get('batchMs') ?? 100),
  rounds: Number(q.get('rounds') ?? 5),
  // Iterations a wait spins before it sleeps (crates/cpu-threads DEFAULT_SPIN).
  spin: Number(q.get('spin') ?? 16384),
};
const worker = new Worker(new URL('spike-worker.js', import.meta.url), { type: 'module' });
worker.onmessage = ({ data }) => {
  window.spikeResult = data;
  document.getElementById('out').textContent = JSON.stringify(data, null, 1);
};
worker.onerror = (e) => { window.spikeResult = { error: e.message }; };
worker.postMessage(config);
