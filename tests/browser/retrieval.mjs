// Retrieval quality of DocumentIndex's three rankings (cosine, BM25, hybrid)
// on a labelled set, in headless Chromium through the packed package: the
// measurement that chose the default ranking (pkg/README.md, "Ask your
// documents"). Prints recall@1, recall@3, recall@5 and MRR per ranking; a
// measurement, not a test (no pass / fail).
// Usage: node tests/browser/retrieval.mjs   (after scripts/build-web.sh)
//   SET=path.json     the labelled set (default tests/fixtures/retrieval-small.json):
//                     { documents: [{ id, text }], queries: [{ query, relevant: [ids] }] },
//                     or tests/reference/retrieval/set.json's { documents, questions: [{ q, doc }] }
//   EMBED_MODEL=url   the embedding model, on this server (default SmolLM2 with mean pooling)
//   POOLING=mean|cls|last   override the model's pooling (a chat model declares none)
//   CHUNK_TOKENS=n    DocumentIndex's chunkTokens (default 64: several chunks per document)
//   QUERY_PREFIX, DOCUMENT_PREFIX   as the model's card asks
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installPackage, repo, start } from './harness.mjs';

const set = readSet(process.env.SET ?? join(repo, 'tests/fixtures/retrieval-small.json'));
const model = process.env.EMBED_MODEL ?? '/models/SmolLM2-135M-Instruct.Q4_1.gguf';
const pooling = process.env.POOLING ?? (process.env.EMBED_MODEL ? null : 'mean');
const options = { chunkTokens: Number(process.env.CHUNK_TOKENS ?? 64) };
if (process.env.QUERY_PREFIX) options.queryPrefix = process.env.QUERY_PREFIX;
if (process.env.DOCUMENT_PREFIX) options.documentPrefix = process.env.DOCUMENT_PREFIX;

/** A labelled set in either format, as { documents, queries: [{ query, relevant }] }. */
function readSet(path) {
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(raw.documents)) throw new Error(`${path}: no documents array`);
  if (Array.isArray(raw.queries)) return raw;
  if (Array.isArray(raw.questions)) return { documents: raw.documents, queries: raw.questions.map((x) => ({ query: x.q, relevant: [x.doc] })) };
  throw new Error(`${path}: neither queries [{ query, relevant }] nor questions [{ q, doc }]`);
}

installPackage();
const h = await start();
const { page } = await h.open('/tests/browser/app/index.html');
await page.waitForSelector('body[data-ready]');
const t = Date.now();
const out = await page.evaluate(async ({ set, model, pooling, options }) => {
  const engine = await tabllm.createEngine({ model, backend: 'cpu', context: 512, cache: false });
  // A chat model declares no pooling: name one for it.
  const embedder = pooling ? { info: engine.info, tokenize: (t) => engine.tokenize(t), embeddings: { create: (r) => engine.embeddings.create({ ...r, pooling }) } } : engine;
  const index = new tabllm.DocumentIndex(embedder, options);
  const added = await index.add(set.documents.map((d) => ({ id: d.id, name: d.id, text: d.text })));
  const rows = {};
  for (const retrieval of ['cosine', 'bm25', 'hybrid']) {
    rows[retrieval] = [];
    for (const q of set.queries) {
      const results = await index.search(q.query, { k: 20, retrieval });
      // Documents in the order of their first chunk.
      const docs = [...new Set(results.map((r) => r.docId))];
      const first = docs.findIndex((id) => q.relevant.includes(id));
      rows[retrieval].push({ query: q.query, rank: first < 0 ? null : first + 1, top: docs[0] });
    }
  }
  const info = engine.info;
  await engine.unload();
  return { rows, chunks: added.chunks, model: `${info.name} (${info.architecture})` };
}, { set, model, pooling, options });

const measure = (rows) => {
  const recall = (k) => rows.filter((r) => r.rank !== null && r.rank <= k).length / rows.length;
  const mrr = rows.reduce((s, r) => s + (r.rank ? 1 / r.rank : 0), 0) / rows.length;
  return { 'recall@1': recall(1), 'recall@3': recall(3), 'recall@5': recall(5), mrr };
};
console.log(`${set.queries.length} queries over ${set.documents.length} documents (${out.chunks} chunks of at most ${options.chunkTokens} tokens); ` +
  `embedding model ${out.model}${pooling ? `, ${pooling} pooling` : ''}; ${((Date.now() - t) / 1000).toFixed(0)} s`);
console.log('ranking  recall@1  recall@3  recall@5  MRR');
for (const [name, rows] of Object.entries(out.rows)) {
  const m = measure(rows);
  console.log(`${name.padEnd(8)} ${m['recall@1'].toFixed(2).padStart(8)}  ${m['recall@3'].toFixed(2).padStart(8)}  ${m['recall@5'].toFixed(2).padStart(8)}  ${m.mrr.toFixed(3)}`);
}
if (process.env.VERBOSE) for (const [name, rows] of Object.entries(out.rows)) for (const r of rows) console.log(`  ${name} ${r.rank ?? '-'} ${r.top} ${r.query}`);
await h.close();
