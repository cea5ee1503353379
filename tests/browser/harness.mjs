// Shared pieces of the headless-Chromium tests: the repo's static server on a
// random port (or, given a request handler, a server of the test's own in
// this process), Chromium with WebGPU (SwiftShader here, so the f32 path), and a
// tiny TAP-style check runner. Each test file: `const h = await start();` …
// `await h.check(name, fn)` … `await h.done()`.
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repo = new URL('../../', import.meta.url).pathname;
export const shared = join(repo, '../shared/reference');
export const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** Installs pkg/ into tests/browser/app/node_modules/tabllm exactly as
 * `npm publish` would ship it (`npm pack`, then the tarball unpacked), so the
 * test app imports the package by name as an app does. */
export function installPackage() {
  const app = join(repo, 'tests/browser/app');
  const packDir = mkdtempSync(join(tmpdir(), 'tabllm-pack-'));
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: join(repo, 'pkg'), encoding: 'utf8' }).trim().split('\n').pop();
  rmSync(join(app, 'node_modules/tabllm'), { recursive: true, force: true });
  mkdirSync(join(app, 'node_modules/tabllm'), { recursive: true });
  execFileSync('tar', ['xzf', join(packDir, tgz), '-C', join(app, 'node_modules/tabllm'), '--strip-components=1']);
  rmSync(packDir, { recursive: true, force: true });
}

/** The `tabllm` CLI of this checkout, for checks that compare the browser
 * with the native path: `cargo build --locked --bin tabllm` (the debug
 * build `cargo test` already made, so a no-op in the test command) and its
 * path. Built each time so a check never compares with a stale binary. */
export function cliBinary() {
  execFileSync('cargo', ['build', '--locked', '--quiet', '--bin', 'tabllm'], { cwd: repo, stdio: 'inherit' });
  return join(repo, 'target/debug/tabllm');
}

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function waitForServer(url) {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`server at ${url} did not start`);
}

/** The files the package keeps in browser storage (OPFS) for the model at
 * `url` (absolute; the package names them by its SHA-256): { complete, part },
 * each { size, sha256 } or null. */
export const storedModel = (page, url) => page.evaluate(async (url) => {
  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const key = hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(url))) + '.gguf';
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('tabllm-models', { create: true });
  const read = async (name) => {
    try {
      const file = await (await dir.getFileHandle(name)).getFile();
      return { size: file.size, sha256: hex(await crypto.subtle.digest('SHA-256', await file.arrayBuffer())) };
    } catch {
      return null;
    }
  };
  return { complete: await read(key), part: await read(key + '.part') };
}, url);

/**
 * A handler serving the repository as scripts/serve.mjs does (cross-origin
 * isolated), except under /plain/ (the same files, the prefix dropped),
 * which is served as a site without COOP/COEP (`createHandler({ isolated:
 * false })`), and under /noworker/ (isolated, but the CPU threads' worker
 * script sent without COEP): the cases a threaded CPU backend meets.
 */
export async function isolationHandler() {
  const { createHandler } = await import('../../scripts/serve.mjs');
  const [isolated, plain] = [createHandler(), createHandler({ isolated: false })];
  return (req, res) => {
    if (req.url.startsWith('/plain/')) {
      req.url = req.url.slice('/plain'.length);
      return plain(req, res);
    }
    // /noworker/: isolated, but the CPU threads' worker script without COEP,
    // which the browser then refuses to run (a misconfigured site).
    if (req.url.startsWith('/noworker/')) {
      req.url = req.url.slice('/noworker'.length);
      return (req.url.endsWith('/cpu-threads-worker.js') ? plain : isolated)(req, res);
    }
    return isolated(req, res);
  };
}

/** `handler`: serve with this (req, res) handler in this process instead of
 * scripts/serve.mjs. `isolated: false` runs scripts/serve.mjs without its
 * cross-origin isolation headers (`--no-isolation`); a `handler` sends its own. */
export async function start({ handler, isolated = true } = {}) {
  let server;
  let origin;
  if (handler) {
    const http = createServer(handler);
    await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${http.address().port}`;
    server = { kill: () => { http.closeAllConnections(); http.close(); } };
  } else {
    const port = 8000 + Math.floor(Math.random() * 1000);
    const args = [join(repo, 'scripts/serve.mjs'), String(port), ...(isolated ? [] : ['--no-isolation'])];
    server = spawn('node', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    origin = `http://127.0.0.1:${port}`;
    await waitForServer(origin + '/');
  }
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  let passed = 0;
  let failed = 0;
  return {
    origin,
    browser,
    /** Another Chromium; `webgpu: false` starts it without WebGPU (as a browser that lacks it). */
    async launch({ webgpu = true } = {}) {
      const args = webgpu ? CHROMIUM_ARGS : [...CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'), '--disable-features=WebGPU,Vulkan', '--disable-gpu'];
      return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args });
    },
    /** A fresh context + page at `path`, logging the page's console. */
    async open(path, contextOptions = {}) {
      const context = await browser.newContext({ userAgent: 'tabllm-test', ...contextOptions });
      const page = await context.newPage();
      page.on('console', (m) => console.log(`[page] ${m.text()}`));
      page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
      await page.goto(origin + path);
      return { context, page };
    },
    async check(name, fn) {
      const t = Date.now();
      try {
        await fn();
        passed++;
        console.log(`ok - ${name} (${((Date.now() - t) / 1000).toFixed(0)} s)`);
      } catch (e) {
        failed++;
        console.log(`not ok - ${name}: ${e.stack ?? e}`);
      }
    },
    /** Closes Chromium and stops the server (benchmarks: no test summary). */
    async close() {
      await browser.close();
      server.kill();
    },
    async done() {
      await this.close();
      console.log(`${passed} passed, ${failed} failed`);
      process.exitCode = failed ? 1 : 0;
      return failed;
    },
  };
}

/** A small valid PDF (one page, Helvetica, the text's lines), its xref offsets counted. */
export function tinyPdf(lines) {
  const esc = (s) => s.replace(/[\\()]/g, (c) => `\\${c}`);
  const content = `BT /F1 12 Tf 72 720 Td 14 TL ${lines.map((l) => `(${esc(l)}) '`).join(' ')} ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];
  let pdf = '%PDF-1.4\n';
  const offsets = objects.map((o, i) => {
    const at = pdf.length;
    pdf += `${i + 1} 0 obj\n${o}\nendobj\n`;
    return at;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return pdf;
}
