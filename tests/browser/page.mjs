// Headless Chromium tests of the page (www/index.html) through the package
// (pkg/tabllm.js), on SwiftShader WebGPU: SmolLM2 loads with a progress bar
// that reaches 100% and answers greedily like llama.cpp; Stop ends a reply
// mid-stream; a reload comes from browser storage; a local .gguf loads
// through the file input; a text over 3× the context is summarized in stages
// with every request inside the context; model output is rendered as
// sanitized markdown; errors offer their way out; the status after a load
// gives browser storage's notice (a cached copy whose server answers 404)
// and counts a resumed download's bytes once; a 390×844 screen has no
// horizontal scroll.
// Usage: node tests/browser/page.mjs   (after scripts/build-web.sh and
// `npm ci` in www/ and tests/browser/). SCREENSHOT_DIR=dir saves PNGs of the
// chat answer (light, dark, phone) there. ONLY=regex runs the checks whose
// names match (the SmolLM2 ones, which take minutes, only if it matches "SmolLM2").
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJson, repo, shared, start } from './harness.mjs';

const SMOLLM2 = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const TINY = 'tiny-llama-q4_0.gguf';
mkdirSync(join(repo, 'models'), { recursive: true });
if (!existsSync(join(repo, 'models', TINY))) copyFileSync(join(shared, 'tiny', TINY), join(repo, 'models', TINY));
const screenshots = process.env.SCREENSHOT_DIR;
if (screenshots) mkdirSync(screenshots, { recursive: true });

const h = await start();
const LOAD_TIMEOUT = 300_000;
const only = process.env.ONLY ? new RegExp(process.env.ONLY, 'i') : null;
const check = (name, fn) => (only && !only.test(name) ? null : h.check(name, fn));

/** A page in a fresh context that records every value of #bar and every text
 * of #status and #sum-progress from the first byte on. */
async function open(path, contextOptions = {}) {
  const context = await h.browser.newContext({ userAgent: 'tabllm-test', ...contextOptions });
  await context.addInitScript(() => {
    window.seen = { bar: [], status: [], sum: [] };
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        if (el?.id === 'bar' && r.attributeName === 'value') window.seen.bar.push(el.hasAttribute('value') ? el.value : null);
        const status = el?.closest?.('#status');
        if (status && r.type !== 'attributes') window.seen.status.push(status.textContent);
        const sum = el?.closest?.('#sum-progress');
        if (sum && r.type !== 'attributes') window.seen.sum.push(sum.textContent);
      }
    }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['value'] });
  });
  const page = await context.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(h.origin + path);
  return { context, page };
}
const state = (page) => page.evaluate(() => document.body.dataset.state);
const waitState = (page, s, timeout = LOAD_TIMEOUT) => page.waitForSelector(`body[data-state="${s}"]`, { timeout });
async function waitReady(page, timeout = LOAD_TIMEOUT) {
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout });
  if ((await state(page)) === 'error') throw new Error(`page error: ${await page.textContent('#error-text')}`);
}
async function send(page, text) {
  await page.fill('#input', text);
  await page.click('#send');
  await waitState(page, 'generating', 10_000).catch(() => {});
}
const noHorizontalScroll = (page) => page.evaluate(() => ({
  scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
  body: document.body.scrollWidth,
}));

// ---- SmolLM2, the default model ---------------------------------------------

async function smollm2() {
  const smol = readJson(join(shared, 'smollm2-135m-instruct-q4_1.json'));
  const reference = smol.chat[0];
  const { context: smolContext, page } = await open('/www/index.html?temperature=0&max_tokens=24', { viewport: { width: 1000, height: 760 } });

  await h.check('the default model (SmolLM2) loads with a progress bar that reaches 100%', async () => {
    const t = Date.now();
    await waitReady(page);
    const seen = await page.evaluate(() => window.seen);
    const values = seen.bar.filter((v) => v !== null);
    console.log(`  loaded in ${((Date.now() - t) / 1000).toFixed(0)} s; ${values.length} bar values; status: ${await page.textContent('#status')}`);
    assert.ok(values.some((v) => v > 0 && v < 1), `no value between 0 and 1: ${values}`);
    assert.equal(values.at(-1), 1);
    for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1], `bar went back: ${values.slice(i - 1, i + 1)}`);
    assert.ok(seen.status.some((s) => /^Downloading \d+% — [\d.]+ of 98\.4 MB, [\d.]+ MB\/s/.test(s)), `no download line in ${seen.status.slice(0, 5)}`);
    assert.match(await page.textContent('#model-name'), new RegExp(SMOLLM2.replaceAll('.', '\\.')));
    assert.match(await page.textContent('#status'), /^Ready: .*downloaded 98\.4 MB/);
  });

  await check('SmolLM2 answers a chat message greedily, streamed, with tok/s from timings', async () => {
    // Every text the reply shows on its way, recorded in the page (polling
    // from here misses them on a fast backend: 24 tokens can take half a second).
    await page.evaluate(() => {
      window.replyTexts = [];
      new MutationObserver(() => {
        const t = document.querySelector('#log .msg.assistant .md')?.textContent;
        if (t && window.replyTexts.at(-1) !== t) window.replyTexts.push(t);
      }).observe(document.getElementById('log'), { subtree: true, childList: true, characterData: true });
    });
    await send(page, reference.messages[0].content);
    while ((await state(page)) === 'generating') await page.waitForTimeout(100);
    await waitReady(page, 10_000);
    const texts = new Set(await page.evaluate(() => window.replyTexts));
    const r = await page.evaluate(() => window.lastResult);
    console.log(`  "${r.choices[0].message.content}" — ${await page.textContent('#log .msg.assistant .meta')}`);
    assert.ok(texts.size > 3, `the reply did not stream: ${[...texts]}`);
    assert.deepEqual(r.timings.prompt_ids, reference.prompt_ids);
    assert.deepEqual(r.timings.completion_ids, reference.greedy_ids_f32_activations.slice(0, 24));
    assert.equal(r.usage.completion_tokens, 24);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.ok(r.timings.decode_tok_s > 0);
    assert.match(await page.textContent('#log .msg.assistant .meta'), /^24 tokens, [\d.]+ tok\/s/);
    assert.match(await page.textContent('#log'), /Assistant: The tallest mountain/);
    if (screenshots) {
      await page.screenshot({ path: join(screenshots, 'chat-light.png') });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: join(screenshots, 'chat-dark.png') });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: join(screenshots, 'chat-phone-dark.png') });
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 1000, height: 760 });
      console.log(`  screenshots in ${screenshots}`);
    }
  });

  await check('Stop ends a SmolLM2 reply mid-stream and keeps what came', async () => {
    await page.click('#new-chat');
    await page.click('#settings summary');
    await page.fill('#settings-form [name=max_tokens]', '200');
    await page.click('#settings summary');
    await send(page, 'Write a long story about a dragon who learns to paint.');
    await page.waitForFunction(() => (document.querySelector('#log .msg.assistant .md')?.textContent.split(/\s+/).length ?? 0) >= 4, null, { timeout: 120_000 });
    await page.click('#stop');
    await waitReady(page, 15_000);
    const text = await page.textContent('#log .msg.assistant .md');
    await page.waitForTimeout(2000);
    assert.equal(await page.textContent('#log .msg.assistant .md'), text, 'text kept coming after Stop');
    assert.match(await page.textContent('#log .msg.assistant .meta'), /^Stopped after \d+ pieces? of text/);
    const words = text.trim().split(/\s+/).length;
    assert.ok(words >= 4 && words < 150, `${words} words`);
    console.log(`  stopped after: "${text}"`);
  });

  await check('a reload loads SmolLM2 from browser storage, no download; Clear cached models empties it', async () => {
    await page.reload();
    await waitReady(page);
    const seen = await page.evaluate(() => window.seen);
    assert.ok(seen.status.some((s) => s.startsWith('From browser storage')), `no cache phase in ${seen.status.slice(0, 5)}`);
    assert.ok(!seen.status.some((s) => s.startsWith('Downloading')), 'downloaded again');
    assert.match(await page.textContent('#status'), /loaded from browser storage, no download/);
    assert.equal((await page.evaluate(() => window.seen.bar)).at(-1), 1);
    await page.click('#model-chooser summary');
    await page.waitForFunction(() => /MB/.test(document.getElementById('cache-info').textContent));
    await page.click('#clear-cache');
    await page.waitForFunction(() => /no cached models/.test(document.getElementById('cache-info').textContent));
  });
  await smolContext.close();
}

// ---- the tiny model: files, summarize, rendering, errors, phone -------------

async function tinyModel() {
  const tinyUrl = `/www/index.html?model=/models/${TINY}&temperature=0&max_tokens=8&context=200`;
  const { context: tinyContext, page: tiny } = await open(tinyUrl, { viewport: { width: 390, height: 844 } });
  await h.check('the tiny model loads from ?model=', () => waitReady(tiny, 60_000));

  await check('model output is rendered as markdown with nothing active in it', async () => {
    const hostile = [
      '# Title', '', 'Some **bold** and `code`.', '', '```js', 'let x = "<b>not bold</b>";', '```', '',
      '<script>window.pwned = "script"</script>', '',
      'Inline <img src=x onerror="window.pwned = \'img\'"> and <iframe src="https://example.com"></iframe>.', '',
      '[a link](javascript:window.pwned=1) [ok](https://example.com) ![pic](https://example.com/track.png)',
      '<a href="https://example.com" onclick="window.pwned=2" id="status">x</a>',
    ].join('\n');
    await tiny.evaluate((text) => window.tabllmPage.showReply(text), hostile);
    const dom = await tiny.evaluate(() => {
      const body = [...document.querySelectorAll('#log .msg.assistant .md')].at(-1);
      const all = [...body.querySelectorAll('*')];
      return {
        tags: all.map((e) => e.tagName.toLowerCase()),
        handlers: all.flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => a.name)),
        hrefs: [...body.querySelectorAll('a')].map((a) => [a.getAttribute('href'), a.rel, a.target]),
        ids: all.filter((e) => e.id).length,
        text: body.textContent,
        pwned: window.pwned,
        statuses: document.querySelectorAll('#status').length,
      };
    });
    for (const tag of ['h1', 'strong', 'code', 'pre']) assert.ok(dom.tags.includes(tag), `no <${tag}> in ${dom.tags}`);
    for (const tag of ['script', 'img', 'iframe']) assert.ok(!dom.tags.includes(tag), `<${tag}> rendered`);
    assert.deepEqual(dom.handlers, []);
    assert.equal(dom.ids, 0);
    assert.equal(dom.statuses, 1);
    assert.ok(dom.hrefs.every(([href]) => href === null || href.startsWith('https:')), JSON.stringify(dom.hrefs));
    assert.ok(dom.hrefs.filter(([href]) => href).every(([, rel, target]) => rel.includes('noopener') && target === '_blank'));
    assert.match(dom.text, /<script>window.pwned/, 'raw HTML is shown as text');
    assert.match(dom.text, /\[image: pic\]/);
    assert.equal(dom.pwned, undefined);
    // DOMPurify on its own, for HTML that reaches it (the markdown step escapes raw HTML first).
    // (Chromium logs a CSP violation for the onerror / onload in DOMPurify's inert document: blocked, never run.)
    const clean = await tiny.evaluate(() => String(window.tabllmPage.sanitize(
      '<b>ok</b><img src=x onerror=alert(1)><script>alert(2)</script><a href="javascript:alert(3)">a</a><svg onload=alert(4)></svg>')));
    assert.equal(clean, '<b>ok</b><a target="_blank" rel="noopener noreferrer nofollow">a</a>');
  });

  await check('a 390×844 screen has no horizontal scroll (chat, panels open, summarize)', async () => {
    await tiny.evaluate(() => window.tabllmPage.showReply(`A long line: ${'x'.repeat(300)} and https://example.com/${'y/'.repeat(80)}\n\n| a | b | c | d | e | f | g |\n|---|---|---|---|---|---|---|\n| ${'cell '.repeat(8)} | 2 | 3 | 4 | 5 | 6 | 7 |`));
    const sizes = [];
    sizes.push(await noHorizontalScroll(tiny));
    await tiny.click('#model-chooser summary');
    await tiny.click('#settings summary');
    sizes.push(await noHorizontalScroll(tiny));
    if (screenshots) await tiny.screenshot({ path: join(screenshots, 'phone-panels.png') });
    await tiny.click('#model-chooser summary');
    await tiny.click('#settings summary');
    await tiny.click('#tab-summarize');
    sizes.push(await noHorizontalScroll(tiny));
    await tiny.click('#tab-chat');
    for (const s of sizes) assert.ok(s.scroll <= s.client && s.body <= s.client, JSON.stringify(sizes));
    // The composer is on screen.
    const box = await tiny.locator('#send').boundingBox();
    assert.ok(box && box.y + box.height <= 844 && box.x + box.width <= 390, JSON.stringify(box));
  });

  await check('a message longer than the context says so and offers a new chat', async () => {
    await tiny.click('#new-chat');
    await tiny.fill('#input', 'word '.repeat(400));
    await tiny.click('#send');
    await waitState(tiny, 'error', 60_000);
    assert.equal(await tiny.getAttribute('#error', 'data-code'), 'context_full');
    assert.match(await tiny.textContent('#error-text'), /context/);
    await tiny.click('#error-actions button:has-text("New chat")');
    await waitState(tiny, 'ready', 5000);
    assert.equal(await tiny.locator('#log .msg').count(), 0);
  });

  await check('a local .gguf loads through the file input (read in the tab) and answers', async () => {
    const file = join(shared, 'tiny', 'tiny-llama-q4_k_m.gguf');
    await tiny.evaluate(() => (window.seen.status.length = 0));
    await tiny.setInputFiles('#model-file', file);
    await waitState(tiny, 'loading', 10_000).catch(() => {});
    await waitReady(tiny, 60_000);
    const seen = await tiny.evaluate(() => window.seen.status);
    assert.ok(seen.some((s) => /^Reading file \d+% — [\d.]+ of 1\.2 MB/.test(s)), `no file phase in ${seen.slice(0, 6)}`);
    assert.equal(await tiny.textContent('#model-name'), 'tiny-llama-q4_k_m.gguf');
    assert.match(await tiny.textContent('#status'), /read from the file/);
    await send(tiny, 'Hello');
    await waitReady(tiny, 60_000);
    const r = await tiny.evaluate(() => window.lastResult);
    assert.equal(r.usage.completion_tokens, r.timings.completion_ids.length);
    assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8);
  });

  await check('the parts of a split GGUF, chosen together in any order, load as one model', async () => {
    // Written by scripts/split_gguf.py (the gguf package), as tests/browser/package.mjs does.
    const dir = join(tmpdir(), `tabllm-page-split-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    execFileSync('python3', [join(repo, 'scripts/split_gguf.py'), join(shared, 'tiny', TINY), join(dir, 'tiny'), '8']);
    const parts = [3, 1, 2].map((i) => join(dir, `tiny-0000${i}-of-00003.gguf`));
    await tiny.evaluate(() => (window.seen.status.length = 0));
    await tiny.setInputFiles('#model-file', parts);
    await waitState(tiny, 'loading', 10_000).catch(() => {});
    await waitReady(tiny, 60_000);
    assert.equal(await tiny.textContent('#model-name'), 'tiny.gguf (3 parts)');
    const seen = await tiny.evaluate(() => window.seen.status);
    // Progress is throttled: a 1 MB model shows the first part and the last, not always each.
    assert.ok(seen.some((s) => s.startsWith('Reading file (part 1 of 3)')), `no part 1 in ${seen}`);
    assert.ok(seen.some((s) => /\(part 3 of 3\) 100%/.test(s)), `no part 3 in ${seen}`);
    await send(tiny, 'Hello');
    await waitReady(tiny, 60_000);
    assert.ok((await tiny.evaluate(() => window.lastResult)).usage.completion_tokens > 0);
  });

  await check('files dropped on the page: a .txt goes to Summarize, a .gguf is loaded', async () => {
    const drop = (name, url, text) => tiny.evaluate(async ([name, url, text]) => {
      const body = url ? await (await fetch(url)).blob() : text;
      const dt = new DataTransfer();
      dt.items.add(new File([body], name));
      for (const type of ['dragenter', 'dragover', 'drop']) {
        document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    }, [name, url, text]);
    await drop('notes.md', null, '# Notes\n\nSome text to summarize.');
    assert.equal(await tiny.getAttribute('#tab-summarize', 'aria-selected'), 'true');
    await tiny.waitForFunction(() => document.getElementById('sum-input').value.startsWith('# Notes'));
    assert.equal(await tiny.isHidden('#drop-overlay'), true);
    await tiny.click('#tab-chat');
    await tiny.evaluate(() => (window.seen.status.length = 0));
    await drop('dropped-tiny.gguf', `/models/${TINY}`);
    await waitReady(tiny, 60_000);
    assert.equal(await tiny.textContent('#model-name'), 'dropped-tiny.gguf');
    assert.ok((await tiny.evaluate(() => window.seen.status)).some((s) => s.startsWith('Reading file')));
  });

  await check('the theme button cycles system → light → dark colours', async () => {
    const look = () => tiny.evaluate(() => [document.documentElement.dataset.theme ?? 'system', getComputedStyle(document.body).backgroundColor]);
    const [mode0, system] = await look();
    await tiny.click('#theme');
    const [mode1, light] = await look();
    await tiny.click('#theme');
    const [mode2, dark] = await look();
    await tiny.click('#theme');
    assert.deepEqual([mode0, mode1, mode2, (await look())[0]], ['system', 'light', 'dark', 'system']);
    assert.equal(system, light); // the test browser prefers light
    assert.notEqual(light, dark);
  });

  await check('a lone part of a split model is refused with what to choose; a whole model named like a part loads', async () => {
    const dir = join(tmpdir(), `tabllm-page-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    execFileSync('python3', [join(repo, 'scripts/split_gguf.py'), join(shared, 'tiny', TINY), join(dir, 'model'), '8']);
    // The engine reads the header and refuses (a failed load, as for any file that is not a model).
    const refused = async (file, message) => {
      await tiny.setInputFiles('#model-file', join(dir, file));
      await tiny.waitForFunction((m) => document.getElementById('error-text')?.textContent.includes(m), message, { timeout: 30_000 });
      assert.equal(await tiny.textContent('#status'), `Could not load ${file}.`);
    };
    await refused('model-00001-of-00003.gguf', 'model-00001-of-00003.gguf is the first of 3 parts of a split model: give all 3 files together');
    await refused('model-00002-of-00003.gguf', 'model-00002-of-00003.gguf is part 2 of 3 of a split model: load its first part (model-00001-of-00003.gguf)');
    // Decided by the file's split keys, not its name.
    const whole = join(dir, 'whole-00001-of-00003.gguf');
    copyFileSync(join(shared, 'tiny', TINY), whole);
    await tiny.setInputFiles('#model-file', whole);
    await waitReady(tiny, 60_000);
    assert.equal(await tiny.textContent('#model-name'), 'whole-00001-of-00003.gguf');
  });

  await check('a text over 3× the context is summarized in stages, every request inside the context', async () => {
    await tiny.click('#tab-summarize');
    const sentences = ['The river rose after the rain.', 'The village moved its boats.', 'Merchants argued about grain.',
      'The mill stood idle.', 'A teacher kept the school open.', 'She read old maps aloud.', 'The water fell by Sunday.',
      'Silt covered every field.'];
    const { text, tokens, context } = await tiny.evaluate(async (sentences) => {
      const engine = window.tabllmPage.engine;
      // Paragraphs until the text is over 3× the context.
      const paragraphs = [];
      let text = '';
      for (let i = 0; (await engine.tokenize(text)).length <= 3.2 * engine.info.context; i++) {
        paragraphs.push(`Part ${i + 1}. ${sentences.slice(i % 3).concat(sentences.slice(0, i % 3)).slice(0, 4 + (i % 3)).join(' ')}`);
        text = paragraphs.join('\n\n');
      }
      // Record every request summarize() makes and the prompt tokens the engine counted.
      window.requests = [];
      const create = engine.chat.completions.create.bind(engine.chat.completions);
      engine.chat.completions.create = async (req) => {
        const entry = { content: req.messages.at(-1).content, max_tokens: req.max_tokens, stream: Boolean(req.stream) };
        window.requests.push(entry);
        // Streamed, the usage comes on a last chunk when asked for (summarize() does not ask).
        const out = await create(req.stream ? { ...req, stream_options: { include_usage: true } } : req);
        if (!req.stream) {
          entry.usage = out.usage;
          return out;
        }
        return (async function* () {
          for await (const chunk of out) {
            if (chunk.usage) entry.usage = chunk.usage;
            yield chunk;
          }
        })();
      };
      return { text, tokens: (await engine.tokenize(text)).length, context: engine.info.context };
    }, sentences);
    assert.equal(context, 200);
    assert.ok(tokens > 3 * context, `${tokens} tokens`);
    await tiny.fill('#sum-input', text);
    await tiny.fill('#sum-max-tokens', '24');
    const t = Date.now();
    await tiny.click('#sum-go');
    await waitState(tiny, 'generating', 5000).catch(() => {});
    await waitReady(tiny, 600_000);
    const { result, requests, progress, output } = await tiny.evaluate(() => ({
      result: window.lastSummary, requests: window.requests, progress: window.seen.sum,
      output: document.getElementById('sum-output').textContent,
    }));
    console.log(`  ${tokens} tokens: ${result.chunks} chunks, ${result.stages} stages, ${requests.length} requests, ${((Date.now() - t) / 1000).toFixed(0)} s; ` +
      `largest request ${Math.max(...requests.map((r) => r.usage.prompt_tokens))} prompt tokens + 24`);
    assert.ok(result.stages >= 2 && result.chunks >= 3, JSON.stringify(result));
    assert.equal(result.input_tokens, tokens);
    for (const r of requests) {
      assert.ok(r.usage, 'a request without usage');
      assert.equal(r.max_tokens, 24);
      assert.ok(r.usage.prompt_tokens + r.max_tokens <= context, `request over the context: ${JSON.stringify(r.usage)}`);
    }
    // Stage 1 covers the text exactly, in order, cut at paragraph or sentence ends.
    const instruction = 'Summarize the following text concisely.\n\n';
    const chunks = requests.slice(0, result.chunks).map((r) => r.content.slice(instruction.length));
    assert.equal(chunks.join(''), text);
    // Cut between words always, and at a sentence or paragraph end when one is near (sentences here are short).
    for (const c of chunks.slice(0, -1)) assert.match(c, /\s$/, `cut inside a word: …${JSON.stringify(c.slice(-30))}`);
    const atSentence = chunks.slice(0, -1).filter((c) => /(\n\n|[.!?] )$/.test(c)).length;
    assert.ok(atSentence >= (chunks.length - 1) * 0.75, `${atSentence} of ${chunks.length - 1} cuts at a sentence end`);
    assert.equal(requests.filter((r) => r.stream).length, 1, 'only the final stage streams');
    assert.ok(requests.at(-1).stream);
    assert.ok(progress.some((p) => new RegExp(`^Stage 1: chunk 2 of ${result.chunks} \\(\\d+ tokens\\)`).test(p)), progress.join(' | '));
    assert.ok(progress.some((p) => p.startsWith(`Stage ${result.stages}: writing the summary`)), progress.join(' | '));
    assert.match(progress.at(-1), new RegExp(`^Done: ${tokens} tokens in ${result.chunks} chunks, ${result.stages} stages`));
    assert.ok(output.length > 0);
    await tiny.click('#tab-chat');
  });

  await check('errors name what to do (every code the page explains)', async () => {
    const texts = await tiny.evaluate(async () => {
      const { explain } = await import('/www/ui/errors.js');
      const codes = ['webgpu_unavailable', 'model_too_large', 'download_failed', 'unsupported_architecture',
        'unsupported_tensor_type', 'context_full', 'device_lost', 'storage', 'timeout'];
      const can = { retry: () => {}, newChat: () => {}, loadDefault: () => {}, clearCache: () => {}, context: 2048 };
      return Object.fromEntries(codes.map((code) => {
        const e = explain(Object.assign(new Error(`(${code} message)`), { code, details: { type: 'IQ1_S' } }), can);
        return [code, { text: e.text, actions: e.actions.map((a) => a.label) }];
      }));
    });
    assert.match(texts.webgpu_unavailable.text, /Chrome.*Safari.*Firefox/s);
    assert.match(texts.model_too_large.text, /\(model_too_large message\)/);
    assert.deepEqual(texts.download_failed.actions, ['Retry']);
    assert.match(texts.unsupported_tensor_type.text, /type: IQ1_S/);
    assert.deepEqual(texts.context_full.actions, ['New chat']);
    // A lost device: load again in this tab, from browser storage when cached.
    assert.deepEqual(texts.device_lost.actions, ['Load the model again']);
    assert.match(texts.device_lost.text, /browser storage/);
    assert.deepEqual(texts.timeout.actions, ['Retry']);
    for (const [code, t] of Object.entries(texts)) assert.match(t.text, new RegExp(`\\(${code} message\\)`), code);
  });
  await tinyContext.close();
}

// ---- a thinking model --------------------------------------------------------

async function thinkingModel() {
  // The tiny Qwen3 with Qwen3.5's template (it opens `<think>` in the prompt)
  // and think tags in its vocabulary, as tests/cli.rs and package.mjs make it.
  const file = 'target/browser-models/tiny-qwen3-thinking.gguf';
  mkdirSync(join(repo, 'target/browser-models'), { recursive: true });
  execFileSync('python3', [join(repo, 'scripts/set_chat_template.py'), join(shared, 'tiny/tiny-qwen3-q4_k_m.gguf'),
    join(repo, 'tests/templates/qwen3.5.jinja'), join(repo, file), '3=<think>', '4=</think>']);
  const { context, page } = await open(`/www/index.html?model=/${file}&temperature=0&max_tokens=12&context=256`);
  await check('a thinking model\'s reasoning is shown folded above the answer', async () => {
    await waitReady(page, 60_000);
    await send(page, 'What is 2+2?');
    while ((await state(page)) === 'generating') await page.waitForTimeout(100);
    await waitReady(page, 10_000);
    const r = await page.evaluate(() => {
      const article = [...document.querySelectorAll('#log .msg.assistant')].at(-1);
      const details = article.querySelector('details.thinking');
      const answer = article.querySelector(':scope > .md');
      return {
        message: window.lastResult.choices[0].message,
        shown: Boolean(details),
        open: details?.open,
        summary: details?.querySelector('summary').textContent,
        thoughts: details?.querySelector('.md').textContent,
        above: Boolean(details && answer && details.compareDocumentPosition(answer) & Node.DOCUMENT_POSITION_FOLLOWING),
        answer: answer?.textContent,
      };
    });
    assert.ok(r.message.reasoning_content, `greedy reply without reasoning: ${JSON.stringify(r.message)}`);
    assert.equal(r.shown, true);
    assert.equal(r.open, false, 'folded');
    assert.equal(r.summary, 'Thinking');
    // Rendered as markdown: compare the words.
    const words = (t) => t.replace(/\W+/g, '');
    assert.equal(words(r.thoughts), words(r.message.reasoning_content));
    assert.ok(r.above, 'the reasoning comes before the answer');
    assert.equal(words(r.answer), words(r.message.content));
  });
  await context.close();
}

// ---- pages that fail to load -----------------------------------------------

async function errorPages() {
  await check('a model that is not there: download_failed with a Retry button', async () => {
    const { context, page: missing } = await open('/www/index.html?model=/models/not-there.gguf');
    await waitState(missing, 'error', 60_000);
    assert.equal(await missing.getAttribute('#error', 'data-code'), 'download_failed');
    assert.match(await missing.textContent('#error-text'), /could not be downloaded/);
    assert.equal(await missing.locator('#error-actions button:has-text("Retry")').count(), 1);
    assert.equal(await missing.isDisabled('#send'), true);
    await context.close();
  });

  await check('a cached copy whose server answers 404: the status says so (not "could not be reached"), in the package\'s words', async () => {
    const { context, page: p } = await open(`/www/index.html?model=/models/${TINY}`);
    await waitReady(p, 60_000);
    assert.match(await p.textContent('#status'), /^Ready: .*downloaded 1\.1 MB in [\d.]+ s\. .*\.$/);
    assert.doesNotMatch(await p.textContent('#status'), /Browser storage:|resumed/);
    // The server now says the file is gone; the copy in browser storage is used unchecked.
    await context.route(`**/models/${TINY}`, (route) => (route.request().method() === 'HEAD' ? route.fulfill({ status: 404 }) : route.continue()));
    await p.reload();
    await waitReady(p, 60_000);
    const status = await p.textContent('#status');
    console.log(`  ${status}`);
    assert.match(status, /loaded from browser storage, no download\./);
    assert.match(status, / Browser storage: the cached copy was used without checking it against the server: the server answered HTTP 404\.$/);
    assert.doesNotMatch(status, /could not be reached/);
    await context.close();
  });

  await check('the status after a load: a resumed download counts only the bytes downloaded; a storage notice is shown', async () => {
    const { context, page: p } = await open(`/www/index.html?model=/models/not-there.gguf`);
    const lines = await p.evaluate(async () => {
      const { describeLoaded } = await import('/www/ui/loaded.js');
      const info = { name: 'm.gguf', architecture: 'llama', layers: 30, context: 2048, backend: 'cpu', backend_reason: 'asked for', load_seconds: 12.34, from_cache: false, download_resumed_bytes: 0, cache_error: null, weight_bytes: 1 };
      return {
        plain: describeLoaded(info, { kind: 'url' }, 98_400_000),
        resumed: describeLoaded({ ...info, download_resumed_bytes: 44_000_000 }, { kind: 'url' }, 98_400_000),
        notKept: describeLoaded({ ...info, cache_error: 'another tab is writing this model into browser storage; this tab loaded it without keeping a copy' }, { kind: 'url' }, 98_400_000),
        warned: describeLoaded({ ...info, warnings: ['context 2048 is beyond the 512 positions this model was trained on; text past position 512 may degrade'] }, { kind: 'url' }, 98_400_000),
      };
    });
    await context.close();
    assert.equal(lines.plain, 'Ready: m.gguf, downloaded 98.4 MB in 12.3 s. llama, 30 layers, context 2048 tokens, on the CPU (asked for).');
    assert.equal(lines.resumed, 'Ready: m.gguf, downloaded 54.4 MB in 12.3 s, resumed after 44.0 MB kept from an earlier attempt. llama, 30 layers, context 2048 tokens, on the CPU (asked for).');
    assert.equal(lines.notKept, `${lines.plain} Browser storage: another tab is writing this model into browser storage; this tab loaded it without keeping a copy.`);
    assert.equal(lines.warned, `${lines.plain} Warning: context 2048 is beyond the 512 positions this model was trained on; text past position 512 may degrade.`);
  });

  await check('an unsupported architecture is named, from a local file', async () => {
    const bytes = readFileSync(join(shared, 'tiny', TINY));
    const at = bytes.indexOf('general.architecture') + 'general.architecture'.length + 12;
    bytes.write('mamba', at);
    const path = join(tmpdir(), `tabllm-page-mamba-${process.pid}.gguf`);
    writeFileSync(path, bytes);
    const { context, page: p } = await open(`/www/index.html?model=/models/${TINY}`);
    await waitReady(p, 60_000);
    await p.setInputFiles('#model-file', path);
    await waitState(p, 'error', 60_000);
    assert.equal(await p.getAttribute('#error', 'data-code'), 'unsupported_architecture');
    assert.match(await p.textContent('#error-text'), /mamba/);
    assert.equal(await p.locator('#error-actions button:has-text("Load the default model")').count(), 1);
    await context.close();
  });
}

try {
  if (!only || only.test('SmolLM2')) await smollm2();
  await tinyModel();
  await thinkingModel();
  await errorPages();
} finally {
  await h.done();
}
