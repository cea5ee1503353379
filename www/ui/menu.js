// The chat page's model menu: the models a person would pick for a tab in
// late 2026, each with the Hugging Face repo its GGUFs come from, its size in
// the chosen quantization, whether it fits this device and a predicted decode
// speed (inspectCatalog: the catalog's shapes sized on the backend
// createEngine would pick, src/catalog/shapes.rs), and one click to load it
// as `hf:REPO:QUANT` (pkg/hub.js picks the file as llama.cpp's -hf does).
//
// Repo names are real ones (each checked, December 2026, by finding public
// code that downloads `REPO/resolve/main/…-Q4_K_M.gguf` from it): unsloth's
// GGUF conversions where the publisher has none, the publisher's own
// otherwise (LiquidAI; ggml-org, llama.cpp's, for SmolLM3).
import { inspectCatalog, measureBandwidth } from '../../pkg/tabllm.js';
import { $, h, rate } from './dom.js';
import { GB, verdictOf } from './verdict.js';

/** `shape`: the catalog name (tabllm info --shape); `repo`: where `hf:` names it. */
export const MENU = [
  { shape: 'qwen3.5-0.8b', label: 'Qwen3.5 0.8B', repo: 'unsloth/Qwen3.5-0.8B-GGUF' },
  { shape: 'qwen3.5-2b', label: 'Qwen3.5 2B', repo: 'unsloth/Qwen3.5-2B-GGUF' },
  { shape: 'qwen3.5-4b', label: 'Qwen3.5 4B', repo: 'unsloth/Qwen3.5-4B-GGUF' },
  { shape: 'gemma-4-e2b', label: 'Gemma 4 E2B', repo: 'unsloth/gemma-4-E2B-it-GGUF' },
  { shape: 'gemma-4-e4b', label: 'Gemma 4 E4B', repo: 'unsloth/gemma-4-E4B-it-GGUF' },
  { shape: 'lfm2-350m', label: 'LFM2 350M', repo: 'LiquidAI/LFM2-350M-GGUF' },
  { shape: 'lfm2.5-1.2b', label: 'LFM2.5 1.2B', repo: 'LiquidAI/LFM2.5-1.2B-Instruct-GGUF' },
  { shape: 'smollm3-3b', label: 'SmolLM3 3B', repo: 'ggml-org/SmolLM3-3B-GGUF' },
  { shape: 'phi-4-mini', label: 'Phi-4-mini 3.8B', repo: 'unsloth/Phi-4-mini-instruct-GGUF' },
  { shape: 'llama-3.2-1b', label: 'Llama 3.2 1B', repo: 'unsloth/Llama-3.2-1B-Instruct-GGUF' },
  { shape: 'llama-3.2-3b', label: 'Llama 3.2 3B', repo: 'unsloth/Llama-3.2-3B-Instruct-GGUF' },
  { shape: 'qwen3-0.6b', label: 'Qwen3 0.6B', repo: 'unsloth/Qwen3-0.6B-GGUF' },
  { shape: 'qwen3-1.7b', label: 'Qwen3 1.7B', repo: 'unsloth/Qwen3-1.7B-GGUF' },
  { shape: 'qwen3-4b', label: 'Qwen3 4B', repo: 'unsloth/Qwen3-4B-GGUF' },
  { shape: 'gemma-3-1b', label: 'Gemma 3 1B', repo: 'unsloth/gemma-3-1b-it-GGUF' },
  { shape: 'gemma-3-4b', label: 'Gemma 3 4B', repo: 'unsloth/gemma-3-4b-it-GGUF' },
];

/** The quantizations offered: the mixes every repo above has (QuantMix in src/catalog/mix.rs). */
export const MENU_MIXES = ['Q4_K_M', 'Q8_0'];

/** Bytes per second of weights a decode step reads, measured here; the
 * prediction scales it by each model's bytes per token. `basis` says where it
 * came from. null until measured. */
let speed = null;

/**
 * Notes how fast the loaded model decoded a reply: `info` (ModelInfo),
 * `decodeTokS` (timings.decode_tok_s). A reply of a model is the best
 * predictor there is on this device (the CPU backend and small GPUs are bound
 * by more than bandwidth), so it replaces a measured bandwidth.
 */
export function noteReplySpeed(info, decodeTokS) {
  if (!(decodeTokS > 0) || !(info?.weight_bytes > 0)) return;
  speed = { gbps: (info.weight_bytes * decodeTokS) / 1e9, basis: `from ${info.name}'s last reply here (${rate(decodeTokS)} tok/s)`, reply: true };
}

/** On WebGPU with a hardware adapter, the read bandwidth measured once (a
 * short sweep); null on the CPU backend or where it fails. */
async function measuredBandwidth(device) {
  if (speed || device.backend !== 'webgpu') return speed;
  try {
    const bw = await measureBandwidth({ max_bytes: 64 << 20, ops: ['read'], runs: 3 });
    speed = { gbps: bw.peak_gbps, basis: `an upper bound from the GPU's measured read bandwidth (${bw.peak_gbps.toFixed(1)} GB/s)`, reply: false };
  } catch (err) {
    console.warn('bandwidth', err);
  }
  return speed;
}

let seq = 0;

/**
 * Fills the menu (#menu-table) for quantization `mix` at `context` tokens;
 * `onLoad(name, entry, { context })` runs when a row's Load button is
 * clicked, with the `hf:` name and, for a row that fits only a shorter
 * context, the longest context that fits (else no `context`); repos link to `endpoint` (the Hub, or the mirror names resolve on). Never throws: a failure is shown in #menu-state. The latest call
 * wins when several overlap. Sets #model-menu's data-state to 'running',
 * 'done' or 'error' (tests wait on it).
 */
export async function refreshMenu({ mix, context, onLoad, endpoint = 'https://huggingface.co' }) {
  const mine = ++seq;
  const section = $('model-menu');
  section.dataset.state = 'running';
  $('menu-state').textContent = 'Sizing the models for this device…';
  try {
    const mixes = [mix.toLowerCase()];
    let table = await inspectCatalog({ context, mixes });
    const basis = await measuredBandwidth(table.device);
    if (basis) table = await inspectCatalog({ context, mixes, bandwidth_gbps: basis.gbps });
    if (mine !== seq) return;
    const rows = MENU.map((entry) => ({ entry, row: table.rows.find((r) => r.shape === entry.shape && r.mix === mixes[0]) }));
    $('menu-body').replaceChildren(...rows.map(({ entry, row }) => menuRow(entry, row, table.device, mix, onLoad, endpoint)));
    const where = table.device.backend === 'webgpu' ? 'this GPU' : "this browser's CPU backend";
    $('menu-state').textContent = `Sizes in GB for ${mix}; fit for ${where} at a context of ${context.toLocaleString('en-US')} tokens. ` +
      (basis ? `Speeds predicted ${basis.basis}.` : 'Speeds: send a message first, and the menu predicts them from how fast this device answered.');
    section.dataset.state = 'done';
  } catch (err) {
    if (mine !== seq) return;
    console.error(err);
    $('menu-state').textContent = `Could not size the models: ${err?.message ?? err}`;
    section.dataset.state = 'error';
  }
}

function menuRow(entry, row, device, mix, onLoad, endpoint) {
  const name = `hf:${entry.repo}:${mix}`;
  const tr = h('tr', { 'data-shape': entry.shape });
  const model = h('td', { class: 'menu-model' },
    h('span', { class: 'menu-label' }, entry.label), ' ',
    h('a', { class: 'menu-repo', href: `${endpoint}/${entry.repo}`, target: '_blank', rel: 'noopener noreferrer' }, entry.repo));
  if (!row) {
    tr.append(model, h('td', { colspan: 3 }, 'not in the catalog'), h('td'));
    return tr;
  }
  const [cls, text, why] = verdictOf(row, device);
  const verdict = h('td', { class: 'menu-fit', title: row.reason }, h('span', { class: `v-${cls}` }, text), ' ', h('span', { class: 'why' }, why));
  const tokS = row.predicted_decode_tok_s;
  const speedCell = h('td', { class: 'menu-speed' }, tokS ? `≈ ${rate(tokS)} tok/s` : '—');
  // A row that fits only a shorter context loads at the longest that fits
  // (the load at the chosen context would be refused).
  const shorter = cls === 'fits_smaller_context' ? row.max_context_that_fits : null;
  const load = shorter
    ? h('button', { type: 'button', title: `Load ${name} at a context of ${shorter.toLocaleString('en-US')} tokens`, onclick: () => onLoad(name, entry, { context: shorter }) }, `Load at ${shorter.toLocaleString('en-US')}`)
    : h('button', { type: 'button', title: `Load ${name}`, onclick: () => onLoad(name, entry, {}) }, 'Load');
  if (cls === 'unsupported' || cls === 'does_not_fit') load.disabled = true;
  tr.append(model, h('td', { class: 'menu-size' }, `${GB(row.weight_bytes)} GB`), verdict, speedCell, h('td', {}, load));
  return tr;
}
