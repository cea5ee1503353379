// DocumentIndex: retrieval over documents, in the tab, on top of an embedding
// engine's public API alone (engine.tokenize, engine.embeddings.create,
// engine.info). Documents are cut into chunks on the embedding model's token
// counts, each chunk embedded and kept with its character range; a question is
// answered with the best chunks by cosine similarity, by BM25, or by both
// fused with reciprocal rank fusion (the default, chosen by measurement:
// pkg/README.md, "Ask your documents"). persist() keeps chunks and vectors in
// IndexedDB with the embedding model's identity, so a second visit does not
// embed again and an index is never searched with another model's vectors.
import { TabllmError } from './errors.js';

/** Options of `new DocumentIndex(engine, options)`; any other is refused by name. */
const INDEX_OPTIONS = ['chunkTokens', 'overlapTokens', 'queryPrefix', 'documentPrefix', 'retrieval', 'dimensions'];
const ADD_OPTIONS = ['signal', 'onProgress'];
const SEARCH_OPTIONS = ['k', 'retrieval', 'signal'];
const OPEN_OPTIONS = ['rebuild', 'signal', 'onProgress'];
const DOC_FIELDS = ['id', 'name', 'text'];
export const RETRIEVALS = ['hybrid', 'cosine', 'bm25'];
/** search()'s ranking unless the index or the call names one: cosine. With a
 * real embedding model (all-MiniLM-L6-v2) on tests/reference/retrieval/set.json
 * (49 paraphrased questions, 40 documents; tests/browser/retrieval.mjs) cosine
 * measured recall@1 0.96, recall@5 1.00, MRR 0.98; hybrid 0.76 / 0.94 / 0.83;
 * BM25 0.59 / 0.78 / 0.67 (pkg/README.md has the table). */
export const DEFAULT_RETRIEVAL = 'cosine';

/** Tokens of text per chunk by default (capped by the model's context). */
export const DEFAULT_CHUNK_TOKENS = 200;
/** Tokens two neighbouring chunks share by default (whole sentences, at most this many). */
export const DEFAULT_OVERLAP_TOKENS = 32;
/** Results of search() by default. */
export const DEFAULT_K = 5;
/** Positions a chunk's input needs besides its text: the specials the model
 * adds (BOS / CLS, EOS / SEP) and a little room. */
const SPECIAL_ROOM = 4;
/** Least chunk size: a budget below it cuts words into pieces. */
const MIN_CHUNK_TOKENS = 16;
/** Chunks per embeddings.create request. */
const EMBED_BATCH = 32;
/** Bounds on what add() takes, so a caller's mistake cannot exhaust memory. */
const MAX_DOCS = 100_000;
const MAX_ID = 512;
const MAX_NAME = 4096;
const MAX_PREFIX = 1024;
const MAX_K = 1000;
/** Reciprocal rank fusion's constant (Cormack, Clarke and Büttcher, SIGIR 2009: k = 60). */
const RRF_K = 60;
/** BM25's parameters, as Lucene's BM25Similarity defaults (k1 = 1.2, b = 0.75). */
const BM25_K1 = 1.2;
const BM25_B = 0.75;
/** Words BM25 does not count: Lucene's English stop set (EnglishAnalyzer) and
 * the question words a query starts with. */
const STOP = new Set(('a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with ' +
  'what who whom which when where why how does did do').split(' '));

const DB_NAME = 'tabllm-documents';
const DB_VERSION = 1;
/** The layout of a persisted index; a record of another format is refused. */
const FORMAT = 1;

const bad = (field, message, extra) => new TabllmError('invalid_request', message, { field, ...extra });
const shown = (v) => (typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v));
const given = (v) => v !== undefined && v !== null;
const isPlainObject = (v) => typeof v === 'object' && v !== null && [Object.prototype, null].includes(Object.getPrototypeOf(v));

/** Refuses, by name, keys of `opts` not in `known`. */
function checkKeys(where, opts, known) {
  if (opts === undefined || opts === null) return {};
  if (!isPlainObject(opts)) throw bad('options', `${where} takes an options object, got ${shown(opts)}`);
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) throw bad(k, `${where} has no option ${k} (it takes ${known.join(', ')})`);
  }
  return opts;
}

function checkInt(field, v, min, max) {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(field, `${field} must be an integer from ${min} to ${max}, got ${shown(v)}`, { min, max });
  }
  return v;
}

function checkSignal(field, v) {
  if (given(v) && !(typeof v === 'object' && typeof v.aborted === 'boolean' && typeof v.addEventListener === 'function')) throw bad(field, `${field} must be an AbortSignal`);
  return v ?? null;
}

function checkFunction(field, v) {
  if (given(v) && typeof v !== 'function') throw bad(field, `${field} must be a function`);
  return v ?? null;
}

function checkEngine(engine) {
  if (!engine || typeof engine.tokenize !== 'function' || typeof engine.embeddings?.create !== 'function' || !engine.info) {
    throw bad('engine', 'DocumentIndex needs an engine from createEngine() (with tokenize, embeddings.create and info)');
  }
  const context = engine.info.context;
  if (!Number.isInteger(context) || context < MIN_CHUNK_TOKENS + SPECIAL_ROOM) {
    throw bad('engine', `the embedding engine's context (${context}) is too small for chunks of ${MIN_CHUNK_TOKENS} tokens`);
  }
  return engine;
}

/** The options as given, checked (the ones that need the model's tokenizer are checked in add()). */
function checkIndexOptions(opts, context) {
  checkKeys('DocumentIndex', opts, INDEX_OPTIONS);
  const o = {};
  if (given(opts.chunkTokens)) o.chunkTokens = checkInt('chunkTokens', opts.chunkTokens, MIN_CHUNK_TOKENS, context - SPECIAL_ROOM);
  if (given(opts.overlapTokens)) {
    const most = Math.floor((o.chunkTokens ?? Math.min(DEFAULT_CHUNK_TOKENS, context - SPECIAL_ROOM)) / 2);
    o.overlapTokens = checkInt('overlapTokens', opts.overlapTokens, 0, most);
  }
  for (const k of ['queryPrefix', 'documentPrefix']) {
    if (!given(opts[k])) continue;
    if (typeof opts[k] !== 'string' || opts[k].length > MAX_PREFIX) throw bad(k, `${k} must be a string of at most ${MAX_PREFIX} characters, such as "search_query: "`);
    o[k] = opts[k];
  }
  if (given(opts.retrieval)) o.retrieval = checkRetrieval('retrieval', opts.retrieval);
  if (given(opts.dimensions)) o.dimensions = checkInt('dimensions', opts.dimensions, 1, 2 ** 20);
  return o;
}

function checkRetrieval(field, v) {
  if (!RETRIEVALS.includes(v)) throw bad(field, `${field} must be one of ${RETRIEVALS.map((r) => `'${r}'`).join(', ')}, got ${shown(v)}`);
  return v;
}

/** add()'s documents: an array of { id, name?, text }, each checked by name (`docs[2].text`). */
function checkDocs(docs) {
  if (!Array.isArray(docs)) throw bad('docs', `add() takes an array of { id, name, text }, got ${shown(docs)}`);
  if (docs.length > MAX_DOCS) throw bad('docs', `add() takes at most ${MAX_DOCS} documents at once, got ${docs.length}`);
  const ids = new Set();
  return docs.map((d, i) => {
    const at = `docs[${i}]`;
    if (!isPlainObject(d)) throw bad(at, `${at} must be an object { id, name, text }, got ${shown(d)}`);
    for (const k of Object.keys(d)) if (!DOC_FIELDS.includes(k)) throw bad(`${at}.${k}`, `${at}.${k} is not a document field (they are ${DOC_FIELDS.join(', ')})`);
    if (typeof d.id !== 'string' || d.id === '' || d.id.length > MAX_ID) throw bad(`${at}.id`, `${at}.id must be a string of 1 to ${MAX_ID} characters, got ${shown(d.id)}`);
    if (ids.has(d.id)) throw bad(`${at}.id`, `${at}.id ${JSON.stringify(d.id)} is given twice`);
    ids.add(d.id);
    if (given(d.name) && (typeof d.name !== 'string' || d.name.length > MAX_NAME)) throw bad(`${at}.name`, `${at}.name must be a string of at most ${MAX_NAME} characters`);
    if (typeof d.text !== 'string') throw bad(`${at}.text`, `${at}.text must be a string, got ${shown(d.text)}`);
    if (d.text.trim() === '') throw bad(`${at}.text`, `${at}.text (${JSON.stringify(d.id)}) has no text`);
    return { id: d.id, name: d.name ?? d.id, text: d.text };
  });
}

const aborted = (message, details) => new TabllmError('aborted', message, details);
const throwIfAborted = (signal, details) => {
  if (signal?.aborted) throw aborted('adding documents was aborted', details);
};

// ---- chunking ---------------------------------------------------------------

const sentenceSegmenter = typeof Intl !== 'undefined' && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: 'sentence' }) : null;

/** [a, b) ranges that cover [start, end) of `text`, cut at `level`:
 * 0 paragraphs (a blank line), 1 sentences (Intl.Segmenter, else . ! ? and a
 * space), 2 words (after white space), 3 halves (by code points). */
function cut(text, start, end, level) {
  const s = text.slice(start, end);
  const at = [];
  if (level === 0) for (const m of s.matchAll(/\n[ \t\r]*\n\s*/g)) at.push(m.index + m[0].length);
  else if (level === 1) {
    if (sentenceSegmenter) for (const seg of sentenceSegmenter.segment(s)) at.push(seg.index);
    else for (const m of s.matchAll(/[.!?]+["')\]]*\s+/g)) at.push(m.index + m[0].length);
  } else if (level === 2) for (const m of s.matchAll(/\s+/g)) at.push(m.index + m[0].length);
  else {
    let mid = Math.floor(s.length / 2);
    // Never between the halves of a surrogate pair.
    if (mid > 0 && /[\uDC00-\uDFFF]/.test(s[mid])) mid++;
    at.push(mid);
  }
  const bounds = [0, ...at.filter((x) => x > 0 && x < s.length), s.length];
  const out = [];
  for (let i = 1; i < bounds.length; i++) if (bounds[i] > bounds[i - 1]) out.push([start + bounds[i - 1], start + bounds[i]]);
  return out;
}

/** Trims white space off [a, b) of `text`. */
function trimRange(text, a, b) {
  while (a < b && /\s/.test(text[a])) a++;
  while (b > a && /\s/.test(text[b - 1])) b--;
  return [a, b];
}

/**
 * Cuts `text` into chunks of at most `budget` tokens (as `count` counts
 * them: the embedding model's tokenizer), at paragraph ends where it can,
 * else sentence ends, else between words, else inside a word. Neighbouring
 * chunks share the whole sentences (segments) at the end of the first that
 * together hold at most `overlap` tokens. Each chunk is `{ start, end,
 * tokens }`: its [start, end) range of `text` (UTF-16 code units, white
 * space trimmed), and its own token count, measured on its text as a whole.
 */
export async function chunkText(text, { budget, overlap, count, signal }) {
  // Pieces of at most `budget` tokens each, in order.
  const segs = [];
  const walk = async (a, b, level) => {
    for (const [x, y] of cut(text, a, b, level)) {
      const [tx, ty] = trimRange(text, x, y);
      if (tx === ty) continue;
      throwIfAborted(signal);
      const tokens = await count(text.slice(tx, ty));
      if (tokens <= budget || ty - tx <= 1) segs.push({ start: tx, end: ty, tokens });
      else await walk(tx, ty, Math.min(level + 1, 3));
    }
  };
  await walk(0, text.length, 0);
  const chunks = [];
  let i = 0;
  while (i < segs.length) {
    let j = i;
    let sum = 0;
    while (j < segs.length && (j === i || sum + segs[j].tokens <= budget)) sum += segs[j++].tokens;
    // Measured whole: tokens at the joins can differ from the pieces' sum.
    let tokens = await count(text.slice(segs[i].start, segs[j - 1].end));
    while (tokens > budget && j - 1 > i) {
      j--;
      tokens = await count(text.slice(segs[i].start, segs[j - 1].end));
    }
    chunks.push({ start: segs[i].start, end: segs[j - 1].end, tokens });
    if (j >= segs.length) break;
    // The next chunk starts with the last pieces of this one, up to `overlap` tokens.
    let k = j;
    let shared = 0;
    while (k - 1 > i && shared + segs[k - 1].tokens <= overlap) shared += segs[--k].tokens;
    i = k;
  }
  return chunks;
}

// ---- BM25 -------------------------------------------------------------------

/** The words BM25 counts: lower-cased runs of letters and digits (NFKC), stop words left out. */
export function terms(text) {
  return (text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !STOP.has(w));
}

function termCounts(text) {
  const tf = new Map();
  const words = terms(text);
  for (const w of words) tf.set(w, (tf.get(w) ?? 0) + 1);
  return { tf, length: words.length };
}

// ---- vectors ----------------------------------------------------------------

const dot = (v, data, offset, n) => {
  let s = 0;
  for (let i = 0; i < n; i++) s += v[i] * data[offset + i];
  return s;
};

function normalized(v) {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return n > 0 ? Float32Array.from(v, (x) => x / n) : Float32Array.from(v);
}

// ---- IndexedDB --------------------------------------------------------------

const request = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

function storageError(err) {
  return new TabllmError('storage', `browser storage (IndexedDB) failed: ${err?.name ?? 'Error'}: ${err?.message ?? err}`);
}

async function openDb() {
  if (typeof indexedDB === 'undefined') throw new TabllmError('storage', 'this browser has no IndexedDB: the index cannot be kept');
  try {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('indexes')) db.createObjectStore('indexes', { keyPath: 'name' });
      if (!db.objectStoreNames.contains('docs')) db.createObjectStore('docs', { keyPath: ['index', 'id'] });
    };
    return await request(req);
  } catch (err) {
    throw storageError(err);
  }
}

/** Runs `fn(stores)` in one transaction over both stores; resolves when it commits. */
async function transact(mode, fn) {
  const db = await openDb();
  try {
    const tx = db.transaction(['indexes', 'docs'], mode);
    const done = new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('the transaction was aborted'));
    });
    const result = await fn({ indexes: tx.objectStore('indexes'), docs: tx.objectStore('docs') });
    await done;
    return result;
  } catch (err) {
    throw err instanceof TabllmError ? err : storageError(err);
  } finally {
    db.close();
  }
}

const docRange = (name) => IDBKeyRange.bound([name, ''], [name, '\uffff\uffff']);

function checkName(name) {
  if (typeof name !== 'string' || name === '' || name.length > MAX_ID) throw bad('name', `an index name must be a string of 1 to ${MAX_ID} characters, got ${shown(name)}`);
  return name;
}

/** What identifies the embedding model an index was made with: ModelInfo's
 * name (general.name or the file name), architecture, sizes (weight and
 * header bytes: together the file's size, less padding), vocabulary and
 * layers; the vectors' width is kept beside it. */
export function modelIdentity(info) {
  return { name: info.name, architecture: info.architecture, weight_bytes: info.weight_bytes, header_bytes: info.header_bytes, vocab: info.vocab, layers: info.layers };
}
/**
 * The query and document prefixes an embedding model's card asks for in
 * retrieval, by its architecture and name (ModelInfo), or '' where it asks
 * for none (all-MiniLM, bge-*-v1 without v1.5's instruction). The option
 * `queryPrefix` / `documentPrefix` given to DocumentIndex overrides them
 * ('' turns one off). Sources, each model's card on Hugging Face:
 * nomic-embed-text v1/v1.5 ("search_query: " / "search_document: "),
 * EmbeddingGemma ("task: search result | query: " / "title: none | text: "),
 * Qwen3-Embedding ("Instruct: {task}\nQuery:" before queries only, with its
 * web-search task), bge-*-en-v1.5 ("Represent this sentence for searching
 * relevant passages: " before queries only).
 * @returns {{ query: string, document: string }}
 */
export function modelPrefixes(info) {
  const arch = info?.architecture ?? '';
  const name = String(info?.name ?? '');
  if (arch === 'nomic-bert') return { query: 'search_query: ', document: 'search_document: ' };
  if (arch === 'gemma-embedding') return { query: 'task: search result | query: ', document: 'title: none | text: ' };
  if (arch === 'qwen3' && /embedding/i.test(name)) return { query: 'Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:', document: '' };
  if (arch === 'bert' && /bge/i.test(name) && /v1\.5/i.test(name) && !/\bzh\b/i.test(name)) return { query: 'Represent this sentence for searching relevant passages: ', document: '' };
  return { query: '', document: '' };
}

const sameModel = (a, b) => Object.keys(modelIdentity(a)).every((k) => a[k] === b[k]);
const describeModel = (m) => `${m.name} (${m.architecture}, ${(m.weight_bytes / 1e6).toFixed(1)} MB)`;

// ---- the index --------------------------------------------------------------

export class DocumentIndex {
  #engine;
  #given;
  #docs = new Map(); // id → { id, name, text, chunks: [{ start, end, tokens, tf, length }], vectors: Float32Array (chunks × dim) }
  #dim = null;
  #df = new Map(); // term → chunks holding it
  #chunkCount = 0;
  #termTotal = 0;
  #saved = null; // { name, dirty: Set<id>, removed: Set<id> } since the last persist() or open()

  /**
   * @param engine an engine from createEngine() whose model embeds (see
   *   embeddings.create).
   * @param options { chunkTokens, overlapTokens, queryPrefix, documentPrefix,
   *   retrieval, dimensions }: see DocumentIndexOptions in tabllm.d.ts.
   * Throws TabllmError `invalid_request` naming the option (details.field).
   */
  constructor(engine, options = {}) {
    this.#engine = checkEngine(engine);
    this.#given = checkIndexOptions(options ?? {}, engine.info.context);
  }

  /** The options in force: those given, and the defaults for the others.
   * `chunkTokens` is resolved against the model's context and prefix in add(). */
  get options() {
    const context = this.#engine.info.context;
    const chunkTokens = this.#given.chunkTokens ?? Math.min(DEFAULT_CHUNK_TOKENS, context - SPECIAL_ROOM);
    return {
      chunkTokens,
      overlapTokens: this.#given.overlapTokens ?? Math.min(DEFAULT_OVERLAP_TOKENS, Math.floor(chunkTokens / 2)),
      queryPrefix: this.#given.queryPrefix ?? modelPrefixes(this.#engine.info).query,
      documentPrefix: this.#given.documentPrefix ?? modelPrefixes(this.#engine.info).document,
      retrieval: this.#given.retrieval ?? DEFAULT_RETRIEVAL,
      dimensions: this.#given.dimensions ?? null,
    };
  }

  /** The embedding model's identity (modelIdentity) and the vectors' width (null before the first embedding). */
  get model() {
    return { ...modelIdentity(this.#engine.info), n_embd: this.#dim };
  }

  /** Documents in the order added: [{ id, name, chars, chunks }]. */
  documents() {
    return [...this.#docs.values()].map((d) => ({ id: d.id, name: d.name, chars: d.text.length, chunks: d.chunks.length }));
  }

  /** One document's whole text, or null. */
  document(id) {
    const d = this.#docs.get(id);
    return d ? { id: d.id, name: d.name, text: d.text } : null;
  }

  /** One document's chunks: [{ index, start, end, tokens, text }], or null. */
  chunks(id) {
    const d = this.#docs.get(id);
    return d ? d.chunks.map((c, index) => ({ index, start: c.start, end: c.end, tokens: c.tokens, text: d.text.slice(c.start, c.end) })) : null;
  }

  get size() {
    return this.#docs.size;
  }

  /** Token budget of a chunk's text: chunkTokens, or the default less what
   * the document prefix takes; refused when the prefix leaves no room. */
  async #budget() {
    const o = this.options;
    const context = this.#engine.info.context;
    const prefix = o.documentPrefix ? (await this.#engine.tokenize(o.documentPrefix)).length : 0;
    const room = context - SPECIAL_ROOM - prefix;
    if (this.#given.chunkTokens !== undefined) {
      if (this.#given.chunkTokens > room) throw bad('chunkTokens', `chunkTokens ${this.#given.chunkTokens} does not fit the embedding model's context of ${context} tokens with the document prefix (${prefix} tokens): at most ${room}`);
      return { budget: this.#given.chunkTokens, overlap: o.overlapTokens };
    }
    if (room < MIN_CHUNK_TOKENS) throw bad('documentPrefix', `the document prefix (${prefix} tokens) leaves less than ${MIN_CHUNK_TOKENS} tokens of the context (${context}) for text`);
    const budget = Math.min(o.chunkTokens, room);
    return { budget, overlap: Math.min(o.overlapTokens, Math.floor(budget / 2)) };
  }

  /**
   * Chunks and embeds `docs` ([{ id, name?, text }]) and adds them; a
   * document whose id is already here is replaced. Each document is added
   * whole once all its chunks are embedded: an abort (`signal`) stops at the
   * next request, keeps the documents finished before it and rejects with
   * TabllmError `aborted`, details `{ added: [ids] }`. `onProgress({
   * docs_done, docs_total, chunks_done, chunks_total })` after each chunk
   * (totals are known once every document is chunked; before that,
   * `chunks_total` is null). Resolves to `{ added: [{ id, chunks }], chunks,
   * tokens }` (tokens: the chunks' text tokens).
   */
  async add(docs, opts = {}) {
    const { signal, onProgress } = checkKeys('add()', opts, ADD_OPTIONS);
    checkSignal('signal', signal);
    checkFunction('onProgress', onProgress);
    const list = checkDocs(docs);
    const { budget, overlap } = await this.#budget();
    const count = async (t) => (await this.#engine.tokenize(t)).length;
    const added = [];
    throwIfAborted(signal, { added });
    // Chunk everything first, so progress has its totals.
    const planned = [];
    for (const d of list) {
      onProgress?.({ docs_done: 0, docs_total: list.length, chunks_done: 0, chunks_total: null });
      planned.push({ ...d, chunks: await chunkText(d.text, { budget, overlap, count, signal }) });
    }
    const total = planned.reduce((n, d) => n + d.chunks.length, 0);
    const prefix = this.options.documentPrefix;
    let done = 0;
    let tokens = 0;
    for (const d of planned) {
      const vectors = [];
      for (let b = 0; b < d.chunks.length; b += EMBED_BATCH) {
        throwIfAborted(signal, { added: added.map((a) => a.id) });
        const batch = d.chunks.slice(b, b + EMBED_BATCH);
        const before = done;
        let out;
        try {
          out = await this.#engine.embeddings.create({
            input: batch.map((c) => prefix + d.text.slice(c.start, c.end)),
            ...(this.#given.dimensions !== undefined && { dimensions: this.#given.dimensions }),
            ...(signal && { signal }),
            onProgress: (p) => onProgress?.({ docs_done: added.length, docs_total: planned.length, chunks_done: before + p.inputs_done, chunks_total: total }),
          });
        } catch (err) {
          if (err?.code === 'aborted') throw aborted('adding documents was aborted', { added: added.map((a) => a.id) });
          throw err;
        }
        done += batch.length;
        for (const e of out.data) vectors.push(normalized(e.embedding));
      }
      this.#setWidth(vectors[0].length);
      const flat = new Float32Array(vectors.length * this.#dim);
      vectors.forEach((v, i) => flat.set(v, i * this.#dim));
      this.#put({ id: d.id, name: d.name, text: d.text, chunks: d.chunks }, flat);
      tokens += d.chunks.reduce((n, c) => n + c.tokens, 0);
      added.push({ id: d.id, chunks: d.chunks.length });
      onProgress?.({ docs_done: added.length, docs_total: planned.length, chunks_done: done, chunks_total: total });
    }
    return { added, chunks: done, tokens };
  }

  #setWidth(n) {
    if (this.#dim === null) this.#dim = n;
    else if (n !== this.#dim) throw bad('engine', `the embedding model gives vectors of ${n} components; this index holds vectors of ${this.#dim}`);
  }

  /** Stores a document (replacing one of its id) and counts its words for BM25. */
  #put(doc, vectors) {
    this.#drop(doc.id);
    const chunks = doc.chunks.map((c) => ({ start: c.start, end: c.end, tokens: c.tokens, ...termCounts(doc.text.slice(c.start, c.end)) }));
    for (const c of chunks) {
      for (const w of c.tf.keys()) this.#df.set(w, (this.#df.get(w) ?? 0) + 1);
      this.#termTotal += c.length;
    }
    this.#chunkCount += chunks.length;
    this.#docs.set(doc.id, { id: doc.id, name: doc.name, text: doc.text, chunks, vectors });
    this.#saved?.dirty.add(doc.id);
    this.#saved?.removed.delete(doc.id);
  }

  #drop(id) {
    const d = this.#docs.get(id);
    if (!d) return false;
    for (const c of d.chunks) {
      for (const w of c.tf.keys()) {
        const n = this.#df.get(w) - 1;
        if (n > 0) this.#df.set(w, n);
        else this.#df.delete(w);
      }
      this.#termTotal -= c.length;
    }
    this.#chunkCount -= d.chunks.length;
    this.#docs.delete(id);
    return true;
  }

  /** Removes a document and its chunks; true if it was here. persist() makes it last. */
  remove(id) {
    const had = this.#drop(id);
    if (had && this.#saved) {
      this.#saved.dirty.delete(id);
      this.#saved.removed.add(id);
    }
    return had;
  }

  /**
   * The `k` chunks (default 5, at most 1000) that best answer `query`,
   * best first: [{ docId, name, chunk, text, start, end, score, cosine,
   * bm25 }]. `chunk` is the chunk's index in its document, [start, end) its
   * range of the document's text (UTF-16 code units). `retrieval` (default:
   * the index's, else DEFAULT_RETRIEVAL, 'cosine'): 'cosine' ranks by the cosine of the query's embedding
   * (with queryPrefix) and the chunk's; 'bm25' by BM25 over the chunks'
   * words (Lucene's defaults: k1 1.2, b 0.75); 'hybrid' fuses both
   * rankings by reciprocal rank (score = Σ 1 / (60 + rank), Cormack et al.
   * 2009), a chunk without a query word being absent from the BM25 ranking.
   * `score` is the ranking's own (cosine, BM25, or fused); `cosine` is null
   * in 'bm25' mode. An empty index gives [].
   */
  async search(query, opts = {}) {
    const o = checkKeys('search()', opts, SEARCH_OPTIONS);
    if (typeof query !== 'string' || query.trim() === '') throw bad('query', `search() needs a query: a non-empty string, got ${shown(query)}`);
    const k = given(o.k) ? checkInt('k', o.k, 1, MAX_K) : DEFAULT_K;
    const retrieval = given(o.retrieval) ? checkRetrieval('retrieval', o.retrieval) : this.options.retrieval;
    const signal = checkSignal('signal', o.signal);
    const rows = [];
    for (const d of this.#docs.values()) d.chunks.forEach((c, i) => rows.push({ d, c, i, cosine: null, bm25: 0 }));
    if (rows.length === 0) return [];
    if (retrieval !== 'bm25') {
      const out = await this.#engine.embeddings.create({
        input: this.options.queryPrefix + query,
        ...(this.#given.dimensions !== undefined && { dimensions: this.#given.dimensions }),
        ...(signal && { signal }),
      });
      const q = normalized(out.data[0].embedding);
      if (this.#dim !== null && q.length !== this.#dim) throw bad('engine', `the query's embedding has ${q.length} components; this index holds vectors of ${this.#dim}`);
      for (const r of rows) r.cosine = dot(q, r.d.vectors, r.i * this.#dim, this.#dim);
    }
    if (retrieval !== 'cosine') {
      const words = [...new Set(terms(query))];
      const n = this.#chunkCount;
      const avg = this.#termTotal / n || 1;
      for (const r of rows) {
        let s = 0;
        for (const w of words) {
          const tf = r.c.tf.get(w);
          if (!tf) continue;
          const df = this.#df.get(w);
          const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
          s += idf * (tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * r.c.length / avg));
        }
        r.bm25 = s;
      }
    }
    // Ties keep the order of the documents and chunks.
    const by = (key) => rows.map((r, at) => ({ r, at })).filter(({ r }) => key !== 'bm25' || r.bm25 > 0)
      .sort((a, b) => b.r[key] - a.r[key] || a.at - b.at).map(({ r }) => r);
    let ranked;
    if (retrieval === 'hybrid') {
      const fused = new Map(rows.map((r) => [r, 0]));
      for (const list of [by('cosine'), by('bm25')]) list.forEach((r, rank) => fused.set(r, fused.get(r) + 1 / (RRF_K + rank + 1)));
      for (const r of rows) r.score = fused.get(r);
      ranked = rows.map((r, at) => ({ r, at })).sort((a, b) => b.r.score - a.r.score || a.at - b.at).map(({ r }) => r);
    } else {
      ranked = by(retrieval);
      for (const r of ranked) r.score = r[retrieval];
    }
    return ranked.slice(0, k).map(({ d, c, i, score, cosine, bm25 }) => ({
      docId: d.id, name: d.name, chunk: i, text: d.text.slice(c.start, c.end), start: c.start, end: c.end, score, cosine, bm25,
    }));
  }

  /**
   * Keeps the index in IndexedDB (database `tabllm-documents`) under
   * `name`, with each document's text, chunk ranges and vectors, the
   * options and the embedding model's identity. Saving again under the same
   * name writes only what changed since. Rejects with `storage` when the
   * browser refuses (no IndexedDB, quota).
   */
  async persist(name) {
    checkName(name);
    const o = this.options;
    const record = { name, format: FORMAT, model: modelIdentity(this.#engine.info), dim: this.#dim, options: this.#given, resolved: o, ids: [...this.#docs.keys()] };
    const incremental = this.#saved?.name === name;
    const writes = incremental ? [...this.#saved.dirty] : [...this.#docs.keys()];
    await transact('readwrite', async ({ indexes, docs }) => {
      if (!incremental) docs.delete(docRange(name));
      else for (const id of this.#saved.removed) docs.delete([name, id]);
      for (const id of writes) {
        const d = this.#docs.get(id);
        docs.put({ index: name, id, name: d.name, text: d.text, chunks: d.chunks.map((c) => ({ start: c.start, end: c.end, tokens: c.tokens })), vectors: d.vectors });
      }
      indexes.put(record);
    });
    this.#saved = { name, dirty: new Set(), removed: new Set() };
    return { name, documents: this.#docs.size, written: writes.length };
  }

  /**
   * What is kept under `name` without loading its vectors: `{ name, model:
   * { …identity, n_embd }, options, documents: [{ id, name, chars, chunks }] }`,
   * or null when there is none.
   */
  static async peek(name) {
    checkName(name);
    return transact('readonly', async ({ indexes, docs }) => {
      const rec = await request(indexes.get(name));
      if (!rec) return null;
      const all = await request(docs.getAll(docRange(name)));
      const byId = new Map(all.map((d) => [d.id, d]));
      const documents = rec.ids.filter((id) => byId.has(id)).map((id) => {
        const d = byId.get(id);
        return { id, name: d.name, chars: d.text.length, chunks: d.chunks.length };
      });
      return { name, model: { ...rec.model, n_embd: rec.dim }, options: rec.resolved, documents };
    });
  }

  /** Names of the kept indexes. */
  static async list() {
    return transact('readonly', async ({ indexes }) => (await request(indexes.getAllKeys())).map(String));
  }

  /** Deletes the index kept under `name`; true if there was one. */
  static async delete(name) {
    checkName(name);
    return transact('readwrite', async ({ indexes, docs }) => {
      const had = (await request(indexes.count(name))) > 0;
      indexes.delete(name);
      docs.delete(docRange(name));
      return had;
    });
  }

  /**
   * The index kept under `name`, for `engine`: no document is embedded
   * again. An index made with another embedding model (modelIdentity
   * differs) is refused with `invalid_request` (details: { field: 'engine',
   * stored, loaded }) naming both models, unless `rebuild: true`: then its
   * documents are chunked and embedded again with this engine (`signal`,
   * `onProgress` as in add()) and the index is saved under `name` again.
   * No index under `name`: `invalid_request` (details.field 'name').
   */
  static async open(engine, name, opts = {}) {
    checkEngine(engine);
    checkName(name);
    const { rebuild = false, signal, onProgress } = checkKeys('DocumentIndex.open()', opts, OPEN_OPTIONS);
    if (typeof rebuild !== 'boolean') throw bad('rebuild', 'rebuild must be true or false');
    checkSignal('signal', signal);
    checkFunction('onProgress', onProgress);
    const { rec, docs } = await transact('readonly', async (s) => {
      const r = await request(s.indexes.get(name));
      return { rec: r, docs: r ? await request(s.docs.getAll(docRange(name))) : [] };
    });
    if (!rec) throw bad('name', `no document index is kept under the name ${JSON.stringify(name)}`);
    if (rec.format !== FORMAT) throw new TabllmError('storage', `the index ${JSON.stringify(name)} was kept in another format (${rec.format}; this package reads ${FORMAT}): delete it and add its documents again`);
    const byId = new Map(docs.map((d) => [d.id, d]));
    const ordered = rec.ids.filter((id) => byId.has(id)).map((id) => byId.get(id));
    const loaded = modelIdentity(engine.info);
    let index;
    try {
      index = new DocumentIndex(engine, rec.options);
    } catch (err) {
      if (!rebuild) throw err;
      // The new model's context cannot take the old chunk size: its default then.
      const { chunkTokens, overlapTokens, ...rest } = rec.options;
      index = new DocumentIndex(engine, rest);
    }
    if (!sameModel(rec.model, loaded)) {
      if (!rebuild) {
        throw bad('engine', `the document index ${JSON.stringify(name)} was made with the embedding model ${describeModel(rec.model)}; the loaded one is ${describeModel(loaded)}: ` +
          'open it with { rebuild: true } to embed its documents again with this model, or load the model it was made with', { stored: rec.model, loaded });
      }
      await index.add(ordered.map((d) => ({ id: d.id, name: d.name, text: d.text })), { signal, onProgress });
      await index.persist(name);
      return index;
    }
    for (const d of ordered) {
      index.#setWidth(d.vectors.length / Math.max(d.chunks.length, 1));
      index.#put({ id: d.id, name: d.name, text: d.text, chunks: d.chunks }, d.vectors);
    }
    if (rec.dim !== null && index.#dim === null) index.#dim = rec.dim;
    index.#saved = { name, dirty: new Set(), removed: new Set() };
    return index;
  }
}
