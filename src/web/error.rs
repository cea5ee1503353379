//! Errors as the page sees them: a JS `Error` with a stable `code` (the
//! `ErrorCode` union in pkg/tabllm.d.ts) and, where they help, `details`
//! (e.g. the bytes and the limit of a tensor too large for the device).

use wasm_bindgen::JsValue;

use crate::budget::BudgetError;
use crate::catalog::CatalogError;
use crate::constrain::ConstraintError;
use crate::engine::{BenchError, EngineError};
use crate::gguf::GgufError;
use crate::gpu::GpuError;
use crate::kernels::KernelError;
use crate::model::ModelError;
use crate::chat::{ChatError, MessagesError};
use crate::sampler::LogitBiasError;
use crate::tokenizer::TokenizerError;

/// Code and optional details of an error.
pub trait ErrorCode: std::fmt::Display {
    fn code(&self) -> &'static str;
    fn details(&self) -> Option<serde_json::Value> {
        None
    }
}

impl ErrorCode for GpuError {
    fn code(&self) -> &'static str {
        match self {
            GpuError::NoAdapter(_) | GpuError::RequestDevice(_) => "webgpu_unavailable",
            GpuError::DeviceLost(_) => "device_lost",
            GpuError::TensorTooLarge { .. } => "model_too_large",
            // Allocation failures surface as validation errors from the device.
            GpuError::Validation(m) if m.to_ascii_lowercase().contains("out of memory") => "model_too_large",
            GpuError::Validation(_) | GpuError::Readback(_) | GpuError::Shader(_) => "internal",
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            GpuError::TensorTooLarge { name, bytes, limit } => Some(serde_json::json!({ "tensor": name, "bytes": bytes, "limit": limit })),
            _ => None,
        }
    }
}

/// The caller's "will it run" options: `details.field` names the one out of range.
impl ErrorCode for BudgetError {
    fn code(&self) -> &'static str {
        "invalid_request"
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            BudgetError::OutOfRange { field, .. } => Some(serde_json::json!({ "field": field })),
            BudgetError::NotAnObject | BudgetError::Json(_) => None,
        }
    }
}

/// Every catalog error names something the caller asked for (a shape, a
/// mix, an option), except a mix llama.cpp cannot store a shape in (internal:
/// no catalog row does that).
impl ErrorCode for CatalogError {
    fn code(&self) -> &'static str {
        match self {
            CatalogError::NoFallback(_) => "internal",
            _ => "invalid_request",
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            CatalogError::Options(e) => e.details(),
            CatalogError::BadMixes { .. } | CatalogError::UnknownMix { .. } => Some(serde_json::json!({ "field": "mixes" })),
            _ => None,
        }
    }
}

impl ErrorCode for GgufError {
    fn code(&self) -> &'static str {
        "invalid_model"
    }
}

impl ErrorCode for KernelError {
    fn code(&self) -> &'static str {
        match self {
            KernelError::Gpu(e) => e.code(),
            KernelError::UnsupportedType { .. } => "unsupported_tensor_type",
            KernelError::Shape { .. } => "internal",
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            KernelError::Gpu(e) => e.details(),
            _ => None,
        }
    }
}

impl ErrorCode for ModelError {
    fn code(&self) -> &'static str {
        match self {
            ModelError::UnsupportedArchitecture(_) => "unsupported_architecture",
            ModelError::UnsupportedTensorType { .. } | ModelError::TensorNotApplied(_) => "unsupported_tensor_type",
            ModelError::MissingTensor(_) | ModelError::TensorShape { .. } | ModelError::EmptyTensor { .. } | ModelError::Config(_) | ModelError::Incomplete => "invalid_model",
            ModelError::ContextFull { .. } => "context_full",
            ModelError::ContextTooLarge { .. } => "context_too_large",
            // Asked of a model that cannot do it (logits of an encoder, a bidirectional step after position 0).
            ModelError::BadToken { .. } | ModelError::NoHead | ModelError::BidirectionalStep { .. } => "invalid_request",
            ModelError::Gguf(e) => e.code(),
            ModelError::Gpu(e) => e.code(),
            ModelError::Kernel(e) => e.code(),
            ModelError::TooLargeForCpu { .. } => "model_too_large",
            ModelError::Cpu(crate::cpu::CpuError::OutOfMemory { .. }) => "model_too_large",
            ModelError::Cpu(_) => "internal",
            ModelError::InPart { source, .. } => source.code(),
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            ModelError::UnsupportedArchitecture(a) => Some(serde_json::json!({ "architecture": a })),
            ModelError::UnsupportedTensorType { tensor, ty } => Some(serde_json::json!({ "tensor": tensor, "type": ty.name() })),
            ModelError::EmptyTensor { tensor, dims } => Some(serde_json::json!({ "tensor": tensor, "shape": dims })),
            ModelError::ContextFull { needed, n_ctx } => Some(serde_json::json!({ "needed": needed, "context": n_ctx })),
            ModelError::ContextTooLarge { n_ctx, limit, max_n_ctx, .. } => Some(serde_json::json!({ "context": n_ctx, "limit": limit, "max_context": max_n_ctx })),
            ModelError::Gpu(e) => e.details(),
            ModelError::Kernel(e) => e.details(),
            ModelError::TooLargeForCpu { weights, kv, limit } => Some(serde_json::json!({ "weight_bytes": weights, "kv_cache_bytes": kv, "limit": limit })),
            ModelError::InPart { file, source } => {
                let mut d = source.details().unwrap_or_else(|| serde_json::json!({}));
                if let Some(o) = d.as_object_mut() {
                    o.insert("file".into(), file.clone().into());
                }
                Some(d)
            }
            _ => None,
        }
    }
}

impl ErrorCode for TokenizerError {
    fn code(&self) -> &'static str {
        "invalid_model"
    }
}

impl ErrorCode for ChatError {
    fn code(&self) -> &'static str {
        match self {
            // The template refused this conversation (`raise_exception`, e.g.
            // roles that do not alternate): the request is at fault, not the file.
            ChatError::TemplateRaised(_) | ChatError::TemplateVariable(_) | ChatError::TemplateKwarg { .. } => "invalid_request",
            _ => "invalid_model",
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            ChatError::TemplateVariable(name) => Some(serde_json::json!({ "field": format!("chat_template_kwargs.{name}") })),
            ChatError::TemplateKwarg { field, key, .. } => Some(serde_json::json!({ "field": field, "key": key })),
            _ => None,
        }
    }
}

/// `details.field`: the message and its field at fault (`messages[0].foo`).
impl ErrorCode for MessagesError {
    fn code(&self) -> &'static str {
        "invalid_request"
    }
    fn details(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "field": self.field() }))
    }
}

impl ErrorCode for EngineError {
    fn code(&self) -> &'static str {
        match self {
            EngineError::PromptTooLong { .. } | EngineError::TextTooLong { .. } | EngineError::TooManyWords { .. } => "context_full",
            EngineError::EmptyPrompt | EngineError::NoChatTemplate => "invalid_request",
            EngineError::Model(e) | EngineError::Interrupted { source: e, .. } => e.code(),
            EngineError::Tokenizer(e) => e.code(),
            EngineError::Chat(e) => e.code(),
            EngineError::Tools(_) => "invalid_request",
            EngineError::Constraint(e) => e.code(),
            EngineError::LogitBias(e) => e.code(),
            EngineError::Embed(_) => "invalid_request",
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            EngineError::PromptTooLong { prompt, n_ctx } => Some(serde_json::json!({ "prompt_tokens": prompt, "context": n_ctx })),
            EngineError::TextTooLong { bytes, max_bytes, n_ctx } => Some(serde_json::json!({ "prompt_bytes": bytes, "max_bytes": max_bytes, "context": n_ctx })),
            EngineError::TooManyWords { words, n_ctx } => Some(serde_json::json!({ "words": words, "context": n_ctx })),
            EngineError::Model(e) => e.details(),
            EngineError::Chat(e) => e.details(),
            EngineError::Tools(e) => Some(serde_json::json!({ "field": e.field() })),
            EngineError::Constraint(e) => e.details(),
            EngineError::LogitBias(e) => e.details(),
            EngineError::Embed(e) => Some(serde_json::json!({ "field": e.field() })),
            // The text generated before the failure (it was also streamed).
            EngineError::Interrupted { source, ids, text } => {
                Some(serde_json::json!({ "text": text, "completion_tokens": ids.len(), "cause": source.details() }))
            }
            _ => None,
        }
    }
}

impl ErrorCode for ConstraintError {
    fn code(&self) -> &'static str {
        match self {
            ConstraintError::Field { .. } | ConstraintError::UnsupportedKeyword { .. } | ConstraintError::KeywordRefused { .. } | ConstraintError::Schema(_) => {
                "invalid_request"
            }
            ConstraintError::Parser(_) => "internal",
        }
    }
    /// `field`: the request field at fault (dotted path), as the package's own checks name it.
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            ConstraintError::Field { field, .. } => Some(serde_json::json!({ "field": field })),
            ConstraintError::UnsupportedKeyword { field, keyword, pointer } | ConstraintError::KeywordRefused { field, keyword, pointer, .. } => {
                Some(serde_json::json!({ "field": field, "keyword": keyword, "pointer": pointer }))
            }
            ConstraintError::Schema(_) => Some(serde_json::json!({ "field": "response_format" })),
            ConstraintError::Parser(_) => None,
        }
    }
}

/// `details`: `field` is `logit_bias`, and `key` the key at fault where there is one.
impl ErrorCode for LogitBiasError {
    fn code(&self) -> &'static str {
        "invalid_request"
    }
    fn details(&self) -> Option<serde_json::Value> {
        Some(match self.key() {
            Some(key) => serde_json::json!({ "field": "logit_bias", "key": key }),
            None => serde_json::json!({ "field": "logit_bias" }),
        })
    }
}

impl ErrorCode for BenchError {
    fn code(&self) -> &'static str {
        match self {
            BenchError::NothingToMeasure | BenchError::NoTokens(_) => "invalid_request",
            BenchError::OverContext { .. } => "context_full",
            BenchError::Model(e) => e.code(),
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            BenchError::OverContext { test, needed, n_ctx } => Some(serde_json::json!({ "test": test, "needed": needed, "context": n_ctx })),
            BenchError::Model(e) => e.details(),
            _ => None,
        }
    }
}

/// An error of our own making, with its code.
pub struct Plain(pub &'static str, pub String);

impl std::fmt::Display for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl ErrorCode for Plain {
    fn code(&self) -> &'static str {
        self.0
    }
}

/// A request the engine could not parse.
pub fn bad_request(e: impl std::fmt::Display) -> JsValue {
    to_js(&Plain("invalid_request", format!("bad request: {e}")))
}

pub fn internal(e: impl std::fmt::Display) -> JsValue {
    to_js(&Plain("internal", e.to_string()))
}

/// The JS `Error` for `e`: message, `code`, and `details` as a JSON string
/// (the package parses it).
pub fn to_js(e: &dyn ErrorCode) -> JsValue {
    let mut message = e.to_string();
    // A GPU allocation that failed (WebGPU tells neither the memory size nor
    // what is left) says only "out of memory": add what to try, as the
    // limits that are known do.
    if e.code() == "model_too_large" && !message.contains("smaller") {
        message.push_str(": the GPU has no memory left for it; a smaller quantization or model, or a shorter context, may fit");
    }
    let err = js_sys::Error::new(&message);
    let _ = js_sys::Reflect::set(&err, &"code".into(), &e.code().into());
    if let Some(d) = e.details() {
        let _ = js_sys::Reflect::set(&err, &"details".into(), &d.to_string().into());
    }
    err.into()
}
