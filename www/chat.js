// The tabllm page: loads a model (default, URL, local file or dropped files)
// with a progress bar, then chats with streamed markdown replies, or
// summarizes long text (ui/summarize-view.js). The engine runs in the
// package's worker; this thread only renders.
//
// URL parameters: model (a URL or an hf: name), hf_endpoint (where hf: names
// are resolved; the package's default otherwise), temperature, max_tokens, context (and the other
// settings by name). Tests read document.body.dataset.state
// ('loading' | 'ready' | 'generating' | 'error') and window.lastResult.
import './ui/trusted-types.js';
import { createEngine, deleteCachedModels, listCachedModels } from '../pkg/tabllm.js';
import { $, fileName, h, mb, rate } from './ui/dom.js';
import { explain } from './ui/errors.js';
import { describeLoaded } from './ui/loaded.js';
import { renderMarkdown, sanitize, streamInto } from './ui/markdown.js';
import { initSettings } from './ui/settings.js';
import { DEFAULT_MODEL, filesSource, isDefault, urlSource } from './ui/sources.js';
import { initSummarize, isTextFile } from './ui/summarize-view.js';
import { initDocuments } from './ui/documents-view.js';
import { takeDrop } from './ui/doc-files.js';
import { MENU_MIXES, noteReplySpeed, refreshMenu } from './ui/menu.js';

const params = new URLSearchParams(location.search);
// Where hf: names are resolved (a mirror, or a test's imitation of the Hub); the package's default otherwise.
const hfEndpoint = params.get('hf_endpoint') || undefined;
// ?threads=N: the CPU backend's threads (createEngine's `threads`; refused
// there by name when out of range or on an unisolated page). Default: the engine's.
const threads = params.has('threads') ? Number(params.get('threads')) : undefined;
const settings = initSettings($('settings-form'), params);
const log = $('log');

let engine = null;
let source = null; // what is loaded or loading: { model, label, kind, url? }
let loading = null; // AbortController of the load in progress
let loadSeq = 0;
let isLoading = false;
let running = null; // { kind: 'chat' | 'summarize', ac: AbortController }
let messages = [];

// ---- state and errors ------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
  const usable = Boolean(engine);
  const busy = Boolean(running);
  $('input').disabled = !usable;
  $('send').disabled = !usable || busy;
  $('stop').disabled = !busy;
  $('sum-go').disabled = !usable || busy;
  $('sum-stop').disabled = !busy;
}
/** After a request or a load: 'ready', or 'error' while an error is shown or no model is loaded. */
const idleState = () => setState(isLoading ? 'loading' : engine && $('error').hidden ? 'ready' : 'error');

function clearError() {
  $('error').hidden = true;
  $('error-actions').replaceChildren();
}

function showError(err) {
  console.error(err);
  const { text, actions } = explain(err, {
    retry: source ? () => loadModel(source) : undefined,
    newChat: engine ? newChat : undefined,
    loadDefault: () => loadModel(urlSource(DEFAULT_MODEL)),
    clearCache,
    isDefault: isDefault(source),
    context: engine?.info.context ?? settings.context(),
  });
  $('error-text').textContent = text;
  $('error-actions').replaceChildren(...actions.map((a) => h('button', { type: 'button', onclick: () => {
    clearError();
    a.run();
  } }, a.label)));
  $('error').hidden = false;
  $('error').dataset.code = err?.code ?? '';
  document.body.dataset.state = 'error';
}

// ---- loading a model -------------------------------------------------------

const PHASES = { device: 'Asking for the GPU', download: 'Downloading', cache: 'From browser storage', file: 'Reading file', ready: 'Ready' };

function showProgress(p) {
  const bar = $('bar');
  if (p.fraction === null || p.fraction === undefined) bar.removeAttribute('value');
  else bar.value = p.fraction;
  let line = PHASES[p.phase] ?? p.phase;
  if (p.parts > 1) line += ` (part ${p.part} of ${p.parts})`;
  const percent = p.fraction === null || p.fraction === undefined ? '' : `${Math.floor(p.fraction * 100)}%`;
  if (percent) line += ` ${percent}`;
  if (p.bytes_total) line += ` — ${mb(p.bytes_loaded)} of ${mb(p.bytes_total)} MB`;
  else if (p.bytes_loaded) line += ` — ${mb(p.bytes_loaded)} MB`;
  if (p.bytes_per_second > 0 && p.phase !== 'device') line += `, ${mb(p.bytes_per_second)} MB/s`;
  if (p.phase === 'cache' && p.from_cache) line += ', no download';
  // The server restarted the file from its first byte: say why the bar waits.
  if (p.resume_skip) line += ` — the server sent the file again from its start: passing over the ${mb(p.resume_skip.bytes_to_skip)} MB already loaded (${mb(p.resume_skip.bytes_skipped)} MB so far)`;
  $('status').textContent = `${line}…`;
  $('bar-text').textContent = percent;
}

async function loadModel(next) {
  const seq = ++loadSeq;
  isLoading = true;
  loading?.abort();
  running?.ac.abort();
  const old = engine;
  engine = null;
  source = next;
  clearError();
  $('model-name').textContent = next.label;
  $('model-chooser').open = false;
  showProgress({ phase: 'device', fraction: null, bytes_loaded: 0, bytes_total: null, bytes_per_second: 0, parts: 1 });
  setState('loading');
  if (old) await old.unload().catch((err) => console.warn('unload', err));
  if (seq !== loadSeq) return;
  const ac = new AbortController();
  loading = ac;
  let bytes = 0;
  try {
    const loaded = await createEngine({
      model: next.model,
      hfEndpoint,
      context: settings.context(),
      ...(threads === undefined ? {} : { threads }),
      signal: ac.signal,
      onProgress: (p) => {
        if (seq !== loadSeq) return;
        bytes = p.bytes_total ?? p.bytes_loaded;
        showProgress(p);
      },
    });
    if (seq !== loadSeq) {
      loaded.unload();
      return;
    }
    engine = loaded;
    isLoading = false;
    $('bar').value = 1;
    $('bar-text').textContent = '100%';
    $('status').textContent = describeLoaded(engine.info, next, bytes);
    $('runs-on').textContent = `Runs ${where()}; nothing you type leaves this tab.`;
    if (log.querySelector('.empty')) showEmpty();
    setState('ready');
    if (!engine.info.has_chat_template) {
      $('status').textContent += ' This model has no chat template of its own.';
    }
    refreshCache();
  } catch (err) {
    if (seq !== loadSeq) return;
    engine = null;
    isLoading = false;
    if (ac.signal.aborted) {
      $('status').textContent = 'Loading cancelled.';
      showError(Object.assign(new Error(`Loading ${next.label} was cancelled.`), { code: 'cancelled' }));
    } else {
      $('status').textContent = `Could not load ${next.label}.`;
      showError(err);
    }
    setState('error');
  } finally {
    if (loading === ac) loading = null;
  }
}

function loadFiles(files) {
  try {
    loadModel(filesSource(files));
  } catch (err) {
    showError(err);
    idleState();
  }
}

/** How a cached URL is shown: a Hugging Face file as `REPO/FILE`, else its host and file name. */
function cachedName(url) {
  const u = new URL(url);
  const hf = /^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/.exec(u.pathname);
  return hf ? `${decodeURIComponent(hf[1])}/${decodeURIComponent(hf[2])}` : `${u.host}/${fileName(url)}`;
}

/** One row of the cached-models list: name, size, and a button that deletes it. */
function cacheRow(c) {
  const size = c.partial ? `${mb(c.bytes)} of ${mb(c.total)} MB, not finished` : `${mb(c.bytes)} MB`;
  const name = c.url ? cachedName(c.url) : `${c.key} (not tied to a model)`;
  const del = h('button', { type: 'button', title: c.url ?? c.key, onclick: async () => {
    del.disabled = true;
    try {
      // A file the index does not name goes only with everything (deleteCachedModels()).
      await deleteCachedModels(c.url ?? undefined);
    } catch (err) {
      showError(err);
    }
    refreshCache();
  } }, c.url ? 'Delete' : 'Delete all');
  return h('li', {}, h('span', { class: 'cache-name', title: c.url ?? c.key }, name), ` ${size} `, del);
}

async function refreshCache() {
  try {
    const cached = await listCachedModels();
    const bytes = cached.reduce((n, c) => n + c.bytes, 0);
    const partial = cached.filter((c) => c.partial).length;
    const orphans = cached.filter((c) => c.orphan).length;
    const notes = [partial && `${partial} not finished: resumed on the next load`, orphans && `${orphans} not tied to a model: clearing removes ${orphans > 1 ? 'them' : 'it'}`].filter(Boolean);
    // Persistent storage is asked for before a large download (the package does it).
    const persisted = await navigator.storage?.persisted?.().catch(() => null);
    const lasts = persisted === true ? 'persistent' : persisted === false ? 'not persistent: the browser may clear it when space runs low' : null;
    $('cache-info').textContent = (cached.length
      ? `Browser storage: ${cached.length} model file${cached.length > 1 ? 's' : ''}${notes.length ? ` (${notes.join('; ')})` : ''}, ${mb(bytes)} MB`
      : 'Browser storage: no cached models') + (lasts ? `; ${lasts}` : '');
    $('cache-list').replaceChildren(...cached.map(cacheRow));
    $('clear-cache').disabled = cached.length === 0;
  } catch (err) {
    $('cache-info').textContent = `Browser storage: unavailable (${err.message})`;
  }
}

async function clearCache() {
  try {
    await deleteCachedModels();
    $('status').textContent = 'Cached models deleted from browser storage; the next load downloads again.';
  } catch (err) {
    showError(err);
  }
  refreshCache();
}

// ---- chat -----------------------------------------------------------------

/** Where the loaded model runs, in words: "on your GPU" or "on your CPU" (engine.info.backend). */
const where = () => (engine?.info.backend === 'webgpu' ? 'on your GPU' : engine ? 'on your CPU' : 'in this tab');

function showEmpty() {
  log.replaceChildren(h('p', { class: 'empty' },
    `Ask anything. A small model answers from this tab, ${where()}; it can be wrong, and it knows nothing after its training.`));
}

function addAssistant() {
  // A thinking model's reasoning, folded above the answer: put in place
  // when some arrives (a reply without reasoning has no such element).
  const thoughts = h('div', { class: 'md' });
  const thinking = h('details', { class: 'thinking' }, h('summary', {}, 'Thinking'), thoughts);
  const body = h('div', { class: 'md' });
  const meta = h('div', { class: 'meta' });
  const article = h('article', { class: 'msg assistant' }, h('span', { class: 'sr' }, 'Assistant: '), body, meta);
  log.querySelector('.empty')?.remove();
  log.append(article);
  return { article, body, meta, thinking, thoughts };
}

function describeReply(usage, timings, finish) {
  return `${usage.completion_tokens} tokens, ${rate(timings.decode_tok_s)} tok/s ` +
    `(prompt ${usage.prompt_tokens} tokens, ${timings.prefilled_tokens} run at ${rate(timings.prefill_tok_s)} tok/s)` +
    (finish === 'length' ? ', stopped at max_tokens' : '');
}

/** Starts a request that Stop can cancel; returns its AbortController. */
function begin(kind) {
  clearError();
  running = { kind, ac: new AbortController() };
  setState('generating');
  return running.ac;
}
function end() {
  running = null;
  idleState();
}

async function send(text) {
  if (!engine || running || !settings.check()) return;
  const ac = begin('chat');
  const history = messages; // "New chat" starts another array; this reply belongs to this one
  history.push({ role: 'user', content: text });
  log.querySelector('.empty')?.remove();
  const userEl = h('article', { class: 'msg user' }, h('span', { class: 'sr' }, 'You: '), text);
  log.append(userEl);
  const { article, body, meta, thinking, thoughts } = addAssistant();
  log.scrollTop = log.scrollHeight;
  const renderer = streamInto(body, log);
  const thoughtRenderer = streamInto(thoughts, log);
  meta.textContent = 'Reading the prompt…';
  let content = '';
  let reasoning = '';
  let finish = null;
  let last = null;
  let pieces = 0;
  try {
    const system = settings.system();
    const stream = await engine.chat.completions.create({
      ...settings.sampling(),
      messages: system ? [{ role: 'system', content: system }, ...history] : [...history],
      stream: true,
      // The last chunk then has no choices and the usage (and timings) the reply's line shows.
      stream_options: { include_usage: true },
      signal: ac.signal,
      onProgress: (p) => {
        if (pieces === 0 && p.prompt_tokens_total > 0) meta.textContent = `Reading the prompt: ${p.prompt_tokens_done} of ${p.prompt_tokens_total} tokens…`;
      },
    });
    for await (const chunk of stream) {
      last = chunk;
      const choice = chunk.choices[0];
      if (!choice) continue; // the usage chunk
      if (choice.delta?.reasoning_content) {
        reasoning += choice.delta.reasoning_content;
        pieces++;
        if (!thinking.isConnected) article.insertBefore(thinking, body);
        thoughtRenderer.set(reasoning);
        meta.textContent = 'Thinking…';
      }
      if (choice.delta?.content) {
        content += choice.delta.content;
        pieces++;
        renderer.set(content);
        meta.textContent = 'Writing…';
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (ac.signal.aborted && !finish) throw Object.assign(new Error('stopped'), { code: 'aborted' });
    renderer.set(content);
    renderer.flush();
    thoughtRenderer.flush();
    // The answer goes back into the conversation; its reasoning does not
    // (templates drop earlier turns' reasoning).
    history.push({ role: 'assistant', content });
    const result = {
      id: last?.id,
      object: 'chat.completion',
      created: last?.created,
      model: last?.model,
      choices: [{ index: 0, message: { role: 'assistant', content, ...(reasoning && { reasoning_content: reasoning }) }, finish_reason: finish }],
      usage: last?.usage,
      timings: last?.timings,
    };
    window.lastResult = result;
    meta.textContent = result.usage && result.timings ? describeReply(result.usage, result.timings, finish) : '';
    // A few tokens say little about speed; a reply of 8 or more predicts the menu's speeds.
    if (result.usage?.completion_tokens >= 8) noteReplySpeed(engine?.info, result.timings?.decode_tok_s);
  } catch (err) {
    renderer.set(content);
    renderer.flush();
    thoughtRenderer.flush();
    if (ac.signal.aborted || err.code === 'aborted') {
      if (content) history.push({ role: 'assistant', content });
      else history.pop(); // nothing came: the question stays in view but not in the history
      meta.textContent = `Stopped after ${pieces} piece${pieces === 1 ? '' : 's'} of text.`;
    } else {
      history.pop();
      userEl.classList.add('failed');
      if (content) meta.textContent = 'Cut short by an error.';
      else article.remove();
      showError(err);
    }
  } finally {
    if (running?.ac === ac) end();
  }
}

function newChat() {
  if (running?.kind === 'chat') running.ac.abort();
  messages = [];
  clearError();
  showEmpty();
  if (engine && !running) setState('ready');
  $('input').focus();
}

// ---- wiring ----------------------------------------------------------------

$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('input').value.trim();
  if (!text || running || !engine) return;
  $('input').value = '';
  send(text);
});
$('input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('form').requestSubmit();
  }
});
$('stop').addEventListener('click', () => running?.ac.abort());
$('sum-stop').addEventListener('click', () => running?.ac.abort());
$('new-chat').addEventListener('click', newChat);
$('cancel-load').addEventListener('click', () => loading?.abort());
$('load-default').addEventListener('click', () => loadModel(urlSource(DEFAULT_MODEL)));
$('url-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const url = $('model-url').value.trim();
  if (!url) return;
  try {
    const next = urlSource(url);
    const query = new URLSearchParams(location.search);
    query.set('model', url);
    history.replaceState(null, '', `?${query}`);
    loadModel(next);
  } catch (err) {
    showError(err);
  }
});
$('model-file').addEventListener('change', (e) => {
  if (e.target.files.length) loadFiles(e.target.files);
  e.target.value = '';
});
$('clear-cache').addEventListener('click', clearCache);
$('model-chooser').addEventListener('toggle', (e) => {
  if (!e.target.open) return;
  refreshCache();
  showMenu();
});
$('menu-mix').addEventListener('change', showMenu);
// The menu sizes for the context the next load gets: size it again when that changes.
$('settings-form').elements.context.addEventListener('change', () => {
  if ($('model-chooser').open) showMenu();
});

/** The model menu, sized at the context the next load would get. */
function showMenu() {
  const mix = $('menu-mix').value;
  refreshMenu({
    mix: MENU_MIXES.includes(mix) ? mix : MENU_MIXES[0],
    context: settings.context() ?? 4096,
    endpoint: hfEndpoint,
    onLoad: (name, entry, { context } = {}) => {
      if (context) {
        // The row fits only a shorter context: load at it, and show it in Settings.
        const field = $('settings-form').elements.context;
        field.value = String(context);
        field.form.dispatchEvent(new Event('input')); // remembered as if typed
      }
      const query = new URLSearchParams(location.search);
      query.set('model', name);
      history.replaceState(null, '', `?${query}`);
      $('model-url').value = name;
      loadModel(urlSource(name));
    },
  });
}

const summarizeView = initSummarize({
  engine: () => engine,
  settings,
  begin,
  end,
  fail: showError,
});

// Ask your documents: a second engine embeds them (ui/documents-view.js); this one answers.
const documentsView = initDocuments({
  engine: () => engine,
  settings,
  begin,
  end,
  fail: showError,
});

const TABS = ['chat', 'summarize', 'documents'];
const selectedTab = () => TABS.find((t) => $(`tab-${t}`).getAttribute('aria-selected') === 'true');
function selectTab(name) {
  for (const t of TABS) {
    const on = t === name;
    $(`tab-${t}`).setAttribute('aria-selected', String(on));
    $(`tab-${t}`).tabIndex = on ? 0 : -1;
    $(`${t}-view`).hidden = !on;
  }
  if (name === 'documents') documentsView.show();
}
for (const t of TABS) $(`tab-${t}`).addEventListener('click', () => selectTab(t));
document.querySelector('[role=tablist]').addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
  const next = TABS[(TABS.indexOf(selectedTab()) + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
  selectTab(next);
  $(`tab-${next}`).focus();
});

// Files dropped anywhere: .gguf → load the model; .txt / .md → summarize.
let dragDepth = 0;
const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
document.addEventListener('dragenter', (e) => {
  if (!hasFiles(e)) return;
  dragDepth++;
  $('drop-overlay').hidden = false;
});
document.addEventListener('dragleave', (e) => {
  if (hasFiles(e) && --dragDepth <= 0) {
    dragDepth = 0;
    $('drop-overlay').hidden = true;
  }
});
document.addEventListener('dragover', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = 'copy';
});
document.addEventListener('drop', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth = 0;
  $('drop-overlay').hidden = true;
  const files = [...e.dataTransfer.files];
  if (files.some((f) => /\.gguf$/i.test(f.name))) return loadFiles(files);
  // On the Documents tab: documents and folders to ask (taken now: a drop's items go with its event).
  if (selectedTab() === 'documents') return documentsView.drop(takeDrop(e.dataTransfer));
  const text = files.find(isTextFile);
  if (text) {
    selectTab('summarize');
    return summarizeView.loadText(text);
  }
  showError(Object.assign(new Error(`Drop a .gguf model, or a .txt / .md file to summarize (not ${files.map((f) => f.name).join(', ')}).`), { code: 'page_files' }));
  if (!running) idleState();
});

// For tests and the console: the engine, and the renderer on its own.
window.tabllmPage = {
  get engine() {
    return engine;
  },
  renderMarkdown,
  sanitize,
  /** The Documents tab's DocumentIndex (null until its embedding model is loaded). */
  get documents() {
    return documentsView.index;
  },
  /** Shows `text` as the Documents tab's answer, its [n] citations linked to the last sources. */
  showAnswer: (text) => documentsView.showAnswer(text),
  /** Shows `text` as an assistant reply, through the same streaming renderer. */
  showReply(text) {
    const { body } = addAssistant();
    const renderer = streamInto(body, log);
    renderer.set(text);
    renderer.flush();
    return body;
  },
};

showEmpty();
selectTab('chat');
let initial;
try {
  initial = urlSource(params.get('model') || DEFAULT_MODEL);
} catch (err) {
  showError(err);
}
if (initial) loadModel(initial);
