// The example apps (examples/vite, examples/webpack, examples/nextjs) as a
// user gets them: pkg/ packed (`npm pack`) into examples/tabllm.tgz, which
// each example depends on; `npm ci` from its committed lock; its bundler's
// production build; the output served; the chat answered in headless
// Chromium (SwiftShader WebGPU, so the CPU backend) greedily, equal to
// llama.cpp's reference for SmolLM2; then again cross-origin isolated with
// `?threads=2`, the CPU backend on two threads (the bundler must have emitted
// the package's nested threads worker). Prints each build's command, time and
// output sizes (wasm and JS bytes).
//
// Vite's and webpack's output is static and served as it is. The Next.js app
// runs under `next start`, the production server its own scripts name (`next
// build && next start`), as an app router app is deployed; it renders the page
// on the server (`next build` prerenders it: a package that touched
// `navigator` at import fails the build there, as it does under Node 20), and
// its model comes from another origin (this test's server, with CORS), as a
// model on a CDN does.
// Usage: node tests/browser/examples.mjs   (after scripts/build-web.sh)
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { start, repo, shared, readJson } from './harness.mjs';
import { ISOLATION, sendFile } from '../../scripts/serve.mjs';

const SMOL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
// The apps ask for 32 tokens at temperature 0: llama.cpp's greedy reply
// (f32 activations, as both backends compute) of the same length.
const reference = readJson(join(shared, 'smollm2-135m-instruct-q4_1.json')).chat[0];
assert.equal(reference.greedy_ids_f32_activations.length, 32);
const examplesDir = join(repo, 'examples');
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };

// ---- the package, packed ----------------------------------------------------
const packDir = mkdtempSync(join(tmpdir(), 'tabllm-pack-'));
const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: join(repo, 'pkg'), encoding: 'utf8' }).trim().split('\n').pop();
copyFileSync(join(packDir, tgz), join(examplesDir, 'tabllm.tgz'));
const packed = execFileSync('tar', ['tzf', join(packDir, tgz)], { encoding: 'utf8' }).trim().split('\n').map((p) => p.replace(/^package\//, ''));
rmSync(packDir, { recursive: true, force: true });

// ---- serving ------------------------------------------------------------------
// One server: /models/ from the repository (with CORS, for the Next.js app on
// another origin), everything else from the example's static output; with
// `isolated`, the output as a site that wants threads serves it (COOP/COEP on
// its documents and scripts, CORP on everything: pkg/README.md).
let staticRoot = null;
let isolated = false;
const CORS = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Length, Content-Range, ETag, Last-Modified, Accept-Ranges' };
function handler(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const models = url.pathname.startsWith('/models/');
  const root = models ? resolve(repo) : staticRoot;
  const path = normalize(join(root, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
  if (!root || !path.startsWith(root + '/')) return res.writeHead(404).end();
  const script = /\.(html|m?js)$/.test(path);
  sendFile(req, res, path, {
    ...(models ? CORS : {}),
    ...(isolated ? ISOLATION.every : {}),
    ...(isolated && script ? ISOLATION.document : {}),
  });
}
const h = await start({ handler });

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

async function waitFor(url, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before answering`);
    try {
      return await fetch(url);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer in 30 s`);
}

// ---- building -----------------------------------------------------------------
/** Runs `cmd args` in `cwd` (its output hidden unless it fails); resolves to the seconds it took. */
function run(cmd, args, cwd) {
  const t = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve((Date.now() - t) / 1000)
      : reject(new Error(`\`${cmd} ${args.join(' ')}\` in ${cwd} failed (${code}):\n${output.slice(-4000)}`))));
  });
}

/** Every file under `dir`, recursively: [{ path, bytes }]. */
function files(dir) {
  return readdirSync(dir, { recursive: true }).map((p) => join(dir, p)).filter((p) => statSync(p).isFile())
    .map((path) => ({ path, bytes: statSync(path).size }));
}

/** The .wasm and .js bytes (and file counts) of a build's output for the browser. */
function sizes(dir) {
  const all = files(dir);
  const of = (ext) => {
    const list = all.filter((f) => extname(f.path) === ext);
    return { files: list.length, bytes: list.reduce((s, f) => s + f.bytes, 0) };
  };
  return { wasm: of('.wasm'), js: of('.js') };
}

// The package's two wasm modules: the engine, and the CPU threads' kernels
// (cpu-threads.js fetches it only when threads start).
const WASM = ['tabllm_bg.wasm', 'tabllm_cpu_threads.wasm'].map((name) => ({ name, bytes: readFileSync(join(repo, 'pkg/wasm', name)) }));

/** How many files under `dir` are each of the package's wasm modules, byte for byte: { name: count }. */
function wasmCopies(dir) {
  const emitted = files(dir).filter((f) => extname(f.path) === '.wasm').map((f) => readFileSync(f.path));
  return Object.fromEntries(WASM.map(({ name, bytes }) => [name, emitted.filter((e) => e.equals(bytes)).length]));
}

/** `npm ci` from the example's lock, then checks that what it installed is this checkout's pkg/. */
async function install(dir) {
  const lock = readJson(join(dir, 'package-lock.json'));
  // npm takes a file: tarball whose lock entry has an integrity hash from its
  // cache by that hash: a stale package, or EINTEGRITY on a fresh machine.
  assert.equal(lock.packages['node_modules/tabllm']?.integrity, undefined,
    `${dir}/package-lock.json pins the tarball's integrity: remove the "integrity" line of node_modules/tabllm (the tarball changes with pkg/)`);
  const seconds = await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  for (const p of packed.filter((p) => p !== 'package.json')) {
    assert.ok(readFileSync(join(dir, 'node_modules/tabllm', p)).equals(readFileSync(join(repo, 'pkg', p))), `node_modules/tabllm/${p} is not pkg/${p}`);
  }
  return seconds;
}

// ---- the chat ---------------------------------------------------------------------
/** Opens the app at `url`, waits for the model, sends the prefilled message and
 * returns the reply, the engine's info line and every text the reply showed. */
async function chat(url) {
  const context = await h.browser.newContext({ userAgent: 'tabllm-test' });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    const t = Date.now();
    await page.goto(url);
    await page.waitForSelector('#app[data-state="ready"], #app[data-state="error"]', { timeout: 120_000 });
    assert.equal(await page.getAttribute('#app', 'data-state'), 'ready', `the model did not load: ${await page.textContent('#status')}`);
    const loadSeconds = (Date.now() - t) / 1000;
    await page.evaluate(() => {
      window.replyTexts = [];
      new MutationObserver(() => {
        const text = document.getElementById('reply').textContent;
        if (window.replyTexts.at(-1) !== text) window.replyTexts.push(text);
      }).observe(document.getElementById('reply'), { subtree: true, childList: true, characterData: true });
    });
    await page.click('#send');
    await page.waitForSelector('#app[data-state="done"], #app[data-state="error"]', { timeout: 120_000 });
    assert.equal(await page.getAttribute('#app', 'data-state'), 'done', `no reply: ${await page.textContent('#status')}`);
    assert.deepEqual(errors, [], 'errors on the page');
    return {
      reply: await page.textContent('#reply'),
      info: await page.textContent('#info'),
      texts: await page.evaluate(() => window.replyTexts),
      loadSeconds,
      replySeconds: (Date.now() - t) / 1000 - loadSeconds,
    };
  } finally {
    await context.close();
  }
}

function checkReply(r) {
  console.log(`  ${r.info}: loaded in ${r.loadSeconds.toFixed(1)} s, replied in ${r.replySeconds.toFixed(1)} s: "${r.reply}"`);
  assert.match(r.info, /^SmolLM2 .* \(llama\) on the (cpu|webgpu) backend( on \d+ threads)?$/i);
  assert.equal(r.reply, reference.greedy_text_f32_activations);
  assert.ok(r.texts.length > 3, `the reply did not stream: ${JSON.stringify(r.texts)}`);
}

/** Runs `next start` for the built app in `dir`, calls `fn(origin, html of /)`, stops the server. */
async function nextStart(dir, fn) {
  const port = await freePort();
  const server = spawn('npx', ['next', 'start', '--port', String(port), '--hostname', '127.0.0.1'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  try {
    const origin = `http://127.0.0.1:${port}`;
    return await fn(origin, await (await waitFor(origin + '/', server)).text());
  } finally {
    process.kill(-server.pid);
  }
}

// ---- the examples -----------------------------------------------------------------
const examples = [
  { name: 'vite', build: ['npx', 'vite', 'build'], out: 'dist', threads: true },
  { name: 'webpack', build: ['npx', 'webpack'], out: 'dist', threads: true },
  // next.config.mjs sends COOP/COEP itself.
  { name: 'nextjs', build: ['npx', 'next', 'build'], out: '.next/static', server: true, threads: true },
];
const report = [];
const only = process.env.ONLY ? new RegExp(process.env.ONLY, 'i') : null; // run only the examples whose name matches
const chosen = examples.filter((e) => !only || only.test(e.name));
// Every `npm ci` at once (mostly waiting on the disk): the later examples
// install while the first builds and chats.
const installs = new Map(chosen.map((ex) => {
  const p = install(join(examplesDir, ex.name));
  p.catch(() => {}); // awaited (and reported) in its example's check
  return [ex.name, p];
}));
for (const ex of chosen) {
  const dir = join(examplesDir, ex.name);
  let built = false;
  await h.check(`${ex.name}: npm ci from the lock installs this pkg/, \`${ex.build.join(' ')}\` builds`, async () => {
    const ci = await installs.get(ex.name);
    // All of .next: its build cache (.next/cache) keeps modules of an older package.
    rmSync(join(dir, ex.name === 'nextjs' ? '.next' : ex.out), { recursive: true, force: true });
    const seconds = await run(ex.build[0], ex.build.slice(1), dir);
    const s = sizes(join(dir, ex.out));
    report.push({ example: ex.name, command: ex.build.join(' '), npm_ci_s: ci, build_s: seconds, ...s });
    console.log(`  ${ex.name}: npm ci ${ci.toFixed(1)} s (alongside the others); \`${ex.build.join(' ')}\` ${seconds.toFixed(1)} s; ${ex.out}/: wasm ${s.wasm.bytes} bytes (${s.wasm.files} file), JS ${s.js.bytes} bytes (${s.js.files} files)`);
    // Each module once, as the package ships it: a bundler that copied one
    // twice, or rewrote it, would double or break the download.
    assert.deepEqual(wasmCopies(join(dir, ex.out)), { 'tabllm_bg.wasm': 1, 'tabllm_cpu_threads.wasm': 1 }, 'each wasm module of the package emitted once');
    assert.equal(s.wasm.files, WASM.length, 'no other wasm emitted');
    built = true;
  });
  if (!built) continue;
  await h.check(`${ex.name}: the built app loads SmolLM2 by URL and streams llama.cpp's greedy reply`, async () => {
    if (!ex.server) {
      staticRoot = join(dir, ex.out);
      isolated = false;
      checkReply(await chat(`${h.origin}/`));
      return;
    }
    await nextStart(dir, async (origin, html) => {
      // The page as the server renders it: the client component's markup, no engine yet.
      assert.match(html, /<main id="app" data-state="loading"/, 'server-rendered page');
      checkReply(await chat(`${origin}/?model=${encodeURIComponent(`${h.origin}/models/${SMOL}`)}`));
    });
  });
  // The threads' worker is a nested worker (the engine's worker starts it):
  // the bundler must have emitted it, and the kernels module, from the
  // package's `new Worker(new URL(…, import.meta.url))` and `new URL(…)`.
  if (!ex.threads) continue;
  await h.check(`${ex.name}: the built app, served cross-origin isolated, runs the CPU backend on 2 threads (?threads=2) and streams the same reply`, async () => {
    const onThreads = async (url) => {
      const r = await chat(url);
      assert.match(r.info, / on the cpu backend on 2 threads$/, 'the engine runs on 2 threads');
      checkReply(r);
    };
    if (ex.server) {
      await nextStart(dir, (origin) => onThreads(`${origin}/?threads=2&model=${encodeURIComponent(`${h.origin}/models/${SMOL}`)}`));
      return;
    }
    staticRoot = join(dir, ex.out);
    isolated = true;
    try {
      await onThreads(`${h.origin}/?threads=2`);
    } finally {
      isolated = false;
    }
  });
}
console.log(JSON.stringify(report));
await h.done();
