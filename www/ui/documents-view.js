// The Documents tab: "ask your documents", in the tab. Dropped files or
// folders are read here (ui/doc-files.js), cut into chunks and embedded by a
// second engine with its own embedding model (the package's DocumentIndex),
// and kept in IndexedDB, so a reload lists them without embedding again. A
// question retrieves the best chunks; the chat model answers from them as
// numbered sources, streamed; the sources (and the [n] in the answer) show
// their chunk highlighted in its document. Nothing leaves the tab.
//
// URL parameter `embed`: the embedding model's URL (else the last one used
// here, remembered in localStorage, else DEFAULT_EMBED_MODEL). Tests read
// document.body.dataset.docs ('none' | 'loading' | 'ready' | 'embedding' |
// 'saving' | 'error') and window.lastAnswer.
import { DocumentIndex, createEngine } from '../../pkg/tabllm.js';
import { $, fileName, h } from './dom.js';
import { collectFiles, readDocument } from './doc-files.js';
import { streamInto } from './markdown.js';

/** The one index the page keeps (IndexedDB, database tabllm-documents). */
const INDEX_NAME = 'page';
/** Where the last embedding model's URL is remembered (a URL only: a local file cannot be). */
const LAST_MODEL_KEY = 'tabllm.embedModel';
/** The embedding model loaded when none is chosen (no `embed` parameter, none
 * remembered): all-MiniLM-L6-v2 (sentence-transformers; 384 dimensions, mean
 * pooling, 512 positions), llama.cpp's Q8_0 of it, from the Hugging Face Hub.
 * tests/browser/embed.mjs checks the same model (f16) at cosine ≥ 0.999 with
 * sentence-transformers; tests/browser/retrieval.mjs measures its recall. */
export const DEFAULT_EMBED_MODEL = 'https://huggingface.co/second-state/All-MiniLM-L6-v2-Embedding-GGUF/resolve/main/all-MiniLM-L6-v2-Q8_0.gguf';
/** How the tab names it: its size is what the first visit downloads (then cached). */
export const DEFAULT_EMBED_LABEL = 'all-MiniLM-L6-v2 (Q8_0, 25 MB, from Hugging Face)';
/** The label of an embedding model's URL: the default's name and size, else the file name. */
const embedLabelOf = (url) => (url === DEFAULT_EMBED_MODEL ? DEFAULT_EMBED_LABEL : fileName(url));
/** The embedding engine's context: chunks are 200 tokens at most. */
const EMBED_CONTEXT = 512;
/** Sources given to the chat model at most. */
const SOURCES = 4;
/** Tokens the prompt keeps for the instruction, question and template. */
const PROMPT_ROOM = 160;
const SYSTEM = 'Answer the question using only the numbered sources. Cite each source you use by its number in brackets, like [1]. If the sources do not hold the answer, say so.';

/** @param app { engine(), settings, begin(kind) → AbortController, end(), fail(err) } */
export function initDocuments(app) {
  const params = new URLSearchParams(location.search);
  let embedEngine = null;
  let embedLabel = '';
  let index = null;
  let loadAc = null;
  let embedAc = null;
  let pending = []; // files dropped before the index was ready
  let started = false;
  let lastSources = [];
  let askAc = null;

  const setState = (s) => {
    document.body.dataset.docs = s;
    $('docs-stop').disabled = s !== 'embedding';
    $('ask-go').disabled = !index || index.size === 0 || s === 'embedding';
  };

  const say = (text) => ($('docs-progress').textContent = text);

  // ---- the embedding model ----------------------------------------------------

  async function loadEmbedModel(model, label) {
    loadAc?.abort();
    const ac = new AbortController();
    loadAc = ac;
    const old = embedEngine;
    embedEngine = null;
    index = null;
    setState('loading');
    $('embed-name').textContent = label;
    $('embed-status').textContent = 'Loading the embedding model…';
    try {
      if (old) await old.unload().catch(() => {});
      const engine = await createEngine({
        model, context: EMBED_CONTEXT, signal: ac.signal,
        onProgress: (p) => {
          if (p.fraction != null) $('embed-status').textContent = `Loading the embedding model: ${Math.floor(p.fraction * 100)}%…`;
        },
      });
      if (ac !== loadAc) return engine.unload();
      embedEngine = engine;
      embedLabel = label;
      if (typeof model === 'string') localStorage.setItem(LAST_MODEL_KEY, model);
      $('embed-status').textContent = `Embedding model: ${label} (${engine.info.architecture}), ${engine.info.backend === 'webgpu' ? 'on your GPU' : 'on your CPU'}.`;
      await openIndex(false);
    } catch (err) {
      if (ac !== loadAc) return;
      setState('error');
      $('embed-status').textContent = `Could not load ${label}: ${err.message}`;
      $('embed-chooser').open = true; // to choose another
    }
  }

  /** The kept index for this model, or a new one; another model's is offered for embedding again. */
  async function openIndex(rebuild) {
    $('docs-rebuild').replaceChildren();
    const stored = await DocumentIndex.peek(INDEX_NAME).catch(() => null);
    try {
      if (!stored) index = new DocumentIndex(embedEngine);
      else if (!rebuild) index = await DocumentIndex.open(embedEngine, INDEX_NAME);
      else {
        embedAc = new AbortController();
        setState('embedding');
        index = await DocumentIndex.open(embedEngine, INDEX_NAME, { rebuild: true, signal: embedAc.signal, onProgress: showProgress });
      }
    } catch (err) {
      if (err.code === 'invalid_request' && err.details?.field === 'engine') {
        setState('error');
        say(err.message);
        $('docs-rebuild').append(h('button', { type: 'button', onclick: () => openIndex(true) },
          `Embed the ${stored.documents.length} documents again with ${embedLabel}`));
        return;
      }
      setState('error');
      say(err.code === 'aborted' ? 'Stopped.' : `The kept documents could not be opened: ${err.message}`);
      return;
    } finally {
      embedAc = null;
    }
    setState('ready');
    showList();
    say(index.size ? `${index.size} document${index.size === 1 ? '' : 's'} ready.` : 'Drop files or a folder here to add them.');
    if (pending.length) {
      const next = pending;
      pending = [];
      addFiles(next);
    }
  }

  // ---- documents --------------------------------------------------------------

  function showProgress(p) {
    const bar = $('docs-bar');
    bar.hidden = false;
    if (p.chunks_total) {
      bar.max = p.chunks_total;
      bar.value = p.chunks_done;
      say(`Embedding: ${p.chunks_done} of ${p.chunks_total} chunks (${p.docs_done} of ${p.docs_total} documents done)…`);
    } else {
      bar.removeAttribute('value');
      say(`Cutting ${p.docs_total} document${p.docs_total === 1 ? '' : 's'} into chunks…`);
    }
  }

  function showList(stored) {
    const docs = index ? index.documents() : stored ?? [];
    $('docs-list').replaceChildren(...docs.map((d) => h('li', {},
      h('button', { type: 'button', class: 'linklike', onclick: () => showDocument(d.id) }, d.name),
      ` ${d.chunks} chunk${d.chunks === 1 ? '' : 's'}, ${d.chars.toLocaleString()} characters `,
      h('button', { type: 'button', class: 'remove', title: `Remove ${d.name}`, disabled: !index, onclick: () => removeDocument(d.id) }, 'Remove'))));
    $('docs-count').textContent = docs.length ? `${docs.length} document${docs.length === 1 ? '' : 's'}, kept in this browser` : 'No documents yet';
  }

  async function removeDocument(id) {
    if (!index || document.body.dataset.docs === 'embedding') return;
    index.remove(id);
    setState('saving');
    showList();
    if ($('doc-viewer').dataset.id === id) $('doc-viewer').hidden = true;
    try {
      await index.persist(INDEX_NAME);
    } catch (err) {
      say(`Removed here, but browser storage failed: ${err.message}`);
    }
    setState('ready');
  }

  /** Reads and adds files ({ entries } or { files }, as a drop or an input gives them). */
  async function addFiles(taken) {
    if (!index) {
      pending.push(taken);
      say(embedEngine || loadAc ? 'The files are added once the embedding model is loaded…' : 'Load an embedding model first: the files are added then.');
      return;
    }
    if (document.body.dataset.docs === 'embedding') {
      pending.push(taken);
      return;
    }
    embedAc = new AbortController();
    const ac = embedAc;
    setState('embedding');
    say('Reading the files…');
    const { files, skipped } = await collectFiles(taken);
    const docs = [];
    for (const { file, path } of files) {
      const r = await readDocument(file);
      if (r.text) docs.push({ id: path, name: path, text: r.text });
      else skipped.push({ path, reason: r.reason });
    }
    $('docs-skipped').replaceChildren(...skipped.map((s) => h('li', {}, `${s.path}: ${s.reason}`)));
    let note = '';
    try {
      if (docs.length) {
        const r = await index.add(docs, { signal: ac.signal, onProgress: showProgress });
        note = `Added ${r.added.length} document${r.added.length === 1 ? '' : 's'} (${r.chunks} chunks).`;
      } else note = 'No document to add.';
    } catch (err) {
      const added = err.details?.added?.length ?? 0;
      note = err.code === 'aborted' ? `Stopped: ${added} of ${docs.length} documents added.` : `Could not add the documents: ${err.message}`;
    }
    try {
      await index.persist(INDEX_NAME);
    } catch (err) {
      note += ` Browser storage failed, so they last only until the page is closed: ${err.message}`;
    }
    $('docs-bar').hidden = true;
    embedAc = null;
    setState('ready');
    showList();
    say(note);
    if (pending.length) addFiles(pending.shift());
  }

  // ---- the document viewer ----------------------------------------------------

  /** Shows a document, with [start, end) highlighted and scrolled to. */
  function showDocument(id, start = null, end = null) {
    const doc = index?.document(id);
    if (!doc) return;
    const viewer = $('doc-viewer');
    viewer.dataset.id = id;
    $('doc-viewer-name').textContent = doc.name;
    const text = $('doc-viewer-text');
    if (start === null) text.replaceChildren(doc.text);
    else {
      const mark = h('mark', {}, doc.text.slice(start, end));
      text.replaceChildren(doc.text.slice(0, start), mark, doc.text.slice(end));
      viewer.hidden = false;
      mark.scrollIntoView({ block: 'center' });
    }
    viewer.hidden = false;
  }

  // ---- asking -----------------------------------------------------------------

  function sourceItem(s, n) {
    return h('li', { id: `source-${n}` },
      h('button', { type: 'button', class: 'linklike', onclick: () => showDocument(s.docId, s.start, s.end) }, `[${n}] ${s.name}`),
      h('span', { class: 'hint' }, ` characters ${s.start.toLocaleString()}–${s.end.toLocaleString()}: `),
      h('q', {}, s.text.length > 160 ? `${s.text.slice(0, 160)}…` : s.text));
  }

  /** Turns each [n] of a source in the rendered answer into a button that shows it. */
  function linkCitations(el) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) if (/\[\d+\]/.test(walker.currentNode.data)) nodes.push(walker.currentNode);
    for (const node of nodes) {
      const parts = node.data.split(/(\[\d+\])/);
      node.replaceWith(...parts.map((p) => {
        const n = /^\[(\d+)\]$/.exec(p)?.[1];
        const s = n && lastSources[Number(n) - 1];
        return s ? h('button', { type: 'button', class: 'cite', onclick: () => showDocument(s.docId, s.start, s.end) }, p) : p;
      }));
    }
  }

  /** The sources that fit the chat model's context with the answer's max_tokens. */
  async function fitSources(engine, results, maxTokens) {
    let room = engine.info.context - maxTokens - PROMPT_ROOM;
    const out = [];
    for (const r of results) {
      const n = (await engine.tokenize(r.text)).length + 8;
      if (n > room) break;
      room -= n;
      out.push(r);
    }
    return out;
  }

  async function ask(question) {
    const engine = app.engine();
    if (!engine) return app.fail(Object.assign(new Error('Load a chat model first: it writes the answer.'), { code: 'page_files' }));
    if (!index || index.size === 0 || askAc || document.body.dataset.state === 'generating' || !app.settings.check()) return;
    const ac = app.begin('documents');
    askAc = ac;
    $('ask-stop').disabled = false;
    const answer = $('ask-answer');
    answer.replaceChildren();
    $('ask-sources').replaceChildren();
    const renderer = streamInto(answer);
    let content = '';
    try {
      $('ask-state').textContent = 'Finding the passages…';
      const maxTokens = app.settings.sampling().max_tokens ?? 256;
      const results = await index.search(question, { k: SOURCES });
      lastSources = await fitSources(engine, results, maxTokens);
      $('ask-sources').replaceChildren(...lastSources.map((s, i) => sourceItem(s, i + 1)));
      const sources = lastSources.map((s, i) => `[${i + 1}] ${s.name}\n${s.text}`).join('\n\n');
      $('ask-state').textContent = 'Writing the answer…';
      const stream = await engine.chat.completions.create({
        ...app.settings.sampling(),
        messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: `Sources:\n\n${sources}\n\nQuestion: ${question}` }],
        stream: true,
        signal: ac.signal,
      });
      for await (const chunk of stream) {
        const piece = chunk.choices[0]?.delta?.content;
        if (piece) {
          content += piece;
          renderer.set(content);
        }
      }
      renderer.set(content);
      renderer.flush();
      linkCitations(answer);
      $('ask-state').textContent = ac.signal.aborted ? 'Stopped.' : '';
      window.lastAnswer = { question, answer: content, sources: lastSources };
    } catch (err) {
      renderer.set(content);
      renderer.flush();
      if (ac.signal.aborted || err.code === 'aborted') $('ask-state').textContent = 'Stopped.';
      else {
        $('ask-state').textContent = '';
        app.fail(err);
      }
    } finally {
      askAc = null;
      $('ask-stop').disabled = true;
      app.end();
      setState(document.body.dataset.docs);
    }
  }

  // ---- wiring -----------------------------------------------------------------

  $('embed-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = $('embed-url').value.trim();
    if (url) loadEmbedModel(new URL(url, location.href).href, embedLabelOf(url));
  });
  $('embed-file').addEventListener('change', (e) => {
    const [file] = e.target.files;
    if (file) loadEmbedModel(file, file.name);
    e.target.value = '';
  });
  for (const id of ['docs-files', 'docs-folder']) {
    $(id).addEventListener('change', (e) => {
      const files = [...e.target.files];
      e.target.value = '';
      if (files.length) addFiles({ files });
    });
  }
  $('docs-stop').addEventListener('click', () => embedAc?.abort());
  $('ask-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('ask-input').value.trim();
    if (q) ask(q);
  });
  $('ask-stop').addEventListener('click', () => askAc?.abort());
  $('doc-viewer-close').addEventListener('click', () => ($('doc-viewer').hidden = true));
  setState('none');

  return {
    /** The first time the tab is shown: list what is kept, and load the embedding model if one is known. */
    async show() {
      if (started) return;
      started = true;
      const stored = await DocumentIndex.peek(INDEX_NAME).catch(() => null);
      if (!index && stored) showList(stored.documents);
      else showList();
      const model = params.get('embed') || localStorage.getItem(LAST_MODEL_KEY) || DEFAULT_EMBED_MODEL;
      $('embed-url').value = model;
      loadEmbedModel(new URL(model, location.href).href, embedLabelOf(model));
    },
    /** Files dropped on the page while the tab is shown (taken during the drop event). */
    drop(taken) {
      addFiles(taken);
    },
    get index() {
      return index;
    },
    /** Shows `text` as the answer to the last question, its [n] linked to the last sources (tests). */
    showAnswer(text) {
      const renderer = streamInto($('ask-answer'));
      renderer.set(text);
      renderer.flush();
      linkCitations($('ask-answer'));
    },
  };
}
