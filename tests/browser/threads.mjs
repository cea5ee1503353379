// The CPU backend on several threads (issue 29, docs/cpu-threads.md) in
// headless Chromium on pages served with COOP/COEP (so `crossOriginIsolated`)
// and without them.
//
//   node tests/browser/threads.mjs                      (the checks; in the test command)
//   node tests/browser/threads.mjs --bench [--threads 1,2,3] [--batch-ms 100] [--rounds 5] [--spin 16384]
//
// Checks:
// - the kernels module's pool (pkg/cpu-threads.js on pkg/wasm/tabllm_cpu_threads.wasm):
//   matmuls of SmolLM2-135M's and a Qwen3.5-0.8B-like shapes, Q4_1, Q4_K and
//   F16, one token (rows split) and 37 (tiles of tokens split), a store into
//   a wider y and an accumulate, and attention split by units (prefill after
//   a prefix, decode, a sliding window on a ring, bidirectional), at 1, 2 and
//   3 threads, bit-equal to one thread's matmul_one / attention_one;
// - the package on an isolated page: `threads: 2` and `threads: 3` run SmolLM2
//   Q4_1 on the threaded CPU path and give llama.cpp's reference ids for
//   chat[0] (so the same as one thread), `engine.info.threads` says so;
// - a page without the headers: not isolated, the pool refuses, `threads: 2`
//   is refused by name and the default runs on one thread (the fallback).
// --bench also prints µs per matmul at each thread count and the barrier's cost.
import assert from 'node:assert/strict';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { installPackage, isolationHandler, readJson, shared, start } from './harness.mjs';

const { values: args } = parseArgs({ options: {
  bench: { type: 'boolean', default: false },
  threads: { type: 'string', default: '1,2,3' }, 'batch-ms': { type: 'string' }, rounds: { type: 'string' },
  spin: { type: 'string', default: '16384' },
} });
// The checks time nothing worth reading: one short batch each.
const batchMs = args['batch-ms'] ?? (args.bench ? '100' : '2');
const rounds = args.rounds ?? (args.bench ? '5' : '1');

installPackage();
const smol = readJson(join(shared, 'smollm2-135m-instruct-q4_1.json'));
const SMOL = '/models/SmolLM2-135M-Instruct.Q4_1.gguf';

// Everything under /plain/ is served without COOP/COEP, the rest with them.
const h = await start({ handler: await isolationHandler() });

const query = `threads=${args.threads}&batchMs=${batchMs}&rounds=${rounds}&spin=${args.spin}`;
async function kernels(prefix = '') {
  const { context, page } = await h.open(`${prefix}/tests/browser/threads/index.html?${query}`);
  try {
    await page.waitForFunction(() => window.spikeResult, null, { timeout: 600_000, polling: 200 });
    const r = await page.evaluate(() => window.spikeResult);
    if (r.error) throw new Error(r.error);
    return r.result;
  } finally {
    await context.close();
  }
}

let result;
await h.check('isolated page: the pool\'s matmuls (1 and 37 tokens; Q4_1, Q4_K, F16; a wider y, accumulated) and attention (prefill, decode, window, bidirectional) at 1, 2 and 3 threads are bit-equal to one thread', async () => {
  result = await kernels();
  assert.equal(result.crossOriginIsolated, true, 'the page is not cross-origin isolated');
  const bad = result.cases.flatMap((c) => Object.entries(c.byThreads).filter(([, v]) => !v.bitEqual)
    .map(([t, v]) => `${c.kind} ${c.rows}×${c.cols}, ${c.tokens} token(s), at ${t} threads: first differing element ${v.firstDiff}`));
  assert.deepEqual(bad, []);
  // Q4_1 takes all 5 shapes, F16 all 5, Q4_K the 3 whose columns are whole 256-blocks.
  assert.equal(result.cases.length, 13, `cases: ${result.cases.map((c) => `${c.kind} ${c.rows}×${c.cols}×${c.tokens}`).join(', ')}`);
  assert.deepEqual(Object.keys(result.cases[0].byThreads).map(Number), args.threads.split(',').map(Number));
  // A store into a wider y and an accumulate, and attention split by units: first differing element, -1 for none.
  assert.deepEqual(result.wide.map((c) => c.byThreads), [0, 1].map(() => Object.fromEntries(args.threads.split(',').map((t) => [t, -1]))));
  assert.equal(result.attention.length, 4);
  for (const c of result.attention) assert.deepEqual(c.byThreads, Object.fromEntries(args.threads.split(',').map((t) => [t, -1])), c.label);
});

const { context, page } = await h.open('/tests/browser/app/index.html');
await page.waitForSelector('body[data-ready]');

await h.check('isolated page: SmolLM2 on 2 and 3 CPU threads gives llama.cpp\'s chat[0] reference ids; info.threads says so; a bad threads value is refused by name', async () => {
  const c = smol.chat[0];
  const r = await page.evaluate(async ({ url, messages, n }) => {
    const refused = {};
    for (const [name, opts] of Object.entries({ zero: { threads: 0 }, fraction: { threads: 1.5 }, many: { threads: 65 }, webgpu: { threads: 2, backend: 'webgpu' } })) {
      refused[name] = await tabllm.createEngine({ model: url, backend: 'cpu', ...opts }).then(() => 'loaded', (e) => `${e.code} [${e.details?.field}]: ${e.message}`);
    }
    const runs = [];
    for (const threads of [2, 3]) {
      const engine = await tabllm.createEngine({ model: url, context: 512, backend: 'cpu', threads, cache: false });
      const out = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: n });
      await engine.unload();
      runs.push({ info: engine.info, out });
    }
    const byDefault = await tabllm.createEngine({ model: url, context: 64, backend: 'cpu', cache: false });
    await byDefault.unload();
    return { isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency, runs, defaultThreads: byDefault.info.threads, refused };
  }, { url: SMOL, messages: c.messages, n: c.greedy_ids_f32_activations.length });
  assert.equal(r.isolated, true);
  for (const [i, run] of r.runs.entries()) {
    const threads = i + 2;
    console.log(`SmolLM2, CPU backend, ${threads} threads: prefill ${run.out.timings.prefill_tok_s.toFixed(1)} tok/s, decode ${run.out.timings.decode_tok_s.toFixed(1)} tok/s`);
    assert.deepEqual(run.info.threads, { count: threads, reason: `asked for (threads: ${threads})` });
    assert.equal(run.info.backend, 'cpu');
    assert.deepEqual(run.out.timings.prompt_ids, c.prompt_ids);
    assert.deepEqual(run.out.timings.completion_ids, c.greedy_ids_f32_activations, `${threads} threads`);
  }
  const want = Math.min(4, Math.ceil(r.cores / 2));
  assert.deepEqual(r.defaultThreads, { count: want, reason: `the default for ${r.cores} logical core(s)` });
  assert.match(r.refused.zero, /^invalid_request \[threads\]/);
  assert.match(r.refused.fraction, /^invalid_request \[threads\]/);
  assert.match(r.refused.many, /^invalid_request \[threads\]/);
  assert.match(r.refused.webgpu, /^invalid_request \[threads\]: threads is a CPU backend option/);
});

await context.close();

await h.check('isolated page whose threads\' worker the browser refuses: threads: 2 fails by name, the default falls back to one thread and says why (no hang: an error event or, where none comes, 5 s)', async () => {
  const { context, page } = await h.open('/noworker/tests/browser/app/index.html');
  try {
    await page.waitForSelector('body[data-ready]');
    const r = await page.evaluate(async (url) => {
      const refused = await tabllm.createEngine({ model: url, backend: 'cpu', threads: 2, context: 64, cache: false }).then(() => 'loaded', (e) => `${e.code} [${e.details?.field}]: ${e.message}`);
      const engine = await tabllm.createEngine({ model: url, context: 64, backend: 'cpu', cache: false });
      const out = await engine.completions.create({ prompt: 'The capital of France is', temperature: 0, max_tokens: 2 });
      await engine.unload();
      return { isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency, refused, threads: engine.info.threads, tokens: out.usage.completion_tokens };
    }, SMOL);
    assert.equal(r.isolated, true);
    assert.match(r.refused, /^invalid_request \[threads\]: threads: 2 could not start: cpu-threads worker 1 did not start/);
    // The default asks for threads only from 3 cores up (min(4, ⌈cores / 2⌉)):
    // below that it never meets the blocked worker.
    if (r.cores >= 3) {
      assert.equal(r.threads.count, 1);
      assert.match(r.threads.reason, /^threads could not start \(cpu-threads worker 1 did not start.*\): one thread$/);
    } else {
      assert.deepEqual(r.threads, { count: 1, reason: `the default for ${r.cores} logical core(s)` });
    }
    assert.equal(r.tokens, 2);
  } finally {
    await context.close();
  }
});

await h.check('page without COOP/COEP: not isolated; the pool refuses; threads: 2 is refused by name; the default runs on one thread', async () => {
  const k = await kernels('/plain');
  assert.equal(k.crossOriginIsolated, false);
  assert.match(k.refused ?? '', /not cross-origin isolated/);
  const { context, page } = await h.open('/plain/tests/browser/app/index.html');
  try {
    await page.waitForSelector('body[data-ready]');
    const r = await page.evaluate(async (url) => {
      const refused = await tabllm.createEngine({ model: url, backend: 'cpu', threads: 2 }).then(() => 'loaded', (e) => `${e.code} [${e.details?.field}]: ${e.message}`);
      const engine = await tabllm.createEngine({ model: url, context: 64, backend: 'cpu', cache: false });
      const out = await engine.completions.create({ prompt: 'The capital of France is', temperature: 0, max_tokens: 4 });
      await engine.unload();
      const one = await tabllm.createEngine({ model: url, context: 64, backend: 'cpu', threads: 1, cache: false });
      await one.unload();
      return { isolated: crossOriginIsolated, refused, threads: engine.info.threads, one: one.info.threads, tokens: out.usage.completion_tokens };
    }, SMOL);
    assert.equal(r.isolated, false);
    assert.match(r.refused, /^invalid_request \[threads\]: threads: 2 needs a cross-origin-isolated page/);
    assert.deepEqual(r.threads, { count: 1, reason: 'the page is not cross-origin isolated (COOP/COEP), so it has no shared memory: one thread' });
    assert.deepEqual(r.one, { count: 1, reason: 'asked for (threads: 1)' });
    assert.equal(r.tokens, 4);
  } finally {
    await context.close();
  }
});


if (result && args.bench) {
  const ts = args.threads.split(',').map(Number);
  console.log(`\nChromium ${h.browser.version()}, hardwareConcurrency ${result.hardwareConcurrency}, spin ${result.spin}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; µs per matmul, median (best) of ${rounds} batches of ~${batchMs} ms; speedup = 1-thread median / median`);
  console.log(['type', 'rows×cols×tokens', 'weights', ...ts.map((t) => `${t} thr µs`), ...ts.filter((t) => t > 1).map((t) => `×${t}`)].join('\t'));
  for (const c of result.cases) {
    const base = c.byThreads[ts[0]].medianUs;
    console.log([c.kind, `${c.rows}×${c.cols}×${c.tokens}`, `${(c.weightBytes / 1024).toFixed(0)} KiB`,
      ...ts.map((t) => `${c.byThreads[t].medianUs.toFixed(1)} (${c.byThreads[t].minUs.toFixed(1)})`),
      ...ts.filter((t) => t > 1).map((t) => (base / c.byThreads[t].medianUs).toFixed(2))].join('\t'));
  }
  console.log('barrier (empty job), µs: ' + result.barrier.map((b) => `${b.threads} thr: ${b.hotUs.toFixed(2)} back to back, ${b.coldUs.toFixed(1)} after a 5 ms pause`).join('; '));
}
await h.done();
