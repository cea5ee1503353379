// Files for the Documents tab, read in the tab: plain text and markdown as
// they are, HTML as its text (parsed by DOMPurify into an inert document: no
// script runs, nothing loads), PDF through pdf.js (pdfjs-dist, served from
// this origin with its worker; no eval, no font or wasm fetches). Folders
// come from a drop (directory entries) or an <input webkitdirectory>.
import DOMPurify from '../node_modules/dompurify/dist/purify.es.mjs';

/** Extensions read as documents, and how. */
const KINDS = { txt: 'text', text: 'text', md: 'text', markdown: 'text', html: 'html', htm: 'html', pdf: 'pdf' };
export const DOCUMENT_ACCEPT = Object.keys(KINDS).map((e) => `.${e}`).join(',');
/** Bounds, so one dropped file cannot take the tab's memory. */
const MAX_TEXT_BYTES = 32 * 2 ** 20;
const MAX_PDF_BYTES = 128 * 2 ** 20;
const MAX_FILES = 2000;

const extension = (name) => /\.([^./]+)$/.exec(name)?.[1].toLowerCase() ?? '';
export const documentKind = (name) => KINDS[extension(name)] ?? null;

/**
 * What a drop holds, taken while the drop event runs (its items are gone
 * after it): directory entries where the browser gives them, else the files.
 */
export function takeDrop(dataTransfer) {
  const entries = [...(dataTransfer?.items ?? [])].filter((i) => i.kind === 'file').map((i) => i.webkitGetAsEntry?.() ?? null);
  if (entries.length > 0 && entries.every(Boolean)) return { entries };
  return { files: [...(dataTransfer?.files ?? [])] };
}

const readEntries = (reader) => new Promise((resolve, reject) => reader.readEntries(resolve, reject));
const entryFile = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));

/** The files of a drop or a file input, folders walked: [{ file, path }]
 * (hidden files, whose names start with a dot, left out), and `skipped`. */
export async function collectFiles({ entries, files }) {
  const out = [];
  const skipped = [];
  const add = (file, path) => {
    if (file.name.startsWith('.')) return;
    if (out.length >= MAX_FILES) skipped.push({ path, reason: `more than ${MAX_FILES} files at once` });
    else out.push({ file, path });
  };
  if (files) for (const f of files) add(f, f.webkitRelativePath || f.name);
  const walk = async (entry) => {
    if (entry.isFile) return add(await entryFile(entry), entry.fullPath.replace(/^\//, ''));
    if (!entry.isDirectory || entry.name.startsWith('.')) return;
    const reader = entry.createReader();
    // readEntries gives at most 100 entries a call: call until it gives none.
    for (let batch = await readEntries(reader); batch.length > 0; batch = await readEntries(reader)) {
      for (const e of batch) await walk(e);
    }
  };
  for (const e of entries ?? []) await walk(e);
  return { files: out, skipped };
}

/** An HTML document's text: block elements end lines, scripts and styles are dropped. */
function htmlText(html) {
  const body = DOMPurify.sanitize(html, { RETURN_DOM: true, FORBID_TAGS: ['style', 'script', 'noscript', 'template', 'svg', 'math'] });
  const BLOCK = /^(P|DIV|SECTION|ARTICLE|HEADER|FOOTER|MAIN|NAV|ASIDE|H[1-6]|UL|OL|LI|DL|DT|DD|TABLE|TR|PRE|BLOCKQUOTE|FIGURE|FIGCAPTION|HR|ADDRESS|DETAILS|SUMMARY)$/;
  let out = '';
  const walk = (node) => {
    for (const n of node.childNodes) {
      if (n.nodeType === Node.TEXT_NODE) out += n.data;
      else if (n.nodeType === Node.ELEMENT_NODE) {
        if (n.tagName === 'BR') out += '\n';
        const block = BLOCK.test(n.tagName);
        if (block) out += '\n\n';
        walk(n);
        if (block) out += '\n\n';
      }
    }
  };
  walk(body);
  // Runs of spaces as a browser shows them; paragraphs kept apart by one blank line.
  return out.replace(/[ \t\r\f\v]+/g, ' ').replace(/ *\n */g, '\n').replace(/\n{3,}/g, '\n\n').trim();
}

let pdfjs = null;
async function pdfText(file) {
  if (!pdfjs) {
    pdfjs = await import('../node_modules/pdfjs-dist/build/pdf.min.mjs');
    pdfjs.GlobalWorkerOptions.workerSrc = new URL('../node_modules/pdfjs-dist/build/pdf.worker.min.mjs', import.meta.url).href;
  }
  const task = pdfjs.getDocument({
    data: new Uint8Array(await file.arrayBuffer()),
    // Text only: no fonts, wasm decoders or rendering worker are fetched or started.
    useWasm: false, disableFontFace: true, useSystemFonts: false, disableWorkerRendering: true, isImageDecoderSupported: false, verbosity: 0,
  });
  try {
    const doc = await task.promise;
    const pages = [];
    for (let i = 1; i <= doc.numPages; i++) {
      const page = await doc.getPage(i);
      const content = await page.getTextContent();
      pages.push(content.items.map((it) => (it.str ?? '') + (it.hasEOL ? '\n' : '')).join(''));
      page.cleanup();
    }
    return pages.join('\n\n');
  } finally {
    await task.destroy();
  }
}

/**
 * The text of one file, or why it has none: { text } or { reason }. The
 * reason is said in words ("not a document type …", "no text found …",
 * "could not be read as PDF: …").
 */
export async function readDocument(file) {
  const kind = documentKind(file.name);
  if (!kind) return { reason: `not a document type read here (${DOCUMENT_ACCEPT.replaceAll(',', ' ')})` };
  const limit = kind === 'pdf' ? MAX_PDF_BYTES : MAX_TEXT_BYTES;
  if (file.size > limit) return { reason: `larger than ${limit / 2 ** 20} MiB` };
  let text;
  try {
    if (kind === 'pdf') text = await pdfText(file);
    else if (kind === 'html') text = htmlText(await file.text());
    else {
      // A NUL byte does not occur in text: this is a binary file with a text name.
      if (kind === 'text' && new Uint8Array(await file.slice(0, 8192).arrayBuffer()).includes(0)) return { reason: 'not text (binary data: it has NUL bytes)' };
      text = await file.text();
    }
  } catch (err) {
    return { reason: `could not be read${kind === 'pdf' ? ' as PDF' : ''}: ${err?.message ?? err}` };
  }
  if (!text.trim()) return { reason: kind === 'pdf' ? 'no text found (a scanned PDF has only images of text)' : 'no text found' };
  return { text };
}
