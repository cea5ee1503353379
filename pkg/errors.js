// Errors of the package: a JS Error with a stable `code` (see ErrorCode in
// tabllm.d.ts) and optional `details`. Used on both sides of the worker.

export class TabllmError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = code === 'aborted' ? 'AbortError' : 'TabllmError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

/** A plain object that survives postMessage. */
export function serializeError(err) {
  let details = err?.details;
  if (typeof details === 'string') {
    try {
      details = JSON.parse(details);
    } catch {
      // keep the string
    }
  }
  let code = err?.code;
  if (typeof code !== 'string') {
    // A wasm trap (RuntimeError) or a bug of ours.
    code = err?.name === 'AbortError' ? 'aborted' : 'internal';
  }
  return { code, message: String(err?.message ?? err), details };
}

export function deserializeError(e) {
  return new TabllmError(e.code, e.message, e.details);
}
