// Model output as markdown: rendered by marked, then sanitized by DOMPurify
// (a model can print <script>, <img onerror=…> or javascript: links). Raw
// HTML in the output is shown as text, and images are shown as their alt
// text (no request ever leaves the page for them); DOMPurify then removes
// anything active that is left. Streaming replies re-render at most once per
// animation frame.
import { Marked } from '../node_modules/marked/lib/marked.esm.js';
import DOMPurify from '../node_modules/dompurify/dist/purify.es.mjs';

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    html: ({ text }) => escapeHtml(text),
    image: ({ text }) => escapeHtml(text ? `[image: ${text}]` : '[image]'),
  },
});

const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['img', 'picture', 'source', 'video', 'audio', 'track', 'style', 'link', 'meta', 'base',
    'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'frame', 'object', 'embed'],
  // id / name could shadow the page's own elements.
  FORBID_ATTR: ['style', 'id', 'name', 'srcset', 'ping', 'formaction', 'background'],
  RETURN_TRUSTED_TYPE: true,
};
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

/** HTML (a TrustedHTML where the browser has Trusted Types) with nothing active in it. */
export const sanitize = (html) => DOMPurify.sanitize(html, PURIFY);

/** Markdown → sanitized HTML, ready for `innerHTML`. */
export const renderMarkdown = (text) => sanitize(marked.parse(text, { async: false }));

/** Renders growing markdown into `el`, once per animation frame; keeps
 * `scroller` pinned to the bottom if it was there. */
export function streamInto(el, scroller = null) {
  let pending = null;
  let frame = 0;
  const draw = () => {
    frame = 0;
    if (pending === null) return;
    const pinned = scroller && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
    el.innerHTML = renderMarkdown(pending);
    pending = null;
    if (pinned) scroller.scrollTop = scroller.scrollHeight;
  };
  return {
    set(text) {
      pending = text;
      if (!frame) frame = requestAnimationFrame(draw);
    },
    /** Renders now (the end of a reply). */
    flush() {
      if (frame) cancelAnimationFrame(frame);
      draw();
    },
  };
}
