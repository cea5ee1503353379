// Hugging Face models by name and downloads across a CDN (pkg/hub.js,
// http.js, sources.js, the worker's load loop, the page's URL box and cache
// list), in headless Chromium against a local imitation of the Hub
// (tests/browser/hub-imitation.mjs): an API + `resolve` origin that answers
// 302, a CDN origin that serves Range with CORS, answers OPTIONS with 405 and
// drops connections on request. The page is on a third origin. Each check
// asserts from the imitation's request log.
// Usage: node tests/browser/hub.mjs   (after scripts/build-web.sh; TABLLM_SCREENSHOTS=DIR
// also saves the model menu at 1,280 and 390 pixels wide there)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHandler } from '../../scripts/serve.mjs';
import { start, repo, shared, readJson, storedModel } from './harness.mjs';
import { describe, startHub } from './hub-imitation.mjs';
import { parseHubName, pickModel } from '../../pkg/hub.js';

const only = process.env.ONLY ? new RegExp(process.env.ONLY, 'i') : null; // run only the checks whose name matches
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const tinyFile = (q) => readFileSync(join(shared, `tiny/tiny-llama-${q}.gguf`));
/** Greedy ids of the first 4 tokens of tiny's first case, on the f32 path (SwiftShader / CPU here). */
const greedy = (q) => readJson(join(shared, `tiny/tiny-llama-${q}.json`)).cases[0].greedy_ids_f32_activations.slice(0, 4);
const PROMPT = readJson(join(shared, 'tiny/tiny-llama-q4_0.json')).cases[0].prompt_ids;
const Q4_0 = tinyFile('q4_0');
const Q4_K_M = tinyFile('q4_k_m');
const Q2_K = tinyFile('q2_k');
// The same model under another general.name ("tiny-LLAMA"): the same size, other bytes.
const RENAMED = Buffer.from(Q4_0);
RENAMED.write('tiny-LLAMA', RENAMED.indexOf('tiny-llama'));
const DROP = 700_000;

const hub = await startHub();
const T = 'tabllm-test/tiny-GGUF';
hub.setFile(T, 'README.md', Buffer.from('# tiny\n'));
hub.setFile(T, 'tiny-llama-Q4_0.gguf', Q4_0);
hub.setFile(T, 'tiny-llama-Q4_K_M.gguf', Q4_K_M);
hub.setFile(T, 'mmproj-tiny-llama-Q4_K_M.gguf', Buffer.from('not a model: never picked'));
hub.setFile(T, 'tiny-llama-Q2_K.gguf', Q2_K, { revision: 'v1' });
hub.setFile('tabllm-test/twins-GGUF', 'a-Q4_0.gguf', Q4_0);
hub.setFile('tabllm-test/twins-GGUF', 'b/b-Q4_0.gguf', Q4_0);
hub.setFile('tabllm-test/twins-GGUF', 'c-Q2_K.gguf', Q2_K);
// A split model (../shared/cases/field3/split: tiny llama in 3 parts), in a folder, listed out of order.
const SPLIT = 'tabllm-test/split-GGUF';
const splitCases = join(shared, '..', 'cases', 'field3', 'split');
for (const k of [3, 1, 2]) hub.setFile(SPLIT, `Q4_0/tiny-Q4_0-0000${k}-of-00003.gguf`, readFileSync(join(splitCases, `t-0000${k}-of-00003.gguf`)));
// The menu's Qwen3.5 0.8B entry, as the Hub would list it: here the tiny llama.cpp-made qwen35.
const QWEN35 = readFileSync(join(repo, 'tests/reference/tiny/tiny-qwen35-q4_k_m.gguf'));
hub.setFile('unsloth/Qwen3.5-0.8B-GGUF', 'Qwen3.5-0.8B-Q4_K_M.gguf', QWEN35);
hub.setFile('unsloth/Qwen3.5-0.8B-GGUF', 'Qwen3.5-0.8B-Q8_0.gguf', Buffer.from('not loaded: the menu asks for Q4_K_M'));
hub.setFile('unsloth/Qwen3.5-0.8B-GGUF', 'mmproj-F16.gguf', Buffer.from('never picked'));
// The tiny file again, as the 4B: the menu's "shorter context" row loads it.
hub.setFile('unsloth/Qwen3.5-4B-GGUF', 'Qwen3.5-4B-Q4_K_M.gguf', QWEN35);
hub.setFile('tabllm-test/broken-split-GGUF', 'tiny-Q4_0-00001-of-00002.gguf', readFileSync(join(splitCases, 't-00001-of-00003.gguf')));

// The test page: the package straight from pkg/. The package's CSP (scripts/serve.mjs)
// lets the worker connect to its own origin and https: only; here it may reach the Hub's two origins too.
const PAGE = `<!doctype html><meta charset="utf-8"><body><script type="module">
import * as tabllm from '/pkg/tabllm.js';
window.tabllm = tabllm;
document.body.dataset.ready = '1';
</script>`;
const allow = (csp) => csp.replace("connect-src 'self'", `connect-src 'self' ${hub.api} ${hub.cdn}`);
const serve = createHandler();
function handler(req, res) {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (path === '/hub-test.html') return res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
  if (path === '/www/index.html') {
    // The page's own CSP is a meta tag: widened the same way.
    const html = allow(readFileSync(join(repo, 'www/index.html'), 'utf8'));
    return res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
  }
  const writeHead = res.writeHead.bind(res);
  res.writeHead = (status, headers, ...rest) => {
    const csp = headers?.['Content-Security-Policy'];
    if (csp) headers = { ...headers, 'Content-Security-Policy': allow(csp) };
    return writeHead(status, headers, ...rest);
  };
  return serve(req, res);
}

const h = await start({ handler });
const check = (name, fn) => (only && !only.test(name) ? null : h.check(name, fn));
const context = await h.browser.newContext();
const page = await context.newPage();
page.on('console', (m) => console.log(`[page] ${m.text()}`));
page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
await page.goto(h.origin + '/hub-test.html');
await page.waitForSelector('body[data-ready]', { state: 'attached' });

/** Loads `model` in the page (greedy, 4 tokens): the engine's info fields
 * the checks read, the ids, what the progress events said, or the error. */
const load = (model, opts = {}) => page.evaluate(async ({ model, opts, prompt }) => {
  const seen = [];
  try {
    const onProgress = (p) => seen.push(p);
    const engine = await tabllm.createEngine({ model, context: 128, onProgress, ...opts });
    const out = await engine.completions.create({ prompt, temperature: 0, max_tokens: 4 });
    await engine.unload();
    const i = engine.info;
    const bytes = seen.map((p) => p.bytes_loaded);
    return {
      ok: true, ids: out.timings.completion_ids, name: i.name, hf: i.hf, from_cache: i.from_cache, cache_validated: i.cache_validated,
      cache_error: i.cache_error, download_resumed_bytes: i.download_resumed_bytes, download_retries: i.download_retries,
      storage_persisted: i.storage_persisted, parts: Math.max(...seen.map((p) => p.parts)),
      progress: {
        last: bytes.at(-1), max: Math.max(...bytes), monotonic: bytes.every((b, k) => k === 0 || b >= bytes[k - 1]),
        over: seen.filter((p) => p.fraction > 1 || (p.bytes_total !== null && p.bytes_loaded > p.bytes_total)).length,
        persisted: [...new Set(seen.map((p) => p.storage_persisted))],
      },
    };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message, details: e.details };
  }
}, { model, opts: { hfEndpoint: hub.api, ...opts }, prompt: PROMPT });

/** The OPFS copy of a resolve URL: { complete, part }, each { size, sha256 } or null. */
const stored = (url) => storedModel(page, url);

const resolveUrl = (repoId, path, revision = 'main') => `${hub.api}/${repoId}/resolve/${revision}/${path}`;
/** The log from index `from` on: of origin `origin` (and of blob `sha`), printed. */
function requests(from, origin, sha) {
  const out = hub.log.slice(from).filter((r) => r.origin === origin && (!sha || r.path === `/blobs/${sha}`));
  for (const r of out) console.log(`  ${describe(r)}`);
  return out;
}
const noPreflight = (reqs) => {
  assert.deepEqual(reqs.filter((r) => r.method === 'OPTIONS').map(describe), [], 'no preflight reached the CDN');
  assert.deepEqual(reqs.filter((r) => r.ifRange !== null).map(describe), [], 'no If-Range reached the CDN');
};

await check('the name rules of tests/fixtures/hub-names.json (src/hub.rs checks the same table, so the page and the CLI pick the same file)', async () => {
  const fx = readJson(join(repo, 'tests/fixtures/hub-names.json'));
  const reasonOf = (e) => e.details?.reason ?? (e.code === 'invalid_model' ? (e.details?.part ? 'later_part' : 'missing_part') : 'not_a_name');
  for (const c of fx.cases) {
    let got;
    try {
      const parsed = parseHubName(c.name);
      got = { picks: pickModel(fx.repos[c.repo].map((path) => ({ path, size: 1, sha256: null })), parsed).map((f) => f.path) };
    } catch (e) {
      got = { refused: reasonOf(e) };
    }
    assert.deepEqual(got, c.picks ? { picks: c.picks } : { refused: c.refused }, c.name);
  }
});

await check('names resolve through the file list: quant by name (any case), Q4_K_M by default, a file by path, a revision; mmproj never taken; info and inspectModel show repo and file', async () => {
  const at = hub.log.length;
  const r = await load(`hf:${T}:q4_0`, { cache: false });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.hf, { repo: T, revision: 'main', file: 'tiny-llama-Q4_0.gguf', files: ['tiny-llama-Q4_0.gguf'], endpoint: hub.api });
  assert.deepEqual(r.ids, greedy('q4_0'));
  // The file list, every page of it (Link: rel="next"), then the file through its resolve URL and the CDN.
  const api = requests(at, 'api');
  assert.deepEqual(api.map((q) => [q.method, q.path, q.status]), [
    ['GET', `/api/models/${T}/tree/main`, 200], ['GET', `/api/models/${T}/tree/main`, 200],
    ['GET', `/${T}/resolve/main/tiny-llama-Q4_0.gguf`, 302],
  ]);
  assert.deepEqual(requests(at, 'cdn').map((q) => [q.method, q.path, q.range, q.status]), [['GET', `/blobs/${sha256(Q4_0)}`, null, 200]]);

  const byDefault = await load(`hf:${T}`, { cache: false });
  assert.equal(byDefault.hf?.file, 'tiny-llama-Q4_K_M.gguf', JSON.stringify(byDefault));
  assert.deepEqual(byDefault.ids, greedy('q4_k_m'));
  const byFile = await load(`hf:${T}/TINY-LLAMA-q4_0.gguf`, { cache: false });
  assert.equal(byFile.hf?.file, 'tiny-llama-Q4_0.gguf', JSON.stringify(byFile));
  const atRevision = await load(`hf:${T}@v1`, { cache: false });
  assert.deepEqual([atRevision.hf?.revision, atRevision.hf?.file], ['v1', 'tiny-llama-Q2_K.gguf'], JSON.stringify(atRevision));
  assert.deepEqual(atRevision.ids, greedy('q2_k'));

  const report = await page.evaluate(({ name, endpoint }) => tabllm.inspectModel(name, { hfEndpoint: endpoint }), { name: `hf:${T}:Q4_K_M`, endpoint: hub.api });
  assert.deepEqual(report.hf, { repo: T, revision: 'main', file: 'tiny-llama-Q4_K_M.gguf', files: ['tiny-llama-Q4_K_M.gguf'], endpoint: hub.api });
  assert.equal(report.file_bytes, Q4_K_M.length);
});

await check('refusals: a quant the repo lacks, a quant two models have, no quant with no default among several, a repo that is not there, a name or endpoint that is not one', async () => {
  const refused = await page.evaluate(async (endpoint) => {
    const err = (model, opts = { hfEndpoint: endpoint }) => tabllm.createEngine({ model, cache: false, ...opts }).then(() => 'loaded', (e) => ({ code: e.code, message: e.message, details: e.details }));
    return {
      missing: await err('hf:tabllm-test/tiny-GGUF:Q5_K_M'),
      ambiguous: await err('hf:tabllm-test/twins-GGUF:q4_0'),
      noDefault: await err('hf:tabllm-test/twins-GGUF'),
      noRepo: await err('hf:tabllm-test/nothing-here-GGUF:Q4_0'),
      laterPart: await err('hf:tabllm-test/split-GGUF/Q4_0/tiny-Q4_0-00002-of-00003.gguf'),
      partMissing: await err('hf:tabllm-test/broken-split-GGUF'),
      badName: await err('hf:just-a-name'),
      inArray: await err(['hf:tabllm-test/tiny-GGUF']),
      badEndpoint: await err('hf:tabllm-test/tiny-GGUF', { hfEndpoint: 'ftp://example.com' }),
    };
  }, hub.api);
  for (const [k, v] of Object.entries(refused)) console.log(`  ${k}: ${v.code}: ${v.message}`);
  assert.equal(refused.missing.code, 'invalid_request');
  assert.equal(refused.missing.details.reason, 'no_such_quant');
  assert.deepEqual(refused.missing.details.quants, ['Q4_0', 'Q4_K_M']);
  assert.match(refused.missing.message, /has no Q5_K_M model: it has Q4_0, Q4_K_M/);
  assert.equal(refused.ambiguous.details.reason, 'ambiguous_quant');
  assert.deepEqual(refused.ambiguous.details.files, ['a-Q4_0.gguf', 'b/b-Q4_0.gguf']);
  assert.equal(refused.noDefault.details.reason, 'ambiguous_quant');
  assert.deepEqual(refused.noDefault.details.quants, ['Q2_K', 'Q4_0']);
  assert.deepEqual([refused.noRepo.code, refused.noRepo.details.status], ['download_failed', 404]);
  assert.equal(refused.laterPart.code, 'invalid_model');
  assert.match(refused.laterPart.message, /give its first part \(Q4_0\/tiny-Q4_0-00001-of-00003\.gguf\)/);
  assert.equal(refused.partMissing.code, 'invalid_model');
  assert.match(refused.partMissing.message, /not part 2/);
  for (const k of ['badName', 'inArray']) assert.deepEqual([refused[k].code, refused[k].details?.field], ['invalid_request', 'model'], k);
  assert.deepEqual([refused.badEndpoint.code, refused.badEndpoint.details?.field], ['invalid_request', 'hfEndpoint']);
});

await check('a split model: its parts found by -0000N-of-00003 in the listing and fetched in order', async () => {
  const at = hub.log.length;
  const r = await load(`hf:${SPLIT}:Q4_0`, { cache: false });
  assert.ok(r.ok, JSON.stringify(r));
  const names = [1, 2, 3].map((k) => `Q4_0/tiny-Q4_0-0000${k}-of-00003.gguf`);
  assert.deepEqual(r.hf.files, names);
  assert.equal(r.parts, 3);
  assert.equal(r.ids.length, 4);
  assert.deepEqual(requests(at, 'api').filter((q) => q.path.includes('/resolve/')).map((q) => q.path), names.map((n) => `/${SPLIT}/resolve/main/${n}`));
  assert.deepEqual(requests(at, 'cdn').map((q) => q.path), names.map((n) => `/blobs/${hub.blobOf(SPLIT, n)}`));
});

await check('a dropped connection resumed across the redirect: Range only (no preflight, no If-Range), byte-exact', async () => {
  const sha = hub.blobOf(T, 'tiny-llama-Q4_K_M.gguf');
  hub.faults.set(sha, [{ drop: DROP }]);
  const at = hub.log.length;
  const r = await load(`hf:${T}:Q4_K_M`, { testFaults: { persistMinBytes: 0 } });
  assert.ok(r.ok, JSON.stringify(r));
  console.log('  the CDN log of the resumed load:');
  const cdn = requests(at, 'cdn');
  noPreflight(cdn);
  assert.deepEqual(cdn.map((q) => [q.method, q.range, q.ifRange, q.status, q.sent, q.cut]), [
    ['GET', null, null, 200, DROP, 'dropped'],
    ['GET', `bytes=${DROP}-`, null, 206, Q4_K_M.length - DROP, null],
  ]);
  // The page's worker is on a third origin; the redirect from the API origin makes its Origin "null".
  assert.deepEqual(cdn.map((q) => q.from), ['null', 'null']);
  assert.deepEqual(requests(at, 'api').filter((q) => q.path.includes('/resolve/')).map((q) => [q.method, q.range, q.status]), [['GET', null, 302], ['GET', `bytes=${DROP}-`, 302]]);
  assert.equal(r.download_retries, 1);
  assert.deepEqual(r.progress, { last: Q4_K_M.length, max: Q4_K_M.length, monotonic: true, over: 0, persisted: r.progress.persisted });
  assert.deepEqual(r.ids, greedy('q4_k_m'));
  const s = await stored(resolveUrl(T, 'tiny-llama-Q4_K_M.gguf'));
  console.log(`  sha256 of the loaded file (browser storage): ${s.complete?.sha256} (${s.complete?.size} bytes)`);
  console.log(`  sha256 of the source file:                   ${sha256(Q4_K_M)} (${Q4_K_M.length} bytes)`);
  assert.deepEqual(s.complete, { size: Q4_K_M.length, sha256: sha256(Q4_K_M) });
  assert.equal(s.part, null);
  // Storage that lasts was asked for before the download (testFaults lowers the size that asks).
  console.log(`  storage_persisted: ${r.storage_persisted}`);
  assert.equal(typeof r.storage_persisted, 'boolean');
  assert.ok(r.progress.persisted.includes(r.storage_persisted));

  // The next load: the Hub's listing names the same sha256, so no request reaches the file at all.
  const at2 = hub.log.length;
  const again = await load(`hf:${T}:Q4_K_M`);
  assert.deepEqual([again.from_cache, again.cache_validated, again.storage_persisted], [true, true, null], JSON.stringify(again));
  assert.deepEqual(requests(at2, 'cdn'), []);
  assert.deepEqual(requests(at2, 'api').map((q) => q.path.includes('/tree/')), [true, true]);
});

await check('a file that changed between attempts: the partial download is dropped and the new file fetched from byte 0 (no Range sent); a change during a load fails it as changed', async () => {
  const R = 'tabllm-test/changing-GGUF';
  const old = hub.setFile(R, 'tiny-Q4_0.gguf', Q4_0);
  hub.faults.set(old, [{ drop: DROP, then: () => hub.down.add(old) }]);
  const first = await load(`hf:${R}`);
  hub.down.delete(old);
  assert.equal(first.code, 'download_failed', JSON.stringify(first));
  const url = resolveUrl(R, 'tiny-Q4_0.gguf');
  assert.equal((await stored(url)).part?.size, DROP, 'the partial download is kept');

  const renamed = hub.setFile(R, 'tiny-Q4_0.gguf', RENAMED);
  const at = hub.log.length;
  const r = await load(`hf:${R}`);
  assert.ok(r.ok, JSON.stringify(r));
  const cdn = requests(at, 'cdn');
  assert.deepEqual(cdn.map((q) => [q.path, q.range, q.status, q.sent]), [[`/blobs/${renamed}`, null, 200, RENAMED.length]]);
  assert.equal(r.download_resumed_bytes, 0);
  assert.equal(r.name, 'tiny-LLAMA');
  assert.deepEqual((await stored(url)).complete, { size: RENAMED.length, sha256: sha256(RENAMED) });

  // During a load: the connection drops, the repo gets another file meanwhile;
  // the resume follows the redirect to the new blob, whose ETag says so.
  const R2 = 'tabllm-test/changing-now-GGUF';
  const before = hub.setFile(R2, 'tiny-Q4_0.gguf', Q4_0);
  hub.faults.set(before, [{ drop: DROP, then: () => hub.setFile(R2, 'tiny-Q4_0.gguf', RENAMED) }]);
  const at2 = hub.log.length;
  const during = await load(`hf:${R2}`);
  console.log(`  ${during.code}: ${during.message}`);
  assert.equal(during.code, 'download_failed');
  assert.equal(during.details?.changed, true);
  const cdn2 = requests(at2, 'cdn');
  noPreflight(cdn2);
  assert.deepEqual(cdn2.map((q) => [q.path, q.range]), [[`/blobs/${before}`, null], [`/blobs/${sha256(RENAMED)}`, `bytes=${DROP}-`]]);
  assert.deepEqual(await stored(resolveUrl(R2, 'tiny-Q4_0.gguf')), { complete: null, part: null });
});

await check('a 200 to a Range request: mid-load its bytes before the drop are skipped, never appended; at the next load the partial file is truncated and the download restarts', async () => {
  const R = 'tabllm-test/no-range-GGUF';
  const sha = hub.setFile(R, 'tiny-Q4_0.gguf', Q4_0);
  const url = resolveUrl(R, 'tiny-Q4_0.gguf');
  hub.faults.set(sha, [{ drop: DROP }, { ignoreRange: true }]);
  let at = hub.log.length;
  const r = await load(`hf:${R}`);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(requests(at, 'cdn').map((q) => [q.range, q.status, q.sent]), [[null, 200, DROP], [`bytes=${DROP}-`, 200, Q4_0.length]]);
  assert.deepEqual(r.progress, { last: Q4_0.length, max: Q4_0.length, monotonic: true, over: 0, persisted: [null] });
  assert.deepEqual(r.ids, greedy('q4_0'));
  assert.deepEqual((await stored(url)).complete, { size: Q4_0.length, sha256: sha256(Q4_0) });

  await page.evaluate((u) => tabllm.deleteCachedModels(u), url);
  hub.faults.set(sha, [{ drop: DROP, then: () => hub.down.add(sha) }]);
  assert.equal((await load(`hf:${R}`)).code, 'download_failed');
  hub.down.delete(sha);
  assert.equal((await stored(url)).part?.size, DROP);
  hub.faults.set(sha, [{ ignoreRange: true }]);
  at = hub.log.length;
  const again = await load(`hf:${R}`);
  assert.ok(again.ok, JSON.stringify(again));
  assert.deepEqual(requests(at, 'cdn').map((q) => [q.range, q.status, q.sent]), [[`bytes=${DROP}-`, 200, Q4_0.length]]);
  assert.equal(again.download_resumed_bytes, 0);
  assert.deepEqual(again.progress, { last: Q4_0.length, max: Q4_0.length, monotonic: true, over: 0, persisted: [null] });
  assert.deepEqual((await stored(url)).complete, { size: Q4_0.length, sha256: sha256(Q4_0) }, 'the 200 replaced the partial file, not appended to it');
});

await check('what a CDN may send instead: Content-Encoding, no Content-Length, a Content-Range of another size, more bytes than listed: each a clear outcome', async () => {
  const R = 'tabllm-test/odd-cdn-GGUF';
  const sha = hub.setFile(R, 'tiny-Q4_0.gguf', Q4_0);
  hub.faults.set(sha, [{ gzip: true }]);
  const gz = await load(`hf:${R}`, { cache: false });
  console.log(`  gzip: ${gz.code}: ${gz.message}`);
  assert.deepEqual([gz.code, gz.details?.reason, gz.details?.contentEncoding], ['download_failed', 'content_encoding', 'gzip']);

  // No Content-Length: the listing's size stands for it, and a drop still resumes.
  hub.faults.set(sha, [{ chunked: true, drop: DROP }, { chunked: true }]);
  let at = hub.log.length;
  const chunked = await load(`hf:${R}`, { cache: false });
  assert.ok(chunked.ok, JSON.stringify(chunked));
  assert.deepEqual(requests(at, 'cdn').map((q) => [q.range, q.status]), [[null, 200], [`bytes=${DROP}-`, 206]]);
  assert.deepEqual(chunked.progress, { last: Q4_0.length, max: Q4_0.length, monotonic: true, over: 0, persisted: [null] });

  hub.faults.set(sha, [{ drop: DROP }, { contentRange: `bytes ${DROP}-${Q4_0.length}/${Q4_0.length + 1}` }]);
  const other = await load(`hf:${R}`, { cache: false });
  console.log(`  Content-Range of another size: ${other.code}: ${other.message}`);
  assert.deepEqual([other.code, other.details?.changed], ['download_failed', true]);

  hub.faults.set(sha, [{ drop: DROP }, { contentRange: `bytes ${DROP + 1}-${Q4_0.length - 1}/${Q4_0.length}` }]);
  const shifted = await load(`hf:${R}`, { cache: false });
  console.log(`  Content-Range from another byte: ${shifted.code}: ${shifted.message}`);
  assert.deepEqual([shifted.code, shifted.details?.badRange], ['download_failed', true]);

  // The listing says fewer bytes than the CDN sends.
  const R2 = 'tabllm-test/listed-short-GGUF';
  hub.setFile(R2, 'tiny-Q4_0.gguf', Q4_0, { listedSize: Q4_0.length - 1000 });
  const short = await load(`hf:${R2}`, { cache: false });
  console.log(`  listed size ${Q4_0.length - 1000}: ${short.code}: ${short.message}`);
  assert.deepEqual([short.code, short.details?.reason], ['download_failed', 'size_mismatch']);
  // Without a Content-Length to say so, the bytes past the listed size are refused as they come.
  hub.faults.set(hub.blobOf(R2, 'tiny-Q4_0.gguf'), [{ chunked: true }]);
  const long = await load(`hf:${R2}`, { cache: false });
  console.log(`  listed size ${Q4_0.length - 1000}, no Content-Length: ${long.code}: ${long.message}`);
  assert.deepEqual([long.code, long.details?.reason], ['download_failed', 'too_long']);
});

await check('the page: its URL box takes an hf: name; the status shows repo and file and whether storage is persistent; cached models are listed with sizes and deleted one by one', async () => {
  const p = await context.newPage();
  p.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  try {
    await p.goto(`${h.origin}/www/index.html?model=${encodeURIComponent(`hf:${T}:Q4_0`)}&hf_endpoint=${encodeURIComponent(hub.api)}`);
    await p.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    const status = await p.textContent('#status');
    console.log(`  status: ${status}`);
    assert.equal(await p.getAttribute('body', 'data-state'), 'ready', status);
    assert.match(status, new RegExp(`${T}.*tiny-llama-Q4_0\\.gguf`));
    // The URL box: another name.
    await p.click('#model-chooser summary');
    await p.fill('#model-url', `hf:${T}:Q4_K_M`);
    await p.click('#load-url');
    await p.waitForFunction(() => document.body.dataset.state === 'ready' && /Q4_K_M/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
    await p.click('#model-chooser summary');
    await p.waitForFunction(() => document.querySelectorAll('#cache-list li').length >= 2);
    const rows = await p.$$eval('#cache-list li', (lis) => lis.map((li) => li.textContent));
    console.log(`  cache list: ${rows.join(' | ')}`);
    assert.ok(rows.some((t) => /tiny-llama-Q4_K_M\.gguf.*1\.2 MB/.test(t)), rows.join('\n'));
    const persisted = await p.textContent('#cache-info');
    assert.match(persisted, /persistent|may clear/);
    const count = rows.length;
    await p.click('#cache-list li:has-text("tiny-llama-Q4_0.gguf") button');
    await p.waitForFunction((n) => document.querySelectorAll('#cache-list li').length === n - 1, count);
    const left = await p.$$eval('#cache-list li', (lis) => lis.map((li) => li.textContent));
    assert.ok(!left.some((t) => /tiny-llama-Q4_0\.gguf/.test(t)), left.join('\n'));
  } finally {
    await p.close();
  }
});

await check('the page\'s model menu: this year\'s models with their repos, sizes and this device\'s verdict; one click loads one from the Hub; a reply then predicts the speeds', async () => {
  const p = await context.newPage({ viewport: { width: 1280, height: 900 } });
  p.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  try {
    await p.goto(`${h.origin}/www/index.html?model=${encodeURIComponent(`hf:${T}:Q4_0`)}&hf_endpoint=${encodeURIComponent(hub.api)}&temperature=0&max_tokens=12`);
    await p.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 60_000 });
    await p.click('#model-chooser summary');
    await p.waitForSelector('#model-menu[data-state="done"]', { timeout: 60_000 });
    const rows = await p.$$eval('#menu-body tr', (trs) => trs.map((tr) => ({
      shape: tr.dataset.shape, text: tr.textContent, fit: tr.querySelector('.menu-fit')?.textContent ?? '',
      speed: tr.querySelector('.menu-speed')?.textContent ?? '', disabled: tr.querySelector('button')?.disabled ?? null,
    })));
    for (const r of rows) console.log(`  ${r.shape}: ${r.text}`);
    for (const shape of ['qwen3.5-0.8b', 'qwen3.5-2b', 'qwen3.5-4b', 'gemma-4-e2b', 'gemma-4-e4b', 'lfm2.5-1.2b', 'smollm3-3b', 'phi-4-mini', 'llama-3.2-1b', 'llama-3.2-3b', 'qwen3-0.6b', 'gemma-3-1b', 'gemma-3-4b']) {
      assert.ok(rows.some((r) => r.shape === shape), `the menu lists ${shape}`);
    }
    const row = (shape) => rows.find((r) => r.shape === shape);
    // Sizes are the catalog's for Q4_K_M; the verdicts are the CPU backend's (SwiftShader: software adapter), in 32-bit wasm.
    assert.match(row('qwen3.5-0.8b').text, /Qwen3\.5 0\.8B\s*unsloth\/Qwen3\.5-0\.8B-GGUF\s*0\.\d\d GB/);
    assert.match(row('qwen3.5-0.8b').fit, /^fits/);
    // The repo links to where names resolve (here the imitation).
    assert.equal(await p.getAttribute('#menu-body tr[data-shape="qwen3.5-0.8b"] a', 'href'), `${hub.api}/unsloth/Qwen3.5-0.8B-GGUF`);
    assert.equal(row('qwen3.5-0.8b').disabled, false);
    assert.match(row('gemma-4-e4b').fit, /too large.*32-bit wasm/);
    assert.equal(row('gemma-4-e4b').disabled, true);
    // No reply yet and no GPU to measure: no speed, and the menu says how to get one.
    assert.ok(rows.every((r) => r.speed === '—'), rows.map((r) => r.speed).join(' '));
    assert.match(await p.textContent('#menu-state'), /fit for this browser's CPU backend at a context of 4,096 tokens.*send a message first/);
    // Q8_0: other sizes.
    await p.selectOption('#menu-mix', 'Q8_0');
    await p.waitForFunction(() => document.getElementById('menu-state').textContent.includes('Q8_0') && document.getElementById('model-menu').dataset.state === 'done');
    const q8 = await p.textContent('#menu-body tr[data-shape="qwen3.5-0.8b"] .menu-size');
    assert.notEqual(q8, row('qwen3.5-0.8b').text.match(/\d\.\d\d GB/)[0], 'Q8_0 has another size');
    await p.selectOption('#menu-mix', 'Q4_K_M');
    await p.waitForFunction(() => document.getElementById('menu-state').textContent.includes('Q4_K_M') && document.getElementById('model-menu').dataset.state === 'done');
    // One click: the Q4_K_M file of the repo, from the imitation Hub.
    const from = hub.log.length;
    await p.click('#menu-body tr[data-shape="qwen3.5-0.8b"] button');
    await p.waitForFunction(() => document.body.dataset.state === 'ready' && /Qwen3\.5-0\.8B/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
    const status = await p.textContent('#status');
    console.log(`  status: ${status}`);
    assert.match(status, /unsloth\/Qwen3\.5-0\.8B-GGUF.*Qwen3\.5-0\.8B-Q4_K_M\.gguf/);
    // The page says where the model runs: the CPU backend here, not "your GPU".
    assert.equal(await p.textContent('#runs-on'), 'Runs on your CPU; nothing you type leaves this tab.');
    assert.ok(hub.log.slice(from).some((r) => r.origin === 'api' && r.path === '/api/models/unsloth/Qwen3.5-0.8B-GGUF/tree/main'), 'resolved through the file list');
    assert.match(new URL(p.url()).searchParams.get('model'), /^hf:unsloth\/Qwen3\.5-0\.8B-GGUF:Q4_K_M$/);
    // A reply: its speed predicts every row's.
    await p.fill('#input', 'Hello');
    await p.click('#send');
    await p.waitForFunction(() => window.lastResult && document.body.dataset.state === 'ready', null, { timeout: 60_000 });
    const usage = await p.evaluate(() => window.lastResult.usage);
    assert.ok(usage.completion_tokens >= 8, `a reply of ${usage.completion_tokens} tokens predicts nothing`);
    await p.click('#model-chooser summary');
    await p.waitForFunction(() => /predicted from .*last reply here/.test(document.getElementById('menu-state').textContent) && document.getElementById('model-menu').dataset.state === 'done', null, { timeout: 60_000 });
    const speeds = await p.$$eval('#menu-body tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.shape, tr.querySelector('.menu-speed').textContent])));
    console.log(`  speeds: ${JSON.stringify(speeds)}`);
    const tokS = (shape) => Number(/≈ ([\d.]+) tok\/s/.exec(speeds[shape])?.[1]);
    assert.ok(tokS('qwen3.5-0.8b') > tokS('qwen3.5-4b') && tokS('qwen3.5-4b') > 0, 'a smaller model is predicted faster');
    if (process.env.TABLLM_SCREENSHOTS) {
      await p.screenshot({ path: join(process.env.TABLLM_SCREENSHOTS, 'menu-1280.png'), fullPage: true });
      await p.setViewportSize({ width: 390, height: 844 });
      await p.screenshot({ path: join(process.env.TABLLM_SCREENSHOTS, 'menu-390.png'), fullPage: true });
    }
  } finally {
    await p.close();
  }
});

await check('the model menu follows Settings\' context: sized again when it changes; a row that fits only a shorter context loads at the longest that fits', async () => {
  const p = await context.newPage({ viewport: { width: 1280, height: 900 } });
  p.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  try {
    await p.goto(`${h.origin}/www/index.html?model=${encodeURIComponent(`hf:${T}:Q4_0`)}&hf_endpoint=${encodeURIComponent(hub.api)}&temperature=0&max_tokens=4`);
    await p.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 60_000 });
    await p.click('#model-chooser summary');
    await p.waitForSelector('#model-menu[data-state="done"]', { timeout: 60_000 });
    const fit = (shape) => p.textContent(`#menu-body tr[data-shape="${shape}"] .menu-fit`);
    assert.match(await fit('qwen3.5-4b'), /^fits/, 'at 4,096 tokens');
    // A long context in Settings, the menu still open: every row sized again.
    await p.click('#settings summary');
    await p.fill('#settings-form input[name="context"]', '131072');
    await p.press('#settings-form input[name="context"]', 'Tab'); // change fires on leaving the field
    await p.waitForFunction(() => /at a context of 131,072 tokens/.test(document.getElementById('menu-state').textContent) && document.getElementById('model-menu').dataset.state === 'done', null, { timeout: 60_000 });
    const shorter = await fit('qwen3.5-4b');
    const most = Number(/fits up to ([\d,]+) tokens/.exec(shorter)?.[1].replaceAll(',', ''));
    assert.match(shorter, /^shorter context/);
    assert.ok(most > 4096 && most < 131072, shorter);
    const button = '#menu-body tr[data-shape="qwen3.5-4b"] button';
    assert.equal(await p.textContent(button), `Load at ${most.toLocaleString('en-US')}`);
    assert.match(await fit('qwen3.5-0.8b'), /^fits/, 'a model with little KV per token still fits');
    await p.click(button);
    await p.waitForFunction(() => document.body.dataset.state === 'ready' && /Qwen3\.5-4B/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
    const r = await p.evaluate(() => ({ field: document.querySelector('#settings-form input[name="context"]').value, stored: JSON.parse(localStorage.getItem('tabllm.settings')).context }));
    assert.deepEqual(r, { field: String(most), stored: String(most) }, 'Settings show the context it loaded at');
    assert.match(await p.textContent("#status"), new RegExp(`context ${most} tokens`), "the status says the context");
  } finally {
    await p.evaluate(() => localStorage.removeItem('tabllm.settings')).catch(() => {});
    await p.close();
  }
});

await check('offline: a name loaded before loads from browser storage when the Hub cannot be asked (info says so); a name never loaded, or one whose copy was deleted, still fails as unreachable', async () => {
  const name = `hf:${T}:Q4_0`;
  const url = resolveUrl(T, 'tiny-llama-Q4_0.gguf');
  await page.evaluate(() => tabllm.deleteCachedModels());
  const online = await load(name);
  assert.ok(online.ok, JSON.stringify(online));
  hub.offline(true);
  try {
    const from = hub.log.length;
    const off = await load(name);
    assert.ok(off.ok, JSON.stringify(off));
    assert.deepEqual(off.ids, greedy('q4_0'));
    assert.equal(off.from_cache, true);
    assert.equal(off.cache_validated, false);
    assert.equal(off.hf.file, 'tiny-llama-Q4_0.gguf');
    assert.match(off.cache_error, /the Hub could not be asked.*tiny-llama-Q4_0\.gguf in browser storage was used/);
    assert.ok(hub.log.slice(from).some((r) => r.origin === 'api' && r.cut === 'offline'), 'the Hub was asked first');
    // The same name in other case is the same name; a name never loaded online fails, though
    // the file it would pick from a list of what is stored (hf:T alone → the only model) is there.
    const lower = await load(`hf:${T}:q4_0`);
    assert.ok(lower.ok, JSON.stringify(lower));
    for (const other of [`hf:${T}:Q2_K`, `hf:${T}`, `hf:${T}/tiny-llama-Q4_0.gguf`]) {
      const r = await load(other);
      assert.equal(r.ok, false, other);
      assert.equal(r.code, 'download_failed', `${other}: ${r.message}`);
      assert.match(r.message, /listing the files of/);
    }
    // A Hub that takes the connection and never answers is unreachable too, after the list's timeout.
    hub.offline(false);
    hub.stall(true);
    // (loadTimeoutMs: without the list's timeout this load would wait for ever.)
    const stalled = await load(name, { testFaults: { hubTimeoutMs: 1000 }, loadTimeoutMs: 30_000 });
    hub.stall(false);
    hub.offline(true);
    assert.ok(stalled.ok, JSON.stringify(stalled));
    assert.match(stalled.cache_error, /no answer within 1 s.*in browser storage was used/);
    await page.evaluate((u) => tabllm.deleteCachedModels(u), url);
    const gone = await load(name);
    assert.equal(gone.ok, false);
    assert.equal(gone.code, 'download_failed');
  } finally {
    hub.offline(false);
  }
});

await check('across the whole run, no preflight and no If-Range reached the CDN, though resumes with Range did', async () => {
  const cdn = hub.log.filter((r) => r.origin === 'cdn');
  noPreflight(cdn);
  assert.ok(cdn.filter((r) => r.method === 'GET' && r.range !== null).length >= 5, 'the checks above resumed with Range');
});

await page.evaluate(() => tabllm.deleteCachedModels());
hub.close();
await h.done();
