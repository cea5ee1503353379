// Where model bytes come from, inside the worker: a URL (fetched as a stream,
// read back from the browser's origin-private file system when it was
// downloaded before and the server says it is still the same file, or
// resumed from a download interrupted before), a File / Blob, or the parts of a split GGUF. Each part
// is handed over as a ReadableStream of Uint8Array chunks, so no model file is
// ever held whole in memory.
import { TabllmError } from './errors.js';
import { CacheWriter, cacheKey, entryOf, openCacheDir, removeKey, setEntry, storageRoom } from './cache.js';
import { bodyLength, checkCached, fetchFrom, fetchWhole, identityOf, linkedSize, validatorsOf } from './http.js';

/** The parts as given: URLs as strings (absolute), Blobs as they are. Which
 * file is which part of a split model is read from each one's header
 * (`split.no`), so a list may come in any order; a single URL of a split
 * model's first part brings the others (`siblingParts`, once its header is read). */
export function expandParts(model, base) {
  const list = Array.isArray(model) ? model : [model];
  if (list.length === 0) throw new TabllmError('invalid_request', 'no model given');
  return list.map((m) => (m instanceof Blob ? m : new URL(String(m), base).href));
}

export function partName(part) {
  return part instanceof Blob ? part.name ?? 'blob' : decodeURIComponent(new URL(part).pathname.split('/').pop());
}

/** gguf-split's naming, `PREFIX-0000K-of-0000NSUFFIX.gguf` (the last such
 * pattern in the name), read as src/gguf/split.rs reads it. */
const SPLIT_NAME_RE = /^(.*)-(\d{5})-of-(\d{5})(.*)\.gguf$/;
const pad5 = (n) => String(n).padStart(5, '0');

/** Names to try for part `k` (1-based), from the name of part `no + 1` of
 * `count`: with its suffix after the numbers first, then the standard name;
 * null when the name does not follow the naming for that part. */
function partNames(name, no, count, k) {
  const m = SPLIT_NAME_RE.exec(name);
  if (!m || Number(m[2]) !== no + 1 || Number(m[3]) !== count) return null;
  const names = [`${m[1]}-${pad5(k)}-of-${pad5(count)}${m[4]}.gguf`];
  if (m[4]) names.push(`${m[1]}-${pad5(k)}-of-${pad5(count)}.gguf`);
  return names;
}

/**
 * The other parts of a split model, found from the one part given (`part`,
 * a URL string or a Blob) once its header said it is part `no + 1` (`no`:
 * `split.no`) of `count`: for parts 2..count, the URLs to try, in order.
 * Throws `invalid_model` for a part other than the first (llama.cpp: the
 * model must be loaded with the first split) or a name that does not follow
 * gguf-split's naming, and `invalid_request` for a lone File (a page cannot
 * open the files beside it: every part must be passed).
 */
export function siblingParts(part, no, count) {
  const name = partName(part);
  if (no !== 0) {
    const first = partNames(name, no, count, 1)?.[0];
    throw new TabllmError('invalid_model', `${name} is part ${no + 1} of ${count} of a split model: load its first part${first ? ` (${first})` : ''}, which holds the model's metadata (the others are found from it)`, { part: no + 1, parts: count });
  }
  if (part instanceof Blob) {
    throw new TabllmError('invalid_request', `${name} is the first of ${count} parts of a split model: give all ${count} files together (in any order)`, { parts: count });
  }
  const url = new URL(part);
  const dir = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1);
  const file = url.pathname.slice(dir.length); // as encoded: the numbers and `.gguf` never are
  const out = [];
  for (let k = 2; k <= count; k++) {
    const names = partNames(file, 0, count, k);
    if (!names) {
      throw new TabllmError('invalid_model', `${name} is the first of ${count} parts of a split model, but its name does not follow gguf-split's \`NAME-00001-of-${pad5(count)}.gguf\`, so the other parts cannot be found from it: pass every part's URL`, { parts: count });
    }
    out.push(names.map((n) => {
      const u = new URL(url);
      u.pathname = dir + n;
      return u.href;
    }));
  }
  return out;
}

/** Whether an error says the server has no such file (so the next name is worth trying). */
const notFound = (err) => err?.code === 'download_failed' && (err.details?.status === 404 || err.details?.status === 410);

/** `{ url, value }` for the first of `urls` that `open(url)` finds (a 404 or
 * 410 moves on to the next; any other error is thrown); when none is there,
 * `download_failed` naming every URL looked for (`what`: which part). */
export async function firstFound(urls, what, open) {
  for (const url of urls) {
    try {
      return { url, value: await open(url) };
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }
  throw new TabllmError('download_failed', `${what} was not found; looked for ${urls.join(', ')}`, { urls, status: 404 });
}

/** A stream of `first`'s chunks, then `second`'s. */
function concat(first, second) {
  let reader = first.getReader();
  let onSecond = false;
  return new ReadableStream({
    async pull(controller) {
      for (;;) {
        const { done, value } = await reader.read();
        if (!done) return controller.enqueue(value);
        if (onSecond) return controller.close();
        onSecond = true;
        reader = second.getReader();
      }
    },
    cancel(reason) {
      reader.cancel(reason).catch(() => {});
      if (!onSecond) second.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** Passes chunks through, writing each into the cache on the way. */
const tee = (writer) => new TransformStream({
  transform(chunk, controller) {
    writer?.write(chunk);
    controller.enqueue(chunk);
  },
});

/** Most resumes of one part that a server ignoring Range may answer with the
 * whole file (each fetches the file again from byte 0) before the load fails. */
const MAX_WHOLE_REFETCHES = 3;

/** Drops the first `n` bytes of a stream as they pass (none is kept), then
 * passes the rest. `onSkip(skipped, n)` follows the drop: after each chunk
 * dropped whole, and once with skipped = n when the last of them is gone
 * (never for n = 0). A throw from it is ignored: progress must not fail the download. */
const skip = (n, onSkip) => {
  let skipped = 0;
  const tell = (k) => {
    try {
      onSkip?.(k, n);
    } catch {
      // progress only
    }
  };
  return new TransformStream({
    transform(chunk, controller) {
      const left = n - skipped;
      if (!chunk.byteLength) return;
      if (left >= chunk.byteLength) {
        skipped += chunk.byteLength;
        tell(skipped);
        return;
      }
      if (left) {
        skipped = n;
        tell(n);
      }
      controller.enqueue(left ? chunk.subarray(left) : chunk);
    },
  });
};

/** The validators a cache entry keeps. */
const storedValidators = (v) => ({ etag: v.etag, linkedEtag: v.linkedEtag ?? null, lastModified: v.lastModified });

/** Whether a cached copy (`stored`: its index entry, `bytes` its size) is
 * the file the Hub lists (`expect`), as checkCached answers. */
function sameAsListed(stored, bytes, expect) {
  if (stored.sha256 !== expect.sha256) return { same: false, why: `the Hub lists sha256 ${expect.sha256}, the cached copy is ${stored.sha256}` };
  if (expect.size !== null && bytes !== expect.size) return { same: false, why: `the Hub lists ${expect.size} bytes, the cached copy has ${bytes}` };
  return { same: true };
}

const fileSource = (blob) => ({
  stream: blob.stream(), size: blob.size, origin: 'file', validated: null, resumedBytes: 0, retries: 0, notice: null,
  commit: async () => null, abort: async () => {},
});

/**
 * Opens one part: `{ stream, size, origin, validated, resumedBytes, retries,
 * notice, commit, abort, resume }`.
 * - origin: 'file' | 'cache' | 'download'. size: bytes, or null when unknown.
 * - validated (cache only): true when the server confirmed the cached copy is
 *   its file still (HEAD: same size and ETag / Last-Modified), false when it
 *   could not be asked (offline) and the copy was used unchecked (`notice` says why).
 *   A copy the server contradicts is deleted and downloaded again.
 * - resumedBytes: bytes read back from a download interrupted earlier (OPFS),
 *   then fetched on with `Range: bytes=<resumedBytes>-` (http.js checks that
 *   the answer is the rest of the same file).
 * - `expect` ({ size, sha256 }, either may be null): what the Hub's file list
 *   says the file is (hub.js). A cached copy or a partial download stored with
 *   another sha256 or size is not used (the partial one is emptied and the
 *   download starts from byte 0, without asking the server for its rest); one
 *   with the same sha256 is used without a HEAD. A response whose
 *   Content-Length or X-Linked-Size is not `size` fails the load
 *   (`download_failed`, details.reason 'size_mismatch'); one without a
 *   Content-Length takes `size` as the file's.
 * - `resume(at)` (downloads): a stream of the part from byte `at` on, of the
 *   same version of the file: a Range request (following redirects, as every
 *   request here), or, from a server that ignores
 *   Range, its 200 with the file's first `at` bytes skipped as they stream
 *   (when its ETag / Last-Modified / Content-Length show the file begun),
 *   reported to `onSkip(skipped, toSkip)` (bytes) as they are dropped.
 *   Throws `download_failed` (`details.changed` when the server's file is not
 *   the one begun; `details.badRange` for a 206 of other bytes than asked) or `aborted`.
 * - `commit()` stores a finished download (resolves to `{ error }` when it was
 *   not kept). `abort(err)` (a promise that never rejects) ends the download:
 *   the partial file is kept for a later load when `err` is a network failure
 *   (`download_failed`) or `aborted` (a closed tab keeps it too), and deleted
 *   otherwise (a bad model, a file that changed, a server that answers a
 *   resume with other bytes than asked, a failed commit).
 */
export async function openPart(part, { cache, signal, testFaults = {}, onSkip, expect = null }) {
  if (part instanceof Blob) return fileSource(part);
  // Without browser storage the model still loads; commit() says why no copy was kept.
  const { dir, why: noStorage } = cache ? await openCacheDir() : { dir: null, why: null };
  const key = dir ? await cacheKey(part) : null;
  let entry = dir ? await entryOf(dir, key) : null;
  if (dir) {
    let file = null;
    try {
      file = await (await dir.getFileHandle(key)).getFile();
    } catch {
      // not cached yet
    }
    if (file) {
      const stored = entry && !entry.partial ? entry : { url: part, bytes: file.size };
      const check = expect?.sha256 && stored.sha256 ? sameAsListed(stored, file.size, expect) : await checkCached(part, stored, signal);
      if (check.same !== false) {
        return {
          stream: file.stream(), size: file.size, origin: 'cache', validated: check.same, resumedBytes: 0, retries: 0,
          notice: check.same ? null : `the cached copy was used without checking it against the server: ${check.why}`,
          commit: async () => null, abort: async () => {},
        };
      }
      await removeKey(dir, key); // stale: the server has another file now
      entry = null;
    }
  }

  let writer = null;
  let notice = noStorage ? `${noStorage}: the model was loaded without keeping a copy` : null; // why the download is not being kept
  let response = null;
  let resumedBytes = 0;
  let validators = null;
  let total = null;
  const sha256 = expect?.sha256 ?? null;
  const openWriter = async (resume) => {
    try {
      writer = await CacheWriter.open(dir, key, { resume, faults: testFaults });
    } catch (e) {
      // OPFS unavailable or locked (another tab): load without caching
      notice = e?.name === 'NoModificationAllowedError'
        ? 'another tab is writing this model into browser storage; this tab loaded it without keeping a copy'
        : `browser storage could not be opened: ${e.name}: ${e.message}`;
    }
  };
  // A download interrupted before: ask for the rest first, and read back the
  // bytes kept only once the server's answer shows they belong to its file
  // (http.js fetchFrom). A 200 (the server ignores Range), a 206 of another
  // version, or a server that cannot send the rest (a 206 of other bytes)
  // starts it again from byte 0, the partial file emptied, never appended to;
  // so does a Hub file whose listing gives another sha256 or size now (no
  // Range request is sent then).
  if (dir && entry?.partial && entry.total > 0 && (identityOf(entry) || entry.sha256)) {
    const listedOther = expect && ((expect.sha256 && entry.sha256 !== expect.sha256) || (expect.size !== null && entry.total !== expect.size));
    await openWriter(true);
    if (writer && !listedOther && writer.at > 0 && writer.at < entry.total) {
      const r = await fetchFrom(part, writer.at, entry, entry.total, signal).catch((err) => {
        if (err?.details?.badRange) return { partial: false, response: null };
        writer.close(); // kept for the next load
        throw err;
      });
      if (r.partial) {
        ({ response } = r);
        resumedBytes = writer.at;
        validators = { etag: entry.etag, linkedEtag: entry.linkedEtag ?? null, lastModified: entry.lastModified };
        total = entry.total;
      } else {
        response = r.response; // a 200: the whole file, start again from its byte 0
      }
    }
    if (!resumedBytes) writer?.restart(); // the server's file starts again from byte 0
  }
  response ??= await fetchWhole(part, signal).catch(async (err) => {
    await writer?.discard(); // emptied above: nothing left to resume
    throw err;
  });
  if (!resumedBytes) {
    validators = validatorsOf(response);
    total = bodyLength(response);
    const declared = linkedSize(response);
    const listed = expect?.size ?? null;
    for (const [size, what] of [[total, 'Content-Length'], [declared, 'X-Linked-Size']]) {
      const other = listed ?? (what === 'X-Linked-Size' ? total : null);
      if (size !== null && other !== null && size !== other) {
        response.body?.cancel().catch(() => {});
        await writer?.discard();
        throw new TabllmError('download_failed', `the server sent ${part} with ${what} ${size}, but ${listed !== null ? 'the Hub lists the file' : 'its Content-Length says'} ${other} bytes: it is not the file asked for`, { url: part, reason: 'size_mismatch', size, expected: other });
      }
    }
    // No Content-Length (a chunked response): the size the Hub lists or declares.
    total ??= listed ?? declared;
    if (dir) {
      // Know the room before writing: a download that cannot fit is not started in storage.
      const room = await storageRoom(testFaults.storageEstimate);
      if (room && total !== null && total > room.free) {
        notice = `browser storage has room for ${room.free} bytes (quota ${room.quota}, used ${room.usage}) but the model needs ${total}: it was loaded without keeping a copy; free some space, or remove cached models with deleteCachedModels()`;
        await writer?.discard();
        writer = null;
      } else if (!writer) {
        await openWriter(false);
      }
    }
  }
  // Only a download whose rest can be asked for, and shown to be the same
  // file's, is worth keeping when it stops: its size, and a validator or the Hub's sha256.
  const resumable = total !== null && (identityOf(validators) !== null || sha256 !== null);
  const unresumable = total === null ? 'the server sent no Content-Length, so the rest cannot be asked for'
    : 'the server sent no ETag, X-Linked-Etag or Last-Modified to show that the rest would be the same file\'s';
  if (writer && !resumedBytes) {
    await setEntry(dir, key, resumable ? { url: part, partial: true, total, ...storedValidators(validators), sha256 } : null);
  }
  const body = response.body.pipeThrough(tee(writer), { signal });
  let wholeRefetches = 0; // resumes a server that ignores Range answered with the whole file
  const src = {
    stream: resumedBytes ? concat(writer.readBack(resumedBytes), body) : body,
    size: total,
    origin: 'download',
    validated: null,
    resumedBytes,
    retries: 0,
    notice: null,
    resume: async (at) => {
      if (!resumable) {
        throw new TabllmError('download_failed', `the download of ${part} stopped after ${at} bytes and cannot be resumed: ${unresumable}`, { url: part, reason: total === null ? 'no_content_length' : 'no_validator' });
      }
      const r = await fetchFrom(part, at, validators, total, signal);
      if (!r.partial && r.same !== true) {
        r.response?.body?.cancel().catch(() => {});
        if (r.same === null) {
          throw new TabllmError('download_failed', `asked for bytes ${at}- of ${part} (${identityOf(validators) ?? `${total} bytes`}), the server answered 200 with the whole file and no validator the download began with (ETag, Last-Modified) nor a Content-Length, so nothing shows it is the file begun`, { url: part });
        }
        const now = r.response && validatorsOf(r.response);
        const got = r.response ? `the whole file of another version (HTTP 200 with ${identityOf(now) ?? now.etag ?? 'no ETag or Last-Modified'}, ${bodyLength(r.response) ?? 'unknown'} bytes)` : 'bytes of another version';
        throw new TabllmError('download_failed', `the file at ${part} changed on the server during the download: asked for bytes ${at}- of ${identityOf(validators) ?? `the ${total}-byte file`}, got ${got}; the bytes already loaded belong to the old file, so load it again`, { url: part, changed: true });
      }
      if (!r.partial && ++wholeRefetches > MAX_WHOLE_REFETCHES) {
        // Each such resume downloads the file again from byte 0.
        r.response.body.cancel().catch(() => {});
        throw new TabllmError('download_failed', `the server of ${part} ignores Range: ${MAX_WHOLE_REFETCHES} resumes each fetched the whole file again, and the connection dropped after byte ${at}; try again on a steadier connection`, { url: part });
      }
      src.retries++;
      writer?.seek(at);
      // A 200 of the same file (the server ignores Range) comes from byte 0:
      // its first `at` bytes, loaded already, are dropped here, so the load
      // (and its progress, which counts the bytes this stream gives) sees
      // each byte of the file once; the bytes received twice are not counted.
      const body = r.partial ? r.response.body : r.response.body.pipeThrough(skip(at, onSkip), { signal });
      return body.pipeThrough(tee(writer), { signal });
    },
    commit: async () => {
      if (!writer) return notice ? { error: notice } : null;
      if (total !== null && writer.at !== total) {
        await writer.discard();
        return { error: `browser storage kept ${writer.failed ? `${writer.at} bytes (${writer.failed.name}: ${writer.failed.message})` : `${writer.at} of ${total} bytes`}` };
      }
      await writer.commit({ url: part, ...storedValidators(validators), sha256 });
      return null;
    },
    abort: async (err) => {
      const keep = resumable && (err?.code === 'aborted' || (err?.code === 'download_failed' && !err.details?.changed && !err.details?.badRange));
      if (keep) writer?.close();
      else await writer?.discard();
    },
  };
  return src;
}
