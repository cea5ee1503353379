// The Summarize tab: pasted text or a dropped .txt / .md file, summarized by
// the package's summarize() (split into chunks when it is longer than the
// context), with the stage and chunk shown as it goes and the final summary
// streamed as markdown.
import { summarize } from '../../pkg/tabllm.js';
import { $ } from './dom.js';
import { streamInto } from './markdown.js';

export const isTextFile = (f) => /\.(txt|md|markdown|text)$/i.test(f.name) || f.type.startsWith('text/');

/** @param app { engine(), settings, begin(kind) → AbortController, end(), fail(err) } */
export function initSummarize(app) {
  const input = $('sum-input');
  const output = $('sum-output');
  const progress = $('sum-progress');

  async function run() {
    const engine = app.engine();
    const text = input.value;
    if (!engine || !text.trim()) {
      progress.textContent = engine ? 'Paste some text first.' : 'Load a model first.';
      return;
    }
    const ac = app.begin('summarize');
    output.replaceChildren();
    const renderer = streamInto(output);
    let summary = '';
    const started = performance.now();
    progress.textContent = 'Counting tokens…';
    try {
      const result = await summarize(engine, text, {
        max_tokens: Number($('sum-max-tokens').value) || 128,
        instruction: $('sum-instruction').value.trim() || undefined,
        temperature: app.settings.temperature(),
        signal: ac.signal,
        onProgress: (p) => {
          // While a request reads its prompt: how far it is.
          const reading = p.prompt_tokens_total > 0 && p.prompt_tokens_done < p.prompt_tokens_total
            ? `, reading ${p.prompt_tokens_done} of ${p.prompt_tokens_total} prompt tokens` : '';
          progress.textContent = p.steps > 1
            ? `Stage ${p.stage}: chunk ${p.step} of ${p.steps} (${p.chunk_tokens} tokens)${reading}…`
            : `Stage ${p.stage}: writing the summary of ${p.chunk_tokens} tokens${reading}…`;
        },
        onText: (piece) => {
          summary += piece;
          renderer.set(summary);
        },
      });
      renderer.set(result.summary);
      renderer.flush();
      const seconds = (performance.now() - started) / 1000;
      progress.textContent = `Done: ${result.input_tokens} tokens` +
        (result.stages > 1 ? ` in ${result.chunks} chunks, ${result.stages} stages` : '') + `, ${seconds.toFixed(1)} s.`;
      window.lastSummary = result;
    } catch (err) {
      renderer.flush();
      if (err.code === 'aborted' || err.name === 'AbortError') progress.textContent = 'Stopped.';
      else {
        progress.textContent = '';
        app.fail(err);
      }
    } finally {
      app.end();
    }
  }

  async function loadText(file) {
    input.value = await file.text();
    progress.textContent = `${file.name}: ${input.value.length.toLocaleString()} characters.`;
  }

  $('sum-go').addEventListener('click', run);
  $('sum-file').addEventListener('change', (e) => {
    const [file] = e.target.files;
    if (file) loadText(file);
  });
  return { loadText };
}
