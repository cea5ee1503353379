// tabllm/web-ai: the web's built-in AI APIs — LanguageModel (the Prompt API,
// WICG webmachinelearning/prompt-api) and Summarizer (WICG
// webmachinelearning/writing-assistance-apis) — run by tabllm on a model you
// choose, in every browser. Types: web-ai.d.ts; usage: README.md "The web's AI API".
//
//   import { configure, install } from 'tabllm/web-ai';
//   configure({ model: 'https://example.com/SmolLM2-135M-Instruct.Q4_1.gguf' });
//   install(); // LanguageModel / Summarizer on globalThis where the browser has none
//   const session = await LanguageModel.create();
import { LanguageModel } from './web-ai-prompt.js';
import { Summarizer } from './web-ai-summarizer.js';

export { configure } from './web-ai-core.js';
export { LanguageModel, Summarizer };

/**
 * Puts LanguageModel and Summarizer on globalThis, each only where the
 * browser has no such global of its own (its built-in API is kept). Returns
 * the names it put there.
 */
export function install() {
  const installed = [];
  for (const [name, value] of Object.entries({ LanguageModel, Summarizer })) {
    if (name in globalThis) continue;
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
    installed.push(name);
  }
  return installed;
}
