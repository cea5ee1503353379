// The engine runs here, off the page's main thread. Messages in:
//   {type: 'load', url, n_ctx?, max_binding_size?}  {type: 'generate', request}  {type: 'stop'}
// Messages out: device, progress, loaded, text, done, error.
import init, { WebEngine } from '../pkg/wasm/tabllm.js';

let engine = null;
let stopRequested = false;

async function load(url, nCtx, maxBindingSize) {
  await init();
  engine = await WebEngine.create(nCtx ?? undefined, maxBindingSize ?? undefined);
  postMessage({ type: 'device', ...JSON.parse(engine.device()) });
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`download failed: HTTP ${response.status} for ${url}`);
  const reader = response.body.getReader();
  const started = performance.now();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    try {
      engine.push(value); // straight through to GPU buffers; the wasm heap never holds the model
    } catch (err) {
      reader.cancel(); // e.g. an unsupported architecture, found in the header: stop downloading
      throw err;
    }
    const p = JSON.parse(engine.progress());
    postMessage({ type: 'progress', ...p, seconds: (performance.now() - started) / 1000 });
  }
  engine.finish();
  postMessage({ type: 'loaded', seconds: (performance.now() - started) / 1000 });
}

onmessage = async (event) => {
  const m = event.data;
  try {
    if (m.type === 'load') {
      await load(m.url, m.n_ctx, m.max_binding_size);
    } else if (m.type === 'generate') {
      stopRequested = false;
      const result = await engine.generate(JSON.stringify(m.request), (text) => {
        postMessage({ type: 'text', text });
        return !stopRequested;
      });
      postMessage({ type: 'done', result: JSON.parse(result) });
    } else if (m.type === 'stop') {
      stopRequested = true;
    }
  } catch (err) {
    postMessage({ type: 'error', message: String(err?.message ?? err) });
  }
};
