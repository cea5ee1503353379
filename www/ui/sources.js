// Where a model comes from, as { model, label, kind, url? } for createEngine:
// a URL (made absolute against the page, since the engine fetches from a
// worker), or local File objects (read in the tab, never uploaded), in part
// order for a split GGUF (name-00001-of-00003.gguf …).
import { fileName } from './dom.js';

export const DEFAULT_MODEL = '../models/SmolLM2-135M-Instruct.Q4_1.gguf';
const SPLIT = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;

function filesError(message) {
  const err = new Error(message);
  err.code = 'page_files';
  return err;
}

export function urlSource(url) {
  const absolute = new URL(url, location.href);
  if (!['https:', 'http:', 'blob:'].includes(absolute.protocol)) throw filesError(`Not a model URL: ${url}`);
  return { model: absolute.href, url: absolute.href, label: fileName(absolute.href), kind: 'url' };
}

export const isDefault = (source) => source?.kind === 'url' && source.url === new URL(DEFAULT_MODEL, location.href).href;

/** One .gguf File, or every part of a split model (any order). Throws a
 * `page_files` error that says what to choose instead. */
export function filesSource(files) {
  const gguf = [...files].filter((f) => /\.gguf$/i.test(f.name));
  if (gguf.length === 0) throw filesError('Choose a .gguf model file.');
  if (gguf.length === 1) {
    const [file] = gguf;
    const m = SPLIT.exec(file.name);
    if (m && Number(m[3]) > 1) {
      throw filesError(`${file.name} is part ${Number(m[2])} of ${Number(m[3])} of a split model: choose all ${Number(m[3])} parts together.`);
    }
    return { model: file, label: file.name, kind: 'file', bytes: file.size };
  }
  const parts = gguf.map((f) => ({ file: f, m: SPLIT.exec(f.name) }));
  const bad = parts.find((p) => !p.m);
  if (bad) throw filesError(`${bad.file.name} is not part of a split model (name-00001-of-0000N.gguf): choose one model file, or every part of one split model.`);
  const [prefix, total] = [parts[0].m[1], Number(parts[0].m[3])];
  if (parts.some((p) => p.m[1] !== prefix || Number(p.m[3]) !== total)) throw filesError('These files are parts of different models: choose the parts of one model.');
  parts.sort((a, b) => Number(a.m[2]) - Number(b.m[2]));
  const missing = [];
  for (let i = 1; i <= total; i++) if (!parts.some((p) => Number(p.m[2]) === i)) missing.push(i);
  if (missing.length || parts.length !== total) {
    throw filesError(`${prefix} has ${total} parts; ${missing.length ? `part ${missing.join(', ')} is missing` : 'a part was chosen twice'}. Choose all ${total} parts together.`);
  }
  return {
    model: parts.map((p) => p.file),
    label: `${prefix}.gguf (${total} parts)`,
    kind: 'file',
    bytes: parts.reduce((n, p) => n + p.file.size, 0),
  };
}
