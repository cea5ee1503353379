// summarize(engine, text, opts): summaries of text of any length, on top of
// the Engine API alone (tokenize, detokenize, applyChatTemplate, chat).
//
// Text that fits the context is summarized in one streamed request. Longer
// text is split on token counts into chunks that each fit the context with
// the prompt template and `max_tokens` of output (map: one summary per chunk),
// then the joined summaries are summarized again, split again while they are
// still too long (reduce). Only the last stage streams through `onText`.
// Chunks are exact slices of the text, cut at a paragraph or sentence end when
// one lies in the last 20% of the token budget; nothing is ever dropped.

import { TabllmError } from './errors.js';

const DEFAULT_INSTRUCTION = 'Summarize the following text concisely.';
const DEFAULT_MAX_TOKENS = 128;
// Tokens kept free besides the measured prompt overhead: a chunk tokenized
// inside the prompt can come out a few tokens longer than tokenized alone.
// Every chunk is still measured in its real prompt before it is sent.
const SLACK = 8;
// Where a cut may move back to a paragraph or sentence end: the last 20%.
const CUT_WINDOW = 0.2;

const tabllmError = (code, message, details) => new TabllmError(code, message, details);

/** @param {import('./tabllm.js').Engine} engine @param {string} text @param {import('./tabllm.js').SummarizeOptions} [opts] */
export async function summarize(engine, text, opts = {}) {
  const maxTokens = opts.max_tokens ?? DEFAULT_MAX_TOKENS;
  const instruction = opts.instruction ?? DEFAULT_INSTRUCTION;
  const context = engine.info.context;
  if (typeof text !== 'string' || text.trim() === '') throw tabllmError('invalid_request', 'summarize: the text is empty');
  if (!(Number.isInteger(maxTokens) && maxTokens > 0)) throw tabllmError('invalid_request', `summarize: max_tokens must be a positive integer, not ${maxTokens}`);

  const messagesFor = (chunk) => [{ role: 'user', content: `${instruction}\n\n${chunk}` }];
  const promptTokens = async (chunk) =>
    (await engine.tokenize(await engine.applyChatTemplate(messagesFor(chunk)), { special: true })).length;
  // Tokens by which a request for `chunk` would overflow the context (<= 0: it fits).
  const excess = async (chunk) => (await promptTokens(chunk)) + maxTokens - context;
  const fits = async (chunk) => (await excess(chunk)) <= 0;

  const overhead = await promptTokens('');
  // Tokens of text one request can take.
  const budget = context - overhead - maxTokens - SLACK;
  const inputTokens = (await engine.tokenize(text)).length;
  const needsSplit = inputTokens > budget + SLACK || !(await fits(text));
  if (needsSplit && budget < 2 * maxTokens) {
    // Below 2 × max_tokens a stage of summaries need not be shorter than its
    // input, so the reduce steps might never fit the context.
    throw tabllmError('context_full',
      `The text (${inputTokens} tokens) is longer than the context (${context} tokens), and after the prompt (${overhead} tokens) ` +
      `and max_tokens (${maxTokens}) only ${Math.max(budget, 0)} tokens of text fit in one request: too few to summarize it in parts. ` +
      `Use a larger context or a smaller max_tokens.`,
      { context, max_tokens: maxTokens, prompt_tokens: overhead, input_tokens: inputTokens, chunk_budget: budget });
  }

  // Each request's prompt reading is reported as part of its step.
  let step = null;
  const request = (chunk) => {
    const req = { messages: messagesFor(chunk), max_tokens: maxTokens, onProgress: (p) => step && opts.onProgress?.({ ...step, ...p }) };
    if (opts.temperature !== undefined) req.temperature = opts.temperature;
    if (opts.signal) req.signal = opts.signal;
    return req;
  };
  const throwIfAborted = () => {
    if (opts.signal?.aborted) throw tabllmError('aborted', 'summarize: aborted');
  };

  let current = text;
  let currentTokens = inputTokens;
  let firstChunks = 1;
  for (let stage = 1; ; stage++) {
    throwIfAborted();
    if (stage > 1 || !needsSplit) {
      if (currentTokens <= budget + SLACK && (await fits(current))) {
        step = { stage, step: 1, steps: 1, chunk_tokens: currentTokens };
        opts.onProgress?.(step);
        const summary = await streamSummary(engine, { ...request(current), stream: true }, opts.onText);
        return { summary, stages: stage, chunks: firstChunks, input_tokens: inputTokens };
      }
    }
    const chunks = await split(engine, current, budget, excess);
    if (stage === 1) firstChunks = chunks.length;
    const parts = [];
    for (const [i, chunk] of chunks.entries()) {
      throwIfAborted();
      step = { stage, step: i + 1, steps: chunks.length, chunk_tokens: chunk.tokens };
      opts.onProgress?.(step);
      const r = await engine.chat.completions.create(request(chunk.text));
      parts.push(r.choices[0].message.content.trim());
    }
    const joined = parts.join('\n\n');
    const joinedTokens = (await engine.tokenize(joined)).length;
    if (joinedTokens >= currentTokens) {
      throw tabllmError('context_full',
        `Stage ${stage} summaries (${joinedTokens} tokens) came out no shorter than their input (${currentTokens} tokens), ` +
        `so they cannot be reduced to fit the context (${context} tokens). Use a larger context or a smaller max_tokens.`,
        { context, max_tokens: maxTokens, stage, input_tokens: currentTokens, output_tokens: joinedTokens });
    }
    current = joined;
    currentTokens = joinedTokens;
  }
}

async function streamSummary(engine, req, onText) {
  const stream = await engine.chat.completions.create(req);
  let out = '';
  for await (const chunk of stream) {
    const piece = chunk.choices[0]?.delta?.content;
    if (piece) {
      out += piece;
      onText?.(piece);
    }
  }
  return out.trim();
}

/** Splits `text` into consecutive slices of about `budget` tokens whose
 * requests fit the context (`excess` <= 0); their concatenation is `text`. */
async function split(engine, text, budget, excess) {
  const chunks = [];
  let rest = text;
  while (rest.length > 0) {
    const chunk = await takeChunk(engine, rest, budget, excess);
    chunks.push(chunk);
    rest = rest.slice(chunk.text.length);
  }
  return chunks;
}

async function takeChunk(engine, rest, budget, excess) {
  // A prefix of `rest` long enough to hold `budget` tokens, and its token ids.
  let window = Math.min(rest.length, budget * 8);
  let ids = await engine.tokenize(rest.slice(0, window));
  while (ids.length <= budget && window < rest.length) {
    window = Math.min(rest.length, window * 2);
    ids = await engine.tokenize(rest.slice(0, window));
  }
  let end = ids.length <= budget ? rest.length : alignedLength(rest, await engine.detokenize(ids.slice(0, budget)));
  for (;;) {
    const cut = end >= rest.length ? rest.length : cutPoint(rest, end);
    if (cut <= 0) {
      throw tabllmError('context_full', 'summarize: not even one character of text fits the context beside the prompt', { budget });
    }
    const head = rest.slice(0, cut);
    const tokens = cut === rest.length && ids.length <= budget ? ids.length : (await engine.tokenize(head)).length;
    const over = tokens > budget + SLACK ? tokens - budget : await excess(head);
    if (over <= 0) return { text: head, tokens };
    // Over by a few tokens (tokenization in context differs): shrink and cut again.
    end = Math.min(cut - 1, Math.floor((cut * (tokens - over - 1)) / tokens));
  }
}

/** How many characters of `text` the detokenized `piece` (a prefix of its
 * tokens) covers. Usually `piece` is a prefix of `text`; a tokenizer may add a
 * leading space or end on half a UTF-8 character (U+FFFD), which is trimmed. */
function alignedLength(text, piece) {
  let p = piece;
  if (p.startsWith(' ') && !text.startsWith(' ')) p = p.slice(1);
  let n = 0;
  const max = Math.min(text.length, p.length);
  while (n < max && text.charCodeAt(n) === p.charCodeAt(n)) n++;
  // Not a prefix after all (a normalizing tokenizer): fall back to its length.
  return n >= p.length * 0.5 ? n : Math.min(p.length, text.length);
}

/** Where to end a chunk of `text` that may take `end` characters: after the
 * last paragraph break, else sentence end, else space in the last 20% of it. */
function cutPoint(text, end) {
  if (end >= text.length) return text.length;
  const head = text.slice(0, end);
  const floor = Math.floor(end * (1 - CUT_WINDOW));
  const paragraph = head.lastIndexOf('\n\n');
  if (paragraph >= 0 && paragraph + 2 > floor) return paragraph + 2;
  let sentence = -1;
  for (const m of head.matchAll(/[.!?]["'”’)\]]*\s+|[。！？]+/g)) sentence = m.index + m[0].length;
  if (sentence > floor) return sentence;
  const space = head.search(/\s\S*$/);
  if (space >= 0 && space + 1 > floor) return space + 1;
  // No boundary near: cut at the token budget, never inside a UTF-16 pair.
  const code = text.charCodeAt(end - 1);
  return code >= 0xd800 && code <= 0xdbff ? end - 1 : end;
}
