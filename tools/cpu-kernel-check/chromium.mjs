// Runs the CPU kernel checks or benchmark compiled to wasm (src/lib.rs) in
// headless Chromium, for builds node cannot run: node 20's
// --experimental-wasm-relaxed-simd gives wrong relaxed-dot results (an
// early draft of the proposal), Chromium's V8 implements the final one.
//   node tools/cpu-kernel-check/chromium.mjs FILE.wasm check|bench|bench-all|bench-model|bench-attention
// Prints the module's lines; exits 1 when a check fails or the page errs.
// Checks run under --virtual-time-budget (the dump waits for them; the
// clock is virtual), benchmarks under --timeout (real time; at most
// CHROMIUM_BENCH_MS, default 60000). Chromium coarsens performance.now() to
// 0.1 ms on a page without cross-origin isolation, so only the ms-scale
// lines (bench-model, 64-token rows) mean much there.
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [file, what = 'check'] = process.argv.slice(2);
if (!file || !['check', 'bench', 'bench-all', 'bench-model', 'bench-attention'].includes(what)) {
  console.error('usage: node chromium.mjs FILE.wasm check|bench|bench-all|bench-model|bench-attention');
  process.exit(2);
}
const wasm = (await readFile(file)).toString('base64');
const page = `<pre id=out></pre><script>
const lines = []; let memory; const dec = new TextDecoder();
const host = { log_line: (p, n) => lines.push(dec.decode(new Uint8Array(memory.buffer, p, n))),
               now: () => performance.now() / 1000 };
const bytes = Uint8Array.from(atob('${wasm}'), (c) => c.charCodeAt(0));
const done = (s) => { document.getElementById('out').textContent = lines.join('\\n') + '\\n' + s; };
WebAssembly.instantiate(bytes, { host }).then(({ instance }) => {
  memory = instance.exports.memory;
  const what = '${what}';
  if (what === 'check') done('STATUS ' + (instance.exports.check() === 0 ? 'ok' : 'failed'));
  else { if (what === 'bench-model') instance.exports.bench_model(); else if (what === 'bench-attention') instance.exports.bench_attention();
         else instance.exports.bench(what === 'bench-all' ? 1 : 0);
         done('STATUS ok'); }
}).catch((e) => done('STATUS error ' + e));
</script>`;
const dir = await mkdtemp(join(tmpdir(), 'cpu-kernel-check-'));
try {
  await writeFile(join(dir, 'index.html'), page);
  const dom = execFileSync('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu',
    ...(what === 'check' ? ['--virtual-time-budget=600000'] : ['--timeout=' + (process.env.CHROMIUM_BENCH_MS || 60000)]),
    '--dump-dom', `file://${dir}/index.html`],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  const text = (dom.match(/<pre id="out">([\s\S]*?)<\/pre>/) || [, 'STATUS error: no output'])[1]
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  console.log(text.replace(/\nSTATUS .*$/, ''));
  process.exit(/\nSTATUS ok$/.test(text) || /^STATUS ok$/.test(text) ? 0 : 1);
} finally {
  await rm(dir, { recursive: true, force: true });
}
