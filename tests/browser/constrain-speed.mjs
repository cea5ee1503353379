// Benchmark (not a test): decode tok/s of SmolLM2 with and without a JSON
// schema (response_format), in one run, through the built package in headless
// Chromium (backend 'auto': the CPU backend on SwiftShader; --backend webgpu
// for the GPU path). Each request is greedy, 64 tokens or more, the schema one
// a long free string, so both decode about as many tokens; median of --runs
// after a warm-up. Prints the table and writes bench-results/constrain-speed.json.
// Usage: node tests/browser/constrain-speed.mjs [--runs 3] [--backend auto|webgpu|cpu]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, repo } from './harness.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const runs = Number(arg('runs', 3));
const backend = arg('backend', 'auto');
const h = await start();
const { page } = await h.open('/tests/browser/app/index.html');
await page.waitForSelector('body[data-ready]');
const r = await page.evaluate(async ({ runs, backend }) => {
  const engine = await tabllm.createEngine({ model: '/models/SmolLM2-135M-Instruct.Q4_1.gguf', context: 512, cache: false, backend });
  const messages = [{ role: 'user', content: 'Write a long story about a lighthouse keeper and a storm.' }];
  const schema = { type: 'object', properties: { title: { type: 'string', maxLength: 40 }, story: { type: 'string', minLength: 400, maxLength: 2000 } }, required: ['title', 'story'], additionalProperties: false };
  const configs = {
    plain: { messages, temperature: 0, max_tokens: 96 },
    json_schema: { messages, temperature: 0, max_tokens: 96, response_format: { type: 'json_schema', json_schema: { name: 'story', schema } } },
  };
  const out = { backend: engine.info.backend, reason: engine.info.backend_reason, rows: {} };
  for (const [name, req] of Object.entries(configs)) await engine.chat.completions.create(req); // warm-up (the grammar's vocabulary trie is built once)
  for (const [name, req] of Object.entries(configs)) {
    const rates = [];
    let tokens = 0;
    for (let i = 0; i < runs; i++) {
      await engine.reset();
      const c = await engine.chat.completions.create(req);
      rates.push(c.timings.decode_tok_s);
      tokens = c.usage.completion_tokens;
    }
    rates.sort((a, b) => a - b);
    out.rows[name] = { decode_tok_s: rates[Math.floor(rates.length / 2)], runs: rates, completion_tokens: tokens };
  }
  await engine.unload();
  return out;
}, { runs, backend });
await h.close();
const ratio = r.rows.json_schema.decode_tok_s / r.rows.plain.decode_tok_s;
console.log(`backend ${r.backend} (${r.reason})`);
for (const [name, x] of Object.entries(r.rows)) console.log(`${name.padEnd(12)} decode ${x.decode_tok_s.toFixed(2)} tok/s (median of ${x.runs.map((v) => v.toFixed(2)).join(', ')}; ${x.completion_tokens} tokens)`);
console.log(`json_schema / plain decode: ${ratio.toFixed(3)} (a drop of ${((1 - ratio) * 100).toFixed(1)} %)`);
mkdirSync(join(repo, 'bench-results'), { recursive: true });
writeFileSync(join(repo, 'bench-results/constrain-speed.json'), JSON.stringify({ ...r, ratio, command: process.argv.slice(1).join(' ') }, null, 2));
console.log('wrote bench-results/constrain-speed.json');
