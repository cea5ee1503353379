// The page under cross-origin isolation (issue 29: the CPU backend's threads
// need `crossOriginIsolated`). scripts/serve.mjs's createHandler sends COOP
// and COEP on documents and scripts and CORP on every response: its headers
// as sent; the chat page (a model loaded by the engine's worker, the CPU
// backend on its threads' workers), the Documents tab (a second engine for
// embeddings, and pdf.js's worker reading a PDF) and the bench page are
// `crossOriginIsolated`, with no request failed and no console message about
// a blocked resource; a model on another origin
// loads when its server sends CORS and fails, as it does on an unisolated
// page, when it sends none; `createHandler({ isolated: false })` serves the
// same page unisolated, and it works there too, on one thread.
// Usage: node tests/browser/isolation.mjs   (after scripts/build-web.sh and
// `npm ci` in www/ and tests/browser/).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { shared, start, tinyPdf } from './harness.mjs';
import { ISOLATION, createHandler, sendFile } from '../../scripts/serve.mjs';

const TINY = '/models/tiny-llama-q4_0.gguf';
const EMBED = '/tests/reference/tiny/tiny-llamaemb_mean-q8_0.gguf';
const HEADERS = { ...ISOLATION.document, ...ISOLATION.every };
/** A console message that says a resource was blocked by COEP / CORP / CORS. */
const BLOCKED = /Cross-Origin|COEP|CORP|Embedder|Resource-Policy|ERR_BLOCKED/i;

// A model server on another origin: /cors/* with CORS (as Hugging Face sends
// it), /plain/* with none.
const other = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const cors = path.startsWith('/cors/') ? { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Length, Content-Range, ETag' } : {};
  if (req.method === 'OPTIONS') return res.writeHead(204, { ...cors, 'Access-Control-Allow-Headers': 'Range' }).end();
  sendFile(req, res, join(shared, 'tiny/tiny-llama-q4_0.gguf'), cors);
});
await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
const OTHER = `http://127.0.0.1:${other.address().port}`;

// The package's test page, isolated as the repository's pages are (or not,
// with ?isolated=0); the worker's CSP (scripts/serve.mjs) widened to reach OTHER.
const PAGE = `<!doctype html><meta charset="utf-8"><body><script type="module">
import * as tabllm from '/pkg/tabllm.js';
window.tabllm = tabllm;
document.body.dataset.ready = '1';
</script>`;
function wrap(serve) {
  return (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/isolation-test.html') {
      const headers = url.searchParams.get('isolated') === '0' ? {} : HEADERS;
      return res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', ...headers }).end(PAGE);
    }
    const writeHead = res.writeHead.bind(res);
    res.writeHead = (status, headers, ...rest) => {
      const csp = headers?.['Content-Security-Policy'];
      if (csp) headers = { ...headers, 'Content-Security-Policy': csp.replace("connect-src 'self'", `connect-src 'self' ${OTHER}`) };
      return writeHead(status, headers, ...rest);
    };
    return serve(req, res);
  };
}
const h = await start({ handler: wrap(createHandler()) });
const unisolated = createServer(wrap(createHandler({ isolated: false })));
await new Promise((resolve) => unisolated.listen(0, '127.0.0.1', resolve));
const UNISOLATED = `http://127.0.0.1:${unisolated.address().port}`;

/** A page in a fresh context at `url`, recording failed requests, console
 * messages about blocked resources (the page's and its workers') and the
 * URLs of the workers it starts. */
async function open(url) {
  const context = await h.browser.newContext({ userAgent: 'tabllm-test' });
  const problems = [];
  context.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  context.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  const page = await context.newPage();
  const note = (text) => {
    console.log(`[page] ${text}`);
    if (BLOCKED.test(text)) problems.push(`console: ${text}`);
  };
  page.on('console', (m) => note(m.text()));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const workers = [];
  page.on('worker', (w) => {
    workers.push(w.url());
    w.on('console', (m) => note(m.text()));
  });
  await page.goto(url);
  return { context, page, problems, workers };
}
const isolated = (page) => page.evaluate(() => globalThis.crossOriginIsolated);
async function waitReady(page) {
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 120_000 });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state === 'error') throw new Error(`page error: ${await page.textContent('#error-text')}`);
}

await h.check('createHandler sends COOP/COEP on documents and scripts, CORP on everything; { isolated: false } sends none', async () => {
  const paths = ['/www/index.html', '/www/bench.html', '/www/chat.js', '/www/ui/doc-files.js', '/pkg/tabllm.js', '/pkg/worker.js',
    '/pkg/wasm/tabllm_bg.wasm', '/www/node_modules/pdfjs-dist/build/pdf.worker.min.mjs', '/www/favicon.svg', '/www/app.css', TINY];
  for (const path of paths) {
    const script = /\.(html|m?js)$/.test(path);
    const got = (await fetch(h.origin + path, { method: 'HEAD' })).headers;
    assert.equal(got.get('cross-origin-resource-policy'), 'same-origin', path);
    assert.equal(got.get('cross-origin-opener-policy'), script ? 'same-origin' : null, path);
    assert.equal(got.get('cross-origin-embedder-policy'), script ? 'require-corp' : null, path);
    const plain = (await fetch(UNISOLATED + path, { method: 'HEAD' })).headers;
    for (const name of ['cross-origin-resource-policy', 'cross-origin-opener-policy', 'cross-origin-embedder-policy']) assert.equal(plain.get(name), null, `${path} ${name}`);
  }
});

await h.check('the chat page is cross-origin isolated; a model, the Documents tab (an embedding engine, pdf.js and its worker) load with nothing blocked', async () => {
  const { context, page, problems, workers } = await open(`${h.origin}/www/index.html?model=${TINY}&embed=${EMBED}&max_tokens=4&context=200`);
  try {
    assert.equal(await isolated(page), true);
    await waitReady(page);
    // SwiftShader: the CPU backend, on its threads' workers where there are cores for them.
    const { threads, cores } = await page.evaluate(() => ({ threads: window.tabllmPage.engine.info.threads, cores: navigator.hardwareConcurrency }));
    console.log(`  ${cores} cores; engine.info.threads ${JSON.stringify(threads)}`);
    // The default (pkg/worker.js chooseThreads): min(4, ⌈cores / 2⌉).
    assert.deepEqual(threads, { count: Math.min(4, Math.ceil(cores / 2)), reason: `the default for ${cores} logical core(s)` });
    if (threads.count >= 2) assert.ok(workers.some((u) => u.endsWith('/pkg/cpu-threads-worker.js')), `no CPU threads worker: ${workers}`);
    await page.click('#tab-documents');
    await page.waitForFunction(() => /ready|loaded|Ready/.test(document.getElementById('embed-status').textContent) || document.getElementById('embed-name').textContent !== 'none', null, { timeout: 60_000 });
    const text = await page.evaluate(async (pdf) => {
      const { readDocument } = await import('/www/ui/doc-files.js');
      const bytes = Uint8Array.from(pdf, (c) => c.charCodeAt(0));
      const r = await readDocument(new File([bytes], 'isolated.pdf', { type: 'application/pdf' }));
      return r.text ?? r.reason;
    }, tinyPdf(['Read under COEP']));
    assert.match(text, /Read under COEP/);
    await page.waitForTimeout(500); // a late console message or failed request
    console.log(`  workers: ${workers.map((u) => new URL(u).pathname).join(', ')}`);
    assert.ok(workers.some((u) => u.endsWith('/pkg/worker.js')), `no engine worker: ${workers}`);
    assert.ok(workers.some((u) => u.endsWith('/pdf.worker.min.mjs')), `pdf.js ran without its worker: ${workers}`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

await h.check('the bench page is cross-origin isolated and sizes its catalog through the engine with nothing blocked', async () => {
  const { context, page, problems } = await open(`${h.origin}/www/bench.html`);
  try {
    assert.equal(await isolated(page), true);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    assert.equal(await page.getAttribute('#catalog', 'data-state'), 'done', await page.textContent('#catalog'));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

for (const [origin, name, expected] of [[h.origin, 'an isolated', true], [UNISOLATED, 'an unisolated', false]]) {
  await h.check(`${name} page: a model from another origin loads with CORS and fails (download_failed) without`, async () => {
    const { context, page } = await open(`${origin}/isolation-test.html?isolated=${expected ? 1 : 0}`);
    try {
      await page.waitForSelector('body[data-ready]', { state: 'attached' });
      assert.equal(await isolated(page), expected);
      const r = await page.evaluate(async (other) => {
        const load = async (model) => {
          try {
            const engine = await tabllm.createEngine({ model, backend: 'cpu', context: 64, cache: false });
            const name = engine.info.name;
            await engine.unload();
            return { ok: name };
          } catch (e) {
            return { code: e.code, message: e.message };
          }
        };
        return { cors: await load(`${other}/cors/tiny.gguf`), plain: await load(`${other}/plain/tiny.gguf`) };
      }, OTHER);
      assert.ok(r.cors.ok, JSON.stringify(r.cors));
      assert.equal(r.plain.code, 'download_failed', JSON.stringify(r.plain));
    } finally {
      await context.close();
    }
  });
}

await h.check('createHandler({ isolated: false }): the chat page is not isolated and still loads a model', async () => {
  const { context, page, problems } = await open(`${UNISOLATED}/www/index.html?model=${TINY}&max_tokens=4&context=200`);
  try {
    assert.equal(await isolated(page), false);
    await waitReady(page);
    const threads = await page.evaluate(() => window.tabllmPage.engine.info.threads);
    assert.deepEqual(threads, { count: 1, reason: 'the page is not cross-origin isolated (COOP/COEP), so it has no shared memory: one thread' });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

unisolated.closeAllConnections();
unisolated.close();
other.closeAllConnections();
other.close();
await h.done();
