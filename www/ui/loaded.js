// The status line once a model has loaded: what it is, where its bytes came
// from (browser storage, a file, a download and how much of it was resumed),
// what it runs on, and a browser-storage notice when the package reported one.
import { mb } from './dom.js';

/**
 * `info`: the engine's info (EngineInfo in pkg/tabllm.d.ts). `from`: the
 * source loaded ({ kind: 'url' | 'file' | …}). `bytes`: the model's size in
 * bytes as the last progress event gave it (0 when unknown: the weights' size
 * is shown then). Returns one line of text.
 */
export function describeLoaded(info, from, bytes) {
  const a = info.adapter ?? {};
  const gpu = info.backend === 'cpu' ? `the CPU (${info.backend_reason})`
    : `${a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'the GPU'} (WebGPU)`;
  const kept = info.download_resumed_bytes ?? 0;
  // An hf: name: the repo and file(s) it resolved to.
  const hf = info.hf ? ` (Hugging Face ${info.hf.repo}${info.hf.revision === 'main' ? '' : `@${info.hf.revision}`}, ${info.hf.files.length > 1 ? `${info.hf.file} and ${info.hf.files.length - 1} more parts` : info.hf.file})` : '';
  // Asked before a large download: whether the browser keeps it under storage pressure.
  const persisted = info.storage_persisted === true ? ' Browser storage is persistent: the model stays until you delete it.'
    : info.storage_persisted === false ? ' The browser did not make its storage persistent: it may clear the cached model when space runs low.' : '';
  const how = info.from_cache ? 'loaded from browser storage, no download'
    : from.kind === 'file' ? `read from the file in ${info.load_seconds.toFixed(1)} s`
    // What came over the network: a resumed download's kept bytes were read back from storage.
    : `downloaded ${mb(Math.max(0, (bytes || info.weight_bytes) - kept))} MB in ${info.load_seconds.toFixed(1)} s${kept ? `, resumed after ${mb(kept)} MB kept from an earlier attempt` : ''}`;
  // Why no copy was kept (no room, another tab, a failed write), or why the
  // cached copy was used unchecked: the package's own words.
  const notice = info.cache_error ? ` Browser storage: ${info.cache_error.replace(/\.$/, '')}.` : '';
  // What the load accepted but the user should know (a context beyond training).
  const warnings = (info.warnings ?? []).map((w) => ` Warning: ${w.replace(/\.$/, '')}.`).join('');
  return `Ready: ${info.name}${hf}, ${how}. ${info.architecture}, ${info.layers} layers, context ${info.context} tokens, on ${gpu}.${notice}${persisted}${warnings}`;
}
