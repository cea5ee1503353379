// The page and the package in Firefox (ESR, headless, WebDriver BiDi) and
// WebKit (WebKitGTK's MiniBrowser through WebKitWebDriver under xvfb-run):
// the engines that Chromium's tests do not cover. Neither has WebGPU here, so
// each must take the CPU backend and say why, in engine.info and in the page's
// footer. Per engine: the chat page loads the default model (SmolLM2) and
// answers one message greedily with llama.cpp's f32-activation ids, the ids
// Chromium's CPU backend gives in page.mjs; then the packed package, in the
// same origin, loads SmolLM2 again from browser storage (OPFS; where the
// engine has none, it downloads it again and says why) and streams a
// chat completion. Firefox gets the page cross-origin isolated
// (scripts/serve.mjs's COOP/COEP), so its CPU backend runs on threads; WebKit
// gets it unisolated for now (see ENGINES). Prints each engine's backend,
// load time and decode tok/s.
// Usage: node tests/browser/engines.mjs   (after scripts/build-web.sh and
// `npm ci` in www/ and tests/browser/). ENGINES=firefox (or webkit) runs one.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createHandler } from '../../scripts/serve.mjs';
import { installPackage, readJson, shared } from './harness.mjs';
import { launchFirefox } from './drivers/firefox.mjs';
import { launchWebKit } from './drivers/webkit.mjs';

// What each engine is expected to run on, and why (pkg/worker.js chooseBackend
// gives the reason); and whether it keeps a download in browser storage (OPFS)
// or, where it cannot, the reason the package gives (info.cache_error, shown in
// the page's status). Measured on Debian 12: Firefox ESR 153 and WebKitGTK 2.50
// expose no navigator.gpu; WebKitGTK has no navigator.storage.getDirectory.
const NO_OPFS = 'this browser has no file storage for pages (navigator.storage.getDirectory is missing): the model was loaded without keeping a copy';
// `isolated`: served with scripts/serve.mjs's COOP/COEP. WebKitGTK 2.50.6
// honours them (crossOriginIsolated is true) but never starts the CPU
// threads' nested worker on a shared memory: the pool gives up after 5 s
// (pkg/cpu-threads.js) and the default runs on one thread, which these
// checks then exercise (page loads there take ~6 s for it).
const ENGINES = {
  firefox: { launch: launchFirefox, backend: 'cpu', reason: 'this browser has no WebGPU', notKept: null, isolated: true },
  webkit: { launch: launchWebKit, backend: 'cpu', reason: 'this browser has no WebGPU', notKept: NO_OPFS, isolated: true },
};
const FOOTER = { cpu: 'Runs on your CPU; nothing you type leaves this tab.', webgpu: 'Runs on your GPU; nothing you type leaves this tab.' };
const STATUS_WHERE = { cpu: 'on the CPU', webgpu: 'on the GPU' };
const SMOL = '/models/SmolLM2-135M-Instruct.Q4_1.gguf';
const MAX_TOKENS = 24;
const PACKAGE_MAX_TOKENS = 8;
const LOAD_TIMEOUT = 300_000;
const reference = readJson(join(shared, 'smollm2-135m-instruct-q4_1.json')).chat[0];

installPackage();
const server = createServer(createHandler());
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const plainServer = createServer(createHandler({ isolated: false }));
await new Promise((resolve) => plainServer.listen(0, '127.0.0.1', resolve));
const origins = { true: `http://127.0.0.1:${server.address().port}`, false: `http://127.0.0.1:${plainServer.address().port}` };

let passed = 0;
let failed = 0;
async function check(name, fn) {
  const t = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok - ${name} (${((Date.now() - t) / 1000).toFixed(0)} s)`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e.stack ?? e}`);
  }
}

/** Polls `fn` in the tab until it returns a truthy value; returns that value. */
async function waitFor(b, fn, arg, timeout, what) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await b.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
const settled = (states) => (b, timeout, what) => waitFor(b, (s) => s.includes(document.body.dataset.state) && document.body.dataset.state, states, timeout, what);
const pageIdle = settled(['ready', 'error']);

/** The page's and the package's checks in one engine; returns the numbers the summary prints. */
async function run(b, expected) {
  const row = { engine: `${b.name} ${b.version}` };
  const origin = origins[expected.isolated];

  await check(`${b.name}: the page loads SmolLM2 on the ${expected.backend} (${expected.reason}) and its footer says so`, async () => {
    await b.goto(`${origin}/www/index.html?temperature=0&max_tokens=${MAX_TOKENS}`);
    const state = await pageIdle(b, LOAD_TIMEOUT, 'the page to load SmolLM2');
    const p = await b.evaluate(() => {
      const info = window.tabllmPage.engine?.info;
      return {
        state: document.body.dataset.state,
        error: document.getElementById('error-text')?.textContent,
        status: document.getElementById('status').textContent,
        footer: document.getElementById('runs-on').textContent,
        info: info && { backend: info.backend, backend_reason: info.backend_reason, load_seconds: info.load_seconds, from_cache: info.from_cache, cache_error: info.cache_error },
        // What the engine has of what the package may fall back from.
        has: { webgpu: 'gpu' in navigator, crossOriginIsolated: globalThis.crossOriginIsolated === true, webLocks: 'locks' in navigator, opfs: typeof navigator.storage?.getDirectory === 'function' },
      };
    });
    assert.equal(state, 'ready', `page state ${p.state}: ${p.error}`);
    row.has = p.has;
    row.backend = `${p.info.backend} (${p.info.backend_reason})`;
    row.load_s = p.info.load_seconds;
    console.log(`  ${p.status}\n  engine has: ${JSON.stringify(p.has)}`);
    assert.equal(p.info.backend, expected.backend);
    assert.equal(p.info.backend_reason, expected.reason);
    if (expected.reason === 'this browser has no WebGPU') assert.equal(p.has.webgpu, false, 'the reason says no WebGPU, but navigator.gpu is there');
    assert.equal(p.footer, FOOTER[expected.backend]);
    // scripts/serve.mjs's COOP/COEP work in this engine too (require-corp: WebKit has no `credentialless`).
    assert.equal(p.has.crossOriginIsolated, expected.isolated, `crossOriginIsolated is ${p.has.crossOriginIsolated}`);
    assert.ok(p.status.includes(`, ${STATUS_WHERE[expected.backend]} (${expected.reason}).`), p.status);
    // A fresh profile: downloaded, and kept in browser storage (the package
    // check below loads it from there) or the status says why not.
    assert.match(p.status, /^Ready: .*downloaded 98\.4 MB in [\d.]+ s\./);
    assert.equal(p.info.from_cache, false);
    assert.equal(p.info.cache_error, expected.notKept);
    if (expected.notKept) assert.ok(p.status.includes(` Browser storage: ${expected.notKept}.`), p.status);
  });

  await check(`${b.name}: the page answers a chat message greedily with the ids of Chromium's CPU backend (llama.cpp, f32 activations)`, async () => {
    await b.evaluate((text) => {
      document.getElementById('input').value = text;
      document.getElementById('send').click();
    }, reference.messages[0].content);
    await waitFor(b, () => document.body.dataset.state === 'ready' && window.lastResult, null, 120_000, 'the reply');
    const r = await b.evaluate(() => ({
      result: window.lastResult,
      shown: document.querySelector('#log .msg.assistant .md')?.textContent,
      meta: document.querySelector('#log .msg.assistant .meta')?.textContent,
    }));
    row.decode_tok_s = r.result.timings.decode_tok_s;
    console.log(`  "${r.shown}" — ${r.meta}`);
    assert.deepEqual(r.result.timings.prompt_ids, reference.prompt_ids);
    assert.deepEqual(r.result.timings.completion_ids, reference.greedy_ids_f32_activations.slice(0, MAX_TOKENS));
    assert.equal(r.result.choices[0].finish_reason, 'length');
    assert.ok(r.shown.startsWith('The tallest mountain on Earth is Mount Everest'), r.shown);
    assert.match(r.meta, new RegExp(`^${MAX_TOKENS} tokens, [\\d.]+ tok/s`));
  });

  const from = expected.notKept ? 'downloads SmolLM2 again (no browser storage)' : 'loads SmolLM2 from browser storage';
  await check(`${b.name}: the package (packed, imported by name) ${from} on the ${expected.backend} and streams a chat completion`, async () => {
    await b.goto(`${origin}/tests/browser/app/index.html`);
    await waitFor(b, () => document.body.dataset.ready === '1', null, 30_000, 'the test app');
    const r = await b.evaluate(async ({ model, messages, max_tokens }) => {
      // backend 'auto', the default: the engine decides.
      const engine = await window.tabllm.createEngine({ model, context: 512 });
      const chunks = [];
      for await (const c of await engine.chat.completions.create({ messages, temperature: 0, max_tokens, stream: true })) chunks.push(c);
      const { backend, backend_reason, from_cache, cache_error, load_seconds } = engine.info;
      await engine.unload();
      return { info: { backend, backend_reason, from_cache, cache_error, load_seconds }, chunks };
    }, { model: SMOL, messages: reference.messages, max_tokens: PACKAGE_MAX_TOKENS });
    row.package_load_s = r.info.load_seconds;
    const text = r.chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const last = r.chunks.at(-1).choices[0];
    console.log(`  ${r.chunks.length} chunks: "${text}"; loaded in ${r.info.load_seconds.toFixed(1)} s, ${r.info.from_cache ? 'from browser storage' : 'downloaded'}`);
    assert.equal(r.info.backend, expected.backend);
    assert.equal(r.info.backend_reason, expected.reason);
    assert.equal(r.info.cache_error, expected.notKept);
    assert.equal(r.info.from_cache, !expected.notKept);
    assert.ok(r.chunks.every((c) => c.object === 'chat.completion.chunk'));
    assert.ok(r.chunks.length > 3, `not streamed: ${r.chunks.length} chunks`);
    assert.equal(last.finish_reason, 'length');
    assert.deepEqual(r.chunks.at(-1).timings.completion_ids, reference.greedy_ids_f32_activations.slice(0, PACKAGE_MAX_TOKENS));
    assert.ok(reference.greedy_text_f32_activations.startsWith(text) && text.length > 10, text);
  });

  await check(`${b.name}: the web's AI API (tabllm/web-ai) runs the Prompt API explainer's zero-shot example, prompt() and promptStreaming() alike`, async () => {
    const r = await b.evaluate(async ({ model }) => {
      const { LanguageModel, configure } = await import('tabllm/web-ai');
      // A small window keeps the explainer's open-ended reply short on a slow CPU.
      configure({ model, context: 160 });
      const availability = await LanguageModel.availability();
      const session = await LanguageModel.create();
      const result = await session.prompt('Write me a poem.');
      // Greedy, the same prompt both ways: the stream's pieces join to prompt()'s reply.
      const greedy = await LanguageModel.create({ samplingMode: 'most-predictable' });
      const a = await (await greedy.clone()).prompt('Name three colors.');
      const pieces = [];
      for await (const piece of (await greedy.clone()).promptStreaming('Name three colors.')) pieces.push(piece);
      session.destroy();
      greedy.destroy();
      return { availability, result, a, pieces };
    }, { model: SMOL });
    console.log(`  availability ${r.availability}; "Write me a poem." -> ${JSON.stringify(r.result.slice(0, 60))}…; "Name three colors." -> ${JSON.stringify(r.a.slice(0, 60))}`);
    // OPFS keeps the model where the engine has it: "available"; WebKit has none: "downloadable".
    assert.equal(r.availability, expected.notKept ? 'downloadable' : 'available');
    assert.ok(r.result.trim().length > 0, 'a poem');
    assert.ok(r.pieces.length > 1, `streamed in ${r.pieces.length} pieces`);
    assert.equal(r.pieces.join(''), r.a);
  });
  return row;
}

const rows = [];
try {
  const chosen = (process.env.ENGINES ?? Object.keys(ENGINES).join(',')).split(',');
  for (const name of chosen) {
    const expected = ENGINES[name];
    if (!expected) throw new Error(`ENGINES: no engine named ${name} (known: ${Object.keys(ENGINES).join(', ')})`);
    const t = Date.now();
    let b = null;
    await check(`${name}: starts`, async () => {
      b = await expected.launch();
    });
    if (!b) continue;
    try {
      rows.push({ ...(await run(b, expected)), seconds: (Date.now() - t) / 1000 });
    } finally {
      await b.close();
    }
  }
} finally {
  for (const s of [server, plainServer]) {
    s.closeAllConnections();
    s.close();
  }
}
for (const r of rows) {
  const n = (v, d = 1) => (typeof v === 'number' ? v.toFixed(d) : '?');
  console.log(`${r.engine}: backend ${r.backend ?? '?'}; page load ${n(r.load_s)} s, decode ${n(r.decode_tok_s)} tok/s; ` +
    `package load ${n(r.package_load_s)} s; ${n(r.seconds, 0)} s in all; has ${JSON.stringify(r.has ?? {})}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
