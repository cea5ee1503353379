// Benchmark, not a test: embedding throughput of tabllm (the package, on its
// WebGPU backend and on its CPU backend) against transformers.js
// (@huggingface/transformers 4.3.2, feature-extraction pipeline, pooling
// 'mean', normalize true, onnxruntime-web's wasm backend, fp32 and q8 ONNX) in
// the same headless Chromium run, on the same model (all-MiniLM-L6-v2) and the
// same texts (issue 31, acceptance 3). Prints a table and writes
// bench-results/embed-compare.json. Numbers are reported, never asserted; an
// engine that fails is reported with its error (the exit status is nonzero
// only when tabllm itself fails).
//
// Usage (after scripts/build-web.sh, `npm install` in tests/browser, scripts/fetch-models.sh for
// models/all-MiniLM-L6-v2-f16.gguf, and the ONNX export of scripts/reference/README.md, "ONNX for
// transformers.js", in target/onnx/all-MiniLM-L6-v2):
//   node tests/browser/compare-embed.mjs [--engines tabllm-webgpu,tabllm-cpu,transformers-fp32,transformers-q8]
//        [--model /models/all-MiniLM-L6-v2-f16.gguf] [--onnx target/onnx/all-MiniLM-L6-v2] [--context 512]
//        [--workloads texts,chunks] [--chunks 64] [--chunk-chars 640] [--runs 1] [--timeout-s 3600]
//        [--out bench-results/embed-compare.json]
// transformers.js is installed on first use in bench/compare-embed/ (its own pinned package-lock,
// `npm ci --ignore-scripts`: onnxruntime-node's install script would fetch CUDA binaries from
// outside the registry, and only the browser build is used); the test command never installs it.
// Its dist and onnxruntime-web's wasm are served same-origin by scripts/serve.mjs, the ONNX model
// from target/onnx/ (env.allowRemoteModels = false: nothing leaves the machine).
//
// Workloads, the same strings for every engine:
//   texts   the 50 texts of tests/reference/real/all-minilm-l6-v2.json (3 to 238 tokens, many scripts)
//   chunks  --chunks pieces of whole words up to --chunk-chars characters (640: about 200 tokens, 160 to 265
//           by transformers.js' tokenizer) cut in order from README.md then pkg/README.md of this checkout, as a document
//           index would embed them
// Per engine, in a fresh browser context: load (timed), one warm-up call, then per workload one
// call with every text (each engine's batch API) and the same texts one call each; --runs
// repeats both (medians). Tokens are counted by each engine's own tokenizer (the table says whose).
// Both engines run single-threaded: the page is served without COOP/COEP (scripts/serve.mjs
// --no-isolation), so it is not cross-origin isolated (onnxruntime-web then runs one wasm thread; tabllm's CPU backend has one).
import { start, repo, readJson } from './harness.mjs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

const TFJS_VERSION = '4.3.2'; // bench/compare-embed/package.json pins the same
const ENGINES = ['tabllm-webgpu', 'tabllm-cpu', 'transformers-fp32', 'transformers-q8'];

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const engines = arg('engines', ENGINES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const model = arg('model', '/models/all-MiniLM-L6-v2-f16.gguf');
const onnxDir = resolve(repo, arg('onnx', 'target/onnx/all-MiniLM-L6-v2'));
const context = Number(arg('context', 512));
const workloadNames = arg('workloads', 'texts,chunks').split(',').map((s) => s.trim()).filter(Boolean);
const nChunks = Number(arg('chunks', 64));
const chunkChars = Number(arg('chunk-chars', 640));
const runs = Number(arg('runs', 1));
const timeoutS = Number(arg('timeout-s', 3600));
const outPath = resolve(repo, arg('out', 'bench-results/embed-compare.json'));
for (const name of engines) if (!ENGINES.includes(name)) throw new Error(`unknown engine ${name} (one of ${ENGINES.join(', ')})`);
for (const name of workloadNames) if (!['texts', 'chunks'].includes(name)) throw new Error(`unknown workload ${name} (texts, chunks)`);
if (!(Number.isInteger(runs) && runs >= 1)) throw new Error('--runs must be an integer >= 1');
if (!(Number.isInteger(nChunks) && nChunks >= 1)) throw new Error('--chunks must be an integer >= 1');
if (!(Number.isInteger(chunkChars) && chunkChars >= 1)) throw new Error('--chunk-chars must be an integer >= 1');
if (!(Number.isInteger(context) && context >= 16)) throw new Error('--context must be an integer >= 16');
const modelPath = join(repo, model.replace(/^\//, ''));
if (!existsSync(modelPath)) throw new Error(`no model at ${modelPath}: scripts/fetch-models.sh makes models/all-MiniLM-L6-v2-f16.gguf`);

// ------------------------------------------------------------------ workloads
const ref = readJson(join(repo, 'tests/reference/real/all-minilm-l6-v2.json'));
const chunkSources = ['README.md', 'pkg/README.md'];
const chunkText = chunkSources.map((f) => readFileSync(join(repo, f), 'utf8')).join('\n\n');
const words = chunkText.split(/\s+/).filter(Boolean);
// In order, each chunk the words that fit in --chunk-chars characters (joined by one space; a
// longer word alone); past the end of the text it starts again (the default 64 x 640 fits in it).
const chunks = [];
for (let w = 0; chunks.length < nChunks; ) {
  let chunk = words[w++ % words.length];
  while (chunk.length + 1 + words[w % words.length].length <= chunkChars) chunk += ' ' + words[w++ % words.length];
  chunks.push(chunk);
}
const wrapped = chunks.reduce((n, c) => n + c.split(' ').length, 0) > words.length;
const allWorkloads = {
  texts: { name: 'texts', texts: ref.texts.map((t) => t.text), about: `the ${ref.texts.length} texts of tests/reference/real/all-minilm-l6-v2.json` },
  chunks: {
    name: 'chunks', texts: chunks,
    about: `${nChunks} chunks of whole words up to ${chunkChars} characters from ${chunkSources.join(' + ')} (${words.length} words, sha256 ${createHash('sha256').update(chunkText).digest('hex').slice(0, 16)})${wrapped ? ', wrapping around' : ''}`,
  },
};
const workloads = workloadNames.map((n) => allWorkloads[n]);

// ------------------------------------------------------------------ transformers.js, installed on first use
const benchDir = join(repo, 'bench/compare-embed');
const tfjsPkg = join(benchDir, 'node_modules/@huggingface/transformers/package.json');
const onnxReady = existsSync(join(onnxDir, 'onnx/model.onnx')) && existsSync(join(onnxDir, 'tokenizer.json'));
let tfjsProblem = null;
if (engines.some((e) => e.startsWith('transformers'))) {
  if (!onnxReady) {
    tfjsProblem = `no ONNX export at ${onnxDir} (onnx/model.onnx, tokenizer.json): make it with scripts/reference/export_onnx.py (scripts/reference/README.md, "ONNX for transformers.js")`;
  } else if (!existsSync(tfjsPkg) || readJson(tfjsPkg).version !== TFJS_VERSION) {
    console.log(`installing @huggingface/transformers ${TFJS_VERSION} in bench/compare-embed (npm ci --ignore-scripts)`);
    execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: benchDir, stdio: 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  }
}
if (!onnxDir.startsWith(repo)) throw new Error(`--onnx must be inside the repository (the page fetches it from the local server): ${onnxDir}`);
const onnxUrl = '/' + onnxDir.slice(repo.length).replace(/^\/+/, '');
const modelBase = onnxUrl.slice(0, onnxUrl.lastIndexOf('/') + 1);
const modelName = onnxUrl.slice(onnxUrl.lastIndexOf('/') + 1);

// ------------------------------------------------------------------ run
const command = ['node tests/browser/compare-embed.mjs', ...argv].join(' ');
const loadBefore = loadavg();
const started = Date.now();
const h = await start({ isolated: false });
const chromiumVersion = h.browser.version();
console.log(`compare-embed: ${model} (${(statSync(modelPath).size / 1e6).toFixed(1)} MB) and ${onnxUrl}; workloads ${workloads.map((w) => `${w.name} (${w.texts.length})`).join(', ')}; ` +
  `runs ${runs}; Chromium ${chromiumVersion}; ${cpus().length} CPU cores, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`);

async function runEngine(name) {
  const ctx = await h.browser.newContext({ userAgent: 'tabllm-compare' });
  const page = await ctx.newPage();
  const consoleProblems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleProblems.push(`${m.type()}: ${m.text()}`.slice(0, 500));
    if (m.text().startsWith('compare-embed: ')) console.log(`  ${name}: ${m.text().slice(15)} (${Math.round((Date.now() - t) / 1000)} s)`);
  });
  page.on('pageerror', (e) => consoleProblems.push(`pageerror: ${e.message}`.slice(0, 500)));
  const requests = [];
  page.on('request', (r) => { if (!r.url().startsWith(h.origin) && !/^(data|blob):/.test(r.url())) requests.push(r.url()); });
  let crashed = false;
  page.on('crash', () => { crashed = true; });
  const t = Date.now();
  let result;
  let timer;
  const [engine, variant] = name.split('-');
  try {
    if (engine === 'transformers' && tfjsProblem) throw new Error(tfjsProblem);
    await page.goto(h.origin + '/tests/browser/compare-embed.html');
    await page.waitForFunction(() => window.embedCompare !== undefined, null, { timeout: 30_000 });
    const call = engine === 'tabllm'
      ? page.evaluate((o) => window.embedCompare.tabllm(o), { model, backend: variant, context, workloads, runs })
      : page.evaluate((o) => window.embedCompare.transformers(o), {
        tfjsDist: '/bench/compare-embed/node_modules/@huggingface/transformers/dist/',
        ortDist: '/bench/compare-embed/node_modules/onnxruntime-web/dist/',
        modelBase, modelName, dtype: variant, workloads, runs,
      });
    result = await Promise.race([
      call,
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no result after ${timeoutS} s (--timeout-s)`)), timeoutS * 1000); }),
    ]);
  } catch (e) {
    result = { engine: engine === 'tabllm' ? 'tabllm' : 'transformers.js', backend: variant, error: { message: crashed ? `page crashed (${e?.message ?? e})` : String(e?.message ?? e) } };
  } finally {
    clearTimeout(timer);
    await ctx.close().catch(() => {});
  }
  result.name = name;
  result.seconds = Math.round((Date.now() - t) / 1000);
  result.page_console_problems = consoleProblems.slice(0, 40);
  result.requests_off_origin = requests;
  return result;
}

const results = [];
for (const name of engines) {
  const r = await runEngine(name);
  results.push(r);
  console.log(`${name}: ${r.error ? `ERROR ${r.error.code ?? ''} ${r.error.message}` : 'ok'} (${r.seconds} s)`);
}
await h.close();
process.exitCode = results.some((r) => r.name.startsWith('tabllm') && r.error) ? 1 : 0;
const loadAfter = loadavg();

// ------------------------------------------------------------------ figures
const median = (xs) => {
  const v = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const cos = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};
/** The lowest cosine between two lists of vectors, row by row, and the text where it is. */
const worstCos = (xs, ys, texts) => {
  if (!xs || !ys || xs.length !== ys.length || xs[0]?.length !== ys[0]?.length) return null;
  let worst = { cosine: 2, index: -1 };
  xs.forEach((x, i) => { const c = cos(x, ys[i]); if (c < worst.cosine) worst = { cosine: c, index: i }; });
  return { cosine: Number(worst.cosine.toFixed(7)), index: worst.index, text: texts[worst.index].slice(0, 60) };
};
const sum = (xs) => xs.reduce((s, x) => s + x, 0);

const rows = [];
for (const r of results) {
  const label = r.engine === 'tabllm' ? `${r.backend}${r.info?.adapter?.architecture ? ` (${r.info.adapter.architecture})` : ''}` : r.backend;
  if (r.error) {
    rows.push({ engine: r.engine, backend: label, error: r.error.message });
    continue;
  }
  for (const w of workloads) {
    const m = r.workloads[w.name];
    const tokens = r.tokens?.[w.name] ? sum(r.tokens[w.name]) : null;
    const batch = median(m.batch_s);
    const single = median(m.single_s);
    rows.push({
      engine: r.engine, backend: label, workload: w.name, texts: w.texts.length, tokens,
      max_tokens: r.tokens?.[w.name] ? Math.max(...r.tokens[w.name]) : null,
      padded_tokens: r.padded_tokens?.[w.name] ?? null,
      load_s: r.load_s, batch_s: batch, single_s: single,
      batch_texts_s: batch ? w.texts.length / batch : null, batch_tokens_s: batch && tokens ? tokens / batch : null,
      single_texts_s: single ? w.texts.length / single : null, single_tokens_s: single && tokens ? tokens / single : null,
      single_vs_batch_worst_cosine: worstCos(m.single_vectors, m.batch_vectors, w.texts),
      vs_sentence_transformers: w.name === 'texts' && m.batch_vectors[0]?.length === ref.n_embd
        ? worstCos(m.batch_vectors, ref.texts.map((t) => t.st), w.texts) : null,
    });
  }
}

const cross = [];
const ok = results.filter((r) => !r.error);
for (const w of workloads) {
  for (let i = 0; i < ok.length; i++) {
    for (let j = i + 1; j < ok.length; j++) {
      cross.push({ workload: w.name, a: ok[i].name, b: ok[j].name, worst: worstCos(ok[i].workloads[w.name].batch_vectors, ok[j].workloads[w.name].batch_vectors, w.texts) });
    }
  }
}

// ------------------------------------------------------------------ table
const fmt = (x, d = 1) => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(d));
const header = ['engine', 'backend', 'workload', 'texts', 'tokens (max)', 'load s', 'batch s', 'batch texts/s', 'batch tok/s', 'single s', 'single texts/s', 'single tok/s', 'worst cos vs ST'];
const cells = rows.map((x) => (x.error
  ? [x.engine, x.backend, 'error', '', x.error.replace(/\s+/g, ' ').slice(0, 120), '', '', '', '', '', '', '', '']
  : [x.engine, x.backend, x.workload, String(x.texts), `${x.tokens ?? '-'} (${x.max_tokens ?? '-'})`, fmt(x.load_s, 2), fmt(x.batch_s, 2), fmt(x.batch_texts_s),
    fmt(x.batch_tokens_s, 0), fmt(x.single_s, 2), fmt(x.single_texts_s), fmt(x.single_tokens_s, 0), x.vs_sentence_transformers ? x.vs_sentence_transformers.cosine.toFixed(4) : '-']));
const widths = header.map((hd, i) => Math.max(hd.length, ...cells.map((c) => String(c[i]).length)));
const line = (c) => c.map((v, i) => String(v).padEnd(widths[i])).join(' | ').trimEnd();
console.log('');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
for (const c of cells) console.log(line(c));
console.log('');
for (const c of cross) {
  console.log(`worst cosine ${c.workload}, ${c.a} vs ${c.b}: ${c.worst ? `${c.worst.cosine.toFixed(7)} (${JSON.stringify(c.worst.text)})` : '- (different widths or counts)'}`);
}
for (const x of rows.filter((r) => !r.error)) {
  const s = x.single_vs_batch_worst_cosine;
  if (s) console.log(`${x.engine} ${x.backend} ${x.workload}: worst cosine one-text call vs batch call ${s.cosine.toFixed(7)}`);
}
for (const w of workloads) {
  const counted = ok.filter((r) => r.tokens?.[w.name]);
  const differ = counted.length ? w.texts.map((_, i) => i).filter((i) => counted.some((r) => r.tokens[w.name][i] !== counted[0].tokens[w.name][i])) : [];
  console.log(`token counts ${w.name}: ${counted.length < 2 ? 'one engine only' : differ.length ? `differ on ${differ.length} texts: ${differ.slice(0, 5).map((i) => `${JSON.stringify(w.texts[i].slice(0, 30))} ${counted.map((r) => `${r.name} ${r.tokens[w.name][i]}`).join(', ')}`).join('; ')}` : `the same for every text on ${counted.map((r) => r.name).join(', ')}`}`);
}
for (const r of ok) {
  if (r.engine === 'tabllm') console.log(`${r.name}: ${r.info.architecture}, backend ${r.info.backend} (${r.info.backend_reason}), adapter ${r.info.adapter?.vendor ?? '-'}/${r.info.adapter?.architecture ?? '-'}, context ${r.info.context}, wasm memory ${(r.wasm_memory_bytes / 2 ** 20).toFixed(0)} MiB`);
  else console.log(`${r.name}: transformers.js ${r.version}, onnxruntime-web ${r.onnx_wasm?.ort_version} (numThreads ${r.onnx_wasm?.numThreads}, cross-origin isolated ${r.crossOriginIsolated}), tokenizer model_max_length ${r.model_max_length}; padded tokens per batch: ${JSON.stringify(r.padded_tokens)}`);
  if (r.requests_off_origin.length) console.log(`${r.name}: requests off the local server: ${r.requests_off_origin.slice(0, 5).join(', ')}`);
}
for (const r of results) if (r.error) console.log(`${r.name} error: ${r.error.message}`);

const methods = {
  workloads: Object.fromEntries(workloads.map((w) => [w.name, w.about])),
  tokens: 'each engine\'s own tokenizer, special tokens included: tabllm usage.prompt_tokens of one-text embeddings.create (its WordPiece, vocabulary from the GGUF); transformers.js its tokenizer (tokenizer.json) on each text; "token counts" above says whether they agree text by text',
  batch: 'one call with every text of the workload: tabllm embeddings.create({ input: texts }) (each text run on its own inside, as llama.cpp\'s embedding mode); transformers.js extractor(texts, { pooling: \'mean\', normalize: true }) (one padded batch); wall clock in the page, median of --runs',
  single: 'the same texts, one call per text in order, timed together; median of --runs',
  rates: 'texts/s = texts / seconds; tok/s = the engine\'s tokens (unpadded) / seconds',
  load: 'wall clock in the page from the start of the load to a usable engine, model fetched from the local server, no browser cache: tabllm createEngine({ model, backend, context, cache: false }); transformers.js pipeline(\'feature-extraction\', dir, { dtype, device: \'wasm\' }) with env.useBrowserCache = false (includes fetching and compiling onnxruntime-web\'s wasm)',
  cosines: 'worst over the workload\'s texts of the cosine between two engines\' vectors from their batch calls; "vs ST": against sentence-transformers\' vectors in the reference JSON (texts workload only)',
  threads: 'one: the page is not cross-origin isolated (served by scripts/serve.mjs --no-isolation), so onnxruntime-web runs one wasm thread; tabllm\'s CPU backend is single-threaded',
};
console.log('');
for (const [k, v] of Object.entries(methods)) console.log(`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);

mkdirSync(join(repo, 'bench-results'), { recursive: true });
const strip = (r) => (r.workloads
  ? { ...r, workloads: Object.fromEntries(Object.entries(r.workloads).map(([k, v]) => [k, { batch_s: v.batch_s, single_s: v.single_s }])) }
  : r);
writeFileSync(outPath, JSON.stringify({
  date: new Date().toISOString(),
  command,
  seconds: Math.round((Date.now() - started) / 1000),
  chromium: chromiumVersion,
  browser: 'headless Chromium, --enable-unsafe-webgpu (SwiftShader WebGPU adapter here)',
  machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? null, memory_bytes: totalmem(), node: process.version, loadavg_before: loadBefore, loadavg_after: loadAfter },
  model, onnx: onnxUrl, transformers_js_version: TFJS_VERSION, context, runs,
  methods,
  table: rows,
  cross,
  results: results.map(strip),
}, null, 2) + '\n');
console.log(`wrote ${outPath.startsWith(repo) ? outPath.slice(repo.length) : outPath}`);
