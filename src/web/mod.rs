//! wasm-bindgen exports for the browser: the only place `JsValue` and
//! `JsError` appear. The page's worker creates a [`WebEngine`], pushes the
//! model's bytes as they arrive from `fetch()` or `File.stream()`, then asks
//! for generations; requests and results cross as JSON strings.

mod bandwidth;
mod inspect;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::engine::{Engine, GenerateParams};
use crate::gpu::{DeviceOptions, GpuContext};
use crate::model::{LoadOptions, ModelLoader};
use crate::sampler::SamplerConfig;
use crate::tokenizer::{ChatMessage, ChatTemplate, Tokenizer};

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

enum State {
    Loading { loader: ModelLoader, text: Option<(Tokenizer, Option<ChatTemplate>)> },
    Ready(Engine),
    Failed,
}

/// One model on one GPU device.
#[wasm_bindgen]
pub struct WebEngine {
    state: Rc<RefCell<State>>,
}

/// A generation request: `messages` (chat, through the model's template),
/// `prompt` (raw text) or `prompt_ids`, with the sampler's options.
#[derive(Deserialize)]
struct Request {
    messages: Option<Vec<ChatMessage>>,
    prompt: Option<String>,
    prompt_ids: Option<Vec<u32>>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    top_k: Option<usize>,
    top_p: Option<f32>,
    min_p: Option<f32>,
    repetition_penalty: Option<f32>,
    seed: Option<u64>,
    #[serde(default)]
    stop: Vec<String>,
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
}

#[derive(Serialize)]
struct DeviceInfo {
    adapter: String,
    precision: String,
    max_storage_buffer_binding_size: u64,
}

#[derive(Serialize)]
struct Progress {
    bytes_read: u64,
    bytes_total: Option<u64>,
    tensors_done: usize,
    tensors_total: usize,
}

#[wasm_bindgen]
impl WebEngine {
    /// Requests a WebGPU device (limits up to the adapter's, or a binding size
    /// capped at `max_binding_size` to behave like a smaller device) and
    /// prepares a loader.
    pub async fn create(n_ctx: Option<u32>, max_binding_size: Option<f64>) -> Result<WebEngine, JsError> {
        let opts = DeviceOptions { max_binding_size: max_binding_size.map(|b| b as u64), ..Default::default() };
        let ctx = GpuContext::new(&opts).await.map_err(js_err)?;
        let loader = ModelLoader::new(Arc::new(ctx), LoadOptions { n_ctx, ..Default::default() });
        Ok(WebEngine { state: Rc::new(RefCell::new(State::Loading { loader, text: None })) })
    }

    /// Feeds the next chunk of the GGUF file (any size).
    pub fn push(&self, chunk: &[u8]) -> Result<(), JsError> {
        let mut state = self.state.try_borrow_mut().map_err(|_| js_err("the engine is busy"))?;
        let State::Loading { loader, text } = &mut *state else {
            return Err(js_err("the model is already loaded"));
        };
        if let Err(e) = loader.push(chunk) {
            *state = State::Failed;
            return Err(js_err(e));
        }
        if text.is_none() {
            if let Some(h) = loader.header() {
                *text = Some((Tokenizer::from_metadata(&h.metadata).map_err(js_err)?, ChatTemplate::for_model(&h.metadata).map_err(js_err)?));
            }
        }
        Ok(())
    }

    /// `{bytes_read, bytes_total, tensors_done, tensors_total}` as JSON.
    pub fn progress(&self) -> Result<String, JsError> {
        let state = self.state.try_borrow().map_err(|_| js_err("the engine is busy"))?;
        let p = match &*state {
            State::Loading { loader, .. } => loader.progress(),
            _ => Default::default(),
        };
        let p = Progress { bytes_read: p.bytes_read, bytes_total: p.bytes_total, tensors_done: p.tensors_done, tensors_total: p.tensors_total };
        serde_json::to_string(&p).map_err(js_err)
    }

    /// `{adapter, precision, max_storage_buffer_binding_size}` as JSON.
    pub fn device(&self) -> Result<String, JsError> {
        let state = self.state.try_borrow().map_err(|_| js_err("the engine is busy"))?;
        let ctx = match &*state {
            State::Loading { loader, .. } => loader.context().clone(),
            State::Ready(e) => e.model.ctx.clone(),
            State::Failed => return Err(js_err("the engine failed")),
        };
        let info = DeviceInfo {
            adapter: format!("{} ({})", ctx.adapter_info.name, ctx.adapter_info.driver),
            precision: format!("{:?}", ctx.precision),
            max_storage_buffer_binding_size: ctx.max_binding_size(),
        };
        serde_json::to_string(&info).map_err(js_err)
    }

    /// Completes the load once every byte was pushed.
    pub fn finish(&self) -> Result<(), JsError> {
        let mut state = self.state.try_borrow_mut().map_err(|_| js_err("the engine is busy"))?;
        match std::mem::replace(&mut *state, State::Failed) {
            State::Loading { loader, text: Some((tok, template)) } => {
                let model = loader.finish().map_err(js_err)?;
                *state = State::Ready(Engine::new(model, tok, template));
                Ok(())
            }
            State::Loading { .. } => Err(js_err("the model file ended before its header")),
            other => {
                *state = other;
                Err(js_err("no model is loading"))
            }
        }
    }

    /// Generates for a JSON [`Request`]; `on_text(piece)` gets the text as it
    /// is decoded and returns false to stop. Resolves to a JSON [`Response`].
    pub fn generate(&self, request: String, on_text: js_sys::Function) -> js_sys::Promise {
        let state = self.state.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut state = state.try_borrow_mut().map_err(|_| js_err("the engine is busy"))?;
            let State::Ready(engine) = &mut *state else {
                return Err(js_err("no model is loaded").into());
            };
            let req: Request = serde_json::from_str(&request).map_err(js_err)?;
            let ids = match (req.messages, req.prompt, req.prompt_ids) {
                (Some(m), _, _) => engine.encode_chat(&m).map_err(js_err)?,
                (None, Some(p), _) => engine.encode_prompt(&p),
                (None, None, Some(ids)) => ids,
                _ => return Err(js_err("give messages, prompt or prompt_ids").into()),
            };
            let d = SamplerConfig::default();
            let params = GenerateParams {
                max_tokens: req.max_tokens.unwrap_or(256),
                sampler: SamplerConfig {
                    temperature: req.temperature.unwrap_or(d.temperature),
                    top_k: req.top_k.unwrap_or(d.top_k),
                    top_p: req.top_p.unwrap_or(d.top_p),
                    min_p: req.min_p.unwrap_or(d.min_p),
                    repetition_penalty: req.repetition_penalty.unwrap_or(d.repetition_penalty),
                    seed: req.seed.unwrap_or(d.seed),
                    ..d
                },
                stop: req.stop,
                top_logits: 0,
            };
            let g = engine
                .generate(&ids, &params, &mut |piece| {
                    on_text.call1(&JsValue::NULL, &JsValue::from_str(piece)).map(|v| v.as_bool() != Some(false)).unwrap_or(false)
                })
                .await
                .map_err(js_err)?;
            let r = Response {
                prompt_tokens: g.prompt_ids.len(),
                prefilled_tokens: g.prefilled,
                prefill_tok_s: g.prefill_tok_s(),
                decode_tok_s: g.decode_tok_s(),
                finish_reason: g.finish_reason.as_str(),
                prompt_ids: g.prompt_ids,
                ids: g.ids,
                text: g.text,
            };
            Ok(JsValue::from_str(&serde_json::to_string(&r).map_err(js_err)?))
        })
    }
}
