// tabllm's request and response types (pkg/tabllm.d.ts) against the openai
// package's: what tabllm returns must be usable wherever code expects
// OpenAI's objects, and OpenAI-style requests must go into tabllm.
// Checked by `npx tsc --noEmit -p tests/browser/types` (scripts/test.sh).
import type {
  ChatCompletion as OpenAIChatCompletion,
  ChatCompletionChunk as OpenAIChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionTokenLogprob,
} from 'openai/resources/chat/completions';
import type { ResponseFormatJSONObject, ResponseFormatJSONSchema, ResponseFormatText } from 'openai/resources/shared';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Engine, ResponseFormat, TokenLogprob } from '../../../pkg/tabllm.js';

type OpenAIResponseFormat = ResponseFormatText | ResponseFormatJSONSchema | ResponseFormatJSONObject;

declare const engine: Engine;
declare const request: ChatCompletionRequest;
declare const openaiRequest: ChatCompletionCreateParamsNonStreaming;
declare const openaiStreamingRequest: ChatCompletionCreateParamsStreaming;

// tabllm → OpenAI. A tabllm request is an OpenAI request once it names a
// model (tabllm ignores `model`; its own extra fields are allowed).
export const asOpenAI: ChatCompletionCreateParamsNonStreaming = { ...request, stream: false, model: 'tabllm' };
export const asOpenAIStreaming: ChatCompletionCreateParamsStreaming = { ...request, stream: true, model: 'tabllm' };

export async function responses(): Promise<void> {
  const done: OpenAIChatCompletion = await engine.chat.completions.create({ ...request, stream: false });
  for await (const chunk of await engine.chat.completions.create({ ...request, stream: true })) {
    const c: OpenAIChatCompletionChunk = chunk;
    void c;
  }
  const lp: ChatCompletionTokenLogprob[] | null | undefined = done.choices[0].logprobs?.content;
  void lp;
}
export const tokenLogprob = (t: TokenLogprob): ChatCompletionTokenLogprob => t;

// response_format both ways.
export const formatToOpenAI = (f: ResponseFormat): OpenAIResponseFormat => f;
export const formatFromOpenAI = (f: OpenAIResponseFormat): ResponseFormat => f;

// OpenAI → tabllm: the subset tabllm takes. Refused fields (tools, tool_choice,
// functions, function_call, logit_bias, audio, modalities,
// prediction, parallel_tool_calls, …) are left out by type; tabllm refuses
// them by name at run time too. Messages are tabllm's ChatMessage: OpenAI's
// message union also holds what tabllm does not render (the `function`
// role, image / audio / file and refusal content parts), refused at run time.
// Every tabllm message is an OpenAI one (the tabllm → OpenAI lines above).
type Refused = 'tools' | 'tool_choice' | 'functions' | 'function_call' | 'logit_bias' | 'audio'
  | 'modalities' | 'prediction' | 'parallel_tool_calls' | 'messages';
type Subset<T> = Omit<T, Refused> & { messages: ChatCompletionRequest['messages'] };
declare const subset: Subset<ChatCompletionCreateParamsNonStreaming>;
declare const streamingSubset: Subset<ChatCompletionCreateParamsStreaming>;
export const fromOpenAI: ChatCompletionRequest = subset;
export const fromOpenAIStreaming: ChatCompletionRequest & { stream: true } = streamingSubset;
void openaiRequest;
void openaiStreamingRequest;
