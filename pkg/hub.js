// Hugging Face models by name, inside the worker (and parsed on the page):
// `hf:OWNER/REPO[@REVISION][:QUANT]` or `hf:OWNER/REPO[@REVISION]/PATH.gguf`,
// resolved through the Hub's public API to the file(s) to download and what
// identifies each (size, LFS sha256).
//
// The rules follow llama.cpp's `-hf` (common/download.cpp: `<user>/<model>[:quant]`,
// the quant matched case-insensitively as `QUANT` followed by `.` or `-` in a
// file's path, default Q4_K_M then Q8_0, mmproj / imatrix / draft files never
// taken for the model, split parts found by `-0000N-of-0000M` with the same
// prefix; `--hf-file` matched case-insensitively), with two differences: a
// quant that matches two models, or no quant given where neither default is
// there and the repo has several models, is refused with the list instead of
// taking the first; and `@REVISION` (llama.cpp's `-hf` has none) is
// huggingface_hub's `revision`, written as its `hf://` paths write it.
// Endpoints: huggingface_hub's (HF_ENDPOINT): the file list is
// `GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true`, a file
// is `{endpoint}/{repo}/resolve/{revision}/{path}` (which answers 302 to a CDN).
import { TabllmError } from './errors.js';

export const HF_PREFIX = 'hf:';
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
/** llama.cpp's default quants, in order, when the name gives none. */
const DEFAULT_QUANTS = ['Q4_K_M', 'Q8_0'];
/** Files that are GGUFs but not a model to load (llama.cpp's gguf_filename_is_model). */
const NOT_MODEL = ['mmproj', 'imatrix', 'mtp-', 'eagle3-', 'dflash-', 'dspark-'];
/** Most bytes of one page of the file list, and most pages followed (Link: rel="next"). */
const MAX_TREE_BYTES = 16 << 20;
const MAX_TREE_PAGES = 50;
/** Most files listed over all pages (the largest GGUF repos list a few hundred). */
const MAX_TREE_FILES = 100_000;
/** How long one page of the list may take before the Hub counts as unreachable (then a stored copy is used). */
const TREE_TIMEOUT_MS = 20_000;

// A repo id as the Hub allows it: OWNER/NAME of letters, digits, `-`, `_`, `.` (at most 96 each).
const ID = '[A-Za-z0-9][A-Za-z0-9._-]{0,95}';
const NAME_RE = new RegExp(`^(${ID})/(${ID})(?:@([^:/]{1,256}))?(?::([A-Za-z0-9._-]{1,64})|/(.{1,1000}\\.gguf))?$`, 'i');

/** ASCII-only lower case, as llama.cpp's (std::tolower) and src/hub's matching: `Ä` stays `Ä`. */
const lowerAscii = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** A path (or revision) with no empty, `.` or `..` segment and no control
 * character: what a name may ask for and a listing may offer (a `..` would
 * fetch outside `/resolve/` once the browser normalises the URL). */
// eslint-disable-next-line no-control-regex
const safePath = (p) => !/[\u0000-\u001f\u007f]/.test(p) && p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');

/** Whether `model` is a Hugging Face name (a string starting `hf:`). */
export const isHubName = (model) => typeof model === 'string' && model.startsWith(HF_PREFIX);

/**
 * Parses `hf:OWNER/REPO[@REVISION][:QUANT]` or `hf:OWNER/REPO[@REVISION]/PATH.gguf`
 * into `{ repo, revision, quant, file }` (revision 'main' when not given, as
 * the Hub's default branch; quant and file null when not given; REVISION may
 * be percent-encoded, e.g. `refs%2Fpr%2F1`). Throws `invalid_request`
 * (details.field 'model') for any other shape.
 */
export function parseHubName(name) {
  const m = NAME_RE.exec(name.slice(HF_PREFIX.length));
  if (!m || m[1].includes('..') || m[2].includes('..')) {
    throw new TabllmError('invalid_request', `${JSON.stringify(name)} is not a Hugging Face model name: write hf:OWNER/REPO[:QUANT] (e.g. hf:ggml-org/gemma-3-1b-it-GGUF:Q4_K_M), hf:OWNER/REPO/FILE.gguf, with @REVISION after the repo for a branch, tag or commit`, { field: 'model' });
  }
  let revision = 'main';
  if (m[3] !== undefined) {
    try {
      revision = decodeURIComponent(m[3]);
    } catch {
      throw new TabllmError('invalid_request', `the revision in ${JSON.stringify(name)} is not valid percent-encoding`, { field: 'model' });
    }
  }
  if (!safePath(revision) || (m[5] !== undefined && !safePath(m[5]))) {
    throw new TabllmError('invalid_request', `${JSON.stringify(name)} has an empty, \`.\` or \`..\` path segment or a control character in its revision or file`, { field: 'model' });
  }
  return { repo: `${m[1]}/${m[2]}`, revision, quant: m[4] ?? null, file: m[5] ?? null };
}

/** An absolute http(s) endpoint without a trailing slash; `invalid_request` naming `hfEndpoint` otherwise. */
export function checkEndpoint(endpoint) {
  let url;
  try {
    url = new URL(String(endpoint));
  } catch {
    url = null;
  }
  if (!url || !['https:', 'http:'].includes(url.protocol) || url.search || url.hash) {
    throw new TabllmError('invalid_request', `hfEndpoint must be an absolute http(s) URL such as ${DEFAULT_HF_ENDPOINT}, got ${JSON.stringify(String(endpoint))}`, { field: 'hfEndpoint' });
  }
  return url.href.replace(/\/+$/, '');
}

const encodePath = (path) => path.split('/').map(encodeURIComponent).join('/');

/** `{endpoint}/{repo}/resolve/{revision}/{path}`: where the Hub serves a file. */
export const resolveUrl = (endpoint, repo, revision, path) => `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`;

/** gguf-split's part numbers and llama.cpp's quant tag of a path:
 * `{ prefix, tag, index, count }` (index = count = 1 for a whole file;
 * tag: the last `-` / `.` separated word of the name before them, upper-cased). */
export function ggufNameInfo(path) {
  let prefix = path.replace(/\.gguf$/i, '');
  let index = 1;
  let count = 1;
  const split = /^(.+)-(\d{5})-of-(\d{5})$/i.exec(prefix);
  // gguf-split numbers parts 1 … count; other numbers are just part of a name.
  if (split && Number(split[2]) >= 1 && Number(split[2]) <= Number(split[3])) {
    prefix = split[1];
    index = Number(split[2]);
    count = Number(split[3]);
  }
  const tag = /[-.]([A-Z0-9_]+)$/i.exec(prefix)?.[1]?.toUpperCase() ?? '';
  return { prefix, tag, index, count };
}

const baseName = (path) => path.slice(path.lastIndexOf('/') + 1);
const isModelFile = (path) => /\.gguf$/i.test(path) && !NOT_MODEL.some((k) => lowerAscii(baseName(path)).includes(k));

/** Reads a response body as text, refusing one over `max` bytes. */
async function readCapped(response, max, what) {
  const reader = response.body.getReader();
  const chunks = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      reader.cancel().catch(() => {});
      throw new TabllmError('download_failed', `${what} is over ${max} bytes`, { url: response.url });
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(await new Blob(chunks).arrayBuffer());
}

/** The next page of a paginated answer, from its `Link: <url>; rel="next"` header, or null. */
const nextPage = (response) => /<([^>]+)>\s*;\s*rel="next"/.exec(response.headers.get('Link') ?? '')?.[1] ?? null;

/**
 * The repo's files at `revision` (every folder), as `[{ path, size, sha256 }]`:
 * size in bytes (the LFS object's for LFS files), sha256 the LFS object id
 * (lowercase hex) or null for a file kept in git itself. Throws
 * `download_failed` (details.status: 404 for no such repo or revision, 401 /
 * 403 for a gated or private one; details.url) or `aborted`.
 */
export async function listRepo(endpoint, repo, revision, signal, timeoutMs = TREE_TIMEOUT_MS) {
  let url = `${endpoint}/api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`;
  const files = [];
  for (let page = 0; url; page++) {
    if (page === MAX_TREE_PAGES) throw new TabllmError('download_failed', `the file list of ${repo} has over ${MAX_TREE_PAGES} pages`, { url });
    let response;
    // A Hub that takes the connection and never answers counts as unreachable.
    const timeout = AbortSignal.timeout(timeoutMs);
    const pageSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      response = await fetch(url, { cache: 'no-store', signal: pageSignal });
    } catch (e) {
      if (signal?.aborted) throw new TabllmError('aborted', 'the load was aborted');
      const why = timeout.aborted ? `no answer within ${timeoutMs / 1000} s` : e.message;
      throw new TabllmError('download_failed', `listing the files of ${repo} (${url}) failed: ${why}`, { url, retry: true });
    }
    if (!response.ok) {
      const why = response.status === 404 ? `no model repo ${repo} at revision ${revision} on ${endpoint}`
        : response.status === 401 || response.status === 403 ? `${repo} is private or gated: tabllm downloads public models only`
          : `HTTP ${response.status}`;
      throw new TabllmError('download_failed', `listing the files of ${repo} failed: ${why} (${url})`, { url, status: response.status });
    }
    let list;
    try {
      list = JSON.parse(await readCapped(response, MAX_TREE_BYTES, `the file list of ${repo}`));
    } catch (e) {
      if (e instanceof TabllmError) throw e;
      if (timeout.aborted) throw new TabllmError('download_failed', `listing the files of ${repo} (${url}) failed: no answer within ${timeoutMs / 1000} s`, { url, retry: true });
      if (signal?.aborted) throw new TabllmError('aborted', 'the load was aborted');
      throw new TabllmError('download_failed', `the file list of ${repo} (${url}) is not JSON: ${e.message}`, { url });
    }
    if (!Array.isArray(list)) throw new TabllmError('download_failed', `the file list of ${repo} (${url}) is not an array`, { url });
    for (const e of list) {
      if (e?.type !== 'file' || typeof e.path !== 'string') continue;
      if (files.length === MAX_TREE_FILES) throw new TabllmError('download_failed', `the file list of ${repo} has over ${MAX_TREE_FILES} files`, { url });
      if (!safePath(e.path)) continue; // never fetched: see safePath
      const lfs = e.lfs && typeof e.lfs === 'object' ? e.lfs : null;
      const size = Number(lfs?.size ?? e.size);
      const sha256 = typeof lfs?.oid === 'string' && /^[0-9a-f]{64}$/i.test(lfs.oid) ? lfs.oid.toLowerCase() : null;
      files.push({ path: e.path, size: Number.isSafeInteger(size) && size >= 0 ? size : null, sha256 });
    }
    const next = nextPage(response);
    url = next ? new URL(next, url).href : null;
  }
  return files;
}

/** Each distinct model of `files` (a whole file, or a split model's first part). */
const modelsOf = (files) => files.filter((f) => isModelFile(f.path) && ggufNameInfo(f.path).index === 1);

/** The quant tags of the repo's models, sorted, for error messages. */
const quantsOf = (files) => [...new Set(modelsOf(files).map((f) => ggufNameInfo(f.path).tag).filter(Boolean))].sort();

/** A list of paths for a message: at most 20, each cut to 200 characters
 * (the details keep them whole). */
function names(paths) {
  const cut = (p) => (p.length > 200 ? `${p.slice(0, 200)}…` : p);
  const shown = paths.slice(0, 20).map(cut).join(', ');
  return paths.length > 20 ? `${shown} and ${paths.length - 20} more` : shown;
}

/** Whether `path` names `quant` as llama.cpp matches it: the quant,
 * case-insensitive, followed by `.` or `-`, and here also preceded by the
 * start of the path or a `-`, `.`, `_` or `/` (so `Q4_0` is not found inside `IQ4_0`). */
function hasQuant(path, quant) {
  const q = quant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[-._/])${q}[.-]`, 'i').test(path);
}

/** Every part of the split model whose first part is `first`, ordered by
 * part number; `invalid_model` naming what is missing when the repo lacks one. */
function partsOf(files, first, repo) {
  const info = ggufNameInfo(first.path);
  if (info.count === 1) return [first];
  // Each file's part key once (the first listed wins, as a search in list order would): linear in the list.
  const byPart = new Map();
  for (const f of files) {
    const i = ggufNameInfo(f.path);
    const key = `${i.prefix}\u0000${i.count}\u0000${i.index}`;
    if (i.count === info.count && i.prefix === info.prefix && !byPart.has(key)) byPart.set(key, f);
  }
  const parts = [];
  for (let k = 1; k <= info.count; k++) {
    const part = byPart.get(`${info.prefix}\u0000${info.count}\u0000${k}`);
    if (!part) {
      throw new TabllmError('invalid_model', `${repo} has part 1 of ${info.count} of ${baseName(first.path)} but not part ${k} (${info.prefix}-${String(k).padStart(5, '0')}-of-${String(info.count).padStart(5, '0')}.gguf)`, { repo, file: first.path });
    }
    parts.push(part);
  }
  return parts;
}

/**
 * Picks the model of `files` (listRepo's) that `name` (parseHubName's) asks
 * for: its files in part order, `[{ path, size, sha256 }]`. Refuses with
 * `invalid_request` (details: { field: 'model', repo, reason, quants, files }):
 * reason 'no_such_file' (the file is not in the repo), 'no_such_quant' (no
 * model file has the quant), 'ambiguous_quant' (several models have it, or no
 * quant was given, neither default is there and the repo has several models:
 * `files` then lists them), 'no_model' (no GGUF model at all); `quants`: the
 * quant tags the repo has. A file naming a later part of a split model is
 * refused with `invalid_model` (give the first part).
 */
export function pickModel(files, { repo, revision, quant, file }) {
  const models = modelsOf(files);
  const quants = quantsOf(files);
  const has = quants.length ? `it has ${names(quants)}` : 'it has no quant-named model files';
  const refuse = (reason, message, listed = models.map((f) => f.path)) => new TabllmError('invalid_request', message, { field: 'model', repo, revision, reason, quants, files: listed });
  let first;
  if (file !== null) {
    first = files.find((f) => lowerAscii(f.path) === lowerAscii(file));
    if (!first) throw refuse('no_such_file', `${repo}@${revision} has no file ${file}; its GGUF models: ${names(models.map((f) => f.path)) || 'none'}`);
    const info = ggufNameInfo(first.path);
    if (info.index !== 1) {
      throw new TabllmError('invalid_model', `${first.path} is part ${info.index} of ${info.count} of a split model: give its first part (${info.prefix}-00001-of-${String(info.count).padStart(5, '0')}.gguf)`, { repo, file: first.path, part: info.index, parts: info.count });
    }
  } else {
    if (models.length === 0) throw refuse('no_model', `${repo}@${revision} has no GGUF model file`, []);
    for (const q of quant === null ? DEFAULT_QUANTS : [quant]) {
      const matches = models.filter((f) => hasQuant(f.path, q));
      if (matches.length > 1) {
        throw refuse('ambiguous_quant', `${q} names ${matches.length} models in ${repo}: ${names(matches.map((f) => f.path))}; give one as hf:${repo}/FILE.gguf`, matches.map((f) => f.path));
      }
      if (matches.length === 1) {
        first = matches[0];
        break;
      }
    }
    if (!first && quant !== null) throw refuse('no_such_quant', `${repo} has no ${quant} model: ${has}`);
    if (!first && models.length === 1) first = models[0];
    if (!first) {
      throw refuse('ambiguous_quant', `${repo} has no ${DEFAULT_QUANTS.join(' or ')} model to take by default and ${models.length} others: give a quant (hf:${repo}:QUANT; ${has})`);
    }
  }
  return partsOf(files, first, repo);
}

/**
 * Resolves a Hugging Face name to what the load fetches: `{ repo, revision,
 * file, endpoint, parts: [{ url, path, size, sha256 }] }` (`file`: the first
 * part's path; parts in order). `timeoutMs`: how long a page of the list may
 * take (default 20 s). Throws as parseHubName, listRepo and pickModel do.
 */
export async function resolveHubModel(name, endpoint, signal, timeoutMs = TREE_TIMEOUT_MS) {
  const parsed = parseHubName(name);
  return resolveFrom(parsed, endpoint, await listRepo(endpoint, parsed.repo, parsed.revision, signal, timeoutMs));
}

/** What identifies a name's resolution: repo, revision, quant (uppercased, as
 * it matches any case) and file; the same for `hf:a/b:q4_0` and `hf:a/b:Q4_0`. */
export function hubNameKey(name) {
  const { repo, revision, quant, file } = parseHubName(name);
  return JSON.stringify([repo, revision, quant?.toUpperCase() ?? null, file]);
}

/**
 * Resolves a Hugging Face name to the copy kept in browser storage: what the
 * load takes when the Hub cannot be asked (llama.cpp's `-hf` uses its cached
 * copy offline too). `files` (`[{ path, size, sha256 }]`, cache.js
 * cachedHubFiles) are the stored files that this name resolved to when it
 * was last loaded online, so it picks the file it picked then (never another
 * that the rules would pick from a smaller list). Throws `invalid_request` as
 * pickModel does when no whole copy is stored.
 */
export function resolveHubOffline(name, endpoint, files) {
  const parsed = parseHubName(name);
  const first = modelsOf(files)[0];
  return resolveFrom({ ...parsed, quant: null, file: first?.path ?? parsed.file ?? '' }, endpoint, files);
}

function resolveFrom(parsed, endpoint, files) {
  const picked = pickModel(files, parsed);
  return {
    repo: parsed.repo,
    revision: parsed.revision,
    file: picked[0].path,
    endpoint,
    parts: picked.map((f) => ({ url: resolveUrl(endpoint, parsed.repo, parsed.revision, f.path), path: f.path, size: f.size, sha256: f.sha256 })),
  };
}
