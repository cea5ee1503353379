// "Ask your documents" (issue 31, items 3 and 4) in headless Chromium.
// The package's DocumentIndex through the packed package, as an app imports
// it: chunks within the token budget and exact slices of their document,
// cosine / BM25 / hybrid ranks on a tiny set, persist / open without
// embedding again, another model's index refused by name (or rebuilt), bad
// options refused by name, an abort keeping the documents finished. Then the
// page's Documents tab: three documents (.txt, .md, .html) and a .pdf
// dropped as a synthetic drop, an unsupported file listed with its reason,
// a question answered by the chat model (SmolLM2) whose top and cited source
// is the document holding the answer, clicking a source shows its chunk
// highlighted, a reload lists the documents without embedding again
// (embed requests counted at the worker), Remove, Stop during embedding, and
// no request leaving 127.0.0.1 during the whole mode.
//
// The embedding model is EMBED_MODEL (env, a URL on this server): the real
// all-MiniLM-L6-v2 (models/, made by scripts/fetch-models.sh). The page's
// question shares no word with the document that answers it (a paraphrase),
// so BM25 ranks nothing and the embedding alone finds the source.
// Usage: node tests/browser/documents.mjs   (after scripts/build-web.sh). ONLY=regex runs the checks whose names match.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { installPackage, repo, shared, start, tinyPdf } from './harness.mjs';

const EMBED_MODEL = process.env.EMBED_MODEL ?? '/models/all-MiniLM-L6-v2-f16.gguf';
const OTHER_EMBED_MODEL = '/tests/reference/tiny/tiny-llamaemb_mean-q8_0.gguf';
const TINY = 'tiny-llama-q4_0.gguf';
mkdirSync(join(repo, 'models'), { recursive: true });
if (!existsSync(join(repo, 'models', TINY))) copyFileSync(join(shared, 'tiny', TINY), join(repo, 'models', TINY));
installPackage();
const t0 = Date.now();

const h = await start();
const only = process.env.ONLY ? new RegExp(process.env.ONLY, 'i') : null;
const check = (name, fn) => (only && !only.test(name) ? null : h.check(name, fn));

// ---- DocumentIndex through the package ----------------------------------------

{
  const { page } = await h.open('/tests/browser/app/index.html');
  await page.waitForSelector('body[data-ready]');
  // One embedding engine for the unit checks, its embeddings.create calls counted.
  await page.evaluate(async (url) => {
    window.embedEngine = await tabllm.createEngine({ model: url, backend: 'cpu', context: 256, cache: false });
    const create = window.embedEngine.embeddings.create;
    window.embedCalls = 0;
    window.embedEngine.embeddings.create = (req) => {
      window.embedCalls++;
      return create(req);
    };
    window.fail = (p) => Promise.resolve().then(p).then(() => 'accepted', (e) => `${e.code} ${e.details?.field ?? ''}: ${e.message}`);
  }, EMBED_MODEL);

  await check('chunks hold at most chunkTokens tokens of the embedding model, are exact slices of their document, cover it, and end at paragraph or sentence ends', async () => {
    const r = await page.evaluate(async () => {
      const engine = window.embedEngine;
      const sentence = (p, s) => `Paragraph ${p} sentence ${s} tells of harbour ${p * 7 + s} and its boats.`;
      const paragraphs = Array.from({ length: 12 }, (_, p) => Array.from({ length: 1 + (p % 4) }, (_, s) => sentence(p, s)).join(' '));
      // One run-on "sentence" longer than a chunk: cut between words.
      paragraphs.push(`${'long '.repeat(90)}end.`);
      const text = paragraphs.join('\n\n');
      const index = new tabllm.DocumentIndex(engine, { chunkTokens: 32, overlapTokens: 8 });
      const progress = [];
      const added = await index.add([{ id: 'doc', name: 'Doc', text }], { onProgress: (p) => progress.push(p) });
      const chunks = index.chunks('doc');
      const measured = [];
      for (const c of chunks) measured.push((await engine.tokenize(c.text)).length);
      return { text, chunks, measured, added, progress, options: index.options, model: index.model };
    });
    assert.deepEqual(r.options, { chunkTokens: 32, overlapTokens: 8, queryPrefix: '', documentPrefix: '', retrieval: 'cosine', dimensions: null });
    assert.equal(r.added.added[0].chunks, r.chunks.length);
    assert.ok(r.chunks.length >= 8, `${r.chunks.length} chunks`);
    assert.ok(r.model.n_embd > 0, JSON.stringify(r.model));
    let covered = 0;
    for (const [i, c] of r.chunks.entries()) {
      assert.ok(r.measured[i] <= 32, `chunk ${i} has ${r.measured[i]} tokens: ${JSON.stringify(c.text)}`);
      assert.equal(c.tokens, r.measured[i]);
      assert.equal(c.text, r.text.slice(c.start, c.end));
      assert.equal(c.text, c.text.trim());
      if (i > 0) assert.ok(c.start > r.chunks[i - 1].start, 'chunks move forward');
      // Every character between the chunks is white space: nothing is dropped.
      assert.match(r.text.slice(covered, Math.max(covered, c.start)), /^\s*$/, `text dropped before chunk ${i}`);
      covered = Math.max(covered, c.end);
      // A chunk ends at a paragraph or sentence end, except inside the run-on sentence.
      if (!c.text.endsWith('long')) assert.match(c.text, /[.]$/, `chunk ${i} ends mid-sentence: ${JSON.stringify(c.text.slice(-30))}`);
    }
    assert.equal(covered, r.text.length);
    // Overlap: some chunk starts before the previous one ends.
    assert.ok(r.chunks.some((c, i) => i > 0 && c.start < r.chunks[i - 1].end), 'no chunks overlap');
    const last = r.progress.at(-1);
    assert.deepEqual(last, { docs_done: 1, docs_total: 1, chunks_done: r.chunks.length, chunks_total: r.chunks.length });
  });

  await check('search ranks: cosine puts a chunk\'s own text first (cosine 1), BM25 the chunk with the rare words, hybrid is reciprocal rank fusion of both', async () => {
    const r = await page.evaluate(async () => {
      const index = new tabllm.DocumentIndex(window.embedEngine);
      await index.add([
        { id: 'a', name: 'a.txt', text: 'The Varnholm lighthouse was painted green in 1911 by its keeper.' },
        { id: 'b', name: 'b.txt', text: 'Barley bread rises slowly in a cold kitchen.' },
        { id: 'c', name: 'c.txt', text: 'The orchestra tuned to a single oboe before the concert.' },
        { id: 'd', name: 'd.txt', text: 'A lighthouse keeper keeps the lamp lit through the night.' },
      ]);
      const all = async (query, retrieval) => index.search(query, { retrieval, k: 10 });
      return {
        cosineSelf: await all('Barley bread rises slowly in a cold kitchen.', 'cosine'),
        bm25: await all('What colour is the Varnholm lighthouse?', 'bm25'),
        cosine: await all('What colour is the Varnholm lighthouse?', 'cosine'),
        hybrid: await all('What colour is the Varnholm lighthouse?', 'hybrid'),
        default: await index.search('What colour is the Varnholm lighthouse?', { k: 2 }),
        none: await all('zebra', 'bm25'),
        empty: await new tabllm.DocumentIndex(window.embedEngine).search('anything'),
      };
    });
    assert.equal(r.cosineSelf[0].docId, 'b');
    assert.ok(Math.abs(r.cosineSelf[0].cosine - 1) < 1e-4, `cosine ${r.cosineSelf[0].cosine}`);
    assert.equal(r.cosineSelf.length, 4);
    for (let i = 1; i < r.cosineSelf.length; i++) assert.ok(r.cosineSelf[i].score <= r.cosineSelf[i - 1].score);
    // BM25: only chunks with a query word, the one with both rare words first.
    assert.deepEqual(r.bm25.map((x) => x.docId), ['a', 'd']);
    assert.ok(r.bm25[0].bm25 > r.bm25[1].bm25 && r.bm25[0].cosine === null);
    assert.deepEqual(r.none, []);
    assert.deepEqual(r.empty, []);
    // Hybrid = Σ 1 / (60 + rank) over the cosine ranking (all chunks) and the BM25 ranking (chunks with a query word).
    const rank = (list, id) => list.findIndex((x) => x.docId === id) + 1;
    for (const x of r.hybrid) {
      const want = 1 / (60 + rank(r.cosine, x.docId)) + (rank(r.bm25, x.docId) ? 1 / (60 + rank(r.bm25, x.docId)) : 0);
      assert.ok(Math.abs(x.score - want) < 1e-12, `${x.docId}: ${x.score} vs ${want}`);
    }
    assert.deepEqual(r.hybrid.slice(0, 2).map((x) => x.docId).sort(), ['a', 'd'], 'chunks in both rankings lead those in one');
    // Cosine is the default (it measured best with a real embedding model: pkg/README.md).
    assert.deepEqual(r.default, r.cosine.slice(0, 2), 'cosine is the default, k limits');
    const top = r.bm25[0];
    assert.deepEqual(Object.keys(top).sort(), ['bm25', 'chunk', 'cosine', 'docId', 'end', 'name', 'score', 'start', 'text'].sort());
    assert.equal(top.text, 'The Varnholm lighthouse was painted green in 1911 by its keeper.');
    assert.deepEqual([top.start, top.end, top.chunk, top.name, top.score], [0, top.text.length, 0, 'a.txt', top.bm25]);
  });

  await check('persist / open: the kept index comes back without embedding again; another model\'s is refused by name, or rebuilt; remove lasts; peek, list, delete', async () => {
    const r = await page.evaluate(async (otherUrl) => {
      const { DocumentIndex } = tabllm;
      await DocumentIndex.delete('unit');
      const engine = window.embedEngine;
      const index = new DocumentIndex(engine, { chunkTokens: 48, queryPrefix: 'query: ' });
      await index.add([
        { id: 'a', name: 'a.txt', text: 'The Varnholm lighthouse was painted green in 1911.' },
        { id: 'b', name: 'b.txt', text: 'Barley bread rises slowly in a cold kitchen.' },
        { id: 'c', name: 'c.txt', text: 'The orchestra tuned to a single oboe.' },
      ]);
      const before = await index.search('Varnholm lighthouse', { k: 3 });
      const saved = await index.persist('unit');
      const calls = window.embedCalls;
      const opened = await DocumentIndex.open(engine, 'unit');
      const openCalls = window.embedCalls - calls;
      const after = await opened.search('Varnholm lighthouse', { k: 3 });
      opened.remove('b');
      const again = await opened.persist('unit');
      const peek = await DocumentIndex.peek('unit');
      const other = await tabllm.createEngine({ model: otherUrl, backend: 'cpu', context: 256, cache: false });
      const refused = await window.fail(() => DocumentIndex.open(other, 'unit'));
      const refusedDetails = await DocumentIndex.open(other, 'unit').catch((e) => e.details);
      const rebuilt = await DocumentIndex.open(other, 'unit', { rebuild: true });
      const rebuiltPeek = await DocumentIndex.peek('unit');
      const rebuiltSearch = await rebuilt.search('Varnholm lighthouse', { k: 1, retrieval: 'hybrid' }); // the other model is tiny, its cosines noise
      await other.unload();
      const list = await DocumentIndex.list();
      const deleted = [await DocumentIndex.delete('unit'), await DocumentIndex.delete('unit')];
      return {
        before, after, saved, openCalls, again, peek, refused, refusedDetails, rebuiltPeek, rebuiltSearch, list, deleted,
        openedOptions: opened.options, openedDocs: opened.documents(), missing: await window.fail(() => DocumentIndex.open(engine, 'unit')),
        width: index.model.n_embd,
      };
    }, OTHER_EMBED_MODEL);
    assert.equal(r.openCalls, 0, 'open() embedded again');
    assert.deepEqual(r.after, r.before, 'the opened index ranks as the one saved');
    assert.deepEqual(r.saved, { name: 'unit', documents: 3, written: 3 });
    assert.deepEqual(r.again, { name: 'unit', documents: 2, written: 0 }, 'saving again writes only what changed');
    assert.equal(r.openedOptions.queryPrefix, 'query: ');
    assert.equal(r.openedOptions.chunkTokens, 48);
    assert.deepEqual(r.peek.documents.map((d) => d.id), ['a', 'c']);
    assert.equal(r.peek.model.n_embd, r.width);
    assert.match(r.peek.model.name, /\S/);
    assert.match(r.refused, /^invalid_request engine: the document index "unit" was made with the embedding model .*; the loaded one is .*rebuild: true/);
    assert.notDeepEqual(r.refusedDetails.stored, r.refusedDetails.loaded);
    assert.notEqual(r.rebuiltPeek.model.name + r.rebuiltPeek.model.weight_bytes, r.peek.model.name + r.peek.model.weight_bytes, 'rebuilt and saved with the other model');
    assert.deepEqual(r.rebuiltPeek.documents.map((d) => d.id), ['a', 'c']);
    assert.equal(r.rebuiltSearch[0].docId, 'a');
    assert.ok(r.list.includes('unit'));
    assert.deepEqual(r.deleted, [true, false]);
    assert.match(r.missing, /^invalid_request name: no document index is kept under the name "unit"/);
  });

  await check('bad options, documents and queries are refused by name', async () => {
    const r = await page.evaluate(async () => {
      const { DocumentIndex } = tabllm;
      const e = window.embedEngine;
      const index = new DocumentIndex(e);
      const f = window.fail;
      return {
        unknown: await f(() => new DocumentIndex(e, { chunkSize: 100 })),
        big: await f(() => new DocumentIndex(e, { chunkTokens: 10_000 })),
        small: await f(() => new DocumentIndex(e, { chunkTokens: 2 })),
        overlap: await f(() => new DocumentIndex(e, { chunkTokens: 64, overlapTokens: 40 })),
        retrieval: await f(() => new DocumentIndex(e, { retrieval: 'dense' })),
        prefix: await f(() => new DocumentIndex(e, { queryPrefix: 3 })),
        engine: await f(() => new DocumentIndex({})),
        notArray: await f(() => index.add({ id: 'x', text: 'y' })),
        field: await f(() => index.add([{ id: 'x', text: 'y', url: 'z' }])),
        id: await f(() => index.add([{ id: '', text: 'y' }])),
        twice: await f(() => index.add([{ id: 'x', text: 'y' }, { id: 'x', text: 'z' }])),
        emptyText: await f(() => index.add([{ id: 'x', text: '  \n ' }])),
        addOption: await f(() => index.add([{ id: 'x', text: 'y' }], { batch: 3 })),
        searchOption: await f(() => index.search('x', { topK: 3 })),
        k: await f(() => index.search('x', { k: 0 })),
        query: await f(() => index.search('')),
        openOption: await f(() => DocumentIndex.open(e, 'x', { model: 'y' })),
        name: await f(() => index.persist('')),
        prefixRoom: await f(() => new DocumentIndex(e, { chunkTokens: 250, documentPrefix: 'word '.repeat(20) }).add([{ id: 'x', text: 'y' }])),
        // The model cards' prefixes (all-MiniLM asks for none), and an option overriding them.
        cards: ['nomic-bert', 'gemma-embedding', 'qwen3', 'bert', 'llama'].map((architecture) => tabllm.modelPrefixes({ architecture, name: architecture === 'qwen3' ? 'Qwen3 Embedding 0.6B' : architecture === 'bert' ? 'bge-small-en-v1.5' : 'x' })),
        minilm: tabllm.modelPrefixes({ architecture: 'bert', name: 'all-MiniLM-L6-v2' }),
        defaults: (({ queryPrefix, documentPrefix }) => ({ queryPrefix, documentPrefix }))(index.options),
        overridden: (({ queryPrefix, documentPrefix }) => ({ queryPrefix, documentPrefix }))(new DocumentIndex(Object.create(e, { info: { value: { ...e.info, architecture: 'nomic-bert' } } }), { documentPrefix: '' }).options),
      };
    });
    const want = {
      unknown: /^invalid_request chunkSize: DocumentIndex has no option chunkSize \(it takes chunkTokens, /,
      big: /^invalid_request chunkTokens: chunkTokens must be an integer from 16 to 252, got 10000/,
      small: /^invalid_request chunkTokens: /,
      overlap: /^invalid_request overlapTokens: overlapTokens must be an integer from 0 to 32/,
      retrieval: /^invalid_request retrieval: retrieval must be one of 'hybrid', 'cosine', 'bm25', got "dense"/,
      prefix: /^invalid_request queryPrefix: /,
      engine: /^invalid_request engine: /,
      notArray: /^invalid_request docs: /,
      field: /^invalid_request docs\[0\]\.url: docs\[0\]\.url is not a document field/,
      id: /^invalid_request docs\[0\]\.id: /,
      twice: /^invalid_request docs\[1\]\.id: .*given twice/,
      emptyText: /^invalid_request docs\[0\]\.text: .*has no text/,
      addOption: /^invalid_request batch: add\(\) has no option batch/,
      searchOption: /^invalid_request topK: search\(\) has no option topK/,
      k: /^invalid_request k: k must be an integer from 1 to 1000/,
      query: /^invalid_request query: /,
      openOption: /^invalid_request model: DocumentIndex.open\(\) has no option model/,
      name: /^invalid_request name: /,
      prefixRoom: /^invalid_request chunkTokens: chunkTokens 250 does not fit the embedding model's context of 256 tokens with the document prefix/,
    };
    for (const [k, re] of Object.entries(want)) assert.match(r[k], re, k);
    assert.deepEqual(r.cards, [
      { query: 'search_query: ', document: 'search_document: ' },
      { query: 'task: search result | query: ', document: 'title: none | text: ' },
      { query: 'Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:', document: '' },
      { query: 'Represent this sentence for searching relevant passages: ', document: '' },
      { query: '', document: '' },
    ]);
    assert.deepEqual(r.minilm, { query: '', document: '' });
    assert.deepEqual(r.defaults, { queryPrefix: '', documentPrefix: '' }, 'the test embedder asks for no prefixes');
    assert.deepEqual(r.overridden, { queryPrefix: 'search_query: ', documentPrefix: '' }, "the card's query prefix, and the document prefix the option turned off");
  });

  await check('an abort during add() stops at the next request and keeps the documents finished before it', async () => {
    const r = await page.evaluate(async () => {
      const index = new tabllm.DocumentIndex(window.embedEngine, { chunkTokens: 16, overlapTokens: 0 });
      const ac = new AbortController();
      const docs = Array.from({ length: 4 }, (_, i) => ({ id: `d${i}`, text: Array.from({ length: 40 }, (_, s) => `Document ${i} sentence ${s} is here.`).join(' ') }));
      let seen = null;
      const calls = window.embedCalls;
      const err = await index.add(docs, {
        signal: ac.signal,
        onProgress: (p) => {
          seen = p;
          if (p.docs_done === 1) ac.abort();
        },
      }).then(() => null, (e) => ({ code: e.code, details: e.details }));
      return { err, seen, ids: index.documents().map((d) => d.id), calls: window.embedCalls - calls };
    });
    assert.equal(r.err?.code, 'aborted');
    assert.deepEqual(r.err.details.added, ['d0']);
    assert.deepEqual(r.ids, ['d0']);
    assert.ok(r.calls <= 3, `${r.calls} embedding requests after the abort was asked for`);
  });
  await page.context().close();
}

// ---- the page's Documents tab -------------------------------------------------

const DOCS = {
  'lighthouse.txt': 'The Varnholm lighthouse stands on a granite spur north of the harbour.\n\nIts tower was painted emerald green in 1911 by the keeper Ansel Moberg, and it has kept that colour ever since.',
  'bread.md': '# Barley bread\n\nBarley bread rises slowly in a cold kitchen. Bakers in the valley leave the dough overnight under a linen cloth.\n\n- flour\n- salt\n- water',
  'concert.html': '<!doctype html><html><head><title>Concert</title><style>p { color: red }</style><script>window.pwned = "script ran"</script></head>' +
    '<body><h1>Winter concert</h1><p>The orchestra tuned to a single oboe before the concert began.</p><p>The conductor wore a blue scarf.<img src="https://example.com/track.png" onerror="window.pwned = \'img\'"></p></body></html>',
};
const PDF_TEXT = ['Quarterly report of the tin mine.', 'Output rose by nine percent after the new pumps.'];
// A paraphrase: none of its words (less stop and question words) is in lighthouse.txt, or in any other document.
const QUESTION = 'Which hue was the navigation beacon on the rocky point given?';

/** Drops files on the page as a synthetic drop (File objects made in the page; `pdf` lines as a PDF). */
const dropFiles = (page, files) => page.evaluate(async (files) => {
  const dt = new DataTransfer();
  for (const { name, text, bytes } of files) dt.items.add(new File([bytes ? Uint8Array.from(bytes) : text], name));
  for (const type of ['dragenter', 'dragover', 'drop']) document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
}, files);

const listed = (page) => page.$$eval('#docs-list li button.linklike', (b) => b.map((x) => x.textContent));
const docsState = (page, s, timeout = 120_000) => page.waitForSelector(`body[data-docs="${s}"]`, { timeout });

await check('the Documents tab: dropped .txt, .md, .html and .pdf are embedded and kept; SmolLM2 answers from the right source, shown highlighted; a reload lists them without embedding; Remove and Stop work; no request leaves 127.0.0.1', async () => {
  const context = await h.browser.newContext({ userAgent: 'tabllm-test' });
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  context.on('websocket', (w) => requests.push(w.url()));
  // Embedding requests counted where they leave the page for a worker.
  await context.addInitScript(() => {
    window.embedPosts = 0;
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (m, ...rest) {
      if (m && m.op === 'embed') window.embedPosts++;
      return post.call(this, m, ...rest);
    };
  });
  const page = await context.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  const url = `/www/index.html?temperature=0&max_tokens=32&embed=${encodeURIComponent(EMBED_MODEL)}`;
  await page.goto(h.origin + url);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 300_000 });
  await page.click('#tab-documents');
  await docsState(page, 'ready');

  const pdf = [...Buffer.from(tinyPdf(PDF_TEXT), 'latin1')];
  await dropFiles(page, [
    ...Object.entries(DOCS).map(([name, text]) => ({ name, text })),
    { name: 'report.pdf', bytes: pdf },
    { name: 'slides.pptx', text: 'not read' },
    // A binary file with a text name (an executable's header): skipped, not made into chunks of NULs.
    { name: 'program.txt', bytes: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, ...Buffer.from('GLIBC_2.27 some symbols')] },
  ]);
  await page.waitForFunction(() => document.body.dataset.docs === 'ready' && document.querySelectorAll('#docs-list li').length > 0, null, { timeout: 120_000 });
  assert.deepEqual(await listed(page), ['lighthouse.txt', 'bread.md', 'concert.html', 'report.pdf']);
  assert.match(await page.textContent('#docs-skipped'), /slides\.pptx: not a document type read here/);
  assert.match(await page.textContent('#docs-skipped'), /program\.txt: not text \(binary data/);
  const texts = await page.evaluate(() => Object.fromEntries(tabllmPage.documents.documents().map((d) => [d.id, tabllmPage.documents.document(d.id).text])));
  assert.match(texts['concert.html'], /^Concert|Winter concert\n\nThe orchestra tuned/);
  assert.ok(!/pwned|color: red/.test(texts['concert.html']), `script or style text kept: ${texts['concert.html']}`);
  assert.equal(await page.evaluate(() => window.pwned), undefined, 'the dropped HTML ran something');
  for (const line of PDF_TEXT) assert.ok(texts['report.pdf'].includes(line), `PDF text: ${JSON.stringify(texts['report.pdf'])}`);
  const embedded = await page.evaluate(() => window.embedPosts);
  assert.ok(embedded >= 4, `${embedded} embed requests for 4 documents`);

  // The question: the answer is in lighthouse.txt only, in other words: BM25 finds nothing, the embedding finds it.
  const ranked = await page.evaluate(async (q) => {
    const index = tabllmPage.documents;
    const ids = async (retrieval) => (await index.search(q, { retrieval, k: 10 })).map((r) => r.docId);
    return { bm25: await ids('bm25'), cosine: await ids('cosine') };
  }, QUESTION);
  assert.deepEqual(ranked.bm25, [], 'the question shares a word with a document');
  assert.equal(ranked.cosine[0], 'lighthouse.txt', `cosine ranks ${ranked.cosine.join(', ')}`);
  await page.fill('#ask-input', QUESTION);
  await page.click('#ask-go');
  await page.waitForFunction((q) => window.lastAnswer?.question === q, QUESTION, { timeout: 180_000 });
  await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
  const answer = await page.evaluate(() => window.lastAnswer);
  console.log(`  answer: ${JSON.stringify(answer.answer)}; sources: ${answer.sources.map((s) => s.docId).join(', ')}`);
  assert.equal(answer.sources[0].docId, 'lighthouse.txt', 'the top source');
  assert.match(answer.sources[0].text, /painted emerald green in 1911/);
  assert.ok(answer.answer.trim().length > 0, 'no answer text');
  assert.match(await page.textContent('#ask-sources li:first-child'), /^\[1\] lighthouse\.txt/);
  // Each citation the answer makes names a source, and shows it when clicked.
  const cited = await page.$$eval('#ask-answer button.cite', (b) => b.map((x) => x.textContent));
  console.log(`  citations in the answer: ${cited.join(' ') || '(none)'}`);
  // A 135M model seldom cites: the same rendering, given an answer that does ([9] names no source).
  if (!cited.length) await page.evaluate(() => tabllmPage.showAnswer('It is green [1], or see [2] and [9].'));
  const buttons = await page.$$eval('#ask-answer button.cite', (b) => b.map((x) => x.textContent));
  assert.ok(buttons.length > 0 && buttons.every((b) => /^\[\d\]$/.test(b) && Number(b[1]) <= answer.sources.length), JSON.stringify(buttons));
  const n = Number(buttons.at(-1)[1]);
  await page.click(`#ask-answer button.cite >> nth=${buttons.length - 1}`);
  assert.equal(await page.textContent('#doc-viewer-name'), answer.sources[n - 1].name);
  assert.equal(await page.textContent('#doc-viewer mark'), answer.sources[n - 1].text);
  await page.click('#ask-sources li:first-child button');
  assert.equal(await page.isVisible('#doc-viewer'), true);
  assert.equal(await page.textContent('#doc-viewer-name'), 'lighthouse.txt');
  assert.equal(await page.textContent('#doc-viewer mark'), answer.sources[0].text);
  assert.equal(await page.textContent('#doc-viewer-text'), DOCS['lighthouse.txt']);

  // A reload: the documents are listed from IndexedDB, nothing embedded again.
  await page.reload();
  await page.waitForSelector('body[data-state="ready"]', { timeout: 300_000 });
  await page.click('#tab-documents');
  await docsState(page, 'ready');
  assert.deepEqual(await listed(page), ['lighthouse.txt', 'bread.md', 'concert.html', 'report.pdf']);
  assert.equal(await page.evaluate(() => window.embedPosts), 0, 'the reload embedded again');
  assert.match(await page.textContent('#docs-count'), /^4 documents/);

  // Remove: gone here and after a reload.
  await page.click('#docs-list li:nth-child(2) button.remove');
  await docsState(page, 'ready'); // kept in IndexedDB
  assert.deepEqual(await listed(page), ['lighthouse.txt', 'concert.html', 'report.pdf']);
  await page.reload();
  await page.click('#tab-documents');
  await docsState(page, 'ready');
  assert.deepEqual(await listed(page), ['lighthouse.txt', 'concert.html', 'report.pdf']);

  // Stop while a long document is embedded: it is not added, and embedding stops.
  const long = Array.from({ length: 1500 }, (_, i) => `Line ${i} of the ledger records a sale of ${i * 3} sacks of grain to the mill.`).join('\n\n');
  await page.evaluate(() => (window.embedPosts = 0));
  await dropFiles(page, [{ name: 'ledger.txt', text: long }]);
  await page.waitForFunction(() => /^Embedding: [1-9]\d* of \d+ chunks/.test(document.getElementById('docs-progress').textContent), null, { timeout: 120_000 });
  const total = Number(/of (\d+) chunks/.exec(await page.textContent('#docs-progress'))[1]);
  await page.click('#docs-stop');
  await docsState(page, 'ready', 60_000);
  assert.match(await page.textContent('#docs-progress'), /^Stopped: 0 of 1 documents added/);
  assert.deepEqual(await listed(page), ['lighthouse.txt', 'concert.html', 'report.pdf']);
  const posts = await page.evaluate(() => window.embedPosts);
  assert.ok(total > 64 && posts < Math.ceil(total / 32), `${posts} embed requests of ${Math.ceil(total / 32)} for ${total} chunks`);

  // Nothing left the tab: every request went to this server (or stayed in the page: blob:, data:).
  const outside = requests.filter((u) => !u.startsWith(`${h.origin}/`) && !/^(blob|data):/.test(u));
  assert.deepEqual(outside, [], 'requests that left 127.0.0.1');
  // The log sees the workers' fetches too (the embedding model is fetched in one).
  assert.ok(requests.some((u) => u.endsWith(EMBED_MODEL)), 'the embedding model\'s fetch is not in the request log');
  console.log(`  ${requests.length} requests, all to ${h.origin}`);
  await context.close();
});

await check('with no embedding model chosen (no ?embed=, none remembered) the tab loads the default, all-MiniLM-L6-v2 from the Hub, named with its size', async () => {
  const DEFAULT = 'https://huggingface.co/second-state/All-MiniLM-L6-v2-Embedding-GGUF/resolve/main/all-MiniLM-L6-v2-Q8_0.gguf';
  const context = await h.browser.newContext({ userAgent: 'tabllm-test' });
  // The Hub is not reached from a test: its answer here is a 404 (CORS allowed, so the page reads it).
  const asked = [];
  await context.route('https://huggingface.co/**', (route) => {
    asked.push(`${route.request().method()} ${route.request().url()}`);
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*', 'access-control-allow-methods': 'GET, HEAD' };
    return route.fulfill(route.request().method() === 'OPTIONS' ? { status: 204, headers: cors } : { status: 404, headers: cors, body: 'not here' });
  });
  const page = await context.newPage();
  await page.goto(`${h.origin}/www/index.html?model=${encodeURIComponent(`/models/${TINY}`)}`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
  await page.click('#tab-documents');
  await docsState(page, 'error', 60_000);
  assert.equal(await page.textContent('#embed-name'), 'all-MiniLM-L6-v2 (Q8_0, 25 MB, from Hugging Face)');
  assert.equal(await page.inputValue('#embed-url'), DEFAULT);
  assert.ok(asked.some((a) => a.endsWith(` ${DEFAULT}`)), `requests to the Hub: ${asked.join(', ')}`);
  assert.match(await page.textContent('#embed-status'), /^Could not load all-MiniLM-L6-v2 \(Q8_0, 25 MB, from Hugging Face\): /);
  assert.equal(await page.evaluate(() => document.getElementById('embed-chooser').open), true, 'the chooser is open to choose another');
  await context.close();
});

const failed = await h.done();
console.log(`documents.mjs ran in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exitCode = failed ? 1 : 0;
