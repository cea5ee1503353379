// engine.embeddings.create in headless Chromium, through the packed package
// as an app imports it, on both backends (WebGPU on SwiftShader, and the
// CPU backend): the tiny llama.cpp-made embedding models of
// tests/reference/tiny (Qwen3-Embedding-shaped last pooling, llama mean
// pooling, BERT) equal llama.cpp's embedding mode within 1e-3 per component
// (the Rust test tests/embed_tiny.rs checks the same on every native kernel
// variant), and the real all-MiniLM-L6-v2 (models/, made by
// scripts/fetch-models.sh) equals sentence-transformers on the 50 texts of
// tests/reference/real/all-minilm-l6-v2.json at cosine ≥ 0.999, counting its
// tokens (tests/embed_real.rs checks the same natively); OpenAI's response
// shape, base64, dimensions, progress, abort between inputs and refusals by
// name.
// Usage: node tests/browser/embed.mjs   (after scripts/build-web.sh). ONLY=regex runs the checks whose names match.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { start, repo, shared, readJson, installPackage } from './harness.mjs';

installPackage();
// A chat model (no pooling declared), as package.mjs serves it.
mkdirSync(join(repo, 'models'), { recursive: true });
if (!existsSync(join(repo, 'models/tiny-llama-q4_0.gguf'))) copyFileSync(join(shared, 'tiny/tiny-llama-q4_0.gguf'), join(repo, 'models/tiny-llama-q4_0.gguf'));
const t0 = Date.now();
const TOL = 1e-3; // issue 31: "tiny models within 1e-3 of llama.cpp per component"
const COSINE_MIN = 0.999; // issue 31: "the real model's cosines ≥ 0.999 against sentence-transformers"
const MODELS = ['tiny-qwen3emb-q8_0', 'tiny-llamaemb_mean-q8_0', 'tiny-bert-q8_0'].map((name) => ({
  name,
  url: `/tests/reference/tiny/${name}.gguf`,
  ref: readJson(join(repo, `tests/reference/tiny/${name}.json`)),
  // BERT's positions are learned: a context past bert.context_length (512) is refused.
  context: name.includes('bert') ? 512 : 1024,
}));
const REAL = {
  name: 'all-MiniLM-L6-v2',
  url: '/models/all-MiniLM-L6-v2-f16.gguf',
  ref: readJson(join(repo, 'tests/reference/real/all-minilm-l6-v2.json')),
};
assert.ok(existsSync(join(repo, REAL.url)), `${REAL.url} is missing: run scripts/fetch-models.sh`);

const h = await start();
const only = process.env.ONLY ? new RegExp(process.env.ONLY, 'i') : null;
const check = (name, fn) => (only && !only.test(name) ? null : h.check(name, fn));
const { page } = await h.open('/tests/browser/app/index.html');
await page.waitForSelector('body[data-ready]');

for (const m of MODELS) {
  for (const backend of ['webgpu', 'cpu']) {
    await check(`${m.name} on ${backend}: every text's embedding within ${TOL} of llama.cpp's, in OpenAI's shape, usage counting llama.cpp's tokens`, async () => {
      const texts = m.ref.texts.map((t) => t.text);
      const r = await page.evaluate(async ({ url, backend, texts, context }) => {
        const engine = await tabllm.createEngine({ model: url, backend, context, cache: false });
        const progress = [];
        const out = await engine.embeddings.create({ input: texts, model: 'ignored', onProgress: (p) => progress.push(p.inputs_done) });
        const info = engine.info;
        await engine.unload();
        return { out, progress, backend: info.backend };
      }, { url: m.url, backend, texts, context: m.context });
      assert.equal(r.backend, backend);
      assert.equal(r.out.object, 'list');
      assert.equal(r.out.data.length, texts.length);
      assert.deepEqual(r.progress, texts.map((_, i) => i + 1));
      assert.equal(r.out.usage.prompt_tokens, m.ref.texts.reduce((s, t) => s + t.ids.length, 0), 'usage counts the tokens llama.cpp read');
      let worst = 0;
      for (const [i, d] of r.out.data.entries()) {
        assert.equal(d.object, 'embedding');
        assert.equal(d.index, i);
        const want = m.ref.texts[i].embedding_f32_activations;
        assert.equal(d.embedding.length, want.length);
        for (const [j, v] of d.embedding.entries()) {
          const diff = Math.abs(v - want[j]);
          assert.ok(diff <= TOL, `${JSON.stringify(texts[i]).slice(0, 40)} component ${j}: ${v} vs llama.cpp ${want[j]}`);
          worst = Math.max(worst, diff);
        }
      }
      console.log(`  ${m.name} ${backend}: max |component - llama.cpp| = ${worst.toExponential(2)} over ${texts.length} texts`);
    });
  }
}

const cosine = (a, b) => {
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
};
// SwiftShader's WebGPU takes about 2 s a text: it gets every 4th text, the
// Korean one (Hugging Face's ids) and the longest; the CPU backend all 50
// (tests/embed_real.rs runs all 50 on every native GPU kernel path).
const longest = REAL.ref.texts.reduce((a, t) => (t.ids.length > a.ids.length ? t : a));
const REAL_TEXTS = {
  webgpu: REAL.ref.texts.filter((t, i) => i % 4 === 0 || t.st_ids || t === longest),
  cpu: REAL.ref.texts,
};
for (const backend of ['webgpu', 'cpu']) {
  await check(`${REAL.name} on ${backend}: every text's embedding at cosine ≥ ${COSINE_MIN} with sentence-transformers, usage counting its tokens`, async () => {
    const refs = REAL_TEXTS[backend];
    const texts = refs.map((t) => t.text);
    const r = await page.evaluate(async ({ url, backend, texts }) => {
      const engine = await tabllm.createEngine({ model: url, backend, context: 512, cache: false });
      const t = performance.now();
      const out = await engine.embeddings.create({ input: texts });
      const ms = performance.now() - t;
      const info = engine.info;
      await engine.unload();
      return { out, ms, backend: info.backend };
    }, { url: REAL.url, backend, texts });
    assert.equal(r.backend, backend);
    assert.equal(r.out.data.length, texts.length);
    // Our WordPiece gives Hugging Face's ids (Hangul as jamo), where llama.cpp's differ: st_ids.
    const tokens = refs.reduce((s, t) => s + (t.st_ids ?? t.ids).length, 0);
    assert.equal(r.out.usage.prompt_tokens, tokens, 'usage counts sentence-transformers\' tokens');
    assert.equal(r.out.usage.total_tokens, tokens);
    let worst = { c: 1, text: '' };
    for (const [i, d] of r.out.data.entries()) {
      assert.equal(d.index, i);
      const want = refs[i].st;
      assert.equal(d.embedding.length, want.length);
      const c = cosine(d.embedding, want);
      assert.ok(c >= COSINE_MIN, `${JSON.stringify(texts[i]).slice(0, 60)}: cosine ${c} with sentence-transformers`);
      if (c < worst.c) worst = { c, text: texts[i] };
    }
    console.log(`  ${REAL.name} ${backend}: worst cosine with sentence-transformers ${worst.c.toFixed(7)} (${JSON.stringify(worst.text).slice(0, 40)}) over ${texts.length} texts, ${tokens} tokens in ${(r.ms / 1000).toFixed(1)} s`);
  });
}

await check('base64 is the float response\'s f32 bytes; dimensions truncates and normalizes again; an abort stops between inputs; bad requests are refused by name', async () => {
  const r = await page.evaluate(async (url) => {
    const engine = await tabllm.createEngine({ model: url, backend: 'cpu', context: 256, cache: false });
    const fail = (p) => p.then(() => 'accepted', (e) => `${e.code} ${e.details?.field ?? ''}: ${e.message}`);
    const float = (await engine.embeddings.create({ input: 'hello world' })).data[0].embedding;
    const b64 = (await engine.embeddings.create({ input: 'hello world', encoding_format: 'base64' })).data[0].embedding;
    const decoded = Array.from(new Float32Array(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer));
    const short = (await engine.embeddings.create({ input: 'hello world', dimensions: 16 })).data[0].embedding;
    const ac = new AbortController();
    let seen = 0;
    const many = Array.from({ length: 64 }, (_, i) => `text number ${i}: ${'a few words more '.repeat(8)}`);
    const aborted = await fail(engine.embeddings.create({ input: many, signal: ac.signal, onProgress: (p) => { seen = p.inputs_done; if (p.inputs_done === 1) ac.abort(); } }));
    const out = {
      float, decoded, short, aborted, seen,
      unknown: await fail(engine.embeddings.create({ input: 'x', normalize: false })),
      empty: await fail(engine.embeddings.create({ input: [] })),
      emptyText: await fail(engine.embeddings.create({ input: ['x', ''] })),
      ids: await fail(engine.embeddings.create({ input: [1, 2, 3] })),
      dimensions: await fail(engine.embeddings.create({ input: 'x', dimensions: 257 })),
      zero: await fail(engine.embeddings.create({ input: 'x', dimensions: 0 })),
      format: await fail(engine.embeddings.create({ input: 'x', encoding_format: 'int8' })),
      pooling: await fail(engine.embeddings.create({ input: 'x', pooling: 'max' })),
      // Not an AbortSignal: refused by name, and nothing left pending (unload below settles cleanly).
      signal: await fail(engine.embeddings.create({ input: 'x', signal: 5 })),
      chatSignal: await fail(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], signal: {} })),
      long: await fail(engine.embeddings.create({ input: 'word '.repeat(400) })),
      after: (await engine.embeddings.create({ input: 'hello world' })).data[0].embedding,
    };
    await engine.unload();
    // A chat model declares no pooling: refused, unless the request names one.
    const chat = await tabllm.createEngine({ model: '/models/tiny-llama-q4_0.gguf', backend: 'cpu', context: 64, cache: false });
    out.noPooling = await fail(chat.embeddings.create({ input: 'x' }));
    out.named = (await chat.embeddings.create({ input: 'x', pooling: 'mean' })).data[0].embedding.length;
    await chat.unload();
    return out;
  }, MODELS[0].url);
  assert.deepEqual(r.decoded, r.float, 'base64 decodes to the float response');
  assert.equal(r.short.length, 16);
  const norm = Math.hypot(...r.float.slice(0, 16));
  r.short.forEach((v, i) => assert.ok(Math.abs(v - r.float[i] / norm) < 1e-6, `component ${i}`));
  assert.match(r.aborted, /^aborted /);
  // The abort reaches the worker at its next turn between inputs: one or two more may finish, not the 64.
  assert.ok(r.seen >= 1 && r.seen < 8, `${r.seen} of 64 inputs ran before the abort took effect`);
  assert.match(r.unknown, /^invalid_request normalize: normalize is not supported by embeddings.create/);
  assert.match(r.empty, /^invalid_request input: /);
  assert.match(r.emptyText, /^invalid_request input\[1\]: input\[1\] is empty/);
  assert.match(r.ids, /^invalid_request input: input as token ids is not supported/);
  assert.match(r.dimensions, /^invalid_request dimensions: dimensions must be from 1 to the model's 256, got 257/);
  assert.match(r.zero, /^invalid_request dimensions: /);
  assert.match(r.format, /^invalid_request encoding_format: /);
  assert.match(r.signal, /^invalid_request signal: signal must be an AbortSignal/);
  assert.match(r.chatSignal, /^invalid_request signal: signal must be an AbortSignal/);
  assert.match(r.pooling, /^invalid_request pooling: /);
  assert.match(r.long, /^context_full /);
  assert.deepEqual(r.after, r.float, 'the engine works on after the refusals and the abort, and gives the same vector');
  assert.match(r.noPooling, /^invalid_request pooling: this model declares no pooling/);
  assert.equal(r.named, 256);
});

const failed = await h.done();
console.log(`embed.mjs ran in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exitCode = failed ? 1 : 0;
