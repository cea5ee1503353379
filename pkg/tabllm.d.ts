// tabllm: a language model in the browser tab (WebGPU), with an OpenAI-style API.
//
//   import { createEngine } from 'tabllm';
//   const engine = await createEngine({ model: url, onProgress: (p) => bar.value = p.fraction ?? 0 });
//   const r = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 32 });

/** Where a model comes from: a URL, a File / Blob (never uploaded anywhere), a
 * Hugging Face name (HubName), or the parts of a split GGUF (llama.cpp's
 * gguf-split) in any order: which file is which part is read from its
 * `split.no`, never from its name. The URL of a split model's first part
 * brings the other parts along by itself (found as `NAME-0000K-of-0000N.gguf`
 * beside it, or with the same suffix after the numbers). */
export type ModelSource = string | URL | Blob | Array<string | URL | Blob>; // relative URLs resolve against the page

/**
 * A model on the Hugging Face Hub, by name, as llama.cpp's `-hf` takes it:
 * - `hf:OWNER/REPO:QUANT`: the GGUF whose path has QUANT (any case) followed by
 *   `.` or `-`, e.g. `hf:ggml-org/gemma-3-1b-it-GGUF:Q4_K_M`; without `:QUANT`,
 *   Q4_K_M, else Q8_0, else the repo's only model;
 * - `hf:OWNER/REPO/PATH.gguf`: that file (any case);
 * - `@REVISION` after REPO (a branch, tag or commit; percent-encode a `/`, as
 *   `refs%2Fpr%2F1`): huggingface_hub's `revision` (default `main`).
 * Resolved through `GET {hfEndpoint}/api/models/{repo}/tree/{revision}`; files
 * come from `{hfEndpoint}/{repo}/resolve/{revision}/{path}` (a 302 to the
 * Hub's CDN). A split model's parts (`-0000N-of-0000M`) are found in the list.
 * Refused with `invalid_request` (details: { field: 'model', repo, reason:
 * 'no_such_quant' | 'ambiguous_quant' | 'no_such_file' | 'no_model', quants, files }):
 * a quant no model has, a quant two models have, no quant where neither
 * default is there and the repo has several models, a path not in the repo.
 * A repo that is not there (or private): `download_failed` with details.status.
 * mmproj, imatrix and draft-model GGUFs are never taken for the model.
 */
export type HubName = `hf:${string}`;

/** The Hugging Face repo and file(s) an `hf:` name resolved to. */
export interface HubSource {
  repo: string;
  revision: string;
  /** The model's file (a split model's first part), as the repo lists it. */
  file: string;
  /** Every part, in order (one for a whole file). */
  files: string[];
  /** The endpoint it was resolved through (`hfEndpoint`). */
  endpoint: string;
}

export interface LoadProgress {
  /** `device`: asking for the GPU; `download`: from the network; `cache`: from
   * browser storage; `file`: from a local file; `ready`: done. */
  phase: 'device' | 'download' | 'cache' | 'file' | 'ready';
  bytes_loaded: number;
  /** Known once the size is known (Content-Length, file size or GGUF header). */
  bytes_total: number | null;
  /** 0..1 when `bytes_total` is known. */
  fraction: number | null;
  bytes_per_second: number;
  seconds: number;
  tensors_done: number;
  tensors_total: number;
  /** Which part of a split model is streaming (1-based) and how many there are. */
  part: number;
  parts: number;
  /** True when every byte came from browser storage (no download). */
  from_cache: boolean;
  /** While a resumed download drops bytes it has loaded already (a server
   * that ignores Range answers the resume with the whole file again, from
   * byte 0): how many it has dropped and how many it must, in bytes of the
   * current part (`part`), while `bytes_loaded` stands still. Posted after
   * the first chunk dropped, every ~50 ms during the drop and when it ends
   * (`bytes_skipped === bytes_to_skip`; a drop that fits one chunk posts only
   * that); null otherwise. */
  resume_skip: { bytes_skipped: number; bytes_to_skip: number } | null;
  /** Whether browser storage is persistent, once asked (EngineInfo.storage_persisted); null before. */
  storage_persisted: boolean | null;
  /** The engine's wasm memory now, in bytes. It only grows, so the last event's
   * value is the load's peak: the weights stream through a few chunks at a
   * time (tests/browser/big-model.mjs holds a 4.9 GB model's load under 64 MiB). */
  wasm_memory_bytes: number;
}

export interface EngineOptions {
  model: ModelSource;
  onProgress?: (p: LoadProgress) => void;
  /** Context length in tokens, an integer from 1 to 2^20 (default: the model's, capped at 4096). */
  context?: number;
  /** The CPU backend only: threads its matmuls are split across, an integer
   * from 1 to 64 (the engine's worker included). More than one needs a
   * cross-origin-isolated page (`crossOriginIsolated`: the document served
   * with `Cross-Origin-Opener-Policy: same-origin` and
   * `Cross-Origin-Embedder-Policy: require-corp`); on another page it is
   * refused with `invalid_request` (field `threads`). Default: on an
   * isolated page, half the cores rounded up, at most 4 (so one thread on a
   * 2-core machine); one thread elsewhere. Refused with `backend: 'webgpu'`; with
   * `backend: 'auto'` it applies when the CPU backend is chosen (and a count
   * over 1 is refused on an unisolated page either way). Where the threads'
   * workers cannot start, an explicit count fails with `invalid_request`
   * (field `threads`) and the default runs on one thread.
   * `engine.info.threads` says what runs and why. */
  threads?: number;
  /** Keep downloaded models in browser storage (OPFS) and load from there next time. Default true. */
  cache?: boolean;
  /** Cancels the load. */
  signal?: AbortSignal;
  /** Where the model runs. `'auto'` (default): WebGPU on a hardware adapter;
   * the CPU backend (wasm SIMD kernels, weights in wasm memory, so at most
   * about 3.6 GB of weights and KV cache) when the browser has no WebGPU, no
   * adapter, or only a software rasterizer such as SwiftShader, where the CPU
   * is faster. `'webgpu'` fails with `webgpu_unavailable` without WebGPU;
   * `'cpu'` refuses the WebGPU-only options below; with `'auto'` they apply
   * when WebGPU is chosen. `engine.info.backend` and `backend_reason` say what
   * was chosen. */
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** WebGPU only. Pretend the device allows at most this many bytes per storage binding (testing small devices): an integer from 2^20 up. */
  maxBindingSize?: number;
  /** Use the kernel shapes meant for CPU rasterizers such as SwiftShader (detected from the adapter info by default). */
  softwareAdapter?: boolean;
  /** Encode each generation step with one call into JavaScript (default,
   * true), or with wgpu's three calls per GPU dispatch (false: diagnostics,
   * to measure what the host side of a token costs). */
  jsReplay?: boolean;
  /** Where `hf:` names are resolved (as HF_ENDPOINT in huggingface_hub): an
   * absolute http(s) URL, e.g. a mirror. Default `https://huggingface.co`. */
  hfEndpoint?: string;
  /** Give up on a load that has not finished after this many milliseconds: its
   * worker is ended and createEngine rejects with code `timeout`. Default: no limit. */
  loadTimeoutMs?: number;
  /** Test-only, not part of the API: `{ cacheCommit: true }` makes storing the
   * download in browser storage fail as a full disk would (tests/browser/package.mjs);
   * `{ storageEstimate: { quota, usage } }` (bytes) replaces what
   * `navigator.storage.estimate()` answers (tests/browser/download.mjs);
   * `{ persistMinBytes: n }` asks for persistent storage before downloads of n bytes and more (tests/browser/hub.mjs). */
  testFaults?: { cacheCommit?: boolean; storageEstimate?: { quota: number; usage: number }; persistMinBytes?: number; hubTimeoutMs?: number };
}

export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool';
/** Text parts are joined with "\n" (as llama-server does); other part types are refused by name. */
export interface TextContentPart { type: 'text'; text: string }
export interface ToolCall { id: string; type: 'function'; function: { name: string; arguments: string } }
/** An OpenAI-style message, passed to the model's chat template as sent;
 * each role with OpenAI's fields (so each is an OpenAI `ChatCompletionMessageParam`).
 * Unknown roles and fields are refused with `invalid_request` naming them. */
export type ChatMessage =
  | { role: 'system' | 'developer' | 'user'; content: string | TextContentPart[]; name?: string }
  /** `tool_calls`: the calls this turn made (a reply with tool_calls goes back into the conversation as it came);
   * `reasoning_content`: a thinking model's reasoning, passed to the template as given (Qwen3's reads it). */
  | { role: 'assistant'; content: string | TextContentPart[] | null; name?: string; tool_calls?: ToolCall[]; reasoning_content?: string | null }
  /** `tool_call_id`: the call this answers. */
  | { role: 'tool'; content: string | TextContentPart[]; tool_call_id: string };

/** Every number is checked: one outside its range rejects with `invalid_request`
 * (null is taken as absent, as OpenAI's types allow it)
 * naming the field and the range (`details: { field, min, max, got }`). A
 * field the request type does not define is refused by name (`details.field`),
 * never ignored: OpenAI fields tabllm does not do (`functions`,
 * `function_call`, …), other servers' thinking switches
 * (`enable_thinking`, `reasoning_effort`: use `chat_template_kwargs`),
 * typos; `model` and `user` are accepted and ignored. */
export interface SamplingOptions {
  /** Choices to generate, 1 to 8 (default 1): each a generation of the same
   * prompt, one after another; the prompt is read once (the next choices
   * reuse its KV cache). Choice i samples with seed `seed + i`, so a given
   * seed reproduces every choice. `usage.completion_tokens` sums the choices;
   * `timings` are choice 0's. Streamed, the choices come one after another,
   * each chunk naming its choice's `index`. */
  n?: number | null;
  /** 0 to 100; 0 = greedy. Default 0.8. */
  temperature?: number | null;
  /** 0 to 1; 1 = off. */
  top_p?: number | null;
  /** An integer ≥ 0; 0 = off. */
  top_k?: number | null;
  /** 0 to 1; 0 = off. */
  min_p?: number | null;
  /** 0.01 to 100; 1 = off. */
  repetition_penalty?: number | null;
  /** -2 to 2 (as OpenAI's); 0 = off. Over the last 64 tokens. */
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  /** An integer from 0 to Number.MAX_SAFE_INTEGER; the same seed and request
   * sample the same tokens. Absent: a random seed for each request. */
  seed?: number | null;
  stop?: string | string[] | null;
  /** An integer from 0 to 2^32 - 1. Default 256. */
  max_tokens?: number | null;
  /** OpenAI's newer name for `max_tokens` (giving both with different values is refused). */
  max_completion_tokens?: number | null;
  /** Structured output (see {@link ResponseFormat}); on completions too. */
  response_format?: ResponseFormat;
  /** OpenAI's `logit_bias`: token ids, written as decimal strings, to a
   * number from -100 to 100 added to that token's logit before sampling
   * (as llama.cpp does: before the penalties and filters), e.g.
   * `{ "50256": -100 }`. -100 bans a token in practice, 100 forces it;
   * at temperature 0 too. At most 4096 ids. With `response_format` or a
   * forced tool call the grammar comes first: no bias brings back a token it
   * forbids. A key that is not a token id (`"abc"`, `"-1"`, `"01"`), an id
   * outside the model's vocabulary, or a value outside -100…100 rejects with
   * `invalid_request`, `details: { field: 'logit_bias', key }`; so does a
   * value that is not a plain object (a `Map`: give `Object.fromEntries(map)`). */
  logit_bias?: Record<string, number> | null;
  /** Aborting rejects with a TabllmError whose code is `aborted` (name `AbortError`);
   * its `details` hold what was produced: `{ text, usage, timings }`. It takes
   * effect between prefill steps too, so a long prompt can be stopped; a
   * request still queued behind another never runs. Leaving a `for await`
   * over a stream early aborts its request the same way. */
  signal?: AbortSignal;
  /** How far the prompt has been read (prefilled), before and after each
   * prefill step: prompt tokens done of those this request runs (a cached
   * prefix is not run again). */
  onProgress?: (p: PromptProgress) => void;
}

/** OpenAI's `response_format`. `json_object`: the output is one JSON object;
 * `json_schema`: it parses and validates against `json_schema.schema`
 * (required here, though OpenAI's type leaves it optional). Each token is
 * picked among those the grammar allows (logits read back each step, as
 * with `logprobs`: slower), and the generation ends with `finish_reason:
 * 'stop'` at the object's closing brace, or `'length'` at `max_tokens` (the
 * JSON is then unfinished). Enforced keywords: type, properties, required,
 * additionalProperties, patternProperties, min/maxProperties, items,
 * prefixItems, additionalItems, min/maxItems, enum, const, anyOf, oneOf,
 * allOf, $ref (local), minLength, maxLength, pattern, format (date-time,
 * date, time, duration, email, hostname, ipv4, ipv6, uuid, uri), minimum,
 * maximum, exclusiveMinimum, exclusiveMaximum, multipleOf; annotations
 * (title, description, default, examples, $defs, …, `x-…`) are allowed. Any
 * other keyword rejects with `invalid_request`, `details: { field, keyword,
 * pointer }` (e.g. `uniqueItems` at `/properties/tags/uniqueItems`).
 * `strict` changes nothing: the schema is always enforced or refused. JSON
 * comes out with `, ` and `: ` separators and no other whitespace. As JSON
 * Schema says, an object without `additionalProperties: false` may hold
 * properties the schema does not name: a small model may keep adding some
 * until `max_tokens` (OpenAI's strict mode requires `false` for this reason). */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema?: { [key: string]: unknown }; strict?: boolean | null; description?: string } };

export interface PromptProgress { prompt_tokens_done: number; prompt_tokens_total: number }

/** A function the model may call (OpenAI's function tool). It reaches the
 * model's chat template as given (the template's `tools`, as Hugging Face's
 * `apply_chat_template` passes them). `name`: 1 to 64 letters, digits, `_`
 * and `-`, unique among the tools; `parameters`: a JSON Schema object. */
export interface FunctionTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: { [key: string]: unknown }; strict?: boolean | null };
}
/** `auto` (default with tools): the model decides, its calls come back in
 * `message.tool_calls`. `none`: the tools still reach the template, the reply
 * is not read for calls (plain content). `required` and a named function
 * force a call: decoding follows the template's call format and the tool's
 * `parameters` schema (with `response_format` too: refused, `details.field:
 * 'response_format'`). */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** OpenAI's `stream_options`, with `stream: true` only. `include_usage:
 * true`: after every choice has finished, one more chunk comes, with
 * `choices: []`, the `usage` of the whole request (every choice) and tabllm's
 * `timings`; every other chunk has `usage: null`. Without it no chunk has
 * `usage`, and `timings` come on the last choice's finish chunk. Other keys
 * (OpenAI's `include_obfuscation`, …), an `include_usage` that is not a
 * boolean and `stream_options` without `stream: true` are refused with
 * `invalid_request` naming the field (`stream_options.include_obfuscation`). */
export interface StreamOptions { include_usage?: boolean }

export interface ChatCompletionRequest extends SamplingOptions {
  messages: ChatMessage[];
  stream?: boolean | null;
  stream_options?: StreamOptions | null;
  /** Each generated token's log-probability in `choices[i].logprobs.content`:
   * the log-softmax of the model's logits at that step (f64 sums), before
   * temperature, penalties and top-k / top-p / min-p, so they are the
   * model's distribution whatever the sampling settings (these only choose
   * the token). Each step then reads its logits back and picks the token on
   * the CPU: slower; a seeded sample may pick other tokens than the same
   * seed without logprobs (greedy picks the same). A final end-of-turn token
   * has none (it is not in the text). Not on `completions`. */
  logprobs?: boolean | null;
  /** 0 to 20 (OpenAI's range): the likeliest tokens of each step with theirs,
   * highest first. Needs `logprobs: true`. */
  top_logprobs?: number | null;
  /** When `messages` ends with an assistant message: true (default, as
   * llama-server) continues that text; false closes the turn and starts a new reply. */
  continue_final_message?: boolean | null;
  /** Tools the model may call. A model whose chat template does not take
   * tools, or (with `auto`) whose call format tabllm does not read, refuses
   * them (`invalid_request`, `details.field: 'tools'`). Formats read: Hermes /
   * Qwen2.5 / Qwen3 (`<tool_call>`), Qwen3.5 (`<function=…>` XML), LFM2 (Python calls), Gemma 4 (`<|tool_call>call:…`), Llama 3.1–3.3 (a JSON reply), Mistral
   * (`[TOOL_CALLS]`). A reply whose call text does not parse comes back as
   * plain content. Each bad field is refused by name (`tools[1].function.name`). */
  tools?: FunctionTool[];
  tool_choice?: ToolChoice;
  /** true (default): every call in the reply comes back; false: the first only. */
  parallel_tool_calls?: boolean;
  /** Extra variables for the model's chat template, as llama-server's
   * `chat_template_kwargs` (Hugging Face's `apply_chat_template(**kwargs)`):
   * `{ enable_thinking: false }` turns thinking off for the templates that
   * read it (Qwen3, Qwen3.5, SmolLM3). Names tabllm gives the template itself
   * (`messages`, `tools`, `add_generation_prompt`, `bos_token`, `eos_token`,
   * `raise_exception`, `strftime_now`) are refused (`details.field:
   * 'chat_template_kwargs.messages'`), as are names a template cannot read
   * (`'foo-bar'`, `__proto__`: `details: { field: 'chat_template_kwargs', key }`)
   * and an `enable_thinking` that is not a boolean (`details.field:
   * 'chat_template_kwargs.enable_thinking'`). */
  chat_template_kwargs?: { enable_thinking?: boolean; [name: string]: unknown } | null;
}
/** `prompt`: text (BOS added when the model wants one), or token ids as they are. */
export interface CompletionRequest extends SamplingOptions { prompt: string | number[]; stream?: boolean | null; stream_options?: StreamOptions | null }

/** `tool_calls`: the reply called tools (chat completions with `tools`). */
export type FinishReason = 'stop' | 'length' | 'tool_calls';

/** A token as OpenAI names it: its text (lossy UTF-8 of its bytes, which may
 * be part of a character), its natural-log probability (−9999 for a
 * probability of 0, as OpenAI) and its bytes. */
export interface TopLogprob { token: string; logprob: number; bytes: number[] }
export interface TokenLogprob extends TopLogprob { top_logprobs: TopLogprob[] }
/** `choices[i].logprobs` with `logprobs: true` (null otherwise). Streamed,
 * each chunk holds the tokens of its text; tokens whose text a stop string
 * cut away come on the choice's last chunk. */
export interface ChoiceLogprobs { content: TokenLogprob[]; refusal: null }

export interface Usage { prompt_tokens: number; completion_tokens: number; total_tokens: number }
/** tabllm's own figures for one request. */
export interface Timings {
  /** Prompt tokens actually run: fewer than `prompt_tokens` when the KV cache already held a shared prefix. */
  prefilled_tokens: number;
  prefill_tok_s: number;
  decode_tok_s: number;
  /** Token ids of the prompt and of the completion (ending with the end-of-generation token if one came). */
  prompt_ids: number[];
  completion_ids: number[];
}

/** A reply. With tool calls (`finish_reason: 'tool_calls'`): `tool_calls`
 * holds them (ids `call_…`, or 9 letters/digits for Mistral, whose template
 * takes no other; `arguments` the JSON text of the arguments object), and
 * `content` the text around them, null when there is none.
 * `reasoning_content`: a thinking model's reasoning (its `<think>…</think>`,
 * or from the start when the template opened `<think>` itself), apart from
 * `content`, as llama-server and the DeepSeek API return it; present only
 * when the reply had some. A reply cut by `max_tokens` inside its reasoning
 * has all of it there and `content` empty. Thinking models are those whose
 * vocabulary has `<think>` and `</think>` tokens (Qwen3, Qwen3.5, SmolLM3,
 * DeepSeek-R1); other replies are unchanged. */
export interface AssistantMessage { role: 'assistant'; content: string | null; reasoning_content?: string; tool_calls?: ToolCall[]; refusal: null }
/** A streamed call: each call comes whole, in one chunk (its index, id, name
 * and all its arguments), after the content; text that might begin a call is
 * held back, so no call markup reaches `delta.content`. */
export interface ToolCallDelta { index: number; id?: string; type?: 'function'; function?: { name?: string; arguments?: string } }

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{ index: number; message: AssistantMessage; logprobs: ChoiceLogprobs | null; finish_reason: FinishReason }>;
  usage: Usage;
  timings: Timings;
}
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  /** One choice (its `index` says which); none on the usage chunk. A
   * thinking model's reasoning streams as `delta.reasoning_content`, before
   * the `delta.content` of its answer (see AssistantMessage). */
  choices: Array<{ index: number; delta: { role?: 'assistant'; content?: string; reasoning_content?: string; tool_calls?: ToolCallDelta[] }; logprobs: ChoiceLogprobs | null; finish_reason: FinishReason | null }>;
  /** With `stream_options.include_usage`: the request's on the last chunk
   * (`choices: []`), null on the others; absent otherwise (see StreamOptions). */
  usage?: Usage | null;
  /** On the last chunk only: the usage chunk, or without one the last choice's finish chunk. */
  timings?: Timings;
}
export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{ index: number; text: string; logprobs: null; finish_reason: FinishReason }>;
  usage: Usage;
  timings: Timings;
}
export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  /** One choice (its `index` says which); none on the usage chunk. */
  choices: Array<{ index: number; text: string; logprobs: null; finish_reason: FinishReason | null }>;
  /** As ChatCompletionChunk's. */
  usage?: Usage | null;
  timings?: Timings;
}

export interface ModelInfo {
  /** general.name, or the file name. */
  name: string;
  /** The Hugging Face repo and file(s) of an `hf:` name; null for a URL or a file. */
  hf: HubSource | null;
  architecture: string;
  /** The context this engine allocated (the option, or the model's capped at 4096). */
  context: number;
  /** The context the model was trained with (GGUF `{arch}.context_length`; null when the file does not say). */
  context_train: number | null;
  /** What the load accepted but you should know: a `context` beyond
   * `context_train` (text past it may degrade; llama.cpp warns the same). */
  warnings: string[];
  vocab: number;
  layers: number;
  weight_bytes: number;
  /** Bytes of KV cache allocated for `context` (f16 or f32 on WebGPU, f16 on the CPU). */
  kv_cache_bytes: number;
  has_chat_template: boolean;
  /** Size of the GGUF header (metadata and tensor infos) of the first part, in bytes. */
  header_bytes: number;
  /** Where the model runs: WebGPU, or the wasm CPU backend. */
  backend: 'webgpu' | 'cpu';
  /** Why (`backend: 'auto'` picks the CPU without WebGPU, without an adapter, or on a software rasterizer). */
  backend_reason: string;
  /** The CPU backend's threads and why that many (asked for, the default
   * for the cores, or one because the page is not cross-origin isolated);
   * null on WebGPU. */
  threads: { count: number; reason: string } | null;
  /** The WebGPU adapter; null on the CPU backend. */
  adapter: { name: string; vendor: string; architecture: string; description: string; precision: 'F32' | 'F16' } | null;
  /** The device's limits; null on the CPU backend. */
  limits: { max_buffer_size: number; max_storage_buffer_binding_size: number } | null;
  load_seconds: number;
  from_cache: boolean;
  /** Whether the server confirmed, before the cached copy was used, that it is
   * its file still (a HEAD: same size, same ETag / Last-Modified). false: the
   * server could not be asked (offline, an HTTP error, no answer within 5 s)
   * and the copy was used unchecked (`cache_error` says why). null when no
   * part came from the cache. A copy the server contradicts is never used: it
   * is deleted and the model downloaded again (`from_cache` false). */
  cache_validated: boolean | null;
  /** A browser-storage problem that did not stop the load, or null: why the
   * download was not kept (not enough room: the bytes needed and free; full,
   * locked by another tab; a browser without the origin private file system,
   * such as WebKitGTK…; the next load downloads again), or why a cached
   * copy was used unchecked (`cache_validated` false). */
  cache_error: string | null;
  /** Bytes read back from a download interrupted earlier (kept in browser
   * storage when the connection failed, the load was aborted or the tab
   * closed): the rest came with an HTTP Range request. 0 when none. */
  download_resumed_bytes: number;
  /** How many times a dropped connection was resumed during this load (a Range
   * request from the bytes already loaded); 0 when none dropped. */
  download_retries: number;
  /** Whether this origin's storage is persistent (navigator.storage.persist(),
   * asked before a download of 50 MB or more that is kept in browser storage;
   * a persistent origin's models are not evicted under storage pressure):
   * true / false as the browser answered, null when not asked (a smaller
   * download, `cache: false`, a cached or local model) or not answered within 3 s. */
  storage_persisted: boolean | null;
  /** Size of the wasm memory after the load; it only grows, so this is the peak
   * during the load. Loading streams: it stays below the model's header + 64 MiB
   * whatever the model's size (tests/browser/package.mjs). */
  wasm_memory_bytes: number;
}

/** llama-bench's tests, each count an integer from 1 to the context. */
export interface BenchOptions {
  /** Prompt processing: ppN reads N prompt tokens from an empty KV cache, in
   * steps of `max_batch` tokens. Default [512]; [] for none. */
  pp?: number[];
  /** Text generation: tgN decodes N tokens one at a time from an empty KV cache. Default [128]; [] for none. */
  tg?: number[];
  /** Older names: `pp: [prompt_tokens]`, `tg: [gen_tokens]`. */
  prompt_tokens?: number;
  gen_tokens?: number;
  /** llama-bench's `-d`: KV cache positions filled (untimed) before each test
   * runs again, each an integer from 0 to the context less one (else
   * `invalid_request`); default [0]. A depth's rows are named `tg128 @ d4096`;
   * a depth whose tests then overrun the context is refused (`context_full`). */
  depth?: number[];
  /** Runs of each test, 1 to 100 (default 1). */
  repetitions?: number;
}
export interface BenchRow {
  /** `pp512`, `tg128`; at a depth, `tg128 @ d4096`. */
  test: string;
  tokens: number;
  /** KV cache positions filled before the test (0: an empty cache). */
  depth: number;
  /** Wall seconds of one run (mean over the runs). */
  seconds: number;
  /** tokens / seconds, mean over the runs, and its standard deviation (0 for one run). */
  tok_s: number;
  tok_s_stddev: number;
  runs: number;
}
/** The first pp test's figures are also `prompt_tokens` / `prefill_tok_s`,
 * the first tg test's `gen_tokens` / `decode_tok_s` and the rest; each group
 * is absent without such a test. */
export interface BenchResult {
  tests: BenchRow[];
  /** Tokens per prefill step. */
  max_batch: number;
  prompt_tokens?: number;
  gen_tokens?: number;
  prefill_tok_s?: number;
  decode_tok_s?: number;
  /** Bytes the forward pass reads per decoded token (weights + KV cache). */
  bytes_per_token?: number;
  weight_bytes_per_token?: number;
  kv_bytes_per_token?: number;
  /** bytes_per_token × decode_tok_s / 1e9. */
  implied_gbps?: number;
  /** Compute dispatches one decode step records (each costs the browser's
   * WebGPU implementation tens of microseconds). */
  dispatches_per_token?: number;
  /** Milliseconds of host (wasm + JS) time to write, encode and submit one
   * decode step, mean over the measured steps. */
  host_encode_ms_per_token?: number;
}

/**
 * An embeddings request (OpenAI's shape). Each input is embedded on its own:
 * the model's pooling (llama.cpp's `{arch}.pooling_type`: mean, cls or last)
 * over its final hidden states, L2-normalized as llama.cpp's
 * `common_embd_normalize`. Errors: `invalid_request` (with `details.field`)
 * for a bad field, a model that declares no pooling (`pooling`), or
 * `dimensions` above the model's width; `context_full` for an input longer
 * than the context; `aborted` between inputs.
 */
export interface EmbeddingRequest {
  /** A text, or 1..2048 texts (token-id inputs are refused). */
  input: string | string[];
  /** Keep the first N components and normalize again (Matryoshka models); 1..the model's width. */
  dimensions?: number | null;
  /** 'float' (default): arrays of numbers; 'base64': the little-endian f32 bytes, as OpenAI sends them. */
  encoding_format?: 'float' | 'base64' | null;
  /** tabllm: override the model's pooling (llama.cpp's `--pooling`). */
  pooling?: 'mean' | 'cls' | 'last' | null;
  /** Accepted and ignored (the engine has one model). */
  model?: string;
  user?: string;
  signal?: AbortSignal;
  /** After each input. */
  onProgress?: (p: { inputs_done: number; inputs_total: number }) => void;
}

export interface EmbeddingList<E> {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: E }>;
  model: string;
  /** Tokens read, special tokens (BOS / EOS) included. */
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface Engine {
  readonly info: ModelInfo;
  chat: {
    completions: {
      create(req: ChatCompletionRequest & { stream?: false | null }): Promise<ChatCompletion>;
      create(req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
    };
  };
  completions: {
    create(req: CompletionRequest & { stream?: false | null }): Promise<Completion>;
    create(req: CompletionRequest & { stream: true }): Promise<AsyncIterable<CompletionChunk>>;
  };
  /** OpenAI's embeddings endpoint, on an embedding model (one whose GGUF declares `pooling_type`, as Qwen3-Embedding's does; or name `pooling`). */
  embeddings: {
    create(req: EmbeddingRequest & { encoding_format?: 'float' | null }): Promise<EmbeddingList<number[]>>;
    create(req: EmbeddingRequest & { encoding_format: 'base64' }): Promise<EmbeddingList<string>>;
  };
  /** Token ids of `text` (special tokens such as `<|im_start|>` parsed when `special` is true); no BOS is added. */
  tokenize(text: string, opts?: { special?: boolean }): Promise<number[]>;
  detokenize(ids: number[]): Promise<string>;
  /** The chat prompt the template renders for these messages (and `tools` and `chat_template_kwargs`, as a request passes them). */
  applyChatTemplate(messages: ChatMessage[], opts?: { tools?: FunctionTool[] | null; chat_template_kwargs?: { [name: string]: unknown } | null }): Promise<string>;
  /** Forget the KV cache (the next request prefills from scratch). */
  reset(): Promise<void>;
  bench(opts?: BenchOptions): Promise<BenchResult>;
  /** Stops what is running, frees the GPU buffers and ends the worker. A worker
   * that does not answer within 1 s (stuck in a call that never yields) is ended
   * anyway; requests still in flight reject with `unloaded`. */
  unload(): Promise<void>;
}

export type ErrorCode =
  | 'webgpu_unavailable' | 'device_lost' | 'model_too_large' | 'download_failed'
  | 'unsupported_architecture' | 'unsupported_tensor_type' | 'invalid_model'
  | 'context_full' | 'context_too_large' | 'aborted' | 'unloaded' | 'invalid_request' | 'storage' | 'timeout' | 'internal';

export class TabllmError extends Error {
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>);
  code: ErrorCode;
  /** Extra facts for the message, e.g. { bytes, limit } for model_too_large, { status, url } for download_failed ({ url, changed: true } when the file changed on the server mid-download; { url, status: 206, contentRange, badRange: true } when a resume got other bytes than asked, or bytes it cannot show are the same file's; `reason`: 'content_encoding' for a compressed model file, 'size_mismatch' for a Content-Length or X-Linked-Size other than the Hub lists, 'too_long' for more bytes than the file's size, 'no_content_length' / 'no_validator' for a dropped download that cannot be resumed). For `hf:` names see HubName. */
  details?: Record<string, unknown>;
}

export function createEngine(opts: EngineOptions): Promise<Engine>;

/** The checks createEngine makes before loading anything (unknown options and values out of range, by name; the model source and hfEndpoint parsed). Throws TabllmError 'invalid_request' with `details.field` where createEngine would; loads nothing. */
export function validateEngineOptions(opts: EngineOptions): void;

/** A file in browser storage, as listCachedModels() lists it. Sizes in bytes. */
export type CachedModel =
  /** A complete download of `url`. */
  | { url: string; bytes: number }
  /** A download of `url` to be resumed: `bytes` it holds of `total`. */
  | { url: string; bytes: number; total: number; partial: true }
  /** A file of the cache directory the index does not name (`key`: its file
   * name), e.g. a partial download whose entry was dropped while another tab
   * still wrote it. It takes room; deleteCachedModels() with no URL removes it.
   * (A download another tab is just starting can show so for a moment.) */
  | { url: null; key: string; bytes: number; orphan: true };
/** Models kept in browser storage: one entry per cached file, one per
 * download to be resumed, one per orphan file (see CachedModel). */
export function listCachedModels(): Promise<CachedModel[]>;
/** Deletes one cached model (by the URL it was loaded from, relative to the
 * page), or, with no URL, every file in browser storage, partial downloads
 * and orphans too. Rejects with `invalid_request` (details.field 'url') for
 * a URL that does not parse, and with `storage` when a file could not be
 * removed, e.g. because another tab is downloading or loading it: the rest
 * is deleted, that file stays listed, and `details.files` ({ url, file }:
 * url null for an orphan) names it. */
export function deleteCachedModels(url?: string): Promise<void>;

export interface SummarizeOptions {
  /** Tokens per summary (map and reduce steps). Default 128. */
  max_tokens?: number;
  temperature?: number;
  /** What to ask for; default "Summarize the following text concisely." */
  instruction?: string;
  /** Each stage and step as it starts, then how far its request has read its
   * prompt (`prompt_tokens_done` / `prompt_tokens_total`, see PromptProgress). */
  onProgress?: (p: { stage: number; step: number; steps: number; chunk_tokens: number } & Partial<PromptProgress>) => void;
  /** Streams the final summary's text. */
  onText?: (piece: string) => void;
  signal?: AbortSignal;
}
export interface SummaryResult {
  summary: string;
  /** Summarization stages run: 1 when the text fit the context, more when it was split (map, then reduce). */
  stages: number;
  chunks: number;
  input_tokens: number;
}
/** Summarizes text of any length: longer than the context it is split on token
 * counts and summarized in stages (map, then reduce). */
export function summarize(engine: Engine, text: string, opts?: SummarizeOptions): Promise<SummaryResult>;

/** Options of a DocumentIndex; any other name is refused (`invalid_request`, details.field). */
export interface DocumentIndexOptions {
  /** Most tokens of text per chunk, as the embedding model's tokenizer counts
   * them: 16 to the model's context less 4. Default 200, or less where the
   * context (less the document prefix and 4 for the model's special tokens)
   * is smaller. */
  chunkTokens?: number;
  /** Tokens two neighbouring chunks share at most: whole sentences (or whole
   * paragraphs) from the end of the first. 0 to chunkTokens / 2; default 32. */
  overlapTokens?: number;
  /** Put before each query when it is embedded, as some models want
   * ("search_query: " for nomic-embed-text, "query: " for e5). Default: what
   * the model's card asks for, by `modelPrefixes(engine.info)` (nomic-bert,
   * gemma-embedding, Qwen3-Embedding, bge v1.5), else ''; '' turns it off. */
  queryPrefix?: string;
  /** Put before each chunk when it is embedded ("search_document: ",
   * "passage: "). Default: `modelPrefixes(engine.info).document`, else ''. */
  documentPrefix?: string;
  /** How search() ranks by default: 'cosine' (the default: it measured best
   * with a real embedding model, pkg/README.md), 'hybrid' (cosine and BM25
   * fused by reciprocal rank) or 'bm25'. */
  retrieval?: 'hybrid' | 'cosine' | 'bm25';
  /** Matryoshka truncation, passed to embeddings.create. */
  dimensions?: number;
}
export interface DocumentInput {
  /** 1 to 512 characters; a document with an id already in the index replaces it. */
  id: string;
  /** Shown with results; default the id. */
  name?: string;
  /** The document's text (not empty). */
  text: string;
}
/** How far add() is: documents finished, chunks embedded (totals once every document is chunked; null before). */
export interface DocumentProgress { docs_done: number; docs_total: number; chunks_done: number; chunks_total: number | null }
export interface DocumentChunk {
  /** The chunk's index in its document. */
  index: number;
  /** Its range of the document's text: [start, end), UTF-16 code units (String.prototype.slice's), white space trimmed. */
  start: number;
  end: number;
  /** Its text's tokens (the embedding model's tokenizer, no special tokens). */
  tokens: number;
  text: string;
}
export interface SearchResult {
  docId: string;
  name: string;
  /** The chunk's index in its document. */
  chunk: number;
  text: string;
  /** [start, end) of the document's text, as DocumentChunk. */
  start: number;
  end: number;
  /** The ranking's score: the cosine ('cosine'), BM25 ('bm25'), or Σ 1 / (60 + rank) over both rankings ('hybrid'). */
  score: number;
  /** Cosine of the query's and the chunk's embeddings; null in 'bm25' mode. */
  cosine: number | null;
  /** BM25 of the query's words in the chunk (0 in 'cosine' mode, or without a shared word). */
  bm25: number;
}
/** What identifies the embedding model of an index (from ModelInfo), and the vectors' width (null before the first embedding). */
export interface EmbeddingModelIdentity { name: string; architecture: string; weight_bytes: number; header_bytes: number; vocab: number; layers: number; n_embd: number | null }
export interface StoredDocumentIndex {
  name: string;
  model: EmbeddingModelIdentity;
  options: Required<Omit<DocumentIndexOptions, 'dimensions'>> & { dimensions: number | null };
  documents: Array<{ id: string; name: string; chars: number; chunks: number }>;
}
/**
 * Retrieval over documents in the tab, on an embedding engine (one whose
 * model embeds: see Engine.embeddings). Documents are chunked on the model's
 * token counts, embedded, and searched by cosine (the default), BM25 or
 * both (hybrid); persist() keeps them in IndexedDB with the model's identity.
 * Errors: `invalid_request` (details.field) for a bad option, document or
 * query, or an index of another model; `aborted` (details.added: the ids
 * finished) for add(); `storage` when IndexedDB fails; and the engine's own.
 */
/** The query and document prefixes an embedding model's card asks for in
 * retrieval (nomic-embed-text, EmbeddingGemma, Qwen3-Embedding, bge v1.5),
 * from ModelInfo's architecture and name; '' for each where none. */
export function modelPrefixes(info: { architecture: string; name: string }): { query: string; document: string };

export class DocumentIndex {
  constructor(engine: Engine, options?: DocumentIndexOptions);
  /** The options in force (defaults filled in). */
  readonly options: Required<Omit<DocumentIndexOptions, 'dimensions'>> & { dimensions: number | null };
  readonly model: EmbeddingModelIdentity;
  /** Documents held. */
  readonly size: number;
  /** Chunks, embeds and adds the documents; an abort keeps the documents finished before it. */
  add(docs: DocumentInput[], opts?: { signal?: AbortSignal; onProgress?: (p: DocumentProgress) => void }): Promise<{ added: Array<{ id: string; chunks: number }>; chunks: number; tokens: number }>;
  /** true if the document was here. */
  remove(id: string): boolean;
  /** The k (1 to 1000, default 5) best chunks for the query, best first. */
  search(query: string, opts?: { k?: number; retrieval?: 'hybrid' | 'cosine' | 'bm25'; signal?: AbortSignal }): Promise<SearchResult[]>;
  documents(): Array<{ id: string; name: string; chars: number; chunks: number }>;
  document(id: string): { id: string; name: string; text: string } | null;
  chunks(id: string): DocumentChunk[] | null;
  /** Keeps the index in IndexedDB under `name` (again: only what changed). */
  persist(name: string): Promise<{ name: string; documents: number; written: number }>;
  /** The index kept under `name`, without embedding again; another model's is refused unless `rebuild: true` (then re-embedded and saved again). */
  static open(engine: Engine, name: string, opts?: { rebuild?: boolean; signal?: AbortSignal; onProgress?: (p: DocumentProgress) => void }): Promise<DocumentIndex>;
  /** What is kept under `name` (no vectors read), or null. */
  static peek(name: string): Promise<StoredDocumentIndex | null>;
  static list(): Promise<string[]>;
  static delete(name: string): Promise<boolean>;
}

// Device figures (the bench page uses them too).
/** `bytes`: moved by one run (copy reads and writes, so twice `size`); `reps`: dispatches per timed sample. */
export interface BandwidthResult { op: 'read' | 'write' | 'copy'; bytes: number; size: number; reps: number; gbps: { median: number; min: number; max: number } }
export interface BandwidthReport {
  adapter: { vendor: string; architecture: string; device: string; description: string; software: boolean; [key: string]: string | boolean };
  limits: { max_buffer_size: number; max_storage_buffer_binding_size: number };
  results: BandwidthResult[];
  peak_gbps: number;
  timing: 'timestamp-query' | 'wall-clock';
}
export function measureBandwidth(opts?: { max_bytes?: number; sizes?: number[]; ops?: Array<'read' | 'write' | 'copy'>; runs?: number }): Promise<BandwidthReport>;

export interface ModelReport {
  architecture: string;
  name: string | null;
  parameters: number;
  tensor_types: Record<string, { count: number; bytes: number }>;
  weight_bytes: number;
  kv_bytes: number;
  total_bytes: number;
  largest_tensor_bytes: number;
  largest_tensor: { name: string; bytes: number } | null;
  context: number;
  supported: boolean;
  unsupported_reason: string | null;
  /** Bytes actually read to answer (the header only), and the file's size when the server said it. */
  bytes_fetched: number;
  file_bytes: number | null;
  /** `unknown` when only some parts of a split model were given (`split_count` > 1): pass every part (or the URL of part 1, which brings the others). */
  fits: 'fits' | 'fits_smaller_context' | 'does_not_fit' | 'unknown';
  /** Files the model is split into (`split.count`; 1 for one file). */
  split_count: number;
  reason: string;
  max_context_that_fits: number | null;
  predicted_decode_tok_s: number | null;
  /** Weights the forward pass uploads (tensors it does not read are skipped). */
  loaded_weight_bytes: number;
  /** Tensors of a supported model the text model does not read (a vision or audio encoder in the same file): skipped, not an error. */
  unread_tensors: number;
  /** The first of them, or null. */
  unread_tensor_example: string | null;
  context_train: number | null;
  kv_bytes_per_element: 2 | 4;
  n_layers: number | null;
  n_kv_heads: number | null;
  head_dim: number | null;
  /** Gemma 3's sliding-window layers keep min(context, window + batch) positions. */
  sliding_window: number | null;
  n_local_layers: number;
  /** Tensors larger than one binding, split by rows over `parts` buffers. */
  split_tensors: Array<{ name: string; bytes: number; parts: number }>;
  decode_bytes_per_token: number;
  /** Largest K or V buffer of one layer (bound whole). */
  kv_layer_bytes_max: number;
}
/** The limits a model was sized against: the device createEngine({ backend })
 * would run it on (src/budget.rs). */
export interface DeviceBudget {
  /** `auto` picks WebGPU on a hardware adapter, the CPU backend on a software one or without WebGPU. */
  backend: 'webgpu' | 'cpu';
  backend_reason: string;
  /** 2 on WebGPU with shader-f16 and always on the CPU backend (f16 KV cache), else 4 (f32). */
  kv_bytes_per_element: 2 | 4;
  /** The adapter's limits on WebGPU; null on the CPU backend (no bindings). */
  max_buffer_size: number | null;
  max_storage_buffer_binding_size: number | null;
  /** Bytes weights + KV cache may take. CPU backend: 32-bit wasm's 4 GiB less
   * 384 MiB for the engine (3,892,314,112), or navigator.deviceMemory GiB when
   * smaller. WebGPU: null, as WebGPU does not say how much GPU memory there is. */
  memory_bytes: number | null;
  /** Where memory_bytes comes from, in words ("unknown: …" when null). */
  memory_source: string;
  /** navigator.deviceMemory (RAM in GiB, rounded down to a power of two, capped at 8 by Chrome); null where the browser does not say. */
  device_memory_gib: number | null;
}
/** Reads only a GGUF's header (HTTP Range requests, or a file's first bytes)
 * and says whether it will run on the device createEngine({ backend }) would
 * run it on. Every limit left out (undefined or null) is this device's (see
 * DeviceBudget). Unknown options are refused by name (`invalid_request`,
 * details.field); so are values out of range or of another type (NaN,
 * ±Infinity, a string), before anything is fetched. */
export interface InspectOptions {
  /** Context to size the KV cache for: an integer, 1 to 2^20 (default: the model's, capped at 4096). */
  context?: number;
  /** Measured bandwidth in GB/s (e.g. measureBandwidth().peak_gbps) for predicted_decode_tok_s: finite, above 0. */
  bandwidth_gbps?: number;
  /** Bytes weights + KV cache may use: an integer, 2^20 to Number.MAX_SAFE_INTEGER (default: DeviceBudget.memory_bytes). */
  available_bytes?: number;
  /** Bytes per KV cache element: 2 (f16) or 4 (f32). Default: DeviceBudget.kv_bytes_per_element. */
  kv_bytes_per_element?: 2 | 4;
  /** Bytes, integers from 2^20 to Number.MAX_SAFE_INTEGER. Default: the adapter's limits on WebGPU, none on the CPU backend. */
  max_buffer_size?: number;
  max_storage_buffer_binding_size?: number;
  /** Which device to size for, as createEngine's `backend` (default 'auto'). */
  backend?: 'auto' | 'webgpu' | 'cpu';
}
/** `hf`: the repo and file(s) of an `hf:` name, else null. `hfEndpoint`: as createEngine's. */
export function inspectModel(model: ModelSource, opts?: InspectOptions & { hfEndpoint?: string }): Promise<ModelReport & { device: DeviceBudget; hf: HubSource | null }>;

/** A quantization mix as llama.cpp's llama-quantize names it (per-tensor types as llama.cpp chooses them). */
export type QuantMix = 'q4_0' | 'q8_0' | 'q4_k_m' | 'q5_k_m' | 'q6_k';
export interface CatalogOptions extends InspectOptions {
  /** Mixes to size every shape in, a non-empty array (default ['q4_k_m']); an unknown one is refused, naming the known. */
  mixes?: QuantMix[];
}
/** One model shape in one mix, sized as ModelReport sizes a file (`tabllm info --shape S --type M --json` natively). */
export interface CatalogRow extends Omit<ModelReport, 'bytes_fetched' | 'file_bytes'> {
  /** Catalog name, e.g. 'llama-3.1-8b'. */
  shape: string;
  mix: QuantMix;
  tensor_count: number;
  /** K + V bytes one position adds over every layer: 2 × layers × kv_heads × head_dim × kv_bytes_per_element. */
  kv_bytes_per_token: number;
}
export interface CatalogTable {
  device: DeviceBudget;
  mixes: QuantMix[];
  /** Shape by shape (smallest families first), each in the order of `mixes`. */
  rows: CatalogRow[];
}
/** "What can I run here?" without a file: the catalog's model shapes (Llama
 * 3.x, Qwen 2.5 / 3, Gemma 3, Mistral, Phi…) in the mixes asked for, each
 * with weights, KV cache at the context, a fit verdict for this device and,
 * given bandwidth_gbps, the memory-bound decode ceiling. Nothing is downloaded. */
export function inspectCatalog(opts?: CatalogOptions): Promise<CatalogTable>;
