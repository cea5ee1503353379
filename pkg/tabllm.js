// tabllm: a language model in the browser tab. The engine (Rust compiled to
// WebAssembly, kernels in WGSL on WebGPU) runs in a Web Worker; this module is
// the main-thread API, shaped like the OpenAI client. Types: tabllm.d.ts.
import { TabllmError, deserializeError } from './errors.js';
import { DEFAULT_HF_ENDPOINT, checkEndpoint, isHubName, parseHubName } from './hub.js';

export { TabllmError };
export { summarize } from './summarize.js';
export { DocumentIndex, modelPrefixes } from './documents.js';

/** One worker and the requests in flight on it. */
class WorkerClient {
  constructor() {
    // `new URL(..., import.meta.url)` lets bundlers (Vite, webpack 5) find and emit the worker.
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.pending = new Map();
    this.nextId = 1;
    this.dead = null;
    this.worker.onmessage = ({ data }) => {
      if (data.type === 'fatal') {
        // The wasm instance panicked: nothing in this worker can be trusted again.
        this.fail(deserializeError(data.error));
        this.worker.terminate();
      } else if (data.type === 'persist') {
        // A load asks for storage that lasts before a large download: only a window can ask.
        askPersist().then((value) => this.worker.postMessage({ op: 'persisted', value }));
      } else {
        this.pending.get(data.id)?.(data);
      }
    };
    this.worker.onerror = (e) => this.fail(new TabllmError('internal', `the engine worker failed: ${e.message ?? 'could not start (is the package served with its wasm/ folder?)'}`));
  }

  /** Sends `op`; `onEvent` gets progress/text messages; resolves to the result. */
  call(op, args, { onEvent, signal } = {}) {
    if (this.dead) return Promise.reject(this.dead);
    try {
      checkSignal(signal); // before a pending entry exists: a bad one must not strand it
    } catch (e) {
      return Promise.reject(e);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.worker.postMessage({ op: 'abort', target: id });
      const settle = () => {
        this.pending.delete(id);
        signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, (m) => {
        if (m.type === 'result') {
          settle();
          resolve(m.value);
        } else if (m.type === 'error') {
          settle();
          reject(deserializeError(m.error));
        } else if (m.type === 'fail') {
          settle();
          reject(m.error);
        } else {
          onEvent?.(m);
        }
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.worker.postMessage({ id, op, args });
    });
  }

  fail(err) {
    this.dead ??= err;
    for (const handler of [...this.pending.values()]) handler({ type: 'fail', error: err });
  }

  /** Ends the worker at once, whatever it is doing; requests in flight reject with `err`. */
  terminate(err = new TabllmError('unloaded', 'the engine was unloaded')) {
    this.worker.terminate();
    this.fail(err);
  }

  /** Asks the worker to stop every request in flight. */
  abortAll() {
    for (const id of this.pending.keys()) this.worker.postMessage({ op: 'abort', target: id });
  }
}

/** navigator.storage.persist()'s answer (true / false), or null where the browser has none or it failed. */
async function askPersist() {
  try {
    const granted = await globalThis.navigator?.storage?.persist?.();
    return typeof granted === 'boolean' ? granted : null;
  } catch {
    return null;
  }
}

/** How long `unload()` waits for the worker to free the model before ending it. */
const UNLOAD_GRACE_MS = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function checkWebGpu() {
  if (typeof navigator === 'undefined' || !navigator.gpu) {
    throw new TabllmError('webgpu_unavailable', 'this browser has no WebGPU: use a recent Chrome or Edge, or Safari / Firefox with WebGPU enabled');
  }
}

/** An aborted request; `details` holds what was produced before the abort (text, usage, timings). */
function abortError(r) {
  return new TabllmError('aborted', 'the request was aborted', r ? { text: r.text, usage: usage(r), timings: timings(r) } : undefined);
}

// Each number's range (the engine checks them again at the wasm boundary).
const SAMPLING = {
  temperature: { min: 0, max: 100 },
  top_p: { min: 0, max: 1 },
  top_k: { min: 0, max: 2 ** 32 - 1, integer: true },
  min_p: { min: 0, max: 1 },
  repetition_penalty: { min: 0.01, max: 100 },
  frequency_penalty: { min: -2, max: 2 },
  presence_penalty: { min: -2, max: 2 },
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
  max_tokens: { min: 0, max: 2 ** 32 - 1, integer: true },
};

// The request fields tabllm takes (an allow-list: any other field is refused
// by name, never ignored). `model` and `user` are accepted and ignored.
const COMMON_FIELDS = ['model', 'user', 'n', 'stream', 'stream_options', 'signal', 'onProgress', 'stop', 'response_format', 'logit_bias',
  'max_completion_tokens', ...Object.keys(SAMPLING)];
// Chat completions only: on completions they are refused as such.
const CHAT_ONLY_FIELDS = ['messages', 'logprobs', 'top_logprobs', 'tools', 'tool_choice', 'parallel_tool_calls', 'continue_final_message', 'chat_template_kwargs'];
const FIELDS = { chat: [...COMMON_FIELDS, ...CHAT_ONLY_FIELDS], text: [...COMMON_FIELDS, 'prompt'] };
// OpenAI request fields tabllm does not do, each with its own message.
// (`functions` / `function_call` are OpenAI's deprecated forms of `tools` / `tool_choice`.)
const UNSUPPORTED = ['best_of', 'functions',
  'function_call', 'echo', 'suffix', 'audio', 'modalities', 'prediction'];
// Thinking switches other servers take at the top level: the template's own variable does it here.
const THINKING_FIELDS = ['enable_thinking', 'reasoning_effort', 'thinking', 'reasoning'];
// Tool calling, checked by the engine field by field (src/chat/tools.rs).
const TOOL_FIELDS = ['tools', 'tool_choice', 'parallel_tool_calls'];

/** Refuses, by name, each field of `req` that a `kind` request does not take. */
function checkFields(req, kind) {
  for (const k of Object.keys(req)) {
    // null and undefined are absent, as for every field. The legacy
    // completions API's `logprobs` is a count with another result shape:
    // `logprobs: false` there asks for nothing tabllm lacks.
    if (FIELDS[kind].includes(k) || req[k] === undefined || req[k] === null || (kind === 'text' && k === 'logprobs' && req[k] === false)) continue;
    let why = 'is not a request field tabllm knows';
    if (UNSUPPORTED.includes(k)) why = 'is not supported by tabllm';
    else if (THINKING_FIELDS.includes(k)) why = 'is not supported by tabllm (to turn thinking off, give chat_template_kwargs: { enable_thinking: false }, which templates such as Qwen3\'s read)';
    else if (kind === 'text' && CHAT_ONLY_FIELDS.includes(k)) why = 'is not supported by tabllm on completions (it is on chat completions)';
    else if (kind === 'chat' && k === 'prompt') why = 'is not supported by tabllm on chat completions (give messages; prompt is for completions)';
    throw new TabllmError('invalid_request', `${k} ${why}`, { field: k });
  }
}

/** Whether `v` is a plain object (`{…}`, `JSON.parse`'s, `Object.create(null)`):
 * not a Map, Set, array or class instance, whose entries `Object.keys` does not see. */
const isPlainObject = (v) => typeof v === 'object' && v !== null && [Object.prototype, null].includes(Object.getPrototypeOf(v));

/** What a value is, for an error message: `a Map`, `an array`, `a string`. */
const kindOf = (v) => {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return `a ${v.constructor?.name ?? 'object'}`;
  return v === null ? 'null' : `a ${typeof v}`;
};

/** `chat_template_kwargs`: a plain object whose entries reach the chat
 * template as variables (as llama-server passes them). `enable_thinking`
 * must be a boolean (llama-server's rule: the string 'false' is true to a
 * template); `__proto__` is refused (a JS object cannot carry it as an
 * entry). The engine refuses, by name, names a template cannot read and
 * those tabllm sets itself (`messages`, `tools`, `bos_token`, …;
 * src/chat/mod.rs `check_template_kwargs`). */
function checkTemplateKwargs(kw) {
  if (!isPlainObject(kw)) {
    throw new TabllmError('invalid_request', `chat_template_kwargs must be an object of template variables, such as { enable_thinking: false }, got ${kindOf(kw)}`, { field: 'chat_template_kwargs' });
  }
  if (Object.prototype.hasOwnProperty.call(kw, '__proto__')) {
    throw new TabllmError('invalid_request', 'chat_template_kwargs key "__proto__" cannot be passed (JavaScript objects treat it as their prototype)', { field: 'chat_template_kwargs', key: '__proto__' });
  }
  if (kw.enable_thinking !== undefined && typeof kw.enable_thinking !== 'boolean') {
    throw new TabllmError('invalid_request', `chat_template_kwargs.enable_thinking must be true or false, got ${kindOf(kw.enable_thinking)}${typeof kw.enable_thinking === 'object' ? '' : ` ${shown(kw.enable_thinking)}`} (a template reads any non-empty string as true)`, { field: 'chat_template_kwargs.enable_thinking', key: 'enable_thinking' });
  }
  return kw;
}

/** Most choices one request may ask for (`n`). */
const MAX_CHOICES = 8;
/** OpenAI's range of `top_logprobs`. */
const MAX_TOP_LOGPROBS = 20;

/** Most entries of `logit_bias` (MAX_LOGIT_BIAS in src/sampler/bias.rs). */
const MAX_LOGIT_BIAS = 4096;

/** A value as an error message shows it: strings quoted ('5', not 5). */
const shown = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/** A number from the caller, checked against its range: `invalid_request` naming the field otherwise. */
/** `signal`, when given, must be an AbortSignal (anything else is refused by
 * name, before any listener is attached or a worker call is pending). */
function checkSignal(v) {
  // By shape, not instanceof: a signal from another realm (an iframe) is one too.
  if (v !== undefined && v !== null && !(typeof v === 'object' && typeof v.aborted === 'boolean' && typeof v.addEventListener === 'function' && typeof v.removeEventListener === 'function')) {
    throw new TabllmError('invalid_request', 'signal must be an AbortSignal (from an AbortController)', { field: 'signal' });
  }
}

function checkNumber(field, v, { min, max, integer = false }) {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TabllmError('invalid_request', `${field} must be a number, got ${shown(v)}`, { field, got: String(v) });
  if ((integer && !Number.isInteger(v)) || v < min || v > max) {
    throw new TabllmError('invalid_request', `${field} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${v}`, { field, min, max, got: v });
  }
  return v;
}

/**
 * OpenAI's `logit_bias`: an object of token ids written as decimal strings
 * (no sign, no leading zero) to numbers from -100 to 100, at most
 * MAX_LOGIT_BIAS of them. Refused by name (`details: { field: 'logit_bias',
 * key }`, with the messages the engine gives); the engine checks the ids
 * against the model's vocabulary.
 */
function checkLogitBias(lb) {
  const bad = (message, key) => new TabllmError('invalid_request', message, key === undefined ? { field: 'logit_bias' } : { field: 'logit_bias', key });
  // A Map, Set or class instance would pass `typeof` and show no keys: no bias, silently.
  if (!isPlainObject(lb)) {
    throw bad(`logit_bias must be a plain object mapping token ids (as strings) to numbers from -100 to 100, got ${kindOf(lb)}${lb instanceof Map ? ' (use Object.fromEntries(map))' : ''}`);
  }
  const keys = Object.keys(lb);
  if (keys.length > MAX_LOGIT_BIAS) throw bad(`logit_bias has ${keys.length} entries: at most ${MAX_LOGIT_BIAS}`);
  const out = {};
  for (const key of keys) {
    if (!/^(0|[1-9][0-9]*)$/.test(key) || Number(key) > 2 ** 32 - 1) {
      throw bad(`logit_bias key ${JSON.stringify(key)} is not a token id (a non-negative integer in decimal, such as "50256")`, key);
    }
    const v = lb[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < -100 || v > 100) {
      throw bad(`logit_bias[${JSON.stringify(key)}] must be a number from -100 to 100, got ${shown(v)}`, key);
    }
    out[key] = v;
  }
  return out;
}

/** The worker's request from an OpenAI-style one (`model` and `user` are accepted and ignored; `stream_options`: see streamOptions). */
function engineRequest(req, kind) {
  if (!req || typeof req !== 'object') throw new TabllmError('invalid_request', 'create() takes a request object');
  checkFields(req, kind);
  const out = {};
  // n choices, each its own generation of the same prompt (see Engine.create).
  out.n = req.n === undefined || req.n === null ? 1 : checkNumber('n', req.n, { min: 1, max: MAX_CHOICES, integer: true });
  if (req.logprobs !== undefined && req.logprobs !== null) {
    if (typeof req.logprobs !== 'boolean') throw new TabllmError('invalid_request', 'logprobs must be true or false', { field: 'logprobs' });
    if (req.logprobs) out.logprobs = true;
  }
  if (req.top_logprobs !== undefined && req.top_logprobs !== null) {
    // As OpenAI: the alternatives come with the tokens' own log-probabilities.
    if (!out.logprobs) throw new TabllmError('invalid_request', 'top_logprobs needs logprobs: true', { field: 'top_logprobs' });
    out.top_logprobs = checkNumber('top_logprobs', req.top_logprobs, { min: 0, max: MAX_TOP_LOGPROBS, integer: true });
  }
  // OpenAI's newer name for max_tokens.
  if (req.max_completion_tokens !== undefined && req.max_completion_tokens !== null) {
    if (req.max_tokens !== undefined && req.max_tokens !== null && req.max_tokens !== req.max_completion_tokens) {
      throw new TabllmError('invalid_request', 'max_tokens and max_completion_tokens differ: give one', { field: 'max_completion_tokens' });
    }
    req = { ...req, max_tokens: req.max_completion_tokens };
  }
  for (const [k, range] of Object.entries(SAMPLING)) {
    if (req[k] === undefined || req[k] === null) continue;
    out[k] = checkNumber(k, req[k], range);
  }
  if (req.response_format !== undefined && req.response_format !== null) out.response_format = checkResponseFormat(req.response_format);
  if (req.logit_bias !== undefined && req.logit_bias !== null) out.logit_bias = checkLogitBias(req.logit_bias);
  // No seed: a random one, so two requests sample differently (a given seed reproduces).
  out.seed ??= Math.floor(Math.random() * 2 ** 32);
  if (req.stop !== undefined && req.stop !== null) out.stop = Array.isArray(req.stop) ? req.stop.map(String) : [String(req.stop)];
  if (kind === 'chat') {
    if (!Array.isArray(req.messages) || req.messages.length === 0) throw new TabllmError('invalid_request', 'messages must be a non-empty array');
    // Messages go to the engine as sent (OpenAI shape: content as a string,
    // null or text parts; roles system, developer, user, assistant, tool;
    // name, tool_call_id, tool_calls); it refuses what it cannot render by name.
    out.messages = req.messages.map((m, i) => {
      if (!m || typeof m !== 'object' || typeof m.role !== 'string') {
        throw new TabllmError('invalid_request', `messages[${i}] must be an object with a role`, { field: `messages[${i}]` });
      }
      return m;
    });
    for (const k of TOOL_FIELDS) if (req[k] !== undefined && req[k] !== null) out[k] = req[k];
    if (req.chat_template_kwargs !== undefined && req.chat_template_kwargs !== null) out.chat_template_kwargs = checkTemplateKwargs(req.chat_template_kwargs);
    // A final assistant message is continued (llama-server's default); false closes it.
    if (req.continue_final_message !== undefined && req.continue_final_message !== null) {
      if (typeof req.continue_final_message !== 'boolean') throw new TabllmError('invalid_request', 'continue_final_message must be true or false', { field: 'continue_final_message' });
      out.continue_final_message = req.continue_final_message;
    }
  } else if (Array.isArray(req.prompt)) {
    // As in OpenAI's API, a prompt may be token ids.
    if (!req.prompt.every((t) => Number.isInteger(t) && t >= 0)) throw new TabllmError('invalid_request', 'a prompt array must hold token ids');
    out.prompt_ids = req.prompt;
  } else {
    if (typeof req.prompt !== 'string') throw new TabllmError('invalid_request', 'prompt must be a string or an array of token ids');
    out.prompt = req.prompt;
  }
  return out;
}

/** What OpenAI's `stream_options` may hold. */
const STREAM_OPTIONS_KEYS = ['include_usage'];

/**
 * Whether a stream ends with a usage chunk: OpenAI's
 * `stream_options.include_usage`. Refused by name (`details.field`):
 * stream_options on a request that does not stream, one that is not an
 * object, keys other than include_usage, an include_usage that is not a
 * boolean (null, as elsewhere, is absent).
 */
function streamOptions(req) {
  const so = req.stream_options;
  if (so === undefined || so === null) return { includeUsage: false };
  const bad = (field, why) => new TabllmError('invalid_request', `${field} ${why}`, { field });
  if (!req.stream) throw bad('stream_options', 'needs stream: true');
  if (typeof so !== 'object' || Array.isArray(so)) throw bad('stream_options', 'must be an object such as { include_usage: true }');
  const extra = Object.keys(so).find((k) => !STREAM_OPTIONS_KEYS.includes(k));
  if (extra) throw bad(`stream_options.${extra}`, `is not supported (known: ${STREAM_OPTIONS_KEYS.join(', ')})`);
  const iu = so.include_usage;
  if (iu !== undefined && iu !== null && typeof iu !== 'boolean') throw bad('stream_options.include_usage', `must be true or false, got ${shown(iu)}`);
  return { includeUsage: iu === true };
}

/** Keys of each object in OpenAI's `response_format`. */
const RESPONSE_FORMAT_KEYS = { text: ['type'], json_object: ['type'], json_schema: ['type', 'json_schema'] };
const JSON_SCHEMA_KEYS = ['name', 'schema', 'strict', 'description'];

/**
 * OpenAI's `response_format`, its shape checked field by field (errors name
 * the field, e.g. `response_format.json_schema.name`); the engine then
 * compiles the schema and refuses, by name and place, any keyword it cannot
 * enforce (`details.keyword`, `details.pointer`).
 */
function checkResponseFormat(rf) {
  const bad = (field, why) => new TabllmError('invalid_request', `${field} ${why}`, { field });
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(rf)) throw bad('response_format', 'must be an object with a type');
  const keys = RESPONSE_FORMAT_KEYS[rf.type];
  if (!keys) throw bad('response_format.type', 'must be text, json_object or json_schema');
  const extra = Object.keys(rf).find((k) => !keys.includes(k));
  if (extra) throw bad(`response_format.${extra}`, `is not supported with type ${rf.type}`);
  if (rf.type !== 'json_schema') return { type: rf.type };
  const js = rf.json_schema;
  if (!isObject(js)) throw bad('response_format.json_schema', 'must be an object with name and schema');
  const extraJs = Object.keys(js).find((k) => !JSON_SCHEMA_KEYS.includes(k));
  if (extraJs) throw bad(`response_format.json_schema.${extraJs}`, `is not supported (known: ${JSON_SCHEMA_KEYS.join(', ')})`);
  if (typeof js.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(js.name)) throw bad('response_format.json_schema.name', 'must be 1 to 64 of a-z, A-Z, 0-9, _ and -');
  if (js.description != null && typeof js.description !== 'string') throw bad('response_format.json_schema.description', 'must be a string');
  if (js.strict != null && typeof js.strict !== 'boolean') throw bad('response_format.json_schema.strict', 'must be true or false');
  if (!isObject(js.schema) && js.schema !== true) throw bad('response_format.json_schema.schema', 'must be a JSON Schema object');
  return { type: 'json_schema', json_schema: { name: js.name, schema: js.schema, ...(js.strict != null && { strict: js.strict }), ...(js.description != null && { description: js.description }) } };
}

let completionCounter = 0;

// embeddings.create's fields (an allow-list, as the completions'); `model` and `user` are accepted and ignored.
const EMBEDDING_FIELDS = ['input', 'model', 'user', 'dimensions', 'encoding_format', 'pooling', 'signal', 'onProgress'];
/** OpenAI's limit on inputs per request. */
const MAX_EMBEDDING_INPUTS = 2048;

/** Checks an embeddings request; returns { inputs, dimensions, pooling, base64 }. */
function embeddingRequest(req) {
  const bad = (field, msg) => new TabllmError('invalid_request', `${field} ${msg}`, { field });
  if (req === null || typeof req !== 'object' || Array.isArray(req)) throw new TabllmError('invalid_request', 'embeddings.create takes a request object: { input, dimensions?, encoding_format? }');
  for (const k of Object.keys(req)) {
    if (!EMBEDDING_FIELDS.includes(k)) throw bad(k, `is not supported by embeddings.create (it takes ${EMBEDDING_FIELDS.join(', ')})`);
  }
  const list = typeof req.input === 'string' ? [req.input] : req.input;
  if (!Array.isArray(list) || list.length === 0) throw bad('input', 'must be a string or a non-empty array of strings');
  if (list.length > MAX_EMBEDDING_INPUTS) throw bad('input', `has ${list.length} items; at most ${MAX_EMBEDDING_INPUTS} per request`);
  list.forEach((t, i) => {
    if (typeof t === 'number' || Array.isArray(t)) throw bad('input', 'as token ids is not supported: give text');
    if (typeof t !== 'string') throw bad(`input[${i}]`, 'must be a string');
    if (t === '') throw bad(`input[${i}]`, 'is empty');
  });
  if (req.dimensions != null) checkNumber('dimensions', req.dimensions, { min: 1, max: 2 ** 20, integer: true });
  if (req.encoding_format != null && !['float', 'base64'].includes(req.encoding_format)) throw bad('encoding_format', "must be 'float' or 'base64'");
  if (req.pooling != null && !['mean', 'cls', 'last'].includes(req.pooling)) throw bad('pooling', "must be 'mean', 'cls' or 'last'");
  if (req.onProgress != null && typeof req.onProgress !== 'function') throw bad('onProgress', 'must be a function');
  checkSignal(req.signal);
  return { inputs: list, dimensions: req.dimensions ?? null, pooling: req.pooling ?? null, base64: req.encoding_format === 'base64' };
}

/** A Float32Array's little-endian bytes in base64 (OpenAI's `encoding_format: 'base64'`). */
function base64Of(v) {
  const f = Float32Array.from(v);
  const bytes = new Uint8Array(f.buffer);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    // A big-endian host: swap each float to little-endian.
    for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  }
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

class Engine {
  constructor(client, info) {
    this.client = client;
    this.info = info;
    this.chat = { completions: { create: (req) => this.create(req, 'chat') } };
    this.completions = { create: (req) => this.create(req, 'text') };
    this.embeddings = { create: (req) => this.embed(req) };
  }

  /**
   * OpenAI's embeddings endpoint: `{ input: string | string[], dimensions?,
   * encoding_format?: 'float' | 'base64', pooling?: 'mean' | 'cls' | 'last',
   * model?, user?, signal?, onProgress? }` → `{ object: 'list', data: [{
   * object: 'embedding', index, embedding }], model, usage }`. Each input
   * is embedded on its own (src/embed: the model's pooling, L2-normalized;
   * `dimensions` truncates and normalizes again); `onProgress({
   * inputs_done, inputs_total })` after each; an abort takes effect between
   * inputs. `base64` is the little-endian f32 bytes, as OpenAI sends them.
   */
  async embed(req) {
    const r = embeddingRequest(req);
    if (req.signal?.aborted) throw abortError();
    const onEvent = (m) => m.type === 'embedded' && req.onProgress?.({ inputs_done: m.done, inputs_total: m.total });
    const out = await this.client.call('embed', { inputs: r.inputs, dimensions: r.dimensions, pooling: r.pooling }, { signal: req.signal, onEvent });
    const encode = r.base64 ? (v) => base64Of(v) : (v) => Array.from(v);
    return {
      object: 'list',
      data: out.data.map((d) => ({ object: 'embedding', index: d.index, embedding: encode(d.embedding) })),
      model: this.info.name,
      usage: { prompt_tokens: out.tokens, total_tokens: out.tokens },
    };
  }

  /** Both endpoints: a promise of the whole result, or of an async iterable of chunks. */
  async create(req, kind) {
    const request = engineRequest(req, kind);
    const { includeUsage } = streamOptions(req);
    if (req.onProgress !== undefined && typeof req.onProgress !== 'function') {
      throw new TabllmError('invalid_request', 'onProgress must be a function', { field: 'onProgress' });
    }
    checkSignal(req.signal);
    if (req.signal?.aborted) throw abortError();
    // Our own signal, following the caller's: a stream the caller stops
    // reading (`break` in `for await`) aborts the request too.
    const controller = new AbortController();
    const signal = controller.signal;
    req.signal?.addEventListener('abort', () => controller.abort(), { once: true });
    // Prompt tokens read so far: `{ prompt_tokens_done, prompt_tokens_total }`.
    const onPrefill = (m) => m.type === 'prefill' && req.onProgress?.({ prompt_tokens_done: m.done, prompt_tokens_total: m.total });
    const meta = {
      id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-tabllm-${Date.now().toString(36)}-${++completionCounter}`,
      created: Math.floor(Date.now() / 1000),
      model: this.info.name,
    };
    if (!req.stream) {
      const results = [];
      for (const one of choiceRequests(request)) {
        if (signal.aborted) throw abortError(); // between choices: the next is not started
        const r = await this.client.call('generate', { request: one }, { signal, onEvent: onPrefill });
        if (r.finish_reason === 'abort') throw abortError(r);
        results.push(r);
      }
      const choices = results.map((r, index) => (kind === 'chat'
        ? { index, message: assistantMessage(r), logprobs: choiceLogprobs(request, r.logprobs), finish_reason: r.finish_reason }
        : { index, text: r.text, logprobs: null, finish_reason: r.finish_reason }));
      return { ...meta, object: kind === 'chat' ? 'chat.completion' : 'text_completion', choices, usage: usage(results), timings: timings(results[0]) };
    }
    return this.stream(request, kind, meta, controller, onPrefill, includeUsage);
  }

  /**
   * Text pieces arrive from the worker into a queue that the iterator drains.
   * `includeUsage` (OpenAI's stream_options.include_usage): after every
   * choice has finished, one more chunk with no choices, the usage of the
   * whole request and tabllm's timings; every other chunk has `usage: null`.
   * Without it no chunk has usage, and the timings come on the last
   * choice's finish chunk.
   */
  stream(request, kind, meta, controller, onPrefill, includeUsage) {
    const signal = controller.signal;
    const queue = [];
    let wake = null;
    const push = (item) => {
      queue.push(item);
      wake?.();
      wake = null;
    };
    const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const noUsage = includeUsage ? { usage: null } : {};
    // A chunk of choice `index`: `text` (null: none), the log-probabilities of its tokens.
    const chunk = (index, text, finish, lps, extra = {}) => (kind === 'chat'
      ? { ...meta, object, choices: [{ index, delta: text === null ? {} : { content: text }, logprobs: lps ? choiceLogprobs(request, lps) : null, finish_reason: finish }], ...noUsage, ...extra }
      : { ...meta, object, choices: [{ index, text: text ?? '', logprobs: null, finish_reason: finish }], ...noUsage, ...extra });
    // The choices one after another, each streamed as it is generated.
    const run = async () => {
      const results = [];
      const requests = choiceRequests(request);
      for (const [index, one] of requests.entries()) {
        if (signal.aborted) throw abortError();
        if (kind === 'chat') push({ value: { ...chunk(index, null, null, null), choices: [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] } });
        // Log-probabilities of tokens whose text is held back (a possible stop
        // string) wait for the next piece; `sent` count those already out.
        let pending = [];
        let sent = 0;
        const onEvent = (m) => {
          if (m.type !== 'text') return onPrefill(m);
          if (m.logprobs) pending.push(...m.logprobs);
          // A thinking model's reasoning (chat only): `delta.reasoning_content`,
          // as llama-server and DeepSeek stream it, in a chunk before the content's.
          if (m.reasoning) {
            sent += pending.length;
            const c = chunk(index, null, null, request.logprobs ? pending : null);
            c.choices[0].delta = { reasoning_content: m.reasoning };
            push({ value: c });
            pending = [];
          }
          if (!m.text) return;
          sent += pending.length;
          push({ value: chunk(index, m.text, null, request.logprobs ? pending : null) });
          pending = [];
        };
        const r = await this.client.call('generate', { request: one }, { signal, onEvent });
        if (r.finish_reason === 'abort') throw abortError(r);
        results.push(r);
        // The calls of a reply that called tools, whole, in one chunk before the last.
        if (kind === 'chat' && r.tool_reply) push({ value: { ...chunk(index, null, null, null), choices: [{ index, delta: { tool_calls: toolCallDeltas(r.tool_reply.tool_calls) }, logprobs: null, finish_reason: null }] } });
        // The last chunk of a choice: its finish reason, and any log-probabilities
        // not sent yet (tokens a stop string cut away); without a usage chunk
        // to follow, the last choice's carries the timings and ends the stream.
        const rest = request.logprobs ? r.logprobs.slice(sent) : null;
        const last = index === requests.length - 1 && !includeUsage;
        push({ value: chunk(index, null, r.finish_reason, rest?.length ? rest : null, last ? { timings: timings(results[0]) } : {}), last });
      }
      if (includeUsage) push({ value: { ...meta, object, choices: [], usage: usage(results), timings: timings(results[0]) }, last: true });
    };
    run().catch((error) => push({ error }));
    return {
      async *[Symbol.asyncIterator]() {
        let ended = false;
        try {
          for (;;) {
            while (queue.length === 0) await new Promise((r) => (wake = r));
            const item = queue.shift();
            if (item.error) {
              ended = true;
              throw item.error;
            }
            yield item.value;
            if (item.last) {
              ended = true;
              return;
            }
          }
        } finally {
          // The caller left the loop early (break, return, throw): cancel the request.
          if (!ended) controller.abort();
        }
      },
    };
  }

  tokenize(text, { special = false } = {}) {
    return this.client.call('tokenize', { text: String(text), special });
  }

  async detokenize(ids) {
    const list = Array.from(ids ?? []);
    list.forEach((id, i) => checkNumber(`ids[${i}]`, id, { min: 0, max: 2 ** 32 - 1, integer: true }));
    return this.client.call('detokenize', { ids: list });
  }

  /** The prompt the chat template renders; `tools` (OpenAI's tools array) and
   * `chat_template_kwargs` as a request would pass them. */
  applyChatTemplate(messages, { tools, chat_template_kwargs } = {}) {
    const request = engineRequest({ messages, chat_template_kwargs }, 'chat');
    return this.client.call('applyChatTemplate', { messages: request.messages, tools: tools ?? undefined, chat_template_kwargs: request.chat_template_kwargs });
  }

  reset() {
    return this.client.call('reset', {});
  }

  /** llama-bench's tests: `pp` (prompt processing) and `tg` (text generation)
   * token counts, default [512] and [128] ([] for none); `prompt_tokens` /
   * `gen_tokens` name a list of one. `depth` (llama-bench's `-d`, default
   * [0]): each test runs again after that many KV cache positions, filled
   * untimed; its rows are named `tg128 @ d4096`. Each count's range (1 to the
   * context) and each depth's (0 to the context less its tests) is checked by
   * the engine, which knows the context. */
  async bench({ pp, tg, prompt_tokens, gen_tokens, depth, repetitions } = {}) {
    const args = {};
    const count = (field, v) => checkNumber(field, v, { min: 1, max: 2 ** 32 - 1, integer: true });
    for (const [name, list, alias, one] of [['pp', pp, 'prompt_tokens', prompt_tokens], ['tg', tg, 'gen_tokens', gen_tokens]]) {
      if (list !== undefined && list !== null) {
        if (!Array.isArray(list)) throw new TabllmError('invalid_request', `${name} must be an array of token counts`, { field: name });
        args[name] = list.map((v, i) => count(`${name}[${i}]`, v));
      }
      if (one !== undefined && one !== null) args[alias] = count(alias, one);
    }
    if (depth !== undefined && depth !== null) {
      if (!Array.isArray(depth)) throw new TabllmError('invalid_request', 'depth must be an array of KV cache positions', { field: 'depth' });
      args.depth = depth.map((v, i) => checkNumber(`depth[${i}]`, v, { min: 0, max: 2 ** 32 - 1, integer: true }));
    }
    if (repetitions !== undefined && repetitions !== null) args.repetitions = checkNumber('repetitions', repetitions, { min: 1, max: 100, integer: true });
    return this.client.call('bench', args);
  }

  /** Stops what is running, frees the model and ends the worker. A worker
   * that does not answer within UNLOAD_GRACE_MS (stuck in a call that never
   * yields, e.g. a chat template that renders forever) is ended anyway:
   * unloading never waits on the engine. */
  async unload() {
    if (this.client.dead) return;
    this.client.abortAll();
    await Promise.race([this.client.call('unload', {}).catch(() => {}), sleep(UNLOAD_GRACE_MS)]);
    this.client.terminate();
  }
}

/** Usage of one result, or of a request's choices (the prompt counted once, the completions summed). */
function usage(r) {
  const list = Array.isArray(r) ? r : [r];
  const completion = list.reduce((n, x) => n + x.ids.length, 0);
  return { prompt_tokens: list[0].prompt_tokens, completion_tokens: completion, total_tokens: list[0].prompt_tokens + completion };
}

/** The worker's request for each of `n` choices: the same prompt (its KV
 * cache is reused, so only its last token runs again), seeds seed, seed+1, …
 * (past Number.MAX_SAFE_INTEGER: 0, 1, …), so that a given seed reproduces every choice. */
function choiceRequests({ n, ...request }) {
  const room = Number.MAX_SAFE_INTEGER - request.seed;
  return Array.from({ length: n }, (_, i) => ({ ...request, seed: i <= room ? request.seed + i : i - room - 1 }));
}

/** A chat reply's message: with tool calls (`tool_reply`, finish_reason
 * 'tool_calls') its content is the text around them (null when none); a
 * thinking model's reply has its reasoning apart (`reasoning_content`, only
 * when it had some) and the rest as content. */
function assistantMessage(r) {
  const reasoning = r.reasoning_content != null ? { reasoning_content: r.reasoning_content } : {};
  return r.tool_reply
    ? { role: 'assistant', content: r.tool_reply.content, ...reasoning, tool_calls: r.tool_reply.tool_calls, refusal: null }
    : { role: 'assistant', content: r.content ?? r.text, ...reasoning, refusal: null };
}

/** Streamed tool calls: each whole call at its index (OpenAI's `delta.tool_calls`). */
function toolCallDeltas(calls) {
  return calls.map((c, index) => ({ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }));
}

/** OpenAI's `choices[i].logprobs` for the worker's entries: null when not asked. */
function choiceLogprobs(request, entries) {
  return request.logprobs ? { content: entries ?? [], refusal: null } : null;
}

function timings(r) {
  return { prefilled_tokens: r.prefilled_tokens, prefill_tok_s: r.prefill_tok_s, decode_tok_s: r.decode_tok_s, prompt_ids: r.prompt_ids, completion_ids: r.ids };
}

/** Resolves URLs against the page, keeps Blobs / Files as they are; a
 * Hugging Face name (`hf:…`, checked here, resolved in the worker) stays a string. */
function normalizeSource(model) {
  if (isHubName(model)) {
    parseHubName(model);
    return model;
  }
  const list = Array.isArray(model) ? model : [model];
  if (list.length === 0 || list.some((m) => m === undefined || m === null || m === '')) {
    throw new TabllmError('invalid_request', 'createEngine needs a model: a URL, a File / Blob, a Hugging Face name (hf:OWNER/REPO:QUANT), or an array of parts');
  }
  if (list.some(isHubName)) {
    throw new TabllmError('invalid_request', 'a Hugging Face name (hf:…) is a whole model: give it alone, not in an array of parts (its split parts are found from the repo)', { field: 'model' });
  }
  return list.map((m) => (typeof Blob !== 'undefined' && m instanceof Blob ? m : new URL(String(m), globalThis.location?.href).href));
}

/** The Hub endpoint for `hf:` names: `hfEndpoint` checked, or the default (as HF_ENDPOINT in huggingface_hub). */
const hubEndpoint = (value) => (value === undefined || value === null ? DEFAULT_HF_ENDPOINT : checkEndpoint(value));

const ENGINE_OPTIONS = ['model', 'onProgress', 'context', 'threads', 'cache', 'signal', 'backend', 'maxBindingSize', 'softwareAdapter', 'jsReplay', 'loadTimeoutMs', 'hfEndpoint', 'testFaults'];
/** What `backend` takes: `auto` picks WebGPU on a hardware adapter, else the CPU. */
const BACKENDS = ['auto', 'webgpu', 'cpu'];
/** Options that only mean something on WebGPU: refused with `backend: 'cpu'`. */
const WEBGPU_OPTIONS = ['maxBindingSize', 'softwareAdapter', 'jsReplay'];

/** Refuses options tabllm does not know and numbers out of range, each by name. */
function checkEngineOptions(opts) {
  if (!opts || typeof opts !== 'object') throw new TabllmError('invalid_request', 'createEngine takes an options object');
  for (const k of Object.keys(opts)) {
    if (!ENGINE_OPTIONS.includes(k)) throw new TabllmError('invalid_request', `createEngine has no option ${k} (it takes ${ENGINE_OPTIONS.slice(0, -1).join(', ')})`, { field: k });
  }
  const set = (k) => opts[k] !== undefined && opts[k] !== null;
  checkSignal(opts.signal);
  if (set('context')) checkNumber('context', opts.context, { min: 1, max: 2 ** 20, integer: true });
  if (set('maxBindingSize')) checkNumber('maxBindingSize', opts.maxBindingSize, { min: 2 ** 20, max: Number.MAX_SAFE_INTEGER, integer: true });
  if (set('threads')) {
    checkNumber('threads', opts.threads, { min: 1, max: 64, integer: true });
    if (opts.backend === 'webgpu') throw new TabllmError('invalid_request', 'threads is a CPU backend option; WebGPU runs on the GPU', { field: 'threads' });
    // More than one thread shares memory between workers: only a
    // cross-origin-isolated page has SharedArrayBuffer (pkg/README.md).
    if (opts.threads > 1 && globalThis.crossOriginIsolated !== true) {
      throw new TabllmError('invalid_request', `threads: ${opts.threads} needs a cross-origin-isolated page (served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), which this page is not; leave threads out to run on one thread`, { field: 'threads' });
    }
  }
  if (set('loadTimeoutMs')) checkNumber('loadTimeoutMs', opts.loadTimeoutMs, { min: 1, max: 2 ** 31 - 1 });
  for (const k of ['softwareAdapter', 'jsReplay']) {
    if (set(k) && typeof opts[k] !== 'boolean') throw new TabllmError('invalid_request', `${k} must be true or false`, { field: k });
  }
  if (set('backend') && !BACKENDS.includes(opts.backend)) {
    throw new TabllmError('invalid_request', `backend must be one of ${BACKENDS.map((b) => `'${b}'`).join(', ')}`, { field: 'backend' });
  }
  if (opts.backend === 'cpu') {
    for (const k of WEBGPU_OPTIONS) {
      if (set(k)) throw new TabllmError('invalid_request', `${k} is a WebGPU option; the CPU backend has no use for it`, { field: k });
    }
  }
}

/**
 * The checks createEngine makes before it loads anything: unknown options and
 * values out of range refused by name, the model source and `hfEndpoint`
 * parsed. Throws TabllmError `invalid_request` (with `field`) as createEngine
 * would; returns nothing. tabllm/web-ai's configure() calls it so a bad
 * option fails there, not at the first session.
 */
export function validateEngineOptions(opts) {
  checkEngineOptions(opts);
  normalizeSource(opts.model);
  hubEndpoint(opts.hfEndpoint);
}

export async function createEngine(opts = {}) {
  checkEngineOptions(opts);
  // Without WebGPU only the CPU backend can run; asked for WebGPU, say so now.
  if (opts.backend === 'webgpu') checkWebGpu();
  const model = normalizeSource(opts.model);
  const hfEndpoint = hubEndpoint(opts.hfEndpoint);
  if (opts.signal?.aborted) throw new TabllmError('aborted', 'the load was aborted');
  const client = new WorkerClient();
  // A load that hangs (a server that stops sending, a device request that
  // never answers) ends the worker when the time is up.
  const timer = opts.loadTimeoutMs === undefined || opts.loadTimeoutMs === null ? null : setTimeout(() => {
    client.terminate(new TabllmError('timeout', `the load did not finish within ${opts.loadTimeoutMs} ms (loadTimeoutMs)`, { loadTimeoutMs: opts.loadTimeoutMs }));
  }, opts.loadTimeoutMs);
  try {
    const info = await client.call(
      'load',
      { model, backend: opts.backend ?? 'auto', context: opts.context, threads: opts.threads ?? undefined, cache: opts.cache ?? true, maxBindingSize: opts.maxBindingSize, softwareAdapter: opts.softwareAdapter, jsReplay: opts.jsReplay ?? true, base: globalThis.location?.href, hfEndpoint, testFaults: opts.testFaults },
      { signal: opts.signal, onEvent: (m) => m.type === 'progress' && opts.onProgress?.(m.progress) },
    );
    return new Engine(client, info);
  } catch (err) {
    client.terminate();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one operation in a short-lived worker (no model needed). */
async function oneShot(op, args) {
  const client = new WorkerClient();
  try {
    return await client.call(op, args);
  } finally {
    client.terminate();
  }
}

/** Models in browser storage; see listCachedModels in tabllm.d.ts. */
export function listCachedModels() {
  return oneShot('listCached', {});
}

/** Deletes one cached URL (relative to the page), or every cached file.
 * Rejects with `invalid_request` (details.field 'url') for a URL that does
 * not parse, `storage` when another tab holds a file (see tabllm.d.ts). */
export async function deleteCachedModels(url) {
  let href;
  if (url !== undefined) {
    try {
      href = new URL(String(url), globalThis.location?.href).href;
    } catch {
      throw new TabllmError('invalid_request', `deleteCachedModels takes a model URL, got ${String(url)}`, { field: 'url' });
    }
  }
  return oneShot('deleteCached', { url: href });
}

export function measureBandwidth(opts = {}) {
  checkWebGpu();
  return oneShot('bandwidth', { options: opts });
}

/** What "will it run" takes: InspectOptions in tabllm.d.ts. */
const SIZING_OPTIONS = ['context', 'bandwidth_gbps', 'available_bytes', 'kv_bytes_per_element', 'max_buffer_size', 'max_storage_buffer_binding_size', 'backend'];
/** inspectModel's: the sizing options, and the Hub endpoint for `hf:` names. */
const INSPECT_OPTIONS = [...SIZING_OPTIONS, 'hfEndpoint'];
/** inspectCatalog's: the sizing options, and the mixes. */
const CATALOG_OPTIONS = [...SIZING_OPTIONS, 'mixes'];

/** The quantization mixes the catalog knows (QuantMix in src/catalog/mix.rs). */
const MIXES = ['q4_0', 'q8_0', 'q4_k_m', 'q5_k_m', 'q6_k'];
/** Byte limits: integers from 1 MiB (as createEngine's maxBindingSize) up. */
const BYTE_LIMITS = ['available_bytes', 'max_buffer_size', 'max_storage_buffer_binding_size'];

/**
 * Checks the sizing options by name, throwing `invalid_request` with
 * details.field: context 1 to 2^20 (integer); bandwidth_gbps a finite number
 * of GB/s above 0; available_bytes, max_buffer_size and
 * max_storage_buffer_binding_size integers from 2^20 bytes to
 * Number.MAX_SAFE_INTEGER; kv_bytes_per_element 2 or 4; mixes a non-empty
 * array of MIXES (any case, as the engine reads them). null or undefined is
 * "not given". Checked here, not left to the engine: JSON turns NaN and
 * ±Infinity into null, which it would read as "not given", and its type
 * errors do not name the field.
 */
function checkInspectOptions(options) {
  const given = (k) => options[k] !== undefined && options[k] !== null;
  if (given('context')) checkNumber('context', options.context, { min: 1, max: 2 ** 20, integer: true });
  if (given('bandwidth_gbps')) {
    const b = options.bandwidth_gbps;
    if (typeof b !== 'number' || !Number.isFinite(b) || !(b > 0)) {
      throw new TabllmError('invalid_request', `bandwidth_gbps must be a finite number of GB/s above 0, got ${shown(b)}`, { field: 'bandwidth_gbps', got: String(b) });
    }
  }
  for (const k of BYTE_LIMITS) {
    if (given(k)) checkNumber(k, options[k], { min: 2 ** 20, max: Number.MAX_SAFE_INTEGER, integer: true });
  }
  if (given('kv_bytes_per_element') && options.kv_bytes_per_element !== 2 && options.kv_bytes_per_element !== 4) {
    throw new TabllmError('invalid_request', `kv_bytes_per_element must be 2 (f16) or 4 (f32), got ${shown(options.kv_bytes_per_element)}`, { field: 'kv_bytes_per_element', got: String(options.kv_bytes_per_element) });
  }
  if (given('mixes')) {
    const m = options.mixes;
    if (!Array.isArray(m) || m.length === 0 || !m.every((x) => typeof x === 'string')) {
      throw new TabllmError('invalid_request', `mixes must be a non-empty array of mix names (known: ${MIXES.join(', ')})`, { field: 'mixes' });
    }
    const unknown = m.find((x) => !MIXES.includes(x.toLowerCase()));
    if (unknown !== undefined) throw new TabllmError('invalid_request', `no quantization mix named \`${unknown}\` (known: ${MIXES.join(', ')})`, { field: 'mixes', got: unknown });
  }
}

/** Splits `opts` into the device's backend and the sizing options, refusing
 * names `fn` does not take, a backend that is not one and values out of
 * range (checkInspectOptions), each error naming its field. */
function inspectArgs(fn, opts, known) {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new TabllmError('invalid_request', `${fn} takes an options object`);
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) throw new TabllmError('invalid_request', `${fn} has no option ${k} (it takes ${known.join(', ')})`, { field: k });
  }
  const { backend = 'auto', ...options } = opts;
  if (!BACKENDS.includes(backend ?? 'auto')) throw new TabllmError('invalid_request', `backend must be one of ${BACKENDS.map((b) => `'${b}'`).join(', ')}`, { field: 'backend' });
  checkInspectOptions(options);
  return { backend: backend ?? 'auto', options };
}

/** Reads only a GGUF's header and sizes the model for the device
 * createEngine({ backend }) would run it on; see InspectOptions and ModelReport in tabllm.d.ts. */
export async function inspectModel(model, opts = {}) {
  const { backend, options: { hfEndpoint, ...options } } = inspectArgs('inspectModel', opts, INSPECT_OPTIONS);
  return oneShot('inspect', { model: normalizeSource(model), options, backend, base: globalThis.location?.href, hfEndpoint: hubEndpoint(hfEndpoint) });
}

/** "What can I run here?" without a file: every catalog model shape in each
 * of `opts.mixes` (default ['q4_k_m']), sized for the device
 * createEngine({ backend }) would run on; see CatalogOptions and CatalogTable in tabllm.d.ts. */
export async function inspectCatalog(opts = {}) {
  const { backend, options } = inspectArgs('inspectCatalog', opts, CATALOG_OPTIONS);
  return oneShot('catalog', { options, backend });
}
