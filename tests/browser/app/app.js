// An app using the package: everything the tests drive goes through the
// public API imported by name, as in the package's README.
import * as tabllm from 'tabllm';
import { createEngine } from 'tabllm';

window.tabllm = tabllm;
window.createEngine = createEngine;
window.files = () => [...document.getElementById('file').files];
document.getElementById('out').textContent = 'ready';
document.body.dataset.ready = '1';
