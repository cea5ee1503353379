// WebKit (WebKitGTK's MiniBrowser) through WebKitWebDriver, the W3C WebDriver
// protocol over HTTP (https://www.w3.org/TR/webdriver2/): new session,
// navigate, execute async script, delete session, written with fetch.
// MiniBrowser needs a display: the driver runs under `xvfb-run -a`. One tab,
// behind the interface tests/browser/engines.mjs uses:
// { name, version, goto(url), evaluate(fn, arg), close() }.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

// Debian's libwebkit2gtk-4.1-0 (a dependency of webkit2gtk-driver).
const MINIBROWSER = process.env.MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
// Long enough for a model load or a whole chat inside one script.
const SCRIPT_TIMEOUT_MS = 600_000;

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

/** Starts WebKitWebDriver (under xvfb-run) and a MiniBrowser session in it. */
export async function launchWebKit() {
  const port = await freePort();
  // Its own process group, so close() ends xvfb-run, Xvfb, the driver and the browser together.
  const driver = spawn('xvfb-run', ['-a', process.env.WEBKIT_WEBDRIVER ?? 'WebKitWebDriver', `--port=${port}`], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  const exited = new Promise((resolve) => driver.once('exit', resolve));
  const stop = () => {
    try {
      process.kill(-driver.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  const base = `http://127.0.0.1:${port}`;
  /** One WebDriver command: its `value`, or an Error with the driver's error and message. */
  const command = async (method, path, body) => {
    const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const { value } = await res.json();
    if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${value?.error}: ${value?.message}`);
    return value;
  };
  try {
    for (let ready = false, i = 0; !ready; i++) {
      if (i === 200) throw new Error(`WebKitWebDriver did not answer on port ${port} within 20 s`);
      if (driver.exitCode !== null) throw new Error(`WebKitWebDriver exited with code ${driver.exitCode} before answering`);
      ready = await command('GET', '/status').then((v) => v.ready, () => false);
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    const { sessionId, capabilities } = await command('POST', '/session', {
      capabilities: { alwaysMatch: { 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } } },
    });
    const session = `/session/${sessionId}`;
    await command('POST', `${session}/timeouts`, { script: SCRIPT_TIMEOUT_MS });
    return {
      name: 'webkit',
      version: capabilities.browserVersion,
      goto: async (url) => void (await command('POST', `${session}/url`, { url })),
      /** Runs `fn(arg)` (async allowed) in the tab; its result comes back as JSON, a throw as an Error. */
      async evaluate(fn, arg) {
        const script = `const [arg, done] = arguments;
          Promise.resolve().then(() => (${fn})(arg)).then((value) => done({ value }), (e) => done({ error: String(e?.stack ?? e) }));`;
        const out = await command('POST', `${session}/execute/async`, { script, args: [arg ?? null] });
        if (out?.error !== undefined) throw new Error(`in WebKit: ${out.error}`);
        return out?.value;
      },
      async close() {
        try {
          await command('DELETE', session);
        } finally {
          stop();
          await exited;
        }
      },
    };
  } catch (err) {
    stop();
    throw err;
  }
}
