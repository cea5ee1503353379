// Where a model comes from, as { model, label, kind, url? } for createEngine:
// a URL (made absolute against the page, since the engine fetches from a
// worker), a Hugging Face name (`hf:OWNER/REPO[:QUANT]`, resolved by the
// package), or local File objects (read in the tab, never uploaded): every
// part of a split GGUF, in any order.
import { fileName } from './dom.js';

export const DEFAULT_MODEL = '../models/SmolLM2-135M-Instruct.Q4_1.gguf';
const SPLIT = /^(.*)-(\d{5})-of-(\d{5}).*\.gguf$/i;

function filesError(message) {
  const err = new Error(message);
  err.code = 'page_files';
  return err;
}

export function urlSource(url) {
  // A Hugging Face name: the package checks it and resolves it through the Hub.
  if (url.startsWith('hf:')) return { model: url, url, label: url.slice(3), kind: 'hf' };
  const absolute = new URL(url, location.href);
  if (!['https:', 'http:', 'blob:'].includes(absolute.protocol)) throw filesError(`Not a model URL: ${url}`);
  return { model: absolute.href, url: absolute.href, label: fileName(absolute.href), kind: 'url' };
}

export const isDefault = (source) => source?.kind === 'url' && source.url === new URL(DEFAULT_MODEL, location.href).href;

/** One .gguf File, or every part of a split model (any order). Throws a
 * `page_files` error that says what to choose instead. Whether a file is a
 * whole model or which part of a split one is read from its header by the
 * engine (`split.no`), never from its name: a lone part, or parts missing,
 * are refused there with what to choose. */
export function filesSource(files) {
  const gguf = [...files].filter((f) => /\.gguf$/i.test(f.name));
  if (gguf.length === 0) throw filesError('Choose a .gguf model file.');
  if (gguf.length === 1) {
    const [file] = gguf;
    return { model: file, label: file.name, kind: 'file', bytes: file.size };
  }
  // A label from gguf-split's names when they share one (name-00001-of-00003.gguf …).
  const named = gguf.map((f) => SPLIT.exec(f.name));
  const prefix = named[0]?.[1];
  const label = named.every((m) => m && m[1] === prefix) ? `${prefix}.gguf (${gguf.length} parts)` : `${gguf.length} files`;
  return {
    model: gguf,
    label,
    kind: 'file',
    bytes: gguf.reduce((n, f) => n + f.size, 0),
  };
}
