// The bench page (www/bench.html) in headless Chromium (SwiftShader WebGPU, so
// the f32 path and small figures): a shrunken "Run all" end to end and its
// JSON; "will it run" on both models by HTTP Range requests and from a local
// file, against sizes computed independently with Python's gguf package;
// "What can I run here?" against the native CLI's catalog rows
// (tabllm info, harness.cliBinary); the chart and the catalog table, saved as
// PNGs when SCREENSHOT_DIR is set; whether the page is cross-origin isolated,
// and the CPU threads controls that follow from it.
// Usage: node tests/browser/bench.mjs   (after scripts/build-web.sh and `npm ci` here)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { start, repo, cliBinary } from './harness.mjs';
import { createHandler } from '../../scripts/serve.mjs';

const MIB = 2 ** 20;
const CAP = 16 * MIB;
const CONTEXT = 4096;
// llama-bench's tests, shrunk for SwiftShader: two pp (a list) and one tg.
const PP = [16, 64];
const GEN = 8;
const MODELS = [
  { path: '/models/SmolLM2-135M-Instruct.Q4_1.gguf' },
  { path: '/models/gemma-3-270m-q4_k_m.gguf' },
];
// Tokens per prefill step (LoadOptions::default().max_batch in src/model/loader.rs):
// a sliding-window layer's cache is a ring of window + max_batch positions.
const MAX_BATCH = 512; // LoadOptions::default().max_batch (src/model/loader.rs MAX_BATCH)

/** Tensor bytes and attention shape straight from the file, by the gguf package. */
function ggufFacts(file) {
  const py = `
import gguf, json, sys
r = gguf.GGUFReader(sys.argv[1])
def get(k):
    f = r.fields.get(k)
    return None if f is None else f.contents()
arch = get('general.architecture')
heads = get(f'{arch}.attention.head_count')
print(json.dumps({
    'architecture': arch,
    'weight_bytes': sum(int(t.n_bytes) for t in r.tensors),
    'block_count': get(f'{arch}.block_count'),
    'head_count_kv': get(f'{arch}.attention.head_count_kv') or heads,
    'head_dim': get(f'{arch}.attention.key_length') or get(f'{arch}.embedding_length') // heads,
    'sliding_window': get(f'{arch}.attention.sliding_window'),
}))`;
  return JSON.parse(execFileSync('python3', ['-c', py, file], { encoding: 'utf8' }));
}

/** K and V of every layer: 2 × KV heads × head_dim × positions × bytes per element.
 * Gemma 3: layer l is global (the whole context) iff l % 6 == 5, else local
 * (min(context, window + max_batch) positions). */
function expectedKvBytes(f, context, elem) {
  let positions = 0;
  for (let l = 0; l < f.block_count; l++) {
    const local = f.architecture === 'gemma3' && f.sliding_window && l % 6 !== 5;
    positions += local ? Math.min(context, f.sliding_window + MAX_BATCH) : context;
  }
  return 2 * f.head_count_kv * f.head_dim * positions * elem;
}

/** The native CLI's catalog: every row (`info --json`), or one row sized for
 * the device the page reported (`device`, a DeviceBudget) at `context`. */
const TABLLM = cliBinary();
function cliCatalog(args) {
  return JSON.parse(execFileSync(TABLLM, ['info', ...args, '--json'], { encoding: 'utf8' }));
}
function cliRow(shape, mix, context, device, bandwidth) {
  const args = ['--shape', shape, '--type', mix, '--context', String(context), '--bandwidth-gbps', String(bandwidth)];
  if (device.kv_bytes_per_element === 2) args.push('--f16-kv');
  // The CLI takes one per-buffer limit: the smaller of the two is the one inspect applies.
  if (device.max_storage_buffer_binding_size !== null) args.push('--max-binding-size', String(Math.min(device.max_storage_buffer_binding_size, device.max_buffer_size)));
  if (device.memory_bytes !== null) args.push('--available-bytes', String(device.memory_bytes));
  return cliCatalog(args);
}

const close = (a, b, rel, what) => assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);
const positive = (v, what) => assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${what} is ${v}`);

for (const m of MODELS) {
  m.file = join(repo, m.path.slice(1));
  m.size = statSync(m.file).size;
  m.facts = ggufFacts(m.file);
}

const h = await start();
const { context, page } = await h.open('/www/bench.html');
await page.waitForSelector('body[data-state=ready]');
// Every request of the page and its workers, with its Range header.
const requests = [];
context.on('request', (r) => requests.push({ path: new URL(r.url()).pathname, range: r.headers().range ?? null }));
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: h.origin });

let run = null;
await h.check('Run all (autorun) ends with a JSON of every figure, positive and consistent', async () => {
  const t = Date.now();
  // The throughput figures checked here are the WebGPU path's (dispatches, host encode): ask for it.
  await page.goto(`${h.origin}/www/bench.html?autorun=1&backend=webgpu&pp=${PP.join(',')}&tg=${GEN}&max_bytes=${CAP}&runs=3&context=${CONTEXT}&inspect=${MODELS[0].path}`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state) && window.benchResult, null, { timeout: 240_000 });
  const state = await page.evaluate(() => [document.body.dataset.state, document.body.dataset.error]);
  assert.equal(state[0], 'done', `page error: ${state[1]}`);
  run = await page.evaluate(() => window.benchResult);
  console.log(`Run all took ${((Date.now() - t) / 1000).toFixed(0)} s; the JSON:\n${JSON.stringify(run)}`);

  // Device: adapter info and limits.
  const d = run.device;
  assert.ok(Object.values(d.adapter).some((v) => typeof v === 'string' && v.length > 0), `adapter ${JSON.stringify(d.adapter)}`);
  positive(d.limits.max_buffer_size, 'max_buffer_size');
  positive(d.limits.max_storage_buffer_binding_size, 'max_storage_buffer_binding_size');
  assert.ok([2, 4].includes(d.kv_bytes_per_element));

  // Bandwidth: 1 MiB doubling up to the cap, for each op, min <= median <= max.
  const bw = run.bandwidth;
  const sizes = [];
  for (let s = MIB; s <= CAP; s *= 2) sizes.push(s);
  for (const op of ['read', 'write', 'copy']) {
    const rs = bw.results.filter((r) => r.op === op);
    assert.deepEqual(rs.map((r) => r.size).sort((a, b) => a - b), sizes, `${op} sizes`);
    for (const r of rs) {
      positive(r.gbps.min, `${op} ${r.size} min`);
      assert.ok(r.gbps.min <= r.gbps.median && r.gbps.median <= r.gbps.max, `${op} ${r.size}: ${JSON.stringify(r.gbps)}`);
      assert.equal(r.bytes, op === 'copy' ? 2 * r.size : r.size);
    }
  }
  assert.equal(bw.results.length, 3 * sizes.length);
  assert.equal(bw.peak_gbps, Math.max(...bw.results.filter((r) => r.op === 'read').map((r) => r.gbps.median)));
  assert.equal(bw.max_bytes, CAP);
  assert.equal(bw.runs, 3);

  // Model throughput: a row per test asked for, in order, each tokens / seconds.
  const tp = run.throughput;
  assert.deepEqual(tp.tests.map((r) => [r.test, r.tokens, r.runs]), [...PP.map((n) => [`pp${n}`, n, 1]), [`tg${GEN}`, GEN, 1]]);
  for (const r of tp.tests) {
    positive(r.seconds, `${r.test} seconds`);
    positive(r.tok_s, `${r.test} tok/s`);
    close(r.tok_s, r.tokens / r.seconds, 1e-9, `${r.test}: tok/s = tokens / seconds`);
    assert.equal(r.tok_s_stddev, 0, 'one run');
  }
  positive(tp.max_batch, 'max_batch');
  // The first pp and the tg under the older names, against the bandwidth.
  assert.equal(tp.prompt_tokens, PP[0]);
  assert.equal(tp.prefill_tok_s, tp.tests[0].tok_s);
  assert.equal(tp.gen_tokens, GEN);
  assert.equal(tp.decode_tok_s, tp.tests.at(-1).tok_s);
  const table = await page.$$eval('#tp-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(table.map((r) => r.slice(0, 2)), tp.tests.map((r) => [r.test, String(r.tokens)]), 'the table shows every test');
  for (const k of ['prefill_tok_s', 'decode_tok_s', 'bytes_per_token', 'implied_gbps', 'peak_gbps', 'efficiency']) positive(tp[k], k);
  close(tp.implied_gbps, (tp.bytes_per_token * tp.decode_tok_s) / 1e9, 1e-6, 'implied = bytes/token × tok/s');
  assert.equal(tp.peak_gbps, bw.peak_gbps);
  close(tp.efficiency, tp.implied_gbps / tp.peak_gbps, 1e-9, 'efficiency = implied / peak');
  assert.equal(tp.model.weight_bytes, MODELS[0].facts.weight_bytes);
  // Decode reads every weight (the embedding matrix: one row) plus the KV cache.
  assert.ok(tp.bytes_per_token > 0.5 * tp.model.weight_bytes && tp.bytes_per_token < 1.1 * tp.model.weight_bytes, `bytes/token ${tp.bytes_per_token} against ${tp.model.weight_bytes} of weights`);
  // The fused op list (src/model/forward.rs): per llama layer attn_qkv,
  // attention, attn_output, ffn_gate_up, ffn_down; then the embedding, the
  // output head and the GPU argmax.
  assert.equal(tp.dispatches_per_token, 5 * MODELS[0].facts.block_count + 3, 'dispatches per decoded token');
  assert.ok(tp.host_encode_ms_per_token > 0 && tp.host_encode_ms_per_token < 1000 / tp.decode_tok_s, `host encode ${tp.host_encode_ms_per_token} ms within a token's ${1000 / tp.decode_tok_s} ms`);
  assert.match(await page.locator('#tp-info').innerText(), new RegExp(`${tp.dispatches_per_token} GPU dispatches`));
  assert.equal(tp.backend, 'webgpu');
  if (tp.weight_bytes_per_token !== undefined) close(tp.weight_bytes_per_token + tp.kv_bytes_per_token, tp.bytes_per_token, 1e-9, 'weights + KV per token');

  // Will it run (the inspect URL): sizes as in the file.
  const w = run.will_it_run;
  assert.ok(w.source.url.endsWith(MODELS[0].path));
  assert.equal(w.context, CONTEXT);
  assert.equal(w.weight_bytes, MODELS[0].facts.weight_bytes);
  // Will it run sizes for the backend auto picks (the CPU, f16 KV, on a software adapter), as the catalog does.
  assert.equal(w.device.backend, d.software_adapter ? 'cpu' : 'webgpu');
  assert.equal(w.kv_bytes_per_element, d.software_adapter ? 2 : d.kv_bytes_per_element);
  assert.equal(w.kv_bytes, expectedKvBytes(MODELS[0].facts, CONTEXT, w.kv_bytes_per_element));
  assert.equal(w.total_bytes, w.weight_bytes + w.kv_bytes);
  assert.equal(w.fits, 'fits');
  assert.equal(w.supported, true);
  positive(w.parameters, 'parameters');
  positive(w.largest_tensor_bytes, 'largest_tensor_bytes');
  positive(w.predicted_decode_tok_s, 'predicted_decode_tok_s');
  close(w.predicted_decode_tok_s, (bw.peak_gbps * 1e9) / w.decode_bytes_per_token, 1e-9, 'predicted = bandwidth / bytes per token');
  assert.ok(w.bytes_fetched < 0.05 * MODELS[0].size, `fetched ${w.bytes_fetched} of ${MODELS[0].size}`);

  // The JSON box, its download and its copy hold the same.
  const shown = JSON.parse(await page.textContent('#json'));
  assert.deepEqual(shown, run);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.match(download.suggestedFilename(), /^tabllm-bench-.*\.json$/);
  assert.deepEqual(JSON.parse(readFileSync(await download.path(), 'utf8')), run);
  await page.click('#copy');
  await page.waitForSelector('#copy-status:not(:empty)');
  const copied = await page.evaluate(() => navigator.clipboard.readText().catch((e) => `clipboard: ${e.message}`));
  assert.deepEqual(JSON.parse(copied), run);

  // The page answers in words.
  assert.match(await page.textContent('#in-verdict'), /^Yes, it fits/);
  assert.match(await page.textContent('#tp-summary'), /decode reaches .*% of the measured bandwidth/);
});

await h.check('What can I run here?: every catalog shape, sized for this device as the native CLI sizes it, speeds from the measured bandwidth', async () => {
  assert.ok(run, 'needs the Run all check');
  const c = run.catalog;
  const shapes = cliCatalog([]).map((r) => r.shape);
  assert.ok(shapes.length >= 20 && shapes.includes('llama-3.1-8b'), `the CLI's catalog: ${shapes}`);
  assert.equal(c.context, 4096);
  assert.deepEqual(c.mixes, ['q4_k_m']);
  assert.deepEqual(c.rows.map((r) => r.shape), shapes, 'one row per catalog shape, in catalog order');
  assert.equal(c.bandwidth_gbps, run.bandwidth.peak_gbps, 'speeds use the bandwidth measured by Run all');
  // The device: the backend createEngine's auto picks (the CPU on a software adapter), its KV element and memory.
  const d = c.device;
  const sw = run.device.software_adapter;
  assert.equal(d.backend, sw ? 'cpu' : 'webgpu');
  assert.equal(d.kv_bytes_per_element, sw ? 2 : run.device.kv_bytes_per_element, 'the CPU backend keeps its KV cache in f16');
  if (d.backend === 'cpu') {
    const ram = await page.evaluate(() => navigator.deviceMemory ?? null);
    const WASM32 = 4 * 2 ** 30 - 384 * 2 ** 20; // CPU_WASM32_MAX_BYTES in src/model/loader.rs
    assert.equal(d.memory_bytes, ram && ram * 2 ** 30 < WASM32 ? ram * 2 ** 30 : WASM32, `memory for deviceMemory ${ram}`);
    assert.equal(d.max_storage_buffer_binding_size, null);
  } else {
    assert.equal(d.memory_bytes, null);
    assert.equal(d.max_storage_buffer_binding_size, run.device.limits.max_storage_buffer_binding_size);
  }
  // One row against the native CLI given the same limits.
  const want = cliRow('llama-3.1-8b', 'q4_k_m', 4096, d, c.bandwidth_gbps);
  const got = c.rows.find((r) => r.shape === 'llama-3.1-8b' && r.mix === 'q4_k_m');
  for (const k of ['weight_bytes', 'kv_bytes', 'kv_bytes_per_token', 'total_bytes', 'fits', 'reason', 'max_context_that_fits', 'decode_bytes_per_token', 'largest_tensor']) {
    assert.deepEqual(got[k], want[k], `llama-3.1-8b q4_k_m ${k}`);
  }
  // Bandwidth ÷ bytes per token, computed by the page (JS) and by the CLI
  // (Rust) in another order of operations: equal to the last bits or two
  // (one CI run differed in the 17th digit).
  const rel = Math.abs(got.predicted_decode_tok_s - want.predicted_decode_tok_s) / want.predicted_decode_tok_s;
  assert.ok(rel < 1e-12, `llama-3.1-8b q4_k_m predicted_decode_tok_s: ${got.predicted_decode_tok_s} vs the CLI's ${want.predicted_decode_tok_s}`);
  assert.equal(want.kv_bytes, 32 * 2 * 8 * 128 * 4096 * d.kv_bytes_per_element, 'KV: layers × K,V × kv heads × head_dim × context × element');
  // The table shows the same numbers.
  const cells = await page.$$eval('#cat-table tbody tr', (trs) => trs.map((tr) => ({ shape: tr.dataset.shape, mix: tr.dataset.mix, cells: [...tr.cells].map((x) => x.textContent), cls: tr.querySelector('.verdict-cell span').className })));
  assert.deepEqual(cells.map((r) => r.shape), shapes, 'a table row per shape');
  const row = cells.find((r) => r.shape === 'llama-3.1-8b');
  assert.deepEqual(row.cells.slice(0, 5), ['llama-3.1-8b', 'q4_k_m', ...[want.weight_bytes, want.kv_bytes, want.total_bytes].map((b) => (b / 1e9).toFixed(2))]);
  assert.equal(row.cls, `v-${want.fits}`);
  close(Number(row.cells[6].replace(/,/g, '')), want.predicted_decode_tok_s, 0.01, 'the speed shown');
  console.log(`catalog on ${d.backend} (${d.memory_source}): llama-3.1-8b q4_k_m ${want.fits}: "${row.cells[5]}"; ${row.cells[6]} tok/s at ${c.bandwidth_gbps.toFixed(2)} GB/s`);
  if (process.env.SCREENSHOT_DIR) {
    mkdirSync(process.env.SCREENSHOT_DIR, { recursive: true });
    const shot = join(process.env.SCREENSHOT_DIR, 'catalog-table.png');
    await page.locator('#catalog').screenshot({ path: shot });
    console.log(`screenshot: ${shot}`);
  }
});

for (const m of MODELS) {
  await h.check(`will it run, ${m.path.split('/').pop()} by HTTP Range requests: far less than the file read; weight and KV bytes as the header says`, async () => {
    const before = requests.length;
    await page.fill('#in-url', m.path);
    await page.fill('#in-context', String(CONTEXT));
    await page.click('#in-run');
    await page.waitForFunction((p) => document.body.dataset.state !== 'running' && window.benchResult?.will_it_run?.source?.url?.endsWith(p), m.path, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', await page.evaluate(() => document.body.dataset.error));
    const w = await page.evaluate(() => window.benchResult.will_it_run);
    const mine = requests.slice(before).filter((r) => r.path === m.path);
    assert.ok(mine.length > 0, 'the header was fetched');
    assert.ok(mine.every((r) => /^bytes=\d+-\d+$/.test(r.range ?? '')), `every request has a Range header: ${JSON.stringify(mine)}`);
    const asked = mine.reduce((s, r) => {
      const [a, b] = r.range.slice(6).split('-').map(Number);
      return s + Math.min(b, m.size - 1) - a + 1;
    }, 0);
    console.log(`${m.path}: ${mine.length} Range requests for ${asked} bytes, ${w.bytes_fetched} read, of ${m.size} (header and tensor table: ${JSON.stringify(m.facts)})`);
    assert.ok(asked < 0.05 * m.size, `asked for ${asked} bytes of ${m.size}`);
    assert.ok(w.bytes_fetched <= asked && w.bytes_fetched < 0.05 * m.size, `read ${w.bytes_fetched} bytes of ${m.size}`);
    assert.equal(w.architecture, m.facts.architecture);
    assert.equal(w.weight_bytes, m.facts.weight_bytes);
    assert.equal(w.kv_bytes, expectedKvBytes(m.facts, CONTEXT, w.kv_bytes_per_element));
    assert.equal(w.kv_bytes_per_element, run.catalog.device.kv_bytes_per_element, 'sized for the backend auto picks, as the catalog');
    assert.equal(w.context, CONTEXT);
    assert.equal(w.supported, true);
    assert.equal(w.fits, 'fits');
    // The decode ceiling needs the bandwidth measured by Run all.
    if (run) positive(w.predicted_decode_tok_s, 'predicted_decode_tok_s');
    assert.match(await page.textContent('#in-verdict'), /^Yes, it fits/);
  });
}

await h.check('will it run, a local file picked in <input type=file>: only its first bytes are read, nothing fetched', async () => {
  const m = MODELS[1];
  const before = requests.length;
  await page.setInputFiles('#in-file', m.file);
  await page.fill('#in-context', '1024');
  await page.click('#in-run');
  await page.waitForFunction(() => document.body.dataset.state !== 'running' && window.benchResult?.will_it_run?.source?.file, null, { timeout: 60_000 });
  const w = await page.evaluate(() => window.benchResult.will_it_run);
  assert.deepEqual(requests.slice(before).filter((r) => r.path.endsWith('.gguf')), [], 'a local file is never fetched');
  assert.equal(w.source.file, m.path.split('/').pop());
  assert.equal(w.source.bytes, m.size);
  assert.ok(w.bytes_fetched < 0.05 * m.size, `read ${w.bytes_fetched} bytes of ${m.size}`);
  close(w.fetched_fraction, w.bytes_fetched / m.size, 1e-12, 'fetched fraction');
  assert.equal(w.weight_bytes, m.facts.weight_bytes);
  assert.equal(w.kv_bytes, expectedKvBytes(m.facts, 1024, w.kv_bytes_per_element));
});

await h.check('the chart is drawn: an accessible SVG with one line per op, visible on screen', async () => {
  const svg = page.locator('#bw-chart svg');
  await svg.scrollIntoViewIfNeeded();
  assert.ok(await svg.isVisible());
  const c = await page.evaluate(() => {
    const s = document.querySelector('#bw-chart svg');
    return {
      role: s.getAttribute('role'),
      title: s.querySelector('title')?.textContent,
      lines: [...s.querySelectorAll('.series polyline')].map((p) => p.parentElement.getAttribute('class')),
      points: s.querySelectorAll(':scope > g.series .marker').length,
      box: s.getBoundingClientRect().toJSON(),
    };
  });
  assert.equal(c.role, 'img');
  assert.match(c.title, /bandwidth/i);
  assert.deepEqual(c.lines, ['series op-read', 'series op-write', 'series op-copy']);
  assert.equal(c.points, await page.evaluate(() => window.benchResult.bandwidth.results.length), 'one marker per measurement');
  assert.ok(c.box.width > 300 && c.box.height > 150, JSON.stringify(c.box));
  if (process.env.SCREENSHOT_DIR) {
    mkdirSync(process.env.SCREENSHOT_DIR, { recursive: true });
    const full = join(process.env.SCREENSHOT_DIR, 'bench-page.png');
    const chart = join(process.env.SCREENSHOT_DIR, 'bench-chart.png');
    await page.screenshot({ path: full, fullPage: true });
    await page.locator('#bandwidth').screenshot({ path: chart });
    console.log(`screenshots: ${full}, ${chart}`);
  }
});

await h.check('What can I run here? before any measurement: speeds "—"; the context and mixes follow the controls', async () => {
  await page.goto(`${h.origin}/www/bench.html`);
  await page.waitForSelector('body[data-state=ready]');
  assert.equal(await page.getAttribute('#catalog', 'data-state'), 'done');
  const speeds = await page.$$eval('#cat-table tbody tr', (trs) => trs.map((tr) => tr.cells[6].textContent));
  assert.ok(speeds.length >= 20 && speeds.every((t) => t === '—'), `speeds ${speeds}`);
  await page.selectOption('#cat-context', '8192');
  await page.check('#cat-mix-q8_0');
  await page.waitForFunction(() => window.benchResult?.catalog?.mixes?.length === 2 && document.querySelector('#catalog').dataset.state === 'done');
  const c = await page.evaluate(() => window.benchResult.catalog);
  assert.equal(c.context, 8192);
  assert.deepEqual(c.mixes, ['q4_k_m', 'q8_0']);
  assert.equal(await page.locator('#cat-table tbody tr').count(), c.rows.length);
  const want = cliRow('qwen2.5-0.5b', 'q8_0', 8192, c.device, 1);
  const got = c.rows.find((r) => r.shape === 'qwen2.5-0.5b' && r.mix === 'q8_0');
  assert.deepEqual([got.weight_bytes, got.kv_bytes, got.fits, got.reason], [want.weight_bytes, want.kv_bytes, want.fits, want.reason]);
  assert.equal(got.predicted_decode_tok_s, null);
  assert.match(await page.textContent('#cat-table caption'), /KV cache for a context of 8,192 tokens/);
});

await h.check('the tests to run follow the controls: pp512 and tg128 by default, pp2048 on request, a bad pp list refused in words', async () => {
  const tests = () => page.textContent('#tp-tests');
  await page.goto(`${h.origin}/www/bench.html`);
  await page.waitForSelector('body[data-state=ready]');
  assert.equal(await tests(), 'Tests: pp512, tg128.');
  await page.goto(`${h.origin}/www/bench.html?pp2048=1&tg=64`);
  await page.waitForSelector('body[data-state=ready]');
  assert.equal(await page.isChecked('#tp-pp2048'), true);
  assert.equal(await tests(), 'Tests: pp512, pp2048, tg64.');
  await page.uncheck('#tp-pp2048');
  assert.equal(await tests(), 'Tests: pp512, tg64.');
  await page.fill('#tp-pp', '128, 256');
  assert.equal(await tests(), 'Tests: pp128, pp256, tg64.');
  await page.fill('#tp-pp', '12x');
  assert.match(await tests(), /^prompt tokens \(pp\) must be whole numbers above 0/);
});

await h.check('on the CPU backend the throughput tests say so, with the weights streamed per second and the ops per token', async () => {
  await page.goto(`${h.origin}/www/bench.html?autorun=1&backend=cpu&pp=16&tg=${GEN}&max_bytes=${MIB}&runs=1&context=256&inspect=${MODELS[0].path}`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state) && window.benchResult, null, { timeout: 240_000 });
  const state = await page.evaluate(() => [document.body.dataset.state, document.body.dataset.error]);
  assert.equal(state[0], 'done', `page error: ${state[1]}`);
  const tp = (await page.evaluate(() => window.benchResult)).throughput;
  console.log(`bench page, CPU backend: ${tp.tests.map((r) => `${r.test} ${r.tok_s.toFixed(2)} tok/s`).join(', ')}; ${(tp.implied_gbps).toFixed(3)} GB/s of weights + KV while decoding`);
  assert.equal(tp.backend, 'cpu');
  assert.match(tp.backend_reason, /asked for/);
  assert.deepEqual(tp.tests.map((r) => r.test), ['pp16', `tg${GEN}`]);
  for (const r of tp.tests) positive(r.tok_s, `${r.test} tok/s`);
  close(tp.implied_gbps, (tp.bytes_per_token * tp.decode_tok_s) / 1e9, 1e-6, 'implied = bytes/token × tok/s');
  const text = await page.locator('#tp-info').innerText();
  assert.match(text, /CPU \(asked for/);
  assert.match(text, new RegExp(`${tp.dispatches_per_token} CPU ops`));
});

await h.check('autorun with a missing model ends in state error, with the reason, and keeps what did run', async () => {
  await page.goto(`${h.origin}/www/bench.html?autorun=1&max_bytes=${MIB}&runs=1&model=/models/no-such-model.gguf&inspect=/models/no-such-model.gguf`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state) && window.benchResult, null, { timeout: 60_000 });
  const r = await page.evaluate(() => ({ state: document.body.dataset.state, error: document.body.dataset.error, result: window.benchResult }));
  assert.equal(r.state, 'error');
  assert.match(r.error, /^throughput: .*\(download_failed\); inspect: .*\(download_failed\)$/);
  assert.deepEqual(r.result.errors, r.error.split('; '));
  assert.equal(r.result.bandwidth.results.length, 3);
  assert.equal(r.result.throughput, null);
  assert.equal(r.result.will_it_run, null);
  assert.equal(await page.getAttribute('#throughput', 'data-state'), 'error');
  assert.match(await page.textContent('#throughput .error'), /^Failed: /);
});

await h.check('the Device section says whether the page is cross-origin isolated and how many logical processors; the CPU threads list and per-thread scaling follow it', async () => {
  // Isolated (scripts/serve.mjs): counts 1 … hardwareConcurrency, scaling offered.
  await page.goto(`${h.origin}/www/bench.html`);
  await page.waitForSelector('body[data-state=ready]');
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const look = (p) => p.evaluate(() => ({
    cpu: window.benchResult.cpu,
    facts: document.getElementById('cpu-info').innerText,
    options: [...document.querySelectorAll('#tp-threads option')].map((o) => [o.value, o.disabled]),
    scale: document.getElementById('tp-scale').disabled,
    note: document.getElementById('tp-threads-note').textContent,
  }));
  const counts = Array.from({ length: cores }, (_, i) => String(i + 1));
  const on = await look(page);
  assert.deepEqual(on.cpu, { cross_origin_isolated: true, hardware_concurrency: cores });
  assert.match(on.facts, /Cross-origin isolated\s+yes: the CPU backend may run on several threads/);
  assert.match(on.facts, new RegExp(`Logical processors\\s+${cores} \\(navigator.hardwareConcurrency\\)`));
  assert.deepEqual(on.options, [['', false], ...counts.map((n) => [n, false])]);
  assert.equal(on.scale, false);
  assert.match(on.note, new RegExp(`Per-thread scaling runs it at 1 to ${Math.min(cores, 4)} threads`));
  // Unisolated (createHandler({ isolated: false })): one thread only, scaling refused in words.
  const server = createServer(createHandler({ isolated: false }));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const plain = await context.newPage();
  try {
    await plain.goto(`http://127.0.0.1:${server.address().port}/www/bench.html`);
    await plain.waitForSelector('body[data-state=ready]');
    const off = await look(plain);
    assert.deepEqual(off.cpu, { cross_origin_isolated: false, hardware_concurrency: cores });
    assert.match(off.facts, /Cross-origin isolated\s+no: the page was served without COOP\/COEP headers, so the CPU backend runs on one thread/);
    assert.deepEqual(off.options, [['', false], ...counts.map((n) => [n, n !== '1'])]);
    assert.equal(off.scale, true);
    assert.match(off.note, /^More than one CPU thread needs a cross-origin isolated page/);
  } finally {
    await plain.close();
    server.closeAllConnections();
    server.close();
  }
});

await h.check('CPU threads: the control runs the benchmark with createEngine({ backend: \'cpu\', threads }); per-thread scaling reports 1 … min(cores, 4) threads with the speedup over one', async () => {
  await page.goto(`${h.origin}/www/bench.html?pp=16&tg=${GEN}&max_bytes=${MIB}&runs=1`);
  await page.waitForSelector('body[data-state=ready]');
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const finished = async () => {
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 240_000 });
    const [state, error] = await page.evaluate(() => [document.body.dataset.state, document.body.dataset.error]);
    assert.equal(state, 'done', `page error: ${error}`);
  };
  const n = Math.min(cores, 4);
  await page.selectOption('#tp-threads', String(n));
  await page.click('#tp-run');
  await finished();
  const tp = (await page.evaluate(() => window.benchResult)).throughput;
  assert.equal(tp.backend, 'cpu');
  assert.deepEqual(tp.threads, { count: n, reason: `asked for (threads: ${n})` });
  assert.match(await page.locator('#tp-info').innerText(), new RegExp(`Threads\\s+${n} \\(asked for`));

  await page.click('#tp-scale');
  await finished();
  const s = (await page.evaluate(() => window.benchResult)).scaling;
  console.log(`per-thread scaling: ${s.rows.map((r) => `${r.threads} thr ${r.tests.map((t) => `${t.test} ${t.tok_s.toFixed(1)} (×${t.speedup.toFixed(2)})`).join(' ')}`).join('; ')}`);
  const counts = Array.from({ length: n }, (_, i) => i + 1);
  assert.deepEqual(s.rows.map((r) => r.threads), counts);
  assert.deepEqual(s.rows.map((r) => r.engine_threads.count), counts);
  assert.deepEqual(s.tests, ['pp16', `tg${GEN}`]);
  for (const r of s.rows) {
    assert.deepEqual(r.tests.map((t) => t.test), s.tests);
    for (const t of r.tests) {
      positive(t.tok_s, `${r.threads} threads ${t.test}`);
      close(t.speedup, t.tok_s / s.rows[0].tests.find((o) => o.test === t.test).tok_s, 1e-12, `${r.threads} threads ${t.test} speedup`);
    }
  }
  const table = await page.$$eval('#tp-scale-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(table.map((row) => row[0]), counts.map(String));
  assert.match(table[0][1], /\(×1\)$/);
  assert.match(await page.textContent('#tp-scale-summary'), new RegExp(`^CPU backend at ${n} threads against 1: pp16 ×[\\d.]+, tg${GEN} ×[\\d.]+\\.$`));
});

await context.close();
await h.done();
