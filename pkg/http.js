// The HTTP side of a model download, inside the worker: the whole file, the
// rest of it from a byte offset (Range + If-Range, so a file changed on the
// server is never stitched to the old one's start), and a HEAD that tells
// whether a cached copy is still the server's file. Requests bypass the
// browser's HTTP cache: the model's bytes are kept in OPFS (cache.js) instead.
import { TabllmError } from './errors.js';

/** How long the check of a cached copy may take before the copy is used unchecked, in ms. */
export const VALIDATE_TIMEOUT_MS = 5000;

/** What identifies this version of the file: `{ etag, lastModified }` (each a header value or null). */
export function validatorsOf(response) {
  return { etag: response.headers.get('ETag'), lastModified: response.headers.get('Last-Modified') };
}

/** The If-Range value for these validators: a strong ETag, else the
 * Last-Modified date, else null (a weak ETag cannot be used there). */
export function ifRangeOf({ etag, lastModified }) {
  if (etag && !etag.startsWith('W/')) return etag;
  return lastModified ?? null;
}

/** The body's length in bytes from Content-Length, or null (unknown, or compressed). */
export function bodyLength(response) {
  const length = Number(response.headers.get('Content-Length'));
  return response.headers.get('Content-Encoding') || !(length >= 0) || response.headers.get('Content-Length') === null ? null : length;
}

/** `{ start, end, total }` of a 206's Content-Range (total null for `*`), or null. */
function contentRange(response) {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('Content-Range') ?? '');
  return m ? { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) } : null;
}

/** Whether two sets of validators name different files (a validator only one side has says nothing). */
export function differ(a, b) {
  if (a.etag && b.etag) return a.etag !== b.etag;
  if (a.lastModified && b.lastModified) return a.lastModified !== b.lastModified;
  return false;
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

/** GETs the whole file; throws `download_failed` (details.status on an HTTP error) or `aborted`. */
export async function fetchWhole(url, signal) {
  const response = await send(url, {}, signal, 'download of');
  if (!response.ok || !response.body) throw httpError(url, response, 'download of');
  return response;
}

/**
 * Whether a 200 (the whole file) is the version `validators` names, of
 * `total` bytes (or null when unknown): false when its ETag, Last-Modified or
 * Content-Length says otherwise, true when one of them agrees (a 200 with no
 * validator the file begun also had, but of the same size, counts as that
 * file: there is nothing else to compare), null when nothing can be compared.
 */
function sameFile(response, validators, total) {
  const now = validatorsOf(response);
  const size = bodyLength(response);
  const sized = total !== null && size !== null;
  if (differ(validators, now) || (sized && size !== total)) return false;
  const compared = (validators.etag && now.etag) || (validators.lastModified && now.lastModified) || sized;
  return compared ? true : null;
}

/**
 * GETs the file from byte `at` on, if it is still the version `validators`
 * names (`total`: its size in bytes, or null when unknown; callers always
 * have a validator for If-Range, the file begun had one). Resolves to
 * - `{ partial: true, response, same: true }`: a 206 from byte `at` of that file;
 * - `{ partial: false, response, same }`: a 200, the whole file from byte 0
 *   (the server ignores Range, or If-Range found another version); `same` as
 *   sameFile says: true for the file begun, false for another, null when
 *   the 200 has nothing to compare;
 * - `{ partial: false, response: null, same: false }`: a 206 of another
 *   version (its total or validators differ; the body is cancelled).
 * Throws `download_failed`: a network error or an HTTP error status
 * (`details.retry` when trying again may help), or a 206 of that file
 * without a Content-Range or not from byte `at` (`details.badRange`, and
 * `contentRange`: the header or null; such a server cannot be asked for the
 * rest; the body is cancelled); or `aborted`.
 */
export async function fetchFrom(url, at, validators, total, signal) {
  const headers = { Range: `bytes=${at}-` };
  const ifRange = ifRangeOf(validators);
  if (ifRange) headers['If-Range'] = ifRange;
  const what = `resuming the download of`;
  const response = await send(url, { headers }, signal, what);
  if (response.status === 200 && response.body) return { partial: false, response, same: sameFile(response, validators, total) };
  if (response.status !== 206 || !response.body) throw httpError(url, response, what);
  const range = contentRange(response);
  // If-Range made the server compare; these catch a server that did not.
  if ((range && total !== null && range.total !== null && range.total !== total) || differ(validators, validatorsOf(response))) {
    response.body.cancel().catch(() => {});
    return { partial: false, response: null, same: false };
  }
  const header = response.headers.get('Content-Range');
  // Another origin's Content-Range reaches the page only when its server
  // lists it in Access-Control-Expose-Headers; Content-Length always does.
  // If-Range made that server confirm the version, so a body of exactly the
  // bytes asked is the rest of the file.
  const hidden = header === null && response.type === 'cors';
  if (hidden && total !== null && bodyLength(response) === total - at) return { partial: true, response, same: true };
  if (!range || range.start !== at) {
    response.body.cancel().catch(() => {});
    if (hidden) {
      const size = bodyLength(response);
      throw new TabllmError('download_failed', `asked for bytes ${at}- of ${url}, the server answered 206 with a Content-Range the browser hides (it is not in Access-Control-Expose-Headers) and ${size === null ? 'no Content-Length' : `${size} bytes`}, not the ${total === null ? 'rest' : `${total - at} bytes`} asked`, { url, status: 206, contentRange: null, badRange: true });
    }
    const got = header === null ? 'without a Content-Range'
      : range ? `with Content-Range '${header}', which does not start at byte ${at}`
        : `with Content-Range '${header}', which is not 'bytes <first>-<last>/<size>'`;
    throw new TabllmError('download_failed', `asked for bytes ${at}- of ${url}, the server answered 206 ${got}`, { url, status: 206, contentRange: header, badRange: true });
  }
  return { partial: true, response, same: true };
}

/**
 * Asks the server (HEAD) whether a cached copy, stored as `entry` ({bytes,
 * etag, lastModified}), is its file still. Resolves to `{ same: true }`,
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
  const size = bodyLength(response);
  if (size !== null && size !== entry.bytes) return { same: false, why: `the server's file has ${size} bytes, the cached copy ${entry.bytes}` };
  const now = validatorsOf(response);
  if (differ(entry, now)) return { same: false, why: `the server's file is ${now.etag ?? now.lastModified}, the cached copy ${entry.etag ?? entry.lastModified}` };
  return { same: true };
}
