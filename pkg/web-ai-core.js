// What LanguageModel and Summarizer (tabllm/web-ai) share: the configured
// model, one engine for every session of it, the spec's download monitor,
// availability, language tags, option checks and errors. The shapes and
// algorithms are the WICG specs' (webmachinelearning/writing-assistance-apis
// index.bs, "Shared infrastructure"; webmachinelearning/prompt-api index.bs).
import { createEngine, listCachedModels, validateEngineOptions } from './tabllm.js';
import { isHubName } from './hub.js';

/** createEngine options web-ai sets itself (from `monitor` and `signal`). */
const OWN_ENGINE_OPTIONS = ['onProgress', 'signal'];

/** The configured model: { model, languages, engineOptions, generation } or null. */
let config = null;
/** The engine record of each configuration in use: see acquireEngine. */
const records = new Set();

/**
 * Chooses the model the APIs run (the specs leave that to the browser):
 * `model` as createEngine takes it (URL, File / Blob, parts, `hf:` name);
 * `languages`: BCP 47 tags the model reads and writes, default ['en'];
 * every other option goes to createEngine except `onProgress` and `signal`, which come from create()'s
 * `monitor` and `signal`. Sessions made before keep their engine.
 * The same configuration again keeps the engine already loaded.
 * Throws TypeError for a missing model, a bad `languages`, an option web-ai
 * sets itself, or what createEngine would refuse (an unknown option, a value
 * out of range: validateEngineOptions), the configuration left as it was.
 */
export function configure(options) {
  if (!options || typeof options !== 'object') throw new TypeError('configure() takes an options object: { model, languages?, ...createEngine options }');
  const { model, languages = ['en'], ...engineOptions } = options;
  if (model === undefined || model === null || model === '') throw new TypeError('configure() needs a model: a URL, a File / Blob, an array of parts or a Hugging Face name (hf:OWNER/REPO:QUANT)');
  for (const k of OWN_ENGINE_OPTIONS) {
    if (k in engineOptions) throw new TypeError(`configure() takes no ${k}: give create() a monitor / signal instead`);
  }
  if (!Array.isArray(languages) || languages.length === 0) throw new TypeError('configure() languages must be a non-empty array of BCP 47 language tags, such as ["en"]');
  try {
    validateEngineOptions({ ...engineOptions, model });
  } catch (err) {
    // createEngine's invalid_request, as the TypeError a WebIDL dictionary check gives.
    throw new TypeError(`configure(): ${err.message}`);
  }
  const next = { model, languages: languages.map(canonicalTag), engineOptions };
  // The same configuration again keeps its engine (an app calling configure() on every render).
  if (config && sameConfig(config, next)) return;
  config = { ...next, generation: (config?.generation ?? 0) + 1 };
}

/** Whether two configurations load the same engine: the same model (the same string, or the same File / parts) and equal options. */
function sameConfig(a, b) {
  const same = (x, y) => x === y || (Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((v, i) => v === y[i]));
  const keys = (o) => Object.keys(o).filter((k) => o[k] !== undefined).sort();
  const [ka, kb] = [keys(a.engineOptions), keys(b.engineOptions)];
  return same(a.model, b.model) && a.languages.join() === b.languages.join() &&
    ka.join() === kb.join() && ka.every((k) => a.engineOptions[k] === b.engineOptions[k]);
}

/** The current configuration; create() without one is NotSupportedError. */
export function currentConfig() {
  return config;
}

// ---- errors -------------------------------------------------------------

/** A DOMException with the spec's name (NotSupportedError, AbortError, …). */
export const domError = (name, message) => new DOMException(message, name);

/**
 * The spec's QuotaExceededError (whatwg/webidl #1465): a DOMException named
 * QuotaExceededError with `requested` and `quota`. The browser's own class
 * where it has one, else a DOMException with both fields added.
 */
export function quotaError(message, requested, quota) {
  if (typeof globalThis.QuotaExceededError === 'function') {
    try {
      return new globalThis.QuotaExceededError(message, { requested, quota });
    } catch {
      // an older shape of the constructor: fall through
    }
  }
  const e = new DOMException(message, 'QuotaExceededError');
  Object.defineProperties(e, { requested: { value: requested, enumerable: true }, quota: { value: quota, enumerable: true } });
  return e;
}

/** An engine error (TabllmError) as the spec's DOMException: `aborted` →
 * `reason` (the abort reason); a request the engine refuses (a JSON-schema
 * keyword it cannot enforce, an option out of range) → NotSupportedError;
 * a failed download → NetworkError; `context_full` → QuotaExceededError;
 * anything else → `otherwise` (OperationError while creating, UnknownError after). */
export function fromEngineError(err, reason, otherwise = 'UnknownError') {
  if (err instanceof DOMException || err instanceof TypeError || err instanceof RangeError) return err;
  switch (err?.code) {
    case 'aborted':
    case 'unloaded':
      return reason ?? domError('AbortError', err.message);
    case 'invalid_request':
      return domError('NotSupportedError', err.message);
    case 'download_failed':
      return domError('NetworkError', err.message);
    case 'context_full':
      // The engine's details: { prompt_tokens, context }; summarize()'s add input_tokens.
      return quotaError(err.message, err.details?.prompt_tokens ?? err.details?.input_tokens ?? NaN, err.details?.context ?? NaN);
    default:
      return domError(otherwise, err?.message ?? String(err));
  }
}

// ---- options ------------------------------------------------------------

/** Refuses, by name (TypeError), any key of `options` not in `known`. */
export function checkKeys(what, options, known) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw new TypeError(`${what} takes an options object`);
  for (const k of Object.keys(options)) {
    if (options[k] !== undefined && !known.includes(k)) throw new TypeError(`${what} has no option ${k} (tabllm/web-ai knows ${known.join(', ')})`);
  }
  return options;
}

/** An enum value (WebIDL: TypeError when not one of `values`); `fallback` when undefined. */
export function checkEnum(what, value, values, fallback) {
  if (value === undefined) return fallback;
  if (!values.includes(value)) throw new TypeError(`${what} must be one of ${values.map((v) => `"${v}"`).join(', ')}, got ${JSON.stringify(value)}`);
  return value;
}

/** An AbortSignal or undefined (TypeError otherwise). */
export function checkSignal(what, signal) {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`${what} signal must be an AbortSignal`);
  return signal;
}

/** `fn()`, its exception as a rejected promise (a promise-returning WebIDL method never throws). */
export function promised(fn) {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

// ---- language tags (writing-assistance-apis "Language tags") ------------

/** "validate and canonicalize a single language tag": RangeError when not a structurally valid tag. */
export function canonicalTag(tag) {
  if (typeof tag !== 'string') throw new RangeError(`a language tag must be a string, got ${typeof tag}`);
  return Intl.getCanonicalLocales(tag)[0];
}

/** A list of tags canonicalized and deduplicated (null for undefined). */
export function canonicalTags(what, tags) {
  if (tags === undefined) return null;
  if (!Array.isArray(tags)) throw new TypeError(`${what} must be an array of language tags`);
  return [...new Set(tags.map(canonicalTag))];
}

/** The configured language that `tag` best fits (the tag, then it less its
 * last subtag, and so on: ECMA-402's LookupMatchingLocaleByBestFit as a
 * lookup), or null. */
export function matchLanguage(tag, languages) {
  for (let t = tag; t; t = t.includes('-') ? t.slice(0, t.lastIndexOf('-')) : '') {
    if (languages.includes(t)) return t;
  }
  return null;
}

/** The first of `tags` the configured model does not support, or null. */
export function unsupportedLanguage(tags, languages) {
  return (tags ?? []).find((t) => matchLanguage(t, languages) === null) ?? null;
}

/** "Japanese" for "ja" (English names: prompts are written in English). */
export function languageName(tag) {
  try {
    return new Intl.DisplayNames(['en'], { type: 'language' }).of(tag) ?? tag;
  } catch {
    return tag;
  }
}

// ---- availability -------------------------------------------------------

/**
 * The configured model's availability ("non-options availability" in the
 * specs): its engine loaded → "available"; being loaded from the network →
 * "downloading"; a File / Blob, or every part of its URL complete in
 * browser storage (listCachedModels) → "available"; otherwise (not stored,
 * `cache: false`, a `hf:` name, whose file URL is only known once its repo is
 * listed) → "downloadable". No configuration → "unavailable".
 */
export async function modelAvailability() {
  if (!config) return 'unavailable';
  for (const r of records) {
    if (r.generation !== config.generation || r.failed) continue;
    if (r.engine) return 'available';
    if (r.downloading) return 'downloading';
  }
  const list = Array.isArray(config.model) ? config.model : [config.model];
  if (list.every((m) => typeof Blob !== 'undefined' && m instanceof Blob)) return 'available';
  if (config.engineOptions.cache === false || isHubName(config.model)) return 'downloadable';
  let cached;
  try {
    cached = await listCachedModels();
  } catch {
    return 'downloadable';
  }
  const stored = new Set(cached.filter((c) => c.url && !c.partial).map((c) => c.url));
  const urls = list.map((m) => (m instanceof Blob ? null : new URL(String(m), globalThis.location?.href).href));
  return urls.every((u) => u === null || stored.has(u)) ? 'available' : 'downloadable';
}

/** The spec's "minimum availability" of a list. */
export function minimumAvailability(list) {
  for (const a of ['unavailable', 'downloading', 'downloadable']) if (list.includes(a)) return a;
  return 'available';
}

// ---- the download monitor -----------------------------------------------

/** The `m` of create({ monitor(m) }): an EventTarget firing `downloadprogress`. */
export class CreateMonitor extends EventTarget {
  #handler = null;
  get ondownloadprogress() {
    return this.#handler;
  }
  set ondownloadprogress(fn) {
    if (this.#handler) this.removeEventListener('downloadprogress', this.#handler);
    this.#handler = typeof fn === 'function' ? fn : null;
    if (this.#handler) this.addEventListener('downloadprogress', this.#handler);
  }
}

/** A ProgressEvent with a fractional `loaded` (XMLHttpRequest's ProgressEvent
 * takes doubles since whatwg/xhr #394; an older browser's rounds them, so
 * there the fields are set on the event itself). */
function progressEvent(loaded) {
  const e = new ProgressEvent('downloadprogress', { loaded, total: 1, lengthComputable: true });
  if (e.loaded !== loaded) Object.defineProperties(e, { loaded: { value: loaded }, total: { value: 1 } });
  return e;
}

/** Least time between two progress events, and their precision (1 / 2^16):
 * "create an AI model object" in writing-assistance-apis. */
const PROGRESS_INTERVAL_MS = 50;
const PROGRESS_STEPS = 65536;

/**
 * Calls `options.monitor` with a new CreateMonitor (its exceptions are
 * rethrown, as the spec says) and returns `fire(fraction)`: fires
 * `downloadprogress` with `loaded` = floor(fraction × 2^16) / 2^16 when it
 * changed, at most every 50 ms, except 0 and 1 which always fire. Nothing
 * fires once `stopped()` is true (the create was aborted).
 */
export function startMonitor(monitor, stopped) {
  if (monitor === undefined) return () => {};
  if (typeof monitor !== 'function') throw new TypeError('monitor must be a function');
  const m = new CreateMonitor();
  monitor(m);
  let last = null;
  let lastTime = 0;
  return (fraction) => {
    if (stopped()) return;
    const loaded = Math.floor(Math.min(1, Math.max(0, fraction)) * PROGRESS_STEPS) / PROGRESS_STEPS;
    const now = performance.now();
    const edge = fraction === 0 || fraction === 1;
    if (loaded === last || (!edge && now - lastTime < PROGRESS_INTERVAL_MS)) return;
    last = loaded;
    lastTime = now;
    m.dispatchEvent(progressEvent(loaded));
  };
}

// ---- one engine per configuration ---------------------------------------

/**
 * The engine of the current configuration, loaded once and shared by every
 * session made from it; `onFraction(f)` hears the download (0..1) while this
 * call waits. Resolves to a `lease`: { engine, release() } — release() when
 * the session is destroyed; the engine is unloaded when no session holds it
 * (the spec's "allows the user agent to unload the model"). `signal` rejects
 * this call at once with its reason; the load goes on while others wait for it.
 */
export async function acquireEngine(signal, onFraction) {
  if (!config) throw domError('NotSupportedError', 'tabllm/web-ai has no model: call configure({ model }) first');
  let record = [...records].find((r) => r.generation === config.generation && !r.failed);
  if (!record) {
    const c = config;
    record = { generation: c.generation, engine: null, downloading: false, failed: false, holders: 0, waiting: 0, listeners: new Set() };
    records.add(record);
    record.loading = createEngine({
      ...c.engineOptions,
      model: c.model,
      onProgress: (p) => {
        record.downloading = p.phase === 'download';
        if (p.phase === 'download' && p.fraction !== null) for (const l of record.listeners) l(p.fraction);
      },
    }).then((engine) => {
      record.engine = engine;
      record.downloading = false;
      return engine;
    }, (err) => {
      record.failed = true;
      records.delete(record);
      throw err;
    });
  }
  record.waiting++;
  record.listeners.add(onFraction);
  try {
    const engine = await abortable(record.loading, signal);
    return lease(record);
  } catch (err) {
    throw fromEngineError(err, signal?.reason, 'OperationError');
  } finally {
    record.waiting--;
    record.listeners.delete(onFraction);
    // Nobody took the engine (every create was aborted): unload it when it comes.
    if (record.holders === 0 && record.waiting === 0) record.loading.then(() => record.holders === 0 && record.waiting === 0 && unloadRecord(record), () => {});
  }
}

/** A hold on `record`'s engine: { engine, release(), share() } (share: another hold, for a clone). */
function lease(record) {
  record.holders++;
  let released = false;
  return {
    engine: record.engine,
    release: () => !released && ((released = true), releaseRecord(record)),
    share: () => lease(record),
  };
}

function releaseRecord(record) {
  record.holders--;
  if (record.holders === 0 && record.waiting === 0) unloadRecord(record);
}

function unloadRecord(record) {
  records.delete(record);
  record.engine?.unload();
  record.engine = null;
}

/** `promise`, or its rejection with `signal`'s reason as soon as it aborts. */
export function abortable(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The spec's creation steps around `build(engine)`: option checks done by
 * the caller; a signal aborted before → its reason; `monitor` called at
 * once; downloadprogress 0 … 1 (0 and 1 even when nothing is downloaded);
 * the object built; the signal, if it aborts later, destroys the object.
 */
export async function createObject({ signal, monitor }, build) {
  if (signal?.aborted) throw signal.reason;
  const fire = startMonitor(monitor, () => signal?.aborted);
  fire(0);
  const lease = await acquireEngine(signal, fire);
  try {
    fire(1);
    const object = await abortable(build(lease), signal);
    if (signal) signal.addEventListener('abort', () => object.destroy(signal.reason), { once: true });
    return object;
  } catch (err) {
    lease.release();
    throw err;
  }
}

/**
 * Runs one operation of a destroyable object, as the spec's "get an
 * aggregated AI model result": rejects at once with the reason when the
 * object is destroyed or `signal` aborts (also when it already was);
 * `run(opSignal)` gets a signal that aborts in both cases.
 */
export function operation(destroySignal, signal, run) {
  const composite = signal ? AbortSignal.any([destroySignal, signal]) : destroySignal;
  if (composite.aborted) return Promise.reject(composite.reason);
  return abortable(Promise.resolve().then(() => run(composite)), composite);
}

/**
 * The spec's "get a streaming AI model result": a ReadableStream of string
 * chunks; errored with the reason when the object is destroyed or `signal`
 * aborts (thrown at once if it already was); a cancel stops the work.
 * `run(opSignal, enqueue)` produces the chunks.
 */
export function streamingOperation(destroySignal, signal, run) {
  const composite = signal ? AbortSignal.any([destroySignal, signal]) : destroySignal;
  if (composite.aborted) throw composite.reason;
  const cancel = new AbortController();
  const opSignal = AbortSignal.any([composite, cancel.signal]);
  let aborted = false;
  return asyncIterable(new ReadableStream({
    start(controller) {
      composite.addEventListener('abort', () => {
        aborted = true;
        controller.error(composite.reason);
      }, { once: true });
      Promise.resolve()
        .then(() => run(opSignal, (chunk) => !aborted && !cancel.signal.aborted && controller.enqueue(chunk)))
        .then(() => !aborted && !cancel.signal.aborted && controller.close(), (err) => !aborted && !cancel.signal.aborted && controller.error(err));
    },
    cancel() {
      cancel.abort(domError('AbortError', 'the stream was canceled'));
    },
  }, new CountQueuingStrategy({ highWaterMark: Infinity })));
}

/**
 * The spec examples read a stream with `for await (const chunk of stream)`
 * (Streams: ReadableStream's async iterator); engines without it (WebKitGTK
 * 2.50, tests/browser/engines.mjs) get the same iterator on this stream: a
 * reader, released at the end, that cancels the stream when the loop is left
 * early unless `preventCancel` (the Streams standard's `values()` options).
 */
function asyncIterable(stream) {
  if (Symbol.asyncIterator in stream) return stream;
  const values = ({ preventCancel = false } = {}) => {
    const reader = stream.getReader();
    return {
      next: () => reader.read().then((r) => {
        if (r.done) reader.releaseLock();
        return r;
      }),
      async return(value) {
        if (!preventCancel) await reader.cancel(value);
        reader.releaseLock();
        return { done: true, value };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  };
  Object.defineProperties(stream, { values: { value: values }, [Symbol.asyncIterator]: { value: values } });
  return stream;
}
