// The bench page: the GPU's memory bandwidth (read / write / copy sweep), a
// model's prefill and decode tokens/s against that bandwidth, and "will it
// run here?" for any GGUF from its header alone. Uses the tabllm package as an
// app would. Results stay in the tab: shown as JSON to download or copy.
//
// URL parameters (to shrink a run on a slow machine, and for the tests):
//   pp, tg                      model benchmark, llama-bench's tests: pp (comma-separated prompt
//                               token counts, default 512) and tg (generated tokens, default 128);
//                               prompt_tokens and gen_tokens are older names
//   pp2048=1                    also pp2048 (slow on a software adapter, so not by default)
//   max_bytes, runs             bandwidth sweep cap in bytes (default: the device's largest buffer) and runs per size
//   model                       model to benchmark (URL)
//   threads                     CPU threads for the model benchmark: runs it on the CPU backend with
//                               createEngine({ threads }) (default: none given, the engine's choice)
//   inspect, context            GGUF URL for "will it run" (default: the benchmark model) and its context
//   catalog_context, mixes      "What can I run here?": context (2048, 4096, 8192 or 32768; default 4096)
//                               and quantization mixes (comma-separated, default q4_k_m)
//   autorun=1                   run everything on load; then body[data-state] is 'done' (JSON in
//                               window.benchResult) or 'error' (message in body[data-error])
import { measureBandwidth, inspectModel, inspectCatalog, createEngine } from '../pkg/tabllm.js';
import { bandwidthChart, sizeLabel } from './chart.js';
import { GB, verdictOf } from './ui/verdict.js';

const DEFAULT_MODEL = '../models/SmolLM2-135M-Instruct.Q4_1.gguf';
const MIB = 2 ** 20;
/** The engine's sweep stops at 1 GiB whatever the device allows (bench::MAX_SWEEP_BYTES). */
const SWEEP_CAP = 2 ** 30;

const params = new URLSearchParams(location.search);
function intParam(name, fallback) {
  const v = Number(params.get(name));
  return params.has(name) && Number.isFinite(v) && v >= 1 ? Math.floor(v) : fallback;
}
/** Whole numbers above 0, separated by commas (and spaces); null when anything else is there. */
function parseCounts(text) {
  const parts = String(text).split(',').map((p) => p.trim()).filter(Boolean);
  const counts = parts.map(Number);
  return counts.length > 0 && counts.every((n) => Number.isInteger(n) && n >= 1) ? counts : null;
}
/** The long prompt test offered beside pp512. */
const LONG_PP = 2048;
/** "What can I run here?": the contexts offered, and llama.cpp's mixes the catalog knows (pkg/tabllm.d.ts QuantMix). */
const CATALOG_CONTEXTS = [2048, 4096, 8192, 32768];
const CATALOG_MIXES = ['q4_0', 'q4_k_m', 'q5_k_m', 'q6_k', 'q8_0'];
function mixesParam() {
  const asked = (params.get('mixes') ?? '').split(',').map((m) => m.trim()).filter((m) => CATALOG_MIXES.includes(m));
  return asked.length ? asked : ['q4_k_m'];
}
const config = {
  pp: parseCounts(params.get('pp') ?? params.get('prompt_tokens') ?? '') ?? [512],
  pp2048: params.get('pp2048') === '1',
  tg: intParam('tg', intParam('gen_tokens', 128)),
  max_bytes: intParam('max_bytes', null),
  runs: intParam('runs', 5),
  model: params.get('model') || DEFAULT_MODEL,
  inspect: params.get('inspect') || '',
  context: intParam('context', 4096),
  catalog_context: CATALOG_CONTEXTS.includes(intParam('catalog_context', 0)) ? intParam('catalog_context', 0) : 4096,
  mixes: mixesParam(),
  autorun: params.get('autorun') === '1',
  // js_replay=0: encode steps through wgpu's per-dispatch calls (to compare the host cost).
  js_replay: params.get('js_replay') !== '0',
  // backend=webgpu|cpu: run the throughput tests on that backend (default auto,
  // which takes the CPU on a software adapter such as SwiftShader).
  backend: ['webgpu', 'cpu'].includes(params.get('backend')) ? params.get('backend') : 'auto',
  // threads=N: the model benchmark on the CPU backend with N threads (default: the engine's choice).
  threads: intParam('threads', null),
};

/** What the CPU backend's threads depend on: several workers share one memory
 * only where the page is cross-origin isolated (served with COOP/COEP). */
const cpu = {
  cross_origin_isolated: globalThis.crossOriginIsolated === true,
  hardware_concurrency: Number.isInteger(navigator.hardwareConcurrency) && navigator.hardwareConcurrency >= 1 ? navigator.hardwareConcurrency : null,
};
/** The per-thread scaling run's thread counts: 1, 2, … up to min(cores, 4). */
const SCALING_MAX_THREADS = 4;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- formatting

function bytes(b) {
  if (b === null || b === undefined) return '–';
  return b >= 1024 ? `${sizeLabel(b)} (${b.toLocaleString('en-US')} bytes)` : `${b} bytes`;
}
const bytesShort = (b) => (b >= 1024 ? sizeLabel(b) : `${b} bytes`);
function sig(v, digits = 3) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  return Math.abs(v) >= 10 ** digits ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(digits)).toString();
}
const gbps = (v) => `${sig(v)} GB/s`;
const tokS = (v) => `${sig(v)} tokens/s`;
const pct = (v) => `${sig(v * 100, 2)}%`;
function count(n) {
  for (const [unit, size] of [['B', 1e9], ['M', 1e6], ['K', 1e3]]) if (n >= size) return `${sig(n / size)} ${unit}`;
  return String(n);
}
const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);

function fillFacts(dl, rows) {
  dl.replaceChildren();
  for (const [k, v] of rows) {
    if (v === undefined) continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.append(v);
    dl.append(dt, dd);
  }
}

function fillTable(table, head, rows) {
  table.replaceChildren();
  const thead = table.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    thead.append(th);
  }
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    r.forEach((cell, i) => {
      const c = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) c.scope = 'row';
      c.append(cell);
      tr.append(c);
    });
  }
  table.hidden = rows.length === 0;
}

function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

function errorText(e) {
  return e?.code ? `${e.message} (${e.code})` : String(e?.message ?? e);
}

// ------------------------------------------------------------------- results

/** Everything measured so far; what the JSON box shows. */
const result = {
  tabllm_bench: 1,
  created: new Date().toISOString(),
  user_agent: navigator.userAgent,
  device: null,
  cpu,
  bandwidth: null,
  throughput: null,
  scaling: null,
  catalog: null,
  will_it_run: null,
};

function showJson() {
  const { errors, ...rest } = result;
  const out = errors?.length ? { ...rest, errors } : rest;
  $('json').textContent = JSON.stringify(out, null, 2);
  window.benchResult = out;
  const any = result.bandwidth || result.throughput || result.will_it_run;
  $('download').disabled = $('copy').disabled = !any;
}

const peak = () => result.bandwidth?.peak_gbps || null;

// -------------------------------------------------------------------- device

async function detectDevice() {
  if (!navigator.gpu) throw new Error('this browser has no WebGPU: use a recent Chrome or Edge, or Safari / Firefox with WebGPU enabled');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('WebGPU is present but no GPU adapter is available (it may be disabled or blocklisted)');
  const i = adapter.info ?? {};
  const l = adapter.limits;
  const f16 = adapter.features.has('shader-f16');
  return {
    adapter: { vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '' },
    // A CPU rasterizer (SwiftShader, or the browser's fallback adapter).
    software_adapter: i.architecture === 'swiftshader' || !!(i.isFallbackAdapter ?? adapter.isFallbackAdapter),
    features: [...adapter.features].sort(),
    // The engine asks for the adapter's buffer limits (src/gpu/context.rs).
    limits: {
      max_buffer_size: l.maxBufferSize,
      max_storage_buffer_binding_size: l.maxStorageBufferBindingSize,
      max_storage_buffers_per_shader_stage: l.maxStorageBuffersPerShaderStage,
      max_compute_workgroup_storage_size: l.maxComputeWorkgroupStorageSize,
      max_compute_invocations_per_workgroup: l.maxComputeInvocationsPerWorkgroup,
      max_compute_workgroups_per_dimension: l.maxComputeWorkgroupsPerDimension,
    },
    // With shader-f16 the engine keeps the KV cache in f16, else f32.
    kv_precision: f16 ? 'f16' : 'f32',
    kv_bytes_per_element: f16 ? 2 : 4,
  };
}

function renderDevice() {
  const d = result.device;
  if (!d) return;
  const a = d.adapter;
  const name = [a.vendor, a.architecture, a.device].filter(Boolean).join(' · ') || a.name || 'unknown';
  $('device-note').textContent = d.software_adapter ? 'This is a software adapter (the GPU runs on the CPU): figures will be far below a real GPU.' : '';
  const extra = Object.entries(a).filter(([k, v]) => typeof v === 'string' && v && !['vendor', 'architecture', 'device'].includes(k));
  fillFacts($('device-info'), [
    ['Adapter', name],
    ...extra.map(([k, v]) => [capital(k.replace(/_/g, ' ')), String(v)]),
    ['Largest buffer', bytes(d.limits.max_buffer_size)],
    ['Largest storage binding', bytes(d.limits.max_storage_buffer_binding_size)],
    ['Storage buffers per stage', String(d.limits.max_storage_buffers_per_shader_stage)],
    ['Workgroup memory', bytes(d.limits.max_compute_workgroup_storage_size)],
    ['Invocations per workgroup', String(d.limits.max_compute_invocations_per_workgroup)],
    ['KV cache precision', `${d.kv_precision} (${d.kv_bytes_per_element} bytes per element)`],
    ['Features', featureList(d.features)],
  ]);
}

function renderCpu() {
  const cores = cpu.hardware_concurrency;
  fillFacts($('cpu-info'), [
    ['Cross-origin isolated', cpu.cross_origin_isolated ? 'yes: the CPU backend may run on several threads'
      : 'no: the page was served without COOP/COEP headers, so the CPU backend runs on one thread'],
    ['Logical processors', cores === null ? 'not reported (navigator.hardwareConcurrency)' : `${cores} (navigator.hardwareConcurrency)`],
  ]);
}

/** The "CPU threads" list: empty (the engine's choice), then 1 … hardwareConcurrency;
 * counts above 1 are disabled where the page is not isolated (the engine refuses them). */
function fillThreads() {
  const sel = $('tp-threads');
  const max = Math.max(cpu.hardware_concurrency ?? 1, config.threads ?? 1);
  const options = [new Option('engine default', '')];
  for (let n = 1; n <= max; n++) {
    const o = new Option(String(n), String(n));
    o.disabled = n > 1 && !cpu.cross_origin_isolated;
    options.push(o);
  }
  sel.replaceChildren(...options);
  sel.value = config.threads === null ? '' : String(config.threads);
  $('tp-scale').disabled = !cpu.cross_origin_isolated;
  $('tp-threads-note').textContent = cpu.cross_origin_isolated
    ? `A thread count runs the model benchmark on the CPU backend. Per-thread scaling runs it at 1 to ${scalingCounts().at(-1)} threads in turn.`
    : 'More than one CPU thread needs a cross-origin isolated page (COOP/COEP headers): here the CPU backend runs on one thread.';
}
const scalingCounts = () => Array.from({ length: Math.min(cpu.hardware_concurrency ?? 1, SCALING_MAX_THREADS) }, (_, i) => i + 1);

/** The features that matter here first; the rest folded away. */
function featureList(features) {
  const key = ['shader-f16', 'timestamp-query', 'subgroups'];
  const f = document.createDocumentFragment();
  f.append(key.map((k) => `${k}: ${features.includes(k) ? 'yes' : 'no'}`).join(', '));
  const rest = features.filter((k) => !key.includes(k));
  if (rest.length) {
    const det = document.createElement('details');
    const sum = document.createElement('summary');
    sum.textContent = `${rest.length} more`;
    det.append(sum, rest.join(', '));
    f.append(det);
  }
  return f;
}

/** Largest sweep size the device allows (one buffer, one binding). */
function deviceSweepMax() {
  const l = result.device?.limits;
  return l ? Math.min(l.max_buffer_size, l.max_storage_buffer_binding_size, SWEEP_CAP) : SWEEP_CAP;
}

function fillSweepSizes() {
  const sel = $('bw-max');
  const max = deviceSweepMax();
  const sizes = [];
  for (let s = MIB; s <= max; s *= 2) sizes.push(s);
  if (config.max_bytes && !sizes.includes(config.max_bytes)) sizes.push(config.max_bytes);
  sizes.sort((a, b) => a - b);
  sel.replaceChildren(...sizes.map((s) => new Option(s === sizes.at(-1) && !config.max_bytes ? `${sizeLabel(s)} (device max)` : sizeLabel(s), String(s))));
  sel.value = String(config.max_bytes ?? sizes.at(-1) ?? max);
}

// ----------------------------------------------------------------- bandwidth

async function runBandwidth() {
  const max_bytes = Number($('bw-max').value) || deviceSweepMax();
  const runs = Math.max(1, Math.floor(Number($('bw-runs').value) || config.runs));
  status(`Measuring bandwidth: read, write and copy from 1 MiB to ${sizeLabel(max_bytes)}, ${runs} runs each…`);
  result.bandwidth = null;
  $('bw-summary').textContent = '';
  $('bw-figure').hidden = $('bw-table').hidden = true;
  const t = performance.now();
  const report = await measureBandwidth({ max_bytes, runs });
  const results = [...report.results].sort((a, b) => a.size - b.size || a.op.localeCompare(b.op));
  result.bandwidth = {
    peak_gbps: report.peak_gbps,
    timing: report.timing,
    max_bytes,
    runs,
    seconds: (performance.now() - t) / 1000,
    results,
  };
  // The engine's device, as the sweep saw it, is the authority on limits.
  const named = Object.fromEntries(Object.entries(report.adapter ?? {}).filter(([, v]) => v));
  result.device = {
    ...(result.device ?? {}),
    adapter: { ...(result.device?.adapter ?? {}), ...named },
    limits: { ...(result.device?.limits ?? {}), ...report.limits },
  };
  renderDevice();
  renderBandwidth();
  // Efficiency and predictions depend on the peak.
  updateThroughputFigures();
  updatePrediction();
  await refreshCatalog();
}

/** The chart at the width of its box (redrawn when that changes). */
let chartWidth = 0;
function drawChart() {
  const bw = result.bandwidth;
  const box = $('bw-chart');
  if (!bw || box.offsetParent === null) return;
  chartWidth = Math.round(Math.min(760, Math.max(320, box.clientWidth)));
  const height = Math.round(Math.min(400, Math.max(260, chartWidth * 0.56)));
  box.replaceChildren(bandwidthChart(bw.results, { width: chartWidth, height, title: `Memory bandwidth against buffer size (peak read ${gbps(bw.peak_gbps)})` }));
}
new ResizeObserver(() => {
  const w = Math.round(Math.min(760, Math.max(320, $('bw-chart').clientWidth)));
  if (result.bandwidth && w !== chartWidth) drawChart();
}).observe($('bw-chart'));

function renderBandwidth() {
  const bw = result.bandwidth;
  if (!bw) return;
  const best = (op) => bw.results.filter((r) => r.op === op).reduce((b, r) => (r.gbps.median > (b?.gbps.median ?? -1) ? r : b), null);
  const parts = ['read', 'write', 'copy'].map((op) => [op, best(op)]).filter(([, r]) => r).map(([op, r]) => `${op} ${gbps(r.gbps.median)} (${sizeLabel(r.size)})`);
  $('bw-summary').textContent = `Peak read bandwidth (what decoding is bound by): ${gbps(bw.peak_gbps)}. Best medians: ${parts.join(', ')}. Took ${sig(bw.seconds, 2)} s.`;
  $('bw-figure').hidden = false;
  drawChart();
  const sizes = [...new Set(bw.results.map((r) => r.size))];
  const ops = ['read', 'write', 'copy'].filter((op) => bw.results.some((r) => r.op === op));
  const cell = (r) => {
    if (!r) return '–';
    const f = document.createDocumentFragment();
    f.append(`${sig(r.gbps.median)} `, span('range', `(${sig(r.gbps.min)}–${sig(r.gbps.max)})`));
    return f;
  };
  fillTable($('bw-table'), ['Buffer size', ...ops.map((op) => `${op} GB/s (min–max)`)], sizes.map((s) => [sizeLabel(s), ...ops.map((op) => cell(bw.results.find((r) => r.op === op && r.size === s)))]));
}

// ---------------------------------------------------------------- throughput

let benchFile = null;
let inspectFile = null;

function sourceOf(file, url) {
  return file ?? new URL(url, location.href).href;
}
function describeSource(src) {
  return src instanceof Blob ? { file: src.name, bytes: src.size } : { url: src };
}

/** The tests the controls ask for: { pp: [...], tg: [...] }; throws on a bad pp list. */
function plannedTests() {
  const pp = parseCounts($('tp-pp').value);
  if (!pp) throw new Error(`prompt tokens (pp) must be whole numbers above 0, separated by commas: got "${$('tp-pp').value}"`);
  if ($('tp-pp2048').checked && !pp.includes(LONG_PP)) pp.push(LONG_PP);
  const tg = Math.max(1, Math.floor(Number($('tp-tg').value) || config.tg));
  return { pp, tg: [tg] };
}
const testNames = ({ pp, tg }) => [...pp.map((n) => `pp${n}`), ...tg.map((n) => `tg${n}`)];

/** Says which tests "Run model benchmark" will run. */
function showPlannedTests() {
  let text;
  try {
    text = `Tests: ${testNames(plannedTests()).join(', ')}.`;
  } catch (e) {
    text = e.message;
  }
  $('tp-tests').textContent = text;
}

/**
 * Loads `src` and runs `tests` (engine.bench) on `backend`, with `threads`
 * CPU threads when not null (createEngine's `threads`: the CPU backend only);
 * returns { info, b } (engine.info, engine.bench's answer) and unloads it.
 * `what` prefixes the status lines.
 */
async function benchOnce(src, tests, { backend, threads = null, what = '' }) {
  const bar = $('tp-progress');
  bar.hidden = false;
  bar.value = 0;
  status(`${what}Loading ${src instanceof Blob ? src.name : src}…`);
  // A context just large enough for the largest test (a test fills one position per token).
  const context = Math.ceil(Math.max(...tests.pp, ...tests.tg) / 64) * 64;
  let engine = null;
  try {
    engine = await createEngine({
      model: src,
      context,
      backend,
      // A WebGPU option: refused with backend 'cpu'.
      ...(backend === 'cpu' ? {} : { jsReplay: config.js_replay }),
      ...(threads === null ? {} : { threads }),
      onProgress: (p) => {
        if (p.fraction !== null) bar.value = p.fraction;
        if (p.phase !== 'ready') status(`${what}Loading the model (${p.phase}): ${sizeLabel(Math.max(1, p.bytes_loaded))}${p.bytes_total ? ` of ${sizeLabel(p.bytes_total)}` : ''}…`);
      },
    });
    bar.removeAttribute('value'); // indeterminate while the benchmark runs
    status(`${what}Running ${testNames(tests).join(', ')} (after a short warm-up)…`);
    return { b: await engine.bench(tests), info: engine.info };
  } finally {
    bar.hidden = true;
    await engine?.unload();
  }
}

/** The "CPU threads" choice: a count, or null for the engine's choice. */
const chosenThreads = () => ($('tp-threads').value === '' ? null : Number($('tp-threads').value));

async function runThroughput() {
  const tests = plannedTests();
  const src = sourceOf(benchFile, $('tp-url').value.trim() || DEFAULT_MODEL);
  result.throughput = null;
  $('tp-summary').textContent = '';
  $('tp-info').replaceChildren();
  $('tp-table').hidden = true;
  const threads = chosenThreads();
  // A thread count is the CPU backend's option: it runs the benchmark there.
  const { b, info } = await benchOnce(src, tests, { backend: threads === null ? config.backend : 'cpu', threads });
  result.throughput = {
    model: {
      ...describeSource(src),
      name: info.name,
      architecture: info.architecture,
      weight_bytes: info.weight_bytes,
      context: info.context,
      load_seconds: info.load_seconds,
      from_cache: info.from_cache,
    },
    // Which backend ran the tests, and why (`auto` picks the CPU on a software adapter).
    backend: info.backend,
    backend_reason: info.backend_reason,
    // The CPU backend's { count, reason }; null on WebGPU.
    threads: info.threads ?? null,
    ...b,
    peak_gbps: null,
    efficiency: null,
  };
  // The engine's own view of the device.
  if (result.device && info.adapter?.precision) result.device.engine_precision = info.adapter.precision;
  updateThroughputFigures();
}

/**
 * Per-thread scaling: the model benchmark's tests on the CPU backend at 1, 2,
 * … min(hardwareConcurrency, 4) threads in turn, each a fresh engine; per
 * count each test's tok/s and its speedup over one thread.
 */
async function runScaling() {
  if (!cpu.cross_origin_isolated) throw new Error('per-thread scaling needs a cross-origin isolated page (COOP/COEP headers): here the CPU backend runs on one thread');
  const tests = plannedTests();
  const src = sourceOf(benchFile, $('tp-url').value.trim() || DEFAULT_MODEL);
  const counts = scalingCounts();
  result.scaling = null;
  $('tp-scale-summary').textContent = '';
  $('tp-scale-table').hidden = true;
  const rows = [];
  for (const threads of counts) {
    const { b, info } = await benchOnce(src, tests, { backend: 'cpu', threads, what: `Per-thread scaling, ${threads} of ${counts.at(-1)} threads: ` });
    rows.push({ threads, engine_threads: info.threads ?? null, tests: b.tests.map(({ test, tokens, seconds, tok_s }) => ({ test, tokens, seconds, tok_s })) });
  }
  const one = rows[0].tests;
  for (const r of rows) for (const t of r.tests) t.speedup = t.tok_s / one.find((o) => o.test === t.test).tok_s;
  result.scaling = { model: describeSource(src), tests: testNames(tests), hardware_concurrency: cpu.hardware_concurrency, rows };
  renderScaling();
}

function renderScaling() {
  const s = result.scaling;
  if (!s) return;
  const last = s.rows.at(-1);
  $('tp-scale-summary').textContent = `CPU backend at ${last.threads} threads against 1: ` +
    last.tests.map((t) => `${t.test} ×${sig(t.speedup, 2)}`).join(', ') + '.';
  fillTable($('tp-scale-table'), ['Threads', ...s.tests.map((n) => `${n} tokens/s (× 1 thread)`)],
    s.rows.map((r) => [String(r.threads), ...s.tests.map((n) => {
      const t = r.tests.find((x) => x.test === n);
      return t ? `${sig(t.tok_s)} (×${sig(t.speedup, 2)})` : '–';
    })]));
}

function updateThroughputFigures() {
  const tp = result.throughput;
  if (!tp) return;
  tp.peak_gbps = peak();
  tp.efficiency = tp.peak_gbps ? tp.implied_gbps / tp.peak_gbps : null;
  $('tp-summary').textContent = tp.tests.map((r) => `${r.test} ${tokS(r.tok_s)}`).join(', ') +
    (tp.efficiency === null ? ' (measure the bandwidth to see how close decode comes to it).' : `: decode reaches ${pct(tp.efficiency)} of the measured bandwidth.`);
  fillTable($('tp-table'), ['Test', 'Tokens', 'Seconds', 'Tokens/s'], tp.tests.map((r) => [r.test, String(r.tokens), sig(r.seconds), sig(r.tok_s)]));
  fillFacts($('tp-info'), [
    ['Model', `${tp.model.name} (${tp.model.architecture}, ${bytesShort(tp.model.weight_bytes)} of weights)`],
    ['Backend', tp.backend === 'cpu' ? `CPU (${tp.backend_reason}): weights streamed at ${gbps(tp.implied_gbps)} while decoding` : `WebGPU (${tp.backend_reason ?? 'default'})`],
    ['Load', `${sig(tp.model.load_seconds, 2)} s${tp.model.from_cache ? ' from browser storage' : ''}`],
    ['Threads', tp.threads ? `${tp.threads.count} (${tp.threads.reason})` : undefined],
    ['Prompt steps', `${tp.max_batch} tokens each`],
    ['Host work per decoded token', tp.dispatches_per_token === undefined ? '–' :
      tp.backend === 'cpu' ? `${tp.dispatches_per_token} CPU ops` : `${tp.dispatches_per_token} GPU dispatches, ${sig(tp.host_encode_ms_per_token, 2)} ms to encode and submit`],
    ['Bytes read per decoded token', bytes(Math.round(tp.bytes_per_token)) +
      (tp.weight_bytes_per_token !== undefined ? ` (weights ${bytesShort(Math.round(tp.weight_bytes_per_token))}, KV cache ${bytesShort(Math.round(tp.kv_bytes_per_token))})` : '')],
    ['Implied bandwidth', `${gbps(tp.implied_gbps)} (bytes per token × decode tokens/s)`],
    ['Measured bandwidth', tp.peak_gbps ? `${gbps(tp.peak_gbps)} (peak read)` : 'not measured yet'],
    ['Efficiency', tp.efficiency === null ? '–' : `${pct(tp.efficiency)} (implied ÷ measured)`],
  ]);
}

// ------------------------------------------------------ what can I run here?

let catalogSeq = 0;

/** The mixes ticked in the form, in CATALOG_MIXES order. */
function chosenMixes() {
  return CATALOG_MIXES.filter((m) => $(`cat-mix-${m}`).checked);
}

/**
 * Sizes the catalog for this device (the package picks the backend
 * createEngine would, and its limits) at the chosen context and mixes, with
 * the measured bandwidth when there is one. Never throws: a failure is shown
 * in the section. The latest call wins when several overlap.
 */
async function refreshCatalog() {
  const seq = ++catalogSeq;
  const section = $('catalog');
  const context = Number($('cat-context').value);
  const mixes = chosenMixes();
  section.dataset.state = 'running';
  section.querySelector('.error')?.remove();
  try {
    if (mixes.length === 0) throw new Error('tick at least one quantization mix');
    const bandwidth_gbps = peak();
    const table = await inspectCatalog({ context, mixes, ...(bandwidth_gbps ? { bandwidth_gbps } : {}) });
    if (seq !== catalogSeq) return;
    // The figures the table shows, per row (the full reports stay in the package's answer).
    result.catalog = {
      context,
      mixes: table.mixes,
      bandwidth_gbps: bandwidth_gbps ?? null,
      device: table.device,
      rows: table.rows.map((r) => ({
        shape: r.shape,
        mix: r.mix,
        architecture: r.architecture,
        supported: r.supported,
        weight_bytes: r.weight_bytes,
        kv_bytes: r.kv_bytes,
        kv_bytes_per_token: r.kv_bytes_per_token,
        total_bytes: r.total_bytes,
        largest_tensor: r.largest_tensor,
        fits: r.fits,
        reason: r.reason,
        max_context_that_fits: r.max_context_that_fits,
        decode_bytes_per_token: r.decode_bytes_per_token,
        predicted_decode_tok_s: r.predicted_decode_tok_s,
      })),
    };
    renderCatalog();
    section.dataset.state = 'done';
  } catch (e) {
    if (seq !== catalogSeq) return;
    console.error(e);
    result.catalog = null;
    $('cat-table').hidden = true;
    section.dataset.state = 'error';
    const p = document.createElement('p');
    p.className = 'error';
    p.textContent = `Failed: ${errorText(e)}`;
    section.querySelector('h2').after(p);
  }
  showJson();
}

function renderCatalog() {
  const c = result.catalog;
  if (!c) return;
  const d = c.device;
  const backend = d.backend === 'cpu' ? 'the CPU backend' : 'WebGPU';
  const limits = d.backend === 'webgpu' ? ` Buffers: ${bytesShort(d.max_storage_buffer_binding_size)} per binding, ${bytesShort(d.max_buffer_size)} per buffer.` : '';
  $('cat-device').textContent = `Sized for ${backend}, which createEngine would use here: ${d.backend_reason}. KV cache in ${d.kv_bytes_per_element === 2 ? 'f16' : 'f32'}.${limits} ` +
    `Memory: ${d.memory_bytes === null ? d.memory_source : `${GB(d.memory_bytes)} GB, ${d.memory_source}`}. ` +
    (c.bandwidth_gbps ? `Decode ceilings from the ${gbps(c.bandwidth_gbps)} measured above.` : 'Measure the bandwidth to see decode ceilings.');
  const table = $('cat-table');
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  table.createCaption().textContent = `Sizes in GB (10⁹ bytes); KV cache for a context of ${c.context.toLocaleString('en-US')} tokens.`;
  for (const h of ['Model', 'Mix', 'Weights', 'KV cache', 'Total', 'Verdict', 'Decode ≤ tok/s']) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    if (h === 'Verdict') th.className = 'verdict-cell';
    head.append(th);
  }
  const body = table.createTBody();
  let last = null;
  for (const r of c.rows) {
    const tr = body.insertRow();
    tr.dataset.shape = r.shape;
    tr.dataset.mix = r.mix;
    if (r.shape !== last && last !== null) tr.className = 'first-of-shape';
    const name = document.createElement('th');
    name.scope = 'row';
    name.textContent = r.shape === last ? '' : r.shape;
    last = r.shape;
    const [cls, text, why] = verdictOf(r, d);
    const verdict = document.createElement('td');
    verdict.className = 'verdict-cell';
    verdict.title = r.reason;
    verdict.append(span(`v-${cls}`, text), ' ', span('why', why));
    tr.append(name);
    for (const v of [r.mix, GB(r.weight_bytes), GB(r.kv_bytes), GB(r.total_bytes)]) tr.insertCell().textContent = v;
    tr.append(verdict);
    tr.insertCell().textContent = r.predicted_decode_tok_s ? sig(r.predicted_decode_tok_s) : '—';
  }
  table.hidden = false;
}

// --------------------------------------------------------------- will it run

async function runInspect() {
  const context = Math.max(1, Math.floor(Number($('in-context').value) || config.context));
  const url = $('in-url').value.trim();
  // Empty: the benchmark model.
  const src = inspectFile ?? (url ? sourceOf(null, url) : sourceOf(benchFile, $('tp-url').value.trim() || DEFAULT_MODEL));
  status(`Reading the header of ${src instanceof Blob ? src.name : src}…`);
  result.will_it_run = null;
  for (const id of ['in-verdict', 'in-reason']) $(id).textContent = '';
  $('in-info').replaceChildren();
  $('in-types').hidden = true;
  // The package sizes it for this adapter's limits and KV cache precision.
  const report = await inspectModel(src, { context, bandwidth_gbps: peak() ?? undefined });
  result.will_it_run = {
    source: describeSource(src),
    ...report,
    ...(src instanceof Blob ? { fetched_fraction: report.bytes_fetched / src.size } : {}),
  };
  renderInspect();
}

/** After a new bandwidth figure: the decode ceiling of the model inspected before. */
function updatePrediction() {
  const r = result.will_it_run;
  if (!r || !peak() || !(r.decode_bytes_per_token > 0)) return;
  r.predicted_decode_tok_s = (peak() * 1e9) / r.decode_bytes_per_token;
  renderInspect();
}

function renderInspect() {
  const r = result.will_it_run;
  if (!r) return;
  const verdict = $('in-verdict');
  let headline;
  if (!r.supported) headline = `No: tabllm cannot run this model${r.unsupported_reason ? ` (${r.unsupported_reason})` : ''}.`;
  else if (r.fits === 'fits') headline = `Yes, it fits at a context of ${r.context.toLocaleString('en-US')} tokens.`;
  else if (r.fits === 'fits_smaller_context') headline = `Only with a smaller context: up to ${r.max_context_that_fits?.toLocaleString('en-US')} tokens (you asked for ${r.context.toLocaleString('en-US')}).`;
  else if (r.fits === 'unknown') headline = `Unknown: this is one part of a model split into ${r.split_count} files.`;
  else headline = 'No, it does not fit on this device.';
  verdict.textContent = headline;
  verdict.className = `verdict ${r.supported ? r.fits : 'unsupported'}`;
  let why = `${capital(r.reason)}.`;
  if (!r.supported) why = `Sizes as if it were supported: ${r.reason}.`;
  if (r.predicted_decode_tok_s) {
    why += ` With the ${gbps(peak() ?? r.predicted_decode_tok_s * r.decode_bytes_per_token / 1e9)} measured here, decode can reach at most about ${tokS(r.predicted_decode_tok_s)}`;
    const eff = result.throughput?.efficiency;
    why += eff ? `; at the ${pct(eff)} efficiency measured for the benchmark model, expect about ${tokS(r.predicted_decode_tok_s * eff)}.` : '.';
  } else {
    why += ' Measure the bandwidth to predict its decode speed.';
  }
  $('in-reason').textContent = why;

  const largest = r.largest_tensor;
  let largestText = largest ? `${largest.name}: ${bytes(largest.bytes)}` : 'no tensors';
  // The limits the package sized it for: those of the backend createEngine would pick.
  const dev = r.device;
  if (largest && dev?.backend === 'webgpu') {
    const limit = Math.min(dev.max_buffer_size, dev.max_storage_buffer_binding_size);
    const split = r.split_tensors?.find((s) => s.name === largest.name);
    const placed = largest.bytes <= limit ? 'fits in one binding' : split ? `split by rows into ${split.parts} bindings` : 'too large for one binding';
    largestText += ` — ${placed} (this device: ${bytesShort(dev.max_storage_buffer_binding_size)} per binding, ${bytesShort(dev.max_buffer_size)} per buffer)`;
  } else if (largest && dev?.backend === 'cpu') {
    largestText += ' — the CPU backend keeps weights in wasm memory (no binding limit)';
  }
  const types = Object.entries(r.tensor_types).sort((a, b) => b[1].bytes - a[1].bytes);
  fillFacts($('in-info'), [
    ['Model', `${r.name ?? (r.source.file ?? r.source.url.split('/').pop())} (${r.architecture || 'no architecture'})`],
    ['Parameters', `${count(r.parameters)} (${r.parameters.toLocaleString('en-US')})`],
    ['Quantization mix', types.map(([t, v]) => `${t} ${pct(v.bytes / r.weight_bytes)}`).join(', ')],
    ['Weights', bytes(r.weight_bytes)],
    [`KV cache at ${r.context.toLocaleString('en-US')} tokens`, bytes(r.kv_bytes) + (r.kv_bytes_per_element ? ` (${r.kv_bytes_per_element === 2 ? 'f16' : 'f32'}` +
      (r.sliding_window ? `; ${r.n_local_layers} of ${r.n_layers} layers keep only a ${r.sliding_window}-token window)` : ')') : '')],
    ['Total', bytes(r.total_bytes)],
    ['Sized for', dev ? `${dev.backend === 'cpu' ? 'the CPU backend' : 'WebGPU'} (${dev.backend_reason}); memory ${dev.memory_bytes === null ? dev.memory_source : `${bytesShort(dev.memory_bytes)} (${dev.memory_source})`}` : undefined],
    ['Largest tensor', largestText],
    ['Largest context that fits', r.max_context_that_fits === null ? 'none' : `${r.max_context_that_fits.toLocaleString('en-US')} tokens`],
    ['Predicted decode', r.predicted_decode_tok_s ? `≤ ${tokS(r.predicted_decode_tok_s)} (bandwidth ÷ ${bytesShort(Math.round(r.decode_bytes_per_token))} per token)` : 'measure the bandwidth first'],
    ['Header bytes read', bytes(r.bytes_fetched) + (r.fetched_fraction !== undefined ? ` (${pct(r.fetched_fraction)} of the file)` : '')],
  ]);
  fillTable($('in-types'), ['Tensor type', 'Tensors', 'Bytes', 'Share'], types.map(([t, v]) => [t, String(v.count), bytesShort(v.bytes), pct(v.bytes / r.weight_bytes)]));
}

// ------------------------------------------------------------------- running

function status(text) {
  $('status').textContent = text;
}

const buttons = ['run-all', 'bw-run', 'tp-run', 'tp-scale', 'in-run'];
let busy = false;

/** Runs `steps` ([section id, fn]) one after another (the GPU is shared, so never two at once). */
async function run(steps) {
  if (busy) return;
  busy = true;
  const t = performance.now();
  for (const id of buttons) $(id).disabled = true;
  document.body.dataset.state = 'running';
  delete document.body.dataset.error;
  const errors = [];
  for (const [section, fn] of steps) {
    $(section).dataset.state = 'running';
    $(section).querySelector('.error')?.remove();
    try {
      await fn();
      $(section).dataset.state = 'done';
    } catch (e) {
      console.error(e);
      const msg = `${section}: ${errorText(e)}`;
      errors.push(msg);
      $(section).dataset.state = 'error';
      const p = document.createElement('p');
      p.className = 'error';
      p.textContent = `Failed: ${errorText(e)}`;
      $(section).querySelector('h2').after(p);
    }
    showJson();
  }
  result.created = new Date().toISOString();
  result.errors = errors;
  showJson();
  for (const id of buttons) $(id).disabled = false;
  $('tp-scale').disabled = !cpu.cross_origin_isolated;
  busy = false;
  if (errors.length) {
    status(`Failed: ${errors.join('; ')}`);
    document.body.dataset.error = errors.join('; ');
    document.body.dataset.state = 'error';
  } else {
    status(`Done in ${sig((performance.now() - t) / 1000, 2)} s.`);
    document.body.dataset.state = 'done';
  }
}

const STEPS = { bandwidth: ['bandwidth', runBandwidth], throughput: ['throughput', runThroughput], scaling: ['throughput', runScaling], inspect: ['inspect', runInspect] };
$('run-all').onclick = () => run([STEPS.bandwidth, STEPS.throughput, STEPS.inspect]);
$('bw-run').onclick = () => run([STEPS.bandwidth]);
$('tp-run').onclick = () => run([STEPS.throughput]);
$('tp-scale').onclick = () => run([STEPS.scaling]);
$('in-run').onclick = () => run([STEPS.inspect]);

// A picked file wins over the URL until the URL is edited again.
$('tp-file').onchange = (e) => (benchFile = e.target.files[0] ?? null);
$('tp-url').oninput = () => {
  benchFile = null;
  $('tp-file').value = '';
};
$('in-file').onchange = (e) => (inspectFile = e.target.files[0] ?? null);
$('in-url').oninput = () => {
  inspectFile = null;
  $('in-file').value = '';
};

$('download').onclick = () => {
  const blob = new Blob([$('json').textContent], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `tabllm-bench-${result.created.replace(/[:.]/g, '-')}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
};
$('copy').onclick = async () => {
  try {
    await navigator.clipboard.writeText($('json').textContent);
    $('copy-status').textContent = 'Copied.';
  } catch {
    // No clipboard permission: select the text so that Ctrl+C / ⌘C copies it.
    getSelection().selectAllChildren($('json'));
    $('copy-status').textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
  }
};

// -------------------------------------------------------------------- start

$('bw-runs').value = config.runs;
$('tp-url').value = config.model;
$('tp-pp').value = config.pp.join(', ');
$('tp-pp2048').checked = config.pp2048;
$('tp-tg').value = config.tg;
for (const id of ['tp-pp', 'tp-pp2048', 'tp-tg']) $(id).addEventListener('input', showPlannedTests);
renderCpu();
fillThreads();
showPlannedTests();
$('in-url').value = config.inspect;
$('in-context').value = config.context;
$('cat-context').replaceChildren(...CATALOG_CONTEXTS.map((n) => new Option(n.toLocaleString('en-US'), String(n))));
$('cat-context').value = String(config.catalog_context);
$('cat-context').onchange = () => refreshCatalog();
for (const m of CATALOG_MIXES) {
  const label = document.createElement('label');
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = `cat-mix-${m}`;
  box.checked = config.mixes.includes(m);
  box.onchange = () => refreshCatalog();
  label.append(box, ` ${m}`);
  $('cat-mixes').append(label);
}

try {
  result.device = await detectDevice();
  renderDevice();
} catch (e) {
  $('device-note').textContent = errorText(e);
  $('device-note').className = 'error';
}
fillSweepSizes();
// Sized at once (no bandwidth yet: speeds show "—"), again after each measurement.
await refreshCatalog();
showJson();
document.body.dataset.state = 'ready';
if (config.autorun) $('run-all').click();
