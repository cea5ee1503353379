// A local imitation of the Hugging Face Hub, for tests/browser/hub.mjs: two
// origins on 127.0.0.1, as the real path has them.
//  - The API + `resolve` origin (huggingface.co): `GET /api/models/{repo}/tree/{revision}`
//    lists a repo's files (path, size, lfs.oid = sha256), a few per page with
//    `Link: <…>; rel="next"` as the Hub paginates; `GET|HEAD /{repo}/resolve/{revision}/{path}`
//    answers 302 to the CDN, with X-Linked-Etag ("sha256") and X-Linked-Size,
//    and CORS that lets any page read it (answers preflights too).
//  - The CDN origin: `/blobs/{sha256}` with Range (`bytes=a-`, `bytes=a-b`),
//    CORS (`Access-Control-Allow-Origin: *`, Content-Range / ETag / Content-Encoding
//    exposed), its own ETag per blob, and OPTIONS answered 405 (a CDN need not
//    answer preflights: huggingface/datasets #7931). It never honours If-Range.
// Every request to either is logged: origin ('api' | 'cdn'), method, path,
// the Range / If-Range / Origin / Access-Control-Request-Headers it carried,
// status, body bytes sent and whether it was cut. One-shot faults per blob
// (`faults.get(sha256)`, each used by the first GET that comes): { drop: n }
// (close the connection after n body bytes, once the page has read them),
// { ignoreRange: true } (200 and the whole file to a Range request), { gzip: true }
// (the body gzip-compressed, Content-Encoding: gzip), { chunked: true } (no
// Content-Length), { contentRange: s } (a 206 says s instead), { extra: n }
// (n bytes more than the file, with a Content-Length saying so); `then()`
// runs when a drop strikes. A sha256 in `down` has every request refused
// (the connection closed before an answer); so has every request to the API
// origin while `offline(true)` is in force (the Hub unreachable, the CDN not);
// while `stall(true)` is, the API origin takes each request and never answers.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
/** Git's blob id of the bytes, as the tree API's `oid`. */
const gitOid = (bytes) => createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
/** Most entries per page of the file list: small, so pagination is exercised. */
const PAGE_SIZE = 3;
/** How long a dropped connection stays open after its last byte left, in ms (the page reads them first). */
const DROP_AFTER_MS = 300;
const CHUNK = 64 * 1024;

async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

/** Starts both origins: `{ api, cdn, setFile, removeFile, blobOf, faults, down, offline, stall, log, close }`. */
export async function startHub() {
  const repos = new Map(); // 'owner/name' -> Map(revision -> Map(path -> { sha256, size, listedSize }))
  const blobs = new Map(); // sha256 -> Buffer
  const faults = new Map(); // sha256 -> [fault]
  const down = new Set(); // sha256
  let apiDown = false;
  let apiStall = false;
  const log = [];
  let cdnOrigin = null;

  const record = (origin, req) => {
    const rec = {
      origin, method: req.method, path: decodeURIComponent(new URL(req.url, 'http://x').pathname),
      range: req.headers.range ?? null, ifRange: req.headers['if-range'] ?? null,
      from: req.headers.origin ?? null, preflightHeaders: req.headers['access-control-request-headers'] ?? null,
      status: null, sent: 0, cut: null,
    };
    log.push(rec);
    return rec;
  };

  const api = await listen((req, res) => {
    const rec = record('api', req);
    if (apiDown) {
      rec.cut = 'offline';
      return req.socket.destroy();
    }
    if (apiStall) {
      rec.cut = 'stalled';
      return undefined; // the request stays open; close() ends it
    }
    const cors = {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Expose-Headers': 'X-Linked-Etag, X-Linked-Size, ETag, Link, Content-Range, Accept-Ranges, X-Repo-Commit',
    };
    const answer = (status, headers = {}, body = '') => {
      rec.status = status;
      res.writeHead(status, { ...cors, ...headers }).end(body);
    };
    if (req.method === 'OPTIONS') return answer(204, { 'Access-Control-Allow-Headers': 'Range, If-Range, Authorization', 'Access-Control-Allow-Methods': 'GET, HEAD' });
    const url = new URL(req.url, 'http://x');
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree && req.method === 'GET') {
      const files = repos.get(tree[1])?.get(decodeURIComponent(tree[2]));
      if (!files) return answer(404, { 'Content-Type': 'application/json' }, JSON.stringify({ error: 'Repository not found' }));
      // Folders first, as the Hub lists them, then files; recursive=true lists every folder's files.
      const recursive = url.searchParams.get('recursive') === 'true';
      const dirs = new Set();
      for (const path of files.keys()) for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) dirs.add(path.slice(0, i));
      const entries = [
        ...[...dirs].filter((d) => recursive || !d.includes('/')).map((path) => ({ type: 'directory', oid: gitOid(Buffer.from(path)), size: 0, path })),
        ...[...files].filter(([path]) => recursive || !path.includes('/')).map(([path, f]) => ({
          type: 'file', oid: gitOid(blobs.get(f.sha256)), size: f.listedSize, path,
          lfs: { oid: f.sha256, size: f.listedSize, pointerSize: 134 },
        })),
      ];
      const from = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(from, from + PAGE_SIZE);
      const headers = { 'Content-Type': 'application/json' };
      if (from + PAGE_SIZE < entries.length) {
        const next = new URL(url.pathname, api.origin);
        next.search = url.search;
        next.searchParams.set('cursor', String(from + PAGE_SIZE));
        headers.Link = `<${next.href}>; rel="next"`;
      }
      return answer(200, headers, JSON.stringify(page));
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve && (req.method === 'GET' || req.method === 'HEAD')) {
      const f = repos.get(resolve[1])?.get(decodeURIComponent(resolve[2]))?.get(decodeURIComponent(resolve[3]));
      if (!f) return answer(404, { 'X-Error-Code': 'EntryNotFound' }, 'Entry not found');
      // A signed, expiring CDN URL, as the Hub's redirects carry.
      const location = `${cdnOrigin}/blobs/${f.sha256}?X-Amz-Expires=3600&X-Amz-Signature=${sha256(String(Date.now())).slice(0, 16)}`;
      return answer(302, {
        Location: location, 'X-Linked-Etag': `"${f.sha256}"`, 'X-Linked-Size': String(f.size), ETag: `"${gitOid(blobs.get(f.sha256))}"`,
        'Content-Type': 'text/plain; charset=utf-8',
      }, `Found. Redirecting to ${location}`);
    }
    return answer(404, {}, 'not found');
  });

  const cdn = await listen((req, res) => {
    const rec = record('cdn', req);
    const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Range, ETag, Accept-Ranges, Content-Encoding' };
    if (req.method === 'OPTIONS') {
      rec.status = 405;
      return res.writeHead(405, { Allow: 'GET, HEAD' }).end('Method Not Allowed');
    }
    const sha = /^\/blobs\/([0-9a-f]{64})$/.exec(rec.path)?.[1];
    const blob = sha && blobs.get(sha);
    if (!blob) {
      rec.status = 404;
      return res.writeHead(404, cors).end('NoSuchKey');
    }
    if (down.has(sha)) {
      rec.status = 'refused';
      return req.socket.destroy();
    }
    const fault = req.method === 'GET' ? (faults.get(sha) ?? []).find((f) => !f.used) : null;
    if (fault) fault.used = true;
    let body = fault?.extra ? Buffer.concat([blob, Buffer.alloc(fault.extra)]) : blob;
    const size = blob.length;
    const headers = { ...cors, 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ETag: `"cdn-${sha.slice(0, 24)}"`, 'Last-Modified': 'Tue, 02 Dec 2025 10:00:00 GMT' };
    let status = 200;
    const range = fault?.ignoreRange ? null : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
      if (start > end) {
        rec.status = 416;
        return res.writeHead(416, { ...cors, 'Content-Range': `bytes */${size}` }).end();
      }
      status = 206;
      headers['Content-Range'] = fault?.contentRange ?? `bytes ${start}-${end}/${size}`;
      body = body.subarray(start, end + 1);
    }
    if (fault?.gzip) {
      body = gzipSync(body);
      headers['Content-Encoding'] = 'gzip';
    }
    if (!fault?.chunked) headers['Content-Length'] = String(body.length);
    rec.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return res.end();
    const limit = fault?.drop ?? Infinity;
    let at = 0;
    const pump = () => {
      while (at < body.length) {
        const n = Math.min(CHUNK, body.length - at, limit - rec.sent);
        if (n <= 0) {
          rec.cut = 'dropped';
          setTimeout(() => {
            res.socket?.destroy();
            fault.then?.();
          }, DROP_AFTER_MS);
          return;
        }
        const piece = body.subarray(at, at + n);
        at += n;
        rec.sent += n;
        if (!res.write(piece)) return res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => {
      if (!res.writableFinished && !rec.cut) rec.cut = 'closed by the client';
    });
    pump();
  });
  cdnOrigin = cdn.origin;

  return {
    api: api.origin,
    cdn: cdn.origin,
    faults,
    down,
    log,
    /** While `on`, the API + resolve origin closes every connection unanswered. */
    offline(on) {
      apiDown = on;
    },
    /** While `on`, the API + resolve origin never answers (the connection stays open). */
    stall(on) {
      apiStall = on;
    },
    /** Puts `bytes` at `path` of `repo` at `revision` (default main); the file
     * list says `listedSize` (default: its size). Returns its sha256. */
    setFile(repo, path, bytes, { revision = 'main', listedSize } = {}) {
      const sha = sha256(bytes);
      blobs.set(sha, bytes);
      if (!repos.has(repo)) repos.set(repo, new Map());
      if (!repos.get(repo).has(revision)) repos.get(repo).set(revision, new Map());
      repos.get(repo).get(revision).set(path, { sha256: sha, size: bytes.length, listedSize: listedSize ?? bytes.length });
      return sha;
    },
    /** The sha256 of `path` in `repo` at `revision` now. */
    blobOf: (repo, path, revision = 'main') => repos.get(repo).get(revision).get(path).sha256,
    close() {
      for (const s of [api.server, cdn.server]) {
        s.closeAllConnections();
        s.close();
      }
    },
  };
}

/** The log's lines, as the closing note quotes them. */
export const describe = (r) => `${r.origin.toUpperCase()} ${r.method} ${r.path} Range: ${r.range ?? '-'} If-Range: ${r.ifRange ?? '-'} Origin: ${r.from ?? '-'} -> ${r.status}, ${r.sent} body bytes${r.cut ? ` (${r.cut})` : ''}`;
