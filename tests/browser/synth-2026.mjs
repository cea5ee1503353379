// Opt-in (not in scripts/test.sh: it writes GB-sized files and runs for
// minutes on a 2-core machine): this year's model shapes in headless
// Chromium through the npm package. `tabllm synth` writes Q4_K_M files of
// catalog shapes (random but valid blocks, the tensor table and metadata
// llama.cpp's converter and llama-quantize would write) into
// target/synth-2026/; the page loads each from the local server on each
// backend, generates a few tokens and prints dispatches per token and
// tokens per second.
//
// Usage (after scripts/build-web.sh; the CLI is built here):
//   node tests/browser/synth-2026.mjs
//   SHAPES=qwen3.5-0.8b BACKENDS=cpu GEN_TOKENS=2 node tests/browser/synth-2026.mjs
// SHAPES: catalog shape names, comma-separated (default qwen3.5-2b,gemma-4-e2b);
// BACKENDS: webgpu and/or cpu (default both); MIX (default q4_k_m).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { start, repo, installPackage, cliBinary } from './harness.mjs';

const SHAPES = (process.env.SHAPES ?? 'qwen3.5-2b,gemma-4-e2b').split(',').filter(Boolean);
const BACKENDS = (process.env.BACKENDS ?? 'webgpu,cpu').split(',').filter(Boolean);
const MIX = process.env.MIX ?? 'q4_k_m';
const GEN_TOKENS = Number(process.env.GEN_TOKENS ?? 4);

// This checkout's CLI, built now so a stale binary never writes an old shape.
const cli = cliBinary();
mkdirSync(join(repo, 'target/synth-2026'), { recursive: true });
const files = {};
for (const shape of SHAPES) {
  const file = `target/synth-2026/${shape}-${MIX}.gguf`;
  if (!existsSync(join(repo, file))) execFileSync(cli, ['synth', '--shape', shape, '--type', MIX, '--out', join(repo, file)], { stdio: 'inherit' });
  files[shape] = file;
  console.log(`${file}: ${statSync(join(repo, file)).size} bytes`);
}

installPackage();
const h = await start();
const { page } = await h.open('/tests/browser/app/index.html');
await page.waitForSelector('body[data-ready]');

for (const shape of SHAPES) {
  for (const backend of BACKENDS) {
    await h.check(`${shape} ${MIX} loads on the ${backend} backend and generates ${GEN_TOKENS} tokens`, async () => {
      const r = await page.evaluate(async ({ url, backend, n }) => {
        const t0 = performance.now();
        const engine = await window.tabllm.createEngine({ model: url, backend, context: 256, cache: false });
        const loadSeconds = (performance.now() - t0) / 1000;
        // Token ids, not text: the synthetic vocabulary's text means nothing.
        const out = await engine.completions.create({ prompt: [1, 2, 3], temperature: 0, max_tokens: n });
        const bench = await engine.bench({ prompt_tokens: 8, gen_tokens: n });
        const info = engine.info;
        await engine.unload();
        return { loadSeconds, ids: out.timings.completion_ids, timings: out.timings, bench, backend: info.backend, architecture: info.architecture };
      }, { url: '/' + files[shape], backend, n: GEN_TOKENS });
      console.log(`${shape} on ${r.backend} (${r.architecture}): load ${r.loadSeconds.toFixed(1)} s, decode ${r.timings.decode_tok_s?.toFixed(2)} tok/s, prefill ${r.timings.prefill_tok_s?.toFixed(2)} tok/s; bench: ${r.bench.dispatches_per_token ?? 'n/a'} dispatches/token, decode ${r.bench.decode_tok_s?.toFixed(2)} tok/s, host encode ${r.bench.host_encode_ms_per_token?.toFixed(3) ?? 'n/a'} ms/token`);
      assert.equal(r.backend, backend);
      assert.ok(r.ids.length >= 1 && r.ids.length <= GEN_TOKENS, `ids ${JSON.stringify(r.ids)}`);
      assert.ok(r.bench.decode_tok_s > 0, JSON.stringify(r.bench));
    });
  }
}
await h.done();
