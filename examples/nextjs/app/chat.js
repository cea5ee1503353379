'use client';
// A minimal chat with tabllm in a Next.js client component: load a model by
// URL, send one message, show the reply as it streams. `?model=URL` picks
// another model; `?threads=N` runs the CPU backend on N threads (which needs
// the cross-origin isolation next.config.mjs sets up). The engine is created
// in an effect, so only in the browser: the server renders the page around it.
import { useEffect, useRef, useState } from 'react';
import { createEngine } from 'tabllm';

const DEFAULT_MODEL = '/models/SmolLM2-135M-Instruct.Q4_1.gguf';

export default function Chat() {
  const engine = useRef(null);
  const [state, setState] = useState('loading');
  const [status, setStatus] = useState('Loading…');
  const [info, setInfo] = useState('');
  const [message, setMessage] = useState('What is the tallest mountain on Earth?');
  const [reply, setReply] = useState('');

  useEffect(() => {
    const params = new URLSearchParams(location.search);
    const model = params.get('model') ?? DEFAULT_MODEL;
    const threads = params.has('threads') ? Number(params.get('threads')) : undefined;
    let loaded = null;
    let cancelled = false;
    // Stops the download when React unmounts the component before the load
    // ends (in development it runs every effect twice: without this the
    // model would download twice).
    const abort = new AbortController();
    setStatus(`Loading ${model}…`);
    createEngine({
      model,
      context: 1024,
      threads,
      signal: abort.signal,
      onProgress: (p) => { if (p.fraction !== null) setStatus(`${p.phase} ${Math.round(p.fraction * 100)}%`); },
    }).then((e) => {
      loaded = e;
      if (cancelled) return e.unload();
      engine.current = e;
      const { count } = e.info.threads ?? {};
      setInfo(`${e.info.name} (${e.info.architecture}) on the ${e.info.backend} backend` + (count > 1 ? ` on ${count} threads` : ''));
      setState('ready');
      setStatus('Ready');
    }, (e) => {
      if (cancelled) return; // the abort below
      setState('error');
      setStatus(`${e.code ?? e.name}: ${e.message}`);
    });
    // React may unmount the component (and runs effects twice in development).
    return () => {
      cancelled = true;
      abort.abort();
      engine.current = null;
      loaded?.unload();
    };
  }, []);

  async function send(event) {
    event.preventDefault();
    setReply('');
    setState('generating');
    setStatus('Generating…');
    try {
      // Greedy (temperature 0): the same reply each time.
      const stream = await engine.current.chat.completions.create({
        messages: [{ role: 'user', content: message }],
        temperature: 0,
        max_tokens: 32,
        stream: true,
      });
      for await (const chunk of stream) setReply((r) => r + (chunk.choices[0]?.delta.content ?? ''));
      setState('done');
      setStatus('Done');
    } catch (e) {
      setState('error');
      setStatus(`${e.code ?? e.name}: ${e.message}`);
    }
  }

  return (
    <main id="app" data-state={state}>
      <h1>tabllm with Next.js</h1>
      <p id="status">{status}</p>
      <p id="info">{info}</p>
      <form id="chat" onSubmit={send}>
        <input id="message" value={message} onChange={(e) => setMessage(e.target.value)} size={50} />
        <button id="send" disabled={state === 'loading' || state === 'generating' || state === 'error'}>Send</button>
      </form>
      <p id="reply">{reply}</p>
    </main>
  );
}
