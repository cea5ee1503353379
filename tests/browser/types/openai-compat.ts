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
  ChatCompletionFunctionTool,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionNamedToolChoice,
  ChatCompletionStreamOptions,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type { ResponseFormatJSONObject, ResponseFormatJSONSchema, ResponseFormatText } from 'openai/resources/shared';
import type {
  AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, CompletionChunk, Engine, FunctionTool, ResponseFormat, StreamOptions, TokenLogprob, ToolCallDelta, ToolChoice,
} from '../../../pkg/tabllm.js';

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

// Tool calling. tabllm → OpenAI: its tools, tool_choice, reply and streamed
// calls are OpenAI's; a reply with tool_calls goes back into the
// conversation (OpenAI's assistant message param, and tabllm's ChatMessage).
export const toolAsOpenAI = (t: FunctionTool): ChatCompletionTool => t;
export const toolChoiceAsOpenAI = (c: ToolChoice): ChatCompletionToolChoiceOption => c;
export const replyCalls = (m: AssistantMessage): ChatCompletionMessageToolCall[] | undefined => m.tool_calls;
export const replyAsParam = (m: AssistantMessage): ChatCompletionMessageParam => m;
export const replyBack = (m: AssistantMessage): ChatMessage => m;
export function streamedCalls(c: ChatCompletionChunk): OpenAIChatCompletionChunk.Choice.Delta.ToolCall[] | undefined {
  const d: ToolCallDelta[] | undefined = c.choices[0].delta.tool_calls;
  return d;
}
// OpenAI → tabllm: function tools and the tool_choice forms tabllm takes
// (custom tools and `allowed_tools` are OpenAI's, refused at run time).
export const toolFromOpenAI = (t: ChatCompletionFunctionTool): FunctionTool => t;
export const namedChoiceFromOpenAI = (c: ChatCompletionNamedToolChoice | 'auto' | 'none' | 'required'): ToolChoice => c;
export const toolRequest: ChatCompletionRequest = {
  messages: [
    { role: 'user', content: 'Weather in Oslo?' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '12 °C' },
  ],
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  tool_choice: 'auto',
  parallel_tool_calls: false,
};

// stream_options: include_usage both ways (OpenAI's include_obfuscation is
// refused by type, and by name at run time); the usage chunk, with no
// choices, is a tabllm chunk and so an OpenAI one.
export const streamOptionsAsOpenAI = (o: StreamOptions): ChatCompletionStreamOptions => o;
export const streamOptionsFromOpenAI = (o: Omit<ChatCompletionStreamOptions, 'include_obfuscation'>): StreamOptions => o;
// @ts-expect-error include_obfuscation is not tabllm's
export const obfuscation: StreamOptions = { include_obfuscation: false };
export const usageRequest: ChatCompletionRequest & { stream: true } = {
  messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true },
};
const usage = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 };
const meta = { id: 'chatcmpl-tabllm-1', created: 0, model: 'm' };
export const usageChunk: ChatCompletionChunk = { ...meta, object: 'chat.completion.chunk', choices: [], usage };
export const usageChunkAsOpenAI: OpenAIChatCompletionChunk = usageChunk;
export const nullUsageChunk: ChatCompletionChunk = {
  ...meta, object: 'chat.completion.chunk', usage: null,
  choices: [{ index: 0, delta: { content: 'Hi' }, logprobs: null, finish_reason: null }],
};
export const textUsageChunk: CompletionChunk = { ...meta, object: 'text_completion', choices: [], usage };

// response_format both ways.
export const formatToOpenAI = (f: ResponseFormat): OpenAIResponseFormat => f;
export const formatFromOpenAI = (f: OpenAIResponseFormat): ResponseFormat => f;

// OpenAI → tabllm: the subset tabllm takes. Refused fields (functions,
// function_call, audio, modalities,
// prediction, …) are left out by type; tabllm refuses them by name at run
// time too. `tools` / `tool_choice` are narrowed to the forms tabllm takes
// (function tools; not custom tools or `allowed_tools`). Messages are tabllm's ChatMessage: OpenAI's
// message union also holds what tabllm does not render (the `function`
// role, image / audio / file and refusal content parts), refused at run time.
// Every tabllm message is an OpenAI one (the tabllm → OpenAI lines above).
type Refused = 'tools' | 'tool_choice' | 'functions' | 'function_call' | 'audio'
  | 'modalities' | 'prediction' | 'messages' | 'stream_options';
type Subset<T> = Omit<T, Refused> & {
  messages: ChatCompletionRequest['messages'];
  stream_options?: Omit<ChatCompletionStreamOptions, 'include_obfuscation'> | null;
  tools?: ChatCompletionFunctionTool[];
  tool_choice?: ChatCompletionNamedToolChoice | 'auto' | 'none' | 'required';
};
declare const subset: Subset<ChatCompletionCreateParamsNonStreaming>;
declare const streamingSubset: Subset<ChatCompletionCreateParamsStreaming>;
export const fromOpenAI: ChatCompletionRequest = subset;
export const fromOpenAIStreaming: ChatCompletionRequest & { stream: true } = streamingSubset;
void openaiRequest;
void openaiStreamingRequest;
