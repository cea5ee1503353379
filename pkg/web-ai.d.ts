// tabllm/web-ai: the web's built-in AI APIs over tabllm. The shapes are the
// WICG specs' IDL: webmachinelearning/prompt-api (LanguageModel) and
// webmachinelearning/writing-assistance-apis (Summarizer, CreateMonitor,
// Availability). What tabllm adds: configure() and install().
import type { EngineOptions } from './tabllm.js';

export type Availability = 'unavailable' | 'downloadable' | 'downloading' | 'available';

/**
 * Chooses the model the APIs run. `model`: as createEngine takes it (URL,
 * File / Blob, parts, `hf:OWNER/REPO:QUANT`). `languages`: BCP 47 tags the
 * model reads and writes (default ['en']): options naming others are not
 * supported ("unavailable", NotSupportedError). Every other field goes to
 * createEngine (`context`, `backend`, `cache`, …); `onProgress` and `signal`
 * come from create()'s `monitor` and `signal`. Sessions made before keep
 * theirs; the same configuration again keeps the engine already loaded.
 * Throws TypeError for a missing model, `languages` not an array,
 * `onProgress` / `signal`, or an option createEngine refuses (unknown, or out
 * of range: see validateEngineOptions), leaving the configuration as it was;
 * RangeError for a malformed language tag.
 */
export function configure(options: Omit<EngineOptions, 'onProgress' | 'signal'> & { languages?: string[] }): void;

/** Puts LanguageModel and Summarizer on globalThis, each only where the browser has none; returns the names it put there. */
export function install(): Array<'LanguageModel' | 'Summarizer'>;

/** create()'s `monitor(m)` gets one: `downloadprogress` events are ProgressEvents with `loaded` 0..1 and `total` 1, from 0 to 1 (both always fire). */
export interface CreateMonitor extends EventTarget {
  ondownloadprogress: ((this: CreateMonitor, ev: ProgressEvent) => unknown) | null;
  addEventListener(type: 'downloadprogress', listener: (this: CreateMonitor, ev: ProgressEvent) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
}
export type CreateMonitorCallback = (monitor: CreateMonitor) => void;

// ---- LanguageModel (the Prompt API) -------------------------------------

export type LanguageModelMessageRole = 'system' | 'user' | 'assistant';
/** Only `text` is supported (tabllm runs text-only models): the others are NotSupportedError. */
export type LanguageModelMessageType = 'text' | 'image' | 'audio' | 'tool-call' | 'tool-response';
export type LanguageModelSamplingMode = 'most-predictable' | 'predictable' | 'balanced' | 'creative' | 'most-creative';

export interface LanguageModelMessageContent {
  type: LanguageModelMessageType;
  value: unknown;
}
export interface LanguageModelMessage {
  role: LanguageModelMessageRole;
  /** A string is `[{ type: 'text', value }]`. */
  content: string | LanguageModelMessageContent[];
  /** On the last, assistant message: the reply continues it. */
  prefix?: boolean;
}
/** A string is one user message. */
export type LanguageModelPrompt = string | LanguageModelMessage[];

export interface LanguageModelExpected {
  type: LanguageModelMessageType;
  languages?: string[];
}

/** A tool; tools are not supported yet (an empty list is accepted). */
export interface LanguageModelTool {
  name: string;
  description: string;
  inputSchema: object;
  execute: (...args: any[]) => Promise<string>;
}

export interface LanguageModelCreateCoreOptions {
  /** Legacy sampling (the spec: extension contexts): topK ≥ 1 (floored; above maxTopK clamped), temperature ≥ 0 (above maxTemperature clamped). Not with samplingMode (TypeError). */
  topK?: number;
  temperature?: number;
  /** Default "balanced" (temperature 0.8, top-k 40); "most-predictable" is greedy. */
  samplingMode?: LanguageModelSamplingMode;
  expectedInputs?: LanguageModelExpected[];
  expectedOutputs?: LanguageModelExpected[];
  tools?: LanguageModelTool[];
}
export interface LanguageModelCreateOptions extends LanguageModelCreateCoreOptions {
  signal?: AbortSignal;
  monitor?: CreateMonitorCallback;
  initialPrompts?: LanguageModelMessage[];
}
export interface LanguageModelPromptOptions {
  /** A JSON schema, enforced by tabllm's constrained decoding (a RegExp is NotSupportedError; so is a keyword the engine cannot enforce). */
  responseConstraint?: object;
  /** Do not tell the model the schema in the prompt. */
  omitResponseConstraintInput?: boolean;
  signal?: AbortSignal;
}
export interface LanguageModelAppendOptions { signal?: AbortSignal }
export interface LanguageModelCloneOptions { signal?: AbortSignal }
export interface LanguageModelParams {
  readonly defaultTopK: number;
  readonly maxTopK: number;
  readonly defaultTemperature: number;
  readonly maxTemperature: number;
}

/**
 * A session with the configured model. Errors are DOMExceptions named as
 * the spec says: NotSupportedError (an option or input the model cannot
 * honour), AbortError (an aborted signal; after destroy(), every call),
 * QuotaExceededError (`requested`, `quota` in tokens: an input that cannot
 * fit the window even after dropping old turns), SyntaxError (a constrained
 * reply that ended before its JSON did); TypeError / RangeError for malformed
 * arguments and for options tabllm does not know.
 */
export class LanguageModel extends EventTarget {
  private constructor();
  static create(options?: LanguageModelCreateOptions): Promise<LanguageModel>;
  static availability(options?: LanguageModelCreateCoreOptions): Promise<Availability>;
  /** null without a configured model. */
  static params(): Promise<LanguageModelParams | null>;

  prompt(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): Promise<string>;
  /** Each chunk is new text (the chunks joined are the reply). */
  promptStreaming(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): ReadableStream<string>;
  append(input: LanguageModelPrompt, options?: LanguageModelAppendOptions): Promise<void>;
  /** Tokens `input` would add (the chat template's included). */
  measureContextUsage(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): Promise<number>;
  /** Tokens of the conversation so far, and the engine's context. */
  readonly contextUsage: number;
  readonly contextWindow: number;
  /** Fires when old turns (never initialPrompts) were dropped to make room. */
  oncontextoverflow: ((this: LanguageModel, ev: Event) => unknown) | null;
  /** @deprecated the spec's old names of the four above. */
  measureInputUsage(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): Promise<number>;
  /** @deprecated */
  readonly inputUsage: number;
  /** @deprecated */
  readonly inputQuota: number;
  /** @deprecated */
  onquotaoverflow: ((this: LanguageModel, ev: Event) => unknown) | null;
  readonly topK: number;
  readonly temperature: number;
  /** null when temperature / topK were given instead. */
  readonly samplingMode: LanguageModelSamplingMode | null;
  clone(options?: LanguageModelCloneOptions): Promise<LanguageModel>;
  /** Calls in flight and later reject with `reason` (default an AbortError); the engine is unloaded once no session holds it. */
  destroy(reason?: unknown): void;
}

// ---- Summarizer ------------------------------------------------------------

export type SummarizerType = 'tldr' | 'teaser' | 'key-points' | 'headline';
export type SummarizerFormat = 'plain-text' | 'markdown';
export type SummarizerLength = 'short' | 'medium' | 'long';
/** Only "auto" is supported (one configured model). */
export type PerformancePreference = 'auto' | 'speed' | 'capability';

export interface SummarizerCreateCoreOptions {
  /** Default "key-points". */
  type?: SummarizerType;
  /** Default "markdown". */
  format?: SummarizerFormat;
  /** Default "short". */
  length?: SummarizerLength;
  preference?: PerformancePreference;
  expectedInputLanguages?: string[];
  expectedContextLanguages?: string[];
  outputLanguage?: string;
}
export interface SummarizerCreateOptions extends SummarizerCreateCoreOptions {
  signal?: AbortSignal;
  monitor?: CreateMonitorCallback;
  sharedContext?: string;
}
export interface SummarizerSummarizeOptions {
  signal?: AbortSignal;
  context?: string;
}

/** Summaries by the configured model; text longer than the context is summarized in stages (tabllm's summarize()). Errors as LanguageModel's. */
export class Summarizer {
  private constructor();
  /** QuotaExceededError when sharedContext leaves too little of the context for text. */
  static create(options?: SummarizerCreateOptions): Promise<Summarizer>;
  static availability(options?: SummarizerCreateCoreOptions): Promise<Availability>;
  /** "" for input with nothing to summarize (whitespace). */
  summarize(input: string, options?: SummarizerSummarizeOptions): Promise<string>;
  /** The last stage's text as it is generated, in new-text chunks. */
  summarizeStreaming(input: string, options?: SummarizerSummarizeOptions): ReadableStream<string>;
  /** Tokens of the one-request prompt for `input` (instruction, contexts and text). */
  measureInputUsage(input: string, options?: SummarizerSummarizeOptions): Promise<number>;
  /** Tokens of input one summarize() takes: 16 contexts (QuotaExceededError beyond). */
  readonly inputQuota: number;
  readonly sharedContext: string | null;
  readonly type: SummarizerType;
  readonly format: SummarizerFormat;
  readonly length: SummarizerLength;
  readonly preference: PerformancePreference;
  readonly expectedInputLanguages: readonly string[] | null;
  readonly expectedContextLanguages: readonly string[] | null;
  readonly outputLanguage: string | null;
  destroy(reason?: unknown): void;
}
