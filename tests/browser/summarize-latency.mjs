// Benchmark, not a test (issue 12's "time from pressing Summarize to the
// first summary word"): the chat page in headless Chromium with its default
// model (SmolLM2-135M-Instruct; the page's backend `auto`, so the CPU
// backend on SwiftShader), a text of about --tokens tokens pasted
// into Summarize, and the clock from the click to the first text in the
// summary, then to the end. Prints the figures and writes them to
// target/summarize-latency.json.
// The page is served cross-origin isolated (COOP/COEP), so the CPU backend
// takes its default threads (engine.info.threads) or --threads N (the
// page's ?threads=); --plain serves it without the headers: one thread, as
// before issue 29.
// Usage: node tests/browser/summarize-latency.mjs [--tokens 3000] [--max-tokens 64] [--threads N] [--plain]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isolationHandler, repo, start } from './harness.mjs';

const { values } = parseArgs({ options: { tokens: { type: 'string', default: '3000' }, 'max-tokens': { type: 'string', default: '64' }, plain: { type: 'boolean', default: false }, threads: { type: 'string' } } });
const TOKENS = Number(values.tokens);
const MAX_TOKENS = Number(values['max-tokens']);
const query = new URLSearchParams({ temperature: '0', ...(values.threads ? { threads: values.threads } : {}) });

// Prose with some variety (sentences rotated per paragraph), so the
// tokenizer sees ordinary English and the summary has something to say.
const SENTENCES = [
  'The harbour town grew quickly after the railway reached it in the spring.',
  'Fishermen sold their catch at dawn, and merchants argued over the price of salt.',
  'A new school opened on the hill, and its teacher read old maps aloud to the children.',
  'When the storm came in October, the river rose and the lower streets flooded for a week.',
  'The council borrowed money to build a sea wall, which took three summers to finish.',
  'Some families moved inland; others stayed and rebuilt their houses on stone foundations.',
  'By the end of the decade the town had a library, a hospital and a small theatre.',
  'Visitors came by train to walk the cliffs, and the inns filled every August.',
  'The old mill was turned into a museum about the floods and the people who lived through them.',
];

const h = await start({ handler: await isolationHandler() });
const context = await h.browser.newContext({ viewport: { width: 1000, height: 800 } });
const page = await context.newPage();
page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
await page.goto(`${h.origin}${values.plain ? '/plain' : ''}/www/index.html?${query}`);
await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 600_000 });
const loaded = await page.evaluate(() => ({ state: document.body.dataset.state, info: window.tabllmPage?.engine?.info }));
if (loaded.state !== 'ready') throw new Error(`the page did not load its model: ${await page.textContent('#error-text')}`);

const { text, tokens, contextSize } = await page.evaluate(async ({ sentences, target }) => {
  const engine = window.tabllmPage.engine;
  const paragraphs = [];
  let text = '';
  for (let i = 0; (await engine.tokenize(text)).length < target; i++) {
    const k = i % sentences.length;
    paragraphs.push(`${i + 1}. ${sentences.slice(k).concat(sentences.slice(0, k)).slice(0, 3 + (i % 4)).join(' ')}`);
    text = paragraphs.join('\n\n');
  }
  return { text, tokens: (await engine.tokenize(text)).length, contextSize: engine.info.context };
}, { sentences: SENTENCES, target: TOKENS });

await page.click('#tab-summarize');
await page.fill('#sum-input', text);
await page.fill('#sum-max-tokens', String(MAX_TOKENS));
// The first text in the summary, timed in the page (a MutationObserver), so polling cannot miss it.
await page.evaluate(() => {
  window.firstWordAt = null;
  const out = document.getElementById('sum-output');
  new MutationObserver(() => {
    if (window.firstWordAt === null && out.textContent.trim()) window.firstWordAt = performance.now();
  }).observe(out, { subtree: true, childList: true, characterData: true });
});
const clickedAt = await page.evaluate(() => performance.now());
await page.click('#sum-go');
await page.waitForFunction(() => window.firstWordAt !== null, null, { timeout: 3_600_000, polling: 500 });
await page.waitForSelector('body[data-state="ready"]', { timeout: 3_600_000 });
const r = await page.evaluate(() => ({ firstWordAt: window.firstWordAt, endAt: performance.now(), summary: window.lastSummary, output: document.getElementById('sum-output').textContent }));
const result = {
  backend: loaded.info?.backend, backend_reason: loaded.info?.backend_reason, threads: loaded.info?.threads, model: loaded.info?.name, context: contextSize,
  input_tokens: tokens, max_tokens: MAX_TOKENS, chunks: r.summary?.chunks, stages: r.summary?.stages,
  first_word_seconds: (r.firstWordAt - clickedAt) / 1000, total_seconds: (r.endAt - clickedAt) / 1000,
  summary: r.output,
};
console.log(`Summarize ${tokens} tokens (${result.chunks} chunks, ${result.stages} stages) with ${result.model} on ${result.backend} (${result.threads?.count ?? '-'} thread(s): ${result.threads?.reason ?? '-'}), context ${contextSize}: ` +
  `first summary word after ${result.first_word_seconds.toFixed(1)} s, done after ${result.total_seconds.toFixed(1)} s`);
console.log(`summary: ${JSON.stringify(result.summary.slice(0, 300))}`);
mkdirSync(join(repo, 'target'), { recursive: true });
writeFileSync(join(repo, 'target/summarize-latency.json'), JSON.stringify(result, null, 2));
await h.close();
