// Downloads that survive failure (pkg/sources.js, cache.js, http.js and the
// worker's load loop), in headless Chromium against a server of this file's
// own: scripts/serve.mjs's handler, wrapped with faults (a connection dropped
// or stalled after N body bytes, a refused request, a file replaced on the
// server, a server that ignores Range or sends a wrong Content-Range) and a
// log of every model request: method, Range, If-Range, status, body bytes
// sent. Each check asserts exact byte counts from that log. A resume sends
// `Range` alone (never If-Range: the package checks the answer itself), so
// no request to another origin is preflighted.
// Usage: node tests/browser/download.mjs   (after scripts/build-web.sh)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHandler, sendFile, validators } from '../../scripts/serve.mjs';
import { start, shared, readJson, storedModel } from './harness.mjs';

const only = process.env.ONLY ? new RegExp(process.env.ONLY, 'i') : null; // run only the checks whose name matches

// The model: tiny (1.1 MB), so each load takes a second. A drop inside its tensor data.
const TINY = join(shared, 'tiny/tiny-llama-q4_0.gguf');
const SIZE = statSync(TINY).size;
const DROP = 700_000;
const tiny = readJson(join(shared, 'tiny/tiny-llama-q4_0.json'));
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
// The same model under another general.name ("tiny-LLAMA"): the same size,
// other bytes, written now (another mtime, so another ETag): "the file changed".
const tmp = mkdtempSync(join(tmpdir(), 'tabllm-download-'));
const RENAMED = join(tmp, 'renamed.gguf');
{
  const bytes = readFileSync(TINY);
  bytes.write('tiny-LLAMA', bytes.indexOf('tiny-llama'));
  writeFileSync(RENAMED, bytes);
}
assert.notEqual(validators(statSync(RENAMED)).etag, validators(statSync(TINY)).etag);

// The test page: the package straight from pkg/.
const PAGE = `<!doctype html><meta charset="utf-8"><body><script type="module">
import * as tabllm from '/pkg/tabllm.js';
window.tabllm = tabllm;
document.body.dataset.ready = '1';
</script>`;

// The server. Model paths start with /dl/: each serves `files.get(path)`
// (default TINY); `faults.get(path)` lists one-shot faults, each used by the
// first request of its method that comes: { drop: n } (close the connection
// after n body bytes, DROP_AFTER_MS after they left, so the page has read
// them: a browser may discard body bytes it holds unread when the connection
// fails), { stall: n } (send n body bytes, then nothing), { ignoreRange:
// true } (answer as a server without Range support: 200 and the whole file),
// { contentRange: s } (a 206 carries Content-Range s instead, or none when s
// is null; may come with stall), { capRange: n } (a 206 of the first n bytes
// asked only, a whole response that says so, as a CDN capping ranges sends);
// `then` runs when a drop or stall strikes.
// A path in `down` has every request refused (the connection
// closed before an answer): Chromium silently retries a request refused once
// on a reused connection, as if nothing happened.
const DROP_AFTER_MS = 500;
const files = new Map();
const faults = new Map();
const down = new Set();
const log = [];
const stalled = new Set();
const serve = createHandler();
function handler(req, res) {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (path === '/download-test.html') return res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
  if (!path.startsWith('/dl/')) {
    // The package's CSP (scripts/serve.mjs) lets the worker connect to its own
    // origin and https: only; here it may reach the second origin too.
    const writeHead = res.writeHead.bind(res);
    res.writeHead = (status, headers, ...rest) => {
      const csp = headers?.['Content-Security-Policy'];
      if (csp) headers = { ...headers, 'Content-Security-Policy': csp.replace("connect-src 'self'", `connect-src 'self' ${OTHER_ORIGIN}`) };
      return writeHead(status, headers, ...rest);
    };
    return serve(req, res);
  }
  const rec = { method: req.method, path, range: req.headers.range ?? null, ifRange: req.headers['if-range'] ?? null, status: null, sent: 0, cut: null };
  log.push(rec);
  // Another origin (requests to OTHER_ORIGIN from the page):
  // CORS that allows the resume's headers and exposes ETag, not Content-Range.
  const cors = req.headers.origin && new URL(req.headers.origin).host !== req.headers.host
    ? { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'ETag' } : null;
  if (cors && req.method === 'OPTIONS') {
    rec.status = 204;
    return res.writeHead(204, { ...cors, 'Access-Control-Allow-Headers': 'Range, If-Range', 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
  }
  if (down.has(path)) {
    rec.status = 'refused';
    return req.socket.destroy();
  }
  const fault = (faults.get(path) ?? []).find((f) => !f.used && (f.method ?? 'GET') === req.method);
  if (fault) fault.used = true;
  const writeHead = res.writeHead.bind(res);
  res.writeHead = (status, headers, ...rest) => {
    rec.status = status;
    if (cors) headers = { ...headers, ...cors };
    if (status === 206 && fault?.capRange !== undefined) {
      const [, first, size] = /^bytes (\d+)-\d+\/(\d+)$/.exec(headers['Content-Range']);
      const last = Number(first) + fault.capRange - 1;
      headers = { ...headers, 'Content-Range': `bytes ${first}-${last}/${size}`, 'Content-Length': String(fault.capRange) };
    }
    if (status === 206 && fault?.contentRange !== undefined) {
      headers = { ...headers, 'Content-Range': fault.contentRange };
      if (fault.contentRange === null) delete headers['Content-Range'];
    }
    return writeHead(status, headers, ...rest);
  };
  const limit = fault?.drop ?? fault?.stall ?? fault?.capRange ?? Infinity;
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  res.write = (chunk, ...rest) => {
    if (rec.cut) return true;
    if (rec.sent + chunk.length <= limit) {
      rec.sent += chunk.length;
      return write(chunk, ...rest);
    }
    const n = limit - rec.sent;
    rec.sent += n;
    if (fault.capRange !== undefined) {
      rec.cut = 'capped';
      end(chunk.subarray(0, n)); // the whole of what its headers announce
      return true;
    }
    rec.cut = fault.drop !== undefined ? 'dropped' : 'stalled';
    write(chunk.subarray(0, n), () => {
      if (fault.drop !== undefined) {
        setTimeout(() => {
          res.socket.destroy();
          fault.then?.();
        }, DROP_AFTER_MS);
      } else {
        stalled.add(res.socket);
        fault.then?.();
      }
    });
    return true;
  };
  res.end = (...args) => (rec.cut ? res : end(...args));
  if (fault?.ignoreRange) delete req.headers.range; // logged above as asked
  sendFile(req, res, files.get(path) ?? TINY);
}

const h = await start({ handler });
// The same files from another origin (another port): the page's requests there are cross-origin.
const otherServer = createServer(handler);
await new Promise((resolve) => otherServer.listen(0, '127.0.0.1', resolve));
const OTHER_ORIGIN = `http://127.0.0.1:${otherServer.address().port}`;
const check = (name, fn) => (only && !only.test(name) ? null : h.check(name, fn));
const context = await h.browser.newContext();

async function openPage() {
  const page = await context.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(h.origin + '/download-test.html');
  await page.waitForSelector('body[data-ready]', { state: 'attached' });
  return page;
}
let page = await openPage();

/** Starts a load of `path` in the page (greedy, 4 tokens of tiny's first
 * case): `window.pending` resolves to the engine info's cache fields, the
 * ids and what the progress events counted (bytes_loaded: the last, the
 * largest, whether it never went back), or to the error; `window.controller` aborts it. */
const begin = (p, path, opts = {}) => p.evaluate(({ path, opts, prompt }) => {
  window.controller = new AbortController();
  window.pending = (async () => {
    const seen = [];
    const skips = []; // each event's resume_skip, with the bytes_loaded it came with
    try {
      const onProgress = (p) => {
        seen.push(p.bytes_loaded);
        if (p.resume_skip !== null) skips.push({ ...p.resume_skip, bytes_loaded: p.bytes_loaded });
      };
      const engine = await tabllm.createEngine({ model: path, context: 128, signal: window.controller.signal, onProgress, ...opts });
      const out = await engine.completions.create({ prompt, temperature: 0, max_tokens: 4 });
      await engine.unload();
      const i = engine.info;
      return {
        ok: true, ids: out.timings.completion_ids, name: i.name, from_cache: i.from_cache, cache_validated: i.cache_validated,
        cache_error: i.cache_error, download_resumed_bytes: i.download_resumed_bytes, download_retries: i.download_retries,
        progress: { last: seen.at(-1), max: Math.max(...seen), monotonic: seen.every((b, k) => k === 0 || b >= seen[k - 1]) },
        skips,
      };
    } catch (e) {
      return { ok: false, code: e.code, message: e.message, details: e.details };
    }
  })();
}, { path, opts, prompt: tiny.cases[0].prompt_ids });
const finish = (p) => p.evaluate(() => window.pending);
const load = async (p, path, opts) => {
  await begin(p, path, opts);
  return finish(p);
};

/** The OPFS files the package keeps for `path`: { complete, part } each
 * { size, sha256 } or null, and listCachedModels()'s entry for it. */
const stored = async (p, path) => {
  const url = await p.evaluate((path) => new URL(path, location.href).href, path);
  const listed = await p.evaluate(async (url) => (await tabllm.listCachedModels()).filter((m) => m.url === url), url);
  return { ...(await storedModel(p, url)), listed };
};

/** The log's requests for `path` from index `from` on, printed. */
function requests(path, from = 0) {
  const out = log.slice(from).filter((r) => r.path === path);
  for (const r of out) console.log(`  ${r.method} ${r.path} Range: ${r.range ?? '-'} If-Range: ${r.ifRange ?? '-'} -> ${r.status}, ${r.sent} body bytes${r.cut ? ` (${r.cut})` : ''}`);
  return out;
}
const sent = (reqs) => reqs.reduce((n, r) => n + r.sent, 0);
const waitFor = async (what, cond, ms = 20_000) => {
  for (const until = Date.now() + ms; !cond();) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const TINY_SHA = sha256(TINY);

let plain = null;
await check('a plain download (no cache): the ids every other load must give', async () => {
  const path = '/dl/plain/tiny.gguf';
  const r = await load(page, path, { cache: false });
  assert.ok(r.ok, JSON.stringify(r));
  const reqs = requests(path);
  assert.deepEqual(reqs.map((q) => [q.method, q.range, q.status, q.sent]), [['GET', null, 200, SIZE]]);
  assert.equal(r.ids.length, 4);
  assert.deepEqual(r.skips, [], 'no resume, no resume_skip');
  plain = r.ids;
  console.log(`  greedy ids ${plain}`);
});

await check('a connection dropped inside the tensor data: resumed with Range from the byte it stopped at, no byte sent twice, the cached copy is the file', async () => {
  const path = '/dl/a/tiny.gguf';
  faults.set(path, [{ drop: DROP }]);
  const r = await load(page, path);
  assert.ok(r.ok, JSON.stringify(r));
  const reqs = requests(path);
  assert.deepEqual(reqs.map((q) => [q.method, q.range, q.ifRange, q.status, q.sent]), [
    ['GET', null, null, 200, DROP],
    ['GET', `bytes=${DROP}-`, null, 206, SIZE - DROP],
  ]);
  console.log(`  dropped after ${DROP} of ${SIZE} bytes; resumed from ${DROP}; ${sent(reqs)} body bytes sent in all`);
  assert.equal(sent(reqs), SIZE);
  assert.equal(r.download_retries, 1);
  assert.deepEqual(r.progress, { last: SIZE, max: SIZE, monotonic: true }, 'progress counts each byte once');
  assert.deepEqual(r.skips, [], 'a resume by Range drops nothing');
  assert.equal(r.from_cache, false);
  assert.equal(r.cache_error, null);
  assert.deepEqual(r.ids, plain);
  const s = await stored(page, path);
  assert.deepEqual(s.complete, { size: SIZE, sha256: TINY_SHA }, 'the cached copy is byte for byte the file');
  assert.equal(s.part, null);
  assert.deepEqual(s.listed, [{ url: h.origin + path, bytes: SIZE }]);

  // The next load: from the cache, after a HEAD that finds the same file.
  const at = log.length;
  const again = await load(page, path);
  assert.deepEqual(requests(path, at).map((q) => [q.method, q.status, q.sent]), [['HEAD', 200, 0]]);
  assert.equal(again.from_cache, true);
  assert.equal(again.cache_validated, true);
  assert.equal(again.cache_error, null);
  assert.deepEqual(again.ids, plain);
});

/** Starts a load of `path` in `page` whose download stalls after half the
 * file, and waits until every byte sent has reached the partial file (the
 * engine reads as fast as they come). `{ half, first }`: the bytes sent, and
 * where this load's requests start in the log. */
async function stallAtHalf(path) {
  const half = Math.floor(SIZE / 2);
  faults.set(path, [{ stall: half }]);
  const first = log.length;
  await begin(page, path);
  await waitFor('the stall', () => log.slice(first).some((q) => q.path === path && q.cut === 'stalled'));
  for (let i = 0; i < 100 && (await stored(page, path)).part?.size !== half; i++) await new Promise((r) => setTimeout(r, 50));
  return { half, first };
}

await check('a tab closed mid-download: the next page resumes from the partial file\'s size, then a third load comes from the cache after a HEAD', async () => {
  const path = '/dl/b/tiny.gguf';
  const { half, first } = await stallAtHalf(path);
  await page.close();
  page = await openPage();
  const before = await stored(page, path);
  const held = before.part?.size ?? 0;
  console.log(`  tab closed with ${half} bytes sent; the partial file holds ${held}`);
  assert.ok(held > 0 && held <= half, `partial file ${held} bytes`);
  assert.deepEqual(before.listed, [{ url: h.origin + path, bytes: held, total: SIZE, partial: true }]);

  const at = log.length;
  const r = await load(page, path);
  assert.ok(r.ok, JSON.stringify(r));
  const second = requests(path, at);
  assert.deepEqual(second.map((q) => [q.method, q.range, q.ifRange, q.status, q.sent]), [['GET', `bytes=${held}-`, null, 206, SIZE - held]]);
  const all = sent(requests(path, first));
  console.log(`  second load: Range bytes=${held}-; ${all} body bytes sent in all for a ${SIZE}-byte file (${half - held} sent but lost with the tab)`);
  assert.equal(all, half + SIZE - held);
  assert.ok(all - SIZE <= 64 * 1024, `${all - SIZE} bytes over the file's size`);
  assert.equal(r.download_resumed_bytes, held);
  assert.deepEqual(r.progress, { last: SIZE, max: SIZE, monotonic: true });
  assert.equal(r.from_cache, false);
  assert.deepEqual(r.ids, plain);
  assert.deepEqual((await stored(page, path)).complete, { size: SIZE, sha256: TINY_SHA });

  const at3 = log.length;
  const third = await load(page, path);
  assert.deepEqual(requests(path, at3).map((q) => [q.method, q.status, q.sent]), [['HEAD', 200, 0]]);
  assert.equal(third.from_cache, true);
  assert.equal(third.cache_validated, true);
  assert.deepEqual(third.ids, plain);
});

await check('a file replaced on the server (same size, another ETag): the cached copy is dropped and the new file downloaded', async () => {
  const path = '/dl/c/tiny.gguf';
  const r1 = await load(page, path);
  assert.equal(r1.name, 'tiny-llama');
  files.set(path, RENAMED);
  const at = log.length;
  const r = await load(page, path);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(requests(path, at).map((q) => [q.method, q.range, q.status, q.sent]), [['HEAD', null, 200, 0], ['GET', null, 200, SIZE]]);
  assert.equal(r.from_cache, false);
  assert.equal(r.cache_validated, null);
  assert.equal(r.name, 'tiny-LLAMA', 'the result is the new file\'s');
  assert.deepEqual((await stored(page, path)).complete, { size: SIZE, sha256: sha256(RENAMED) });
});

await check('a file replaced during a download: the resume gets a 206 with another ETag and the load fails with download_failed saying so; nothing is kept', async () => {
  const path = '/dl/c2/tiny.gguf';
  faults.set(path, [{ drop: DROP, then: () => files.set(path, RENAMED) }]);
  const r = await load(page, path);
  const reqs = requests(path);
  assert.deepEqual(reqs.map((q) => [q.method, q.range, q.ifRange, q.status]), [['GET', null, null, 200], ['GET', `bytes=${DROP}-`, null, 206]]);
  console.log(`  ${r.code}: ${r.message}`);
  assert.equal(r.code, 'download_failed');
  assert.equal(r.details.changed, true);
  assert.match(r.message, /changed on the server during the download/);
  const s = await stored(page, path);
  assert.deepEqual([s.complete, s.part, s.listed], [null, null, []]);
});

await check('a server that ignores Range: the resume gets a 200 of the same file (same ETag and size), its first bytes are skipped as they stream and the load goes on', async () => {
  const path = '/dl/c4/tiny.gguf';
  faults.set(path, [{ drop: DROP }, { ignoreRange: true }]);
  const r = await load(page, path);
  assert.ok(r.ok, JSON.stringify(r));
  const reqs = requests(path);
  assert.deepEqual(reqs.map((q) => [q.method, q.range, q.ifRange, q.status, q.sent]), [
    ['GET', null, null, 200, DROP],
    ['GET', `bytes=${DROP}-`, null, 200, SIZE],
  ]);
  console.log(`  ${sent(reqs)} body bytes sent for a ${SIZE}-byte file (the first ${DROP} twice)`);
  assert.equal(r.download_retries, 1);
  assert.deepEqual(r.progress, { last: SIZE, max: SIZE, monotonic: true }, 'progress counts each byte of the file once, not the bytes skipped');
  // Meanwhile the events say why bytes_loaded stands still: the drop of the
  // DROP bytes loaded already, to its end. (How many events come between
  // depends on the browser's chunks: one CI run got all DROP bytes in one.)
  console.log(`  resume_skip events: ${r.skips.map((k) => k.bytes_skipped).join(', ')} of ${DROP}`);
  assert.ok(r.skips.length >= 1, JSON.stringify(r.skips));
  assert.ok(r.skips.every((k) => k.bytes_to_skip === DROP && k.bytes_loaded === DROP && k.bytes_skipped > 0), JSON.stringify(r.skips));
  assert.equal(r.skips.at(-1).bytes_skipped, DROP, 'the last says the drop is over');
  assert.ok(r.skips.every((k, j) => j === 0 || k.bytes_skipped > r.skips[j - 1].bytes_skipped), 'bytes_skipped grows');
  assert.equal(r.cache_error, null);
  assert.deepEqual(r.ids, plain);
  const s = await stored(page, path);
  assert.deepEqual([s.complete, s.part], [{ size: SIZE, sha256: TINY_SHA }, null], 'the cached copy is byte for byte the file');
});

await check('a server that caps a range: the 206 ends before the file does, and the load asks for the rest again', async () => {
  const path = '/dl/c6/tiny.gguf';
  const CAP = 100_000;
  faults.set(path, [{ drop: DROP }, { capRange: CAP }]);
  const r = await load(page, path);
  assert.ok(r.ok, JSON.stringify(r));
  const reqs = requests(path);
  assert.deepEqual(reqs.map((q) => [q.method, q.range, q.ifRange, q.status, q.sent]), [
    ['GET', null, null, 200, DROP],
    ['GET', `bytes=${DROP}-`, null, 206, CAP],
    ['GET', `bytes=${DROP + CAP}-`, null, 206, SIZE - DROP - CAP],
  ]);
  assert.equal(r.download_retries, 2);
  assert.deepEqual(r.progress, { last: SIZE, max: SIZE, monotonic: true });
  assert.deepEqual(r.ids, plain);
  const s = await stored(page, path);
  assert.deepEqual([s.complete, s.part], [{ size: SIZE, sha256: TINY_SHA }, null], 'the cached copy is byte for byte the file');
});

await check('another origin that hides Content-Range (CORS exposes ETag only): the resume\'s 206 of exactly the bytes asked is taken as the rest', async () => {
  const path = '/dl/c7/tiny.gguf';
  faults.set(path, [{ drop: DROP }]);
  const r = await load(page, OTHER_ORIGIN + path);
  assert.ok(r.ok, JSON.stringify(r));
  const all = requests(path);
  assert.deepEqual(all.filter((q) => q.method === 'OPTIONS'), [], 'a resume with Range alone is not preflighted');
  const reqs = all.filter((q) => q.method === 'GET');
  assert.deepEqual(reqs.map((q) => [q.range, q.ifRange, q.status, q.sent]), [
    [null, null, 200, DROP],
    [`bytes=${DROP}-`, null, 206, SIZE - DROP],
  ]);
  assert.equal(r.download_retries, 1);
  assert.deepEqual(r.progress, { last: SIZE, max: SIZE, monotonic: true });
  assert.deepEqual(r.ids, plain);
});

await check('a server that ignores Range and keeps dropping: after 3 whole-file resumes the load fails with download_failed saying so', async () => {
  const path = '/dl/c8/tiny.gguf';
  const step = 100_000;
  faults.set(path, [{ drop: DROP }, ...[1, 2, 3].map((k) => ({ ignoreRange: true, drop: DROP + k * step })), { ignoreRange: true, stall: 1 }]);
  const r = await load(page, path);
  const reqs = requests(path);
  assert.deepEqual(reqs.map((q) => [q.range, q.status]), [
    [null, 200], [`bytes=${DROP}-`, 200], [`bytes=${DROP + step}-`, 200], [`bytes=${DROP + 2 * step}-`, 200], [`bytes=${DROP + 3 * step}-`, 200],
  ]);
  console.log(`  ${r.code}: ${r.message}`);
  assert.equal(r.code, 'download_failed');
  assert.match(r.message, /ignores Range: 3 resumes each fetched the whole file again, and the connection dropped after byte 1000000;/);
  assert.equal(r.details.changed, undefined);
});

await check('a server that answers a resume with a wrong Content-Range (off by one, or none) of the same file: download_failed saying what it sent, not "changed"; nothing is kept', async () => {
  for (const [name, contentRange, says] of [
    ['off by one', `bytes ${DROP + 1}-${SIZE - 1}/${SIZE}`, `with Content-Range 'bytes ${DROP + 1}-${SIZE - 1}/${SIZE}', which does not start at byte ${DROP}`],
    ['none', null, 'without a Content-Range'],
  ]) {
    const path = `/dl/c5-${name.replaceAll(' ', '-')}/tiny.gguf`;
    // One body byte, then nothing: the page cancels the body, so what was sent is exact.
    faults.set(path, [{ drop: DROP }, { contentRange, stall: 1 }]);
    const r = await load(page, path);
    const reqs = requests(path);
    assert.deepEqual(reqs.map((q) => [q.method, q.range, q.ifRange, q.status, q.sent]), [
      ['GET', null, null, 200, DROP],
      ['GET', `bytes=${DROP}-`, null, 206, 1],
    ]);
    console.log(`  ${name}: ${r.code}: ${r.message}`);
    assert.equal(r.code, 'download_failed', JSON.stringify(r));
    assert.equal(r.message, `asked for bytes ${DROP}- of ${h.origin + path}, the server answered 206 ${says}`);
    assert.equal(r.details.changed, undefined);
    assert.equal(r.details.retry, undefined);
    const s = await stored(page, path);
    assert.deepEqual([s.complete, s.part, s.listed], [null, null, []], 'a server that cannot resume leaves nothing to resume');
  }
});

await check('every resume fails (server gone): download_failed, the partial file kept; the file then changes: the next load starts again from byte 0', async () => {
  const path = '/dl/c3/tiny.gguf';
  faults.set(path, [{ drop: DROP, then: () => down.add(path) }]);
  const r = await load(page, path);
  down.delete(path);
  assert.equal(r.code, 'download_failed', JSON.stringify(r));
  assert.match(r.message, /3 tries in a row failed/);
  const reqs = requests(path);
  assert.deepEqual(reqs[0].sent, DROP);
  // Each try refused (Chromium may try a refused request twice on its own).
  assert.ok(reqs.length >= 4, `${reqs.length} requests`);
  assert.deepEqual(new Set(reqs.slice(1).map((q) => `${q.range} ${q.status}`)), new Set([`bytes=${DROP}- refused`]));
  const s = await stored(page, path);
  console.log(`  partial file kept: ${s.part?.size} bytes`);
  assert.equal(s.part?.size, DROP);
  assert.deepEqual(s.listed, [{ url: h.origin + path, bytes: DROP, total: SIZE, partial: true }]);

  files.set(path, RENAMED);
  const at = log.length;
  const again = await load(page, path);
  assert.ok(again.ok, JSON.stringify(again));
  // The rest is asked for; its 206 carries the new file's ETag: cancelled, and the new file fetched from byte 0.
  const second = requests(path, at);
  assert.deepEqual(second.map((q) => [q.range, q.ifRange, q.status]), [[`bytes=${DROP}-`, null, 206], [null, null, 200]]);
  assert.equal(second[1].sent, SIZE);
  assert.equal(again.download_resumed_bytes, 0);
  assert.equal(again.name, 'tiny-LLAMA');
  assert.deepEqual((await stored(page, path)).complete, { size: SIZE, sha256: sha256(RENAMED) });
});

await check('the server unreachable for the check: the cached copy is used, flagged as not validated', async () => {
  const path = '/dl/d/tiny.gguf';
  assert.ok((await load(page, path)).ok);
  down.add(path);
  const at = log.length;
  const r = await load(page, path);
  down.delete(path);
  const reqs = requests(path, at);
  assert.ok(reqs.length >= 1);
  assert.deepEqual(new Set(reqs.map((q) => `${q.method} ${q.status}`)), new Set(['HEAD refused']), 'a HEAD only, and no answer');
  console.log(`  cache_error: ${r.cache_error}`);
  assert.equal(r.from_cache, true);
  assert.equal(r.cache_validated, false);
  assert.match(r.cache_error, /used without checking it against the server: the server could not be reached/);
  assert.deepEqual(r.ids, plain);
});

await check('browser storage too small for the file (estimate faked): loaded without writing anything, cache_error gives both sizes', async () => {
  const path = '/dl/e/tiny.gguf';
  const quota = 1_000_000;
  const usage = 400_000;
  const r = await load(page, path, { testFaults: { storageEstimate: { quota, usage } } });
  assert.ok(r.ok, JSON.stringify(r));
  console.log(`  cache_error: ${r.cache_error}`);
  assert.match(r.cache_error, new RegExp(`room for ${quota - usage} bytes .* needs ${SIZE}\\b.*deleteCachedModels\\(\\)`));
  assert.deepEqual(requests(path).map((q) => [q.method, q.status, q.sent]), [['GET', 200, SIZE]]);
  assert.deepEqual(r.ids, plain);
  const s = await stored(page, path);
  assert.deepEqual([s.complete, s.part, s.listed], [null, null, []]);
});

await check('an abort during a resumed download rejects with aborted; the partial file is kept and the next load resumes it', async () => {
  const path = '/dl/f/tiny.gguf';
  const more = 100_000;
  faults.set(path, [{ drop: DROP }, { stall: more }]);
  await begin(page, path);
  await waitFor('the resumed request to stall', () => log.some((q) => q.path === path && q.range && q.cut === 'stalled'));
  await new Promise((r) => setTimeout(r, 300));
  await page.evaluate(() => window.controller.abort());
  const r = await finish(page);
  assert.equal(r.code, 'aborted', JSON.stringify(r));
  assert.deepEqual(requests(path).map((q) => [q.range, q.status, q.sent]), [[null, 200, DROP], [`bytes=${DROP}-`, 206, more]]);
  const s = await stored(page, path);
  console.log(`  aborted with the partial file at ${s.part?.size} bytes`);
  assert.equal(s.part?.size, DROP + more);

  const at = log.length;
  const again = await load(page, path);
  assert.ok(again.ok, JSON.stringify(again));
  assert.deepEqual(requests(path, at).map((q) => [q.range, q.status, q.sent]), [[`bytes=${DROP + more}-`, 206, SIZE - DROP - more]]);
  assert.equal(again.download_resumed_bytes, DROP + more);
  assert.deepEqual(again.progress, { last: SIZE, max: SIZE, monotonic: true });
  assert.deepEqual(again.ids, plain);
  assert.deepEqual((await stored(page, path)).complete, { size: SIZE, sha256: TINY_SHA });
});

await check('two tabs, one download: the second tab loads without a copy and says why; deleting while the first holds the partial file rejects with storage naming it, keeps it listed, and removes the rest (orphans too)', async () => {
  const path = '/dl/g/tiny.gguf';
  const url = h.origin + path;
  const { half } = await stallAtHalf(path);
  const other = await openPage();
  try {
    // The second tab loads the same URL: the first holds the partial file.
    const second = await load(other, path);
    assert.ok(second.ok, JSON.stringify(second));
    console.log(`  second tab's cache_error: ${second.cache_error}`);
    assert.equal(second.cache_error, 'another tab is writing this model into browser storage; this tab loaded it without keeping a copy');
    assert.deepEqual(second.ids, plain);

    // An orphan: a file in the cache directory the index does not name.
    const orphan = await other.evaluate(async () => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('tabllm-models', { create: true });
      const h = await (await dir.getFileHandle('left-behind.gguf.part', { create: true })).createWritable();
      await h.write(new Uint8Array(12345));
      await h.close();
      return (await tabllm.listCachedModels()).filter((m) => m.orphan);
    });
    assert.deepEqual(orphan, [{ url: null, key: 'left-behind.gguf.part', bytes: 12345, orphan: true }]);

    const r = await other.evaluate(async (url) => {
      const fail = (p) => p.then(() => 'resolved', (e) => ({ code: e.code, message: e.message, details: e.details }));
      const all = await fail(tabllm.deleteCachedModels());
      const one = await fail(tabllm.deleteCachedModels(url));
      const bad = await fail(tabllm.deleteCachedModels('http://[bad'));
      return { all, one, bad, listed: await tabllm.listCachedModels() };
    }, url);
    console.log(`  deleteCachedModels(): ${r.all.code}: ${r.all.message}`);
    const part = createHash('sha256').update(url).digest('hex') + '.gguf.part';
    for (const e of [r.all, r.one]) {
      assert.equal(e.code, 'storage', JSON.stringify(e));
      assert.equal(e.message, `could not delete ${url} (file ${part}) from browser storage: another tab is using it (downloading or loading that model): close that tab or let its load finish, then delete again`);
      assert.deepEqual(e.details, { files: [{ url, file: part }] });
    }
    assert.deepEqual([r.bad.code, r.bad.details], ['invalid_request', { field: 'url' }], JSON.stringify(r.bad));
    // The first tab's partial download is still listed; the orphan and every other file are gone.
    assert.deepEqual(r.listed, [{ url, bytes: half, total: SIZE, partial: true }]);

    // The first tab gives up: its partial file is kept (listed); now it can be deleted.
    await page.evaluate(() => window.controller.abort());
    assert.equal((await finish(page)).code, 'aborted');
    const after = await other.evaluate(async () => {
      const before = await tabllm.listCachedModels();
      await tabllm.deleteCachedModels();
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('tabllm-models', { create: true });
      const files = [];
      for await (const name of dir.keys()) files.push(name);
      return { before, listed: await tabllm.listCachedModels(), files: files.sort() };
    });
    assert.deepEqual(after.before, [{ url, bytes: half, total: SIZE, partial: true }]);
    assert.deepEqual(after.listed, []);
    assert.ok(after.files.every((f) => f.startsWith('index.json')), `left: ${after.files}`);
  } finally {
    await other.close();
  }
});

await page.evaluate(() => tabllm.deleteCachedModels());
for (const s of stalled) s.destroy();
otherServer.closeAllConnections();
otherServer.close();
await h.done();
