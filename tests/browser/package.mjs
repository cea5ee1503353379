// The npm package in headless Chromium (SwiftShader WebGPU, f32 path), used
// the way an app uses it: `npm pack` of pkg/ installed into app/node_modules
// and imported by name (`import { createEngine } from 'tabllm'`).
// Checks against llama.cpp's references in ../shared/reference.
// Usage: node tests/browser/package.mjs   (after scripts/build-web.sh)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { start, repo, shared, readJson } from './harness.mjs';

// The package exactly as `npm publish` would ship it.
const app = join(repo, 'tests/browser/app');
const packDir = mkdtempSync(join(tmpdir(), 'tabllm-pack-'));
const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: join(repo, 'pkg'), encoding: 'utf8' }).trim().split('\n').pop();
rmSync(join(app, 'node_modules/tabllm'), { recursive: true, force: true });
mkdirSync(join(app, 'node_modules/tabllm'), { recursive: true });
execFileSync('tar', ['xzf', join(packDir, tgz), '-C', join(app, 'node_modules/tabllm'), '--strip-components=1']);

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

const h = await start();
const { context, page } = await h.open('/tests/browser/app/index.html');
await page.waitForSelector('body[data-ready]');
// Every request of the page and its workers, by URL path.
const requests = [];
context.on('request', (r) => requests.push(new URL(r.url()).pathname));

await h.check('tiny model: greedy ids equal llama.cpp, progress reported to the end', async () => {
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
  assert.ok(r.info.wasm_memory_bytes > 0);
  assert.equal(r.out.object, 'text_completion');
});

await h.check('a local File loads (never fetched) and its greedy ids equal llama.cpp', async () => {
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

let engineHandle = null;
await h.check('SmolLM2 chat at temperature 0 equals llama.cpp (f32 activations); usage and timings', async () => {
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
  console.log(`SmolLM2 in Chromium via the package: load ${r.loadSeconds.toFixed(2)} s (wasm memory ${(info.wasm_memory_bytes / 2 ** 20).toFixed(1)} MiB), prefill ${out.timings.prefill_tok_s.toFixed(2)} tok/s, decode ${out.timings.decode_tok_s.toFixed(2)} tok/s on ${JSON.stringify(info.adapter)}`);
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
});

await h.check('no network request at all while chatting after the load', async () => {
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

await h.check('streaming: chunks add up to the non-streamed reply; first has the role, last the finish reason and usage', async () => {
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
  assert.deepEqual(last.usage, r.whole.usage);
  assert.deepEqual(last.timings.completion_ids, r.whole.timings.completion_ids);
});

await h.check('abort mid-stream: the stream throws AbortError, the engine goes on working', async () => {
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

await h.check('a follow-up turn reuses the KV cache of the conversation so far', async () => {
  const r = await page.evaluate(async () => {
    const messages = [{ role: 'user', content: 'What is the capital of France?' }];
    const first = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 8 });
    messages.push(first.choices[0].message, { role: 'user', content: 'And of Italy?' });
    const second = await engine.chat.completions.create({ messages, temperature: 0, max_tokens: 4 });
    return { first: first.usage, second: second.usage, prefilled: second.timings.prefilled_tokens };
  });
  assert.ok(r.prefilled < r.second.prompt_tokens / 2, `prefilled ${r.prefilled} of ${r.second.prompt_tokens} prompt tokens`);
});

await h.check('tokenize / detokenize / chat template equal llama.cpp', async () => {
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

await h.check('errors carry a code: prompt longer than the context, bad requests', async () => {
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

await h.check('a second load comes from browser storage, with no download', async () => {
  const before = requests.length;
  const r = await page.evaluate(async ({ url }) => {
    const phases = new Set();
    const engine = await createEngine({ model: url, context: 256, onProgress: (p) => phases.add(p.phase) });
    const out = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], temperature: 0, max_tokens: 3 });
    await engine.unload();
    const cached = await tabllm.listCachedModels();
    return { fromCache: engine.info.from_cache, phases: [...phases], tokens: out.usage.completion_tokens, cached };
  }, { url: SMOL });
  assert.equal(r.fromCache, true);
  assert.ok(r.phases.includes('cache') && !r.phases.includes('download'), `phases ${r.phases}`);
  assert.deepEqual(requests.slice(before).filter((p) => p.endsWith('.gguf')), []);
  const size = readFileSync(join(repo, SMOL.slice(1))).length;
  assert.ok(r.cached.some((c) => c.url.endsWith(SMOL) && c.bytes === size), JSON.stringify(r.cached));
  await page.evaluate(() => tabllm.deleteCachedModels());
  assert.deepEqual(await page.evaluate(() => tabllm.listCachedModels()), []);
});

await h.check('a split GGUF (-00001-of-00003) loads as one model and matches llama.cpp', async () => {
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

await h.check('load errors carry a code: unsupported architecture, missing file', async () => {
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

await h.check('Gemma 3 on a device limited to 128 MiB per binding equals llama.cpp', async () => {
  const gemma = readJson(join(shared, 'gemma-3-270m-q4_k_m.json'));
  const c = gemma.greedy[0];
  const n = Number(process.env.GEMMA_TOKENS ?? c.greedy_ids_f32_activations.length);
  const r = await page.evaluate(async ({ ids, n }) => {
    const engine = await createEngine({ model: '/models/gemma-3-270m-q4_k_m.gguf', context: 256, cache: false, maxBindingSize: 128 * 2 ** 20 });
    const out = await engine.completions.create({ prompt: ids, temperature: 0, max_tokens: n });
    await engine.unload();
    return { info: engine.info, out };
  }, { ids: c.prompt_ids, n });
  console.log(`Gemma 3 in Chromium, binding limit ${r.info.limits.max_storage_buffer_binding_size}: decode ${r.out.timings.decode_tok_s.toFixed(2)} tok/s`);
  assert.equal(r.info.limits.max_storage_buffer_binding_size, 128 * 2 ** 20);
  assert.equal(r.info.architecture, 'gemma3');
  assert.deepEqual(r.out.timings.completion_ids, c.greedy_ids_f32_activations.slice(0, n));
});

await context.close();
await h.done();
