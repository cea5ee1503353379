// The page asks for Trusted Types (CSP require-trusted-types-for 'script'):
// HTML reaches the DOM only through DOMPurify's policy (markdown.js), and
// script URLs (the package's Worker) only when they are of this origin.
// Import this module before anything that starts a worker.
if (globalThis.trustedTypes?.createPolicy) {
  trustedTypes.createPolicy('default', {
    createScriptURL(url) {
      const u = new URL(url, location.href);
      // blob: URLs made by this page carry its origin too.
      if (u.origin === location.origin) return url;
      throw new TypeError(`tabllm page: refusing a script from another origin: ${u.origin}`);
    },
  });
}
