//! wasm-bindgen exports for the browser: the only place `JsValue` appears.
//! The package's worker (pkg/worker.js) creates a [`WebEngine`], pushes the
//! model's bytes as they arrive from `fetch()` or `File.stream()` (calling
//! `next_part` between the files of a split model), then asks for
//! generations; requests and results cross as JSON strings. Errors are JS
//! `Error`s with a `code` (see error.rs).

mod error;

mod bandwidth;
mod catalog;
mod inspect;
mod limits;
mod panic;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

// Largest context a load may ask for (the KV cache grows with it); "will it run" checks the same.
use crate::budget::MAX_CONTEXT;
use crate::constrain::ResponseFormat;
use crate::engine::{measure_throughput, BenchPlan, ChatOptions, Engine, GenerateParams, TokenLogprob, MAX_TOP_LOGPROBS};
use crate::gpu::{DeviceOptions, GpuContext};
use crate::model::{Device, LoadOptions, ModelLoader};
use crate::sampler::{LogitBias, SamplerConfig};
use crate::chat::{ChatMessage, ChatTemplate, FinalAssistant, ReplyStream, ToolCall, ToolRequest};
use crate::tokenizer::Tokenizer;
use error::{bad_request, internal, to_js, ErrorCode, Plain};

type JsResult<T> = Result<T, JsValue>;

fn js<E: ErrorCode>(e: E) -> JsValue {
    to_js(&e)
}

enum State {
    Loading { loader: ModelLoader, text: Option<(Tokenizer, Option<ChatTemplate>)> },
    Ready(Box<Engine>),
    Failed,
}

/// One model on one GPU device, or on the CPU backend.
#[wasm_bindgen]
pub struct WebEngine {
    state: Rc<RefCell<State>>,
    /// The GPU device, reachable while a generation holds `state` (None on the CPU backend).
    ctx: Option<Arc<GpuContext>>,
    /// `general.name` of the loaded model.
    name: RefCell<Option<String>>,
    /// Size of its GGUF header (the first part's), in bytes.
    header_bytes: std::cell::Cell<u64>,
}

/// A generation request: `messages` (chat, through the model's template),
/// `prompt` (raw text) or `prompt_ids`, with the sampler's options.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Checked message by message ([`ChatMessage::from_list`]), so a refusal
    /// names `messages[i].field`.
    messages: Option<serde_json::Value>,
    prompt: Option<String>,
    prompt_ids: Option<Vec<u32>>,
    // Numbers stay f64 (what JS has) until `sampling` checks their range.
    max_tokens: Option<f64>,
    temperature: Option<f64>,
    top_k: Option<f64>,
    top_p: Option<f64>,
    min_p: Option<f64>,
    repetition_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    seed: Option<f64>,
    #[serde(default)]
    stop: Vec<String>,
    /// With `messages` ending in an assistant message: true (default) continues
    /// it, false closes that turn and opens a new one.
    continue_final_message: Option<bool>,
    /// Each generated token's log-probability (OpenAI's `logprobs: true`),
    /// with `top_logprobs` (0 to [`MAX_TOP_LOGPROBS`], default 0) alternatives.
    logprobs: Option<bool>,
    top_logprobs: Option<f64>,
    /// OpenAI's `tools`, `tool_choice` and `parallel_tool_calls` (chat only),
    /// checked by [`ToolRequest::from_fields`].
    tools: Option<serde_json::Value>,
    tool_choice: Option<serde_json::Value>,
    parallel_tool_calls: Option<serde_json::Value>,
    /// OpenAI's `response_format` (see [`ResponseFormat`]): text, one JSON
    /// object, or JSON valid against a schema.
    response_format: Option<serde_json::Value>,
    /// OpenAI's `logit_bias` (see [`LogitBias`]): `{"<token id>": bias}`,
    /// biases from −100 to 100; `null` is none.
    logit_bias: Option<serde_json::Value>,
    /// Extra chat template variables, as llama-server's `chat_template_kwargs`
    /// (chat only; see [`crate::chat::RenderArgs::extra`]).
    chat_template_kwargs: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A benchmark request: llama-bench's tests, `pp` (prompt processing) and
/// `tg` (text generation) token counts, default [512] and [128] ([] for
/// none); `prompt_tokens` / `gen_tokens` are the older names of a list of one.
/// `depth` (llama-bench's `-d`, default [0]): KV cache positions filled, untimed,
/// before each test runs again; a row per (depth, test), named `tg128 @ d4096`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchRequest {
    pp: Option<Vec<f64>>,
    tg: Option<Vec<f64>>,
    prompt_tokens: Option<f64>,
    gen_tokens: Option<f64>,
    depth: Option<Vec<f64>>,
    /// Runs of each test (1 to [`MAX_BENCH_REPETITIONS`], default 1).
    repetitions: Option<f64>,
}

/// Most runs of one benchmark test.
const MAX_BENCH_REPETITIONS: u64 = 100;

impl BenchRequest {
    /// The tests, each count an integer from 1 to the context (a test fills
    /// one position per token from its depth), each depth an integer from 0
    /// to the context less one; a depth whose tests overrun the context is
    /// refused by [`BenchPlan::check`] (`context_full`).
    fn plan(&self, n_ctx: u32) -> JsResult<BenchPlan> {
        let d = BenchPlan::default();
        let counts = |name: &str, list: &Option<Vec<f64>>, alias: &str, one: Option<f64>, default: Vec<u32>| -> JsResult<Vec<u32>> {
            let count = |field: &str, v: f64| limits::integer(field, v, 1, n_ctx as u64).map(|n| n as u32);
            match (list, one) {
                (Some(_), Some(_)) => Err(bad_request(format!("give {name} or {alias}, not both"))),
                (Some(l), None) => l.iter().enumerate().map(|(i, &v)| count(&format!("{name}[{i}]"), v)).collect(),
                (None, Some(v)) => Ok(vec![count(alias, v)?]),
                (None, None) => Ok(default),
            }
        };
        Ok(BenchPlan {
            pp: counts("pp", &self.pp, "prompt_tokens", self.prompt_tokens, d.pp)?,
            tg: counts("tg", &self.tg, "gen_tokens", self.gen_tokens, d.tg)?,
            depth: match &self.depth {
                Some(l) => l.iter().enumerate().map(|(i, &v)| limits::integer(&format!("depth[{i}]"), v, 0, n_ctx as u64 - 1).map(|n| n as u32)).collect::<JsResult<_>>()?,
                None => d.depth,
            },
            repetitions: limits::integer_or("repetitions", self.repetitions, 1, MAX_BENCH_REPETITIONS, 1)? as u32,
        })
    }
}

/// Largest accepted temperature and repetition penalty; far beyond any useful value.
const MAX_TEMPERATURE: f64 = 100.0;

impl Request {
    /// `max_tokens` and the sampler, each number checked against its range.
    fn sampling(&self) -> JsResult<(u32, SamplerConfig)> {
        use limits::{integer_or, real_or, MAX_SAFE_INTEGER};
        let d = SamplerConfig::default();
        let max_tokens = integer_or("max_tokens", self.max_tokens, 0, u32::MAX as u64, 256)? as u32;
        let sampler = SamplerConfig {
            temperature: real_or("temperature", self.temperature, 0.0, MAX_TEMPERATURE, d.temperature as f64)? as f32,
            top_k: integer_or("top_k", self.top_k, 0, u32::MAX as u64, d.top_k as u64)? as usize,
            top_p: real_or("top_p", self.top_p, 0.0, 1.0, d.top_p as f64)? as f32,
            min_p: real_or("min_p", self.min_p, 0.0, 1.0, d.min_p as f64)? as f32,
            repetition_penalty: real_or("repetition_penalty", self.repetition_penalty, 0.01, MAX_TEMPERATURE, d.repetition_penalty as f64)? as f32,
            frequency_penalty: real_or("frequency_penalty", self.frequency_penalty, -2.0, 2.0, d.frequency_penalty as f64)? as f32,
            presence_penalty: real_or("presence_penalty", self.presence_penalty, -2.0, 2.0, d.presence_penalty as f64)? as f32,
            seed: integer_or("seed", self.seed, 0, MAX_SAFE_INTEGER, d.seed)?,
            ..d
        };
        Ok((max_tokens, sampler))
    }

    /// [`GenerateParams::logit_bias`], its shape checked (the vocabulary is
    /// checked by the engine).
    fn logit_bias(&self) -> JsResult<LogitBias> {
        self.logit_bias.as_ref().map_or(Ok(LogitBias::default()), |v| LogitBias::from_value(v).map_err(js))
    }

    /// [`GenerateParams::logprobs`]: `top_logprobs` needs `logprobs: true`, as in OpenAI's API.
    fn logprobs(&self) -> JsResult<Option<usize>> {
        let top = self.top_logprobs.map(|v| limits::integer("top_logprobs", v, 0, MAX_TOP_LOGPROBS as u64)).transpose()?;
        match (self.logprobs, top) {
            (Some(true), k) => Ok(Some(k.unwrap_or(0) as usize)),
            (_, Some(_)) => Err(to_js(&Plain("invalid_request", "top_logprobs needs logprobs: true".into()))),
            _ => Ok(None),
        }
    }
}

/// One token's entry in OpenAI's `choices[i].logprobs.content`: its text
/// (lossy UTF-8 of its bytes, which may be part of a character), log-probability
/// and bytes, and (`top_logprobs`) the likeliest alternatives, each the same way.
#[derive(Serialize)]
struct LogprobEntry {
    token: String,
    logprob: f32,
    bytes: Vec<u8>,
    top_logprobs: Vec<TopLogprob>,
}

#[derive(Serialize)]
struct TopLogprob {
    token: String,
    logprob: f32,
    bytes: Vec<u8>,
}

/// OpenAI's stand-in for a probability of 0 (a −∞ log-probability, which JSON cannot hold).
const LOGPROB_FLOOR: f32 = -9999.0;

fn top_logprob(tok: &Tokenizer, id: u32, logprob: f32) -> TopLogprob {
    let bytes = tok.token_bytes(id).to_vec();
    TopLogprob { token: String::from_utf8_lossy(&bytes).into_owned(), logprob: if logprob.is_nan() { LOGPROB_FLOOR } else { logprob.max(LOGPROB_FLOOR) }, bytes }
}

fn logprob_entries(tok: &Tokenizer, lps: &[TokenLogprob]) -> Vec<LogprobEntry> {
    lps.iter()
        .map(|lp| {
            let TopLogprob { token, logprob, bytes } = top_logprob(tok, lp.id, lp.logprob);
            LogprobEntry { token, logprob, bytes, top_logprobs: lp.top.iter().map(|&(id, l)| top_logprob(tok, id, l)).collect() }
        })
        .collect()
}

#[derive(Serialize)]
struct Response {
    prompt_ids: Vec<u32>,
    ids: Vec<u32>,
    text: String,
    finish_reason: &'static str,
    prompt_tokens: usize,
    prefilled_tokens: usize,
    prefill_tok_s: f64,
    decode_tok_s: f64,
    /// With `logprobs: true`: one entry per token of the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<Vec<LogprobEntry>>,
    /// When the reply called tools: its content and calls (`text` keeps the raw reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_reply: Option<ToolReply>,
    /// A chat reply of a model with think tags: its content, the reply less
    /// its reasoning (`text` keeps the raw reply); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// Its reasoning (absent when it had none).
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
}

/// A reply that called tools: OpenAI's `message.content` (null when the
/// reply was only calls) and `message.tool_calls`.
#[derive(Serialize)]
struct ToolReply {
    content: Option<String>,
    tool_calls: Vec<ToolCall>,
}

#[derive(Serialize)]
struct DeviceInfo {
    adapter: String,
    precision: String,
    max_buffer_size: u64,
    max_storage_buffer_binding_size: u64,
}

#[derive(Serialize)]
struct Progress {
    bytes_read: u64,
    bytes_total: Option<u64>,
    tensors_done: usize,
    tensors_total: usize,
    parts: u32,
    /// `split.no` of the file being read (0-based; 0 for a whole file), once its header is parsed.
    part_no: Option<u32>,
}

#[derive(Serialize)]
struct ModelInfo {
    name: Option<String>,
    /// `webgpu` or `cpu`.
    backend: &'static str,
    architecture: String,
    context: u32,
    /// The context the model was trained with (`{arch}.context_length`; null when the file does not say).
    context_train: Option<u32>,
    vocab: u32,
    layers: u32,
    weight_bytes: u64,
    kv_cache_bytes: u64,
    has_chat_template: bool,
    header_bytes: u64,
    /// What the load accepted but the user should know (a context beyond training).
    warnings: Vec<String>,
}

fn busy() -> JsValue {
    to_js(&Plain("internal", "the engine is busy with another call".into()))
}

impl WebEngine {
    fn with_loader(loader: ModelLoader, ctx: Option<Arc<GpuContext>>) -> Self {
        WebEngine { state: Rc::new(RefCell::new(State::Loading { loader, text: None })), ctx, name: RefCell::new(None), header_bytes: Default::default() }
    }
}

fn not_ready() -> JsValue {
    to_js(&Plain("unloaded", "no model is loaded".into()))
}

#[wasm_bindgen]
impl WebEngine {
    /// Requests a WebGPU device (limits up to the adapter's, or a binding size
    /// capped at `max_binding_size` to behave like a smaller device) and
    /// prepares a loader. `software_adapter`: the adapter is a CPU rasterizer
    /// such as SwiftShader (the worker tells from `GPUAdapterInfo`).
    /// `n_ctx`: 1 to 2^20 tokens; `max_binding_size`: 1 MiB to 2^53 bytes.
    /// `js_replay` (default true): encode each step with one call into
    /// JavaScript (`gpu::web_replay`) rather than wgpu's calls per dispatch.
    pub async fn create(n_ctx: Option<f64>, max_binding_size: Option<f64>, software_adapter: Option<bool>, js_replay: Option<bool>) -> JsResult<WebEngine> {
        let n_ctx = n_ctx.map(|n| limits::integer("context", n, 1, MAX_CONTEXT as u64)).transpose()?.map(|n| n as u32);
        let max_binding_size = max_binding_size.map(|b| limits::integer("maxBindingSize", b, 1 << 20, limits::MAX_SAFE_INTEGER)).transpose()?;
        let opts = DeviceOptions { max_binding_size, software_adapter, no_web_replay: js_replay == Some(false), ..Default::default() };
        let ctx = Arc::new(GpuContext::new(&opts).await.map_err(js)?);
        let loader = ModelLoader::new(ctx.clone(), LoadOptions { n_ctx, ..Default::default() });
        Ok(Self::with_loader(loader, Some(ctx)))
    }

    /// Prepares a loader for the CPU backend (weights in wasm memory, the
    /// wasm SIMD kernels); a model whose weights and KV cache exceed 32-bit
    /// wasm memory is refused when its header arrives. `n_ctx` as in `create`.
    ///
    /// `threads` (1..=64, default 1): with 2 or more, the matmuls run on the
    /// pool the worker started and installed as `globalThis.tabllmCpuThreads`
    /// (pkg/cpu-threads.js), their weights in its shared memory
    /// (`crate::cpu::bridge`); an error when that pool is missing or has
    /// another size.
    pub fn create_cpu(n_ctx: Option<f64>, threads: Option<f64>) -> JsResult<WebEngine> {
        let n_ctx = n_ctx.map(|n| limits::integer("context", n, 1, MAX_CONTEXT as u64)).transpose()?.map(|n| n as u32);
        let threads = threads.map(|n| limits::integer("threads", n, 1, crate::cpu::pool::MAX_THREADS as u64)).transpose()?.unwrap_or(1) as usize;
        let cpu_threads = if threads > 1 {
            let bridge = crate::cpu::bridge::BridgeThreads::connect().map_err(|e| to_js(&Plain("internal", e.to_string())))?;
            if crate::cpu::CpuThreads::count(&bridge) != threads {
                return Err(to_js(&Plain("internal", format!("the worker started {} CPU threads, not the {threads} asked for", crate::cpu::CpuThreads::count(&bridge)))));
            }
            Some(Arc::new(bridge) as Arc<dyn crate::cpu::CpuThreads>)
        } else {
            None
        };
        let loader = ModelLoader::on(Device::Cpu, LoadOptions { n_ctx, cpu_threads, ..Default::default() });
        Ok(Self::with_loader(loader, None))
    }

    /// Resolves once the GPU finished the load's writes and the browser
    /// delivered its asynchronous reports (allocation error scopes, device
    /// loss); rejects with what they said. The worker calls it after `finish`.
    /// At once on the CPU backend.
    pub async fn settle(&self) -> JsResult<()> {
        match &self.ctx {
            Some(ctx) => ctx.settle().await.map_err(js),
            None => Ok(()),
        }
    }

    /// Test-only (tests/browser/package.mjs, through the worker's
    /// `__testDestroyDevice` op): destroys this engine's GPU device, as a
    /// driver reset or the browser reclaiming it would (only the browser's
    /// `device.lost` tells the engine). Not part of the package's API.
    pub fn test_destroy_device(&self) {
        if let Some(ctx) = &self.ctx {
            ctx.device.destroy();
        }
    }

    /// Feeds the next chunk of the GGUF file (any size).
    pub fn push(&self, chunk: &[u8]) -> JsResult<()> {
        let mut state = self.state.try_borrow_mut().map_err(|_| busy())?;
        let State::Loading { loader, text } = &mut *state else {
            return Err(to_js(&Plain("internal", "the model is already loaded".into())));
        };
        let r = loader.push(chunk).map_err(js).and_then(|()| {
            if text.is_none() {
                if let Some(h) = loader.header() {
                    let tok = Tokenizer::from_metadata(&h.metadata).map_err(js)?;
                    let template = ChatTemplate::for_model(&h.metadata).map_err(|e| to_js(&Plain("invalid_model", e.to_string())))?;
                    *text = Some((tok, template));
                }
            }
            Ok(())
        });
        if r.is_err() {
            *state = State::Failed;
        }
        r
    }

    /// Names the file about to be pushed (its URL or file name), so that an
    /// error in a part of a split model says which file.
    pub fn name_part(&self, name: String) -> JsResult<()> {
        let mut state = self.state.try_borrow_mut().map_err(|_| busy())?;
        let State::Loading { loader, .. } = &mut *state else {
            return Err(not_ready());
        };
        loader.name_part(name);
        Ok(())
    }

    /// Ends one part of a split model; the next push starts the next part
    /// (parts may come in any order: each says which it is by `split.no`).
    pub fn next_part(&self) -> JsResult<()> {
        let mut state = self.state.try_borrow_mut().map_err(|_| busy())?;
        let State::Loading { loader, .. } = &mut *state else {
            return Err(not_ready());
        };
        loader.next_part().map_err(js)
    }

    /// `{bytes_read, bytes_total, tensors_done, tensors_total, parts, part_no}` as JSON.
    pub fn progress(&self) -> JsResult<String> {
        let state = self.state.try_borrow().map_err(|_| busy())?;
        let (p, parts, part_no) = match &*state {
            State::Loading { loader, .. } => (loader.progress(), loader.parts(), loader.part_no()),
            _ => (Default::default(), 1, None),
        };
        let p = Progress { bytes_read: p.bytes_read, bytes_total: p.bytes_total, tensors_done: p.tensors_done, tensors_total: p.tensors_total, parts, part_no };
        serde_json::to_string(&p).map_err(internal)
    }

    /// `{adapter, precision, max_buffer_size, max_storage_buffer_binding_size}` as JSON.
    pub fn device(&self) -> JsResult<String> {
        let state = self.state.try_borrow().map_err(|_| busy())?;
        let ctx = match &*state {
            State::Loading { loader, .. } => loader.context().cloned(),
            State::Ready(e) => e.model.gpu_context().cloned(),
            State::Failed => return Err(not_ready()),
        };
        let info = match ctx {
            Some(ctx) => DeviceInfo {
                adapter: ctx.adapter_info.name.clone(),
                precision: format!("{:?}", ctx.precision),
                max_buffer_size: ctx.limits.max_buffer_size,
                max_storage_buffer_binding_size: ctx.max_binding_size(),
            },
            // The CPU backend: f32 activations and KV cache; no binding limits.
            None => DeviceInfo { adapter: "cpu".into(), precision: "F32".into(), max_buffer_size: 0, max_storage_buffer_binding_size: 0 },
        };
        serde_json::to_string(&info).map_err(internal)
    }

    /// Completes the load once every byte was pushed.
    pub fn finish(&self) -> JsResult<()> {
        let mut state = self.state.try_borrow_mut().map_err(|_| busy())?;
        match std::mem::replace(&mut *state, State::Failed) {
            State::Loading { loader, text: Some((tok, template)) } => {
                let name = loader.header().and_then(|h| h.metadata.get_str("general.name").ok().flatten().map(str::to_string));
                *self.name.borrow_mut() = name;
                self.header_bytes.set(loader.header().map_or(0, |h| h.data_offset));
                let model = loader.finish().map_err(js)?;
                *state = State::Ready(Box::new(Engine::new(model, tok, template)));
                Ok(())
            }
            State::Loading { .. } => Err(to_js(&Plain("invalid_model", "the model file ended before its header".into()))),
            other => {
                *state = other;
                Err(to_js(&Plain("internal", "no model is loading".into())))
            }
        }
    }

    /// Name, architecture, context, sizes of the loaded model, as JSON.
    pub fn info(&self) -> JsResult<String> {
        self.with_engine(|e| {
            let c = &e.model.config;
            let info = ModelInfo {
                name: self.name.borrow().clone(),
                backend: e.model.backend().name(),
                architecture: format!("{:?}", c.arch).to_lowercase(),
                context: e.model.n_ctx(),
                context_train: c.ctx_train,
                vocab: c.vocab,
                layers: c.n_layers,
                weight_bytes: e.model.weight_bytes(),
                kv_cache_bytes: e.model.kv_cache_bytes(),
                has_chat_template: e.template.is_some(),
                header_bytes: self.header_bytes.get(),
                warnings: c.context_warning(e.model.n_ctx()).into_iter().collect(),
            };
            serde_json::to_string(&info).map_err(internal)
        })
    }

    /// Token ids of `text`; `special`: parse special-token text such as `<|im_start|>`.
    pub fn tokenize(&self, text: &str, special: bool) -> JsResult<Vec<u32>> {
        self.with_engine(|e| Ok(e.tokenizer.encode(text, special)))
    }

    pub fn detokenize(&self, ids: &[u32]) -> JsResult<String> {
        self.with_engine(|e| {
            let vocab = e.model.config.vocab;
            if let Some(bad) = ids.iter().find(|&&id| id >= vocab) {
                return Err(to_js(&Plain("invalid_request", format!("token id {bad} is outside the vocabulary (ids 0 to {})", vocab - 1))));
            }
            Ok(e.tokenizer.decode(ids))
        })
    }

    /// The prompt text the chat template renders for `messages` (JSON) and,
    /// when given, `tools` (JSON: OpenAI's tools array, checked as `generate`
    /// checks it) and `kwargs` (JSON: `chat_template_kwargs`, an object).
    pub fn apply_chat_template(&self, messages: &str, tools: Option<String>, kwargs: Option<String>) -> JsResult<String> {
        let messages: serde_json::Value = serde_json::from_str(messages).map_err(bad_request)?;
        let messages = ChatMessage::from_list(&messages).map_err(|e| to_js(&e))?;
        let tools: Option<serde_json::Value> = tools.map(|t| serde_json::from_str(&t)).transpose().map_err(bad_request)?;
        let kwargs: Option<serde_json::Map<String, serde_json::Value>> = kwargs.map(|k| serde_json::from_str(&k)).transpose().map_err(bad_request)?;
        // Rendering only: checked as tool_choice `none` is (the template must
        // take tools; its call format does not matter here).
        let tools = match tools {
            Some(t) => ToolRequest::from_fields(Some(&t), Some(&"none".into()), None).map_err(|e| js(crate::engine::EngineError::Tools(e)))?,
            None => None,
        };
        let opts = ChatOptions { tools: tools.as_ref(), template_kwargs: kwargs.as_ref(), ..Default::default() };
        self.with_engine(|e| e.render_chat_opts(&messages, &opts).map(|(text, _)| text).map_err(js))
    }

    /// Forgets the KV cache.
    pub fn reset(&self) -> JsResult<()> {
        let mut state = self.state.try_borrow_mut().map_err(|_| busy())?;
        let State::Ready(engine) = &mut *state else { return Err(not_ready()) };
        engine.reset();
        Ok(())
    }

    fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> JsResult<T>) -> JsResult<T> {
        let state = self.state.try_borrow().map_err(|_| busy())?;
        let State::Ready(engine) = &*state else { return Err(not_ready()) };
        f(engine)
    }

    /// Runs llama-bench's tests for a JSON [`BenchRequest`]; resolves to the
    /// throughput JSON (a row per test, and the first pp and tg under their
    /// older names). Clears the KV cache.
    pub fn bench(&self, request: String) -> js_sys::Promise {
        let state = self.state.clone();
        let ctx = self.ctx.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut state = state.try_borrow_mut().map_err(|_| busy())?;
            let State::Ready(engine) = &mut *state else { return Err(not_ready()) };
            if let Some(ctx) = &ctx {
                ctx.check().map_err(js)?;
            }
            let req: BenchRequest = serde_json::from_str(&request).map_err(bad_request)?;
            let plan = req.plan(engine.model.n_ctx())?;
            engine.reset();
            let t = measure_throughput(&engine.model, &plan).await.map_err(js)?;
            Ok(JsValue::from_str(&serde_json::to_string(&t).map_err(internal)?))
        })
    }

    /// Embeds one text: `options` is JSON `{ "dimensions"?: n, "pooling"?:
    /// "mean" | "cls" | "last" }` (see `crate::embed`). Resolves to JSON
    /// `{ "embedding": [f32; dimensions], "tokens": n, "pooling": name }`.
    /// Clears the KV cache (the next generation reads its prompt again).
    pub fn embed(&self, text: String, options: String) -> js_sys::Promise {
        let state = self.state.clone();
        let ctx = self.ctx.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut state = state.try_borrow_mut().map_err(|_| busy())?;
            let State::Ready(engine) = &mut *state else { return Err(not_ready()) };
            if let Some(ctx) = &ctx {
                ctx.check().map_err(js)?;
            }
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Options {
                dimensions: Option<u64>,
                pooling: Option<String>,
            }
            let o: Options = serde_json::from_str(&options).map_err(bad_request)?;
            let pooling = o.pooling.as_deref().map(crate::embed::Pooling::from_name).transpose().map_err(|e| js(crate::engine::EngineError::Embed(e)))?;
            let opts = crate::embed::EmbedOptions { pooling, dimensions: o.dimensions };
            let e = engine.embed(&text, &opts).await.map_err(js)?;
            let out = serde_json::json!({ "embedding": e.vector, "tokens": e.tokens, "pooling": e.pooling.name() });
            Ok(JsValue::from_str(&out.to_string()))
        })
    }

    /// Generates for a JSON [`Request`]; `on_text(piece, logprobs, reasoning)`
    /// gets the text as it is decoded (and "" after a token whose text is
    /// held back; a chat reply's reasoning, for a model with think tags, as
    /// `reasoning` with `piece` its content) and returns false to stop; `on_prefill(done, total)` (prompt
    /// tokens read so far, of those to read) is called before and after each
    /// prefill step and returns false to stop there. Resolves to a JSON [`Response`].
    pub fn generate(&self, request: String, on_text: js_sys::Function, on_prefill: Option<js_sys::Function>) -> js_sys::Promise {
        let state = self.state.clone();
        let ctx = self.ctx.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut state = state.try_borrow_mut().map_err(|_| busy())?;
            let State::Ready(engine) = &mut *state else { return Err(not_ready()) };
            let req: Request = serde_json::from_str(&request).map_err(bad_request)?;
            let messages = req.messages.as_ref().map(ChatMessage::from_list).transpose().map_err(|e| to_js(&e))?;
            let (max_tokens, sampler) = req.sampling()?;
            let logprobs = req.logprobs()?;
            let logit_bias = req.logit_bias()?;
            let tools = ToolRequest::from_fields(req.tools.as_ref(), req.tool_choice.as_ref(), req.parallel_tool_calls.as_ref())
                .map_err(|e| js(crate::engine::EngineError::Tools(e)))?;
            if tools.is_some() && req.messages.is_none() {
                return Err(to_js(&Plain("invalid_request", "tools need messages (chat completions)".into())));
            }
            if req.chat_template_kwargs.is_some() && req.messages.is_none() {
                return Err(to_js(&Plain("invalid_request", "chat_template_kwargs needs messages (chat completions)".into())));
            }
            let mut constraint = match &req.response_format {
                Some(v) => ResponseFormat::from_value(v).map_err(js)?.constraint(),
                None => None,
            };
            // A device lost since the last call: say so before any work.
            if let Some(ctx) = &ctx {
                ctx.check().map_err(js)?;
            }
            let mut reply: Option<ReplyStream> = None;
            let ids = match (messages, req.prompt, req.prompt_ids) {
                (Some(m), _, _) => {
                    let last = match req.continue_final_message {
                        Some(false) => FinalAssistant::Close,
                        _ => FinalAssistant::Continue,
                    };
                    let opts = ChatOptions { final_assistant: last, tools: tools.as_ref(), template_kwargs: req.chat_template_kwargs.as_ref() };
                    let prompt = engine.prepare_chat(&m, &opts).map_err(js)?;
                    constraint = engine.request_constraint(tools.as_ref(), prompt.format, constraint).map_err(js)?;
                    reply = Some(prompt.reply_stream(tools.as_ref(), constraint.is_some()));
                    prompt.ids
                }
                (None, Some(p), _) => {
                    engine.check_text_fits(&p).map_err(js)?;
                    engine.encode_prompt(&p)
                }
                (None, None, Some(ids)) => ids,
                _ => return Err(bad_request("give messages, prompt or prompt_ids")),
            };
            let params = GenerateParams {
                max_tokens,
                sampler,
                stop: req.stop,
                top_logits: 0,
                logprobs,
                constraint,
                logit_bias,
            };
            // A callback that throws counts as a request to stop.
            let keep_going = |r: Result<JsValue, JsValue>| r.map(|v| v.as_bool() != Some(false)).unwrap_or(false);
            let g = engine
                .generate_streamed(
                    &ids,
                    &params,
                    &mut |piece, lps, tokenizer| {
                        // The tokens' log-probabilities since the last call, as JSON (undefined when none).
                        let lps = match lps {
                            [] => JsValue::UNDEFINED,
                            l => JsValue::from_str(&serde_json::to_string(&logprob_entries(tokenizer, l)).unwrap_or_default()),
                        };
                        // A chat reply: reasoning split off, text that may begin a call held (see ReplyStream).
                        let (shown, reasoning) = match &mut reply {
                            Some(r) => {
                                let d = r.push(piece);
                                (d.content, (!d.reasoning.is_empty()).then(|| JsValue::from_str(&d.reasoning)).unwrap_or(JsValue::UNDEFINED))
                            }
                            None => (piece.to_string(), JsValue::UNDEFINED),
                        };
                        keep_going(on_text.call3(&JsValue::NULL, &JsValue::from_str(&shown), &lps, &reasoning))
                    },
                    &mut |p| match &on_prefill {
                        Some(f) => keep_going(f.call2(&JsValue::NULL, &JsValue::from_f64(p.done as f64), &JsValue::from_f64(p.total as f64))),
                        None => true,
                    },
                )
                .await
                .map_err(js)?;
            let mut finish_reason = g.finish_reason.as_str();
            let mut tool_reply = None;
            let (mut content, mut reasoning_content) = (None, None);
            if let Some(reply) = reply {
                let splits = reply.splits_reasoning();
                let end = reply.finish(g.finish_reason.as_str() == "length");
                // What was held back: sent before the result, as the stream's last text.
                if !end.tail.is_empty() {
                    let reasoning = if end.tail.reasoning.is_empty() { JsValue::UNDEFINED } else { JsValue::from_str(&end.tail.reasoning) };
                    let _ = on_text.call3(&JsValue::NULL, &JsValue::from_str(&end.tail.content), &JsValue::UNDEFINED, &reasoning);
                }
                reasoning_content = end.reasoning_content;
                if !end.calls.is_empty() && finish_reason != "abort" {
                    // A call cut off by max_tokens keeps `length`, as OpenAI's does.
                    if !end.partial {
                        finish_reason = "tool_calls";
                    }
                    tool_reply = Some(ToolReply { content: end.content, tool_calls: end.calls });
                } else if splits {
                    content = end.content;
                }
            }
            let r = Response {
                tool_reply,
                content,
                reasoning_content,
                prompt_tokens: g.prompt_ids.len(),
                prefilled_tokens: g.prefilled,
                prefill_tok_s: g.prefill_tok_s(),
                decode_tok_s: g.decode_tok_s(),
                logprobs: logprobs.map(|_| logprob_entries(&engine.tokenizer, &g.logprobs)),
                finish_reason,
                prompt_ids: g.prompt_ids,
                ids: g.ids,
                text: g.text,
            };
            Ok(JsValue::from_str(&serde_json::to_string(&r).map_err(internal)?))
        })
    }
}
