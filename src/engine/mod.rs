//! Generation: prompt → prefill in chunks → decode loop (one submission per
//! token) → sampling → incremental UTF-8-safe text, with stop strings, a token
//! budget and abort. The KV cache of a prompt prefix shared with the previous
//! call is reused instead of prefilled again.

#[cfg(not(target_arch = "wasm32"))]
mod load;
mod stop;
mod throughput;

#[cfg(not(target_arch = "wasm32"))]
pub use load::load_engine;
pub use stop::{StopMatcher, StopScan};
pub use throughput::{measure_throughput, Throughput};

use web_time::Instant;

use crate::model::{Model, ModelError, Output};
use crate::sampler::{Sampler, SamplerConfig};
use crate::tokenizer::{chat_prompt_ids, ChatMessage, ChatTemplate, FinalAssistant, RenderArgs, StreamDecoder, Tokenizer, TokenizerError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the prompt has {prompt} tokens but the context holds {n_ctx}")]
    PromptTooLong { prompt: usize, n_ctx: u32 },
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("this model has no chat template")]
    NoChatTemplate,
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

#[derive(Clone, Debug)]
pub struct GenerateParams {
    pub max_tokens: u32,
    pub sampler: SamplerConfig,
    pub stop: Vec<String>,
    /// Also return the K highest [id, logit] pairs of the first generated position.
    pub top_logits: usize,
}

impl Default for GenerateParams {
    fn default() -> Self {
        Self { max_tokens: 256, sampler: SamplerConfig::default(), stop: Vec::new(), top_logits: 0 }
    }
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
    cached: Vec<u32>,
}

impl Engine {
    pub fn new(model: Model, tokenizer: Tokenizer, template: Option<ChatTemplate>) -> Self {
        Self { model, tokenizer, template, cached: Vec::new() }
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
        Ok(chat_prompt_ids(&self.tokenizer, &text))
    }

    /// Forgets the KV cache contents.
    pub fn reset(&mut self) {
        self.cached.clear();
    }

    /// Generates from `prompt_ids`. `on_text` gets each piece of text as it is
    /// decoded and returns false to abort.
    pub async fn generate(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation, EngineError> {
        let n_ctx = self.model.n_ctx();
        if prompt_ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if prompt_ids.len() >= n_ctx as usize {
            return Err(EngineError::PromptTooLong { prompt: prompt_ids.len(), n_ctx });
        }
        let mut sampler = Sampler::new(params.sampler.clone());
        let want_logits = !sampler.is_greedy() || params.top_logits > 0;

        // Reuse the cached prefix; at least the last prompt token is run to get its logits.
        let common = self.cached.iter().zip(prompt_ids).take_while(|(a, b)| a == b).count();
        let start = common.min(prompt_ids.len() - 1);
        self.cached.truncate(start);

        let t0 = Instant::now();
        let batch = self.model.max_batch() as usize;
        let mut pos = start;
        let mut first = None;
        while pos < prompt_ids.len() {
            let end = (pos + batch).min(prompt_ids.len());
            let last = end == prompt_ids.len();
            let out = match (last, want_logits) {
                (false, _) => Output::None,
                (true, true) => Output::Logits,
                (true, false) => Output::Argmax,
            };
            let r = self.model.step(&prompt_ids[pos..end], pos as u32, out).await?;
            self.cached.extend_from_slice(&prompt_ids[pos..end]);
            pos = end;
            first = Some(r);
        }
        let prefill_seconds = t0.elapsed().as_secs_f64();
        let first = first.expect("prompt is not empty");
        let top_logits = first.logits.as_ref().filter(|_| params.top_logits > 0).map(|l| top_k(l, params.top_logits));

        let t1 = Instant::now();
        let mut decoder = StreamDecoder::new();
        let mut stops = StopMatcher::new(&params.stop);
        let mut ids: Vec<u32> = Vec::new();
        let mut text = String::new();
        let mut finish = FinishReason::Length;
        let mut next = match (first.token, first.logits) {
            (Some(t), _) => t,
            (None, Some(l)) => sampler.sample(&l, &self.cached),
            (None, None) => unreachable!("the last prefill step returns a token or logits"),
        };
        let mut emit = |piece: &str, text: &mut String| -> bool {
            text.push_str(piece);
            piece.is_empty() || on_text(piece)
        };
        loop {
            if ids.len() as u32 >= params.max_tokens {
                break;
            }
            ids.push(next);
            if self.tokenizer.is_eog(next) {
                finish = FinishReason::Stop;
                break;
            }
            let piece = decoder.push(&self.tokenizer, next);
            match stops.push(&piece) {
                StopScan::Continue(s) => {
                    if !emit(&s, &mut text) {
                        finish = FinishReason::Aborted;
                        break;
                    }
                }
                StopScan::Stop(s) => {
                    emit(&s, &mut text);
                    finish = FinishReason::Stop;
                    break;
                }
            }
            if ids.len() as u32 >= params.max_tokens || self.cached.len() + 1 >= n_ctx as usize {
                break;
            }
            let out = if sampler.is_greedy() { Output::Argmax } else { Output::Logits };
            let r = self.model.step(&[next], self.cached.len() as u32, out).await?;
            self.cached.push(next);
            next = match (r.token, r.logits) {
                (Some(t), _) => t,
                (None, Some(l)) => sampler.sample(&l, &self.cached),
                (None, None) => unreachable!("decode steps return a token or logits"),
            };
        }
        if finish == FinishReason::Length {
            let rest = decoder.finish();
            let held = match stops.push(&rest) {
                StopScan::Continue(s) | StopScan::Stop(s) => s,
            };
            let tail = held + &stops.finish();
            emit(&tail, &mut text);
        }
        Ok(Generation {
            prompt_ids: prompt_ids.to_vec(),
            ids,
            text,
            finish_reason: finish,
            prefilled: prompt_ids.len() - start,
            prefill_seconds,
            decode_seconds: t1.elapsed().as_secs_f64(),
            top_logits,
        })
    }
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
