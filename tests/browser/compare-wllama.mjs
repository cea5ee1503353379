// Benchmark, not a test: tabllm (the npm package, WebGPU) against wllama
// (@wllama/wllama 3.8.1, llama.cpp in wasm: its WebGPU backend and its CPU
// backend) in the same headless Chromium run, on the same model, raw-text
// prompt, token count, greedy sampling and context. Prints a table and writes
// bench-results/browser-compare.json. Timings are reported, never asserted; an
// engine that fails is reported with its error (the exit status is nonzero only
// when tabllm itself fails).
//
// Usage (with pkg/wasm built by scripts/build-web.sh, and `npm install` in tests/browser):
//   node tests/browser/compare-wllama.mjs [--gen-tokens 32] [--runs 1] [--engines tabllm,wllama-webgpu,wllama-cpu]
//   (tabllm: backend 'auto'; tabllm-webgpu and tabllm-cpu ask for one backend)
//        [--model /models/SmolLM2-135M-Instruct.Q4_1.gguf] [--threads N] [--timeout-s 1800] [--prompt-repeat 8]
//        [--out bench-results/browser-compare.json] [--wllama-params '{"log_level":1}']  (extra wllama LoadModelParams)
//        [--isolated]  (serve with COOP/COEP: both engines may then run threads; --threads N asks each for N,
//                       tabllm-cpu through createEngine({ threads }), wllama through n_threads)
//
// Per engine, in a fresh browser context: load (timed), one warm-up request,
// then N non-streaming requests (each engine's own timings) and N streaming
// requests (wall clock in the page, the same method for both engines); the
// table shows medians (N = --runs, default 1: on SwiftShader one tabllm request
// of 64 + 32 tokens takes minutes). Every request prefills the whole prompt (tabllm:
// engine.reset(); wllama: cache_prompt: false); `prefilled_tokens` shows it.
//
// wllama on CPU runs single-threaded here unless --isolated: the page is served
// without COOP/COEP (scripts/serve.mjs --no-isolation), so it is not
// cross-origin isolated and wllama cannot use its pthreads (`--threads` is
// passed as n_threads but only matters when isolated).
import { start, repo } from './harness.mjs';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const genTokens = Number(arg('gen-tokens', 32));
const runs = Number(arg('runs', 1));
const model = arg('model', '/models/SmolLM2-135M-Instruct.Q4_1.gguf');
const engines = arg('engines', 'tabllm,wllama-webgpu,wllama-cpu').split(',').map((s) => s.trim()).filter(Boolean);
const threads = arg('threads', null) === null ? null : Number(arg('threads'));
const timeoutS = Number(arg('timeout-s', 1800));
const wllamaParams = JSON.parse(arg('wllama-params', '{}'));
const outPath = resolve(repo, arg('out', 'bench-results/browser-compare.json')); // relative to the repository; absolute paths kept
const context = 1024; // holds the longest --prompt-repeat 8 prompt and its completion
if (!(Number.isInteger(genTokens) && genTokens >= 2)) throw new Error('--gen-tokens must be an integer >= 2');
if (!(Number.isInteger(runs) && runs >= 1)) throw new Error('--runs must be an integer >= 1');
for (const name of engines) if (!['tabllm', 'tabllm-webgpu', 'tabllm-cpu', 'wllama-webgpu', 'wllama-cpu'].includes(name)) throw new Error(`unknown engine ${name}`);

// One raw-text prompt (no chat template), about 64 tokens with SmolLM2's
// tokenizer, repeated --prompt-repeat times (8: about 512 tokens, a pp512-like
// prefill); the table reports what each engine tokenized it to.
const promptRepeat = Number(arg('prompt-repeat', 1));
if (!(Number.isInteger(promptRepeat) && promptRepeat >= 1 && promptRepeat <= 32)) throw new Error('--prompt-repeat must be an integer in 1..=32');
const paragraph = 'The history of the printing press begins in the fifteenth century, when Johannes Gutenberg, a goldsmith from Mainz, ' +
  'combined movable metal type, oil-based ink and a wooden screw press into a system that could produce books far faster than any scribe. ' +
  'Within fifty years, presses were working in more than two hundred European cities, and';
const prompt = Array(promptRepeat).fill(paragraph).join(' ');

const modelBytes = statSync(join(repo, model.replace(/^\//, ''))).size;
const command = ['node tests/browser/compare-wllama.mjs', ...argv].join(' ');
const loadBefore = loadavg();
const started = Date.now();

const isolated = argv.includes('--isolated');
const h = await start({ isolated });
const chromiumVersion = h.browser.version();
console.log(`compare: ${model} (${(modelBytes / 1e6).toFixed(1)} MB), prompt ${prompt.length} chars, ${genTokens} generated tokens, ` +
  `context ${context}, greedy, warm-up + ${runs} runs per method; Chromium ${chromiumVersion}; ${cpus().length} CPU cores, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`);

async function runEngine(name) {
  const ctx = await h.browser.newContext({ userAgent: 'tabllm-compare' });
  const page = await ctx.newPage();
  const consoleProblems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleProblems.push(`${m.type()}: ${m.text()}`.slice(0, 500));
  });
  page.on('pageerror', (e) => consoleProblems.push(`pageerror: ${e.message}`.slice(0, 500)));
  let crashed = false;
  page.on('crash', () => { crashed = true; });
  const t = Date.now();
  let result;
  let timer;
  try {
    await page.goto(h.origin + '/tests/browser/compare.html');
    await page.waitForFunction(() => window.compare !== undefined, null, { timeout: 30_000 });
    const opts = { model, prompt, genTokens, context, runs };
    const call = name.startsWith('tabllm')
      ? page.evaluate((o) => window.compare.tabllm(o), { ...opts, backend: name === 'tabllm' ? 'auto' : name.replace(/^tabllm-/, ''), threads: name === 'tabllm-webgpu' ? null : threads })
      : page.evaluate((o) => window.compare.wllama(o), { ...opts, backend: name.replace(/^wllama-/, ''), threads, extraParams: wllamaParams });
    result = await Promise.race([
      call,
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no result after ${timeoutS} s (--timeout-s)`)), timeoutS * 1000); }),
    ]);
  } catch (e) {
    const [engine, backend = 'webgpu'] = name.split('-');
    result = { engine, backend, error: { message: crashed ? `page crashed (${e?.message ?? e})` : String(e?.message ?? e) } };
  } finally {
    clearTimeout(timer);
    await ctx.close().catch(() => {});
  }
  result.name = name;
  result.seconds = Math.round((Date.now() - t) / 1000);
  result.page_console_problems = consoleProblems.slice(0, 40);
  return result;
}

const results = [];
for (const name of engines) {
  const r = await runEngine(name);
  results.push(r);
  console.log(`${name}: ${r.error ? `ERROR ${r.error.code ?? r.error.type ?? ''} ${r.error.message}` : 'ok'} (${r.seconds} s)`);
}
await h.close();
process.exitCode = results.some((r) => r.name.startsWith('tabllm') && r.error) ? 1 : 0;
const loadAfter = loadavg();

// ------------------------------------------------------------------ table
const fmt = (x, d = 1) => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(d));
const mb = (b) => (b ? (b / 2 ** 20).toFixed(1) : '-');
const rows = [];
for (const r of results) {
  const backend = r.backend + (r.threads ? ` ${r.threads}t` : '') + (r.webgpu_fallback ? ' (ran on CPU!)' : '');
  const base = { engine: r.engine, backend, load_s: r.load_s ?? null, wasm_memory_bytes: r.wasm_memory_bytes ?? null };
  if (r.summary) {
    for (const [method, s] of [['engine', r.summary.engine], ['wall', r.summary.wall]]) {
      rows.push({ ...base, method, prompt_tokens: s.prompt_tokens, prefilled_tokens: s.prefilled_tokens, prefill_tok_s: s.prefill_tok_s, decode_tok_s: s.decode_tok_s, gen_tokens: s.completion_tokens });
    }
  }
  if (r.error) rows.push({ ...base, method: 'error', error: r.error.message });
}
const header = ['engine', 'backend', 'method', 'load s', 'prompt tokens', 'prefill tok/s', 'decode tok/s', 'gen tokens', 'peak wasm MiB'];
const cells = rows.map((x) => (x.method === 'error'
  ? [x.engine, x.backend, 'error', fmt(x.load_s, 2), x.error.replace(/\s+/g, ' ').slice(0, 100), '', '', '', mb(x.wasm_memory_bytes)]
  : [x.engine, x.backend, x.method, fmt(x.load_s, 2),
    String(x.prompt_tokens ?? '-') + (x.prefilled_tokens != null && x.prefilled_tokens !== x.prompt_tokens ? ` (ran ${x.prefilled_tokens})` : ''),
    fmt(x.prefill_tok_s), fmt(x.decode_tok_s), String(x.gen_tokens ?? '-'), mb(x.wasm_memory_bytes)]));
const widths = header.map((hd, i) => Math.max(hd.length, ...cells.map((c) => String(c[i]).length)));
const line = (c) => c.map((v, i) => String(v).padEnd(widths[i])).join(' | ').trimEnd();
console.log('');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
for (const c of cells) console.log(line(c));

const ratios = [];
for (const t of results.filter((r) => r.name.startsWith('tabllm') && r.summary)) for (const w of results.filter((r) => r.engine === 'wllama' && r.summary)) {
  for (const method of ['engine', 'wall']) {
    const a = t?.summary[method];
    const b = w.summary[method];
    if (a?.decode_tok_s && b?.decode_tok_s) {
      ratios.push({
        ours: `${t.name} (${t.backend})`, vs: `wllama ${w.backend}${w.webgpu_fallback ? ' (ran on CPU)' : ''}`, method,
        decode_ratio: Number((a.decode_tok_s / b.decode_tok_s).toFixed(3)),
        prefill_ratio: a.prefill_tok_s && b.prefill_tok_s ? Number((a.prefill_tok_s / b.prefill_tok_s).toFixed(3)) : null,
      });
    }
  }
}
console.log('');
if (!ratios.length) console.log('ratios: none (tabllm or every wllama backend has no result)');
for (const r of ratios) console.log(`${r.ours} / ${r.vs}, ${r.method} figures: decode ${r.decode_ratio.toFixed(2)}x, prefill ${r.prefill_ratio == null ? '-' : r.prefill_ratio.toFixed(2) + 'x'}`);

// Greedy texts side by side (the first measured non-streaming run of each engine).
console.log('');
const texts = results.filter((r) => r.summary).map((r) => ({ name: r.name, text: r.summary.engine.text, same_every_run: r.summary.texts_identical_across_runs }));
for (const x of texts) console.log(`${x.name} text${x.same_every_run ? '' : ' (NOT the same in every run)'}: ${JSON.stringify(x.text)}`);
const common = (a, b) => { let i = 0; while (i < a.length && i < b.length && a[i] === b[i]) i++; return i; };
for (let i = 0; i < texts.length; i++) {
  for (let j = i + 1; j < texts.length; j++) {
    const a = texts[i].text ?? '';
    const b = texts[j].text ?? '';
    console.log(`${texts[i].name} vs ${texts[j].name}: ${a === b ? 'identical' : `the same for the first ${common(a, b)} of ${Math.min(a.length, b.length)} chars`}`);
  }
}
console.log('');
for (const r of results) {
  if (r.engine === 'tabllm' && r.info) console.log(`${r.name}: backend ${r.info.backend} (${r.info.backend_reason}), adapter ${r.info.adapter?.vendor}/${r.info.adapter?.architecture} (${r.info.adapter?.precision}); tokenize() gives ${r.tokenize_count} prompt tokens`);
  if (r.engine !== 'wllama') continue;
  if (r.webgpu_fallback) console.log(`${r.name}: ${r.webgpu_fallback}`);
  else if (r.model_buffers_mib) console.log(`${r.name}: model buffers MiB ${JSON.stringify(r.model_buffers_mib)}${r.offload_line ? ', ' + r.offload_line.trim() : ''}; ${r.threads} thread(s), cross-origin isolated: ${r.env?.crossOriginIsolated}`);
}
if (results.some((r) => r.engine === 'tabllm' && r.info?.backend === 'webgpu' && r.info?.adapter?.architecture === 'swiftshader')) {
  console.log('note: the WebGPU adapter is SwiftShader, WebGPU implemented on the CPU; tabllm\'s WebGPU figures here are SwiftShader\'s on this machine\'s cores, not a GPU\'s');
}
for (const r of results) {
  if (r.error) console.log(`${r.name} error: ${r.error.message}${r.error.stack ? '\n  ' + r.error.stack.split('\n').slice(1, 4).join('\n  ') : ''}`);
}

const methods = {
  engine: 'each engine\'s own figures, non-streaming, median of the runs after a warm-up: tabllm Completion.timings.prefill_tok_s / decode_tok_s; wllama llama.cpp timings.prompt_per_second / predicted_per_second',
  wall: 'streaming, timed in the page, median of the runs: prefill = prompt tokens / time to the first text chunk; decode = (completion tokens - 1) / (end of stream - first text chunk)',
  load: `wall clock in the page from the start of the load to a usable engine, the model fetched from the local server (no browser cache): tabllm createEngine({ model: url, context: ${context}, cache: false }); wllama fetch(url) -> Blob -> loadModel([blob], { n_ctx: ${context}, n_gpu_layers: 999 (webgpu) or 0 (cpu), n_parallel: 1 })`,
  wasm_memory: 'tabllm engine.info.wasm_memory_bytes; wllama: the largest WebAssembly.Memory in its worker by the end of loadModel (a probe prefixed to its worker script wraps WebAssembly.Memory and grow()); both only grow, so this is the peak during the load',
  cross_origin_isolated: isolated,
  cpu_threads: isolated ? `as asked (--threads ${threads ?? 'not given: each engine\'s default'})` : 'one thread: the page is not cross-origin isolated',
};
console.log('');
for (const [k, v] of Object.entries(methods)) console.log(`${k}: ${v}`);

mkdirSync(join(repo, 'bench-results'), { recursive: true });
const report = {
  date: new Date().toISOString(),
  command,
  seconds: Math.round((Date.now() - started) / 1000),
  chromium: chromiumVersion,
  browser: 'headless Chromium, --enable-unsafe-webgpu (SwiftShader WebGPU adapter here)',
  machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? null, memory_bytes: totalmem(), node: process.version, loadavg_before: loadBefore, loadavg_after: loadAfter },
  model, model_bytes: modelBytes, prompt, gen_tokens: genTokens, context, temperature: 0, runs,
  wllama_version: '3.8.1',
  methods,
  table: rows,
  ratios,
  texts,
  results,
};
writeFileSync(outPath, JSON.stringify(report, null, 2) + '\n');
console.log(`wrote ${outPath.startsWith(repo) ? outPath.slice(repo.length) : outPath}`);
