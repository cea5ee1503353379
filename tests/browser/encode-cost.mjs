// Benchmark, not a test: the host side of a decode step in headless Chromium,
// with each step encoded by one call into JavaScript (createEngine's default,
// src/gpu/web_replay.rs) and through wgpu's three calls per dispatch
// ({ jsReplay: false }), on the same model in one run. Prints a table and
// writes bench-results/browser-encode.json. Timings are reported, never asserted.
//
// Usage (with pkg/wasm built by scripts/build-web.sh, and `npm install` in tests/browser):
//   node tests/browser/encode-cost.mjs [--model /models/SmolLM2-135M-Instruct.Q4_1.gguf] [--prompt-tokens 16] [--gen-tokens 16]
import { start, repo } from './harness.mjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const model = arg('model', '/models/SmolLM2-135M-Instruct.Q4_1.gguf');
const prompt_tokens = Number(arg('prompt-tokens', 16));
const gen_tokens = Number(arg('gen-tokens', 16));
const outPath = join(repo, 'bench-results/browser-encode.json');

const h = await start();
const rows = [];
try {
  for (const jsReplay of [true, false]) {
    const { context, page } = await h.open('/tests/browser/compare.html');
    const r = await page.evaluate(async ({ model, jsReplay, prompt_tokens, gen_tokens }) => {
      const { createEngine } = await import('/pkg/tabllm.js');
      const engine = await createEngine({ model, context: prompt_tokens + gen_tokens + 64, cache: false, jsReplay });
      const b = await engine.bench({ prompt_tokens, gen_tokens });
      const adapter = engine.info.adapter;
      await engine.unload();
      return { ...b, adapter };
    }, { model, jsReplay, prompt_tokens, gen_tokens });
    rows.push({ encoder: jsReplay ? 'one JS call per step' : 'wgpu calls per dispatch', js_replay: jsReplay, ...r });
    await context.close();
  }
} finally {
  await h.close();
}
for (const r of rows) {
  console.log(`${r.encoder.padEnd(26)} ${String(r.dispatches_per_token).padStart(4)} dispatches/token  host encode ${r.host_encode_ms_per_token.toFixed(3)} ms/token  decode ${r.decode_tok_s.toFixed(2)} tok/s`);
}
mkdirSync(join(repo, 'bench-results'), { recursive: true });
writeFileSync(outPath, JSON.stringify({ created: new Date().toISOString(), command: ['node tests/browser/encode-cost.mjs', ...argv].join(' '), model, load_average: loadavg(), rows }, null, 2));
console.log(`wrote ${outPath}`);
