// An SVG line chart of memory bandwidth against buffer size, built with DOM
// calls (no chart library, no inline script, so the page's CSP holds).
// x: buffer size on a log2 axis (MiB / GiB labels); y: GB/s (10^9 bytes/s)
// from 0; one line per op through the medians, with a min–max whisker at each
// point. Colours come from CSS classes (bench.css), so light and dark both work.

const SVG = 'http://www.w3.org/2000/svg';
const OPS = ['read', 'write', 'copy'];
const MARKERS = { read: 'circle', write: 'square', copy: 'triangle' };

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** "1 MiB", "512 MiB", "1 GiB", "1.5 GiB", "640 KiB". */
export function sizeLabel(bytes) {
  const units = [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]];
  for (const [unit, size] of units) {
    if (bytes >= size) {
      const v = bytes / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} B`;
}

/** About `count` round tick values from 0 to at least `max` (steps of 1, 2, 2.5 or 5 × 10^k). */
export function niceTicks(max, count = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let i = 0; i <= count + 1; i++) {
    const v = +(i * step).toPrecision(12);
    ticks.push(v);
    if (v >= max) break;
  }
  return ticks;
}

function formatGbps(v) {
  if (v === 0) return '0';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

function marker(kind, x, y, r) {
  if (kind === 'square') return el('rect', { x: x - r, y: y - r, width: 2 * r, height: 2 * r });
  if (kind === 'triangle') {
    const h = r * 1.2;
    return el('polygon', { points: `${x},${y - h} ${x + h},${y + h * 0.8} ${x - h},${y + h * 0.8}` });
  }
  return el('circle', { cx: x, cy: y, r });
}

/**
 * The chart for `results` ([{op, size, gbps: {median, min, max}}], as
 * measureBandwidth reports them). Returns an <svg> that scales to its
 * container's width; pass about that width (in CSS pixels) as `width` so the
 * text keeps its size on a phone. `title` is what screen readers announce.
 */
export function bandwidthChart(results, { title = 'Memory bandwidth against buffer size', width = 720, height = 400 } = {}) {
  const ops = OPS.filter((op) => results.some((r) => r.op === op));
  const sizes = [...new Set(results.map((r) => r.size))].sort((a, b) => a - b);
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart', 'aria-labelledby': 'chart-title chart-desc', preserveAspectRatio: 'xMidYMid meet' });
  svg.append(el('title', { id: 'chart-title' }, title));
  const peak = results.reduce((best, r) => (r.gbps.median > (best?.gbps.median ?? -1) ? r : best), null);
  const desc = sizes.length
    ? `${ops.join(', ')} bandwidth for buffers from ${sizeLabel(sizes[0])} to ${sizeLabel(sizes.at(-1))}; highest median ${formatGbps(peak.gbps.median)} GB/s (${peak.op}, ${sizeLabel(peak.size)}).`
    : 'No measurements yet.';
  svg.append(el('desc', { id: 'chart-desc' }, desc));

  const m = { left: 64, right: 20, top: 44, bottom: 56 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  // x: log2 of the size, padded half a step on each side (one size still gets a width).
  const lo = Math.log2(sizes[0] ?? 2 ** 20) - 0.5;
  const hi = Math.log2(sizes.at(-1) ?? 2 ** 20) + 0.5;
  const x = (size) => m.left + ((Math.log2(size) - lo) / (hi - lo)) * pw;
  const yTicks = niceTicks(Math.max(0, ...results.map((r) => r.gbps.max)) * 1.05);
  const yMax = yTicks.at(-1);
  const y = (v) => m.top + ph - (v / yMax) * ph;

  const grid = el('g', { class: 'grid' });
  const axes = el('g', { class: 'axis' });
  // As few decimals as show every tick exactly (0.25 -> 2, 0.5 -> 1, 2 -> 0).
  let decimals = 0;
  while (decimals < 6 && !yTicks.every((t) => Math.abs(Number(t.toFixed(decimals)) - t) <= 1e-9 * yMax)) decimals++;
  for (const t of yTicks) {
    grid.append(el('line', { x1: m.left, x2: m.left + pw, y1: y(t), y2: y(t) }));
    axes.append(el('text', { x: m.left - 8, y: y(t), 'text-anchor': 'end', 'dominant-baseline': 'middle' }, t === 0 ? '0' : t.toFixed(decimals)));
  }
  // One tick per power of two; label every k-th so labels never overlap.
  const firstExp = Math.ceil(lo);
  const lastExp = Math.floor(hi);
  const every = Math.max(1, Math.ceil((lastExp - firstExp + 1) / Math.max(1, Math.floor(pw / 70))));
  for (let e = firstExp; e <= lastExp; e++) {
    const px = x(2 ** e);
    grid.append(el('line', { x1: px, x2: px, y1: m.top, y2: m.top + ph, class: 'minor' }));
    axes.append(el('line', { x1: px, x2: px, y1: m.top + ph, y2: m.top + ph + 5 }));
    if ((e - firstExp) % every === 0) axes.append(el('text', { x: px, y: m.top + ph + 20, 'text-anchor': 'middle' }, sizeLabel(2 ** e)));
  }
  axes.append(el('line', { x1: m.left, x2: m.left + pw, y1: m.top + ph, y2: m.top + ph }));
  axes.append(el('line', { x1: m.left, x2: m.left, y1: m.top, y2: m.top + ph }));
  axes.append(el('text', { x: m.left + pw / 2, y: height - 12, 'text-anchor': 'middle', class: 'axis-title' }, 'Buffer size (log scale)'));
  axes.append(el('text', { x: 16, y: m.top + ph / 2, 'text-anchor': 'middle', class: 'axis-title', transform: `rotate(-90 16 ${m.top + ph / 2})` }, 'GB/s'));
  svg.append(grid, axes);

  ops.forEach((op, k) => {
    const pts = results.filter((r) => r.op === op).sort((a, b) => a.size - b.size);
    // Whiskers of the ops at one size sit side by side, a few pixels apart.
    const dodge = (k - (ops.length - 1) / 2) * 5;
    const g = el('g', { class: `series op-${op}` });
    g.append(el('polyline', { points: pts.map((r) => `${x(r.size).toFixed(1)},${y(r.gbps.median).toFixed(1)}`).join(' '), class: 'line', fill: 'none' }));
    for (const r of pts) {
      const px = x(r.size);
      const wx = px + dodge;
      const w = el('g', { class: 'whisker' });
      w.append(
        el('line', { x1: wx, x2: wx, y1: y(r.gbps.min), y2: y(r.gbps.max) }),
        el('line', { x1: wx - 3, x2: wx + 3, y1: y(r.gbps.min), y2: y(r.gbps.min) }),
        el('line', { x1: wx - 3, x2: wx + 3, y1: y(r.gbps.max), y2: y(r.gbps.max) }),
      );
      const mk = marker(MARKERS[op], px, y(r.gbps.median), 4);
      mk.setAttribute('class', 'marker');
      // A native tooltip with the figures.
      mk.append(el('title', {}, `${op} ${sizeLabel(r.size)}: median ${formatGbps(r.gbps.median)} GB/s (min ${formatGbps(r.gbps.min)}, max ${formatGbps(r.gbps.max)})`));
      g.append(w, mk);
    }
    svg.append(g);
  });

  // Legend along the top.
  const legend = el('g', { class: 'legend' });
  let lx = m.left;
  for (const op of ops) {
    const item = el('g', { class: `series op-${op}` });
    item.append(el('line', { x1: lx, x2: lx + 24, y1: 20, y2: 20, class: 'line' }));
    const mk = marker(MARKERS[op], lx + 12, 20, 4);
    mk.setAttribute('class', 'marker');
    item.append(mk, el('text', { x: lx + 30, y: 20, 'dominant-baseline': 'middle' }, op));
    legend.append(item);
    lx += 80;
  }
  if (ops.length && lx + 170 <= width) legend.append(el('text', { x: lx, y: 20, 'dominant-baseline': 'middle', class: 'note' }, 'line: median; bars: min–max'));
  svg.append(legend);
  return svg;
}
