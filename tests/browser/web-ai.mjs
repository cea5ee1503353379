// tabllm/web-ai in headless Chromium: the web's built-in AI APIs
// (LanguageModel, Summarizer) over tabllm, imported by name from the packed
// package as an app does. The checks run the examples of the WICG explainers
// (webmachinelearning/prompt-api README.md, webmachinelearning/writing-assistance-apis
// README.md), adapted only where they need a page (a textContent is a string
// here), plus what the specs say about refusals, abort, destroy, streaming and
// overflow. SmolLM2 from models/ (offline); one engine serves every session.
// Chromium has LanguageModel and Summarizer of its own (which cannot run
// here: no on-device model service), so the checks call the package's
// classes by the same names, as an app that imports them does.
// Usage: node tests/browser/web-ai.mjs   (after scripts/build-web.sh)
import assert from 'node:assert/strict';
import { start, installPackage } from './harness.mjs';

installPackage();
const SMOL = '/models/SmolLM2-135M-Instruct.Q4_1.gguf';
// A small context keeps the explainers' open-ended replies ("Write me an
// extra-long poem") short: a reply stops when the window is full. The
// Summarizer needs room for its instruction and 3 summaries of 64 tokens.
const CONTEXT = 160;
const SUMMARY_CONTEXT = 320;

const t0 = Date.now();
const h = await start();
const only = process.env.ONLY ? new RegExp(process.env.ONLY, 'i') : null;
const check = (name, fn) => (only && !only.test(name) ? null : h.check(name, fn));
const { page } = await h.open('/tests/browser/app/index.html');
await page.waitForSelector('body[data-ready]');
await page.evaluate(async () => {
  window.ai = await import('tabllm/web-ai');
});
/** A promise's outcome in the page, as a string: `value: …` or `Name: message`. */
await page.evaluate(() => {
  // Counts the engine's generations (the worker's `generate` requests): a
  // summary in stages makes several.
  window.generations = 0;
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, ...rest) {
    if (message?.op === 'generate') window.generations++;
    return post.call(this, message, ...rest);
  };
  window.outcome = (p) => Promise.resolve().then(() => p).then((v) => `value: ${typeof v === 'string' ? v : JSON.stringify(v)}`, (e) => `${e?.name}: ${e?.message}`);
});

await check('install() puts LanguageModel and Summarizer on globalThis only where the browser has none', async () => {
  const r = await page.evaluate(() => {
    const native = { LanguageModel: globalThis.LanguageModel, Summarizer: globalThis.Summarizer };
    // A browser that has its own Summarizer keeps it.
    const mine = { own: true };
    if (!native.Summarizer) globalThis.Summarizer = mine;
    const first = ai.install();
    const kept = globalThis.Summarizer === (native.Summarizer ?? mine);
    if (!native.Summarizer) delete globalThis.Summarizer;
    const second = ai.install();
    return {
      native: Object.keys(native).filter((k) => native[k]),
      first, second, kept,
      ours: globalThis.LanguageModel === (native.LanguageModel ?? ai.LanguageModel) && globalThis.Summarizer === (native.Summarizer ?? ai.Summarizer),
      construct: (() => { try { new ai.LanguageModel(); return 'constructed'; } catch (e) { return e.name; } })(),
    };
  });
  console.log(`the browser's own APIs: ${r.native.join(', ') || 'none'}`);
  assert.ok(r.kept, 'an existing Summarizer is not replaced');
  assert.deepEqual(r.first, ['LanguageModel', 'Summarizer'].filter((n) => !r.native.includes(n) && n !== 'Summarizer'));
  assert.deepEqual(r.second, r.native.includes('Summarizer') ? [] : ['Summarizer']);
  assert.ok(r.ours);
  assert.equal(r.construct, 'TypeError', 'only create() makes a session');
});

await check('without configure(): availability() is "unavailable", create() NotSupportedError', async () => {
  const r = await page.evaluate(async () => ({
    a: await ai.LanguageModel.availability(),
    c: await outcome(ai.LanguageModel.create()),
    s: await outcome(ai.Summarizer.create()),
    params: await ai.LanguageModel.params(),
  }));
  assert.equal(r.a, 'unavailable');
  assert.match(r.c, /^NotSupportedError: .*configure/);
  assert.match(r.s, /^NotSupportedError: .*configure/);
  assert.equal(r.params, null);
});

await check('availability: "downloadable" before the download, downloadprogress 0 … 1 (explainer "Download progress"), then "available"', async () => {
  const r = await page.evaluate(async ({ model, context }) => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    ai.configure({ model, context });
    const before = await LanguageModel.availability();
    const events = [];
    // The explainer's example, its events kept.
    const session = await LanguageModel.create({
      monitor(m) {
        m.addEventListener('downloadprogress', (e) => {
          console.log(`Downloaded ${e.loaded * 100}%`);
          events.push({ loaded: e.loaded, total: e.total, type: e.type, progress: e instanceof ProgressEvent });
        });
      },
    });
    window.keep = session; // holds the engine for the checks that follow
    return { before, events, after: await LanguageModel.availability(), summarizer: await Summarizer.availability(), window: session.contextWindow, usage: session.contextUsage };
  }, { model: SMOL, context: CONTEXT });
  assert.equal(r.before, 'downloadable');
  assert.equal(r.after, 'available');
  assert.equal(r.summarizer, 'available');
  assert.equal(r.events[0].loaded, 0);
  assert.equal(r.events.at(-1).loaded, 1);
  assert.ok(r.events.length > 2, `a download reports progress between 0 and 1: ${JSON.stringify(r.events)}`);
  assert.ok(r.events.every((e, i) => e.total === 1 && e.type === 'downloadprogress' && e.progress && (i === 0 || e.loaded > r.events[i - 1].loaded)), JSON.stringify(r.events));
  assert.equal(r.window, CONTEXT);
  assert.equal(r.usage, 0);
});

await check('a model in browser storage is "available" before any session loads it; an engine already loaded fires just 0 and 1', async () => {
  const r = await page.evaluate(async ({ model, context }) => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    // The same URL again, unloaded: found in browser storage.
    ai.configure({ model, context });
    const stored = await LanguageModel.availability();
    const events = [];
    const s = await LanguageModel.create({ monitor: (m) => { m.ondownloadprogress = (e) => events.push(e.loaded); } });
    const again = [];
    const s2 = await LanguageModel.create({ monitor: (m) => m.addEventListener('downloadprogress', (e) => again.push(e.loaded)) });
    window.keep.destroy();
    window.keep = s;
    s2.destroy();
    return { stored, events, again };
  }, { model: SMOL, context: CONTEXT });
  assert.equal(r.stored, 'available');
  assert.deepEqual(r.events, [0, 1]);
  assert.deepEqual(r.again, [0, 1]);
});

await check('configure() refuses what createEngine would, at once (TypeError by name, the configuration kept); the same configuration again keeps the loaded engine', async () => {
  const r = await page.evaluate(async ({ model, context }) => {
    const refused = (o) => { try { ai.configure(o); return 'accepted'; } catch (e) { return `${e.name}: ${e.message}`; } };
    const out = {
      unknown: refused({ model, context, contxt: 5 }),
      range: refused({ model, context: -1 }),
      backend: refused({ model, context, backend: 'tpu' }),
      endpoint: refused({ model: 'hf:owner/repo', hfEndpoint: 'ftp://example.com' }),
    };
    // Count the engines started (one worker each) by a configure() equal to the current one, then create().
    const W = window.Worker;
    let workers = 0;
    window.Worker = class extends W { constructor(...args) { super(...args); workers++; } };
    try {
      out.before = await ai.LanguageModel.availability();
      ai.configure({ model, context, languages: ['en'] });
      const s = await ai.LanguageModel.create();
      out.reply = await s.prompt('Hi', { signal: AbortSignal.timeout(60_000) }).then((t) => typeof t);
      s.destroy();
    } finally {
      window.Worker = W;
    }
    out.workers = workers;
    return out;
  }, { model: SMOL, context: CONTEXT });
  assert.match(r.unknown, /^TypeError: configure\(\): createEngine has no option contxt/);
  assert.match(r.range, /^TypeError: configure\(\): context must be/);
  assert.match(r.backend, /^TypeError: configure\(\): backend must be one of/);
  assert.match(r.endpoint, /^TypeError: configure\(\): hfEndpoint must be an absolute http\(s\) URL/);
  assert.equal(r.before, 'available', 'the refused calls left the loaded configuration in place');
  assert.equal(r.reply, 'string');
  assert.equal(r.workers, 0, 'an equal configuration reuses the engine: no new worker');
});

await check('explainer "Zero-shot prompting": prompt() answers; promptStreaming() is a ReadableStream of new text pieces whose join is the reply', async () => {
  const r = await page.evaluate(async () => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    const session = await LanguageModel.create();
    const result = await session.prompt('Write me a poem.');
    const stream = session.promptStreaming('Write me an extra-long poem.');
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    // Greedy, the same prompt both ways: the stream's pieces join to prompt()'s reply.
    const greedy = await LanguageModel.create({ samplingMode: 'most-predictable' });
    const a = await (await greedy.clone()).prompt('Name three colors.');
    const pieces = [];
    for await (const piece of (await greedy.clone()).promptStreaming('Name three colors.')) pieces.push(piece);
    return { result, isStream: stream instanceof ReadableStream, chunks, a, pieces, usage: session.contextUsage };
  });
  assert.ok(r.result.length > 0);
  assert.ok(r.isStream);
  assert.ok(r.chunks.length > 1 && r.chunks.every((c) => typeof c === 'string'));
  assert.ok(r.usage > 0, 'the turns are kept');
  assert.ok(r.pieces.length > 1);
  assert.equal(r.pieces.join(''), r.a, 'chunks are deltas, not the text so far');
});

await check('explainer "System prompts", "N-shot prompting" (clone) and "Customizing the role per prompt" run; a system message later is a TypeError', async () => {
  const r = await page.evaluate(async () => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    const out = {};
    const session1 = await LanguageModel.create({
      initialPrompts: [{ role: 'system', content: 'Pretend to be an eloquent hamster.' }],
    });
    out.one = await session1.prompt('What is your favorite food?');
    const session2 = await LanguageModel.create();
    await session2.append([{ role: 'system', content: 'Pretend to be an eloquent hamster.' }]);
    out.appendedUsage = session2.contextUsage;
    out.two = await session2.prompt('What is your favorite food?');
    const session3 = await LanguageModel.create();
    out.three = await session3.prompt([
      { role: 'system', content: 'Pretend to be an eloquent hamster.' },
      { role: 'user', content: 'What is your favorite food?' },
    ]);
    out.lateSystem = await outcome(session3.prompt([{ role: 'system', content: 'Now be a cat.' }]));

    const session = await LanguageModel.create({
      initialPrompts: [
        { role: 'system', content: 'Predict up to 5 emojis as a response to a comment. Output emojis, comma-separated.' },
        { role: 'user', content: 'This is amazing!' },
        { role: 'assistant', content: '❤️, ➕' },
        { role: 'user', content: 'LGTM' },
        { role: 'assistant', content: '👍, 🚢' },
      ],
    });
    out.initialUsage = session.contextUsage;
    async function predictEmoji(comment) {
      const freshSession = await session.clone();
      return await freshSession.prompt(comment);
    }
    out.result1 = await predictEmoji('Back to the drawing board');
    out.result2 = await predictEmoji('This code is so good you should get promoted');
    out.unchanged = session.contextUsage === out.initialUsage;

    const multiUserSession = await LanguageModel.create({
      initialPrompts: [{ role: 'system', content: 'You are a mediator in a discussion between two departments.' }],
    });
    out.mediator = await multiUserSession.prompt([
      { role: 'user', content: 'Marketing: We need more budget for advertising campaigns.' },
      { role: 'user', content: 'Finance: We need to cut costs and advertising is on the list.' },
      { role: 'assistant', content: "Let's explore a compromise that satisfies both departments." },
    ]);
    for (const s of [session1, session2, session3, session, multiUserSession]) s.destroy();
    return out;
  });
  for (const k of ['one', 'two', 'three', 'result1', 'result2', 'mediator']) assert.ok(typeof r[k] === 'string' && r[k].length > 0, `${k}: ${JSON.stringify(r[k])}`);
  assert.ok(r.appendedUsage > 0, 'append() counts its messages');
  assert.ok(r.initialUsage > 0);
  assert.ok(r.unchanged, 'prompting a clone leaves the original as it was');
  assert.match(r.lateSystem, /^TypeError: a system message must come first/);
});

await check('explainer "Structured output": responseConstraint (JSON schema) goes through constrained decoding; RegExp and bad constraints are refused', async () => {
  const r = await page.evaluate(async () => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    const session = await LanguageModel.create({ samplingMode: 'most-predictable' });
    const schema = {
      type: 'object',
      required: ['rating'],
      additionalProperties: false,
      properties: { rating: { type: 'number', minimum: 0, maximum: 5 } },
    };
    const result = await session.prompt('Summarize this feedback into a rating between 0-5: ' +
      'The food was delicious, service was excellent, will recommend.', { responseConstraint: schema });
    const { rating } = JSON.parse(result);
    // Explainer "Constraining responses by providing a prefix": the reply continues the prefix.
    const prefixed = await (await LanguageModel.create({ samplingMode: 'most-predictable' })).prompt([
      { role: 'user', content: 'What is the capital of France?' },
      { role: 'assistant', content: 'The capital of France is', prefix: true },
    ]);
    const omitted = await session.measureContextUsage('Rate it.', { responseConstraint: schema, omitResponseConstraintInput: true });
    const told = await session.measureContextUsage('Rate it.', { responseConstraint: schema });
    return {
      result, rating, omitted, told, prefixed,
      regexp: await outcome(session.prompt('Create a fictional email address.', { responseConstraint: /^[a-z]+@[a-z]+\.com$/ })),
      notSchema: await outcome(session.prompt('x', { responseConstraint: 'json' })),
      omitAlone: await outcome(session.prompt('x', { omitResponseConstraintInput: true })),
      keyword: await outcome(session.prompt('x', { responseConstraint: { type: 'array', uniqueItems: true } })),
    };
  });
  assert.deepEqual(Object.keys(JSON.parse(r.result)), ['rating']);
  assert.ok(typeof r.rating === 'number' && r.rating >= 0 && r.rating <= 5, r.result);
  assert.match(r.prefixed, /^\s*Paris/, 'a prefix is continued, not answered anew');
  assert.ok(r.told > r.omitted, `the schema told to the model counts (${r.told} > ${r.omitted})`);
  assert.match(r.regexp, /^NotSupportedError: responseConstraint: a RegExp is not supported/);
  assert.match(r.notSchema, /^TypeError: responseConstraint must be/);
  assert.match(r.omitAlone, /^TypeError: omitResponseConstraintInput needs a responseConstraint/);
  assert.match(r.keyword, /^NotSupportedError: .*uniqueItems/);
});

await check('options the model cannot honour: availability() "unavailable", create() NotSupportedError naming them; unknown options TypeError; bad values as the spec says', async () => {
  const r = await page.evaluate(async () => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    // The explainer's "Testing available options before creation" example: audio is unavailable here.
    const options = { expectedInputs: [{ type: 'text', languages: ['en', 'es'] }, { type: 'audio', languages: ['en', 'es'] }] };
    const tool = { name: 'getWeather', description: 'Get the weather in a location.', inputSchema: { type: 'object' }, execute: async () => '{}' };
    return {
      audio: await LanguageModel.availability(options),
      audioCreate: await outcome(LanguageModel.create(options)),
      japanese: await LanguageModel.availability({ expectedInputs: [{ type: 'text', languages: ['ja'] }] }),
      englishUS: await LanguageModel.availability({ expectedInputs: [{ type: 'text', languages: ['en-US'] }], expectedOutputs: [{ type: 'text', languages: ['en'] }] }),
      japaneseOut: await outcome(LanguageModel.create({ expectedOutputs: [{ type: 'text', languages: ['ja'] }] })),
      tools: await outcome(LanguageModel.create({ tools: [tool] })),
      unknown: await outcome(LanguageModel.create({ topP: 0.9 })),
      both: await outcome(LanguageModel.create({ samplingMode: 'creative', temperature: 1 })),
      negative: await outcome(LanguageModel.create({ temperature: -1 })),
      topK0: await outcome(LanguageModel.create({ topK: 0 })),
      badTag: await outcome(LanguageModel.availability({ expectedInputs: [{ type: 'text', languages: ['not a tag'] }] })),
      clamped: await LanguageModel.create({ temperature: Infinity, topK: 1e9 + 0.5 }).then((s) => (s.destroy(), [s.temperature, s.topK, s.samplingMode])),
      image: await LanguageModel.create().then((s) => outcome(s.prompt([{ role: 'user', content: [{ type: 'text', value: 'Describe:' }, { type: 'image', value: new Blob() }] }])).finally(() => s.destroy())),
      prefixNotLast: await LanguageModel.create().then((s) => outcome(s.prompt([{ role: 'assistant', content: 'x', prefix: true }, { role: 'user', content: 'y' }])).finally(() => s.destroy())),
      promptUnknown: await LanguageModel.create().then((s) => outcome(s.prompt('x', { maxTokens: 5 })).finally(() => s.destroy())),
      summarizerPreference: await Summarizer.availability({ preference: 'speed' }),
      summarizerLanguage: await outcome(Summarizer.create({ outputLanguage: 'zh' })),
      summarizerType: await outcome(Summarizer.create({ type: 'essay' })),
      // WebIDL: a null dictionary is an empty one; a missing required string, a string for a sequence and a null object are TypeErrors.
      nullOptions: await LanguageModel.create(null).then((s) => (s.destroy(), 'created')),
      initialString: await outcome(LanguageModel.create({ initialPrompts: 'hello' })),
      nullConstraint: await LanguageModel.create().then((s) => outcome(s.prompt('x', { responseConstraint: null })).finally(() => s.destroy())),
    };
  });
  assert.equal(r.audio, 'unavailable');
  assert.match(r.audioCreate, /^NotSupportedError: .*expectedInputs language "es"/, "the first option it cannot honour");
  assert.equal(r.japanese, 'unavailable');
  assert.equal(r.englishUS, 'available', 'en-US best-fits the configured en');
  assert.match(r.japaneseOut, /^NotSupportedError: .*expectedOutputs language "ja"/);
  assert.match(r.tools, /^NotSupportedError: .*tools/);
  assert.match(r.unknown, /^TypeError: .*no option topP/);
  assert.match(r.both, /^TypeError: .*samplingMode or temperature/);
  assert.match(r.negative, /^RangeError: temperature/);
  assert.match(r.topK0, /^RangeError: topK/);
  assert.match(r.badTag, /^RangeError: /);
  assert.deepEqual(r.clamped, [2, 128, null], 'above the maximums: clamped (params())');
  assert.match(r.image, /^NotSupportedError: .*image input is not supported/);
  assert.match(r.prefixNotLast, /^SyntaxError: /);
  assert.match(r.promptUnknown, /^TypeError: .*no option maxTokens/);
  assert.equal(r.summarizerPreference, 'unavailable');
  assert.match(r.summarizerLanguage, /^NotSupportedError: .*outputLanguage "zh"/);
  assert.match(r.summarizerType, /^TypeError: type must be one of/);
  assert.equal(r.nullOptions, 'created');
  assert.match(r.initialString, /^TypeError: initialPrompts must be an array/);
  assert.match(r.nullConstraint, /^TypeError: responseConstraint .*not null/);
});

await check('abort: an aborted prompt rejects with the signal\'s reason and leaves the session as it was; a canceled stream stops', async () => {
  const r = await page.evaluate(async () => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    const session = await LanguageModel.create();
    await session.append('Remember the number 7.');
    const usage = session.contextUsage;
    const measured = await session.measureContextUsage('Say OK.');
    const controller = new AbortController();
    const p = session.prompt('Write me a long story about a dragon.', { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const aborted = await outcome(p);
    const reason = new Error('mine');
    const c2 = new AbortController();
    c2.abort(reason);
    const before = await session.prompt('x', { signal: c2.signal }).then(() => 'answered', (e) => e === reason);
    const afterUsage = session.contextUsage;
    const afterMeasured = await session.measureContextUsage('Say OK.');
    // A stream canceled after its first piece: the session takes a next prompt at once.
    const reader = session.promptStreaming('Write me a long story about a cat.').getReader();
    await reader.read();
    await reader.cancel();
    const next = await session.prompt('Say OK.');
    session.destroy();
    return { aborted, before, usage, afterUsage, measured, afterMeasured, next };
  });
  assert.match(r.aborted, /^AbortError: /);
  assert.equal(r.before, true, 'an already-aborted signal rejects with its own reason');
  assert.equal(r.afterUsage, r.usage, 'the aborted prompt and its partial reply are not kept');
  assert.equal(r.afterMeasured, r.measured, 'the conversation a next prompt follows is as before');
  assert.ok(r.next.length > 0);
});

await check('destroy(): a prompt in flight and later calls reject with AbortError; create({ signal }) aborted destroys the session', async () => {
  const r = await page.evaluate(async () => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    const session = await LanguageModel.create();
    const p = session.prompt('Write me a long story about a dragon.');
    const stream = session.promptStreaming('Write me another.');
    setTimeout(() => session.destroy(), 300);
    const inFlight = await outcome(p);
    const streamed = await outcome((async () => { for await (const _ of stream); })());
    const controller = new AbortController();
    const s2 = await LanguageModel.create({ signal: controller.signal });
    controller.abort();
    return {
      inFlight, streamed,
      later: await outcome(session.prompt('x')),
      laterAppend: await outcome(session.append('x')),
      laterClone: await outcome(session.clone()),
      laterMeasure: await outcome(session.measureContextUsage('x')),
      laterStream: (() => { try { session.promptStreaming('x'); return 'no throw'; } catch (e) { return e.name; } })(),
      signalDestroyed: await outcome(s2.prompt('x')),
      abortedCreate: await outcome(LanguageModel.create({ signal: AbortSignal.abort() })),
    };
  });
  assert.match(r.inFlight, /^AbortError: /);
  assert.match(r.streamed, /^AbortError: /);
  for (const k of ['later', 'laterAppend', 'laterClone', 'laterMeasure', 'signalDestroyed', 'abortedCreate']) assert.match(r[k], /^AbortError: /, k);
  assert.equal(r.laterStream, 'AbortError');
});

await check('context: measureContextUsage counts tokens; past the window the oldest turns go and contextoverflow fires; what cannot fit is QuotaExceededError', async () => {
  const r = await page.evaluate(async () => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    const session = await LanguageModel.create({ initialPrompts: [{ role: 'system', content: 'You are terse.' }] });
    const initial = session.contextUsage;
    // About half the window per append: the second cannot fit beside the first.
    const sentence = 'The quick brown fox jumps over the lazy dog. ';
    const per = (await session.measureContextUsage(sentence.repeat(10))) / 10;
    const fill = sentence.repeat(Math.round((0.5 * session.contextWindow) / per));
    const one = await session.measureContextUsage(fill);
    let overflows = 0;
    session.addEventListener('contextoverflow', () => overflows++);
    let handler = 0;
    session.oncontextoverflow = () => handler++;
    await session.append(fill);
    const afterOne = session.contextUsage;
    await session.append(fill);
    const afterTwo = session.contextUsage;
    const huge = 'word '.repeat(2000);
    const usageBefore = session.contextUsage;
    const quota = await session.prompt(huge).then(() => null, (e) => ({ name: e.name, requested: e.requested, quota: e.quota, dom: e instanceof DOMException }));
    const measured = await session.measureContextUsage(huge);
    session.destroy();
    return { initial, one, afterOne, afterTwo, overflows, handler, quota, usageBefore, usageAfter: session.contextUsage, measured, window: session.contextWindow, inputQuota: session.inputQuota };
  });
  assert.ok(r.initial > 0);
  assert.ok(r.one > 0.4 * r.window && r.one < 0.6 * r.window, `half a window of text measures ${r.one} of ${r.window}`);
  assert.ok(Math.abs(r.afterOne - (r.initial + r.one)) <= 4, `usage after append ${r.afterOne} ≈ ${r.initial} + ${r.one}`);
  assert.equal(r.overflows, 1, 'the second append overflows once');
  assert.equal(r.handler, 1, 'oncontextoverflow hears it too');
  assert.ok(r.afterTwo < r.initial + 2 * r.one && r.afterTwo >= r.afterOne - 4, `the first append was dropped: ${r.afterTwo}`);
  assert.equal(r.quota.name, 'QuotaExceededError');
  assert.ok(r.quota.dom, 'a DOMException');
  assert.equal(r.quota.quota, r.window);
  assert.ok(r.quota.requested > r.window && r.measured > r.window, JSON.stringify(r.quota));
  assert.equal(r.usageAfter, r.usageBefore, 'nothing dropped when the input cannot fit');
  assert.equal(r.inputQuota, r.window, 'inputQuota: the deprecated name of contextWindow');
});

await check('Summarizer: the explainer\'s examples; summarizeStreaming streams; long input is summarized in stages; measureInputUsage / inputQuota', async () => {
  const article = 'Stock markets in Asia rose on Wednesday after central banks signalled that interest rates would stay low. ' +
    'Shares in Tokyo gained 2 percent, led by exporters, while Hong Kong rose 1 percent. Oil prices were steady. ';
  const r = await page.evaluate(async ({ article, model, context }) => {
    const { LanguageModel, Summarizer } = ai; // this package's, whatever the browser has
    ai.configure({ model, context });
    const out = {};
    const summarizer = await Summarizer.create({
      sharedContext: 'An article from the Daily Economic News magazine',
      type: 'headline',
      length: 'short',
      preference: 'auto',
    });
    out.headline = await summarizer.summarize(article, {
      context: "This article was written 2024-08-07 and it's in the World Markets section.",
    });
    out.attrs = [summarizer.type, summarizer.format, summarizer.length, summarizer.sharedContext, summarizer.expectedInputLanguages, summarizer.outputLanguage];
    out.empty = await summarizer.summarize('   ');
    // WebIDL: the text is a required argument (it would otherwise summarize "undefined").
    out.noText = await summarizer.summarize().then(() => 'summarized', (e) => `${e.name}: ${e.message}`);

    const tldr = await Summarizer.create({ type: 'tldr' });
    out.reviews = await Promise.all(['Great phone, the battery lasts two days.', 'The screen cracked in a week. Poor build.'].map((review) => tldr.summarize(review)));
    const pieces = [];
    for await (const piece of tldr.summarizeStreaming(article)) pieces.push(piece);
    out.pieces = pieces;

    // "potentiallyLargeInput": longer than the context, so summarized in stages.
    const long = (article + '\n\n').repeat(8);
    out.usage = await tldr.measureInputUsage(long);
    out.quota = tldr.inputQuota;
    const before = window.generations;
    out.long = await tldr.summarize(long);
    out.longGenerations = window.generations - before;
    const tooLarge = 'word '.repeat(tldr.inputQuota + 10);
    try {
      await tldr.summarize(tooLarge);
      out.large = 'answered';
    } catch (e) {
      out.large = { name: e.name, requested: e.requested, quota: e.quota };
    }
    const controller = new AbortController();
    const p = tldr.summarize(long, { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    out.aborted = await outcome(p);
    tldr.destroy();
    out.destroyed = await outcome(tldr.summarize(article));
    const tooMuchContext = await outcome(Summarizer.create({ sharedContext: 'context '.repeat(600) }));
    out.tooMuchContext = tooMuchContext;
    summarizer.destroy();
    return out;
  }, { article, model: SMOL, context: SUMMARY_CONTEXT });
  assert.match(r.noText, /^TypeError: summarize\(\) needs the text/);
  assert.ok(r.headline.length > 0 && r.headline.length < 400, r.headline);
  assert.deepEqual(r.attrs, ['headline', 'markdown', 'short', 'An article from the Daily Economic News magazine', null, null]);
  assert.equal(r.empty, '', 'nothing to summarize: an empty summary');
  assert.ok(r.reviews.every((s) => s.length > 0));
  assert.ok(r.pieces.length > 1 && r.pieces.join('').trim().length > 0);
  assert.ok(r.usage > SUMMARY_CONTEXT && r.usage < r.quota, `a long input (${r.usage} tokens) fits the quota (${r.quota}) though not the context`);
  assert.ok(r.long.length > 0);
  assert.ok(r.longGenerations >= 3, `in stages: a summary per chunk, then one of those (${r.longGenerations} generations)`);
  assert.equal(r.large.name, 'QuotaExceededError');
  assert.ok(r.large.requested > r.large.quota && r.large.quota === r.quota, JSON.stringify(r.large));
  assert.match(r.aborted, /^AbortError: /);
  assert.match(r.destroyed, /^AbortError: /);
  assert.match(r.tooMuchContext, /^QuotaExceededError: the instruction and contexts take \d+ tokens, .*configure\(\) a context of at least \d+/);
});

await page.evaluate(() => window.keep?.destroy());
const failed = await h.done();
console.log(`web-ai.mjs ran in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exitCode = failed ? 1 : 0;
