// A static file server for the page, the wasm package and the models, on
// 127.0.0.1 only, with what a resumable download needs: HTTP Range, ETag and
// Last-Modified, If-Range (a validator that does not match gets the whole
// file, 200) and HEAD; the page cross-origin isolated (see `ISOLATION`).
// Usage: node scripts/serve.mjs [port] [--no-isolation]
// Importable: tests build their own server around `createHandler` / `sendFile`.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.json': 'application/json', '.css': 'text/css',
  '.gguf': 'application/octet-stream', '.png': 'image/png', '.svg': 'image/svg+xml',
};

// Same-origin code and data only; models may also come from any https URL the
// user gives. Nothing can be posted anywhere else (no forms, no other hosts over http).
const PAGE_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' https: blob:; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'";

/**
 * Cross-origin isolation, which `SharedArrayBuffer` (and so the CPU backend's
 * threads: several workers on one shared `WebAssembly.Memory`) needs:
 * `crossOriginIsolated` is true in a document served with COOP `same-origin`
 * and COEP `require-corp`. A dedicated worker's script needs COEP too:
 * Chromium blocks a worker whose response has none when its creator has COEP
 * (DevTools issue CoepDedicatedWorkerNeedsCoepHeader; the engine's worker
 * fails to start here without it); so both go on every document and script
 * (.html, .js, .mjs).
 * Under `require-corp` every subresource must be same-origin, CORS, or carry
 * CORP: every response here carries CORP `same-origin` (no other site may
 * embed these files). `require-corp`, not `credentialless`: WebKit has no
 * `credentialless` (MDN browser-compat-data: Safari "version_added": false;
 * WebKit bug 230550): WebKitGTK 2.50.6 leaves a page that sends it
 * unisolated, where Chromium 156 and Firefox ESR 153 isolate it. The page
 * loads nothing cross-origin but CORS-mode fetches (models), so it gains
 * nothing from `credentialless`.
 */
export const ISOLATION = {
  document: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  every: { 'Cross-Origin-Resource-Policy': 'same-origin' },
};

/** The file's validators: a strong ETag from its size and mtime, and its Last-Modified date. */
export function validators(st) {
  return { etag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`, lastModified: st.mtime.toUTCString() };
}

/**
 * Answers a GET or HEAD for the file at `path` (an absolute path, already
 * checked to be servable): 200 with the whole file, 206 for one `Range:
 * bytes=a-b` (or `a-`, `-n`) when If-Range is absent or names this version,
 * 416 for a range past the end, 404 when there is no such file. `headers` are
 * added to the response.
 */
export function sendFile(req, res, path, headers = {}) {
  let st;
  try {
    st = statSync(path);
    if (!st.isFile()) throw new Error('not a file');
  } catch {
    return res.writeHead(404).end('not found');
  }
  const size = st.size;
  const { etag, lastModified } = validators(st);
  const base = {
    'Content-Type': types[extname(path)] ?? 'application/octet-stream', 'Accept-Ranges': 'bytes', 'Cache-Control': 'no-cache',
    ETag: etag, 'Last-Modified': lastModified, ...headers,
  };
  const ifRange = req.headers['if-range'];
  // If-Range names the version the client has: another version gets the whole file.
  const sameVersion = ifRange === undefined || ifRange === etag || ifRange === lastModified;
  const range = sameVersion ? /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '') : null;
  if (range) {
    const start = range[1] === '' ? size - Number(range[2]) : Number(range[1]);
    const end = range[1] === '' || range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
    if (!(start >= 0 && start <= end)) return res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
    res.writeHead(206, { ...base, 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
    if (req.method === 'HEAD') return res.end();
    return createReadStream(path, { start, end }).pipe(res);
  }
  res.writeHead(200, { ...base, 'Content-Length': size });
  if (req.method === 'HEAD') return res.end();
  createReadStream(path).pipe(res);
}

/**
 * The request handler serving `root` (default: the repository): `/` goes to
 * the page. `isolated` (default true) sends `ISOLATION`'s headers; false
 * serves as a site without them (the page is then not cross-origin isolated
 * and the CPU backend has one thread): `node scripts/serve.mjs PORT
 * --no-isolation`, or `start({ isolated: false })` in tests/browser/harness.mjs.
 */
export function createHandler({ root = repoRoot, isolated = true } = {}) {
  return (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/') {
      res.writeHead(302, { Location: '/www/index.html' + url.search }).end();
      return;
    }
    const path = normalize(join(root, decodeURIComponent(url.pathname)));
    if (!path.startsWith(root + '/')) return res.writeHead(403).end();
    // The page's meta CSP does not reach its Web Worker: a worker takes the CSP
    // of its own script's response. Send it for the page and the package.
    const script = /\.(html|m?js)$/.test(path);
    const csp = /^\/(www|pkg)\//.test(url.pathname) && script;
    sendFile(req, res, path, {
      ...(csp ? { 'Content-Security-Policy': PAGE_CSP } : {}),
      ...(isolated ? ISOLATION.every : {}),
      ...(isolated && script ? ISOLATION.document : {}),
    });
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const isolated = !args.includes('--no-isolation');
  const port = Number(args.find((a) => !a.startsWith('--')) ?? process.env.PORT ?? 8080);
  createServer(createHandler({ isolated })).listen(port, '127.0.0.1', () =>
    console.log(`serving ${repoRoot} on http://127.0.0.1:${port}/${isolated ? ' (cross-origin isolated)' : ' (not cross-origin isolated)'}`));
}
