// Downloaded models in the browser's origin-private file system (OPFS), inside
// the worker. One directory; each URL has a key (sha256 of the URL):
//   <key>          a complete download            index: {url, bytes, etag, lastModified}
//   <key>.part     a download not finished yet    index: {url, partial: true, total, etag, lastModified}
// index.json maps keys to those entries. A partial download survives a
// dropped connection, an abort and a closed tab, so the next load of the URL
// resumes it with a Range request; deleteCached removes it.
const CACHE_DIR = 'tabllm-models';
const INDEX_FILE = 'index.json';
// Tabs of one origin share the index: each read-modify-write holds this Web Lock.
const INDEX_LOCK = 'tabllm-models-index';
/** Bytes read back from a partial download per chunk. */
const READ_CHUNK = 1 << 20;

/** The cache directory, or null where the browser has no OPFS (or refuses it, e.g. a private window). */
export async function cacheDir() {
  if (!navigator.storage?.getDirectory) return null;
  try {
    return await (await navigator.storage.getDirectory()).getDirectoryHandle(CACHE_DIR, { create: true });
  } catch {
    return null;
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

/** Removes a key's files (complete and partial) and its index entry. */
export async function removeKey(dir, key) {
  await dir.removeEntry(key).catch(() => {});
  await dir.removeEntry(key + '.part').catch(() => {});
  await setEntry(dir, key, null);
}

/** Cached files: [{url, bytes}] for complete ones, [{url, bytes, total,
 * partial: true}] for downloads to be resumed (bytes: what the partial file holds). */
export async function listCached() {
  const dir = await cacheDir();
  if (!dir) return [];
  const out = [];
  for (const [key, e] of Object.entries(await readIndex(dir))) {
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
  return out;
}

/** Removes one cached URL (complete or partial), or all of them. */
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
    await this.fh.move(this.key);
    await setEntry(this.dir, this.key, { ...entry, bytes: this.at });
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
