// Opt-in (not in scripts/test.sh: it writes ~10 GB and runs for many minutes
// on a 2-core machine): an 8B-shaped model in headless Chromium through the
// package. `tabllm synth` writes a Llama-3.1-8B-shaped Q4_K_M (4,915,498,144
// bytes, random but valid blocks) into target/big/; the page loads it from
// the local server over WebGPU (SwiftShader here), with the wasm memory
// sampled at every progress event and held under a bound, and generates
// tokens. The first download's connection drops past 3 GB (past 2^31 and
// 2^32 offsets too: the file is 4.9 GB): the load resumes with a Range
// request from there, and the server's log shows no byte sent twice. A
// second load comes from browser storage after one HEAD to validate it.
//
// Usage: node tests/browser/big-model.mjs   (after scripts/build-web.sh and
// `cargo build --release --locked`; figures also go to target/big/browser-8b.json)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { createHandler } from '../../scripts/serve.mjs';
import { start, repo, CHROMIUM_ARGS, installPackage } from './harness.mjs';

const SHAPE = process.env.SHAPE ?? 'llama-3.1-8b';
const MIX = process.env.MIX ?? 'q4_k_m';
const FILE = `target/big/${SHAPE}-${MIX}.gguf`;
// The wasm heap during the whole load: the engine's state (tokenizer tables
// for a 128k vocabulary, op lists) plus a few chunks in flight. Issue 14
// asks for at most 64 MiB; the model's weights never pass through it whole.
const WASM_MEMORY_BOUND = 64 * 2 ** 20;
const GEN_TOKENS = Number(process.env.GEN_TOKENS ?? 2);
// MAX_BINDING=134217728 pretends the device binds at most 128 MiB per buffer
// (SwiftShader allows 1 GiB), so the 411 MiB output.weight and 282 MiB
// token_embd are split across bindings as on many real GPUs.
const MAX_BINDING = process.env.MAX_BINDING ? Number(process.env.MAX_BINDING) : undefined;
// Where the first download's connection is dropped: the body bytes sent.
const DROP_AT = 3 * 10 ** 9;

const path = join(repo, FILE);
if (!existsSync(path)) {
  mkdirSync(join(repo, 'target/big'), { recursive: true });
  const tabllm = join(repo, 'target/release/tabllm');
  if (!existsSync(tabllm)) throw new Error(`${tabllm} is missing: run \`cargo build --release --locked\` first`);
  execFileSync(tabllm, ['synth', '--shape', SHAPE, '--type', MIX, '--out', path], { stdio: 'inherit' });
}
const fileBytes = statSync(path).size;
console.log(`${FILE}: ${fileBytes} bytes`);

// The repo's server, logging every request of the model, with the first
// GET's connection closed after DROP_AT body bytes (once they left: a browser
// may discard body bytes it holds unread when the connection fails).
const serve = createHandler();
const log = [];
let dropped = false;
function handler(req, res) {
  if (new URL(req.url, 'http://localhost').pathname !== '/' + FILE) return serve(req, res);
  const rec = { method: req.method, range: req.headers.range ?? null, ifRange: req.headers['if-range'] ?? null, status: null, sent: 0, cut: false };
  log.push(rec);
  const drop = req.method === 'GET' && !dropped;
  dropped ||= drop;
  const writeHead = res.writeHead.bind(res);
  res.writeHead = (status, ...rest) => {
    rec.status = status;
    return writeHead(status, ...rest);
  };
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  res.write = (chunk, ...rest) => {
    if (rec.cut) return true;
    if (!drop || rec.sent + chunk.length <= DROP_AT) {
      rec.sent += chunk.length;
      return write(chunk, ...rest);
    }
    const n = DROP_AT - rec.sent;
    rec.sent += n;
    rec.cut = true;
    write(chunk.subarray(0, n), () => setTimeout(() => res.socket.destroy(), 500));
    return true;
  };
  res.end = (...args) => (rec.cut ? res : end(...args));
  serve(req, res);
}

installPackage();
const h = await start({ handler });
// Browser storage on disk (a persistent profile): an incognito context keeps
// OPFS in memory, and this file is 4.9 GB.
const profile = mkdtempSync(join(tmpdir(), 'tabllm-big-'));
const context = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
const results = { file: FILE, file_bytes: fileBytes, wasm_memory_bound: WASM_MEMORY_BOUND, max_binding_size: MAX_BINDING ?? null };
try {
  const page = await context.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(h.origin + '/tests/browser/app/index.html');
  await page.waitForSelector('body[data-ready]');

  const loadAndGenerate = (label) => page.evaluate(async ({ url, n, label, maxBindingSize }) => {
    let maxWasm = 0;
    let samples = 0;
    let lastLog = 0;
    const t0 = performance.now();
    const engine = await window.createEngine({
      model: url, backend: 'webgpu', context: 256, maxBindingSize,
      onProgress: (p) => {
        samples++;
        maxWasm = Math.max(maxWasm, p.wasm_memory_bytes ?? 0);
        if (performance.now() - lastLog > 15000) {
          lastLog = performance.now();
          console.log(`${label}: ${p.phase} ${(p.bytes_loaded / 2 ** 30).toFixed(2)} GiB, wasm ${((p.wasm_memory_bytes ?? 0) / 2 ** 20).toFixed(1)} MiB`);
        }
      },
    });
    const loadSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    let firstTokenSeconds = null;
    let text = '';
    // Two prompt ids: the synthetic vocabulary's text means nothing, and each
    // token reads all 4.9 GB (a minute on SwiftShader).
    const stream = await engine.completions.create({ prompt: [1, 2], temperature: 0, max_tokens: n, stream: true, stream_options: { include_usage: true } });
    let last = null;
    for await (const chunk of stream) {
      if (firstTokenSeconds === null && chunk.choices?.[0]?.text) firstTokenSeconds = (performance.now() - t1) / 1000;
      text += chunk.choices?.[0]?.text ?? '';
      last = chunk;
    }
    const info = engine.info;
    await engine.unload();
    return { loadSeconds, firstTokenSeconds, text, maxWasm, samples, info, usage: last?.usage ?? null, timings: last?.timings ?? null };
  }, { url: '/' + FILE, n: GEN_TOKENS, label, maxBindingSize: MAX_BINDING });

  await h.check(`an ${SHAPE} ${MIX} (${(fileBytes / 1e9).toFixed(2)} GB) downloads into WebGPU with the wasm memory under ${WASM_MEMORY_BOUND / 2 ** 20} MiB and generates ${GEN_TOKENS} tokens`, async () => {
    const r = await loadAndGenerate('download');
    results.download = r;
    console.log(`download load ${r.loadSeconds.toFixed(1)} s, first token ${r.firstTokenSeconds?.toFixed(1)} s, peak wasm ${(Math.max(r.maxWasm, r.info.wasm_memory_bytes) / 2 ** 20).toFixed(1)} MiB over ${r.samples} progress samples, text ${JSON.stringify(r.text)}`);
    assert.equal(r.info.from_cache, false);
    const gets = log.filter((x) => x.method === 'GET');
    results.download_requests = [...log];
    console.log(`requests: ${JSON.stringify(log)}`);
    // One GET cut at DROP_AT, then one Range request from exactly there: every byte sent once.
    assert.equal(gets.length, 2, JSON.stringify(log));
    assert.deepEqual([gets[0].status, gets[0].sent, gets[0].cut], [200, DROP_AT, true]);
    assert.deepEqual([gets[1].status, gets[1].range, gets[1].sent], [206, `bytes=${DROP_AT}-`, fileBytes - DROP_AT]);
    assert.ok(gets[1].ifRange, 'the resume names the validator it expects (If-Range)');
    assert.equal(r.info.download_retries, 1);
    if (MAX_BINDING) assert.equal(r.info.limits.max_storage_buffer_binding_size, MAX_BINDING, 'the pretended binding limit is the one the engine used');
    assert.ok(r.samples > 10, `only ${r.samples} progress events`);
    assert.ok(r.maxWasm <= WASM_MEMORY_BOUND && r.info.wasm_memory_bytes <= WASM_MEMORY_BOUND, `wasm memory ${r.maxWasm} / ${r.info.wasm_memory_bytes} over ${WASM_MEMORY_BOUND}`);
    assert.equal(r.info.cache_error, null);
  });

  await h.check('the second load comes from browser storage and generates the same text', async () => {
    const before = log.length;
    const r = await loadAndGenerate('cache');
    results.cache = r;
    const requests = log.slice(before);
    results.cache_requests = requests;
    console.log(`requests: ${JSON.stringify(requests)}`);
    assert.deepEqual(requests.map((x) => x.method), ['HEAD'], 'one HEAD validates the stored copy; no byte downloaded');
    assert.equal(r.info.cache_validated, true);
    console.log(`cache load ${r.loadSeconds.toFixed(1)} s, first token ${r.firstTokenSeconds?.toFixed(1)} s, peak wasm ${(r.info.wasm_memory_bytes / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(r.info.from_cache, true);
    assert.ok(r.info.wasm_memory_bytes <= WASM_MEMORY_BOUND);
    assert.equal(r.text, results.download.text);
  });
} finally {
  writeFileSync(join(repo, `target/big/browser-8b${MAX_BINDING ? `-binding-${MAX_BINDING}` : ''}.json`), JSON.stringify(results, null, 2));
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await h.done();
}
