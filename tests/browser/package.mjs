// The npm package in headless Chromium (SwiftShader WebGPU, f32 path), used
// the way an app uses it: `npm pack` of pkg/ installed into app/node_modules
// and imported by name (`import { createEngine } from 'tabllm'`).
// Checks against llama.cpp's references in ../shared/reference.
// Usage: node tests/browser/package.mjs   (after scripts/build-web.sh)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { start, repo, shared, readJson, installPackage, cliBinary } from './harness.mjs';

installPackage();

mkdirSync(join(repo, 'models'), { recursive: true });
copyFileSync(join(shared, 'tiny/tiny-llama-q4_0.gguf'), join(repo, 'models/tiny-llama-q4_0.gguf'));
const tiny = readJson(join(shared, 'tiny/tiny-llama-q4_0.json'));
const smol = readJson(join(shared, 'smollm2-135m-instruct-q4_1.json'));
const SMOL = '/models/SmolLM2-135M-Instruct.Q4_1.gguf';

// SmolLM2 in 3 parts (gguf-split layout, written by the gguf package).
const splitDir = join(repo, 'models/split');
if (!existsSync(join(splitDir, 'smol-00003-of-00003.gguf'))) {
  mkdirSync(splitDir, { recursive: true });
  execFileSync('python3', [join(repo, 'scripts/split_gguf.py'), join(repo, SMOL.slice(1)), join(splitDir, 'smol'), '100']);
}

// Loading streams: the wasm memory after a load (its peak: it never shrinks)
// stays below the model's GGUF header plus this much, whatever the model's
// size. The fixed part is the engine's own state (the tokenizer's tables grow
// with the vocabulary, op lists, allocator slack) plus a few chunks in flight
// (fetch and File chunks are 64 KiB to 1 MiB). Measured in headless Chromium:
// tiny 3.3 MiB (header 0.03), SmolLM2 17.9 MiB (header 1.7), Gemma 3 46.2 MiB
// (header 6.2, vocabulary 262,144). Gemma's token_embd alone is 178 MB and
// its file 253 MB: a bound far below that shows no tensor is ever held whole.
const LOAD_MEMORY_OVER_HEADER = 64 * 2 ** 20;
const assertStreamed = (info) => assert.ok(info.header_bytes > 0 && info.wasm_memory_bytes <= info.header_bytes + LOAD_MEMORY_OVER_HEADER,
  `wasm memory ${info.wasm_memory_bytes} bytes after loading ${info.name}, over its header (${info.header_bytes} bytes) + ${LOAD_MEMORY_OVER_HEADER}`);

const h = await start();
const only = process.env.ONLY ? new RegExp(process.env.ONLY, 'i') : null; // run only the checks whose name matches
const check = (name, fn) => (only && !only.test(name) ? null : h.check(name, fn));
const { context, page } = await h.open('/tests/browser/app/index.html');
await page.waitForSelector('body[data-ready]');
// Every request of the page and its workers: method and URL path.
const requests = [];
context.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));

await check('both step encoders (one JS call per step, wgpu calls per dispatch) give llama.cpp\'s greedy ids; jsReplay is checked', async () => {
  const c = tiny.cases[0];
  const r = await page.evaluate(async ({ ids, n }) => {
    const out = {};
    for (const jsReplay of [true, false]) {
      const engine = await createEngine({ model: '/models/tiny-llama-q4_0.gguf', context: 128, cache: false, jsReplay });
      const done = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: n });
      const bench = await engine.bench({ prompt_tokens: 8, gen_tokens: 4 });
      await engine.unload();
      out[jsReplay] = { ids: done.timings.completion_ids, dispatches: bench.dispatches_per_token, encode: bench.host_encode_ms_per_token };
    }
    out.bad = await createEngine({ model: '/models/tiny-llama-q4_0.gguf', jsReplay: 'yes' }).then(() => 'loaded', (e) => `${e.code}: ${e.message}`);
    return out;
  }, { ids: c.prompt_ids, n: c.greedy_ids_f32_activations.length });
  for (const k of ['true', 'false']) {
    assert.deepEqual(r[k].ids, c.greedy_ids_f32_activations, `jsReplay ${k}`);
    assert.equal(r[k].dispatches, 5 * 2 + 3, `jsReplay ${k}: dispatches per token of the 2-layer model`);
  }
  assert.match(r.bad, /^invalid_request: jsReplay must be true or false/);
  console.log(`tiny model host encode per token: ${r.true.encode.toFixed(3)} ms replayed, ${r.false.encode.toFixed(3)} ms through wgpu`);
});

await check('tiny model: greedy ids equal llama.cpp, progress reported to the end', async () => {
  const c = tiny.cases[0];
  const r = await page.evaluate(async ({ ids, n }) => {
    const events = [];
    const engine = await createEngine({ model: '/models/tiny-llama-q4_0.gguf', context: 128, cache: false, onProgress: (p) => events.push(p) });
    // Token ids straight from the reference: the model alone is compared.
    const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: n });
    await engine.unload();
    return { events, info: engine.info, out };
  }, { ids: c.prompt_ids, n: c.greedy_ids_f32_activations.length });
  assert.deepEqual(r.out.timings.completion_ids, c.greedy_ids_f32_activations);
  const phases = [...new Set(r.events.map((e) => e.phase))];
  assert.deepEqual(phases[0], 'device');
  assert.equal(phases.at(-1), 'ready');
  assert.ok(phases.includes('download'), `phases ${phases}`);
  const fractions = r.events.filter((e) => e.fraction !== null).map((e) => e.fraction);
  assert.ok(fractions.every((f, i) => i === 0 || f >= fractions[i - 1]), 'progress never goes back');
  assert.equal(fractions.at(-1), 1);
  assert.equal(r.info.architecture, 'llama');
  assert.equal(r.info.context, 128);
  assertStreamed(r.info);
  assert.equal(r.out.object, 'text_completion');
});

// llama.cpp's logits within 0.02 (shared/reference/README.md), and so its normalizer: a log-softmax within twice that.
const TINY_LOGPROB_TOL = 0.04;
await check('logprobs of the first token are the log-softmax of llama.cpp\'s logits (tiny model: every logit known)', async () => {
  const c = tiny.cases[0];
  const r = await page.evaluate(async ({ ids }) => {
    const e = await createEngine({ model: '/models/tiny-llama-q4_0.gguf', context: 128, cache: false });
    // The worker's own request: the tiny model has no chat template.
    const out = await e.client.call('generate', { request: { prompt_ids: ids, temperature: 0, max_tokens: 2, logprobs: true, top_logprobs: 20 } });
    await e.unload();
    return out;
  }, { ids: c.prompt_ids });
  const l = c.logits_f32_activations;
  const max = Math.max(...l);
  const lse = max + Math.log(l.reduce((s, v) => s + Math.exp(v - max), 0));
  const want = [...l].sort((a, b) => b - a).slice(0, 20).map((v) => v - lse);
  const first = r.logprobs[0];
  assert.equal(r.ids[0], c.greedy_ids_f32_activations[0]);
  assert.equal(first.logprob, first.top_logprobs[0].logprob);
  // By rank, not id: near-ties may swap places, not values.
  first.top_logprobs.forEach((t, i) => assert.ok(Math.abs(t.logprob - want[i]) <= TINY_LOGPROB_TOL, `rank ${i}: ${t.logprob}, llama.cpp ${want[i]} (tolerance ${TINY_LOGPROB_TOL})`));
});

await check('logit_bias bans and forces tokens on both backends, greedy and sampled; a malformed one is refused by name, in the package and at the wasm boundary', async () => {
  const c = tiny.cases[0];
  const l = c.logits_f32_activations;
  // By llama.cpp's logits of the first step: the greedy token, the next best, the least likely.
  const order = [...l.keys()].sort((a, b) => l[b] - l[a]);
  const [top, second, low] = [order[0], order[1], order.at(-1)];
  const r = await page.evaluate(async ({ ids, top, low }) => {
    const out = {};
    const code = (p) => p.then(() => 'answered', (e) => `${e.code}: ${e.message} ${JSON.stringify(e.details ?? null)}`);
    for (const backend of ['webgpu', 'cpu']) {
      const e = await createEngine({ model: '/models/tiny-llama-q4_0.gguf', context: 128, cache: false, backend });
      const run = (extra) => e.completions.create({ prompt: ids, max_tokens: 6, ...extra }).then((x) => x.timings.completion_ids);
      out[backend] = {
        plain: await run({ temperature: 0 }),
        banned: await run({ temperature: 0, logit_bias: { [top]: -100 } }),
        forced: await run({ temperature: 0, logit_bias: { [low]: 100 } }),
        forcedSampled: await run({ temperature: 1, seed: 3, logit_bias: { [low]: 100, [top]: -1.5 } }),
        none: await run({ temperature: 0, logit_bias: null }),
      };
      if (backend === 'webgpu') {
        const text = (logit_bias) => code(e.completions.create({ prompt: ids, max_tokens: 1, logit_bias }));
        out.errors = {
          key: await text({ abc: 1 }),
          negative: await text({ '-1': 1 }),
          value: await text({ 5: 101 }),
          string: await text({ 5: '1' }),
          array: await text([1]),
          // Objects whose entries Object.keys does not see: refused, not read as no bias.
          map: await text(new Map([[String(top), -100]])),
          set: await text(new Set([1])),
          instance: await text(new (class Bias { constructor() { this[1] = 5; } })()),
          vocab: await text({ 1024: 1 }),
          // Straight to the worker, past the package's checks: the engine's own.
          wasmKey: await code(e.client.call('generate', { request: { prompt_ids: ids, max_tokens: 1, logit_bias: { '1.5': 1 } } })),
          wasmValue: await code(e.client.call('generate', { request: { prompt_ids: ids, max_tokens: 1, logit_bias: { 7: -100.5 } } })),
          chat: await code(e.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], max_tokens: 1, logit_bias: { x: 1 } })),
        };
      }
      await e.unload();
    }
    return out;
  }, { ids: c.prompt_ids, top, low });
  for (const backend of ['webgpu', 'cpu']) {
    const b = r[backend];
    assert.equal(b.plain[0], top, `${backend}: greedy starts with the top token`);
    assert.deepEqual(b.none, b.plain, `${backend}: logit_bias null is none`);
    assert.equal(b.banned[0], second, `${backend}: banned, the next best: ${b.banned}`);
    assert.ok(!b.banned.includes(top), `${backend}: the banned token never comes: ${b.banned}`);
    assert.deepEqual(b.forced, Array(6).fill(low), `${backend}: forced (greedy)`);
    assert.deepEqual(b.forcedSampled, Array(6).fill(low), `${backend}: forced (sampled)`);
  }
  const e = r.errors;
  assert.equal(e.key, 'invalid_request: logit_bias key "abc" is not a token id (a non-negative integer in decimal, such as "50256") {"field":"logit_bias","key":"abc"}');
  assert.match(e.negative, /^invalid_request: logit_bias key "-1" is not a token id .* \{"field":"logit_bias","key":"-1"\}$/);
  assert.equal(e.value, 'invalid_request: logit_bias["5"] must be a number from -100 to 100, got 101 {"field":"logit_bias","key":"5"}');
  assert.equal(e.string, 'invalid_request: logit_bias["5"] must be a number from -100 to 100, got "1" {"field":"logit_bias","key":"5"}');
  assert.match(e.array, /^invalid_request: logit_bias must be a plain object mapping token ids .*, got an array \{"field":"logit_bias"\}$/);
  assert.match(e.map, /^invalid_request: logit_bias must be a plain object .*, got a Map \(use Object.fromEntries\(map\)\) \{"field":"logit_bias"\}$/);
  assert.match(e.set, /^invalid_request: logit_bias must be a plain object .*, got a Set \{"field":"logit_bias"\}$/);
  assert.match(e.instance, /^invalid_request: logit_bias must be a plain object .*, got a Bias \{"field":"logit_bias"\}$/);
  assert.equal(e.vocab, 'invalid_request: logit_bias key "1024" is outside the vocabulary (ids 0 to 1023) {"field":"logit_bias","key":"1024"}');
  assert.match(e.wasmKey, /^invalid_request: logit_bias key "1.5" is not a token id .* \{"field":"logit_bias","key":"1.5"\}$/);
  assert.equal(e.wasmValue, 'invalid_request: logit_bias["7"] must be a number from -100 to 100, got -100.5 {"field":"logit_bias","key":"7"}');
  assert.match(e.chat, /^invalid_request: logit_bias key "x" is not a token id/);
});

await check('a local File loads (never fetched) and its greedy ids equal llama.cpp', async () => {
  await page.setInputFiles('#file', join(repo, 'models/tiny-llama-q4_0.gguf'));
  const c = tiny.cases[0];
  const before = requests.length;
  const r = await page.evaluate(async ({ ids, n }) => {
    const engine = await createEngine({ model: files()[0], context: 128 });
    const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: n });
    await engine.unload();
    return { info: engine.info, out };
  }, { ids: c.prompt_ids, n: c.greedy_ids_f32_activations.length });
  assert.deepEqual(r.out.timings.completion_ids, c.greedy_ids_f32_activations);
  assert.equal(r.info.architecture, 'llama');
  assert.equal(r.info.from_cache, false);
  assert.deepEqual(requests.slice(before).filter((p) => p.endsWith('.gguf')), [], 'a local file is never fetched');
});

const TINY = '/models/tiny-llama-q4_0.gguf';
// The tiny model answers these ids greedily: the proof that a fresh engine works.
const tinyAnswers = async (label) => {
  const c = tiny.cases[0];
  const ids = await page.evaluate(async ({ url, ids, n }) => {
    const engine = await createEngine({ model: url, context: 128, cache: false });
    const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: n });
    await engine.unload();
    return out.timings.completion_ids;
  }, { url: TINY, ids: c.prompt_ids, n: 8 });
  assert.deepEqual(ids, c.greedy_ids_f32_activations.slice(0, 8), `a new engine after ${label}`);
};

await check('OpenAI messages: text parts, tool messages, a final assistant message continued or closed, max_completion_tokens, refusals by name', async () => {
  const cases = (f) => readJson(join(repo, '../shared/cases/messages', f));
  const r = await page.evaluate(async ({ url, parts, plain, prefill, tools }) => {
    const engine = await createEngine({ model: url, context: 256, cache: false });
    const prompt = async (req) => (await engine.chat.completions.create({ temperature: 0, max_tokens: 1, ...req })).timings.prompt_ids;
    const text = async (req) => engine.detokenize(await prompt(req));
    const code = (p) => p.then(() => 'answered', (e) => `${e.code}: ${e.message}`);
    const named = (p) => p.then(() => 'answered', (e) => `${e.code}: ${e.message} ${JSON.stringify(e.details ?? null)}`);
    const out = {
      parts: await prompt({ messages: parts }),
      // Message-level refusals name the message and field (details.field), no JSON column.
      unknownField: await named(engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi', foo: 1 }] })),
      imagePart: await named(engine.chat.completions.create({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image_url', image_url: { url: 'x' } }] }] })),
      audio: await named(engine.chat.completions.create({ messages: [...plain, { role: 'assistant', content: 'x', audio: { id: 'a' } }] })),
      // An OpenAI reply appended as it came back (refusal, annotations, audio, function_call).
      openaiReply: await named(engine.chat.completions.create({ max_tokens: 1, messages: [...plain, { role: 'assistant', content: 'Paris.', refusal: null, annotations: [], audio: null, function_call: null }, { role: 'user', content: 'And Spain?' }] })),
      plain: await prompt({ messages: plain }),
      continued: await text({ messages: prefill }),
      closed: await text({ messages: prefill, continue_final_message: false }),
      tools: await text({ messages: tools }),
      alias: (await engine.chat.completions.create({ messages: plain, temperature: 0, max_completion_tokens: 2 })).usage.completion_tokens,
      image: await code(engine.chat.completions.create({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] })),
      role: await code(engine.chat.completions.create({ messages: [{ role: 'robot', content: 'hi' }] })),
      both: await code(engine.chat.completions.create({ messages: plain, max_tokens: 3, max_completion_tokens: 2 })),
      flag: await code(engine.chat.completions.create({ messages: plain, continue_final_message: 'yes' })),
    };
    await engine.unload();
    return out;
  }, { url: TINY, parts: cases('content_parts.json'), plain: cases('capital.json'), prefill: cases('assistant_prefill.json'), tools: cases('tool_results.json') });
  assert.deepEqual(r.parts, r.plain, 'text parts render as the same string');
  // SmolLM2's template (the tiny model carries it): continued, the prompt ends with the partial answer.
  assert.match(r.continued, /<\|im_start\|>assistant\nThe capital of France is$/);
  assert.match(r.closed, /<\|im_start\|>assistant\nThe capital of France is<\|im_end\|>\n<\|im_start\|>assistant\n$/);
  assert.match(r.tools, /<\|im_start\|>tool\nOslo 3C<\|im_end\|>\n<\|im_start\|>tool\nRome 18C<\|im_end\|>/);
  assert.equal(r.alias, 2);
  assert.match(r.image, /^invalid_request: .*image_url/);
  assert.equal(r.unknownField, 'invalid_request: messages[0].foo is not a message field tabllm knows (role, content, name, tool_call_id, tool_calls; on assistant messages reasoning_content, refusal: null, annotations, audio: null, function_call: null) {"field":"messages[0].foo"}');
  assert.equal(r.imagePart, 'invalid_request: messages[0].content[1].type \'image_url\' is not supported: text only {"field":"messages[0].content[1].type"}');
  assert.match(r.audio, /^invalid_request: messages\[\d+\]\.audio must be null: .* \{"field":"messages\[\d+\]\.audio"\}$/);
  assert.equal(r.openaiReply, 'answered');
  assert.match(r.role, /^invalid_request: .*robot/);
  assert.match(r.both, /^invalid_request: max_tokens and max_completion_tokens differ/);
  assert.match(r.flag, /^invalid_request: continue_final_message must be true or false/);
});

// Qwen2.5's prompt for one tool and one user message, written by hand from
// the tool section its template documents (tests/templates/qwen2.5-instruct.jinja).
const QWEN_TOOL = { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const QWEN_TOOLS_PROMPT = '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n'
  + 'You may call one or more functions to assist with the user query.\n\n'
  + 'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n'
  + '{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n'
  + '</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n'
  + '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
  + '<|im_start|>user\nWeather in Oslo?<|im_end|>\n<|im_start|>assistant\n';

// The tiny random-weight Qwen2 with Qwen2.5's template (it takes tools), and
// as published (SmolLM2's template: no tools), served from target/browser-models/.
let toolModelsMade = false;
const makeToolModels = () => {
  if (toolModelsMade) return;
  const dir = join(repo, 'target/browser-models');
  mkdirSync(dir, { recursive: true });
  execFileSync('python3', [join(repo, 'scripts/set_chat_template.py'), join(shared, 'tiny/tiny-qwen2-q4_k_m.gguf'), join(repo, 'tests/templates/qwen2.5-instruct.jinja'), join(dir, 'tiny-qwen2-tools.gguf')]);
  copyFileSync(join(shared, 'tiny/tiny-qwen2-q4_k_m.gguf'), join(dir, 'tiny-qwen2-q4_k_m.gguf'));
  toolModelsMade = true;
};

await check('tools reach the chat template (Qwen2.5\'s, on a tiny Qwen2); a forced tool_choice comes back as tool_calls, whole and streamed; bad tools and a template without tools refused by name', async () => {
  makeToolModels();
  const r = await page.evaluate(async ({ url, plainUrl, tool }) => {
    const tools = [tool];
    // The same tool with a bounded, closed argument object: random weights stay short.
    const bounded = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'], additionalProperties: false } } };
    const messages = [{ role: 'user', content: 'Weather in Oslo?' }];
    const code = (p) => p.then(() => 'answered', (e) => `${e.code}: ${e.message} ${JSON.stringify(e.details ?? null)}`);
    const engine = await createEngine({ model: url, context: 512, cache: false });
    const chat = (extra) => engine.chat.completions.create({ messages, temperature: 0, max_tokens: 2, ...extra });
    const withTools = await chat({ tools });
    const chunks = [];
    for await (const c of await chat({ tools, stream: true })) chunks.push(c);
    const out = {
      rendered: await engine.applyChatTemplate(messages, { tools }),
      renderedPlain: await engine.applyChatTemplate(messages),
      promptIds: withTools.timings.prompt_ids,
      noneIds: (await chat({ tools, tool_choice: 'none', parallel_tool_calls: false })).timings.prompt_ids,
      plainIds: (await chat({})).timings.prompt_ids,
      message: withTools.choices[0].message,
      finish: withTools.choices[0].finish_reason,
      streamText: chunks.map((c) => c.choices[0].delta.content ?? '').join(''),
      streamCalls: chunks.some((c) => c.choices[0].delta.tool_calls),
      streamFinish: chunks.at(-1).choices[0].finish_reason,
      // Forced calls: decoding is held to Qwen's call format and the tool's schema.
      forced: await chat({ tools: [bounded], tool_choice: { type: 'function', function: { name: 'get_weather' } }, temperature: 0.8, seed: 1, max_tokens: 160 }),
      required: await chat({ tools: [bounded], tool_choice: 'required', temperature: 0.8, seed: 2, max_tokens: 160 }),
      forcedChunks: [],
      withFormat: await code(chat({ tools, tool_choice: 'required', response_format: { type: 'json_object' } })),
      unknownName: await code(chat({ tools, tool_choice: { type: 'function', function: { name: 'nope' } } })),
      badName: await code(chat({ tools: [tool, { type: 'function', function: { name: 'bad name' } }] })),
      custom: await code(chat({ tools: [{ type: 'custom', custom: { name: 'x' } }] })),
      choiceAlone: await code(chat({ tool_choice: 'auto' })),
      functions: await code(chat({ functions: [{ name: 'f' }] })),
      functionCall: await code(chat({ function_call: 'auto' })),
      completions: await code(engine.completions.create({ prompt: 'x', max_tokens: 1, tools })),
    };
    for await (const c of await chat({ tools: [bounded], tool_choice: 'required', temperature: 0.8, seed: 3, max_tokens: 160, stream: true })) out.forcedChunks.push(c.choices[0]);
    out.renderedIds = await engine.tokenize(out.rendered, { special: true });
    await engine.unload();
    const smol = await createEngine({ model: plainUrl, context: 512, cache: false });
    out.noTools = await code(smol.chat.completions.create({ messages, max_tokens: 1, tools }));
    await smol.unload();
    return out;
  }, { url: '/target/browser-models/tiny-qwen2-tools.gguf', plainUrl: '/target/browser-models/tiny-qwen2-q4_k_m.gguf', tool: QWEN_TOOL });
  assert.equal(r.rendered, QWEN_TOOLS_PROMPT);
  assert.equal(r.renderedPlain, '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWeather in Oslo?<|im_end|>\n<|im_start|>assistant\n');
  assert.deepEqual(r.promptIds, r.renderedIds, 'a request with tools prompts with exactly that text');
  assert.deepEqual(r.noneIds, r.promptIds, 'tool_choice none still renders the tools');
  assert.ok(r.plainIds.length < r.promptIds.length);
  // Random weights call nothing: plain content, in both shapes.
  assert.ok(['stop', 'length'].includes(r.finish), r.finish);
  assert.equal(typeof r.message.content, 'string');
  assert.equal(r.message.tool_calls, undefined);
  assert.equal(r.streamText, r.message.content);
  assert.equal(r.streamCalls, false);
  assert.equal(r.streamFinish, r.finish);
  // Forced calls come back as tool_calls even from random weights.
  for (const [what, c] of [['named', r.forced.choices[0]], ['required', r.required.choices[0]]]) {
    assert.equal(c.finish_reason, 'tool_calls', `${what}: ${JSON.stringify(c)}`);
    assert.equal(c.message.tool_calls.length, 1);
    const call = c.message.tool_calls[0];
    assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.deepEqual(Object.keys(args), ['city'], call.function.arguments);
    assert.ok(typeof args.city === 'string' && [...args.city].length <= 12, call.function.arguments);
  }
  const streamedCalls = r.forcedChunks.filter((c) => c.delta.tool_calls);
  assert.equal(streamedCalls.length, 1, JSON.stringify(r.forcedChunks));
  assert.equal(streamedCalls[0].delta.tool_calls[0].function.name, 'get_weather');
  JSON.parse(streamedCalls[0].delta.tool_calls[0].function.arguments);
  assert.ok(!r.forcedChunks.some((c) => (c.delta.content ?? '').includes('<tool_call>')), 'no call markup in delta.content');
  assert.equal(r.forcedChunks.at(-1).finish_reason, 'tool_calls');
  assert.match(r.withFormat, /^invalid_request: `response_format` cannot be combined with `tool_choice` `required`.* \{"field":"response_format"\}$/);
  assert.match(r.unknownName, /^invalid_request: `tool_choice` names the function `nope`, which is not among the tools \{"field":"tool_choice"\}$/);
  assert.match(r.badName, /^invalid_request: `tools\[1\]\.function\.name` must be .* \{"field":"tools\[1\]\.function\.name"\}$/);
  assert.match(r.custom, /^invalid_request: `tools\[0\]\.type` is `custom`; only `function` tools are supported/);
  assert.match(r.choiceAlone, /^invalid_request: `tool_choice` needs `tools` \{"field":"tool_choice"\}$/);
  assert.match(r.functions, /^invalid_request: functions is not supported by tabllm /);
  assert.match(r.functionCall, /^invalid_request: function_call is not supported by tabllm /);
  assert.match(r.completions, /^invalid_request: tools is not supported by tabllm on completions/);
  assert.match(r.noTools, /^invalid_request: `tools` cannot be used with this model: its chat template does not take tools \{"field":"tools"\}$/);
});

await check('a reply with tool calls comes back in OpenAI\'s shape, whole and streamed (the package over a worker result that called a tool)', async () => {
  // The shapes exactly, whatever the model: here the worker's answer is given (the protocol of
  // src/web/mod.rs: text events, then a result with `tool_reply`), and the
  // package's replies are checked against OpenAI's documented shapes.
  makeToolModels();
  const r = await page.evaluate(async ({ url, tool }) => {
    const engine = await createEngine({ model: url, context: 512, cache: false });
    const call = { id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } };
    const sent = [];
    engine.client.call = async (op, args, { onEvent }) => {
      sent.push(args.request);
      onEvent({ type: 'text', text: 'Checking.' });
      onEvent({ type: 'text', text: '' });
      return { text: 'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', tool_reply: { content: 'Checking.', tool_calls: [call] },
        finish_reason: 'tool_calls', ids: [5, 6, 7], prompt_ids: [1, 2], prompt_tokens: 2, prefilled_tokens: 2, prefill_tok_s: 1, decode_tok_s: 1 };
    };
    const req = { messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools: [tool], tool_choice: 'auto', parallel_tool_calls: false };
    const whole = await engine.chat.completions.create(req);
    const chunks = [];
    for await (const c of await engine.chat.completions.create({ ...req, stream: true })) chunks.push(c.choices[0]);
    await engine.unload();
    return { sent, whole: whole.choices[0], chunks, call };
  }, { url: '/target/browser-models/tiny-qwen2-tools.gguf', tool: QWEN_TOOL });
  assert.deepEqual(r.sent[0].tools, [QWEN_TOOL]);
  assert.equal(r.sent[0].tool_choice, 'auto');
  assert.equal(r.sent[0].parallel_tool_calls, false);
  assert.deepEqual(r.whole, { index: 0, message: { role: 'assistant', content: 'Checking.', tool_calls: [r.call], refusal: null }, logprobs: null, finish_reason: 'tool_calls' });
  assert.deepEqual(r.chunks.map((c) => c.delta), [
    { role: 'assistant', content: '' },
    { content: 'Checking.' },
    { tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
    {},
  ]);
  assert.deepEqual(r.chunks.map((c) => c.finish_reason), [null, null, null, 'tool_calls']);
});

// The tiny random-weight Qwen3 with Qwen3.5's template (it opens `<think>` in
// the generation prompt unless enable_thinking is false) and think tags in
// its vocabulary (tokens 3 and 4 renamed), as tests/cli.rs makes it.
const THINKING_MODEL = '/target/browser-models/tiny-qwen3-thinking.gguf';
const makeThinkingModel = () => {
  mkdirSync(join(repo, 'target/browser-models'), { recursive: true });
  execFileSync('python3', [join(repo, 'scripts/set_chat_template.py'), join(shared, 'tiny/tiny-qwen3-q4_k_m.gguf'),
    join(repo, 'tests/templates/qwen3.5.jinja'), join(repo, THINKING_MODEL.slice(1)), '3=<think>', '4=</think>']);
};

await check('thinking: chat_template_kwargs reaches the template; unknown fields (reasoning_effort) refused by name; reasoning_content whole and streamed', async () => {
  makeThinkingModel();
  const r = await page.evaluate(async ({ url }) => {
    const code = (p) => p.then(() => 'answered', (e) => `${e.code}: ${e.message} ${JSON.stringify(e.details ?? null)}`);
    const engine = await createEngine({ model: url, context: 256, cache: false });
    const messages = [{ role: 'user', content: 'What is 2+2?' }];
    const chat = (extra) => engine.chat.completions.create({ messages, max_tokens: 12, temperature: 1, ...extra });
    const off = { chat_template_kwargs: { enable_thinking: false } };
    const out = {
      on: await engine.applyChatTemplate(messages),
      off: await engine.applyChatTemplate(messages, off),
      offIds: (await chat({ ...off, max_tokens: 1 })).timings.prompt_ids,
      effort: await code(chat({ reasoning_effort: 'low' })),
      enable: await code(chat({ enable_thinking: false })),
      typo: await code(chat({ temprature: 0 })),
      textKwargs: await code(engine.completions.create({ prompt: 'x', max_tokens: 1, ...off })),
      chatPrompt: await code(chat({ prompt: 'x' })),
      notObject: await code(chat({ chat_template_kwargs: ['enable_thinking'] })),
      own: await code(chat({ chat_template_kwargs: { bos_token: 'x' } })),
      // enable_thinking must be a boolean ('false' is true to a template); names must be variable names.
      thinkString: await code(chat({ chat_template_kwargs: { enable_thinking: 'false' } })),
      kwargsMap: await code(chat({ chat_template_kwargs: new Map([['enable_thinking', false]]) })),
      proto: await code(chat({ chat_template_kwargs: JSON.parse('{"__proto__": 1}') })),
      dashed: await code(chat({ chat_template_kwargs: { 'foo-bar': 1 } })),
      wasmThinkString: await code(engine.client.call('generate', { request: { messages, chat_template_kwargs: { enable_thinking: 'false' } } })),
      // Past the package's checks: the wasm boundary's own.
      wasmNoMessages: await code(engine.client.call('generate', { request: { prompt: 'x', chat_template_kwargs: {} } })),
      wasmOwn: await code(engine.client.call('generate', { request: { messages, chat_template_kwargs: { messages: [] } } })),
      ignored: await code(chat({ model: 'any', user: 'me', max_tokens: 1 })),
      replies: [],
    };
    out.offRendered = await engine.tokenize(out.off, { special: true });
    for (const seed of [0, 1, 2, 3]) {
      const whole = await chat({ seed });
      const chunks = [];
      for await (const c of await chat({ seed, stream: true })) chunks.push(c.choices[0]);
      // The raw reply, to check the split against (less an end-of-turn token's text).
      const text = (await engine.detokenize(whole.timings.completion_ids)).replace(/(<\|im_end\|>|<\|endoftext\|>)$/, '');
      out.replies.push({ message: whole.choices[0].message, finish: whole.choices[0].finish_reason, deltas: chunks.map((c) => c.delta), text });
    }
    // The reply goes back into the conversation as it came, reasoning_content and all.
    const m = out.replies[0].message;
    out.followUp = await code(chat({ messages: [...messages, m, { role: 'user', content: 'And 3+3?' }], max_tokens: 1 }));
    await engine.unload();
    return out;
  }, { url: THINKING_MODEL });
  const head = '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n';
  assert.equal(r.on, `${head}<think>\n`);
  assert.equal(r.off, `${head}<think>\n\n</think>\n\n`);
  assert.deepEqual(r.offIds, r.offRendered, 'a request with chat_template_kwargs prompts with exactly that text');
  assert.match(r.effort, /^invalid_request: reasoning_effort is not supported by tabllm \(to turn thinking off, give chat_template_kwargs: \{ enable_thinking: false \}.* \{"field":"reasoning_effort"\}$/);
  assert.match(r.enable, /^invalid_request: enable_thinking is not supported by tabllm .* \{"field":"enable_thinking"\}$/);
  assert.match(r.typo, /^invalid_request: temprature is not a request field tabllm knows \{"field":"temprature"\}$/);
  assert.match(r.textKwargs, /^invalid_request: chat_template_kwargs is not supported by tabllm on completions \(it is on chat completions\)/);
  assert.match(r.chatPrompt, /^invalid_request: prompt is not supported by tabllm on chat completions/);
  assert.match(r.notObject, /^invalid_request: chat_template_kwargs must be an object .* \{"field":"chat_template_kwargs"\}$/);
  assert.match(r.own, /^invalid_request: chat_template_kwargs\.bos_token cannot be set: tabllm gives the chat template its own `bos_token` \{"field":"chat_template_kwargs\.bos_token"\}$/);
  assert.match(r.wasmNoMessages, /^invalid_request: chat_template_kwargs needs messages/);
  assert.equal(r.thinkString, 'invalid_request: chat_template_kwargs.enable_thinking must be true or false, got a string "false" (a template reads any non-empty string as true) {"field":"chat_template_kwargs.enable_thinking","key":"enable_thinking"}');
  assert.match(r.kwargsMap, /^invalid_request: chat_template_kwargs must be an object of template variables.*, got a Map \{"field":"chat_template_kwargs"\}$/);
  assert.match(r.proto, /^invalid_request: chat_template_kwargs key "__proto__" cannot be passed .* \{"field":"chat_template_kwargs","key":"__proto__"\}$/);
  assert.match(r.dashed, /^invalid_request: chat_template_kwargs key "foo-bar" is not a name a chat template can read as a variable .* \{"field":"chat_template_kwargs","key":"foo-bar"\}$/);
  assert.match(r.wasmThinkString, /^invalid_request: chat_template_kwargs\.enable_thinking must be true or false, got the string "false" .* \{"field":"chat_template_kwargs\.enable_thinking","key":"enable_thinking"\}$/);
  assert.match(r.wasmOwn, /^invalid_request: chat_template_kwargs\.messages cannot be set/);
  assert.equal(r.ignored, 'answered', 'model and user are accepted and ignored');
  assert.equal(r.followUp, 'answered');
  let withReasoning = 0;
  for (const [i, { message, finish, deltas, text }] of r.replies.entries()) {
    // The prompt opened the reasoning: the reply is reasoning up to a </think> it may write.
    const at = text.indexOf('</think>');
    const reasoning = (at < 0 ? text : text.slice(0, at)).trim();
    const content = at < 0 ? '' : text.slice(at + 8).trimStart();
    assert.equal(message.content, content, `seed ${i}: ${JSON.stringify({ message, text })}`);
    if (reasoning) {
      assert.equal(message.reasoning_content, reasoning, `seed ${i}`);
      withReasoning++;
    } else assert.ok(!('reasoning_content' in message), `seed ${i}: ${JSON.stringify(message)}`);
    if (at < 0) assert.equal(finish, 'length', 'cut inside the reasoning: all of it is reasoning');
    // Streamed: the same split, the reasoning first, never both in one delta.
    assert.deepEqual(deltas[0], { role: 'assistant', content: '' });
    const body = deltas.slice(1);
    assert.equal(body.map((d) => d.reasoning_content ?? '').join(''), reasoning, `seed ${i}`);
    assert.equal(body.map((d) => d.content ?? '').join(''), content, `seed ${i}`);
    assert.ok(body.every((d) => !(d.reasoning_content && d.content)), JSON.stringify(body));
    const firstContent = body.findIndex((d) => d.content);
    assert.ok(firstContent < 0 || body.slice(firstContent).every((d) => !d.reasoning_content), JSON.stringify(body));
  }
  assert.ok(withReasoning > 0, 'no seed gave a reply with reasoning');
});

await check('a long prefill reports progress and stops on abort; leaving a for await cancels its request', async () => {
  const r = await page.evaluate(async ({ url }) => {
    const engine = await createEngine({ model: url, context: 1024, cache: false });
    const long = Array.from({ length: 900 }, (_, i) => (i * 37 + 5) % 1000);
    const out = {};
    // 1. Abort once the prompt is partly read.
    const ac = new AbortController();
    const events = [];
    let abortedAt = 0;
    const first = engine.completions.create({ prompt: long, temperature: 0, max_tokens: 64, signal: ac.signal, onProgress: (p) => {
      events.push(p);
      if (p.prompt_tokens_done > 0 && !abortedAt) {
        abortedAt = performance.now();
        ac.abort();
      }
    } }).then(() => 'answered', (e) => e.code);
    out.first = await first;
    out.rejectMs = performance.now() - abortedAt;
    const t = performance.now();
    out.next = (await engine.completions.create({ prompt: [1, 2, 3], temperature: 0, max_tokens: 2 })).usage.completion_tokens;
    out.nextMs = performance.now() - t;
    out.events = events;
    // 2. A stream left after its first chunk: the request is cancelled, its prompt not read to the end.
    const seen = [];
    // A chat stream yields its role chunk at once, before the prompt is read.
    const messages = [{ role: 'user', content: 'one two three four '.repeat(200) }];
    const stream = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 64, stream: true, onProgress: (p) => seen.push(p) });
    for await (const chunk of stream) break; // eslint-disable-line no-unused-vars
    out.after = (await engine.completions.create({ prompt: [4, 5, 6], temperature: 0, max_tokens: 2 })).usage.completion_tokens;
    out.seen = seen;
    await engine.unload();
    return out;
  }, { url: TINY });
  console.log(`  abort during prefill: rejected ${r.rejectMs.toFixed(0)} ms after the abort; the next request answered in ${r.nextMs.toFixed(0)} ms; ${r.events.length} progress events`);
  assert.equal(r.first, 'aborted');
  assert.deepEqual(r.events[0], { prompt_tokens_done: 0, prompt_tokens_total: 900 });
  assert.ok(r.events.every((e, i) => i === 0 || e.prompt_tokens_done > r.events[i - 1].prompt_tokens_done), JSON.stringify(r.events));
  assert.ok(r.events.at(-1).prompt_tokens_done < 900, `the whole prompt was read before the abort took effect: ${JSON.stringify(r.events)}`);
  // One prefill step of the tiny model takes most of a second on SwiftShader:
  // the abort lands at the end of the step under way.
  assert.ok(r.rejectMs < 2500, `rejected ${r.rejectMs} ms after the abort`);
  assert.equal(r.next, 2);
  assert.equal(r.after, 2);
  // Cancelled before it ran (no progress at all) or part-way through its prompt.
  const last = r.seen.at(-1);
  assert.ok(!last || (last.prompt_tokens_total > 600 && last.prompt_tokens_done < last.prompt_tokens_total), `the left stream read its whole prompt: ${JSON.stringify(r.seen)}`);
});

await check('abort while all text is held back (a possible stop string): the request stops at once, not at max_tokens', async () => {
  const c = tiny.cases[0];
  const r = await page.evaluate(async ({ url, ids }) => {
    const engine = await createEngine({ model: url, context: 128, cache: false });
    const full = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: 100 });
    // The whole greedy text starts this stop string: nothing is sent until the end.
    const stop = `${full.choices[0].text}\u0001never`;
    const ac = new AbortController();
    let abortedAt = 0;
    const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: 100, stop, signal: ac.signal, onProgress: (p) => {
      if (p.prompt_tokens_done === p.prompt_tokens_total && !abortedAt) {
        abortedAt = performance.now();
        ac.abort();
      }
    } }).then(() => ({ code: 'answered' }), (e) => ({ code: e.code, tokens: e.details?.usage?.completion_tokens, text: e.details?.text }));
    out.rejectMs = performance.now() - abortedAt;
    out.fullTokens = full.usage.completion_tokens;
    out.fullText = full.choices[0].text;
    await engine.unload();
    return out;
  }, { url: TINY, ids: c.prompt_ids });
  console.log(`  held-back abort: rejected ${r.rejectMs.toFixed(0)} ms after the abort, after ${r.tokens} of ${r.fullTokens} tokens`);
  assert.equal(r.fullTokens, 100, 'the greedy reply runs to max_tokens');
  assert.equal(r.code, 'aborted', JSON.stringify(r));
  assert.ok(r.tokens < 50, `${r.tokens} tokens generated after the abort`);
  assert.ok(r.fullText.startsWith(r.text), `the held text is in the error's details: ${JSON.stringify(r.text)}`);
});

await check('a queued request aborted before it starts never runs: no progress, aborted, the one before it unharmed', async () => {
  const r = await page.evaluate(async ({ url }) => {
    const engine = await createEngine({ model: url, context: 1024, cache: false });
    const long = Array.from({ length: 300 }, (_, i) => (i * 37 + 5) % 1000);
    const events = { first: 0, queued: 0 };
    const first = engine.completions.create({ prompt: long, temperature: 0, max_tokens: 2, onProgress: () => events.first++ });
    const ac = new AbortController();
    const queued = engine.completions.create({ prompt: long, temperature: 0, max_tokens: 2, signal: ac.signal, onProgress: () => events.queued++ })
      .then(() => 'answered', (e) => `${e.code}: ${e.message}`);
    ac.abort();
    const out = { first: (await first).usage.completion_tokens, queued: await queued, events };
    await engine.unload();
    return out;
  }, { url: TINY });
  assert.equal(r.first, 2);
  assert.ok(r.events.first > 1, 'the first request reported its prefill');
  assert.equal(r.events.queued, 0, 'the aborted request never reached the engine');
  assert.match(r.queued, /^aborted: the request was aborted before it started$/);
});

await check('a huge input is refused at once (context_full), before it is tokenized; the engine answers right after', async () => {
  const r = await page.evaluate(async ({ url }) => {
    const engine = await createEngine({ model: url, context: 128, cache: false });
    const code = (p) => p.then(() => 'answered', (e) => `${e.code}: ${e.message}`);
    const out = {};
    // About 6 MB: under the chat template's 8 MB output budget, so it renders and reaches the tokenizer's check.
    const huge = 'one two three four '.repeat(300_000);
    for (const [name, req] of [['chat', { messages: [{ role: 'user', content: huge }] }], ['prompt', { prompt: huge + huge }]]) {
      const t = performance.now();
      out[name] = await code((name === 'chat' ? engine.chat.completions : engine.completions).create({ ...req, max_tokens: 2 }));
      out[`${name}Ms`] = performance.now() - t;
    }
    const t = performance.now();
    out.after = (await engine.completions.create({ prompt: [1, 2, 3], temperature: 0, max_tokens: 2 })).usage.completion_tokens;
    out.afterMs = performance.now() - t;
    await engine.unload();
    return out;
  }, { url: TINY });
  console.log(`  huge input: chat refused in ${r.chatMs.toFixed(0)} ms, prompt in ${r.promptMs.toFixed(0)} ms; the next request answered in ${r.afterMs.toFixed(0)} ms`);
  for (const name of ['chat', 'prompt']) {
    assert.match(r[name], /^context_full: the prompt is \d+ bytes of text: more than a context of 128 tokens holds/, name);
  }
  assert.equal(r.after, 2);
});

await check('a hung worker cannot block unload(): the worker is ended within the grace, pending calls reject with unloaded', async () => {
  const r = await page.evaluate(async ({ url }) => {
    const engine = await createEngine({ model: url, context: 128, cache: false });
    // Test-only op: the worker spins for 2 minutes without yielding, as a chat template that renders forever does.
    const hung = engine.client.call('__testBlock', { ms: 120_000 }).then(() => 'answered', (e) => e.code);
    const queued = engine.tokenize('hello').then(() => 'answered', (e) => e.code);
    await new Promise((r) => setTimeout(r, 200));
    const t = performance.now();
    await engine.unload();
    return { unloadMs: performance.now() - t, hung: await hung, queued: await queued };
  }, { url: TINY });
  assert.ok(r.unloadMs < 3000, `unload took ${r.unloadMs.toFixed(0)} ms behind a hung call`);
  assert.deepEqual([r.hung, r.queued], ['unloaded', 'unloaded']);
  await tinyAnswers('a hung worker');
});

await check('loadTimeoutMs ends a load that hangs (timeout); bad options are refused by name', async () => {
  // The server answers nothing at all for this URL.
  await context.route('**/models/never-answers.gguf', () => {});
  const r = await page.evaluate(async () => {
    const t = performance.now();
    const out = {};
    try {
      await createEngine({ model: '/models/never-answers.gguf', cache: false, loadTimeoutMs: 1500 });
      out.hang = 'loaded';
    } catch (e) {
      out.hang = { code: e.code, message: e.message, ms: performance.now() - t };
    }
    for (const [name, opts] of Object.entries({
      loadTimeoutMs: { loadTimeoutMs: -5 }, context: { context: 2 ** 32 }, maxBindingSize: { maxBindingSize: 5 }, contextFraction: { context: 12.5 },
      unknown: { contextSize: 512 },
    })) {
      try {
        await createEngine({ model: '/models/tiny-llama-q4_0.gguf', cache: false, ...opts });
        out[name] = 'loaded';
      } catch (e) {
        out[name] = `${e.code}: ${e.message}`;
      }
    }
    // Options of the one-shot calls: the caller's mistake, not the file's or the engine's.
    out.inspect = await tabllm.inspectModel('/models/tiny-llama-q4_0.gguf', { kv_bytes_per_element: 3 }).then(() => 'answered', (e) => `${e.code}: ${e.message}`);
    out.bandwidth = await tabllm.measureBandwidth({ min_sample_secs: 5 }).then(() => 'answered', (e) => `${e.code}: ${e.message}`);
    return out;
  });
  await context.unroute('**/models/never-answers.gguf');
  assert.match(r.inspect, /^invalid_request: kv_bytes_per_element must be 2 \(f16\) or 4 \(f32\), got 3$/);
  assert.match(r.bandwidth, /^invalid_request: bad request: min_sample_secs must be between 0 and 1$/);
  assert.equal(r.hang.code, 'timeout', JSON.stringify(r.hang));
  assert.ok(r.hang.ms >= 1400 && r.hang.ms < 4000, `rejected after ${r.hang.ms} ms`);
  assert.match(r.loadTimeoutMs, /^invalid_request: loadTimeoutMs must be a number from 1 to \d+, got -5$/);
  assert.match(r.context, /^invalid_request: context must be an integer from 1 to 1048576, got 4294967296$/);
  assert.match(r.contextFraction, /^invalid_request: context must be an integer/);
  assert.match(r.maxBindingSize, /^invalid_request: maxBindingSize must be an integer from 1048576 to/);
  assert.match(r.unknown, /^invalid_request: createEngine has no option contextSize/);
});

await check('a panic in the engine is an internal error with its message; the dead engine is dropped and a new one loads', async () => {
  const r = await page.evaluate(async ({ url }) => {
    const out = [];
    for (const inFuture of [true, false]) {
      const engine = await createEngine({ model: url, context: 128, cache: false });
      // Test-only op: the wasm panics (inside a future, as in a generation, or in a plain call).
      const e = await engine.client.call('__testPanic', { message: `test panic ${inFuture}`, inFuture }).then(() => null, (e) => e);
      const after = await engine.tokenize('hi').then(() => 'answered', (e) => e.code);
      out.push({ code: e?.code, message: e?.message, panic: e?.details?.panic, after });
      await engine.unload();
    }
    return out;
  }, { url: TINY });
  for (const [i, x] of r.entries()) {
    assert.equal(x.code, 'internal', JSON.stringify(x));
    assert.match(x.message, new RegExp(`^the engine panicked: panicked at src/web/panic.rs:\\d+:\\d+:\\ntest panic ${i === 0}`));
    assert.match(x.panic, /test panic/);
    assert.equal(x.after, 'internal', 'the dead instance is never called again');
  }
  await tinyAnswers('a panic');
});

await check('a lost GPU device is device_lost, mid-generation and on the next request; a new engine in the same tab answers', async () => {
  const r = await page.evaluate(async ({ url }) => {
    const engine = await createEngine({ model: url, context: 128, cache: false });
    let destroyed = false;
    let during;
    try {
      const stream = await engine.completions.create({ prompt: [1, 2, 3], temperature: 0, max_tokens: 120, stream: true });
      for await (const ch of stream) {
        // Test-only op: destroys the engine's GPUDevice (GPUDevice.destroy(), as a driver reset) while it generates.
        if (!destroyed && ch.choices[0].text) {
          destroyed = true;
          await engine.client.call('__testDestroyDevice', {});
        }
      }
      during = 'finished';
    } catch (e) {
      during = `${e.code}: ${e.message}`;
    }
    const next = await engine.completions.create({ prompt: 'Hello', max_tokens: 2 }).then(() => 'answered', (e) => `${e.code}: ${e.message}`);
    const bench = await engine.bench({ prompt_tokens: 8, gen_tokens: 8 }).then(() => 'answered', (e) => e.code);
    await engine.unload();
    return { destroyed, during, next, bench };
  }, { url: TINY });
  assert.ok(r.destroyed);
  assert.match(r.during, /^device_lost: /);
  assert.match(r.next, /^device_lost: /);
  assert.equal(r.bench, 'device_lost');
  await tinyAnswers('a lost device');
});

await check('storing the download in browser storage fails: the load still succeeds and answers, with cache_error', async () => {
  const r = await page.evaluate(async ({ url, ids }) => {
    // Test-only option: the cache write fails at the end as a full disk would.
    const engine = await createEngine({ model: url, context: 128, testFaults: { cacheCommit: true } });
    const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: 4 });
    await engine.unload();
    return { info: engine.info, ids: out.timings.completion_ids, cached: await tabllm.listCachedModels() };
  }, { url: TINY, ids: tiny.cases[0].prompt_ids });
  assert.match(r.info.cache_error, /QuotaExceededError: test fault: writing the cache failed/);
  assert.equal(r.info.from_cache, false);
  assert.deepEqual(r.ids, tiny.cases[0].greedy_ids_f32_activations.slice(0, 4));
  assert.deepEqual(r.cached.filter((c) => c.url.endsWith(TINY)), [], 'nothing half-written is listed');
});

let engineHandle = null;
await check('SmolLM2 chat at temperature 0 equals llama.cpp (f32 activations); usage and timings', async () => {
  const c = smol.chat[0];
  const r = await page.evaluate(async ({ url, messages, n }) => {
    const t = performance.now();
    window.engine = await createEngine({ model: url, context: 512 });
    const loadSeconds = (performance.now() - t) / 1000;
    const out = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: n });
    return { out, info: engine.info, loadSeconds };
  }, { url: SMOL, messages: c.messages, n: c.greedy_ids_f32_activations.length });
  engineHandle = true;
  const { out, info } = r;
  console.log(`SmolLM2 in Chromium via the package: load ${r.loadSeconds.toFixed(2)} s (wasm memory ${(info.wasm_memory_bytes / 2 ** 20).toFixed(1)} MiB, header ${(info.header_bytes / 2 ** 20).toFixed(1)} MiB), prefill ${out.timings.prefill_tok_s.toFixed(2)} tok/s, decode ${out.timings.decode_tok_s.toFixed(2)} tok/s on ${JSON.stringify(info.adapter)}`);
  writeFileSync(join(repo, 'target/browser-smollm2.json'), JSON.stringify({ load_seconds: r.loadSeconds, info, timings: out.timings, usage: out.usage }, null, 2));
  assert.deepEqual(out.timings.prompt_ids, c.prompt_ids);
  assert.deepEqual(out.timings.completion_ids, c.greedy_ids_f32_activations);
  assert.equal(out.object, 'chat.completion');
  assert.equal(out.choices[0].message.role, 'assistant');
  // SmolLM2's end of turn, <|im_end|>, is id 2.
  assert.equal(out.choices[0].finish_reason, c.greedy_ids_f32_activations.at(-1) === 2 ? 'stop' : 'length');
  assert.equal(out.usage.prompt_tokens, c.prompt_ids.length);
  assert.equal(out.usage.completion_tokens, c.greedy_ids_f32_activations.length);
  assert.equal(out.usage.total_tokens, out.usage.prompt_tokens + out.usage.completion_tokens);
  assert.equal(info.name.length > 0, true);
  assert.equal(info.cache_error, null, 'the download was kept in browser storage');
  assertStreamed(info);
});

await check('no network request at all while chatting after the load', async () => {
  assert.ok(engineHandle, 'needs the loaded SmolLM2');
  assert.ok(requests.some((p) => p.endsWith('SmolLM2-135M-Instruct.Q4_1.gguf')), 'the load itself was seen (worker requests are recorded)');
  const before = requests.length;
  await page.evaluate(async () => {
    const stream = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Say hi.' }], temperature: 0, max_tokens: 4, stream: true });
    for await (const _ of stream);
    await engine.tokenize('hello');
    await engine.completions.create({ prompt: 'One, two,', temperature: 0.7, seed: 3, max_tokens: 3 });
  });
  assert.deepEqual(requests.slice(before), []);
});

await check('streaming: chunks add up to the non-streamed reply; first has the role, last the finish reason and timings', async () => {
  const c = smol.chat[1];
  const r = await page.evaluate(async ({ messages }) => {
    const whole = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 12 });
    const chunks = [];
    for await (const ch of await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 12, stream: true })) chunks.push(ch);
    return { whole, chunks };
  }, { messages: c.messages });
  const text = r.chunks.map((ch) => ch.choices[0].delta.content ?? '').join('');
  assert.equal(text, r.whole.choices[0].message.content);
  assert.equal(r.chunks[0].choices[0].delta.role, 'assistant');
  assert.ok(r.chunks.length > 3);
  const last = r.chunks.at(-1);
  assert.equal(last.object, 'chat.completion.chunk');
  assert.equal(last.choices[0].finish_reason, r.whole.choices[0].finish_reason);
  assert.deepEqual(last.timings.completion_ids, r.whole.timings.completion_ids);
});

await check('stream_options.include_usage: one more chunk after every choice has finished, choices [] and the usage of the whole request; usage null on every other chunk (chat, text, n choices)', async () => {
  assert.ok(engineHandle, 'needs the loaded SmolLM2');
  const r = await page.evaluate(async ({ messages }) => {
    const streamed = async (create, req) => {
      const chunks = [];
      for await (const c of await create({ ...req, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
      return chunks;
    };
    const chat = (req) => engine.chat.completions.create(req);
    const text = (req) => engine.completions.create(req);
    const chatReq = { messages, temperature: 0, max_tokens: 4 };
    const textReq = { prompt: 'One, two, three,', temperature: 0, max_tokens: 3, n: 2 };
    return {
      chat: { whole: await chat(chatReq), chunks: await streamed(chat, chatReq) },
      chatN: { whole: await chat({ ...chatReq, n: 2 }), chunks: await streamed(chat, { ...chatReq, n: 2 }) },
      text: { whole: await text(textReq), chunks: await streamed(text, textReq) },
    };
  }, { messages: smol.chat[1].messages });
  for (const [name, { whole, chunks }] of Object.entries(r)) {
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, [], `${name}: the usage chunk has no choices`);
    assert.deepEqual(last.usage, whole.usage, `${name}: the usage of the same greedy request, not streamed`);
    assert.equal(last.id, chunks[0].id);
    assert.equal(last.object, chunks[0].object);
    assert.deepEqual(last.timings.completion_ids, whole.timings.completion_ids, `${name}: tabllm's timings (choice 0's) on the usage chunk`);
    const before = chunks.slice(0, -1);
    for (const c of before) {
      assert.equal(c.usage, null, `${name}: usage null before the last chunk: ${JSON.stringify(c)}`);
      assert.equal(c.timings, undefined, `${name}: timings only on the last chunk`);
      assert.equal(c.choices.length, 1);
    }
    assert.deepEqual(before.filter((c) => c.choices[0].finish_reason).map((c) => c.choices[0].index), whole.choices.map((c) => c.index),
      `${name}: every choice finishes once, before the usage chunk`);
  }
  assert.equal(r.chatN.whole.usage.completion_tokens, 2 * r.chat.whole.usage.completion_tokens, 'n: 2 greedy choices, usage sums them');
});

await check('a stream without stream_options.include_usage: no chunk carries usage; timings (choice 0\'s) on the last finish chunk', async () => {
  assert.ok(engineHandle, 'needs the loaded SmolLM2');
  const r = await page.evaluate(async () => {
    const base = { messages: [{ role: 'user', content: 'What is the capital of France?' }], temperature: 0, max_tokens: 2 };
    const streamed = async (req) => {
      const chunks = [];
      for await (const c of await engine.chat.completions.create({ ...req, stream: true })) chunks.push(c);
      return chunks;
    };
    return {
      whole: await engine.chat.completions.create({ ...base, n: 2 }),
      plain: await streamed({ ...base, n: 2 }),
      empty: await streamed({ ...base, stream_options: {} }),
      off: await streamed({ ...base, stream_options: { include_usage: false } }),
      text: await (async () => {
        const chunks = [];
        for await (const c of await engine.completions.create({ prompt: 'One, two,', temperature: 0, max_tokens: 2, stream: true, stream_options: null })) chunks.push(c);
        return chunks;
      })(),
    };
  });
  for (const [name, chunks] of Object.entries({ plain: r.plain, empty: r.empty, off: r.off, text: r.text })) {
    assert.deepEqual(chunks.filter((c) => c.usage != null).map((c) => c.usage), [], `${name}: no usage`);
    assert.ok(chunks.every((c) => c.choices.length === 1), `${name}: no chunk without a choice`);
    assert.ok(chunks.at(-1).choices[0].finish_reason, `${name}: the last chunk finishes a choice`);
    assert.deepEqual(chunks.filter((c) => c.timings).map((c) => chunks.indexOf(c)), [chunks.length - 1], `${name}: timings on the last chunk only`);
  }
  assert.deepEqual(r.plain.at(-1).timings.completion_ids, r.whole.timings.completion_ids);
});

await check('stream_options refused by name: unknown keys, a non-boolean include_usage, stream_options without stream: true', async () => {
  assert.ok(engineHandle, 'needs the loaded SmolLM2');
  const r = await page.evaluate(async () => {
    // A stream that was wrongly accepted is read to its end (nothing left running).
    const code = (p) => p.then(async (s) => {
      if (s?.[Symbol.asyncIterator]) for await (const _ of s);
      return 'answered';
    }, (e) => `${e.code}: ${e.message} (${e.details?.field})`);
    const chat = (extra) => code(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], max_tokens: 1, ...extra }));
    return {
      unknown: await chat({ stream: true, stream_options: { include_usage: true, include_obfuscation: false } }),
      string: await chat({ stream: true, stream_options: { include_usage: 'yes' } }),
      number: await chat({ stream: true, stream_options: { include_usage: 1 } }),
      notObject: await chat({ stream: true, stream_options: true }),
      array: await chat({ stream: true, stream_options: [] }),
      noStream: await chat({ stream_options: { include_usage: true } }),
      streamFalse: await chat({ stream: false, stream_options: {} }),
      text: await code(engine.completions.create({ prompt: 'x', max_tokens: 1, stream: true, stream_options: { usage: true } })),
      textNoStream: await code(engine.completions.create({ prompt: 'x', max_tokens: 1, stream_options: { include_usage: false } })),
      ok: await chat({ stream: true, stream_options: { include_usage: true } }),
    };
  });
  assert.equal(r.unknown, 'invalid_request: stream_options.include_obfuscation is not supported (known: include_usage) (stream_options.include_obfuscation)');
  assert.equal(r.string, 'invalid_request: stream_options.include_usage must be true or false, got "yes" (stream_options.include_usage)');
  assert.equal(r.number, 'invalid_request: stream_options.include_usage must be true or false, got 1 (stream_options.include_usage)');
  assert.equal(r.notObject, 'invalid_request: stream_options must be an object such as { include_usage: true } (stream_options)');
  assert.equal(r.array, r.notObject);
  assert.equal(r.noStream, 'invalid_request: stream_options needs stream: true (stream_options)');
  assert.equal(r.streamFalse, r.noStream);
  assert.equal(r.text, 'invalid_request: stream_options.usage is not supported (known: include_usage) (stream_options.usage)');
  assert.equal(r.textNoStream, r.noStream);
  assert.equal(r.ok, 'answered');
});

// Log-probabilities summed as probabilities: f32 rounding.
const PROB_SUM_TOL = 1e-5;
await check('logprobs / top_logprobs in OpenAI\'s shape: the greedy token on top, streamed with its text; n choices sample with seed + i', async () => {
  const r = await page.evaluate(async () => {
    const messages = [{ role: 'user', content: 'What is the capital of France?' }];
    const base = { messages, temperature: 0, max_tokens: 4 };
    const all = async (req) => {
      const chunks = [];
      for await (const c of await engine.chat.completions.create({ ...req, stream: true })) chunks.push(c);
      return chunks;
    };
    const sampled = { messages, temperature: 1, seed: 7, max_tokens: 4 };
    return {
      plain: await engine.chat.completions.create(base),
      full: await engine.chat.completions.create({ ...base, logprobs: true, top_logprobs: 3 }),
      chunks: await all({ ...base, logprobs: true, top_logprobs: 3 }),
      n: await engine.chat.completions.create({ ...sampled, n: 3 }),
      seed8: await engine.chat.completions.create({ ...sampled, seed: 8 }),
      nChunks: await all({ ...sampled, n: 3 }),
    };
  });
  const content = r.full.choices[0].message.content;
  assert.equal(content, r.plain.choices[0].message.content, 'reading the logits back picks the same greedy tokens');
  assert.equal(r.plain.choices[0].logprobs, null);
  const lp = r.full.choices[0].logprobs;
  assert.equal(lp.refusal, null);
  assert.equal(lp.content.length, r.full.usage.completion_tokens - (r.full.choices[0].finish_reason === 'stop' ? 1 : 0), 'one per token of the text');
  assert.equal(Buffer.from(lp.content.flatMap((t) => t.bytes)).toString('utf8'), content);
  for (const t of lp.content) {
    assert.ok(t.logprob <= 0 && t.top_logprobs.length === 3, JSON.stringify(t));
    assert.deepEqual(t.top_logprobs[0], { token: t.token, logprob: t.logprob, bytes: t.bytes }, 'greedy: the token is the likeliest');
    assert.ok(t.top_logprobs.every((a, i, l) => i === 0 || l[i - 1].logprob >= a.logprob), 'highest first');
    assert.ok(t.top_logprobs.reduce((m, a) => m + Math.exp(a.logprob), 0) <= 1 + PROB_SUM_TOL);
  }
  // Streamed: each chunk's tokens, all of them once, in order.
  assert.deepEqual(r.chunks.flatMap((c) => c.choices[0].logprobs?.content ?? []), lp.content);
  assert.equal(r.chunks.map((c) => c.choices[0].delta.content ?? '').join(''), content);
  assert.ok(r.chunks.every((c) => !c.choices[0].delta.content || c.choices[0].logprobs), 'text comes with its tokens');

  // n: 3 choices, choice i sampled with seed 7 + i; the prompt counted once, the completions summed.
  assert.deepEqual(r.n.choices.map((c) => c.index), [0, 1, 2]);
  assert.equal(r.n.choices[1].message.content, r.seed8.choices[0].message.content, 'choice 1 samples with seed + 1');
  assert.ok(r.n.choices.every((c) => c.finish_reason === 'length'), 'no end of turn in 4 tokens of an answer');
  assert.deepEqual(r.n.usage, { prompt_tokens: r.seed8.usage.prompt_tokens, completion_tokens: 12, total_tokens: r.seed8.usage.prompt_tokens + 12 });
  assert.ok(r.seed8.timings.prefilled_tokens <= 1, `the same prompt again runs only its last token (${r.seed8.timings.prefilled_tokens})`);
  for (const i of [0, 1, 2]) {
    const mine = r.nChunks.filter((c) => c.choices[0].index === i);
    assert.equal(mine[0].choices[0].delta.role, 'assistant');
    assert.equal(mine.map((c) => c.choices[0].delta.content ?? '').join(''), r.n.choices[i].message.content, `streamed choice ${i}`);
    assert.equal(mine.at(-1).choices[0].finish_reason, 'length');
  }
});

await check('abort mid-stream: the stream throws AbortError, the engine goes on working', async () => {
  const r = await page.evaluate(async () => {
    const controller = new AbortController();
    let pieces = 0;
    let error = null;
    try {
      const stream = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Write a long story about a dragon.' }], temperature: 0, max_tokens: 200, stream: true, signal: controller.signal });
      for await (const ch of stream) {
        if (ch.choices[0].delta.content) pieces++;
        if (pieces === 3) controller.abort();
      }
    } catch (e) {
      error = { name: e.name, code: e.code };
    }
    let early = null;
    try {
      await engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], signal: AbortSignal.abort() });
    } catch (e) {
      early = e.code;
    }
    const after = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], temperature: 0, max_tokens: 2 });
    return { pieces, error, early, after: after.usage.completion_tokens };
  });
  assert.deepEqual(r.error, { name: 'AbortError', code: 'aborted' });
  assert.ok(r.pieces >= 3 && r.pieces < 10, `stopped soon after the abort (${r.pieces} pieces)`);
  assert.equal(r.early, 'aborted');
  assert.equal(r.after, 2);
});

await check('a follow-up turn reuses the KV cache of the conversation so far', async () => {
  const r = await page.evaluate(async () => {
    const messages = [{ role: 'user', content: 'What is the capital of France?' }];
    const first = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 8 });
    messages.push(first.choices[0].message, { role: 'user', content: 'And of Italy?' });
    const second = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 4 });
    return { first: first.usage, second: second.usage, prefilled: second.timings.prefilled_tokens };
  });
  assert.ok(r.prefilled < r.second.prompt_tokens / 2, `prefilled ${r.prefilled} of ${r.second.prompt_tokens} prompt tokens`);
});

await check('tokenize / detokenize / chat template equal llama.cpp', async () => {
  const t = smol.tokenize.slice(0, 5);
  const r = await page.evaluate(async ({ texts, messages }) => ({
    ids: await Promise.all(texts.map((x) => engine.tokenize(x, { special: true }))),
    back: await engine.detokenize(await engine.tokenize(texts[0])),
    rendered: await engine.applyChatTemplate(messages),
  }), { texts: t.map((x) => x.text), messages: smol.chat[0].messages });
  t.forEach((x, i) => assert.deepEqual(r.ids[i], x.ids_parse_special, x.text));
  assert.equal(r.back, t[0].text);
  assert.equal(r.rendered, smol.chat[0].rendered);
});

// Structured output. Short schemas: SwiftShader decodes SmolLM2 at about a
// token a second (slower on a busy machine) and a constrained step reads its
// logits back, so the ten-seed loop uses a top-level enum: three tokens.
const ANSWER_SCHEMA = { type: 'object', properties: { answer: { type: 'string', maxLength: 20 } }, required: ['answer'], additionalProperties: false };
const COLOR_SCHEMA = { enum: ['red', 'green', 'blue'] };
await check('response_format json_schema: output parses and validates (ajv) at temperature 0 and 0.8 with ten seeds; streamed deltas parse; unenforceable keywords refused by name', async () => {
  const { default: Ajv } = await import('ajv');
  const ajv = new Ajv({ strict: true });
  const t0 = performance.now();
  const r = await page.evaluate(async ({ answer, color }) => {
    const fmt = (name, schema) => ({ type: 'json_schema', json_schema: { name, schema, strict: true } });
    const messages = [{ role: 'user', content: 'What is the capital of France? Answer in JSON.' }];
    const greedy = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 64, response_format: fmt('answer', answer) });
    const colorMessages = [{ role: 'user', content: 'Name a color, in JSON.' }];
    const seeds = [];
    for (let seed = 0; seed < 10; seed++) {
      seeds.push(await engine.chat.completions.create({ messages: colorMessages, temperature: 0.8, seed, max_tokens: 8, response_format: fmt('color', color) }));
    }
    const chunks = [];
    for await (const c of await engine.chat.completions.create({ messages, temperature: 0.8, seed: 3, max_tokens: 64, stream: true, response_format: fmt('answer', answer) })) chunks.push(c);
    const object = await engine.completions.create({ prompt: 'A JSON object: ', temperature: 0, max_tokens: 8, response_format: { type: 'json_object' } });
    const code = (p) => p.then(() => 'answered', (e) => `${e.code}: ${e.message} ${JSON.stringify(e.details ?? {})}`);
    const bad = (response_format) => code(engine.chat.completions.create({ messages, max_tokens: 1, response_format }));
    return {
      greedy, seeds, chunks, object,
      unique: await bad(fmt('tags', { type: 'array', items: { type: 'string' }, uniqueItems: true })),
      notKeyword: await bad(fmt('x', { type: 'object', properties: { a: { not: { type: 'null' } } } })),
      noName: await bad({ type: 'json_schema', json_schema: { schema: answer } }),
      noSchema: await bad({ type: 'json_schema', json_schema: { name: 'x' } }),
      badType: await bad({ type: 'xml' }),
      extra: await bad({ type: 'json_object', schema: {} }),
      format: await bad(fmt('x', { type: 'string', format: 'credit-card' })),
    };
  }, { answer: ANSWER_SCHEMA, color: COLOR_SCHEMA });
  const validAnswer = ajv.compile(ANSWER_SCHEMA);
  const validColor = ajv.compile(COLOR_SCHEMA);
  const parsed = (text, valid, what) => {
    let v;
    assert.doesNotThrow(() => { v = JSON.parse(text); }, `${what}: ${JSON.stringify(text)} parses`);
    assert.ok(valid(v), `${what}: ${text} validates: ${ajv.errorsText(valid.errors)}`);
    return v;
  };
  parsed(r.greedy.choices[0].message.content, validAnswer, 'temperature 0');
  assert.equal(r.greedy.choices[0].finish_reason, 'stop');
  const colors = r.seeds.map((s, seed) => {
    assert.equal(s.choices[0].finish_reason, 'stop', `seed ${seed}: ${s.choices[0].message.content}`);
    return parsed(s.choices[0].message.content, validColor, `seed ${seed}`);
  });
  const streamed = r.chunks.map((c) => c.choices[0].delta.content ?? '').join('');
  parsed(streamed, validAnswer, 'streamed');
  assert.equal(r.chunks.at(-1).choices[0].finish_reason, 'stop');
  const obj = r.object.choices[0].text;
  assert.ok(r.object.choices[0].finish_reason === 'stop' ? typeof JSON.parse(obj) === 'object' : obj.startsWith('{'), `json_object: ${obj}`);
  assert.match(r.unique, /^invalid_request: response_format\.json_schema\.schema: the keyword "uniqueItems" at \/uniqueItems cannot be enforced .*"keyword":"uniqueItems"/);
  assert.match(r.notKeyword, /^invalid_request: .*"not" at \/properties\/a\/not .*"field":"response_format\.json_schema\.schema"/);
  assert.match(r.noName, /^invalid_request: response_format\.json_schema\.name /);
  assert.match(r.noSchema, /^invalid_request: response_format\.json_schema\.schema /);
  assert.match(r.badType, /^invalid_request: response_format\.type /);
  assert.match(r.extra, /^invalid_request: response_format\.schema /);
  assert.match(r.format, /^invalid_request: response_format\.json_schema\.schema: the keyword "format" at \/format cannot be enforced: .*credit-card.*"keyword":"format","pointer":"\/format"/);
  console.log(`response_format: ${((performance.now() - t0) / 1000).toFixed(0)} s; greedy ${r.greedy.choices[0].message.content} at ${r.greedy.timings.decode_tok_s.toFixed(2)} tok/s; seeds gave ${colors.join(' ')}; streamed ${streamed}`);
});

await check('numbers out of range are refused by name, in the package and at the wasm boundary; unsupported fields too', async () => {
  const r = await page.evaluate(async () => {
    const code = (p) => p.then(() => 'answered', (e) => `${e.code}: ${e.message}`);
    const chat = (extra) => code(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], max_tokens: 1, ...extra }));
    return {
      bench: await code(engine.bench({ prompt_tokens: 4294967295 })),
      benchNegative: await code(engine.bench({ prompt_tokens: -1, gen_tokens: 4 })),
      // Straight to the worker, past the package's checks: the wasm boundary's own.
      wasmBench: await code(engine.client.call('bench', { prompt_tokens: 4294967295, gen_tokens: 4 })),
      wasmBenchWrap: await code(engine.client.call('bench', { prompt_tokens: 2 ** 32 + 8, gen_tokens: 4 })),
      benchList: await code(engine.bench({ pp: [8, 600], tg: [4] })),
      benchNotList: await code(engine.bench({ pp: 512 })),
      // llama-bench's -d: the tests again after 6 positions; rows name their depth.
      benchDepth: await engine.bench({ pp: [], tg: [2], depth: [0, 6] }).then((b) => b.tests.map((t) => `${t.test} ${t.depth} ${t.tokens}`), (e) => `${e.code}: ${e.message}`),
      benchDepthNotList: await code(engine.bench({ tg: [2], depth: 6 })),
      benchDepthNegative: await code(engine.bench({ tg: [2], depth: [-1] })),
      benchDepthFull: await code(engine.bench({ pp: [], tg: [4], depth: [510] })),
      wasmBenchDepth: await code(engine.client.call('bench', { pp: [], tg: [2], depth: [600] })),
      // A context beyond training (tiny-llama's is 512) loads, with a warning.
      infoTrain: [engine.info.context_train, engine.info.warnings],
      beyondTraining: await createEngine({ model: '/models/tiny-llama-q4_0.gguf', context: 600, cache: false }).then(async (t) => {
        const i = t.info;
        await t.unload();
        return [i.context, i.context_train, i.warnings];
      }, (e) => `${e.code}: ${e.message}`),
      wasmBenchBoth: await code(engine.client.call('bench', { pp: [8], prompt_tokens: 8 })),
      wasmBenchNone: await code(engine.client.call('bench', { pp: [], tg: [] })),
      wasmMaxTokens: await code(engine.client.call('generate', { request: { prompt: 'x', max_tokens: -1 } })),
      wasmTopP: await code(engine.client.call('generate', { request: { prompt: 'x', top_p: 1.5 } })),
      wasmSeed: await code(engine.client.call('generate', { request: { prompt: 'x', seed: 2 ** 60 } })),
      wasmDetokenize: await code(engine.client.call('detokenize', { ids: [1, 49152] })),
      maxTokens: await chat({ max_tokens: -1 }),
      temperature: await chat({ temperature: -0.5 }),
      topK: await chat({ top_k: 2.5 }),
      penalty: await chat({ frequency_penalty: 3 }),
      n: await chat({ n: 9 }),
      logprobs: await chat({ logprobs: 'yes' }),
      topLogprobs: await chat({ logprobs: true, top_logprobs: 21 }),
      topLogprobsAlone: await chat({ top_logprobs: 2 }),
      textLogprobs: await code(engine.completions.create({ prompt: 'x', max_tokens: 1, logprobs: 2 })),
      wasmTopLogprobs: await code(engine.client.call('generate', { request: { prompt: 'x', logprobs: true, top_logprobs: 21 } })),
      tools: await chat({ tools: [] }),
      detokenize: await code(engine.detokenize([1, -1])),
      ok: await chat({ n: 1, model: 'any', frequency_penalty: 0.5, presence_penalty: 0.5, temperature: 0 }),
    };
  });
  assert.match(r.bench, /^invalid_request: prompt_tokens must be an integer from 1 to 512, got 4294967295$/);
  assert.match(r.benchNegative, /^invalid_request: prompt_tokens must be an integer from 1 to \d+, got -1$/);
  assert.match(r.wasmBench, /^invalid_request: prompt_tokens must be an integer from 1 to 512, got 4294967295$/);
  assert.match(r.wasmBenchWrap, /^invalid_request: prompt_tokens must be an integer from 1 to 512, got 4294967304$/);
  assert.match(r.benchList, /^invalid_request: pp\[1\] must be an integer from 1 to 512, got 600$/);
  assert.match(r.benchNotList, /^invalid_request: pp must be an array of token counts$/);
  assert.deepEqual(r.benchDepth, ['tg2 0 2', 'tg2 @ d6 6 2']);
  assert.deepEqual(r.infoTrain, [8192, []]);
  assert.deepEqual(r.beyondTraining, [600, 512, ['context 600 is beyond the 512 positions this model was trained on; text past position 512 may degrade']]);
  assert.match(r.benchDepthNotList, /^invalid_request: depth must be an array of KV cache positions$/);
  assert.match(r.benchDepthNegative, /^invalid_request: depth\[0\] must be an integer from 0 to 4294967295, got -1$/);
  assert.match(r.benchDepthFull, /^context_full: tg4 @ d510 needs 514 positions but the context holds 512$/);
  assert.match(r.wasmBenchDepth, /^invalid_request: depth\[0\] must be an integer from 0 to 511, got 600$/);
  assert.match(r.wasmBenchBoth, /^invalid_request: bad request: give pp or prompt_tokens, not both$/);
  assert.match(r.wasmBenchNone, /^invalid_request: nothing to measure/);
  assert.match(r.wasmMaxTokens, /^invalid_request: max_tokens must be an integer from 0 to 4294967295, got -1$/);
  assert.match(r.wasmTopP, /^invalid_request: top_p must be a number from 0 to 1, got 1.5$/);
  assert.match(r.wasmSeed, /^invalid_request: seed must be an integer from 0 to 9007199254740991, got /);
  assert.match(r.wasmDetokenize, /^invalid_request: token id 49152 is outside the vocabulary \(ids 0 to 49151\)$/);
  assert.match(r.maxTokens, /^invalid_request: max_tokens must be an integer from 0 to 4294967295, got -1$/);
  assert.match(r.temperature, /^invalid_request: temperature must be a number from 0 to 100, got -0.5$/);
  assert.match(r.topK, /^invalid_request: top_k must be an integer/);
  assert.match(r.penalty, /^invalid_request: frequency_penalty must be a number from -2 to 2, got 3$/);
  assert.match(r.n, /^invalid_request: n must be an integer from 1 to 8, got 9$/);
  assert.match(r.logprobs, /^invalid_request: logprobs must be true or false$/);
  assert.match(r.topLogprobs, /^invalid_request: top_logprobs must be an integer from 0 to 20, got 21$/);
  assert.match(r.topLogprobsAlone, /^invalid_request: top_logprobs needs logprobs: true$/);
  assert.match(r.textLogprobs, /^invalid_request: logprobs is not supported by tabllm on completions/);
  assert.match(r.wasmTopLogprobs, /^invalid_request: top_logprobs must be an integer from 0 to 20, got 21$/);
  assert.match(r.tools, /^invalid_request: `tools` must be a non-empty array/);
  assert.match(r.detokenize, /^invalid_request: ids\[1\] must be an integer from 0 to 4294967295, got -1$/);
  assert.equal(r.ok, 'answered');
});

await check('errors carry a code: prompt longer than the context, bad requests', async () => {
  const r = await page.evaluate(async () => {
    const codes = [];
    for (const req of [
      { messages: [{ role: 'user', content: 'word '.repeat(600) }], max_tokens: 4 },
      { messages: [] },
      { messages: [{ role: 'user', content: 'x' }], temperature: 'hot' },
    ]) {
      try {
        await engine.chat.completions.create(req);
        codes.push('none');
      } catch (e) {
        codes.push(`${e.code}: ${e.message}`);
      }
    }
    await engine.unload();
    try {
      await engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] });
    } catch (e) {
      codes.push(e.code);
    }
    return codes;
  });
  assert.match(r[0], /^context_full: the prompt has \d+ tokens but the context holds 512/);
  assert.match(r[1], /^invalid_request/);
  assert.match(r[2], /^invalid_request: temperature must be a number/);
  assert.equal(r[3], 'unloaded');
});

await check('a second load comes from browser storage, with no download: one HEAD finds the server\'s file unchanged', async () => {
  const before = requests.length;
  const r = await page.evaluate(async ({ url }) => {
    const phases = new Set();
    const engine = await createEngine({ model: url, context: 256, onProgress: (p) => phases.add(p.phase) });
    const out = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], temperature: 0, max_tokens: 3 });
    await engine.unload();
    const cached = await tabllm.listCachedModels();
    return { fromCache: engine.info.from_cache, validated: engine.info.cache_validated, cacheError: engine.info.cache_error, phases: [...phases], tokens: out.usage.completion_tokens, cached };
  }, { url: SMOL });
  assert.equal(r.fromCache, true);
  assert.equal(r.validated, true);
  assert.ok(r.phases.includes('cache') && !r.phases.includes('download'), `phases ${r.phases}`);
  assert.deepEqual(requests.slice(before).filter((p) => p.endsWith('.gguf')), [`HEAD ${SMOL}`]);
  const size = readFileSync(join(repo, SMOL.slice(1))).length;
  assert.ok(r.cached.some((c) => c.url.endsWith(SMOL) && c.bytes === size), JSON.stringify(r.cached));
  assert.equal(r.cacheError, null);
});

await check('an abort stops a load from browser storage and from a local File promptly; a new load works after', async () => {
  await page.setInputFiles('#file', join(repo, SMOL.slice(1)));
  const r = await page.evaluate(async ({ url }) => {
    const out = {};
    for (const [name, model] of [['cache', url], ['file', files()[0]]]) {
      const controller = new AbortController();
      let abortedAt = null;
      let origin = null;
      const t = performance.now();
      try {
        await createEngine({
          model, context: 256, signal: controller.signal,
          onProgress: (p) => {
            origin ??= p.phase === 'device' ? null : p.phase;
            if (abortedAt === null && p.fraction > 0.1) {
              abortedAt = performance.now();
              out[`${name}Fraction`] = p.fraction;
              controller.abort();
            }
          },
        });
        out[name] = 'loaded';
      } catch (e) {
        out[name] = { code: e.code, name: e.name, afterAbortMs: abortedAt === null ? null : performance.now() - abortedAt, origin };
      }
      out[`${name}Ms`] = performance.now() - t;
    }
    return out;
  }, { url: SMOL });
  for (const name of ['cache', 'file']) {
    assert.equal(r[name].code, 'aborted', `${name}: ${JSON.stringify(r)}`);
    assert.equal(r[name].name, 'AbortError');
    assert.equal(r[name].origin, name);
    assert.ok(r[name].afterAbortMs < 1000, `${name}: rejected ${r[name].afterAbortMs} ms after the abort`);
    assert.ok(r[`${name}Fraction`] < 0.5, `${name}: aborted at ${r[`${name}Fraction`]}`);
  }
  await tinyAnswers('aborted loads');
  await page.evaluate(() => tabllm.deleteCachedModels());
  assert.deepEqual(await page.evaluate(() => tabllm.listCachedModels()), []);
});

await check('a split GGUF (-00001-of-00003) loads as one model and matches llama.cpp', async () => {
  const c = smol.chat[0];
  const n = 8;
  const r = await page.evaluate(async ({ messages, n }) => {
    let parts = 0;
    const engine = await createEngine({ model: '/models/split/smol-00001-of-00003.gguf', context: 256, cache: false, onProgress: (p) => (parts = Math.max(parts, p.parts)) });
    const out = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: n });
    await engine.unload();
    return { parts, ids: out.timings.completion_ids };
  }, { messages: c.messages, n });
  assert.equal(r.parts, 3);
  assert.deepEqual(r.ids, c.greedy_ids_f32_activations.slice(0, n));
});

await check('inspectModel on a split GGUF reads every part\'s header: the sizes of the unsplit file; one part alone is "unknown"', async () => {
  const r = await page.evaluate(async ({ whole }) => {
    const opts = { context: 2048 };
    return {
      whole: await tabllm.inspectModel(whole, opts),
      split: await tabllm.inspectModel('/models/split/smol-00001-of-00003.gguf', opts),
      part2: await tabllm.inspectModel('/models/split/smol-00002-of-00003.gguf', opts),
    };
  }, { whole: SMOL });
  console.log(`split: ${r.split.weight_bytes} bytes of weights from ${r.split.bytes_fetched} bytes fetched; part 2 alone: ${r.part2.fits} (${r.part2.reason})`);
  assert.equal(r.split.split_count, 3);
  assert.deepEqual([r.split.weight_bytes, r.split.parameters, r.split.kv_bytes, r.split.fits], [r.whole.weight_bytes, r.whole.parameters, r.whole.kv_bytes, r.whole.fits]);
  assert.equal(r.part2.fits, 'unknown');
  assert.match(r.part2.reason, /split into 3 files/);
});

await check('split GGUFs are told by split.no, not by name (../shared/cases/field3/split): a suffixed URL brings its parts, parts in any order load, a lone later part or a missing one is refused by name, a whole file named like a part loads', async () => {
  const cases = join(shared, '..', 'cases', 'field3', 'split');
  const dir = join(repo, 'models', 'field3-split');
  for (const sub of ['suffix', 'missing']) mkdirSync(join(dir, sub), { recursive: true });
  for (const i of [1, 2, 3]) {
    copyFileSync(join(cases, `t-0000${i}-of-00003.gguf`), join(dir, `t-0000${i}-of-00003.gguf`));
    copyFileSync(join(cases, 'suffix', `t-0000${i}-of-00003-e3b5.gguf`), join(dir, 'suffix', `t-0000${i}-of-00003-e3b5.gguf`));
  }
  copyFileSync(join(cases, 't-00001-of-00003.gguf'), join(dir, 'missing', 't-00001-of-00003.gguf'));
  copyFileSync(join(shared, 'tiny/tiny-llama-q4_0.gguf'), join(dir, 'whole-00001-of-00003.gguf'));
  const r = await page.evaluate(async () => {
    const d = '/models/field3-split/';
    const gen = async (model) => {
      const engine = await createEngine({ model, context: 64, cache: false });
      const out = await engine.completions.create({ prompt: 'hello', temperature: 0, max_tokens: 6 });
      await engine.unload();
      return out.timings.completion_ids;
    };
    const err = (model) => createEngine({ model, context: 64, cache: false }).then(() => 'loaded', (e) => `${e.code}: ${e.message}`);
    // Files named anything, picked in any order: parts 3, 1, 2.
    const files = await Promise.all([3, 1, 2].map(async (i, k) => new File([await (await fetch(`${d}t-0000${i}-of-00003.gguf`)).blob()], `file-${k}.gguf`)));
    const size = async (model) => (await tabllm.inspectModel(model, { context: 64 })).weight_bytes;
    return {
      whole: await gen('/models/tiny-llama-q4_0.gguf'),
      standard: await gen(`${d}t-00001-of-00003.gguf`),
      suffix: await gen(`${d}suffix/t-00001-of-00003-e3b5.gguf`),
      urls: await gen([3, 2, 1].map((i) => `${d}t-0000${i}-of-00003.gguf`)),
      files: await gen(files),
      named: await gen(`${d}whole-00001-of-00003.gguf`),
      sizes: [await size('/models/tiny-llama-q4_0.gguf'), await size(`${d}suffix/t-00001-of-00003-e3b5.gguf`), await size([3, 1, 2].map((i) => `${d}t-0000${i}-of-00003.gguf`)), await size(`${d}whole-00001-of-00003.gguf`)],
      part2: await err(`${d}t-00002-of-00003.gguf`),
      loneFile: await err(files[1]),
      missing: await err(`${d}missing/t-00001-of-00003.gguf`),
    };
  });
  assert.equal(r.whole.length, 6);
  for (const k of ['standard', 'suffix', 'urls', 'files', 'named']) assert.deepEqual(r[k], r.whole, k);
  assert.deepEqual(r.sizes, Array(4).fill(r.sizes[0]));
  assert.equal(r.part2, 'invalid_model: t-00002-of-00003.gguf is part 2 of 3 of a split model: load its first part (t-00001-of-00003.gguf), which holds the model\'s metadata (the others are found from it)');
  assert.equal(r.loneFile, 'invalid_request: file-1.gguf is the first of 3 parts of a split model: give all 3 files together (in any order)');
  assert.match(r.missing, /^download_failed: part 2 of 3 of the split model was not found; looked for http:\/\/[^ ]+\/models\/field3-split\/missing\/t-00002-of-00003\.gguf$/);
});

await check('load errors carry a code: unsupported architecture, missing file', async () => {
  const bytes = readFileSync(join(shared, 'tiny/tiny-llama-q4_0.gguf'));
  const at = bytes.indexOf('general.architecture') + 'general.architecture'.length + 12;
  bytes.write('mamba', at);
  writeFileSync(join(repo, 'models/tiny-mamba.gguf'), bytes);
  const r = await page.evaluate(async () => {
    const out = [];
    for (const model of ['/models/tiny-mamba.gguf', '/models/no-such-model.gguf']) {
      try {
        await createEngine({ model, cache: false });
        out.push('loaded');
      } catch (e) {
        out.push({ code: e.code, message: e.message, details: e.details });
      }
    }
    return out;
  });
  assert.equal(r[0].code, 'unsupported_architecture');
  assert.match(r[0].message, /unsupported model architecture `mamba`/);
  assert.equal(r[0].details.architecture, 'mamba');
  assert.equal(r[1].code, 'download_failed');
  assert.equal(r[1].details.status, 404);
});

await check('Gemma 3 on a device limited to 128 MiB per binding equals llama.cpp', async () => {
  const gemma = readJson(join(shared, 'gemma-3-270m-q4_k_m.json'));
  const c = gemma.greedy[0];
  // The first 8 of llama.cpp's 32 greedy ids: every step runs the split
  // bindings, and SwiftShader decodes Gemma 3 at ~0.35 tok/s (32 took 90 s
  // of CI). GEMMA_TOKENS=32 checks them all.
  const n = Number(process.env.GEMMA_TOKENS ?? Math.min(8, c.greedy_ids_f32_activations.length));
  const r = await page.evaluate(async ({ ids, n }) => {
    const engine = await createEngine({ model: '/models/gemma-3-270m-q4_k_m.gguf', context: 256, cache: false, maxBindingSize: 128 * 2 ** 20 });
    const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: n });
    await engine.unload();
    return { info: engine.info, out };
  }, { ids: c.prompt_ids, n });
  console.log(`Gemma 3 in Chromium, binding limit ${r.info.limits.max_storage_buffer_binding_size}: decode ${r.out.timings.decode_tok_s.toFixed(2)} tok/s, wasm memory ${(r.info.wasm_memory_bytes / 2 ** 20).toFixed(1)} MiB after the load (header ${(r.info.header_bytes / 2 ** 20).toFixed(1)} MiB)`);
  assert.equal(r.info.limits.max_storage_buffer_binding_size, 128 * 2 ** 20);
  assert.equal(r.info.architecture, 'gemma3');
  assertStreamed(r.info);
  assert.deepEqual(r.out.timings.completion_ids, c.greedy_ids_f32_activations.slice(0, n));
});

await check('the CPU backend (backend: \'cpu\') gives SmolLM2\'s chat[0] reference ids; WebGPU-only options and unknown backends are refused by name', async () => {
  const c = smol.chat[0];
  const r = await page.evaluate(async ({ url, messages, n }) => {
    const refused = {};
    for (const [name, opts] of Object.entries({ maxBindingSize: { backend: 'cpu', maxBindingSize: 2 ** 27 }, jsReplay: { backend: 'cpu', jsReplay: false }, backend: { backend: 'metal' } })) {
      refused[name] = await tabllm.createEngine({ model: url, ...opts }).then(() => 'loaded', (e) => `${e.code}: ${e.message} [${e.details?.field}]`);
    }
    const engine = await tabllm.createEngine({ model: url, context: 512, backend: 'cpu', cache: false });
    const out = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: n });
    await engine.unload();
    return { info: engine.info, out, refused };
  }, { url: SMOL, messages: c.messages, n: c.greedy_ids_f32_activations.length });
  console.log(`SmolLM2 on the CPU backend in Chromium: prefill ${r.out.timings.prefill_tok_s.toFixed(2)} tok/s, decode ${r.out.timings.decode_tok_s.toFixed(2)} tok/s (${r.info.backend_reason})`);
  assert.equal(r.info.backend, 'cpu');
  assert.equal(r.info.adapter, null);
  assert.match(r.info.backend_reason, /asked for/);
  // The weights live in wasm memory, once: streamed in, never a whole file or a second copy.
  const cpuBound = r.info.weight_bytes + r.info.kv_cache_bytes + r.info.header_bytes + LOAD_MEMORY_OVER_HEADER;
  assert.ok(r.info.wasm_memory_bytes <= cpuBound, `wasm memory ${r.info.wasm_memory_bytes} bytes, over weights + KV cache + header + ${LOAD_MEMORY_OVER_HEADER} = ${cpuBound}`);
  assert.deepEqual(r.out.timings.prompt_ids, c.prompt_ids);
  assert.deepEqual(r.out.timings.completion_ids, c.greedy_ids_f32_activations);
  assert.match(r.refused.maxBindingSize, /^invalid_request: maxBindingSize is a WebGPU option.*\[maxBindingSize\]$/);
  assert.match(r.refused.jsReplay, /^invalid_request: jsReplay is a WebGPU option.*\[jsReplay\]$/);
  assert.match(r.refused.backend, /^invalid_request: backend must be one of 'auto', 'webgpu', 'cpu' \[backend\]$/);
});

await check('backend: \'auto\' on SwiftShader picks the CPU backend and says why', async () => {
  const c = tiny.cases[0];
  const r = await page.evaluate(async ({ ids, n }) => {
    const engine = await tabllm.createEngine({ model: '/models/tiny-llama-q4_0.gguf', context: 128, cache: false });
    const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: n });
    await engine.unload();
    return { info: engine.info, ids: out.timings.completion_ids };
  }, { ids: c.prompt_ids, n: c.greedy_ids_f32_activations.length });
  assert.equal(r.info.backend, 'cpu');
  assert.match(r.info.backend_reason, /software rasterizer/);
  assert.deepEqual(r.ids, c.greedy_ids_f32_activations);
});

await check('inspectCatalog: every catalog shape in each mix, sized for the backend auto picks as the native CLI sizes it; inspectModel gets the same device; options refused by name', async () => {
  const r = await page.evaluate(async () => {
    const fail = (p) => p.then(() => 'answered', (e) => ({ code: e.code, message: e.message, field: e.details?.field ?? null }));
    const adapter = await navigator.gpu.requestAdapter();
    return {
      ram: navigator.deviceMemory ?? null,
      software: adapter.info.architecture === 'swiftshader' || adapter.info.isFallbackAdapter === true,
      limits: { max_buffer_size: adapter.limits.maxBufferSize, max_storage_buffer_binding_size: adapter.limits.maxStorageBufferBindingSize, f16: adapter.features.has('shader-f16') },
      table: await tabllm.inspectCatalog({ context: 2048, mixes: ['q4_0', 'q8_0'], bandwidth_gbps: 12.5 }),
      plain: await tabllm.inspectCatalog(),
      webgpu: await tabllm.inspectCatalog({ backend: 'webgpu', context: 4096 }),
      model: await tabllm.inspectModel('/models/tiny-llama-q4_0.gguf', { context: 2048 }),
      unknown: await fail(tabllm.inspectCatalog({ contxt: 2048 })),
      zero: await fail(tabllm.inspectCatalog({ context: 0 })),
      huge: await fail(tabllm.inspectCatalog({ context: 2 ** 21 })),
      fraction: await fail(tabllm.inspectCatalog({ context: 100.5 })),
      mix: await fail(tabllm.inspectCatalog({ mixes: ['q3_k_s'] })),
      noMix: await fail(tabllm.inspectCatalog({ mixes: [] })),
      backend: await fail(tabllm.inspectCatalog({ backend: 'npu' })),
      kv: await fail(tabllm.inspectCatalog({ kv_bytes_per_element: 3 })),
      bandwidth: await fail(tabllm.inspectCatalog({ bandwidth_gbps: -1 })),
      modelUnknown: await fail(tabllm.inspectModel('/models/tiny-llama-q4_0.gguf', { contxt: 5 })),
      modelContext: await fail(tabllm.inspectModel('/models/tiny-llama-q4_0.gguf', { context: 0 })),
      // Each option by name: NaN and ±Infinity (JSON would make them null, "not given"),
      // fractions, negatives, strings, zero limits. inspectModel gets a URL that is not
      // there: the options are refused before anything is fetched.
      bad: await (async () => {
        const cases = [
          ['context', NaN], ['context', Infinity], ['context', '512'],
          ['bandwidth_gbps', NaN], ['bandwidth_gbps', Infinity], ['bandwidth_gbps', -Infinity], ['bandwidth_gbps', 0], ['bandwidth_gbps', -1], ['bandwidth_gbps', '5'],
          ['available_bytes', NaN], ['available_bytes', Infinity], ['available_bytes', 1.5], ['available_bytes', -1], ['available_bytes', '5'], ['available_bytes', 0], ['available_bytes', 2 ** 53],
          ['max_buffer_size', NaN], ['max_buffer_size', 2 ** 28 + 0.5], ['max_buffer_size', -1], ['max_buffer_size', '5'], ['max_buffer_size', 0],
          ['max_storage_buffer_binding_size', 0], ['max_storage_buffer_binding_size', 2 ** 20 - 1], ['max_storage_buffer_binding_size', Infinity], ['max_storage_buffer_binding_size', 1.5], ['max_storage_buffer_binding_size', '5'],
          ['kv_bytes_per_element', NaN], ['kv_bytes_per_element', 1.5], ['kv_bytes_per_element', -1], ['kv_bytes_per_element', '2'], ['kv_bytes_per_element', 0],
        ];
        const out = [];
        for (const [k, v] of cases) {
          out.push({ k, v: String(v), catalog: await fail(tabllm.inspectCatalog({ [k]: v })), model: await fail(tabllm.inspectModel('/models/not-there.gguf', { [k]: v })) });
        }
        for (const v of ['q4_0', [1], [], ['q4_0', 'q3_k_s'], null]) {
          out.push({ k: 'mixes', v: JSON.stringify(v), catalog: await fail(tabllm.inspectCatalog({ mixes: v })) });
        }
        return out;
      })(),
      // The smallest limits allowed, and a mix named in capitals as the engine takes it.
      edge: await tabllm.inspectCatalog({ available_bytes: 2 ** 20, max_buffer_size: 2 ** 20, max_storage_buffer_binding_size: 2 ** 20, kv_bytes_per_element: 2, bandwidth_gbps: 0.001, mixes: ['Q4_0'] }).then((t) => ({ mixes: t.mixes, rows: t.rows.length }), (e) => `${e.code}: ${e.message}`),
    };
  });
  const tabllmCli = cliBinary();
  const shapes = JSON.parse(execFileSync(tabllmCli, ['info', '--json'], { encoding: 'utf8' })).map((x) => x.shape);
  const t = r.table;
  assert.deepEqual(t.mixes, ['q4_0', 'q8_0']);
  assert.deepEqual(t.rows.map((x) => `${x.shape} ${x.mix}`), shapes.flatMap((s) => [`${s} q4_0`, `${s} q8_0`]), 'shape by shape, each mix');
  assert.deepEqual(r.plain.rows.map((x) => `${x.shape} ${x.mix}`), shapes.map((s) => `${s} q4_k_m`), 'q4_k_m by default');
  // SwiftShader here: auto takes the CPU backend, f16 KV (CPU_KV_BYTES_PER_ELEMENT), 32-bit wasm memory (or less RAM).
  assert.equal(r.software, true, 'these tests run on SwiftShader');
  const WASM32 = 4 * 2 ** 30 - 384 * 2 ** 20; // CPU_WASM32_MAX_BYTES (src/model/loader.rs)
  const memory = r.ram && r.ram * 2 ** 30 < WASM32 ? r.ram * 2 ** 30 : WASM32;
  assert.deepEqual(t.device, {
    backend: 'cpu', backend_reason: t.device.backend_reason, kv_bytes_per_element: 2, max_buffer_size: null, max_storage_buffer_binding_size: null,
    memory_bytes: memory, memory_source: t.device.memory_source, device_memory_gib: r.ram,
  });
  assert.match(t.device.backend_reason, /software rasterizer/);
  // Rows against the native CLI with the same limits.
  for (const [shape, mix] of [['llama-3.2-1b', 'q4_0'], ['llama-3.1-8b', 'q8_0'], ['gemma-3-4b', 'q8_0']]) {
    const want = JSON.parse(execFileSync(tabllmCli, ['info', '--shape', shape, '--type', mix, '--context', '2048', '--available-bytes', String(memory), '--bandwidth-gbps', '12.5', '--f16-kv', '--json'], { encoding: 'utf8' }));
    const got = t.rows.find((x) => x.shape === shape && x.mix === mix);
    assert.deepEqual(got, want, `${shape} ${mix}`);
  }
  const big = t.rows.find((x) => x.shape === 'llama-3.1-8b' && x.mix === 'q8_0');
  assert.equal(big.fits, 'does_not_fit');
  assert.match(big.reason, /^the weights alone need [\d.]+ GiB but only [\d.]+ GiB is available$/);
  // backend: 'webgpu' sizes for the adapter: its limits, no memory size.
  assert.equal(r.webgpu.device.backend, 'webgpu');
  assert.equal(r.webgpu.device.max_buffer_size, r.limits.max_buffer_size);
  assert.equal(r.webgpu.device.max_storage_buffer_binding_size, r.limits.max_storage_buffer_binding_size);
  assert.equal(r.webgpu.device.kv_bytes_per_element, r.limits.f16 ? 2 : 4);
  assert.equal(r.webgpu.device.memory_bytes, null);
  assert.match(r.webgpu.device.memory_source, /^unknown/);
  // inspectModel: the same device as the catalog.
  assert.deepEqual(r.model.device, r.plain.device);
  assert.equal(r.model.kv_bytes_per_element, 2);
  const gib = memory / 2 ** 30;
  assert.ok(r.model.reason.includes(`fit in the ${Number.isInteger(gib) ? gib : gib.toFixed(1)} GiB available`), r.model.reason);
  // Refusals name the option.
  assert.deepEqual(r.unknown, { code: 'invalid_request', message: r.unknown.message, field: 'contxt' });
  assert.match(r.unknown.message, /^inspectCatalog has no option contxt \(it takes context, .*mixes\)$/);
  for (const k of ['zero', 'huge', 'fraction']) assert.deepEqual([r[k].code, r[k].field], ['invalid_request', 'context'], `${k}: ${JSON.stringify(r[k])}`);
  assert.match(r.zero.message, /^context must be an integer from 1 to 1048576, got 0$/);
  assert.deepEqual([r.mix.code, r.mix.field], ['invalid_request', 'mixes']);
  assert.match(r.mix.message, /no quantization mix named `q3_k_s` \(known: q4_0, q8_0, q4_k_m, q5_k_m, q6_k\)/);
  assert.deepEqual([r.noMix.code, r.noMix.field], ['invalid_request', 'mixes']);
  assert.deepEqual([r.backend.code, r.backend.field], ['invalid_request', 'backend']);
  assert.deepEqual([r.kv.code, r.kv.field], ['invalid_request', 'kv_bytes_per_element']);
  assert.deepEqual([r.bandwidth.code, r.bandwidth.field], ['invalid_request', 'bandwidth_gbps']);
  assert.deepEqual([r.modelUnknown.code, r.modelUnknown.field], ['invalid_request', 'contxt']);
  assert.deepEqual([r.modelContext.code, r.modelContext.field], ['invalid_request', 'context']);
  for (const c of r.bad) {
    // mixes: null is "not given" (the default mix).
    if (c.k === 'mixes' && c.v === 'null') {
      assert.equal(c.catalog, 'answered', JSON.stringify(c));
      continue;
    }
    for (const fn of c.k === 'mixes' ? ['catalog'] : ['catalog', 'model']) {
      assert.deepEqual([c[fn].code, c[fn].field], ['invalid_request', c.k], `${fn} ${c.k}: ${c.v}: ${JSON.stringify(c[fn])}`);
      assert.match(c[fn].message, new RegExp(`^(${c.k} must be|no quantization mix named)`), `${fn} ${c.k}: ${c.v}: ${c[fn].message}`);
    }
  }
  const byCase = (k, v) => r.bad.find((c) => c.k === k && c.v === v).catalog.message;
  assert.equal(byCase('bandwidth_gbps', 'NaN'), 'bandwidth_gbps must be a finite number of GB/s above 0, got NaN');
  assert.equal(byCase('bandwidth_gbps', '5'), 'bandwidth_gbps must be a finite number of GB/s above 0, got "5"');
  assert.equal(byCase('max_storage_buffer_binding_size', '0'), 'max_storage_buffer_binding_size must be an integer from 1048576 to 9007199254740991, got 0');
  assert.equal(byCase('available_bytes', 'Infinity'), 'available_bytes must be a number, got Infinity');
  assert.equal(byCase('kv_bytes_per_element', '2'), 'kv_bytes_per_element must be 2 (f16) or 4 (f32), got "2"');
  assert.equal(byCase('mixes', '["q4_0","q3_k_s"]'), 'no quantization mix named `q3_k_s` (known: q4_0, q8_0, q4_k_m, q5_k_m, q6_k)');
  assert.deepEqual(r.edge.mixes, ['q4_0'], JSON.stringify(r.edge));
  assert.ok(r.edge.rows > 0);
});

await context.close();

await check('in Chromium without WebGPU, backend: \'auto\' picks the CPU backend and answers, and inspectCatalog sizes for it', async () => {
  const c = tiny.cases[0];
  const browser = await h.launch({ webgpu: false });
  try {
    const ctx = await browser.newContext({ userAgent: 'tabllm-test' });
    const p = await ctx.newPage();
    p.on('console', (m) => console.log(`[page without WebGPU] ${m.text()}`));
    await p.goto(h.origin + '/tests/browser/app/index.html');
    await p.waitForSelector('body[data-ready]');
    const r = await p.evaluate(async ({ ids, n }) => {
      const hasGpu = !!navigator.gpu && !!(await navigator.gpu.requestAdapter().catch(() => null));
      const webgpu = await tabllm.createEngine({ model: '/models/tiny-llama-q4_0.gguf', backend: 'webgpu' }).then(() => 'loaded', (e) => e.code);
      const engine = await tabllm.createEngine({ model: '/models/tiny-llama-q4_0.gguf', context: 128, cache: false });
      const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: n });
      await engine.unload();
      // "Will it run" sizes for the same backend.
      const catalog = (await tabllm.inspectCatalog()).device;
      const catalogWebgpu = await tabllm.inspectCatalog({ backend: 'webgpu' }).then(() => 'answered', (e) => e.code);
      return { hasGpu, webgpu, info: engine.info, ids: out.timings.completion_ids, catalog, catalogWebgpu };
    }, { ids: c.prompt_ids, n: c.greedy_ids_f32_activations.length });
    assert.equal(r.hasGpu, false, 'this Chromium was started without WebGPU');
    assert.equal(r.webgpu, 'webgpu_unavailable');
    assert.equal(r.info.backend, 'cpu');
    assert.match(r.info.backend_reason, /no WebGPU/);
    assert.deepEqual(r.ids, c.greedy_ids_f32_activations);
    assert.deepEqual([r.catalog.backend, r.catalog.backend_reason, r.catalog.kv_bytes_per_element], ['cpu', r.info.backend_reason, 2], 'the CPU backend keeps its KV cache in f16');
    assert.equal(r.catalogWebgpu, 'webgpu_unavailable');
  } finally {
    await browser.close();
  }
});

await h.done();
