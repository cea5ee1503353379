// The page side of tests/browser/compare-embed.mjs: loads one embedding engine
// (tabllm through /pkg/tabllm.js, or transformers.js' feature-extraction
// pipeline) in this page, embeds each workload twice (all texts in one call,
// then one text per call) and returns plain JSON. Nothing here asserts; a
// failure comes back as { error } so the driver can put it in the table.
//
//   load        wall clock from the start of the load to a usable engine (model fetched from the local server, no cache)
//   warm-up     one call on the first text of the first workload (shader / session warm-up), not counted
//   batch       one call with every text of the workload (tabllm: embeddings.create({ input: texts });
//               transformers.js: extractor(texts, { pooling: 'mean', normalize: true }), padded to the longest)
//   single      one call per text, in order, timed together
// Each is repeated `runs` times; the driver takes the median.

const now = () => performance.now();
const round = (x, d = 3) => (x == null || !Number.isFinite(x) ? null : Number(x.toFixed(d)));

function errorJson(e) {
  return { name: e?.name ?? null, message: String(e?.message ?? e), code: e?.code ?? null, details: e?.details ?? null, stack: e?.stack ? String(e.stack).split('\n').slice(0, 8).join('\n') : null };
}

async function adapterInfo() {
  try {
    if (!navigator.gpu) return { error: 'navigator.gpu is undefined' };
    const a = await navigator.gpu.requestAdapter();
    if (!a) return { error: 'requestAdapter() returned null' };
    const i = a.info ?? {};
    return { vendor: i.vendor, architecture: i.architecture, description: i.description };
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
}

// `embed(texts)` -> { vectors: Float32Array-like rows, tokens: what the engine says it read, or null }.
// out.tokens[workload]: each text's tokens, from the engine's one-text calls where it reports them.
async function measure(embed, workloads, runs, out) {
  const t = now();
  await embed([workloads[0].texts[0]]);
  out.warmup_s = round((now() - t) / 1000);
  console.log(`compare-embed: warm-up ${out.warmup_s} s`);
  out.workloads = {};
  for (const w of workloads) {
    const r = { batch_s: [], single_s: [] };
    for (let run = 0; run < runs; run++) {
      let t0 = now();
      const batch = (await embed(w.texts)).vectors;
      r.batch_s.push(round((now() - t0) / 1000));
      console.log(`compare-embed: ${w.name} batch ${r.batch_s.at(-1)} s`);
      t0 = now();
      const single = [];
      const tokens = [];
      for (const text of w.texts) {
        const e = await embed([text]);
        single.push(e.vectors[0]);
        tokens.push(e.tokens);
      }
      r.single_s.push(round((now() - t0) / 1000));
      console.log(`compare-embed: ${w.name} one at a time ${r.single_s.at(-1)} s`);
      if (run === 0) {
        if (tokens.every((n) => n != null)) out.tokens[w.name] = tokens;
        r.batch_vectors = batch.map((v) => Array.from(v));
        r.single_vectors = single.map((v) => Array.from(v));
      }
    }
    out.workloads[w.name] = r;
  }
}

// ---------------------------------------------------------------- tabllm

async function runTabllm({ model, backend, context, workloads, runs }) {
  const out = { engine: 'tabllm', backend, adapter: await adapterInfo(), crossOriginIsolated: self.crossOriginIsolated };
  let engine;
  try {
    const { createEngine } = await import('/pkg/tabllm.js');
    const t0 = now();
    engine = await createEngine({ model, backend, context, cache: false });
    out.load_s = round((now() - t0) / 1000);
    const info = engine.info;
    out.backend = info.backend;
    out.info = { name: info.name, architecture: info.architecture, backend: info.backend, backend_reason: info.backend_reason, context: info.context, weight_bytes: info.weight_bytes, adapter: info.adapter, wasm_memory_bytes: info.wasm_memory_bytes };
    out.tokens = {};
    out.token_method = 'tabllm: usage.prompt_tokens of each one-text embeddings.create (its WordPiece tokenizer from the GGUF, [CLS] and [SEP] included)';
    await measure(async (texts) => {
      const r = await engine.embeddings.create({ input: texts });
      return { vectors: r.data.map((d) => d.embedding), tokens: r.usage.prompt_tokens };
    }, workloads, runs, out);
    out.wasm_memory_bytes = engine.info.wasm_memory_bytes;
  } catch (e) {
    out.error = errorJson(e);
  } finally {
    try { await engine?.unload(); } catch (e) { out.unload_error = String(e?.message ?? e); }
  }
  return out;
}

// ---------------------------------------------------------------- transformers.js

async function runTransformers({ tfjsDist, ortDist, modelBase, modelName, dtype, workloads, runs }) {
  const out = { engine: 'transformers.js', backend: `wasm ${dtype}`, crossOriginIsolated: self.crossOriginIsolated };
  let extractor;
  try {
    const T = await import(tfjsDist + 'transformers.js');
    out.version = T.env.version;
    T.env.allowRemoteModels = false; // nothing from huggingface.co or a CDN
    T.env.allowLocalModels = true;
    T.env.localModelPath = modelBase;
    T.env.useBrowserCache = false; // every engine fetches its model from the server, as tabllm's cache: false
    T.env.useWasmCache = false;
    // The onnxruntime-web build transformers.js picks in a browser (asyncify), served by our server instead of jsDelivr.
    const ort = new URL(ortDist, location.href).href;
    T.env.backends.onnx.wasm.wasmPaths = { mjs: ort + 'ort-wasm-simd-threaded.asyncify.mjs', wasm: ort + 'ort-wasm-simd-threaded.asyncify.wasm' };
    const t0 = now();
    extractor = await T.pipeline('feature-extraction', modelName, { dtype, device: 'wasm', local_files_only: true });
    out.load_s = round((now() - t0) / 1000);
    out.onnx_wasm = { numThreads: T.env.backends.onnx.wasm.numThreads ?? null, simd: T.env.backends.onnx.wasm.simd ?? null, ort_version: T.env.backends.onnx.versions?.web ?? null };
    out.model_max_length = extractor.tokenizer.model_max_length ?? null;
    out.tokens = {};
    out.padded_tokens = {};
    for (const w of workloads) {
      out.tokens[w.name] = w.texts.map((text) => extractor.tokenizer(text, { truncation: true }).input_ids.size);
      out.padded_tokens[w.name] = extractor.tokenizer(w.texts, { padding: true, truncation: true }).input_ids.size;
    }
    out.token_method = 'transformers.js: input_ids of its tokenizer (tokenizer.json) on one text, special tokens included, truncated as the pipeline truncates';
    await measure(async (texts) => {
      const t = await extractor(texts, { pooling: 'mean', normalize: true });
      const [n, d] = t.dims;
      return { vectors: Array.from({ length: n }, (_, i) => t.data.subarray(i * d, (i + 1) * d)), tokens: null };
    }, workloads, runs, out);
  } catch (e) {
    out.error = errorJson(e);
  } finally {
    try { await extractor?.dispose(); } catch (e) { out.unload_error = String(e?.message ?? e); }
  }
  return out;
}

window.embedCompare = { tabllm: runTabllm, transformers: runTransformers };
