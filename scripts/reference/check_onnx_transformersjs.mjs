// Checks the ONNX export of all-MiniLM-L6-v2 (scripts/reference/export_onnx.py) in
// transformers.js against sentence-transformers: the feature-extraction pipeline with
// pooling 'mean' and normalize true on the 50 texts of tests/reference/real/all-minilm-l6-v2.json,
// for dtype fp32 (onnx/model.onnx) and q8 (onnx/model_quantized.onnx). Fails unless fp32's worst
// cosine is >= 0.999; prints q8's and a rough node timing. Local only (issue 31's throughput
// comparison), not part of CI.
//
//   mkdir -p target/tfjs && cd target/tfjs && echo '{"private":true}' > package.json &&
//     ONNXRUNTIME_NODE_INSTALL=skip npm install @huggingface/transformers@4.3.2 && cd ../..
//   node scripts/reference/check_onnx_transformersjs.mjs target/tfjs target/onnx/all-MiniLM-L6-v2
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [tfjsDir, modelDir, refFile = 'tests/reference/real/all-minilm-l6-v2.json'] = process.argv.slice(2);
if (!tfjsDir || !modelDir) {
  console.error('usage: node check_onnx_transformersjs.mjs TFJS_DIR MODEL_DIR [REFERENCE_JSON]');
  process.exit(2);
}
const require = createRequire(path.resolve(tfjsDir, 'package.json'));
const { pipeline, env } = require('@huggingface/transformers');
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = path.resolve(path.dirname(modelDir));
const name = path.basename(modelDir);

const ref = JSON.parse(readFileSync(refFile, 'utf8'));
const texts = ref.texts.map((t) => t.text);
const cos = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};

let failed = false;
for (const dtype of ['fp32', 'q8']) {
  const extractor = await pipeline('feature-extraction', name, { dtype, local_files_only: true });
  let worst = [2, ''];
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i++) {
    const out = await extractor(texts[i], { pooling: 'mean', normalize: true });
    const c = cos(Array.from(out.data), ref.texts[i].st);
    if (c < worst[0]) worst = [c, texts[i]];
  }
  const ms = performance.now() - t0;
  const t1 = performance.now();
  await extractor(texts, { pooling: 'mean', normalize: true });
  const batchMs = performance.now() - t1;
  console.log(`${dtype}: worst cosine vs sentence-transformers ${worst[0].toFixed(7)} (${JSON.stringify(worst[1].slice(0, 40))}); ` +
    `node, one text per call: ${(texts.length / (ms / 1000)).toFixed(1)} texts/s; all 50 in one call (padded): ${(texts.length / (batchMs / 1000)).toFixed(1)} texts/s`);
  if (dtype === 'fp32' && !(worst[0] >= 0.999)) failed = true;
  await extractor.dispose();
}
if (failed) {
  console.error('fp32 is below cosine 0.999 against sentence-transformers');
  process.exit(1);
}
