// The settings panel: system prompt, sampling options and the context
// length. Values come from the URL (?temperature=0&max_tokens=8…), else from
// the last visit (localStorage), else the engine's defaults (empty field).
const KEY = 'tabllm.settings';
const NUMBERS = ['temperature', 'top_p', 'top_k', 'max_tokens', 'repetition_penalty', 'seed'];
const FIELDS = [...NUMBERS, 'context', 'system'];

export function initSettings(form, params) {
  let stored = {};
  try {
    stored = JSON.parse(localStorage.getItem(KEY) ?? '{}') ?? {};
  } catch {
    // unreadable or blocked storage: start from the defaults
  }
  for (const name of FIELDS) {
    const value = params.get(name) ?? stored[name];
    if (value !== undefined && value !== null) form.elements[name].value = value;
  }
  form.addEventListener('input', () => {
    const values = Object.fromEntries(FIELDS.map((name) => [name, form.elements[name].value]));
    try {
      localStorage.setItem(KEY, JSON.stringify(values));
    } catch {
      // not remembered
    }
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  const number = (name) => {
    const field = form.elements[name];
    return field.value.trim() === '' || !field.validity.valid ? undefined : Number(field.value);
  };
  return {
    /** False (and the panel opened on the bad field) when a value is out of range. */
    check() {
      if (form.checkValidity()) return true;
      form.closest('details').open = true;
      form.reportValidity();
      return false;
    },
    /** Sampling options for a request; empty fields are left to the engine. */
    sampling() {
      const out = {};
      for (const name of NUMBERS) {
        const value = number(name);
        if (value !== undefined) out[name] = value;
      }
      return out;
    },
    system: () => form.elements.system.value.trim(),
    context: () => number('context'),
    temperature: () => number('temperature'),
  };
}
