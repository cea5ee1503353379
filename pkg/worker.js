// The engine's Web Worker: owns the wasm module, the GPU device and the model,
// so the page's main thread only renders. Protocol (see tabllm.js):
//   in:  {id, op, args}           ops: load, generate, tokenize, detokenize, applyChatTemplate,
//                                      reset, bench, unload, bandwidth, inspect, catalog
//                                      (and the test-only ops __testBlock, __testPanic, __testDestroyDevice)
//        {op: 'abort', target: id}        not queued: reaches a request in flight
//        {op: 'persisted', value}         not queued: the page's answer to a 'persist' message
//   out: {id, type: 'progress', progress} | {id, type: 'text', text, logprobs?, reasoning?}
//        {id, type: 'result', value}      | {id, type: 'error', error: {code, message, details}}
//        {id, type: 'persist'}            a load asks the page to call navigator.storage.persist()
//                                         (a Window-only method) before a large download
//        {type: 'fatal', error}           the wasm instance panicked or trapped and is dead:
//                                         every request fails with `error`, the page ends this worker
import init, { WebEngine, WebHeaderProbe, catalog_reports, measure_bandwidth, panic_message_len, panic_message_ptr, test_panic } from './wasm/tabllm.js';
import { TabllmError, serializeError } from './errors.js';
import { expandParts, firstFound, openPart, partName, siblingParts } from './sources.js';
import { cachedHubFiles, deleteCached, listCached, recordHubParts } from './cache.js';
import { hubNameKey, isHubName, resolveHubModel, resolveHubOffline } from './hub.js';
import { startThreads } from './cpu-threads.js';

let wasm = null;
let engine = null;
const aborts = new Map(); // request id -> AbortController
let dead = null; // the TabllmError of a panic: the instance is never called again

/** The message the engine's panic hook left in wasm memory (src/web/panic.rs), or null. */
function panicMessage() {
  try {
    const len = panic_message_len();
    return len > 0 ? new TextDecoder().decode(new Uint8Array(wasm.memory.buffer, panic_message_ptr(), len)) : null;
  } catch {
    return null;
  }
}

/** A wasm trap (a Rust panic aborts the instance): the instance is dead.
 * Every request fails with an `internal` error carrying the panic message;
 * the page then ends this worker, and the next load starts a fresh one. */
function crashed(err) {
  if (!dead) {
    const msg = panicMessage();
    dead = new TabllmError('internal', msg
      ? `the engine panicked: ${msg}`
      : `the engine stopped on a WebAssembly trap (${err?.message ?? err}) without a panic message (an allocation failure or a stack overflow leaves none)`,
    { panic: msg, trap: String(err?.message ?? err) });
    engine = null; // never call into the dead instance again
    self.postMessage({ type: 'fatal', error: serializeError(dead) });
  }
  return dead;
}

const isTrap = (err) => err instanceof WebAssembly.RuntimeError;
// A trap inside a future (generate, bench) is thrown from a promise job, not to the caller.
self.addEventListener('error', (e) => {
  if (isTrap(e.error)) {
    e.preventDefault();
    crashed(e.error);
  }
});
self.addEventListener('unhandledrejection', (e) => {
  if (isTrap(e.reason)) {
    e.preventDefault();
    crashed(e.reason);
  }
});

/** Rejects with `aborted` as soon as `signal` fires. */
function throwIfAborted(signal) {
  if (signal?.aborted) throw new TabllmError('aborted', 'the load was aborted');
}

/** Waits `ms` milliseconds; rejects with `aborted` when `signal` fires first. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      if (signal.aborted) reject(new TabllmError('aborted', 'the load was aborted'));
      else resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

// A download whose connection drops is asked for the rest (a Range request
// from the bytes the engine already has) up to this many times in a row; the
// count starts over once bytes arrive again.
const RESUME_ATTEMPTS = 3;
// The wait before the n-th of those tries: RESUME_BACKOFF_MS * 2^(n-1) ms.
const RESUME_BACKOFF_MS = 500;

// A download kept in browser storage of at least this many bytes asks for
// persistent storage first (navigator.storage.persist()), so the browser does
// not evict it under storage pressure; the answer is awaited at most PERSIST_WAIT_MS
// (Firefox asks the user) and the download starts meanwhile regardless.
const PERSIST_MIN_BYTES = 50_000_000;
const PERSIST_WAIT_MS = 3000;
// The page's answer to this load's 'persist' message (loads run one at a time).
let persistAnswer = null;
// Whether storage is persistent, for the load in progress: null until asked.
let storagePersisted = null;

/** Whether this origin's storage is persistent: true when it is already,
 * else the page's answer to navigator.storage.persist() (true / false), null
 * when the page gave none within PERSIST_WAIT_MS or the browser cannot tell. */
async function askPersist(post) {
  try {
    if (await navigator.storage?.persisted?.()) return true;
  } catch {
    // not exposed here: ask the page
  }
  const answer = new Promise((resolve) => (persistAnswer = resolve));
  post({ type: 'persist' });
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve(null), PERSIST_WAIT_MS)));
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
    persistAnswer = null;
  }
}

async function ready({ gpu = true } = {}) {
  // The .wasm's URL given here, not left to the generated glue's default
  // (a wasm-bindgen build without it found no .wasm); bundlers see it too.
  wasm ??= await init({ module_or_path: new URL('./wasm/tabllm_bg.wasm', import.meta.url) });
  if (gpu && !navigator.gpu) {
    throw new TabllmError('webgpu_unavailable', 'this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome or Edge, or Safari / Firefox with WebGPU enabled');
  }
}

async function requestAdapter() {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new TabllmError('webgpu_unavailable', 'WebGPU is present but no GPU adapter is available (it may be disabled or blocklisted)');
  return adapter;
}

/** What the browser tells about the adapter (wgpu's own names are empty on the web). */
async function adapterInfo() {
  return describeAdapter(await requestAdapter());
}

function describeAdapter(adapter) {
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

/**
 * Which backend runs the model, and why (`engine.info.backend_reason`):
 * `webgpu` and `cpu` as asked; `auto` takes WebGPU on a hardware adapter and
 * the CPU when there is no WebGPU, no adapter, or a software rasterizer
 * (SwiftShader, the fallback adapter), where the CPU kernels are faster.
 * `gpu`: the GPUAdapter when WebGPU is chosen (its limits and features).
 */
async function chooseBackend(requested) {
  if (requested === 'cpu') return { backend: 'cpu', reason: "asked for (backend: 'cpu')", adapter: null };
  if (requested === 'webgpu') {
    if (!navigator.gpu) throw new TabllmError('webgpu_unavailable', 'this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome or Edge, Safari / Firefox with WebGPU enabled, or backend: \'cpu\'');
    const gpu = await requestAdapter();
    return { backend: 'webgpu', reason: "asked for (backend: 'webgpu')", adapter: describeAdapter(gpu), gpu };
  }
  if (!navigator.gpu) return { backend: 'cpu', reason: 'this browser has no WebGPU', adapter: null };
  let gpu = null;
  try {
    gpu = await navigator.gpu.requestAdapter();
  } catch {
    gpu = null;
  }
  if (!gpu) return { backend: 'cpu', reason: 'no WebGPU adapter is available (disabled or blocklisted)', adapter: null };
  const adapter = describeAdapter(gpu);
  if (adapter.software) {
    return { backend: 'cpu', reason: `the WebGPU adapter is a software rasterizer (${adapter.architecture || 'fallback adapter'}); the CPU backend is faster`, adapter: null };
  }
  return { backend: 'webgpu', reason: 'a hardware WebGPU adapter', adapter, gpu };
}

/**
 * The device a model would run on with createEngine({ backend: requested }),
 * as `budget::DeviceFacts` (src/budget.rs) takes it: the backend and why;
 * on WebGPU the adapter's maxBufferSize / maxStorageBufferBindingSize (the
 * engine asks for all of them) and whether it has shader-f16 (then the KV
 * cache is f16); `navigator.deviceMemory` (RAM in GiB, coarse) where the
 * browser gives it, else null.
 */
async function deviceFacts(requested = 'auto') {
  const chosen = await chooseBackend(requested);
  const memory = navigator.deviceMemory;
  const facts = { backend: chosen.backend, backend_reason: chosen.reason, device_memory_gib: typeof memory === 'number' && memory > 0 ? memory : null };
  if (chosen.backend === 'webgpu') {
    facts.shader_f16 = chosen.gpu.features.has('shader-f16');
    facts.max_buffer_size = chosen.gpu.limits.maxBufferSize;
    facts.max_storage_buffer_binding_size = chosen.gpu.limits.maxStorageBufferBindingSize;
  }
  return facts;
}

function wasmMemoryBytes() {
  return wasm?.memory?.buffer?.byteLength ?? 0;
}

/** `{ parts, hub }`: the parts to load (URLs or Blobs), and for a Hugging
 * Face name what hub.js resolved (its parts' sizes and sha256 in `hub.parts`), else null. */
async function sourceParts(model, base, hfEndpoint, signal, hubTimeoutMs) {
  if (!isHubName(model)) return { parts: expandParts(model, base), hub: null };
  let hub;
  try {
    hub = await resolveHubModel(model, hfEndpoint, signal, hubTimeoutMs);
  } catch (err) {
    hub = await resolveFromStorage(model, hfEndpoint, err);
  }
  return { parts: hub.parts.map((p) => p.url), hub };
}

/** When the Hub could not be asked (no answer, or a server error), the copy of
 * the model kept in browser storage under that name, with `offline` saying
 * why it was used; otherwise (or with no such copy) rethrows `err`. */
async function resolveFromStorage(model, hfEndpoint, err) {
  const unreachable = err?.code === 'download_failed' && (err.details?.retry === true || err.details?.status >= 500);
  if (!unreachable) throw err;
  let hub;
  try {
    hub = resolveHubOffline(model, hfEndpoint, await cachedHubFiles(hfEndpoint, hubNameKey(model)));
  } catch {
    throw err;
  }
  return { ...hub, offline: `the Hub could not be asked (${err.message}): the copy of ${hub.repo}/${hub.file} in browser storage was used` };
}

/** What info (and inspectModel's report) says of a Hugging Face model, or null. */
const hubInfo = (hub) => (hub ? { repo: hub.repo, revision: hub.revision, file: hub.file, files: hub.parts.map((p) => p.path), endpoint: hub.endpoint } : null);

/** Most threads the CPU backend takes by default: past about four, a
 * memory-bound decode gains little and the page's own work loses a core. */
const DEFAULT_MAX_THREADS = 4;

/**
 * How many threads the CPU backend runs on, and why (`engine.info.threads`):
 * `requested` (an integer 1..64, checked by tabllm.js) when given, else half
 * the cores, rounded up, at most DEFAULT_MAX_THREADS (ONNX Runtime Web's
 * min(4, ⌈cores / 2⌉); wllama takes ⌊cores / 2⌋): one thread on a machine of
 * 2 cores, where a second thread measured 1.4-1.7× on an idle machine but 4×
 * slower when the browser or another tab wanted a core (docs/cpu-threads.md).
 * More than one needs a cross-origin-isolated page (shared memory): without
 * it `requested` > 1 is refused by name and the default is one thread.
 */
function chooseThreads(requested) {
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  if (!globalThis.crossOriginIsolated) {
    if (requested > 1) {
      throw new TabllmError('invalid_request', `threads: ${requested} needs a cross-origin-isolated page (served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), which this page is not; leave threads out to run on one thread`, { field: 'threads' });
    }
    return { count: 1, requested: requested ?? null, reason: requested === 1 ? 'asked for (threads: 1)' : 'the page is not cross-origin isolated (COOP/COEP), so it has no shared memory: one thread' };
  }
  if (requested !== undefined) return { count: requested, requested, reason: `asked for (threads: ${requested})` };
  const count = Math.min(DEFAULT_MAX_THREADS, Math.ceil(cores / 2));
  return { count, requested: null, reason: `the default for ${cores} logical core(s)` };
}

// The CPU threads this worker runs (started once, kept across loads of the
// same count): { threads, close, lost } from startThreads, or null.
let cpuThreads = null;

/** Makes sure `count` CPU threads run (none for 1): reuses the ones running,
 * or ends them and starts anew. The engine holding weights in their memory
 * must be freed first. Throws what startThreads throws. */
async function ensureThreads(count) {
  if (cpuThreads && (cpuThreads.threads !== count || cpuThreads.lost())) {
    await cpuThreads.close();
    cpuThreads = null;
  }
  if (count > 1 && !cpuThreads) {
    cpuThreads = await startThreads({ threads: count, engineMemory: () => wasm.memory });
  }
}

async function load({ model, backend = 'auto', context, threads, cache = true, maxBindingSize, softwareAdapter, jsReplay = true, base, hfEndpoint, testFaults = {} }, post, signal) {
  await ready({ gpu: false });
  throwIfAborted(signal);
  const started = performance.now();
  storagePersisted = null;
  // testFaults.hubTimeoutMs: a shorter wait for the Hub's file list (tests).
  const { parts, hub } = await sourceParts(model, base, hfEndpoint, signal, testFaults.hubTimeoutMs);
  throwIfAborted(signal);
  // Grows when one URL of a split model's first part was given: its other
  // parts (each a list of URLs to try) follow once its header is read. A
  // Hub name lists every part already.
  let findSiblings = !hub && parts.length === 1;
  // The bytes to download, where known before: the Hub's sizes.
  const listedBytes = hub && hub.parts.every((p) => p.size !== null) ? hub.parts.reduce((n, p) => n + p.size, 0) : null;
  let persistAsked = false;
  post({ type: 'progress', progress: progress('device', 0, null, null, null, started, 1, parts.length, false) });
  const chosen = await chooseBackend(backend);
  const adapter = chosen.adapter;
  engine?.free();
  engine = null;
  let threadInfo = null;
  if (chosen.backend === 'cpu') {
    threadInfo = chooseThreads(threads);
    try {
      await ensureThreads(threadInfo.count);
    } catch (err) {
      if (threadInfo.requested !== null) throw new TabllmError('invalid_request', `threads: ${threadInfo.requested} could not start: ${err?.message ?? err}`, { field: 'threads' });
      // The default falls back to the single-thread path.
      await ensureThreads(1);
      threadInfo = { count: 1, requested: null, reason: `threads could not start (${err?.message ?? err}): one thread` };
    }
  }
  const e = chosen.backend === 'cpu'
    ? WebEngine.create_cpu(context ?? undefined, threadInfo.count)
    : await WebEngine.create(context ?? undefined, maxBindingSize ?? undefined, softwareAdapter ?? adapter.software, jsReplay);
  let device;
  try {
    throwIfAborted(signal);
    device = JSON.parse(e.device());
  } catch (err) {
    e.free();
    throw err;
  }
  let loaded = 0;
  let fromCache = true;
  let lastPost = 0;
  // Files and Blobs say their size up front.
  const knownTotal = parts.every((p) => p instanceof Blob) ? parts.reduce((n, p) => n + p.size, 0) : null;
  const opened = [];
  let reader = null;
  // Every source stops at an abort: the pending read ends at once, and the
  // loop checks between chunks (a File or browser storage never sees the signal otherwise).
  const onAbort = () => reader?.cancel().catch(() => {});
  signal.addEventListener('abort', onAbort);
  try {
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) {
        e.next_part();
        lastPost = 0; // report each part's start
      }
      const partStart = loaded;
      let src = null;
      // Posts this part's progress; `resumeSkip` while a resume drops bytes
      // loaded already (LoadProgress.resume_skip).
      const report = (resumeSkip = null) => {
        lastPost = performance.now();
        const p = JSON.parse(e.progress());
        // This part's size: as the source announced it, else as its GGUF header says.
        const partTotal = src.size ?? (p.bytes_total === null ? null : p.bytes_total - partStart);
        const fraction = partTotal ? (i + Math.min(1, (loaded - partStart) / partTotal)) / parts.length : null;
        const total = knownTotal ?? (parts.length === 1 ? partTotal : null);
        post({ type: 'progress', progress: progress(src.origin, loaded, total, fraction, p, started, i + 1, parts.length, fromCache, resumeSkip) });
      };
      // A server that ignores Range sends the whole file again on a resume:
      // the bytes loaded already stream past and bytes_loaded stands still,
      // so these events say why (the first and last of each drop always).
      let skipping = false;
      const onSkip = (skipped, toSkip) => {
        if (!skipping || skipped === toSkip || performance.now() - lastPost > 50) report({ bytes_skipped: skipped, bytes_to_skip: toSkip });
        skipping = skipped !== toSkip;
      };
      // Offline, the listing is storage's own: the copy is checked against the server (a HEAD) as a URL's is.
      const how = { cache, signal, testFaults, onSkip, expect: hub && !hub.offline ? hub.parts[i] : null };
      if (Array.isArray(parts[i])) {
        const found = await firstFound(parts[i], `part ${i + 1} of ${parts.length} of the split model`, (url) => openPart(url, how));
        parts[i] = found.url;
        src = found.value;
      } else {
        src = await openPart(parts[i], how);
      }
      opened.push(src);
      e.name_part(partName(parts[i])); // an error in a part of a split model names its file
      throwIfAborted(signal);
      // A large download to keep: ask for storage that lasts before its body is read.
      const downloadBytes = listedBytes ?? src.size ?? 0;
      if (cache && !persistAsked && src.origin === 'download' && downloadBytes >= (testFaults.persistMinBytes ?? PERSIST_MIN_BYTES)) {
        persistAsked = true;
        storagePersisted = await askPersist(post);
        throwIfAborted(signal);
      }
      fromCache &&= src.origin === 'cache';
      reader = src.stream.getReader();
      let failures = 0; // in a row, without a byte between them
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
          // A response that ends before the part's size (a server or CDN that
          // caps a range, a connection closed cleanly) is a drop like any other.
          if (chunk.done && src.resume && src.size !== null && loaded - partStart < src.size) {
            throw Object.assign(new Error(`the server ended the response after byte ${loaded - partStart} of ${src.size}`), { cleanEnd: true });
          }
        } catch (err) {
          throwIfAborted(signal);
          // The connection dropped: ask for the rest from the bytes the engine
          // has (never reading a byte twice), the same version of the file only.
          let cause = err;
          for (reader = null; !reader;) {
            if (!src.resume || ++failures > RESUME_ATTEMPTS) {
              const tries = src.resume ? ` (resumed ${src.retries} times; ${RESUME_ATTEMPTS} tries in a row failed)` : '';
              throw new TabllmError('download_failed', `reading ${partName(parts[i])} failed after ${loaded} bytes${tries}: ${cause.message}`, { url: String(parts[i]) });
            }
            // A response that ended cleanly after bytes came (a capped range)
            // asks for the rest at once; failures wait before trying again.
            if (!(cause.cleanEnd && failures === 1)) await sleep(RESUME_BACKOFF_MS * 2 ** (failures - 1), signal);
            try {
              skipping = false; // a drop cut short by a failure begins again, reported from its start
              reader = (await src.resume(loaded - partStart)).getReader();
            } catch (e) {
              if (e?.code === 'aborted' || !e?.details?.retry) throw e; // the file changed, a 404, a 206 of other bytes
              cause = e;
            }
          }
          continue;
        }
        if (signal.aborted) {
          reader.cancel().catch(() => {});
          throwIfAborted(signal);
        }
        if (chunk.done) break;
        failures = 0;
        // More bytes than the part's size (a server that appends, or lies about
        // the size): never handed to the engine, and progress never passes 100 %.
        if (src.size !== null && loaded - partStart + chunk.value.byteLength > src.size) {
          reader.cancel().catch(() => {});
          throw new TabllmError('download_failed', `${partName(parts[i])}: the server sent more than the file's ${src.size} bytes`, { url: String(parts[i]), reason: 'too_long', size: src.size });
        }
        try {
          e.push(chunk.value); // straight through to GPU buffers
          if (findSiblings) {
            // The header says whether this file is a whole model or which part.
            const p = JSON.parse(e.progress());
            if (p.part_no !== null) {
              findSiblings = false;
              if (p.parts > 1) parts.push(...siblingParts(parts[0], p.part_no, p.parts));
            }
          }
        } catch (err) {
          reader.cancel().catch(() => {}); // e.g. an unsupported architecture, found in the header: stop downloading
          throw err;
        }
        // The model's bytes handed to the engine, each once: bytes a resume
        // skipped (a server that ignores Range) or a dropped connection lost are not counted.
        loaded += chunk.value.byteLength;
        if (performance.now() - lastPost > 50) report();
      }
    }
    e.finish();
    // Errors the browser reports late (allocation error scopes, device loss) belong to this load.
    await e.settle();
    throwIfAborted(signal);
  } catch (err) {
    // A download stopped by the network or an abort is kept to be resumed (sources.js).
    // Awaited: the page ends this worker as soon as the load fails.
    await Promise.all(opened.map((src) => src.abort(err)));
    e.free();
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  engine = e;
  // Keeping the download is a courtesy: a full disk or another tab must not
  // throw away a model that loaded. What failed is reported in the result.
  let cacheError = hub?.offline ?? opened.find((src) => src.notice)?.notice ?? null;
  for (const src of opened) {
    try {
      const r = await src.commit();
      if (r?.error) cacheError ??= r.error;
    } catch (err) {
      await src.abort();
      cacheError ??= `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
    }
  }
  // The name the copies came under, so the next load finds them offline.
  if (hub && cache && !hub.offline) {
    try {
      await recordHubParts(hub, hubNameKey(model));
    } catch (err) {
      cacheError ??= `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
    }
  }
  const info = JSON.parse(e.info());
  const seconds = (performance.now() - started) / 1000;
  post({ type: 'progress', progress: progress('ready', loaded, loaded, 1, null, started, parts.length, parts.length, fromCache) });
  return {
    ...info,
    name: info.name ?? partName(parts[0]),
    // The Hugging Face repo and file(s) of an `hf:` name, else null.
    hf: hubInfo(hub),
    backend: chosen.backend,
    backend_reason: chosen.reason,
    // The CPU backend's threads: { count, reason }; null on WebGPU.
    threads: threadInfo && { count: threadInfo.count, reason: threadInfo.reason },
    // null on the CPU backend.
    adapter: adapter ? { ...adapter, name: device.adapter, precision: device.precision } : null,
    limits: adapter ? { max_buffer_size: device.max_buffer_size, max_storage_buffer_binding_size: device.max_storage_buffer_binding_size } : null,
    load_seconds: seconds,
    from_cache: fromCache,
    // null unless some part came from the cache; false when one was used unchecked (offline).
    cache_validated: opened.some((src) => src.origin === 'cache') ? opened.every((src) => src.origin !== 'cache' || src.validated === true) : null,
    cache_error: cacheError,
    download_resumed_bytes: opened.reduce((n, src) => n + src.resumedBytes, 0),
    download_retries: opened.reduce((n, src) => n + src.retries, 0),
    // Whether browser storage was granted persistence before the download; null when not asked.
    storage_persisted: storagePersisted,
    wasm_memory_bytes: wasmMemoryBytes(),
  };
}

function progress(phase, loaded, total, fraction, p, started, part, parts, fromCache, resumeSkip = null) {
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
    resume_skip: resumeSkip,
    storage_persisted: storagePersisted,
    wasm_memory_bytes: wasmMemoryBytes(),
  };
}

function needEngine() {
  if (!engine) throw new TabllmError('unloaded', 'no model is loaded');
  return engine;
}

async function generate(request, post, signal) {
  const e = needEngine();
  const result = await e.generate(JSON.stringify(request), (text, logprobs, reasoning) => {
    // "" after a token whose text is held back (a possible stop string, an
    // unfinished character): nothing to send but its log-probabilities (when
    // asked: JSON of the tokens' since the last call), and the abort is seen there too.
    // `reasoning`: a thinking model's reasoning (then `text` is its content).
    if (text || logprobs || reasoning) post({ type: 'text', text, logprobs: logprobs ? JSON.parse(logprobs) : undefined, reasoning: reasoning || undefined });
    return !signal.aborted;
  }, (done, total) => {
    // Before and after each prefill step: progress out, and a long prompt stays abortable.
    post({ type: 'prefill', done, total });
    return !signal.aborted;
  });
  return JSON.parse(result);
}

/** One part's GGUF header: HTTP Range requests of growing size, or a
 * file's first bytes. `{ probe, fetched, fileBytes }`; the caller frees the probe. */
async function probeHeader(part, signal) {
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
  } catch (err) {
    probe.free();
    throw err;
  }
  return { probe, fetched, fileBytes };
}

/** Reads a GGUF header only (every part's, for a split model, so the sizes
 * cover the whole model); then sizes it against the limits of the device
 * createEngine({ backend }) would run it on (`deviceFacts`). `options`
 * were checked by name in tabllm.js; their ranges are checked in Rust. */
async function inspect({ model, options = {}, backend = 'auto', base, hfEndpoint }, signal) {
  await ready({ gpu: false }); // a header needs no GPU; the device's limits are used when there is one
  const { parts: given, hub } = await sourceParts(model, base, hfEndpoint, signal);
  // Each part's probe, then in split.no order (a list may come in any order;
  // one URL of a split model's first part brings the others).
  const probes = [];
  // [split.no, split.count]; an incomplete header is left to report() to name.
  const splitOf = ({ part, probe }) => {
    if (probe.bytes_needed_hint() !== 0) return [0, 1];
    try {
      return probe.split();
    } catch (err) {
      throw new TabllmError('invalid_model', `${partName(part)}: ${err.message}`);
    }
  };
  try {
    for (const part of given) probes.push({ part, ...await probeHeader(part, signal) });
    const [no, count] = splitOf(probes[0]);
    // A later part alone is sized alone: its report says it is one of `count` files.
    if (!hub && given.length === 1 && count > 1 && no === 0) {
      const siblings = siblingParts(given[0], no, count);
      for (let k = 0; k < siblings.length; k++) {
        const found = await firstFound(siblings[k], `part ${k + 2} of ${count} of the split model`, (url) => probeHeader(url, signal));
        probes.push({ part: found.url, ...found.value });
      }
    } else if (!hub && given.length > 1) {
      const nos = new Map(probes.map((p) => [p, splitOf(p)[0]]));
      probes.sort((a, b) => nos.get(a) - nos.get(b));
    }
  } catch (err) {
    for (const p of probes) p.probe.free();
    throw err;
  }
  const [first, ...rest] = probes;
  const parts = probes.map((p) => p.part);
  let { fetched, fileBytes } = first;
  try {
    for (let i = 1; i < probes.length; i++) {
      const next = rest[i - 1];
      try {
        first.probe.append_part(next.probe, i);
      } catch (err) {
        throw new TabllmError('invalid_model', `${partName(parts[i])}: ${err.message}`);
      }
      fetched += next.fetched;
      fileBytes = fileBytes === null || next.fileBytes === null ? null : fileBytes + next.fileBytes;
    }
    const facts = await deviceFacts(backend);
    let report;
    try {
      report = JSON.parse(first.probe.report(JSON.stringify(options), JSON.stringify(facts)));
    } catch (err) {
      if (err.code === 'invalid_request' || err.code === 'internal') throw err; // the options or our device facts, not the file
      throw new TabllmError(fetched === 0 ? 'download_failed' : 'invalid_model', `${partName(parts[0])}: ${err.message}`);
    }
    return { ...report, bytes_fetched: fetched, file_bytes: fileBytes, hf: hubInfo(hub) };
  } finally {
    for (const p of probes) p.probe.free();
  }
}

/** "What can I run here?": every catalog shape in `options.mixes`, sized
 * for the device createEngine({ backend }) would run on (src/web/catalog.rs). */
async function catalog({ options = {}, backend = 'auto' }) {
  await ready({ gpu: false });
  const facts = await deviceFacts(backend);
  return JSON.parse(catalog_reports(JSON.stringify(options), JSON.stringify(facts)));
}

async function bandwidth(options) {
  await ready();
  const adapter = await adapterInfo();
  const report = JSON.parse(await measure_bandwidth(JSON.stringify(options ?? {})));
  return { ...report, adapter: { ...adapter, ...Object.fromEntries(Object.entries(report.adapter ?? {}).filter(([, v]) => v)) } };
}

/**
 * Embeds `inputs` (strings) one at a time (src/embed: each from an empty
 * cache); an abort takes effect between texts. Posts `{ type: 'embedded',
 * done, total }` after each. Returns `{ data: [{ embedding: Float32Array,
 * index }], tokens, pooling }`.
 */
async function embed({ inputs, dimensions, pooling }, post, signal) {
  const engine = needEngine();
  const options = JSON.stringify({ ...(dimensions != null && { dimensions }), ...(pooling != null && { pooling }) });
  const data = [];
  let tokens = 0;
  let used = null;
  for (const [index, text] of inputs.entries()) {
    // A turn of the event loop between inputs: an abort message is handled there.
    if (index > 0) await new Promise((resolve) => setTimeout(resolve, 0));
    if (signal.aborted) throw new TabllmError('aborted', `the embedding was aborted after ${index} of ${inputs.length} inputs`, { done: index });
    const r = JSON.parse(await engine.embed(text, options));
    data.push({ index, embedding: Float32Array.from(r.embedding) });
    tokens += r.tokens;
    used = r.pooling;
    post({ type: 'embedded', done: index + 1, total: inputs.length });
  }
  return { data, tokens, pooling: used };
}

const ops = {
  load: (a, post, signal) => load(a, post, signal),
  generate: (a, post, signal) => generate(a.request, post, signal),
  tokenize: (a) => Array.from(needEngine().tokenize(a.text, !!a.special)),
  detokenize: (a) => needEngine().detokenize(Uint32Array.from(a.ids)),
  applyChatTemplate: (a) => needEngine().apply_chat_template(JSON.stringify(a.messages), a.tools === undefined ? undefined : JSON.stringify(a.tools),
    a.chat_template_kwargs === undefined ? undefined : JSON.stringify(a.chat_template_kwargs)),
  reset: () => needEngine().reset(),
  bench: async (a) => JSON.parse(await needEngine().bench(JSON.stringify(a))),
  embed: (a, post, signal) => embed(a, post, signal),
  unload: () => {
    engine?.free();
    engine = null;
  },
  inspect: (a, post, signal) => inspect(a, signal),
  catalog: (a) => catalog(a),
  bandwidth: (a) => bandwidth(a.options),
  listCached: () => listCached(),
  deleteCached: (a) => deleteCached(a.url),
  // Test-only (tests/browser/package.mjs), not part of the API: a call that
  // never yields (as a chat template that renders forever does), and a panic.
  __testBlock: (a) => {
    const until = performance.now() + a.ms;
    while (performance.now() < until);
  },
  __testPanic: (a) => test_panic(a.message, !!a.inFuture),
};

// Not queued: reaches the device while a generation is running. Test-only, as above.
const immediate = {
  __testDestroyDevice: () => needEngine().test_destroy_device(),
};

// Requests run one at a time, in order (the engine is one model on one device).
let queue = Promise.resolve();

self.onmessage = ({ data: m }) => {
  if (m.op === 'abort') {
    aborts.get(m.target)?.abort();
    return;
  }
  if (m.op === 'persisted') {
    persistAnswer?.(typeof m.value === 'boolean' ? m.value : null);
    return;
  }
  const controller = new AbortController();
  aborts.set(m.id, controller);
  const post = (msg) => self.postMessage({ id: m.id, ...msg });
  const run = async (op) => {
    try {
      if (dead) throw dead;
      // Aborted while it waited in the queue: it never starts.
      if (controller.signal.aborted) throw new TabllmError('aborted', 'the request was aborted before it started');
      if (!op) throw new TabllmError('invalid_request', `unknown operation ${m.op}`);
      post({ type: 'result', value: await op(m.args ?? {}, post, controller.signal) });
    } catch (err) {
      post({ type: 'error', error: serializeError(isTrap(err) ? crashed(err) : err) });
    } finally {
      aborts.delete(m.id);
    }
  };
  if (Object.hasOwn(immediate, m.op)) run(immediate[m.op]);
  else queue = queue.then(() => run(Object.hasOwn(ops, m.op) ? ops[m.op] : null));
};
