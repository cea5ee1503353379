// Spike (issue 29, docs/cpu-threads.md): tabllm's CPU matvec kernels on
// several Web Workers sharing one WebAssembly.Memory, in headless Chromium on
// a page served with COOP/COEP (so `crossOriginIsolated`).
//
//   node tests/browser/threads-spike.mjs [--threads 1,2,3] [--batch-ms 100] [--rounds 5] [--spin 16384]
//
// Builds crates/cpu-threads (scripts/build-cpu-threads.sh), then checks:
// the page is cross-origin isolated; every matvec (SmolLM2-135M's shapes and
// a Qwen3.5-0.8B-like 3584 × 1024, Q4_1 and Q4_K) is bit-equal to one
// thread's at each thread count; a page served without COOP/COEP is not
// isolated and the pool refuses by name. Prints µs per matvec (median and
// best of the rounds), the speedup over one thread, and the barrier's cost
// (an empty job, back to back and after the workers fell asleep).
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, normalize } from 'node:path';
import { parseArgs } from 'node:util';
import { repo, start } from './harness.mjs';
import { sendFile } from '../../scripts/serve.mjs';

const { values: args } = parseArgs({ options: {
  threads: { type: 'string', default: '1,2,3' }, 'batch-ms': { type: 'string', default: '100' }, rounds: { type: 'string', default: '5' },
  spin: { type: 'string', default: '16384' },
} });

execFileSync(join(repo, 'scripts/build-cpu-threads.sh'), { stdio: 'inherit' });

// What the page may load: its own folder and the built module.
const SERVED = ['tests/browser/threads/', 'target/cpu-threads/wasm32-wasip1-threads/release/tabllm_cpu_threads.wasm'];
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

const h = await start({
  handler(req, res) {
    const url = new URL(req.url, 'http://x');
    const path = normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '');
    if (!SERVED.some((p) => path === p || (p.endsWith('/') && path.startsWith(p)))) {
      if (path !== 'favicon.ico') console.log(`not served: /${path}`);
      return res.writeHead(404).end('not found');
    }
    // ?isolated=0 on the document: served as a site without the headers.
    const headers = url.searchParams.get('isolated') === '0' ? {} : ISOLATION;
    sendFile(req, res, join(repo, path), { ...headers, 'Cross-Origin-Resource-Policy': 'same-origin' });
  },
});

const query = `threads=${args.threads}&batchMs=${args['batch-ms']}&rounds=${args.rounds}&spin=${args.spin}`;
async function spike(extra = '') {
  const { context, page } = await h.open(`/tests/browser/threads/index.html?${query}${extra}`);
  try {
    await page.waitForFunction(() => window.spikeResult, null, { timeout: Number(process.env.SPIKE_TIMEOUT_MS ?? 600_000), polling: 200 });
    const r = await page.evaluate(() => window.spikeResult);
    if (r.error) throw new Error(r.error);
    return r.result;
  } finally {
    await context.close();
  }
}

let result;
await h.check('served with COOP/COEP: cross-origin isolated, every thread count bit-equal to one thread', async () => {
  result = await spike();
  if (!result.crossOriginIsolated) throw new Error('the page is not cross-origin isolated');
  const bad = result.cases.flatMap((c) => Object.entries(c.byThreads).filter(([, v]) => !v.bitEqual)
    .map(([t, v]) => `${c.kind} ${c.rows}×${c.cols} at ${t} threads: first differing row ${v.firstDiff}`));
  if (bad.length) throw new Error(bad.join('; '));
  if (result.cases.length !== 5) throw new Error(`expected 5 cases (3 Q4_1 shapes, 2 Q4_K), got ${result.cases.length}`);
});

await h.check('served without COOP/COEP: not isolated, the pool refuses by name', async () => {
  const r = await spike('&isolated=0');
  if (r.crossOriginIsolated !== false) throw new Error(`crossOriginIsolated is ${r.crossOriginIsolated}`);
  if (!/not cross-origin isolated/.test(r.refused ?? '')) throw new Error(`the pool did not refuse: ${r.refused}`);
});

if (result) {
  const ts = args.threads.split(',').map(Number);
  console.log(`\nChromium ${h.browser.version()}, hardwareConcurrency ${result.hardwareConcurrency}, spin ${result.spin}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; µs per matvec, median (best) of ${args.rounds} batches of ~${args['batch-ms']} ms; speedup = 1-thread median / median`);
  console.log(['type', 'rows×cols', 'weights', ...ts.map((t) => `${t} thr µs`), ...ts.filter((t) => t > 1).map((t) => `×${t}`)].join('\t'));
  for (const c of result.cases) {
    const base = c.byThreads[ts[0]].medianUs;
    console.log([c.kind, `${c.rows}×${c.cols}`, `${(c.weightBytes / 1024).toFixed(0)} KiB`,
      ...ts.map((t) => `${c.byThreads[t].medianUs.toFixed(1)} (${c.byThreads[t].minUs.toFixed(1)})`),
      ...ts.filter((t) => t > 1).map((t) => (base / c.byThreads[t].medianUs).toFixed(2))].join('\t'));
  }
  console.log('barrier (empty job), µs: ' + result.barrier.map((b) => `${b.threads} thr: ${b.hotUs.toFixed(2)} back to back, ${b.coldUs.toFixed(1)} after a 5 ms pause`).join('; '));
}
await h.done();
