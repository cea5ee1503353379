// Where model bytes come from, inside the worker: a URL (fetched as a stream,
// or read back from the browser's origin-private file system when it was
// downloaded before), a File / Blob, or the parts of a split GGUF. Each part
// is handed over as a ReadableStream of Uint8Array chunks, so no model file is
// ever held whole in memory.
import { TabllmError } from './errors.js';

const CACHE_DIR = 'tabllm-models';
const INDEX_FILE = 'index.json';
// Tabs of one origin share the index: each read-modify-write holds this Web Lock.
const INDEX_LOCK = 'tabllm-models-index';
const SPLIT_RE = /-(\d{5})-of-(\d{5})\.gguf$/;

/** The list of parts: URLs as strings (absolute), Blobs as they are. */
export function expandParts(model, base) {
  const list = Array.isArray(model) ? model : [model];
  if (list.length === 0) throw new TabllmError('invalid_request', 'no model given');
  const parts = list.map((m) => (m instanceof Blob ? m : new URL(String(m), base).href));
  // A URL naming the first part of a split model brings the others.
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const m = SPLIT_RE.exec(new URL(parts[0]).pathname);
    if (m && Number(m[1]) === 1) {
      const n = Number(m[2]);
      const pad = (i) => String(i).padStart(5, '0');
      for (let i = 2; i <= n; i++) parts.push(parts[0].replace(SPLIT_RE, `-${pad(i)}-of-${m[2]}.gguf`));
    }
  }
  // Files picked together: order by their split number when they have one.
  if (parts.every((p) => p instanceof Blob && typeof p.name === 'string' && SPLIT_RE.test(p.name))) {
    parts.sort((a, b) => Number(SPLIT_RE.exec(a.name)[1]) - Number(SPLIT_RE.exec(b.name)[1]));
  }
  return parts;
}

export function partName(part) {
  return part instanceof Blob ? part.name ?? 'blob' : decodeURIComponent(new URL(part).pathname.split('/').pop());
}

async function cacheDir() {
  if (!navigator.storage?.getDirectory) return null;
  try {
    return await (await navigator.storage.getDirectory()).getDirectoryHandle(CACHE_DIR, { create: true });
  } catch {
    return null; // e.g. a private window without storage
  }
}

async function cacheKey(url) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(url));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') + '.gguf';
}

async function readIndex(dir) {
  try {
    return JSON.parse(await (await (await dir.getFileHandle(INDEX_FILE)).getFile()).text());
  } catch {
    return {};
  }
}

/** Replaces the index: written whole to a scratch file, then renamed over
 * the old one, so a reader never sees half of it. */
async function writeIndex(dir, index) {
  const bytes = new TextEncoder().encode(JSON.stringify(index));
  const scratch = await dir.getFileHandle(INDEX_FILE + '.tmp', { create: true });
  const h = await scratch.createSyncAccessHandle();
  try {
    h.truncate(0);
    h.write(bytes, { at: 0 });
    h.flush();
  } finally {
    h.close();
  }
  await scratch.move(INDEX_FILE);
}

/** Reads the index, lets `change` edit it, writes it back: under a Web Lock
 * shared by every tab of this origin, so two tabs never lose each other's entries. */
async function updateIndex(dir, change) {
  const update = async () => {
    const index = await readIndex(dir);
    await change(index);
    await writeIndex(dir, index);
  };
  return navigator.locks ? navigator.locks.request(INDEX_LOCK, update) : update();
}

/** Cached files: [{url, bytes}]. */
export async function listCached() {
  const dir = await cacheDir();
  if (!dir) return [];
  const index = await readIndex(dir);
  return Object.values(index);
}

/** Removes one cached URL, or all of them. */
export async function deleteCached(url) {
  const dir = await cacheDir();
  if (!dir) return;
  await updateIndex(dir, async (index) => {
    for (const [key, entry] of Object.entries(index)) {
      if (url !== undefined && entry.url !== new URL(url, self.location.href).href) continue;
      await dir.removeEntry(key).catch(() => {});
      await dir.removeEntry(key + '.part').catch(() => {});
      delete index[key];
    }
  });
}

/** Writes a download into OPFS as it streams; the file gets its final name
 * (and an index entry) only once every byte arrived. */
class CacheWriter {
  static async open(dir, key, faults) {
    const fh = await dir.getFileHandle(key + '.part', { create: true });
    const handle = await fh.createSyncAccessHandle();
    handle.truncate(0);
    return new CacheWriter(dir, key, fh, handle, faults);
  }
  constructor(dir, key, fh, handle, faults) {
    Object.assign(this, { dir, key, fh, handle, faults, at: 0, failed: null });
  }
  write(chunk) {
    if (this.failed) return;
    try {
      this.at += this.handle.write(chunk, { at: this.at });
    } catch (e) {
      this.failed = e; // quota: go on loading without the cache
      this.abort();
    }
  }
  /** Stores the finished file; throws what failed (the load itself has succeeded by then). */
  async commit(url) {
    if (this.failed) throw this.failed;
    this.handle.flush();
    this.handle.close();
    // Test-only (EngineOptions.testFaults, tests/browser/package.mjs): as a full disk would.
    if (this.faults?.cacheCommit) throw new DOMException('test fault: writing the cache failed', 'QuotaExceededError');
    await this.fh.move(this.key);
    await updateIndex(this.dir, (index) => {
      index[this.key] = { url, bytes: this.at };
    });
  }
  abort() {
    try {
      this.handle.close();
    } catch {
      // already closed
    }
    this.dir.removeEntry(this.key + '.part').catch(() => {});
  }
}

/**
 * Opens one part: `{ stream, size, origin, commit, abort }` where origin is
 * 'file' | 'cache' | 'download', `commit()` stores a finished download in the
 * cache (resolving to `{ error }` when it was not kept: the writer failed or
 * could not start), and `abort()` drops a partial one.
 */
export async function openPart(part, { cache, signal, testFaults }) {
  if (part instanceof Blob) {
    return { stream: part.stream(), size: part.size, origin: 'file', commit: async () => null, abort() {} };
  }
  const dir = cache ? await cacheDir() : null;
  const key = dir ? await cacheKey(part) : null;
  if (dir) {
    try {
      const file = await (await dir.getFileHandle(key)).getFile();
      return { stream: file.stream(), size: file.size, origin: 'cache', commit: async () => null, abort() {} };
    } catch {
      // not cached yet
    }
  }
  let response;
  try {
    response = await fetch(part, { signal });
  } catch (e) {
    if (signal?.aborted) throw new TabllmError('aborted', 'the load was aborted');
    throw new TabllmError('download_failed', `download of ${part} failed: ${e.message}`, { url: part });
  }
  if (!response.ok || !response.body) {
    throw new TabllmError('download_failed', `download of ${part} failed: HTTP ${response.status} ${response.statusText}`.trim(), { url: part, status: response.status });
  }
  const length = Number(response.headers.get('Content-Length'));
  const size = response.headers.get('Content-Encoding') || !(length > 0) ? null : length;
  let writer = null;
  let openError = null;
  if (dir) {
    try {
      writer = await CacheWriter.open(dir, key, testFaults);
    } catch (e) {
      openError = `${e.name}: ${e.message}`; // OPFS unavailable or locked (another tab): load without caching
    }
  }
  const tee = new TransformStream({
    transform(chunk, controller) {
      writer?.write(chunk);
      controller.enqueue(chunk);
    },
  });
  return {
    stream: response.body.pipeThrough(tee, { signal }),
    size,
    origin: 'download',
    commit: async () => {
      if (!writer) return openError ? { error: `browser storage could not be opened: ${openError}` } : null;
      if (size !== null && writer.at !== size) {
        writer.abort();
        return { error: `browser storage kept ${writer.failed ? `${writer.at} bytes (${writer.failed.name}: ${writer.failed.message})` : `${writer.at} of ${size} bytes`}` };
      }
      await writer.commit(part);
      return null;
    },
    abort: () => writer?.abort(),
  };
}
