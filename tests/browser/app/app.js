// An app using the package: everything the tests drive goes through the
// public API imported by name, as in the package's README.
import * as tabllm from 'tabllm';
import { createEngine } from 'tabllm';

window.tabllm = tabllm;
// Most checks test the WebGPU path, so they ask for it: on SwiftShader
// `backend: 'auto'` (the default) picks the CPU backend, which the CPU
// checks ask for by name (or leave to `auto`) through tabllm.createEngine.
window.createEngine = (opts) => createEngine(opts && typeof opts === 'object' && !('backend' in opts) ? { backend: 'webgpu', ...opts } : opts);
window.files = () => [...document.getElementById('file').files];
document.getElementById('out').textContent = 'ready';
document.body.dataset.ready = '1';
