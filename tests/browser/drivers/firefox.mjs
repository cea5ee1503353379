// Firefox ESR, headless, driven by puppeteer-core over WebDriver BiDi (never
// a browser of puppeteer's own: the Debian binary at /usr/bin/firefox-esr, or
// $FIREFOX). One tab, behind the interface tests/browser/engines.mjs uses:
// { name, version, goto(url), evaluate(fn, arg), close() }.
import puppeteer from 'puppeteer-core';

/** Starts Firefox with a fresh profile (puppeteer makes a temporary one);
 * the tab's console and uncaught errors are printed with a `[firefox]` tag. */
export async function launchFirefox() {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX ?? '/usr/bin/firefox-esr',
    protocol: 'webDriverBiDi',
    headless: true,
    // A model load or a whole chat runs inside one evaluate: longer than puppeteer's 180 s default on a busy machine.
    protocolTimeout: 600_000,
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`[firefox] ${m.text()}`));
    page.on('pageerror', (e) => console.log(`[firefox error] ${e.message}`));
    return {
      name: 'firefox',
      version: (await browser.version()).replace(/^firefox\//, ''),
      goto: async (url) => void (await page.goto(url)),
      /** Runs `fn(arg)` (async allowed) in the tab; its result comes back as JSON. */
      evaluate: (fn, arg) => page.evaluate(fn, arg),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
