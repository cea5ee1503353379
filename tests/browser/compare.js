// The page side of tests/browser/compare-wllama.mjs: loads one engine (tabllm
// through the npm package, or wllama) in this page, runs the same raw-text
// completion several times and returns plain JSON. Nothing here asserts; a
// failure comes back as { error } so the driver can put it in the table.
//
//   run 0        warm-up (non-streaming; compiles pipelines / shaders), kept but not used
//   runs 1..N    non-streaming: the engine's own timings (tabllm `timings`, wllama llama.cpp `timings`)
//   runs 1..N    streaming: wall clock in this page, the same method for both engines
// The summaries are medians over the N runs of each kind.
//
// Every run prefills the whole prompt: tabllm's KV cache is reset before each
// run, wllama's requests carry `cache_prompt: false`; both report how many
// prompt tokens were actually run (`prefilled_tokens`) so this can be checked.

const WLLAMA_ESM = '/tests/browser/node_modules/@wllama/wllama/esm/';
const now = () => performance.now();
const round = (x, d = 2) => (x == null || !Number.isFinite(x) ? null : Number(x.toFixed(d)));
const median = (xs) => {
  const v = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

function errorJson(e) {
  return { name: e?.name ?? null, message: String(e?.message ?? e), code: e?.code ?? null, type: e?.type ?? null, details: e?.details ?? null, stack: e?.stack ? String(e.stack).split('\n').slice(0, 8).join('\n') : null };
}

async function adapterInfo() {
  try {
    if (!navigator.gpu) return { error: 'navigator.gpu is undefined' };
    const a = await navigator.gpu.requestAdapter();
    if (!a) return { error: 'requestAdapter() returned null' };
    const i = a.info ?? {};
    return { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, features: [...a.features].sort() };
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
}

// One streaming request, timing each chunk that carries text:
//   prefill (wall) = prompt_tokens / (first text chunk - request start)      [time to first token]
//   decode (wall)  = (completion_tokens - 1) / (end of stream - first text chunk)
async function timeStream(startRequest, textOf) {
  const t0 = now();
  const stream = await startRequest();
  let tFirst = null;
  let text = '';
  let chunks = 0;
  let textChunks = 0;
  let meta = null;
  for await (const c of stream) {
    const t = now();
    chunks++;
    if (c?.usage || c?.timings) meta = c;
    const piece = textOf(c) ?? '';
    if (piece) {
      if (tFirst === null) tFirst = t;
      textChunks++;
      text += piece;
    }
  }
  return { t0, tFirst, tEnd: now(), text, chunks, textChunks, meta };
}

const WALL_METHOD = 'wall clock in the page around a streaming request: prefill = prompt_tokens / time to the first text chunk; decode = (completion_tokens - 1) / (end of stream - first text chunk)';

// The shared measurement: a warm-up, `runs` non-streaming requests (engine
// timings) and `runs` streaming requests (wall clock). `e` adapts one engine:
//   before()            called before every request (tabllm: reset the KV cache)
//   complete(req)       -> { usage, prefilled_tokens, prefill_tok_s, decode_tok_s, text, finish_reason, extra }
//   stream(req)         -> async iterable of chunks;  textOf(chunk) -> string
//   streamMeta(chunk)   -> { usage, prefilled_tokens, prefill_tok_s, decode_tok_s } from the last chunk with figures
async function measure(e, req, runs, out) {
  out.runs = [];
  out.streams = [];
  for (let i = 0; i <= runs; i++) {
    await e.before();
    const t = now();
    const r = await e.complete(req);
    out.runs.push({ run: i, kind: i === 0 ? 'warm-up (not used)' : 'engine timings', wall_s: round((now() - t) / 1000, 3), ...r });
  }
  for (let i = 1; i <= runs; i++) {
    await e.before();
    const s = await timeStream(() => e.stream(req), e.textOf);
    const m = s.meta ? e.streamMeta(s.meta) : {};
    const promptTokens = m.usage?.prompt_tokens ?? out.runs[1].usage?.prompt_tokens ?? null;
    const completionTokens = m.usage?.completion_tokens ?? s.textChunks;
    const ttft = s.tFirst == null ? null : (s.tFirst - s.t0) / 1000;
    const after = s.tFirst == null ? null : (s.tEnd - s.tFirst) / 1000;
    out.streams.push({
      run: i,
      ttft_s: round(ttft, 3),
      after_first_s: round(after, 3),
      total_s: round((s.tEnd - s.t0) / 1000, 3),
      prefill_tok_s: ttft && promptTokens ? round(promptTokens / ttft) : null,
      decode_tok_s: after && completionTokens > 1 ? round((completionTokens - 1) / after) : null,
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      prefilled_tokens: m.prefilled_tokens ?? null,
      chunks: s.chunks,
      text_chunks: s.textChunks,
      engine_prefill_tok_s: round(m.prefill_tok_s),
      engine_decode_tok_s: round(m.decode_tok_s),
      text: s.text,
    });
  }
  const measured = out.runs.slice(1);
  const texts = new Set([...measured, ...out.streams].map((r) => r.text));
  out.summary = {
    runs,
    texts_identical_across_runs: texts.size === 1,
    engine: {
      method: e.method,
      prompt_tokens: measured[0].usage?.prompt_tokens ?? null,
      prefilled_tokens: measured[0].prefilled_tokens ?? null,
      completion_tokens: measured[0].usage?.completion_tokens ?? null,
      prefill_tok_s: round(median(measured.map((r) => r.prefill_tok_s))),
      decode_tok_s: round(median(measured.map((r) => r.decode_tok_s))),
      finish_reason: measured[0].finish_reason,
      text: measured[0].text,
    },
    wall: {
      method: WALL_METHOD,
      prompt_tokens: out.streams[0].prompt_tokens,
      prefilled_tokens: out.streams[0].prefilled_tokens,
      completion_tokens: out.streams[0].completion_tokens,
      ttft_s: round(median(out.streams.map((r) => r.ttft_s)), 3),
      prefill_tok_s: round(median(out.streams.map((r) => r.prefill_tok_s))),
      decode_tok_s: round(median(out.streams.map((r) => r.decode_tok_s))),
      text: out.streams[0].text,
    },
  };
}

// ---------------------------------------------------------------- tabllm

async function runTabllm({ model, prompt, genTokens, context, runs, backend = 'auto', threads = null }) {
  const out = { engine: 'tabllm', backend, adapter: await adapterInfo() };
  let engine;
  try {
    const { createEngine } = await import('/pkg/tabllm.js');
    const phases = [];
    const t0 = now();
    engine = await createEngine({
      model, context, cache: false, backend, ...(threads ? { threads } : {}),
      onProgress: (p) => { if (phases.at(-1)?.phase !== p.phase) phases.push({ phase: p.phase, at_s: round((now() - t0) / 1000, 3) }); },
    });
    out.load_s = round((now() - t0) / 1000, 3);
    out.load_method = `wall clock around createEngine({ model: url, context, cache: false, backend: '${backend}' }) (download from the local server included)`;
    out.load_phases = phases;
    const info = engine.info;
    out.backend = info.backend;
    out.threads = info.threads?.count ?? null;
    out.info = { name: info.name, backend: info.backend, backend_reason: info.backend_reason, threads: info.threads, architecture: info.architecture, context: info.context, layers: info.layers, weight_bytes: info.weight_bytes, adapter: info.adapter, limits: info.limits, load_seconds: info.load_seconds, from_cache: info.from_cache };
    out.wasm_memory_bytes = info.wasm_memory_bytes;
    out.wasm_memory_method = 'engine.info.wasm_memory_bytes (wasm memory size after the load; it only grows, so the peak during the load)';
    out.tokenize_count = (await engine.tokenize(prompt)).length;

    await measure({
      method: 'tabllm Completion.timings: prefill_tok_s, decode_tok_s',
      before: () => engine.reset(),
      complete: async (req) => {
        const r = await engine.completions.create(req);
        return {
          usage: r.usage, finish_reason: r.choices[0].finish_reason,
          prefilled_tokens: r.timings.prefilled_tokens, prefill_tok_s: round(r.timings.prefill_tok_s), decode_tok_s: round(r.timings.decode_tok_s),
          prompt_ids: r.timings.prompt_ids, completion_ids: r.timings.completion_ids, text: r.choices[0].text,
        };
      },
      stream: (req) => engine.completions.create({ ...req, stream: true, stream_options: { include_usage: true } }),
      textOf: (c) => c.choices?.[0]?.text,
      streamMeta: (c) => ({ usage: c.usage, prefilled_tokens: c.timings?.prefilled_tokens, prefill_tok_s: c.timings?.prefill_tok_s, decode_tok_s: c.timings?.decode_tok_s }),
    }, { prompt, max_tokens: genTokens, temperature: 0 }, runs, out);
  } catch (e) {
    out.error = errorJson(e);
  } finally {
    try { await engine?.unload(); } catch (e) { out.unload_error = String(e?.message ?? e); }
  }
  return out;
}

// ---------------------------------------------------------------- wllama

// wllama runs llama.cpp in a worker built from a blob: URL and exposes no
// memory figure (`_getDebugInfo()` returns null in 3.8.1), so the worker's
// script gets a prefix that reports every WebAssembly.Memory it creates and
// every grow() (emscripten's heap growth goes through it) on a BroadcastChannel.
function probeWorkerMemory() {
  const channel = 'wasm-memory-' + Math.random().toString(36).slice(2);
  const prefix = `(() => {
  const ch = new BroadcastChannel(${JSON.stringify(channel)});
  const report = (m, why) => { try { ch.postMessage({ why, bytes: Number(m.buffer.byteLength), t: performance.timeOrigin + performance.now() }); } catch (e) { ch.postMessage({ why: 'error', message: String(e) }); } };
  const M = WebAssembly.Memory;
  const grow = M.prototype.grow;
  M.prototype.grow = function (delta) { const r = grow.call(this, delta); report(this, 'grow'); return r; };
  WebAssembly.Memory = new Proxy(M, { construct(target, args, newTarget) { const m = Reflect.construct(target, args, newTarget); report(m, 'new'); return m; } });
  // What llama.cpp's WebGPU backend asks the browser for, and what it gets.
  const say = (what) => { try { ch.postMessage({ why: 'webgpu', what, t: performance.timeOrigin + performance.now() }); } catch {} };
  const feats = (x) => [...(x ?? [])].sort().join(',');
  if (self.GPU && self.GPUAdapter) {
    const ra = GPU.prototype.requestAdapter;
    GPU.prototype.requestAdapter = async function (opts) {
      try {
        const a = await ra.call(this, opts);
        say('requestAdapter(' + JSON.stringify(opts ?? {}) + ') -> ' + (a ? (a.info?.vendor + '/' + a.info?.architecture + ' features: ' + feats(a.features)) : 'null'));
        return a;
      } catch (e) { say('requestAdapter threw: ' + e); throw e; }
    };
    const rd = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (desc) {
      const asked = 'requestDevice(requiredFeatures: ' + feats(desc?.requiredFeatures) + ')';
      try { const d = await rd.call(this, desc); say(asked + ' -> ok'); return d; } catch (e) { say(asked + ' threw: ' + e); throw e; }
    };
  }
})();
`;
  const events = [];
  const bc = new BroadcastChannel(channel);
  bc.onmessage = (e) => events.push({ ...e.data, t: e.data.t - performance.timeOrigin });
  const original = URL.createObjectURL;
  let patched = 0;
  URL.createObjectURL = function (obj) {
    if (obj instanceof Blob && /javascript/.test(obj.type)) {
      patched++;
      obj = new Blob([prefix, obj], { type: obj.type });
    }
    return original.call(URL, obj);
  };
  return {
    events,
    get patched() { return patched; },
    restore() { URL.createObjectURL = original; },
    webgpu() { return events.filter((e) => e.why === 'webgpu').map((e) => e.what); },
    peakUntil(t) { return events.filter((e) => e.t <= t && e.bytes).reduce((m, e) => Math.max(m, e.bytes), 0) || null; },
    peak() { return events.filter((e) => e.bytes).reduce((m, e) => Math.max(m, e.bytes), 0) || null; },
    close() { bc.close(); },
  };
}

const settle = (ms) => new Promise((r) => setTimeout(r, ms));

async function runWllama({ model, prompt, genTokens, context, runs, backend, threads, extraParams }) {
  const out = { engine: 'wllama', backend, adapter: backend === 'webgpu' ? await adapterInfo() : null };
  const logs = [];
  const keep = (level) => (...args) => {
    const line = args.map((a) => (typeof a === 'string' ? a : (() => { try { return JSON.stringify(a); } catch { return String(a); } })())).join(' ');
    logs.push(`${level}: ${line}`);
  };
  const logger = { debug: keep('debug'), log: keep('log'), warn: keep('warn'), error: keep('error') };
  const probe = probeWorkerMemory();
  let w;
  try {
    const { Wllama } = await import(WLLAMA_ESM + 'index.js');
    out.libllama_version = Wllama.getLibllamaVersion?.() ?? null;
    out.env = { crossOriginIsolated: self.crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency, jspi: !!WebAssembly.Suspending, navigator_gpu: !!navigator.gpu };
    const params = { n_ctx: context, n_gpu_layers: backend === 'webgpu' ? 999 : 0, n_parallel: 1 };
    if (threads) params.n_threads = threads;
    Object.assign(params, extraParams ?? {});
    out.load_params = params;
    const t0 = now();
    const blob = await (await fetch(model)).blob();
    const tFetched = now();
    w = new Wllama({ default: WLLAMA_ESM + 'wasm/wllama.wasm' }, { logger });
    await w.loadModel([blob], params);
    const tLoaded = now();
    out.load_s = round((tLoaded - t0) / 1000, 3);
    out.load_fetch_s = round((tFetched - t0) / 1000, 3);
    out.load_method = 'wall clock around fetch(url) -> Blob -> new Wllama(...).loadModel([blob], params) (download from the local server included; loadModelFromUrl would also write the file to OPFS)';
    out.multithread = w.isMultithread();
    out.threads = w.getNumThreads();
    const ctx = w.getLoadedContextInfo();
    out.context_info = { n_ctx: ctx.n_ctx, n_batch: ctx.n_batch, n_ubatch: ctx.n_ubatch, n_layer: ctx.n_layer, add_bos_token: ctx.add_bos_token };
    await settle(200); // let the worker's last memory and WebGPU reports arrive
    // Where llama.cpp put the weights: "load_tensors: <device> model buffer size = N MiB" per device.
    out.model_buffers_mib = Object.fromEntries(logs.map((l) => /load_tensors:\s+(\S+) model buffer size\s*=\s*([\d.]+) MiB/.exec(l)).filter(Boolean).map((m) => [m[1], Number(m[2])]));
    out.offload_line = logs.find((l) => /offloaded \d+\/\d+ layers to GPU/.test(l))?.replace(/^\w+: /, '') ?? null;
    out.webgpu_calls = probe.webgpu();
    out.webgpu_used = Object.keys(out.model_buffers_mib).some((d) => !/^CPU/i.test(d));
    if (backend === 'webgpu' && !out.webgpu_used) {
      const adapterCall = out.webgpu_calls.find((c) => c.startsWith('requestAdapter'));
      const got = adapterCall ? /-> (\S+)/.exec(adapterCall)?.[1] : null;
      const asked = out.webgpu_calls.filter((c) => c.startsWith('requestDevice'));
      out.webgpu_fallback = 'no WebGPU device: llama.cpp ' + (adapterCall ? `got the adapter ${got} (shader-f16: ${/shader-f16/.test(adapterCall) ? 'yes' : 'no'})` : 'never asked for an adapter') +
        (asked.length ? `, ${asked.join('; ')}` : ', never called requestDevice') +
        `, ran every layer on the CPU (model buffers MiB: ${JSON.stringify(out.model_buffers_mib)}); no error was raised`;
    }
    out.wasm_memory_bytes = probe.peakUntil(tLoaded + 200);
    out.wasm_memory_method = probe.patched
      ? 'largest WebAssembly.Memory buffer size seen in wllama\'s worker up to the end of loadModel (the worker script is prefixed with a probe wrapping WebAssembly.Memory and Memory.prototype.grow)'
      : 'unavailable: the worker script was not seen by the probe';

    // cache_prompt: false so every run prefills the whole prompt (llama-server would otherwise reuse the KV cache).
    await measure({
      method: 'llama.cpp timings in the response: prompt_per_second (prompt_n / prompt_ms), predicted_per_second (predicted_n / predicted_ms)',
      before: async () => {},
      complete: async (req) => {
        const r = await w.createCompletion(req);
        const tm = r.timings ?? null;
        return {
          usage: r.usage, finish_reason: r.choices?.[0]?.finish_reason ?? null, timings: tm,
          prefilled_tokens: tm?.prompt_n ?? null, prefill_tok_s: round(tm?.prompt_per_second), decode_tok_s: round(tm?.predicted_per_second),
          text: r.choices?.[0]?.text ?? null,
        };
      },
      stream: (req) => w.createCompletion({ ...req, stream: true }),
      textOf: (c) => c.choices?.[0]?.text,
      streamMeta: (c) => ({
        usage: c.usage ?? (c.timings ? { prompt_tokens: c.timings.prompt_n + c.timings.cache_n, completion_tokens: c.timings.predicted_n } : null),
        prefilled_tokens: c.timings?.prompt_n, prefill_tok_s: c.timings?.prompt_per_second, decode_tok_s: c.timings?.predicted_per_second,
      }),
    }, { prompt, max_tokens: genTokens, temperature: 0, cache_prompt: false }, runs, out);
    out.wasm_memory_peak_all_runs_bytes = probe.peak();
  } catch (e) {
    out.error = errorJson(e);
  } finally {
    probe.restore();
    try { await w?.exit(); } catch (e) { out.unload_error = String(e?.message ?? e); }
    probe.close();
  }
  out.memory_events = probe.events.length;
  // The lines that show where the layers ran and what went wrong, not the whole llama.cpp log.
  out.log_highlights = logs.filter((l) => /^(warn|error)|webgpu|offload|backend|Multithread|n_threads|system_info|adapter|device|CPU_REPACK|buffer size/i.test(l)).slice(0, 80);
  out.log_lines = logs.length;
  out.log = logs.filter((l) => !/llama_model_loader: - kv|create_tensor: loading|control token|assigned to device|print_info:/.test(l)).slice(0, 400);
  return out;
}

window.compare = { tabllm: runTabllm, wllama: runWllama, adapterInfo };
document.getElementById('log').textContent = 'ready';
