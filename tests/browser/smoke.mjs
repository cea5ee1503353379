// Headless Chromium (SwiftShader WebGPU, f32 path): the worker streams models
// into GPU buffers and their greedy ids equal llama.cpp's references (a tiny
// model, SmolLM2's chat, Gemma 3 on a device limited to 128 MiB per binding);
// an unsupported architecture is reported from the header; the chat page
// loads a model and answers a message.
// Usage: node tests/browser/smoke.mjs   (after scripts/build-web.sh)
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const repo = new URL('../../', import.meta.url).pathname;
const shared = join(repo, '../shared/reference');
mkdirSync(join(repo, 'models'), { recursive: true });
copyFileSync(join(shared, 'tiny/tiny-llama-q4_0.gguf'), join(repo, 'models/tiny-llama-q4_0.gguf'));
const reference = JSON.parse(readFileSync(join(shared, 'tiny/tiny-llama-q4_0.json'), 'utf8'));

const port = 8000 + Math.floor(Math.random() * 1000);
const server = spawn('node', [join(repo, 'scripts/serve.mjs'), String(port)], { stdio: 'inherit' });
await new Promise((r) => setTimeout(r, 500));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
// Drives a fresh worker in the page through [message, awaited reply type]
// steps; returns every awaited reply and the device it reported.
async function runWorker(page, steps) {
  return page.evaluate(async (steps) => {
    const w = new Worker('worker.js', { type: 'module' });
    let device = null;
    const replies = [];
    try {
      for (const [msg, until] of steps) {
        replies.push(await new Promise((resolve, reject) => {
          w.onmessage = ({ data }) => {
            if (data.type === 'device') device = data;
            if (data.type === 'error') reject(new Error(data.message));
            if (data.type === until) resolve(data);
          };
          w.postMessage(msg);
        }));
      }
    } finally {
      w.terminate();
    }
    return { replies, device };
  }, steps);
}

let failed = 0;
let passed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e.stack ?? e}`);
  }
}
try {
  const context = await browser.newContext({ userAgent: 'tabllm-test' });
  const page = await context.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  const model = '/models/tiny-llama-q4_0.gguf';
  await page.goto(`http://127.0.0.1:${port}/www/index.html?model=${model}&temperature=0&max_tokens=8`);

  await check('worker greedy ids equal llama.cpp (f32 activations)', async () => {
    const c = reference.cases[0];
    const { replies } = await runWorker(page, [
      [{ type: 'load', url: model, n_ctx: 128 }, 'loaded'],
      [{ type: 'generate', request: { prompt_ids: c.prompt_ids, temperature: 0, max_tokens: c.greedy_ids_f32_activations.length } }, 'done'],
    ]);
    const result = replies[1].result;
    assert.deepEqual(result.ids, c.greedy_ids_f32_activations);
  });

  await check('SmolLM2 chat at temperature 0 equals llama.cpp (f32 activations)', async () => {
    const smol = JSON.parse(readFileSync(join(shared, 'smollm2-135m-instruct-q4_1.json'), 'utf8'));
    const c = smol.chat[0];
    const started = Date.now();
    const { replies } = await runWorker(page, [
      [{ type: 'load', url: '/models/SmolLM2-135M-Instruct.Q4_1.gguf', n_ctx: 512 }, 'loaded'],
      [{ type: 'generate', request: { messages: c.messages, temperature: 0, max_tokens: c.greedy_ids_f32_activations.length } }, 'done'],
    ]);
    const result = { ...replies[1].result, load_seconds: replies[0].seconds };
    console.log(`SmolLM2 in Chromium: load ${result.load_seconds.toFixed(1)} s, prefill ${result.prefill_tok_s.toFixed(1)} tok/s, decode ${result.decode_tok_s.toFixed(2)} tok/s, total ${((Date.now() - started) / 1000).toFixed(0)} s`);
    assert.deepEqual(result.prompt_ids, c.prompt_ids);
    assert.deepEqual(result.ids, c.greedy_ids_f32_activations);
  });

  await check('Gemma 3 on a device limited to 128 MiB per binding equals llama.cpp', async () => {
    const gemma = JSON.parse(readFileSync(join(shared, 'gemma-3-270m-q4_k_m.json'), 'utf8'));
    const c = gemma.greedy[0];
    const n = Number(process.env.GEMMA_TOKENS ?? c.greedy_ids_f32_activations.length);
    const started = Date.now();
    const { replies, device } = await runWorker(page, [
      [{ type: 'load', url: '/models/gemma-3-270m-q4_k_m.gguf', n_ctx: 256, max_binding_size: 128 * 1024 * 1024 }, 'loaded'],
      [{ type: 'generate', request: { prompt_ids: c.prompt_ids, temperature: 0, max_tokens: n } }, 'done'],
    ]);
    const result = { ...replies[1].result, device };
    console.log(`Gemma 3 in Chromium (${result.device.adapter}, binding limit ${result.device.max_storage_buffer_binding_size}): decode ${result.decode_tok_s.toFixed(2)} tok/s, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    assert.equal(result.device.max_storage_buffer_binding_size, 128 * 1024 * 1024);
    assert.deepEqual(result.ids, c.greedy_ids_f32_activations.slice(0, n));
  });

  await check('an unsupported architecture is reported from the header', async () => {
    const bytes = readFileSync(join(shared, 'tiny/tiny-llama-q4_0.gguf'));
    const at = bytes.indexOf('general.architecture') + 'general.architecture'.length + 12;
    bytes.write('mamba', at);
    writeFileSync(join(repo, 'models/tiny-mamba.gguf'), bytes);
    const message = await runWorker(page, [[{ type: 'load', url: '/models/tiny-mamba.gguf' }, 'loaded']]).then(() => 'loaded', (e) => e.message);
    assert.match(message, /unsupported model architecture `mamba`/);
  });

  await check('chat page loads with progress and answers', async () => {
    await page.waitForSelector('body[data-state="ready"]', { timeout: 120000 });
    await page.fill('#input', 'Hello');
    await page.click('#send');
    await page.waitForSelector('body[data-state="ready"]', { timeout: 120000 });
    const status = await page.textContent('#status');
    assert.match(status, /tokens/);
    const log = await page.textContent('#log');
    assert.match(log, /Assistant: .+/s);
  });
} finally {
  await browser.close();
  server.kill();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
