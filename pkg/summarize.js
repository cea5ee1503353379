// Placeholder until summarize lands (see tabllm.d.ts).
import { TabllmError } from './errors.js';

export async function summarize() {
  throw new TabllmError('internal', 'summarize is not built yet');
}
