// The HTTP side of a model download, inside the worker: the whole file, the
// rest of it from a byte offset, and a HEAD that tells whether a cached copy
// is still the server's file. A resume sends `Range: bytes=N-` and nothing
// else: a CORS-safelisted header (Fetch: "CORS-safelisted request-header"),
// so a request that the server redirects to a CDN on another origin (the
// Hugging Face Hub's `resolve` URLs answer 302) is sent without a preflight,
// which such CDNs need not answer. Whether the bytes that come are the rest
// of the file begun is checked here instead of by `If-Range`: the size
// (Content-Range's, Content-Length), the validators (X-Linked-Etag, ETag,
// Last-Modified) and, for the Hub, the LFS sha256 its file list gives
// (sources.js). Requests bypass the browser's HTTP cache: the model's bytes
// are kept in OPFS (cache.js) instead.
import { TabllmError } from './errors.js';

/** How long the check of a cached copy may take before the copy is used unchecked, in ms. */
export const VALIDATE_TIMEOUT_MS = 5000;

/**
 * What identifies this version of the file: `{ etag, linkedEtag,
 * lastModified }`, each a header value or null. `linkedEtag` is the Hub's
 * X-Linked-Etag (an LFS file's sha256, the same whichever CDN serves it).
 * Another origin's ETag and X-Linked-Etag reach the page only when its
 * server lists them in Access-Control-Expose-Headers; Last-Modified always does.
 */
export function validatorsOf(response) {
  return { etag: response.headers.get('ETag'), linkedEtag: response.headers.get('X-Linked-Etag'), lastModified: response.headers.get('Last-Modified') };
}

/** The validator that names the version in messages (and can confirm it):
 * X-Linked-Etag, a strong ETag, else Last-Modified; null when there is none
 * (a weak ETag only says the content is equivalent, not the same bytes). */
export function identityOf({ etag, linkedEtag, lastModified }) {
  if (linkedEtag) return linkedEtag;
  if (etag && !etag.startsWith('W/')) return etag;
  return lastModified ?? null;
}

/** The body's length in bytes from Content-Length, or null (absent or not a number). */
export function bodyLength(response) {
  const header = response.headers.get('Content-Length');
  const length = Number(header);
  return header === null || header === '' || !Number.isSafeInteger(length) || length < 0 ? null : length;
}

/** The file's size the Hub declares (X-Linked-Size), or null. */
export function linkedSize(response) {
  const header = response.headers.get('X-Linked-Size');
  const size = Number(header);
  return header === null || header === '' || !Number.isSafeInteger(size) || size < 0 ? null : size;
}

/** `{ start, end, total }` of a 206's Content-Range (total null for `*`), or null. */
function contentRange(response) {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('Content-Range') ?? '');
  return m ? { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) } : null;
}

/** Whether two sets of validators name different files (a validator only one side has says nothing). */
export function differ(a, b) {
  if (a.linkedEtag && b.linkedEtag) return a.linkedEtag !== b.linkedEtag;
  if (a.etag && b.etag) return a.etag !== b.etag;
  if (a.lastModified && b.lastModified) return a.lastModified !== b.lastModified;
  return false;
}

/** Whether the two sets share a validator that confirms the same bytes
 * (X-Linked-Etag, a strong ETag, Last-Modified), once differ() found none that differs. */
function confirmed(a, b) {
  return Boolean((a.linkedEtag && b.linkedEtag) || (a.etag && b.etag && !a.etag.startsWith('W/')) || (a.lastModified && b.lastModified));
}

/** A response whose body is encoded (gzip, br, …): its Content-Length and
 * byte ranges count encoded bytes, not the model's, so neither the size nor a
 * resume can be trusted. `download_failed` with details.reason 'content_encoding'
 * (the body is cancelled). Another origin's Content-Encoding is seen only
 * when its server exposes it. */
function refuseEncoded(url, response) {
  const encoding = response.headers.get('Content-Encoding');
  if (encoding === null || encoding.trim().toLowerCase() === 'identity') return;
  response.body?.cancel().catch(() => {});
  throw new TabllmError('download_failed', `the server sent ${url} compressed (Content-Encoding: ${encoding}): a model file must be served as it is, so that its size and byte ranges count its own bytes; turn compression off for .gguf files`, { url, reason: 'content_encoding', contentEncoding: encoding });
}

async function send(url, init, signal, what) {
  try {
    return await fetch(url, { ...init, cache: 'no-store', signal });
  } catch (e) {
    if (signal?.aborted) throw new TabllmError('aborted', 'the load was aborted');
    throw new TabllmError('download_failed', `${what} ${url} failed: ${e.message}`, { url, retry: true });
  }
}

function httpError(url, response, what) {
  // The server may come back from these; a 404 or 403 will not.
  const retry = response.status >= 500 || response.status === 408 || response.status === 429;
  return new TabllmError('download_failed', `${what} ${url} failed: HTTP ${response.status} ${response.statusText}`.trim(), { url, status: response.status, retry });
}

/** GETs the whole file; throws `download_failed` (details.status on an HTTP
 * error; details.reason 'content_encoding' for a compressed body) or `aborted`. */
export async function fetchWhole(url, signal) {
  const response = await send(url, {}, signal, 'download of');
  if (!response.ok || !response.body) throw httpError(url, response, 'download of');
  refuseEncoded(url, response);
  return response;
}

/**
 * Whether a 200 (the whole file) is the version `validators` names, of
 * `total` bytes (or null when unknown): false when a validator or its
 * Content-Length says otherwise, true when one of them agrees (a 200 with no
 * validator the file begun also had, but of the same size, counts as that
 * file: there is nothing else to compare), null when nothing can be compared.
 */
function sameFile(response, validators, total) {
  const now = validatorsOf(response);
  const size = bodyLength(response);
  const sized = total !== null && size !== null;
  if (differ(validators, now) || (sized && size !== total)) return false;
  return confirmed(validators, now) || sized ? true : null;
}

/**
 * GETs the file from byte `at` on, with `Range: bytes=<at>-` as the only
 * header, and checks that what comes is the version `validators` names
 * (`total`: its size in bytes, or null when unknown). Resolves to
 * - `{ partial: true, response, same: true }`: a 206 from byte `at` of that
 *   file: its Content-Range starts at `at` and gives `total`, its
 *   Content-Length agrees with it, no validator differs; or, where the
 *   browser hides another origin's Content-Range, a body of exactly the
 *   `total - at` bytes asked whose ETag / X-Linked-Etag / Last-Modified
 *   confirms the version;
 * - `{ partial: false, response, same }`: a 200, the whole file from byte 0
 *   (the server ignores Range); `same` as sameFile says: true for the file
 *   begun, false for another, null when the 200 has nothing to compare;
 * - `{ partial: false, response: null, same: false }`: a 206 of another
 *   version (its total or a validator differs; the body is cancelled).
 * Throws `download_failed`: a network error or an HTTP error status
 * (`details.retry` when trying again may help); a compressed body
 * (`details.reason` 'content_encoding'); or a 206 of that file that is not
 * the bytes asked, or cannot be shown to be (`details.badRange`, and
 * `contentRange`: the header or null; such a server cannot be asked for the
 * rest; the body is cancelled); or `aborted`.
 */
export async function fetchFrom(url, at, validators, total, signal) {
  const what = 'resuming the download of';
  const response = await send(url, { headers: { Range: `bytes=${at}-` } }, signal, what);
  if (response.status === 200 && response.body) {
    refuseEncoded(url, response);
    return { partial: false, response, same: sameFile(response, validators, total) };
  }
  if (response.status !== 206 || !response.body) throw httpError(url, response, what);
  refuseEncoded(url, response);
  const range = contentRange(response);
  const now = validatorsOf(response);
  if ((range && total !== null && range.total !== null && range.total !== total) || differ(validators, now)) {
    response.body.cancel().catch(() => {});
    return { partial: false, response: null, same: false };
  }
  const header = response.headers.get('Content-Range');
  const size = bodyLength(response);
  const bad = (got, contentRange = header) => {
    response.body.cancel().catch(() => {});
    return new TabllmError('download_failed', `asked for bytes ${at}- of ${url}, the server answered 206 ${got}`, { url, status: 206, contentRange, badRange: true });
  };
  // Another origin's Content-Range reaches the page only when its server
  // lists it in Access-Control-Expose-Headers; Content-Length always does.
  if (header === null && response.type === 'cors') {
    const rest = total === null ? null : total - at;
    if (rest !== null && size === rest && confirmed(validators, now)) return { partial: true, response, same: true };
    const why = size !== rest
      ? `${size === null ? 'no Content-Length' : `${size} bytes`}, not the ${rest === null ? 'rest' : `${rest} bytes`} asked`
      : 'no ETag, X-Linked-Etag or Last-Modified the download began with, so nothing shows these are the same file\'s bytes (expose Content-Range or ETag in Access-Control-Expose-Headers)';
    throw bad(`with a Content-Range the browser hides (it is not in Access-Control-Expose-Headers) and ${why}`, null);
  }
  if (!range || range.start !== at) {
    throw bad(header === null ? 'without a Content-Range'
      : range ? `with Content-Range '${header}', which does not start at byte ${at}`
        : `with Content-Range '${header}', which is not 'bytes <first>-<last>/<size>'`);
  }
  if (size !== null && size !== range.end - range.start + 1) {
    throw bad(`with Content-Range '${header}' but Content-Length ${size}, which disagree`);
  }
  return { partial: true, response, same: true };
}

/**
 * Asks the server (HEAD) whether a cached copy, stored as `entry` ({bytes,
 * etag, linkedEtag, lastModified}), is its file still. Resolves to `{ same: true }`,
 * `{ same: false, why }` (size or validator differ) or `{ same: null, why }`
 * when the server could not say (unreachable, an HTTP error, no answer within
 * VALIDATE_TIMEOUT_MS). Throws only `aborted`.
 */
export async function checkCached(url, entry, signal) {
  const timeout = AbortSignal.timeout(VALIDATE_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(url, { method: 'HEAD', cache: 'no-store', signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (e) {
    if (signal?.aborted) throw new TabllmError('aborted', 'the load was aborted');
    return { same: null, why: timeout.aborted ? `the server did not answer within ${VALIDATE_TIMEOUT_MS} ms` : `the server could not be reached (${e.message})` };
  }
  if (!response.ok) return { same: null, why: `the server answered HTTP ${response.status}` };
  const size = linkedSize(response) ?? (response.headers.get('Content-Encoding') ? null : bodyLength(response));
  if (size !== null && size !== entry.bytes) return { same: false, why: `the server's file has ${size} bytes, the cached copy ${entry.bytes}` };
  const now = validatorsOf(response);
  if (differ(entry, now)) return { same: false, why: `the server's file is ${identityOf(now) ?? now.etag}, the cached copy ${identityOf(entry) ?? entry.etag}` };
  return { same: true };
}
