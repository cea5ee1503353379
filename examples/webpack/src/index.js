// A minimal chat with tabllm, bundled by webpack 5: load a model by URL, send one
// message, show the reply as it streams. `?model=URL` picks another model;
// `?threads=N` runs the CPU backend on N threads (the page must be served
// cross-origin isolated: pkg/README.md, "Threads and cross-origin isolation").
import { createEngine } from 'tabllm';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const model = params.get('model') ?? '/models/SmolLM2-135M-Instruct.Q4_1.gguf';
const threads = params.has('threads') ? Number(params.get('threads')) : undefined;

function setState(state, status) {
  $('app').dataset.state = state;
  $('status').textContent = status;
}

async function main() {
  setState('loading', `Loading ${model}…`);
  const engine = await createEngine({
    model,
    context: 1024,
    threads,
    onProgress: (p) => { if (p.fraction !== null) $('status').textContent = `${p.phase} ${Math.round(p.fraction * 100)}%`; },
  });
  const { count } = engine.info.threads ?? {};
  $('info').textContent = `${engine.info.name} (${engine.info.architecture}) on the ${engine.info.backend} backend`
    + (count > 1 ? ` on ${count} threads` : '');
  setState('ready', 'Ready');
  $('send').disabled = false;

  $('chat').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('send').disabled = true;
    $('reply').textContent = '';
    setState('generating', 'Generating…');
    try {
      // Greedy (temperature 0): the same reply each time.
      const stream = await engine.chat.completions.create({
        messages: [{ role: 'user', content: $('message').value }],
        temperature: 0,
        max_tokens: 32,
        stream: true,
      });
      for await (const chunk of stream) $('reply').textContent += chunk.choices[0]?.delta.content ?? '';
      setState('done', 'Done');
    } catch (e) {
      setState('error', `${e.code ?? e.name}: ${e.message}`);
    }
    $('send').disabled = false;
  });
}

main().catch((e) => setState('error', `${e.code ?? e.name}: ${e.message}`));
