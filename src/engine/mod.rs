//! Generation: prompt → prefill in chunks → decode loop (one submission per
//! token, the token picked on the GPU: argmax or sampler, 4 bytes read back)
//! → incremental UTF-8-safe text, with stop strings, a token
//! budget and abort. The KV cache of a prompt prefix shared with the previous
//! call is reused instead of prefilled again, where the cache still holds it
//! (sliding-window rings forget old positions, see `kv`).

mod kv;
#[cfg(not(target_arch = "wasm32"))]
mod load;
mod stop;
mod text;
mod throughput;

pub use kv::KvCache;
#[cfg(not(target_arch = "wasm32"))]
pub use load::load_engine;
pub use stop::{StopMatcher, StopScan};
pub use text::{Ending, Flow, TextOut};
pub use throughput::{measure_throughput, BenchCase, BenchError, BenchPlan, BenchRow, BenchTest, DecodeSummary, PrefillSummary, Throughput};

use std::sync::Arc;

use web_time::Instant;

use crate::constrain::{Constraint, ConstraintError, ConstraintState, ConstraintVocab};
use crate::model::{BackendKind, Model, ModelError, Output, PendingStep, StepInput, StepResult};
use crate::sampler::{LogitBias, LogitBiasError, Sampler, SamplerConfig};
use crate::chat::{chat_prompt_ids, ChatError, ChatMessage, ChatTemplate, FinalAssistant, RenderArgs, ToolCallFormat, ToolError, ToolRequest};
use crate::chat::{ReasoningStream, ReplyStream, ThinkTags, ToolCallStream};
use crate::tokenizer::{StreamDecoder, Tokenizer, TokenizerError};

/// How a chat request renders (see [`Engine::prepare_chat`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ChatOptions<'a> {
    pub final_assistant: FinalAssistant,
    /// The request's tools, checked against the template.
    pub tools: Option<&'a ToolRequest>,
    /// Extra template variables (`chat_template_kwargs`, `--no-think`'s
    /// `enable_thinking: false`), see [`RenderArgs::extra`].
    pub template_kwargs: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// A rendered chat prompt, ready to generate from.
#[derive(Clone, Debug)]
pub struct ChatPrompt {
    /// The template's text.
    pub text: String,
    pub ids: Vec<u32>,
    /// The format to read tool calls with (`None`: no tools, or `tool_choice` `none`).
    pub format: Option<ToolCallFormat>,
    /// `Some` for a model with think tags (see [`ThinkTags`]): its tags, and
    /// whether the prompt opened the reasoning (the reply starts inside it).
    pub thinking: Option<(ThinkTags, bool)>,
}

impl ChatPrompt {
    /// The reader of the reply: reasoning split off for a model with think
    /// tags, tool calls read with `tools` (see [`ReplyStream`]).
    /// `constrained`: the output follows a grammar (`response_format` or a
    /// forced call) from its first token, so it is all content even when the
    /// prompt opened the reasoning.
    pub fn reply_stream(&self, tools: Option<&ToolRequest>, constrained: bool) -> ReplyStream {
        let reasoning = self.thinking.map(|(tags, open)| ReasoningStream::with_tags(tags, open && !constrained));
        ReplyStream::new(reasoning, self.format.zip(tools).map(|(f, t)| ToolCallStream::new(f, t.parallel).with_tools(&t.tools)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the prompt has {prompt} tokens but the context holds {n_ctx}")]
    PromptTooLong { prompt: usize, n_ctx: u32 },
    /// Refused before tokenizing: even at the longest token's bytes per
    /// token, the text is more than the context holds.
    #[error("the prompt is {bytes} bytes of text: more than a context of {n_ctx} tokens holds, however it tokenizes (at most {max_bytes} bytes)")]
    TextTooLong { bytes: usize, max_bytes: usize, n_ctx: u32 },
    /// Refused before tokenizing (WordPiece): every word is a token at least.
    #[error("the text has {words} words: more than a context of {n_ctx} tokens holds (each word is one token or more)")]
    TooManyWords { words: usize, n_ctx: u32 },
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("this model has no chat template")]
    NoChatTemplate,
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A step failed after some tokens were generated; what they said
    /// (held-back text included) was sent to the callback and is kept here.
    #[error("generation failed after {} tokens: {source}", ids.len())]
    Interrupted { source: ModelError, ids: Vec<u32>, text: String },
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The chat template could not be rendered for this conversation.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The request's `tools` / `tool_choice` / `parallel_tool_calls` cannot be used.
    #[error(transparent)]
    Tools(#[from] ToolError),
    /// The output constraint was refused (before any token) or failed.
    #[error(transparent)]
    Constraint(#[from] ConstraintError),
    /// The logit bias names a token outside the model's vocabulary.
    #[error(transparent)]
    LogitBias(#[from] LogitBiasError),
    /// The embedding request cannot be served by this model.
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
}

#[derive(Clone, Debug)]
pub struct GenerateParams {
    pub max_tokens: u32,
    pub sampler: SamplerConfig,
    pub stop: Vec<String>,
    /// Also return the K highest [id, logit] pairs of the first generated position.
    pub top_logits: usize,
    /// `Some(k)`: each generated token's log-probability under the model and
    /// its `k` most likely alternatives (at most [`MAX_TOP_LOGPROBS`]), see
    /// [`TokenLogprob`]. Every step then reads the whole logits row back and
    /// picks its token on the CPU (slower); `None` keeps the GPU's pick.
    pub logprobs: Option<usize>,
    /// Output that must follow a grammar (a JSON schema, see
    /// [`crate::constrain`]): each step's logits row comes back, tokens the
    /// grammar does not allow next are set to −∞ before the sampler picks,
    /// and the generation stops (finish reason `stop`) when the grammar is
    /// complete.
    pub constraint: Option<Constraint>,
    /// OpenAI's `logit_bias` (see [`LogitBias`]): added to the logits before
    /// the penalties and filters, in every path a token is picked by (the
    /// GPU sampler, the CPU sampler; a greedy request with a bias takes the
    /// GPU sampler, not the plain argmax). With a constraint, the grammar's
    /// mask comes first: a token it forbids stays forbidden whatever its
    /// bias. Ids outside the vocabulary are refused before any work.
    pub logit_bias: LogitBias,
}

impl Default for GenerateParams {
    fn default() -> Self {
        Self { max_tokens: 256, sampler: SamplerConfig::default(), stop: Vec::new(), top_logits: 0, logprobs: None, constraint: None, logit_bias: LogitBias::default() }
    }
}

/// Most alternatives [`GenerateParams::logprobs`] reports per token (OpenAI's `top_logprobs` range).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// A generated token's natural-log probability under the model: the
/// log-softmax of the raw logits of its step, before the logit bias,
/// temperature, penalties and the top-k / top-p / min-p filters (the
/// model's distribution, as OpenAI reports it; the sampler may pick a token
/// the filters allow but the model rates low).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f32,
    /// The most likely tokens of that step, highest first (ties: lower id first).
    pub top: Vec<(u32, f32)>,
}

/// log Σ exp(logits), the sum accumulated in f64 after subtracting the
/// maximum: the log-softmax of a logit `l` is `l - log_sum_exp`. −∞ for an
/// empty row or one of only −∞; NaN logits are skipped.
pub fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits.iter().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64;
    if max == f64::NEG_INFINITY {
        return max;
    }
    let sum: f64 = logits.iter().filter(|v| !v.is_nan()).map(|&v| (v as f64 - max).exp()).sum();
    max + sum.ln()
}

/// Token `id`'s log-probability in the step whose logits are `logits`, and the `k` likeliest tokens'.
pub fn token_logprob(logits: &[f32], id: u32, k: usize) -> TokenLogprob {
    let lse = log_sum_exp(logits);
    let lp = |l: f32| (l as f64 - lse) as f32;
    TokenLogprob {
        id,
        logprob: logits.get(id as usize).map_or(f32::NEG_INFINITY, |&l| lp(l)),
        top: top_k(logits, k.min(MAX_TOP_LOGPROBS)).into_iter().map(|(i, l)| (i, lp(l))).collect(),
    }
}

/// How far the prompt has been read (prefilled) into the KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PrefillProgress {
    /// Prompt tokens prefilled so far in this generation.
    pub done: usize,
    /// Prompt tokens this generation prefills (the prompt less the cached prefix).
    pub total: usize,
}

/// Prompt tokens of the first prefill step on the GPU, before anything is measured.
pub const FIRST_PREFILL_CHUNK: usize = 64;
/// Fewest prompt tokens in a GPU prefill step (unless fewer remain): below
/// this a prefill GEMM's token tiles run part empty.
pub const MIN_PREFILL_CHUNK: usize = 64;
/// The same two on the CPU backend, whose matmuls tile a few tokens at a
/// time: short steps cost little there, and keep an abort within a fraction
/// of a second on a slow machine.
pub const CPU_FIRST_PREFILL_CHUNK: usize = 16;
pub const CPU_MIN_PREFILL_CHUNK: usize = 16;
/// Wall time a prefill step aims at: the longest an abort or a progress
/// report waits, as the engine only sees them between steps.
pub const PREFILL_STEP_TARGET_SECS: f64 = 0.25;

/// Tokens of the next prefill step, after the last one of `last_tokens`
/// tokens took `last_secs`: as many as fit [`PREFILL_STEP_TARGET_SECS`] at
/// that time per token, at least `min_chunk` ([`MIN_PREFILL_CHUNK`], or
/// [`CPU_MIN_PREFILL_CHUNK`]), at most `max_batch` and `remaining`. A fast
/// GPU thus runs full `max_batch` steps, and a software adapter (seconds per
/// token) the minimum.
pub fn next_prefill_chunk(last_secs: f64, last_tokens: usize, remaining: usize, max_batch: usize, min_chunk: usize) -> usize {
    let per_token = last_secs / last_tokens.max(1) as f64;
    let fit = if per_token > 0.0 { PREFILL_STEP_TARGET_SECS / per_token } else { f64::INFINITY };
    // `as` saturates: an unmeasurably fast step asks for max_batch.
    let paced = (fit as usize).max(min_chunk).min(max_batch.max(1));
    paced.min(remaining)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-generation token or stop string.
    Stop,
    /// max_tokens reached, or the context is full.
    Length,
    /// The caller asked to stop.
    Aborted,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Aborted => "abort",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Generation {
    pub prompt_ids: Vec<u32>,
    /// Generated ids, including a final end-of-generation token if one came.
    pub ids: Vec<u32>,
    pub text: String,
    pub finish_reason: FinishReason,
    /// Prompt tokens actually prefilled (fewer than the prompt when a prefix was cached).
    pub prefilled: usize,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    pub top_logits: Option<Vec<(u32, f32)>>,
    /// With [`GenerateParams::logprobs`]: one per token of the text, in order
    /// (a final end-of-generation token has none); empty otherwise.
    pub logprobs: Vec<TokenLogprob>,
}

impl Generation {
    pub fn prefill_tok_s(&self) -> f64 {
        rate(self.prefilled, self.prefill_seconds)
    }
    /// Tokens per second after the first (the first comes from prefill).
    pub fn decode_tok_s(&self) -> f64 {
        rate(self.ids.len().saturating_sub(1), self.decode_seconds)
    }
}

fn rate(n: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

pub struct Engine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub template: Option<ChatTemplate>,
    /// Tokens whose keys and values are in the KV cache, in order.
    cached: KvCache,
    /// Most bytes of text one token covers (its vocabulary text or its
    /// bytes, the longer; at least a character's 4): bounds the tokens of a
    /// text from below before it is tokenized.
    max_token_bytes: usize,
    /// The vocabulary's trie for constrained decoding, built on first use.
    constraint_vocab: Option<Arc<ConstraintVocab>>,
}

impl Engine {
    pub fn new(model: Model, tokenizer: Tokenizer, template: Option<ChatTemplate>) -> Self {
        let cached = KvCache::new(model.kv_ring()).recurrent(model.config.is_recurrent());
        let max_token_bytes = (0..tokenizer.vocab_size() as u32)
            .map(|id| tokenizer.token_bytes(id).len().max(tokenizer.token_text(id).map_or(0, str::len)))
            .fold(4, usize::max);
        Self { model, tokenizer, template, cached, max_token_bytes, constraint_vocab: None }
    }

    /// Refuses a prompt text that cannot fit the context whatever it
    /// tokenizes to, without tokenizing it (by bytes at the longest token's
    /// bytes per token; by words for WordPiece, whose `[UNK]` covers a word
    /// of any length): a huge input (megabytes pasted
    /// into a chat) is refused at once instead of holding the engine while
    /// it is tokenized, only to be refused then.
    pub fn check_text_fits(&self, text: &str) -> Result<(), EngineError> {
        let n_ctx = self.model.n_ctx();
        if let Some(words) = self.tokenizer.min_tokens_by_words(text) {
            return if words > n_ctx as usize { Err(EngineError::TooManyWords { words, n_ctx }) } else { Ok(()) };
        }
        let max_bytes = n_ctx as usize * self.max_token_bytes;
        if text.len() > max_bytes {
            return Err(EngineError::TextTooLong { bytes: text.len(), max_bytes, n_ctx });
        }
        Ok(())
    }

    /// Text → prompt ids: BOS when the file says so, special-token text parsed.
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        if self.tokenizer.add_bos() {
            ids.extend(self.tokenizer.bos_id());
        }
        ids.extend(self.tokenizer.encode(text, true));
        ids
    }

    /// The conversation through the chat template, with the generation prompt
    /// added; a final assistant message is continued (see [`FinalAssistant`]).
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        self.render_chat_with(messages, FinalAssistant::Continue)
    }

    /// [`render_chat`](Self::render_chat), choosing what happens to a final assistant message.
    pub fn render_chat_with(&self, messages: &[ChatMessage], final_assistant: FinalAssistant) -> Result<String, EngineError> {
        let t = self.template.as_ref().ok_or(EngineError::NoChatTemplate)?;
        let (bos, eos) = (self.bos_text(), self.eos_text());
        let args = RenderArgs { bos_token: &bos, eos_token: &eos, ..Default::default() };
        Ok(t.render_prompt(messages, final_assistant, &args)?)
    }

    fn bos_text(&self) -> String {
        self.tokenizer.bos_id().and_then(|i| self.tokenizer.token_text(i)).unwrap_or("").to_string()
    }

    fn eos_text(&self) -> String {
        self.tokenizer.eos_id().and_then(|i| self.tokenizer.token_text(i)).unwrap_or("").to_string()
    }

    /// Chat prompt ids: exactly one BOS when the model wants one, whether or
    /// not the template writes it, as llama.cpp does (see [`chat_prompt_ids`]).
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, EngineError> {
        self.encode_chat_with(messages, FinalAssistant::Continue)
    }

    /// [`encode_chat`](Self::encode_chat), choosing what happens to a final assistant message.
    pub fn encode_chat_with(&self, messages: &[ChatMessage], final_assistant: FinalAssistant) -> Result<Vec<u32>, EngineError> {
        let text = self.render_chat_with(messages, final_assistant)?;
        self.check_text_fits(&text)?;
        Ok(chat_prompt_ids(&self.tokenizer, &text))
    }

    /// [`render_chat_with`](Self::render_chat_with) with a request's tools in
    /// the template's `tools` (checked against the template first, see
    /// [`ChatTemplate::check_tools`]); also returns the format to read tool
    /// calls from the reply with (`None`: no tools, or `tool_choice` `none`).
    pub fn render_chat_tools(
        &self,
        messages: &[ChatMessage],
        final_assistant: FinalAssistant,
        tools: Option<&ToolRequest>,
    ) -> Result<(String, Option<ToolCallFormat>), EngineError> {
        self.render_chat_opts(messages, &ChatOptions { final_assistant, tools, template_kwargs: None })
    }

    /// [`render_chat_tools`](Self::render_chat_tools) with all of [`ChatOptions`].
    pub fn render_chat_opts(&self, messages: &[ChatMessage], opts: &ChatOptions) -> Result<(String, Option<ToolCallFormat>), EngineError> {
        let t = self.template.as_ref().ok_or(EngineError::NoChatTemplate)?;
        let format = match opts.tools {
            Some(tools) => {
                if let Some(detail) = t.compile_error() {
                    return Err(ChatError::TemplateUnusable { detail: detail.to_string() }.into());
                }
                t.check_tools(tools)?
            }
            None => None,
        };
        let (bos, eos) = (self.bos_text(), self.eos_text());
        let args = RenderArgs { bos_token: &bos, eos_token: &eos, tools: opts.tools.map(|t| t.tools.as_slice()), extra: opts.template_kwargs, ..Default::default() };
        Ok((t.render_prompt(messages, opts.final_assistant, &args)?, format))
    }

    /// The grammar (llguidance's Lark syntax) that forces the call a
    /// `tool_choice` of `required` or a named function asks for, in the
    /// model's call format, its markers written as this vocabulary's tokens
    /// where they are one (see [`forced_call_grammar`](crate::chat::forced_call_grammar));
    /// `None` for `auto` / `none`.
    pub fn forced_tool_grammar(&self, tools: &ToolRequest, format: ToolCallFormat) -> Option<String> {
        crate::chat::forced_call_grammar(format, &tools.tools, &tools.choice, &|m| self.tokenizer.token_id(m), &crate::constrain::set_json_spacing)
    }

    /// The constraint a request decodes under: the forced call of a
    /// `tool_choice` of `required` or a named function (in the template's
    /// call `format`), else the `response_format`'s. Both at once is refused
    /// ([`ToolError::ForcedWithResponseFormat`]).
    pub fn request_constraint(&self, tools: Option<&ToolRequest>, format: Option<ToolCallFormat>, response_format: Option<Constraint>) -> Result<Option<Constraint>, EngineError> {
        let forced = match (tools, format) {
            (Some(t), Some(f)) => self.forced_tool_grammar(t, f).map(|g| (t, g)),
            _ => None,
        };
        match (forced, response_format) {
            (Some((t, _)), Some(_)) => Err(ToolError::ForcedWithResponseFormat(t.choice.describe()).into()),
            (Some((t, grammar)), None) => {
                // The arguments follow each tool's schema: a keyword that cannot be
                // enforced is refused as response_format's are, naming the tool.
                let forced = |tool: &serde_json::Value| match &t.choice {
                    crate::chat::ToolChoice::Function(name) => tool["function"]["name"].as_str() == Some(name.as_str()),
                    _ => true,
                };
                for (i, tool) in t.tools.iter().enumerate().filter(|(_, tool)| forced(tool)) {
                    if let Some(parameters) = tool["function"].get("parameters") {
                        crate::constrain::check_schema(parameters, &format!("tools[{i}].function.parameters"))?;
                    }
                }
                Ok(Some(Constraint::from_lark(&grammar).for_field("tools")))
            }
            (None, rf) => Ok(rf),
        }
    }

    /// The prompt of a chat request: rendered with its tools and extra
    /// template variables (see [`render_chat_tools`](Self::render_chat_tools)),
    /// checked to fit, tokenized (see [`chat_prompt_ids`]); and for a model
    /// with think tags, whether the prompt opened the reasoning
    /// ([`ThinkTags::opened_by`]).
    pub fn prepare_chat(&self, messages: &[ChatMessage], opts: &ChatOptions) -> Result<ChatPrompt, EngineError> {
        let (text, format) = self.render_chat_opts(messages, opts)?;
        self.check_text_fits(&text)?;
        let ids = chat_prompt_ids(&self.tokenizer, &text);
        let thinking = self.think_tags().map(|tags| (tags, tags.opened_by(&text)));
        Ok(ChatPrompt { text, ids, format, thinking })
    }

    /// The model's think tags, when its vocabulary has them (see [`ThinkTags::from_vocab`]).
    pub fn think_tags(&self) -> Option<ThinkTags> {
        ThinkTags::from_vocab(|t| self.tokenizer.token_id(t))
    }

    /// [`encode_chat_with`](Self::encode_chat_with) with tools (see [`render_chat_tools`](Self::render_chat_tools)).
    pub fn encode_chat_tools(
        &self,
        messages: &[ChatMessage],
        final_assistant: FinalAssistant,
        tools: Option<&ToolRequest>,
    ) -> Result<(Vec<u32>, Option<ToolCallFormat>), EngineError> {
        let (text, format) = self.render_chat_tools(messages, final_assistant, tools)?;
        self.check_text_fits(&text)?;
        Ok((chat_prompt_ids(&self.tokenizer, &text), format))
    }

    /// A parser for `constraint` over this tokenizer's vocabulary (the
    /// vocabulary's trie is built on the first call and kept).
    pub fn start_constraint(&mut self, constraint: &Constraint) -> Result<ConstraintState, ConstraintError> {
        let vocab = match &self.constraint_vocab {
            Some(v) => v.clone(),
            None => {
                let v = Arc::new(ConstraintVocab::new(&self.tokenizer)?);
                self.constraint_vocab = Some(v.clone());
                v
            }
        };
        ConstraintState::new(vocab, constraint)
    }

    /// Forgets the KV cache contents.
    pub fn reset(&mut self) {
        self.cached.clear();
    }

    /// Generates from `prompt_ids`. `on_text` gets each piece of text as it is
    /// decoded and returns false to abort; it is called after every generated
    /// token, with "" when the token's text is held back (see [`TextOut::push`]),
    /// so an abort is seen then too. However the generation ends, the
    /// text held back for a possible stop string is flushed (see [`TextOut`]).
    pub async fn generate(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation, EngineError> {
        self.generate_observed(prompt_ids, params, on_text, &mut |_| true).await
    }

    /// [`generate`](Self::generate), and `on_prefill` hears how far the
    /// prompt has been read: once before the first prefill step and after
    /// each one. It returns false to abort: the generation then ends before
    /// its first token with finish reason `abort` (the KV cache keeps the
    /// steps already run). A long prompt stays abortable this way, and a
    /// caller can show progress; steps are paced to about
    /// [`PREFILL_STEP_TARGET_SECS`] each (see [`next_prefill_chunk`]).
    pub async fn generate_observed(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
        on_prefill: &mut dyn FnMut(PrefillProgress) -> bool,
    ) -> Result<Generation, EngineError> {
        self.generate_streamed(prompt_ids, params, &mut |s, _, _| on_text(s), on_prefill).await
    }

    /// [`generate_observed`](Self::generate_observed), and each call of
    /// `on_text` also gets the [`TokenLogprob`]s of the tokens generated
    /// since the previous call (with [`GenerateParams::logprobs`]; empty
    /// otherwise), so a stream can send each piece of text with its tokens',
    /// and the tokenizer to name them with.
    /// Tokens whose text a stop string cut away entirely may not reach
    /// `on_text`; [`Generation::logprobs`] holds every one.
    pub async fn generate_streamed(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str, &[TokenLogprob], &Tokenizer) -> bool,
        on_prefill: &mut dyn FnMut(PrefillProgress) -> bool,
    ) -> Result<Generation, EngineError> {
        let n_ctx = self.model.n_ctx();
        if prompt_ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if prompt_ids.len() >= n_ctx as usize {
            return Err(EngineError::PromptTooLong { prompt: prompt_ids.len(), n_ctx });
        }
        params.logit_bias.check_vocab(self.model.config.vocab)?;
        // A grammar is compiled before any work, so a refused one costs nothing.
        let mut constraint = params.constraint.as_ref().map(|c| self.start_constraint(c)).transpose()?;
        let mut sampler = Sampler::new(params.sampler).with_logit_bias(params.logit_bias.clone());
        // Greedy without penalties or bias is the plain GPU argmax; anything
        // else is sampled on the GPU as well (see `token_output`). Either way
        // 4 bytes come back, not the logits row.
        let plain_argmax = sampler.is_plain_argmax();
        // Log-probabilities and a constraint's mask need each step's whole logits row.
        let want_logits = params.logprobs.is_some() || constraint.is_some();

        // Reuse the cached prefix where the cache still holds it.
        let start = self.cached.reusable(prompt_ids);
        self.cached.truncate(start);

        let t0 = Instant::now();
        let max_batch = self.model.max_batch() as usize;
        let mut first = None;
        let total = prompt_ids.len() - start;
        let mut keep_going = on_prefill(PrefillProgress { done: 0, total });
        // Paced steps (see `next_prefill_chunk`): abort and progress come
        // between steps, so on a slow adapter a step stays short.
        let (first_chunk, min_chunk) = match self.model.backend() {
            BackendKind::WebGpu => (FIRST_PREFILL_CHUNK, MIN_PREFILL_CHUNK),
            BackendKind::Cpu => (CPU_FIRST_PREFILL_CHUNK, CPU_MIN_PREFILL_CHUNK),
        };
        let mut n = total.min(first_chunk).min(max_batch);
        while keep_going && self.cached.len() < prompt_ids.len() {
            let at = self.cached.len();
            let chunk = &prompt_ids[at..at + n];
            let last = at + n == prompt_ids.len();
            // The top logits need the whole row: that token is picked on the CPU.
            let out = match (last, params.top_logits > 0 || want_logits) {
                (false, _) => Output::None,
                (true, true) => Output::Logits,
                (true, false) => self.token_output(&mut sampler, plain_argmax, chunk),
            };
            let t = Instant::now();
            first = Some(self.step(chunk, out).await?);
            keep_going = on_prefill(PrefillProgress { done: self.cached.len() - start, total });
            n = next_prefill_chunk(t.elapsed().as_secs_f64(), n, prompt_ids.len() - self.cached.len(), max_batch, min_chunk);
        }
        let prefill_seconds = t0.elapsed().as_secs_f64();
        let Some(first) = first.filter(|_| keep_going) else {
            // Aborted while reading the prompt: no token yet.
            return Ok(Generation {
                prompt_ids: prompt_ids.to_vec(),
                ids: Vec::new(),
                text: String::new(),
                finish_reason: FinishReason::Aborted,
                prefilled: self.cached.len().saturating_sub(start),
                prefill_seconds,
                decode_seconds: 0.0,
                top_logits: None,
                logprobs: Vec::new(),
            });
        };
        let top_logits = first.logits.as_ref().filter(|_| params.top_logits > 0).map(|l| top_k(l, params.top_logits));

        let t1 = Instant::now();
        let mut decoder = StreamDecoder::new();
        // Log-probabilities not yet given to `on_text`, and all of them.
        let pending = std::cell::RefCell::new(Vec::new());
        let mut logprobs = Vec::new();
        let tokenizer = &self.tokenizer;
        let mut send = |s: &str| {
            let lps = std::mem::take(&mut *pending.borrow_mut());
            on_text(s, &lps, tokenizer)
        };
        let mut out = TextOut::new(&params.stop, &mut send);
        let mut ids: Vec<u32> = Vec::new();
        let (mut next, mut next_lp) = pick(&mut sampler, first, self.cached.tokens(), params.logprobs, constraint.as_mut())?;
        // The plain argmax: the step after `next` is queued before
        // `next` is read back (it takes its input from the GPU), so the GPU is
        // not idle while the host handles a token. When `next` ends the
        // generation, that speculative step is dropped: it only wrote a KV
        // entry past what `cached` records. (A sampled step needs the host's
        // penalty window and draw for its token, so it is not queued ahead;
        // nor is a greedy step with a logit bias, which the sampler applies.)
        let pipelined = plain_argmax && !want_logits;
        let mut queued: Option<PendingStep> = None;
        let ending = loop {
            if ids.len() as u32 >= params.max_tokens {
                break Ending::Length;
            }
            ids.push(next);
            if self.tokenizer.is_eog(next) {
                break Ending::Eog;
            }
            if let Some(c) = &mut constraint {
                c.commit(next)?;
            }
            if let Some(lp) = next_lp.take() {
                pending.borrow_mut().push(lp.clone());
                logprobs.push(lp);
            }
            match out.push(&decoder.push(&self.tokenizer, next)) {
                Flow::Go => {}
                // Cut at the stop string: `finish` flushes nothing after it.
                Flow::Stop => break Ending::Eog,
                Flow::Abort => break Ending::Aborted,
            }
            if constraint.as_ref().is_some_and(|c| c.is_complete()) {
                // Nothing may follow: the model is not asked for another token.
                break Ending::Eog;
            }
            if ids.len() as u32 >= params.max_tokens || self.cached.len() + 1 >= n_ctx as usize {
                break Ending::Length;
            }
            let pos = self.cached.len() as u32;
            let step = match queued.take() {
                Some(p) => Ok(p),
                None => {
                    let step_out = if want_logits { Output::Logits } else { self.token_output(&mut sampler, plain_argmax, &[next]) };
                    self.model.submit(StepInput::Ids(&[next]), pos, step_out)
                }
            };
            // Queue the step after this one while there is room for its token.
            let room = (ids.len() as u32) + 1 < params.max_tokens && pos as usize + 2 < n_ctx as usize;
            let step = step.and_then(|p| {
                if pipelined && room {
                    queued = Some(self.model.submit(StepInput::PreviousToken, pos + 1, Output::Argmax)?);
                }
                Ok(p)
            });
            // The next mask is computed while the GPU runs the step.
            let prepared = constraint.as_mut().map_or(Ok(()), |c| c.prepare());
            let result = match step {
                Ok(p) => match prepared {
                    Ok(()) => self.model.finish(p).await,
                    Err(e) => return Err(e.into()),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(r) => {
                    self.cached.extend(&[next]);
                    (next, next_lp) = pick(&mut sampler, r, self.cached.tokens(), params.logprobs, constraint.as_mut())?;
                }
                Err(e) => {
                    // A failed step may have written part of the cache: forget all of it.
                    self.cached.clear();
                    let (text, _) = out.finish(&decoder.finish(), Ending::Failed);
                    return Err(EngineError::Interrupted { source: e, ids, text });
                }
            }
        };
        // A speculative step past the end: its token is never read.
        drop(queued);
        let (text, stopped) = out.finish(&decoder.finish(), ending);
        let finish_reason = match ending {
            _ if stopped => FinishReason::Stop,
            Ending::Eog => FinishReason::Stop,
            Ending::Length => FinishReason::Length,
            Ending::Aborted | Ending::Failed => FinishReason::Aborted,
        };
        Ok(Generation {
            prompt_ids: prompt_ids.to_vec(),
            ids,
            text,
            finish_reason,
            prefilled: prompt_ids.len() - start,
            prefill_seconds,
            decode_seconds: t1.elapsed().as_secs_f64(),
            top_logits,
            logprobs,
        })
    }

    /// What the step that runs `ids` brings back for the next token: the plain
    /// GPU argmax, or a token sampled on the GPU, for which the sampler's
    /// settings, its logit bias, its penalty window (the cached tokens and
    /// `ids`) and one draw of its seeded RNG are written first; or, when the
    /// GPU cannot sample it (the CPU backend; more adjusted ids than the GPU
    /// takes), the logits row for the CPU sampler.
    fn token_output(&self, sampler: &mut Sampler, plain_argmax: bool, ids: &[u32]) -> Output {
        if plain_argmax {
            return Output::Argmax;
        }
        let recent = if sampler.has_penalties() { self.recent_with(ids, sampler.config().penalty_last_n) } else { Vec::new() };
        let draw = sampler.next_draw();
        if self.model.set_sampling(sampler.config(), sampler.logit_bias(), &recent, draw) {
            Output::Sample
        } else {
            Output::Logits
        }
    }

    /// The last `last_n` of the cached tokens followed by `ids`.
    fn recent_with(&self, ids: &[u32], last_n: usize) -> Vec<u32> {
        let cached = self.cached.tokens();
        let take = last_n.saturating_sub(ids.len()).min(cached.len());
        let mut v = cached[cached.len() - take..].to_vec();
        v.extend_from_slice(&ids[ids.len().saturating_sub(last_n)..]);
        v
    }

    /// Runs `ids` at the next positions and records them in the cache. A
    /// failed step may have written part of the cache: forget all of it.
    pub(crate) async fn step(&mut self, ids: &[u32], out: Output) -> Result<StepResult, ModelError> {
        match self.model.step(ids, self.cached.len() as u32, out).await {
            Ok(r) => {
                self.cached.extend(ids);
                Ok(r)
            }
            Err(e) => {
                self.cached.clear();
                Err(e)
            }
        }
    }
}

/// The next token: the GPU's pick (argmax or sample), or the CPU sampler's
/// from the logits (logit bias, then penalties over `recent`), among the
/// tokens `constraint` allows when there is one (masked to −∞ first, so no
/// bias brings a forbidden token back: llama.cpp's grammar-first order);
/// and with `logprobs: Some(k)` and the logits, its [`TokenLogprob`] with
/// `k` alternatives (under the model's own distribution, before the
/// constraint's mask).
fn pick(
    sampler: &mut Sampler,
    r: StepResult,
    recent: &[u32],
    logprobs: Option<usize>,
    constraint: Option<&mut ConstraintState>,
) -> Result<(u32, Option<TokenLogprob>), ConstraintError> {
    let token = match (r.token, &r.logits, constraint) {
        (Some(t), _, _) => t,
        (None, Some(l), None) => sampler.sample(l, recent),
        (None, Some(l), Some(c)) => {
            let mut masked = l.clone();
            c.mask_logits(&mut masked)?;
            sampler.sample(&masked, recent)
        }
        (None, None, _) => unreachable!("a step asked for a token or logits returns one"),
    };
    let lp = logprobs.zip(r.logits.as_deref()).map(|(k, l)| token_logprob(l, token, k));
    Ok((token, lp))
}

/// The k highest (id, logit) pairs, highest first (ties: lower id first).
pub fn top_k(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    let k = k.min(idx.len());
    let cmp = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx.into_iter().map(|i| (i, logits[i as usize])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_are_the_log_softmax() {
        // Large logits: a sum of plain exps would overflow f32.
        let logits = [1000.0f32, 999.0, 998.0, f32::NEG_INFINITY];
        let z: f64 = [0.0f64, -1.0, -2.0].iter().map(|v| v.exp()).sum();
        let lp = token_logprob(&logits, 1, 2);
        assert!((lp.logprob as f64 - (-1.0 - z.ln())).abs() < 1e-6, "{lp:?}");
        assert_eq!(lp.top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![0, 1]);
        assert!((lp.top[0].1 as f64 + z.ln()).abs() < 1e-6, "{lp:?}");
        assert_eq!(token_logprob(&logits, 3, 0).logprob, f32::NEG_INFINITY);
        assert!(token_logprob(&logits, 0, 99).top.len() == 4, "k past the vocabulary: every token");
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    }

    #[test]
    fn prefill_steps_are_paced_to_the_target() {
        // SwiftShader-like: 64 tokens in 40 s; a step of the target would be
        // under one token, so the minimum (GEMM tiles stay full).
        assert_eq!(next_prefill_chunk(40.0, 64, 2000, 512, MIN_PREFILL_CHUNK), MIN_PREFILL_CHUNK);
        // 64 tokens in 0.1 s: 0.25 s holds 160 tokens.
        assert_eq!(next_prefill_chunk(0.1, 64, 2000, 512, MIN_PREFILL_CHUNK), 160);
        // A fast GPU: full max_batch steps.
        assert_eq!(next_prefill_chunk(0.004, 64, 2000, 512, MIN_PREFILL_CHUNK), 512);
        assert_eq!(next_prefill_chunk(0.0, 64, 2000, 512, MIN_PREFILL_CHUNK), 512, "a step too fast to time");
        // Never past what remains, nor past max_batch.
        assert_eq!(next_prefill_chunk(0.004, 64, 100, 512, MIN_PREFILL_CHUNK), 100);
        assert_eq!(next_prefill_chunk(40.0, 64, 20, 512, MIN_PREFILL_CHUNK), 20, "the last few tokens");
        assert_eq!(next_prefill_chunk(40.0, 64, 2000, 8, MIN_PREFILL_CHUNK), 8, "a max_batch below the minimum");
        assert_eq!(next_prefill_chunk(0.1, 64, 0, 512, MIN_PREFILL_CHUNK), 0, "nothing left");
        // The measured rate, not the last size, decides: 512 tokens in 2 s is 64 per 0.25 s.
        assert_eq!(next_prefill_chunk(2.0, 512, 2000, 512, MIN_PREFILL_CHUNK), 64);
        assert_eq!(next_prefill_chunk(0.5, 512, 2000, 512, MIN_PREFILL_CHUNK), 256);
        // The CPU backend's floor: 1 s for 16 tokens paces down to 16, not 64.
        assert_eq!(next_prefill_chunk(1.0, 16, 2000, 512, CPU_MIN_PREFILL_CHUNK), CPU_MIN_PREFILL_CHUNK);
    }
}
