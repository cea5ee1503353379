// A first chat page: loads the default model in a worker with a progress bar,
// streams replies, and stops on request. (Markdown rendering, settings,
// summarize mode and model choice come with the browser issue.)
const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? '../models/SmolLM2-135M-Instruct.Q4_1.gguf';
const $ = (id) => document.getElementById(id);
const worker = new Worker('worker.js', { type: 'module' });
const messages = [];
let reply = null;

worker.onmessage = ({ data: m }) => {
  if (m.type === 'progress' && m.bytes_total) {
    $('bar').value = m.bytes_read / m.bytes_total;
    $('status').textContent = `Loading ${(m.bytes_read / 1e6).toFixed(1)} / ${(m.bytes_total / 1e6).toFixed(1)} MB`;
  } else if (m.type === 'loaded') {
    $('status').textContent = `Ready (loaded in ${m.seconds.toFixed(1)} s). Nothing you type leaves this tab.`;
    $('bar').value = 1;
    $('input').disabled = $('send').disabled = false;
    document.body.dataset.state = 'ready';
  } else if (m.type === 'text') {
    reply.textContent += m.text;
  } else if (m.type === 'done') {
    messages.push({ role: 'assistant', content: m.result.text });
    $('status').textContent = `${m.result.ids.length} tokens, ${m.result.decode_tok_s.toFixed(1)} tok/s (${m.result.finish_reason})`;
    $('stop').disabled = true;
    $('send').disabled = false;
    document.body.dataset.state = 'ready';
    window.lastResult = m.result;
  } else if (m.type === 'error') {
    $('status').textContent = `Error: ${m.message}`;
    document.body.dataset.state = 'error';
  }
};

$('form').onsubmit = (e) => {
  e.preventDefault();
  const text = $('input').value.trim();
  if (!text) return;
  $('input').value = '';
  messages.push({ role: 'user', content: text });
  $('log').append(`You: ${text}\n`);
  reply = document.createElement('span');
  $('log').append('Assistant: ', reply, '\n');
  $('send').disabled = true;
  $('stop').disabled = false;
  document.body.dataset.state = 'generating';
  const temperature = Number(params.get('temperature') ?? 0.7);
  worker.postMessage({ type: 'generate', request: { messages, temperature, max_tokens: Number(params.get('max_tokens') ?? 256) } });
};
$('stop').onclick = () => worker.postMessage({ type: 'stop' });
worker.postMessage({ type: 'load', url: modelUrl, n_ctx: 2048 });
