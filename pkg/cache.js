// Downloaded models in the browser's origin-private file system (OPFS), inside
// the worker. One directory; each URL has a key (sha256 of the URL):
//   <key>          a complete download            index: {url, bytes, etag, lastModified}
//   <key>.part     a download not finished yet    index: {url, partial: true, total, etag, lastModified}
// A complete download of a Hugging Face file also keeps where it came from
// (index: hub: {endpoint, names, path, size, sha256}: the `hf:` names it was
// loaded under), so such a name loads from storage when the Hub cannot be asked (offline).
// index.json maps keys to those entries (index.json.tmp: its next version,
// being written). A partial download survives a dropped connection, an abort
// and a closed tab, so the next load of the URL resumes it with a Range
// request; deleteCached removes it. A file the index does not name (left
// behind when its entry was dropped) is listed as an orphan, and
// deleteCached() with no URL removes it.
import { TabllmError } from './errors.js';

const CACHE_DIR = 'tabllm-models';
const INDEX_FILE = 'index.json';
/** Where the index is written before it is renamed over INDEX_FILE. */
const INDEX_SCRATCH = INDEX_FILE + '.tmp';
// Tabs of one origin share the index: each read-modify-write holds this Web Lock.
const INDEX_LOCK = 'tabllm-models-index';
/** Bytes read back from a partial download per chunk. */
const READ_CHUNK = 1 << 20;

/** The cache directory, or null where the browser has no OPFS (or refuses it, e.g. a private window). */
export async function cacheDir() {
  return (await openCacheDir()).dir;
}

/**
 * `{ dir, why }`: the cache directory (in the origin private file system,
 * https://fs.spec.whatwg.org/#dom-storagemanager-getdirectory) and why: null;
 * or dir null and `why`, a clause saying what is missing, where the browser
 * has no OPFS (WebKitGTK 2.50 has no navigator.storage.getDirectory) or
 * refuses it (e.g. a private window).
 */
export async function openCacheDir() {
  if (!navigator.storage?.getDirectory) return { dir: null, why: 'this browser has no file storage for pages (navigator.storage.getDirectory is missing)' };
  try {
    return { dir: await (await navigator.storage.getDirectory()).getDirectoryHandle(CACHE_DIR, { create: true }), why: null };
  } catch (e) {
    return { dir: null, why: `browser storage could not be opened (${e?.name ?? 'Error'}: ${e?.message ?? e})` };
  }
}

/** The file name a URL is stored under. */
export async function cacheKey(url) {
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
  const scratch = await dir.getFileHandle(INDEX_SCRATCH, { create: true });
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

/** The index entry of a key, or null. */
export async function entryOf(dir, key) {
  return (await readIndex(dir))[key] ?? null;
}

/** Sets (or, with null, removes) the index entry of a key. */
export function setEntry(dir, key, entry) {
  return updateIndex(dir, (index) => {
    if (entry) index[key] = entry;
    else delete index[key];
  });
}

/** Whether an OPFS error means another tab (or worker) holds the file open. */
const inUse = (err) => err?.name === 'NoModificationAllowedError';

/** Removes one file of the cache directory: null when it is gone (or was
 * never there), else the error OPFS threw (e.g. in use by another tab). */
async function removeFile(dir, name) {
  try {
    await dir.removeEntry(name);
    return null;
  } catch (err) {
    return err?.name === 'NotFoundError' ? null : err;
  }
}

/** Removes a key's files (complete and partial) and its index entry. A
 * partial file another tab is writing stays, and so does its entry. */
export async function removeKey(dir, key) {
  await updateIndex(dir, async (index) => {
    await removeFile(dir, key);
    const part = await removeFile(dir, key + '.part');
    if (!part || !index[key]?.partial) delete index[key];
  });
}

/** The names of the files in the cache directory, but the index's own. */
async function fileNames(dir) {
  const names = [];
  for await (const [name, handle] of dir.entries()) {
    if (handle.kind === 'file' && name !== INDEX_FILE && name !== INDEX_SCRATCH) names.push(name);
  }
  return names;
}

/** The file name an index entry stands for. */
const fileOf = (key, entry) => (entry.partial ? key + '.part' : key);

/**
 * Cached files: `{url, bytes}` for complete ones, `{url, bytes, total,
 * partial: true}` for downloads to be resumed (bytes: what the partial file
 * holds), and `{url: null, key, bytes, orphan: true}` for a file of the cache
 * directory the index does not name (`key`: its file name; e.g. a download
 * left behind when its entry was dropped; a download another tab is just
 * starting shows so for a moment). Sizes in bytes.
 */
export async function listCached() {
  const dir = await cacheDir();
  if (!dir) return [];
  const out = [];
  const index = await readIndex(dir);
  const named = new Set();
  for (const [key, e] of Object.entries(index)) {
    named.add(fileOf(key, e));
    if (!e.partial) {
      out.push({ url: e.url, bytes: e.bytes });
      continue;
    }
    let bytes = 0;
    try {
      bytes = (await (await dir.getFileHandle(key + '.part')).getFile()).size;
    } catch {
      // not written yet, or removed by another tab
    }
    out.push({ url: e.url, bytes, total: e.total, partial: true });
  }
  for (const name of await fileNames(dir)) {
    if (named.has(name)) continue;
    let bytes = 0;
    try {
      bytes = (await (await dir.getFileHandle(name)).getFile()).size;
    } catch {
      continue; // removed meanwhile
    }
    out.push({ url: null, key: name, bytes, orphan: true });
  }
  return out;
}

/**
 * Marks the complete cached copies of a Hub model's parts with the name they
 * were loaded under (`hub`: what hub.js resolveHubModel returned; `nameKey`:
 * hub.js hubNameKey of the name), for cachedHubFiles. Parts not cached
 * complete are left alone.
 */
export async function recordHubParts(hub, nameKey) {
  const dir = await cacheDir();
  if (!dir) return;
  const keys = await Promise.all(hub.parts.map((p) => cacheKey(p.url)));
  await updateIndex(dir, (index) => {
    hub.parts.forEach((p, i) => {
      const e = index[keys[i]];
      if (!e || e.partial || e.url !== p.url) return;
      const names = [...new Set([...(e.hub?.endpoint === hub.endpoint ? e.hub.names ?? [] : []), nameKey])];
      e.hub = { endpoint: hub.endpoint, names, path: p.path, size: p.size, sha256: p.sha256 };
    });
  });
}

/** The files kept complete in browser storage that the name (`nameKey`:
 * hub.js hubNameKey) resolved to at `endpoint` when last loaded online, as
 * `[{ path, size, sha256 }]` (hub.js listRepo's shape); empty without OPFS. */
export async function cachedHubFiles(endpoint, nameKey) {
  const dir = await cacheDir();
  if (!dir) return [];
  return Object.values(await readIndex(dir))
    .filter((e) => !e.partial && e.hub?.endpoint === endpoint && Array.isArray(e.hub.names) && e.hub.names.includes(nameKey))
    .map((e) => ({ path: e.hub.path, size: e.hub.size, sha256: e.hub.sha256 }));
}

/**
 * Removes one cached URL (complete or partial: `url` absolute), or, without
 * `url`, every file of the cache directory, those the index does not name
 * included. A file another tab is using (downloading into it, or loading
 * it) cannot be removed: it stays, its index entry too (listCached still
 * shows it), and once the rest is removed this rejects with a `storage`
 * TabllmError naming it (`details.files`: [{url, file}], url null for a
 * file the index does not name).
 */
export async function deleteCached(url) {
  const dir = await cacheDir();
  if (!dir) return;
  const failed = [];
  await updateIndex(dir, async (index) => {
    const keys = new Set(Object.keys(index).filter((key) => url === undefined || index[key].url === url));
    if (url !== undefined) keys.add(await cacheKey(url));
    const names = url === undefined ? await fileNames(dir) : [...keys].flatMap((key) => [key, key + '.part']);
    const kept = new Set(); // files that stay
    for (const name of names) {
      const err = await removeFile(dir, name);
      if (!err) continue;
      kept.add(name);
      const key = name.endsWith('.part') ? name.slice(0, -'.part'.length) : name;
      const entry = index[key];
      failed.push({ url: entry && fileOf(key, entry) === name ? entry.url : null, file: name, error: err });
    }
    // An entry stays while its file does; a file left without one is an orphan.
    for (const key of keys) if (!index[key] || !kept.has(fileOf(key, index[key]))) delete index[key];
  });
  if (failed.length === 0) return;
  const what = failed.map((f) => (f.url ? `${f.url} (file ${f.file})` : `file ${f.file}`)).join(', ');
  const why = failed.every((f) => inUse(f.error))
    ? `another tab is using ${failed.length > 1 ? 'them' : 'it'} (downloading or loading ${failed.length > 1 ? 'those models' : 'that model'}): close that tab or let its load finish, then delete again`
    : failed.map((f) => `${f.error.name}: ${f.error.message}`).join('; ');
  throw new TabllmError('storage', `could not delete ${what} from browser storage: ${why}`, { files: failed.map(({ url: u, file }) => ({ url: u, file })) });
}

/**
 * Bytes free for this origin: `{ quota, usage, free }` from
 * navigator.storage.estimate(), or null where the browser cannot tell.
 * `fake` ({quota, usage}) replaces the browser's answer: test-only
 * (EngineOptions.testFaults.storageEstimate).
 */
export async function storageRoom(fake) {
  let est = fake ?? null;
  if (!est) {
    try {
      est = await navigator.storage?.estimate?.();
    } catch {
      est = null;
    }
  }
  if (!est || !(est.quota >= 0) || !(est.usage >= 0)) return null;
  return { quota: est.quota, usage: est.usage, free: Math.max(0, est.quota - est.usage) };
}

/**
 * Writes a download into `<key>.part` as it streams; the file gets its final
 * name (and a complete index entry) only once every byte arrived. Holding the
 * file's sync access handle also keeps another tab from writing the same one.
 */
export class CacheWriter {
  /**
   * Opens `<key>.part`: kept as it is when `resume` (its bytes are the start
   * of the same file; `this.at` is its size), else emptied. Throws what OPFS
   * throws (e.g. NoModificationAllowedError: another tab holds it).
   */
  static async open(dir, key, { resume = false, faults } = {}) {
    const fh = await dir.getFileHandle(key + '.part', { create: true });
    const handle = await fh.createSyncAccessHandle();
    if (!resume) handle.truncate(0);
    const w = new CacheWriter(dir, key, fh, handle, faults);
    w.at = handle.getSize();
    return w;
  }
  constructor(dir, key, fh, handle, faults) {
    Object.assign(this, { dir, key, fh, handle, faults, at: 0, failed: null, closed: false });
  }
  /** The first `bytes` bytes of the partial file, as a stream of chunks. */
  readBack(bytes) {
    let at = 0;
    return new ReadableStream({
      pull: (controller) => {
        if (at >= bytes) return controller.close();
        const chunk = new Uint8Array(Math.min(READ_CHUNK, bytes - at));
        const n = this.handle.read(chunk, { at });
        if (n !== chunk.byteLength) throw new Error(`the partial download holds ${at + n} bytes, ${bytes} were expected`);
        at += n;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
  }
  /** Empties the file: the download starts again from byte 0. */
  restart() {
    this.handle.truncate(0);
    this.at = 0;
  }
  /** Where the next chunk goes: a resumed request starts at the bytes the engine has. */
  seek(at) {
    this.at = at;
  }
  write(chunk) {
    if (this.failed || this.closed) return;
    try {
      this.at += this.handle.write(chunk, { at: this.at });
    } catch (e) {
      this.failed = e; // quota: go on loading without the cache
      this.discard();
    }
  }
  /** Stores the finished file under `entry` ({url, etag, lastModified});
   * throws what failed (the load itself has succeeded by then). */
  async commit(entry) {
    if (this.failed) throw this.failed;
    this.handle.flush();
    this.close();
    // Test-only (EngineOptions.testFaults, tests/browser/package.mjs): as a full disk would.
    if (this.faults?.cacheCommit) throw new DOMException('test fault: writing the cache failed', 'QuotaExceededError');
    // Renamed and entered under the index's lock: deleteCached() never sees
    // the finished file without its entry (it would take it for an orphan).
    await updateIndex(this.dir, async (index) => {
      await this.fh.move(this.key);
      index[this.key] = { ...entry, bytes: this.at };
    });
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.handle.flush();
      this.handle.close();
    } catch {
      // already closed
    }
  }
  /** Drops the partial file and its index entry; never rejects. */
  async discard() {
    this.close();
    await this.dir.removeEntry(this.key + '.part').catch(() => {});
    await updateIndex(this.dir, (index) => {
      if (index[this.key]?.partial) delete index[this.key];
    }).catch(() => {});
  }
}
