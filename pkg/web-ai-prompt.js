// LanguageModel, the Prompt API (WICG webmachinelearning/prompt-api: index.bs
// for the algorithms, README.md for the behaviour the spec leaves to the
// explainer, e.g. evicting old turns on overflow), over a tabllm engine.
import {
  checkEnum, checkKeys, checkSignal, canonicalTags, createObject, currentConfig, domError, fromEngineError,
  matchLanguage, minimumAvailability, modelAvailability, operation, promised, quotaError, streamingOperation,
} from './web-ai-core.js';

const CORE_OPTIONS = ['topK', 'temperature', 'samplingMode', 'expectedInputs', 'expectedOutputs', 'tools'];
const CREATE_OPTIONS = [...CORE_OPTIONS, 'signal', 'monitor', 'initialPrompts'];
const PROMPT_OPTIONS = ['responseConstraint', 'omitResponseConstraintInput', 'signal'];
const SIGNAL_ONLY = ['signal'];
const MESSAGE_KEYS = ['role', 'content', 'prefix'];
const CONTENT_KEYS = ['type', 'value'];
const EXPECTED_KEYS = ['type', 'languages'];
const ROLES = ['system', 'user', 'assistant'];
const TYPES = ['text', 'image', 'audio', 'tool-call', 'tool-response'];

/** samplingMode → the engine's sampler. Implementation-defined in the spec;
 * "balanced" is llama.cpp's default sampler (common/common.h: temp 0.8, top_k 40),
 * "most-predictable" greedy. */
const SAMPLING_MODES = {
  'most-predictable': { temperature: 0, topK: 1 },
  predictable: { temperature: 0.4, topK: 20 },
  balanced: { temperature: 0.8, topK: 40 },
  creative: { temperature: 1.0, topK: 64 },
  'most-creative': { temperature: 1.3, topK: 128 },
};
/** LanguageModel.params(): the defaults are "balanced"'s; create() clamps above the maximums (prompt-api README, "Legacy"). */
const PARAMS = Object.freeze({ defaultTopK: 40, maxTopK: 128, defaultTemperature: 0.8, maxTemperature: 2 });

/** Only create() and clone() make a LanguageModel (`new LanguageModel()` is a TypeError, as in the browser). */
const CONSTRUCT = Symbol('LanguageModel');

/** The name of the JSON schema handed to the engine's constrained decoding (response_format). */
const SCHEMA_NAME = 'response';

/**
 * Checks LanguageModelCreateCoreOptions. Throws what the spec throws for a
 * malformed value (TypeError, RangeError for temperature < 0, topK < 1 or a
 * bad language tag) and TypeError for an option tabllm does not know; returns
 * { options, unsupported }: the canonical options and, when the configured
 * model cannot honour them, the first option it cannot (availability()
 * answers "unavailable", create() rejects with NotSupportedError naming it).
 */
function checkCoreOptions(what, raw, known) {
  const o = checkKeys(what, raw, known);
  const hasRaw = o.temperature !== undefined || o.topK !== undefined;
  if (o.samplingMode !== undefined && hasRaw) throw new TypeError(`${what}: give samplingMode or temperature / topK, not both`);
  const samplingMode = checkEnum('samplingMode', o.samplingMode, Object.keys(SAMPLING_MODES), hasRaw ? null : 'balanced');
  let { temperature, topK } = samplingMode ? SAMPLING_MODES[samplingMode] : { temperature: PARAMS.defaultTemperature, topK: PARAMS.defaultTopK };
  if (o.temperature !== undefined) {
    if (typeof o.temperature !== 'number' || Number.isNaN(o.temperature)) throw new TypeError('temperature must be a number');
    if (o.temperature < 0) throw new RangeError(`temperature must be 0 or more, got ${o.temperature}`);
    temperature = Math.min(o.temperature, PARAMS.maxTemperature);
  }
  if (o.topK !== undefined) {
    if (typeof o.topK !== 'number' || Number.isNaN(o.topK)) throw new TypeError('topK must be a number');
    if (o.topK < 1) throw new RangeError(`topK must be 1 or more, got ${o.topK}`);
    topK = Math.min(Math.floor(o.topK), PARAMS.maxTopK);
  }
  const languages = currentConfig()?.languages ?? [];
  let unsupported = null;
  const expected = (field) => {
    if (o[field] === undefined) return [];
    if (!Array.isArray(o[field])) throw new TypeError(`${field} must be an array of { type, languages? }`);
    return o[field].map((e, i) => {
      checkKeys(`${field}[${i}]`, e, EXPECTED_KEYS);
      const type = checkEnum(`${field}[${i}].type`, e?.type, TYPES);
      if (type === undefined) throw new TypeError(`${field}[${i}].type is required`);
      const langs = canonicalTags(`${field}[${i}].languages`, e.languages);
      if (type !== 'text') unsupported ??= `${field} type "${type}" (tabllm runs text-only models)`;
      const bad = (langs ?? []).find((t) => matchLanguage(t, languages) === null);
      if (bad) unsupported ??= `${field} language "${bad}" (the configured model's languages: ${languages.join(', ')})`;
      return langs ? { type, languages: langs } : { type };
    });
  };
  const expectedInputs = expected('expectedInputs');
  const expectedOutputs = expected('expectedOutputs');
  if (o.tools !== undefined) {
    if (!Array.isArray(o.tools)) throw new TypeError('tools must be an array');
    if (o.tools.length) unsupported ??= 'tools (tool use is not supported by tabllm/web-ai yet)';
  }
  return { options: { temperature, topK, samplingMode, expectedInputs, expectedOutputs }, unsupported };
}

/**
 * The spec's "validate and canonicalize a prompt": a string → one user
 * message; [] → one empty user message; each message's content as text
 * parts with contiguous text joined. Throws TypeError (a malformed message,
 * a field tabllm does not know, a system message after the first input),
 * SyntaxError (`prefix` not on the last, assistant message) and
 * NotSupportedError (image, audio or tool content: tabllm runs text only).
 * Returns [{ role, text, prefix }].
 */
function canonicalPrompt(input, hasAppendedInput) {
  if (typeof input === 'string') return [{ role: 'user', text: input, prefix: false }];
  if (!Array.isArray(input)) throw new TypeError('a prompt is a string or an array of { role, content } messages');
  if (input.length === 0) return [{ role: 'user', text: '', prefix: false }];
  let appended = hasAppendedInput;
  return input.map((m, i) => {
    checkKeys(`message ${i}`, m, MESSAGE_KEYS);
    if (!m || typeof m !== 'object') throw new TypeError(`message ${i} must be an object { role, content }`);
    const role = checkEnum(`message ${i} role`, m.role, ROLES);
    if (role === undefined) throw new TypeError(`message ${i} needs a role`);
    if (m.prefix !== undefined && typeof m.prefix !== 'boolean') throw new TypeError(`message ${i} prefix must be true or false`);
    const prefix = m.prefix === true;
    if (prefix && (role !== 'assistant' || i !== input.length - 1)) throw domError('SyntaxError', 'prefix: true is only for the last message, with role "assistant"');
    if (role === 'system' && appended) throw new TypeError('a system message must come first: at the start of initialPrompts, or of the first prompt() / append() of a session without one');
    const parts = typeof m.content === 'string' ? [{ type: 'text', value: m.content }] : m.content;
    if (!Array.isArray(parts)) throw new TypeError(`message ${i} content must be a string or an array of { type, value }`);
    let text = '';
    parts.forEach((c, j) => {
      checkKeys(`message ${i} content ${j}`, c, CONTENT_KEYS);
      const type = checkEnum(`message ${i} content ${j} type`, c?.type, TYPES);
      if (type === undefined) throw new TypeError(`message ${i} content ${j} needs a type`);
      if (type !== 'text') throw domError('NotSupportedError', `message ${i} content ${j}: ${type} input is not supported (tabllm runs text-only models)`);
      if (typeof c.value !== 'string') throw new TypeError(`message ${i} content ${j}: a text value must be a string`);
      text += c.value; // contiguous text is joined with nothing between (the spec's note)
    });
    appended = true;
    return { role, text, prefix };
  });
}

/** A response constraint: a JSON schema object (through the engine's constrained decoding). */
function checkConstraint(o) {
  if (o.omitResponseConstraintInput !== undefined && typeof o.omitResponseConstraintInput !== 'boolean') throw new TypeError('omitResponseConstraintInput must be true or false');
  if (o.omitResponseConstraintInput && o.responseConstraint === undefined) throw new TypeError('omitResponseConstraintInput needs a responseConstraint');
  const c = o.responseConstraint;
  if (c === undefined) return null;
  if (c === null) throw new TypeError('responseConstraint must be a JSON schema object or a RegExp, not null');
  if (c instanceof RegExp) throw domError('NotSupportedError', 'responseConstraint: a RegExp is not supported by tabllm (give a JSON schema)');
  if (typeof c !== 'object' || Array.isArray(c)) throw new TypeError('responseConstraint must be a JSON schema object or a RegExp');
  return c;
}

/** The prompt's messages with the schema told to the model in the last one (the spec's
 * "implementation-defined message to guide the model", unless omitResponseConstraintInput). */
function withGuidance(messages, constraint, omit) {
  if (!constraint || omit) return messages;
  const last = messages.at(-1);
  const guide = `\n\nRespond with JSON that matches this JSON schema: ${JSON.stringify(constraint)}`;
  return last.role === 'assistant'
    ? [...messages, { role: 'user', text: guide.trim(), prefix: false }]
    : [...messages.slice(0, -1), { ...last, text: last.text + guide }];
}

/** The engine's chat messages. */
const openaiMessages = (messages) => messages.map((m) => ({ role: m.role, content: m.text }));

/** An event handler attribute (onX) over addEventListener. */
function handlerAttribute(target, type) {
  let handler = null;
  return {
    get: () => handler,
    set: (fn) => {
      if (handler) target.removeEventListener(type, handler);
      handler = typeof fn === 'function' ? fn : null;
      if (handler) target.addEventListener(type, handler);
    },
  };
}

export class LanguageModel extends EventTarget {
  #lease;
  #engine;
  #destroyed = new AbortController();
  #settings; // { temperature, topK, samplingMode, expectedInputs, expectedOutputs }
  #initial; // messages kept on overflow (initialPrompts)
  #turns = []; // each prompt() / append(): its messages and, for prompt(), the reply
  #usage = 0;
  #window;
  #queue = Promise.resolve();
  #oncontextoverflow = handlerAttribute(this, 'contextoverflow');
  #onquotaoverflow = handlerAttribute(this, 'quotaoverflow');

  constructor(token, { lease, settings, initial, turns = [], usage }) {
    if (token !== CONSTRUCT) throw new TypeError('Illegal constructor: use LanguageModel.create()');
    super();
    this.#lease = lease;
    this.#engine = lease.engine;
    this.#settings = settings;
    this.#initial = initial;
    this.#turns = turns;
    this.#usage = usage;
    this.#window = lease.engine.info.context;
  }

  /** "unavailable" | "downloadable" | "downloading" | "available" for these options (see modelAvailability). */
  static async availability(options = {}) {
    const { unsupported } = checkCoreOptions('LanguageModel.availability()', options, CORE_OPTIONS);
    return minimumAvailability([unsupported ? 'unavailable' : 'available', await modelAvailability()]);
  }

  /** The sampling defaults and limits (the spec's LanguageModelParams); null without a configured model. */
  static async params() {
    return currentConfig() ? PARAMS : null;
  }

  static async create(options = {}) {
    options ??= {}; // WebIDL: a null dictionary is an empty one
    const { options: settings, unsupported } = checkCoreOptions('LanguageModel.create()', options, CREATE_OPTIONS);
    if (options.initialPrompts !== undefined && !Array.isArray(options.initialPrompts)) throw new TypeError('initialPrompts must be an array of { role, content } messages');
    checkSignal('LanguageModel.create()', options.signal);
    const initial = options.initialPrompts === undefined ? [] : canonicalPrompt(options.initialPrompts, false);
    if (unsupported) throw domError('NotSupportedError', `LanguageModel.create(): ${unsupported}`);
    return createObject(options, async (lease) => {
      const usage = await countTokens(lease.engine, initial);
      if (usage > lease.engine.info.context) {
        throw quotaError(`initialPrompts take ${usage} tokens; the context window is ${lease.engine.info.context}`, usage, lease.engine.info.context);
      }
      return new LanguageModel(CONSTRUCT, { lease, settings, initial, usage });
    });
  }

  get contextUsage() { return this.#usage; }
  get contextWindow() { return this.#window; }
  /** Deprecated names (prompt-api README "Renamed Features"). */
  get inputUsage() { return this.#usage; }
  get inputQuota() { return this.#window; }
  get temperature() { return this.#settings.temperature; }
  get topK() { return this.#settings.topK; }
  /** The sampling mode, or null when temperature / topK were given instead. */
  get samplingMode() { return this.#settings.samplingMode; }
  get oncontextoverflow() { return this.#oncontextoverflow.get(); }
  set oncontextoverflow(fn) { this.#oncontextoverflow.set(fn); }
  get onquotaoverflow() { return this.#onquotaoverflow.get(); }
  set onquotaoverflow(fn) { this.#onquotaoverflow.set(fn); }

  /** The whole reply to `input` (a string or messages). */
  prompt(input, options = {}) {
    return promised(() => {
      const o = checkKeys('prompt()', options, PROMPT_OPTIONS);
      return operation(this.#destroyed.signal, checkSignal('prompt()', o.signal), (signal) => this.#respond(input, o, signal, null));
    });
  }

  /** The reply as a ReadableStream of text pieces, each new text (not the text so far: the spec's chunks are appended). */
  promptStreaming(input, options = {}) {
    const o = checkKeys('promptStreaming()', options, PROMPT_OPTIONS);
    return streamingOperation(this.#destroyed.signal, checkSignal('promptStreaming()', o.signal), (signal, enqueue) => this.#respond(input, o, signal, enqueue));
  }

  /** Adds messages without a reply; their prompt is read now (a head start for the next prompt). */
  append(input, options = {}) {
    return promised(() => {
      const o = checkKeys('append()', options, SIGNAL_ONLY);
      return operation(this.#destroyed.signal, checkSignal('append()', o.signal), (signal) => this.#enqueue(signal, async () => {
        const messages = canonicalPrompt(input, this.#usage > 0);
        const conversation = await this.#makeRoom(messages, signal);
        await this.#engine.chat.completions.create({ messages: openaiMessages(conversation), max_tokens: 0, continue_final_message: false, signal })
          .catch((err) => { throw fromEngineError(err, signal.reason); });
        this.#turns.push(messages);
        this.#usage = await countTokens(this.#engine, conversation);
      }));
    });
  }

  /** Tokens `input` would add to this session (with the schema's guidance, when a responseConstraint is given). */
  measureContextUsage(input, options = {}) {
    return promised(() => {
      const o = checkKeys('measureContextUsage()', options, PROMPT_OPTIONS);
      const constraint = checkConstraint(o);
      return operation(this.#destroyed.signal, checkSignal('measureContextUsage()', o.signal), async () => {
        const messages = withGuidance(canonicalPrompt(input, this.#usage > 0), constraint, o.omitResponseConstraintInput);
        return (await countTokens(this.#engine, [...this.#conversation(), ...messages])) - this.#usage;
      });
    });
  }

  /** Deprecated name of measureContextUsage. */
  measureInputUsage(input, options = {}) {
    return this.measureContextUsage(input, options);
  }

  /** A new session with this one's settings and conversation so far. */
  clone(options = {}) {
    return promised(() => {
      const o = checkKeys('clone()', options, SIGNAL_ONLY);
      return operation(this.#destroyed.signal, checkSignal('clone()', o.signal), async () => new LanguageModel(CONSTRUCT, {
        lease: this.#lease.share(),
        settings: this.#settings,
        initial: this.#initial,
        turns: this.#turns.map((t) => [...t]),
        usage: this.#usage,
      }));
    });
  }

  /** Ends the session: calls in flight and later reject with `reason` (an AbortError); the engine is unloaded when no session holds it. */
  destroy(reason = domError('AbortError', 'the session was destroyed')) {
    if (this.#destroyed.signal.aborted) return;
    this.#destroyed.abort(reason);
    this.#lease.release();
  }

  #conversation() {
    return [...this.#initial, ...this.#turns.flat()];
  }

  /** Runs `fn` after the session's earlier calls (the spec's queue); a call aborted while queued never runs. */
  #enqueue(signal, fn) {
    const run = this.#queue.then(() => {
      signal.throwIfAborted();
      return fn();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Room for `messages`: when the conversation and they exceed the context
   * window, the oldest turns (never initialPrompts) are dropped and
   * `contextoverflow` fires (prompt-api README, "Tokenization, context window
   * length limits, and overflow"); when even that is not enough,
   * QuotaExceededError and nothing is dropped. Returns the conversation with `messages`.
   */
  async #makeRoom(messages, signal) {
    const requested = (await countTokens(this.#engine, [...this.#conversation(), ...messages])) - this.#usage;
    signal.throwIfAborted();
    if (this.#usage + requested <= this.#window) return [...this.#conversation(), ...messages];
    const turns = [...this.#turns];
    let need;
    while (turns.length > 0) {
      turns.shift();
      need = await countTokens(this.#engine, [...this.#initial, ...turns.flat(), ...messages]);
      if (need <= this.#window) break;
    }
    signal.throwIfAborted();
    if (need === undefined || need > this.#window) {
      throw quotaError(`the input takes ${requested} tokens; ${this.#window - this.#usage} of the context window (${this.#window}) are left`, this.#usage + requested, this.#window);
    }
    this.#turns = turns;
    this.#usage = await countTokens(this.#engine, this.#conversation());
    this.dispatchEvent(new Event('contextoverflow'));
    this.dispatchEvent(new Event('quotaoverflow'));
    return [...this.#conversation(), ...messages];
  }

  /** prompt() and promptStreaming(): the spec's prefill then generate; `enqueue` null gathers the whole reply. */
  #respond(input, o, signal, enqueue) {
    const constraint = checkConstraint(o);
    return this.#enqueue(signal, async () => {
      const messages = canonicalPrompt(input, this.#usage > 0);
      const conversation = await this.#makeRoom(withGuidance(messages, constraint, o.omitResponseConstraintInput), signal);
      const used = await countTokens(this.#engine, conversation);
      const last = messages.at(-1);
      const request = {
        messages: openaiMessages(conversation),
        stream: true,
        signal,
        max_tokens: Math.max(1, this.#window - used),
        temperature: this.#settings.temperature,
        top_k: this.#settings.topK,
        // A final assistant message is a new reply's predecessor unless it is a prefix (the engine continues one by default).
        continue_final_message: last.role === 'assistant' && last.prefix,
      };
      if (constraint) request.response_format = { type: 'json_schema', json_schema: { name: SCHEMA_NAME, schema: constraint, strict: true } };
      let text = '';
      try {
        for await (const chunk of await this.#engine.chat.completions.create(request)) {
          const piece = chunk.choices[0]?.delta?.content;
          if (!piece) continue;
          text += piece;
          enqueue?.(piece);
        }
      } catch (err) {
        throw fromEngineError(err, signal.reason);
      }
      if (constraint) {
        try {
          JSON.parse(text);
        } catch {
          throw domError('SyntaxError', `the reply does not match the responseConstraint (it ended before its JSON did: ${text.length} characters)`);
        }
      }
      const reply = last.role === 'assistant' && last.prefix
        ? [...messages.slice(0, -1), { role: 'assistant', text: last.text + text, prefix: false }]
        : [...messages, { role: 'assistant', text, prefix: false }];
      this.#turns.push(reply);
      this.#usage = await countTokens(this.#engine, this.#conversation());
      return text;
    });
  }
}

/** Tokens of `messages` as the engine's chat template renders them (0 for none). */
async function countTokens(engine, messages) {
  if (messages.length === 0) return 0;
  const prompt = await engine.applyChatTemplate(openaiMessages(messages));
  return (await engine.tokenize(prompt, { special: true })).length;
}
