// Small DOM and number-formatting helpers.
export const $ = (id) => document.getElementById(id);

/** `h('button', { class: 'x', onclick: fn }, 'text', child)`: attributes are set
 * with setAttribute, `on*` become listeners, children are text or nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.filter((c) => c !== undefined && c !== null));
  return el;
}

/** Megabytes (10^6 bytes) with one decimal: "98.4". */
export const mb = (bytes) => (bytes / 1e6).toFixed(1);
/** "1.6" tok/s with a sensible number of decimals. */
export const rate = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
/** Last path segment of a URL, decoded: "model.gguf". */
export function fileName(url) {
  try {
    const path = new URL(url, location.href).pathname;
    return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1)) || url;
  } catch {
    return String(url);
  }
}
