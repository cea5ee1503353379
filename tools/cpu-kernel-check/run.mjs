// Runs the CPU kernel checks or benchmark compiled to wasm (src/lib.rs):
//   node tools/cpu-kernel-check/run.mjs FILE.wasm check|bench|bench-all|bench-model|bench-attention
// Exits 1 when a check fails or the module traps (a panic prints first).
import { readFile } from 'node:fs/promises';

const [file, what = 'check'] = process.argv.slice(2);
if (!file || !['check', 'bench', 'bench-all', 'bench-model', 'bench-attention'].includes(what)) {
  console.error('usage: node run.mjs FILE.wasm check|bench|bench-all|bench-model|bench-attention');
  process.exit(2);
}
let memory;
const decoder = new TextDecoder();
const host = {
  log_line: (ptr, len) => console.log(decoder.decode(new Uint8Array(memory.buffer, ptr, len))),
  now: () => performance.now() / 1000,
};
const { instance } = await WebAssembly.instantiate(await readFile(file), { host });
memory = instance.exports.memory;
if (what === 'check') {
  process.exit(instance.exports.check() === 0 ? 0 : 1);
} else if (what === 'bench-model') {
  instance.exports.bench_model();
} else if (what === 'bench-attention') {
  instance.exports.bench_attention();
} else {
  instance.exports.bench(what === 'bench-all' ? 1 : 0);
}
