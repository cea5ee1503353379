// pkg/web-ai.d.ts against the explainers' examples (checked by
// `npx tsc --noEmit -p tests/browser/types`, scripts/test.sh): code written
// for the browser's own LanguageModel / Summarizer typechecks against tabllm/web-ai.
import { configure, install, LanguageModel, Summarizer } from '../../../pkg/web-ai.js';

configure({ model: '/models/SmolLM2-135M-Instruct.Q4_1.gguf', context: 512, languages: ['en'] });
const installed: Array<'LanguageModel' | 'Summarizer'> = install();

export async function examples(): Promise<void> {
  const session = await LanguageModel.create({
    initialPrompts: [{ role: 'system', content: 'Pretend to be an eloquent hamster.' }],
    monitor(m) {
      m.addEventListener('downloadprogress', (e) => console.log(`Downloaded ${e.loaded * 100}%`));
    },
  });
  const result: string = await session.prompt('What is your favorite food?');
  for await (const chunk of session.promptStreaming('Write me an extra-long poem.') as unknown as AsyncIterable<string>) console.log(chunk);
  await session.append([{ role: 'user', content: [{ type: 'text', value: 'Hello' }] }]);
  const usage: number = await session.measureContextUsage('x', { responseConstraint: { type: 'object' } });
  console.log(result, usage, session.contextUsage, session.contextWindow, installed);
  session.oncontextoverflow = () => console.log('overflow');
  const clone: LanguageModel = await session.clone({ signal: AbortSignal.timeout(1000) });
  clone.destroy();
  const availability = await LanguageModel.availability({ expectedInputs: [{ type: 'text', languages: ['en'] }] });
  if (availability === 'unavailable') return;

  const summarizer = await Summarizer.create({ sharedContext: 'An article', type: 'headline', length: 'short', preference: 'auto' });
  const summary: string = await summarizer.summarize('text', { context: 'World Markets' });
  console.log(summary, summarizer.inputQuota, await summarizer.measureInputUsage('text'));
  try {
    await summarizer.summarize('long');
  } catch (e) {
    if (e instanceof DOMException && e.name === 'QuotaExceededError') console.error(e);
  }
}
