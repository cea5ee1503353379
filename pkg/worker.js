// The engine's Web Worker: owns the wasm module, the GPU device and the model,
// so the page's main thread only renders. Protocol (see tabllm.js):
//   in:  {id, op, args}           ops: load, generate, tokenize, detokenize, applyChatTemplate,
//                                      reset, bench, unload, bandwidth, inspect
//        {op: 'abort', target: id}
//   out: {id, type: 'progress', progress} | {id, type: 'text', text}
//        {id, type: 'result', value}      | {id, type: 'error', error: {code, message, details}}
import init, { WebEngine, WebHeaderProbe, measure_bandwidth } from './wasm/tabllm.js';
import { TabllmError, serializeError } from './errors.js';
import { deleteCached, expandParts, listCached, openPart, partName } from './sources.js';

let wasm = null;
let engine = null;
const aborts = new Map(); // request id -> AbortController

async function ready({ gpu = true } = {}) {
  wasm ??= await init();
  if (gpu && !navigator.gpu) {
    throw new TabllmError('webgpu_unavailable', 'this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome or Edge, or Safari / Firefox with WebGPU enabled');
  }
}

/** What the browser tells about the adapter (wgpu's own names are empty on the web). */
async function adapterInfo() {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new TabllmError('webgpu_unavailable', 'WebGPU is present but no GPU adapter is available (it may be disabled or blocklisted)');
  const i = adapter.info ?? {};
  return {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    // A CPU rasterizer (SwiftShader, or the fallback adapter): kernels take CPU-friendly shapes.
    software: i.architecture === 'swiftshader' || i.isFallbackAdapter === true || adapter.isFallbackAdapter === true,
  };
}

function wasmMemoryBytes() {
  return wasm?.memory?.buffer?.byteLength ?? 0;
}

async function load({ model, context, cache = true, maxBindingSize, softwareAdapter, base }, post, signal) {
  await ready();
  const started = performance.now();
  const parts = expandParts(model, base);
  post({ type: 'progress', progress: progress('device', 0, null, null, null, started, 1, parts.length, false) });
  const adapter = await adapterInfo();
  engine?.free();
  engine = null;
  const e = await WebEngine.create(context ?? undefined, maxBindingSize ?? undefined, softwareAdapter ?? adapter.software);
  const device = JSON.parse(e.device());
  let loaded = 0;
  let fromCache = true;
  let lastPost = 0;
  // Files and Blobs say their size up front.
  const knownTotal = parts.every((p) => p instanceof Blob) ? parts.reduce((n, p) => n + p.size, 0) : null;
  const opened = [];
  try {
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) {
        e.next_part();
        lastPost = 0; // report each part's start
      }
      const src = await openPart(parts[i], { cache, signal });
      opened.push(src);
      fromCache &&= src.origin === 'cache';
      const partStart = loaded;
      const reader = src.stream.getReader();
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (signal.aborted) throw new TabllmError('aborted', 'the load was aborted');
          throw new TabllmError('download_failed', `reading ${partName(parts[i])} failed after ${loaded} bytes: ${err.message}`, { url: String(parts[i]) });
        }
        if (chunk.done) break;
        try {
          e.push(chunk.value); // straight through to GPU buffers
        } catch (err) {
          reader.cancel().catch(() => {}); // e.g. an unsupported architecture, found in the header: stop downloading
          throw err;
        }
        loaded += chunk.value.byteLength;
        const now = performance.now();
        if (now - lastPost > 50) {
          lastPost = now;
          const p = JSON.parse(e.progress());
          // This part's size: as the source announced it, else as its GGUF header says.
          const partTotal = src.size ?? (p.bytes_total === null ? null : p.bytes_total - partStart);
          const fraction = partTotal ? (i + Math.min(1, (loaded - partStart) / partTotal)) / parts.length : null;
          const total = knownTotal ?? (parts.length === 1 ? partTotal : null);
          post({ type: 'progress', progress: progress(src.origin, loaded, total, fraction, p, started, i + 1, parts.length, fromCache) });
        }
      }
    }
    e.finish();
    for (const src of opened) await src.commit();
  } catch (err) {
    for (const src of opened) src.abort();
    e.free();
    throw err;
  }
  engine = e;
  const info = JSON.parse(e.info());
  const seconds = (performance.now() - started) / 1000;
  post({ type: 'progress', progress: progress('ready', loaded, loaded, 1, null, started, parts.length, parts.length, fromCache) });
  return {
    ...info,
    name: info.name ?? partName(parts[0]),
    adapter: { ...adapter, name: device.adapter, precision: device.precision },
    limits: { max_buffer_size: device.max_buffer_size, max_storage_buffer_binding_size: device.max_storage_buffer_binding_size },
    load_seconds: seconds,
    from_cache: fromCache,
    wasm_memory_bytes: wasmMemoryBytes(),
  };
}

function progress(phase, loaded, total, fraction, p, started, part, parts, fromCache) {
  const seconds = (performance.now() - started) / 1000;
  return {
    phase,
    bytes_loaded: loaded,
    bytes_total: total ?? null,
    fraction,
    bytes_per_second: seconds > 0 ? loaded / seconds : 0,
    seconds,
    tensors_done: p?.tensors_done ?? 0,
    tensors_total: p?.tensors_total ?? 0,
    part,
    parts,
    from_cache: fromCache && phase !== 'device',
  };
}

function needEngine() {
  if (!engine) throw new TabllmError('unloaded', 'no model is loaded');
  return engine;
}

async function generate(request, post, signal) {
  const e = needEngine();
  const result = await e.generate(JSON.stringify(request), (text) => {
    post({ type: 'text', text });
    return !signal.aborted;
  });
  return JSON.parse(result);
}

/** Reads a GGUF header only: HTTP Range requests of growing size, or a
 * file's first bytes; then sizes it against this device's limits. */
async function inspect({ model, options = {}, base }, signal) {
  await ready({ gpu: false }); // a header needs no GPU; the device's limits are used when there is one
  const part = expandParts(model, base)[0];
  const adapter = await navigator.gpu?.requestAdapter();
  let fileBytes = part instanceof Blob ? part.size : null;
  const probe = new WebHeaderProbe();
  let fetched = 0;
  const push = (bytes) => {
    fetched += bytes.byteLength;
    try {
      return probe.push(bytes);
    } catch (err) {
      throw new TabllmError('invalid_model', `${partName(part)}: ${err.message}`);
    }
  };
  try {
    if (part instanceof Blob) {
      for (let at = 0; at < part.size;) {
        const n = probe.bytes_needed_hint();
        if (push(new Uint8Array(await part.slice(at, at + n).arrayBuffer()))) break;
        at += n;
      }
    } else {
      let complete = false;
      for (let at = 0; !complete;) {
        const n = probe.bytes_needed_hint();
        const r = await fetch(part, { headers: { Range: `bytes=${at}-${at + n - 1}` }, signal });
        if (r.status === 416) break; // past the end
        if (!r.ok || !r.body) throw new TabllmError('download_failed', `reading the header of ${part} failed: HTTP ${r.status}`, { url: part, status: r.status });
        const range = /\/(\d+)$/.exec(r.headers.get('Content-Range') ?? '');
        fileBytes ??= range ? Number(range[1]) : r.status === 200 ? Number(r.headers.get('Content-Length')) || null : null;
        const reader = r.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (push(value)) {
            complete = true;
            reader.cancel().catch(() => {}); // a server that ignored the Range header: stop here
            break;
          }
        }
        if (r.status === 200) break; // the whole file was offered and it ended
        at += n;
      }
    }
    const known = ['context', 'bandwidth_gbps', 'available_bytes', 'kv_bytes_per_element', 'max_buffer_size', 'max_storage_buffer_binding_size'];
    const opts = Object.fromEntries(Object.entries(options).filter(([k, v]) => known.includes(k) && v !== undefined && v !== null));
    if (adapter) {
      // What createEngine would get: the adapter's limits, and an f16 KV cache where shader-f16 exists.
      opts.max_buffer_size ??= adapter.limits.maxBufferSize;
      opts.max_storage_buffer_binding_size ??= adapter.limits.maxStorageBufferBindingSize;
      opts.kv_bytes_per_element ??= adapter.features.has('shader-f16') ? 2 : 4;
    }
    let report;
    try {
      report = JSON.parse(probe.report(JSON.stringify(opts)));
    } catch (err) {
      throw new TabllmError(fetched === 0 ? 'download_failed' : 'invalid_model', `${partName(part)}: ${err.message}`);
    }
    return { ...report, bytes_fetched: fetched, file_bytes: fileBytes };
  } finally {
    probe.free();
  }
}

async function bandwidth(options) {
  await ready();
  const adapter = await adapterInfo();
  const report = JSON.parse(await measure_bandwidth(JSON.stringify(options ?? {})));
  return { ...report, adapter: { ...adapter, ...Object.fromEntries(Object.entries(report.adapter ?? {}).filter(([, v]) => v)) } };
}

const ops = {
  load: (a, post, signal) => load(a, post, signal),
  generate: (a, post, signal) => generate(a.request, post, signal),
  tokenize: (a) => Array.from(needEngine().tokenize(a.text, !!a.special)),
  detokenize: (a) => needEngine().detokenize(Uint32Array.from(a.ids)),
  applyChatTemplate: (a) => needEngine().apply_chat_template(JSON.stringify(a.messages)),
  reset: () => needEngine().reset(),
  bench: async (a) => JSON.parse(await needEngine().bench(a.prompt_tokens, a.gen_tokens)),
  unload: () => {
    engine?.free();
    engine = null;
  },
  inspect: (a, post, signal) => inspect(a, signal),
  bandwidth: (a) => bandwidth(a.options),
  listCached: () => listCached(),
  deleteCached: (a) => deleteCached(a.url),
};

// Requests run one at a time, in order (the engine is one model on one device).
let queue = Promise.resolve();

self.onmessage = ({ data: m }) => {
  if (m.op === 'abort') {
    aborts.get(m.target)?.abort();
    return;
  }
  const controller = new AbortController();
  aborts.set(m.id, controller);
  const post = (msg) => self.postMessage({ id: m.id, ...msg });
  // Loads are not queued behind anything; everything else waits its turn.
  const run = async () => {
    try {
      if (!ops[m.op]) throw new TabllmError('invalid_request', `unknown operation ${m.op}`);
      post({ type: 'result', value: await ops[m.op](m.args ?? {}, post, controller.signal) });
    } catch (err) {
      post({ type: 'error', error: serializeError(err) });
    } finally {
      aborts.delete(m.id);
    }
  };
  queue = queue.then(run);
};
