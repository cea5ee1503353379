//! "Will it run?": sizes, KV cache, device fit and a decode-speed estimate,
//! from the GGUF header alone (no tensor bytes), so the browser can answer
//! before downloading a model: fetch the first bytes with HTTP Range
//! requests, feed them to a [`HeaderProbe`], then call [`inspect`] with the
//! device's limits.
//!
//! The figures mirror what the runtime allocates:
//! - Weights: the loader uploads every tensor the forward pass reads
//!   (`ModelConfig::tensor_plan`; every tensor when the architecture is not
//!   supported, as an upper bound) with `GpuTensor::allocate`'s split rule,
//!   see [`binding_parts`].
//! - KV cache: `model::State::new`, see [`InspectOptions`] and [`ModelReport::kv_bytes`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gguf::{GgufError, Header, StreamParser, TensorInfo};
use crate::model::{LoadOptions, ModelConfig};

/// What to size the model for. Every field has a default, so `{}` is valid
/// JSON; an unknown field is an error (a misspelt limit would go unchecked).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InspectOptions {
    /// Context length (positions) to allocate. `None`: the runtime's default,
    /// the model's training context capped at 4096 (`ModelLoader::finish`).
    pub context: Option<u32>,
    /// Bytes per cached K or V element: 4 for the f32 path (any WebGPU
    /// device), 2 when the device has `shader-f16` (`Precision::F16`).
    pub kv_bytes_per_element: u32,
    /// Tokens per prefill step (`LoadOptions::max_batch`): sliding-window
    /// layers keep a ring of window + max_batch positions.
    pub max_batch: u32,
    /// The device's `maxBufferSize`, when known.
    pub max_buffer_size: Option<u64>,
    /// The device's `maxStorageBufferBindingSize`, when known.
    pub max_storage_buffer_binding_size: Option<u64>,
    /// GPU memory the model may use (weights + KV cache), when known.
    pub available_bytes: Option<u64>,
    /// Measured read bandwidth in GB/s (10^9 bytes/s), for the decode estimate.
    pub bandwidth_gbps: Option<f64>,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self {
            context: None,
            kv_bytes_per_element: 4,
            max_batch: LoadOptions::default().max_batch,
            max_buffer_size: None,
            max_storage_buffer_binding_size: None,
            available_bytes: None,
            bandwidth_gbps: None,
        }
    }
}

/// Whether the model fits the limits given in [`InspectOptions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Weights and the KV cache at the asked context fit.
    Fits,
    /// The weights fit, the KV cache only at a shorter context
    /// ([`ModelReport::max_context_that_fits`]).
    FitsSmallerContext,
    /// A weight tensor cannot be bound, or the weights alone exceed the memory.
    DoesNotFit,
    /// Only some parts of a split GGUF were read ([`ModelReport::split_count`]):
    /// the sizes cover those parts only.
    Unknown,
}

impl Fit {
    pub fn as_str(self) -> &'static str {
        match self {
            Fit::Fits => "fits",
            Fit::FitsSmallerContext => "fits_smaller_context",
            Fit::DoesNotFit => "does_not_fit",
            Fit::Unknown => "unknown",
        }
    }
}

/// Tensors of one ggml type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeTotal {
    pub count: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedBytes {
    pub name: String,
    pub bytes: u64,
}

/// A tensor the loader splits by whole rows across several buffers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitTensor {
    pub name: String,
    pub bytes: u64,
    pub parts: u64,
}

/// Everything [`inspect`] found. Serialized with these (snake_case) names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// `general.architecture` ("" when missing).
    pub architecture: String,
    /// `general.name`.
    pub name: Option<String>,
    /// Sum of every tensor's element count.
    pub parameters: u64,
    /// Per ggml type name ("Q4_K"): tensor count and bytes.
    pub tensor_types: BTreeMap<String, TypeTotal>,
    /// Sum of every tensor's size in the file (padding excluded).
    pub weight_bytes: u64,
    /// The part of `weight_bytes` the loader uploads: the tensors the forward
    /// pass reads (all of them when the architecture is not supported).
    pub loaded_weight_bytes: u64,
    /// Tensors of a supported model's file that its forward pass does not
    /// read, so are not loaded (a vision or audio encoder stored with the
    /// text model, as llama.cpp's Gemma 4 files may hold): how many, and the
    /// first one's name (None when there are none).
    pub unread_tensors: u32,
    pub unread_tensor_example: Option<String>,
    /// K and V caches at `context`:
    /// Σ over layers of 2 × n_kv_heads × head_dim × positions(l) × kv_bytes_per_element,
    /// positions(l) = context for a global layer and min(context, sliding_window + max_batch)
    /// for a sliding-window (local) layer, whose cache is a ring (`model::State::new`).
    /// 0 when the metadata does not give the attention shape.
    pub kv_bytes: u64,
    /// The recurrent layers' fixed state, whatever the context: a short-conv
    /// layer's last l_cache − 1 inputs, a Gated DeltaNet layer's last
    /// conv taps − 1 conv inputs and its delta-rule state, in f32
    /// (`model::State::new`). 0 for models without recurrent layers.
    pub recurrent_state_bytes: u64,
    /// weight_bytes + recurrent_state_bytes + kv_bytes (what `available_bytes` is compared with).
    pub total_bytes: u64,
    /// The largest tensor (`None` for a file without tensors).
    pub largest_tensor: Option<NamedBytes>,
    pub largest_tensor_bytes: u64,
    /// The context the KV cache was sized for.
    pub context: u32,
    /// `{arch}.context_length` (the runtime assumes 2048 when missing).
    pub context_train: Option<u32>,
    pub kv_bytes_per_element: u32,
    pub n_layers: Option<u32>,
    pub n_kv_heads: Option<u32>,
    pub head_dim: Option<u32>,
    /// Window of the sliding-window layers, when the model has some.
    pub sliding_window: Option<u32>,
    /// How many layers use the sliding window.
    pub n_local_layers: u32,
    /// The largest single K (or V) cache buffer: one layer's, bound whole by attention.
    pub kv_layer_bytes_max: u64,
    /// Whether tabllm can run the architecture, tensor types and shapes.
    pub supported: bool,
    /// `ModelConfig::from_header`'s error when not supported.
    pub unsupported_reason: Option<String>,
    pub fits: Fit,
    /// `split.count`: the files the model is split into (1 for one file).
    /// When the header holds fewer tensors than `split.tensors.count` (only
    /// some parts were read) `fits` is `unknown`.
    pub split_count: u32,
    /// One plain-English sentence with the numbers behind `fits`.
    pub reason: String,
    /// Largest context (up to the larger of `context` and `context_train`) at
    /// which weights and KV cache fit; `None` when the weights alone do not.
    pub max_context_that_fits: Option<u32>,
    /// Tensors split across several bindings under the given limits.
    pub split_tensors: Vec<SplitTensor>,
    /// Estimated bytes one decode step reads at the middle of the context
    /// (the mean over a generation that fills it): the uploaded weights once
    /// (an untied embedding matrix only by its one row), plus K and V of the
    /// context / 2 positions each layer attends to (at most its window for a
    /// sliding-window layer), at `kv_bytes_per_element`. Activations are
    /// small and not counted.
    pub decode_bytes_per_token: f64,
    /// bandwidth_gbps × 10^9 ÷ decode_bytes_per_token: the memory-bound
    /// ceiling on decode speed (real decode reaches a fraction of it).
    pub predicted_decode_tok_s: Option<f64>,
}

/// The attention shape that sizes the KV cache, per layer.
struct KvShape {
    n_layers: u32,
    kv_dim: u64,
    /// Window of each local layer (`Some`) or global (`None`); empty for the
    /// generic shape, where every layer is global.
    windows: Vec<Option<u32>>,
    /// Per layer of `windows`, its K (or V) elements per position (`kv_dim`
    /// when empty) and whether it holds a cache of its own (Gemma 4's
    /// shared-KV layers read an earlier layer's: they hold none but read it).
    layers: Vec<(u64, bool)>,
}

impl KvShape {
    /// Positions layer `l`'s cache holds (`model::State::new`).
    fn cache_len(&self, l: usize, context: u32, max_batch: u32) -> u32 {
        match self.windows.get(l).copied().flatten() {
            Some(w) => context.min(w.saturating_add(max_batch)),
            None => context,
        }
    }

    fn layer_bytes(&self, l: usize, positions: u32, elem: u32) -> u64 {
        let (kv_dim, owns) = self.layers.get(l).copied().unwrap_or((self.kv_dim, true));
        if !owns {
            return 0;
        }
        kv_dim.saturating_mul(positions as u64).saturating_mul(elem as u64)
    }

    /// (total K + V bytes, largest single K or V buffer) at `context`.
    fn bytes(&self, context: u32, opts: &InspectOptions) -> (u64, u64) {
        let elem = opts.kv_bytes_per_element;
        if self.windows.is_empty() {
            let layer = self.layer_bytes(0, context, elem);
            return (layer.saturating_mul(2).saturating_mul(self.n_layers as u64), layer);
        }
        let mut total = 0u64;
        let mut max = 0u64;
        for l in 0..self.windows.len() {
            let layer = self.layer_bytes(l, self.cache_len(l, context, opts.max_batch), elem);
            total = total.saturating_add(layer.saturating_mul(2));
            max = max.max(layer);
        }
        (total, max)
    }

    /// Cached K and V bytes a decode step reads at position `pos` (a local
    /// layer attends to its window only).
    fn read_bytes(&self, pos: f64, elem: u32) -> f64 {
        let per_pos = |l: usize| 2.0 * self.layers.get(l).map_or(self.kv_dim, |&(d, _)| d) as f64 * elem as f64;
        if self.windows.is_empty() {
            return per_pos(0) * pos * self.n_layers as f64;
        }
        self.windows.iter().enumerate().map(|(l, w)| per_pos(l) * w.map_or(pos, |w| pos.min(w as f64))).sum()
    }
}

/// Shape from a supported model's configuration (exactly what the runtime uses).
fn kv_shape_of(c: &ModelConfig) -> KvShape {
    // Layers without attention (recurrent ones) are not counted.
    let attention: Vec<_> = (0..c.n_layers).filter_map(|l| Some((l, c.layer_attention(l)?))).collect();
    let windows = attention.iter().map(|(_, a)| (a.window > 0).then_some(a.window)).collect::<Vec<_>>();
    let layers = attention.iter().map(|&(l, a)| ((c.n_kv_heads * a.head_dim) as u64, a.owns_kv(l as usize))).collect();
    KvShape { n_layers: windows.len() as u32, kv_dim: c.kv_dim() as u64, windows, layers }
}

/// ", X of recurrent state" when the model has one.
fn state_phrase(state: u64) -> String {
    if state == 0 {
        String::new()
    } else {
        format!(", {} of recurrent state", format_bytes(state))
    }
}

/// Bytes of the recurrent layers' state (f32), as `model::State::new` allocates it.
fn recurrent_state_bytes(c: &ModelConfig) -> u64 {
    c.layers
        .iter()
        .map(|p| match p.mixer {
            crate::model::Mixer::ShortConv { l_cache } => (l_cache as u64 - 1) * c.dim as u64 * 4,
            crate::model::Mixer::GatedDeltaNet(d) => ((d.conv_taps as u64 - 1) * d.conv_channels() as u64 + d.shape(c.rms_eps).state_len()) * 4,
            crate::model::Mixer::Attention(_) => 0,
        })
        .fold(0u64, u64::saturating_add)
}

/// What sizes the model: the tensors the loader uploads and the attention shape.
struct ShapeInfo<'h> {
    loaded: Vec<&'h TensorInfo>,
    kv: Option<KvShape>,
    recurrent_state_bytes: u64,
    context_train: Option<u32>,
    n_layers: Option<u32>,
    n_kv_heads: Option<u32>,
    head_dim: Option<u32>,
    sliding_window: Option<u32>,
}

/// For architectures tabllm does not run: every tensor counts as uploaded
/// (an upper bound), and the attention shape comes from generic metadata
/// keys when present: `{arch}.block_count`, `{arch}.attention.head_count_kv`
/// (else head_count), `{arch}.attention.key_length` (else embedding_length /
/// head_count). Every layer is taken as global (an upper bound for
/// sliding-window models). Missing or mistyped keys leave the KV cache unsized.
fn generic_shape<'h>(h: &'h Header, arch: &str) -> ShapeInfo<'h> {
    let get = |k: &str| h.metadata.get_u32(&format!("{arch}.{k}")).ok().flatten().filter(|&v| v > 0);
    let n_heads = get("attention.head_count");
    let n_kv_heads = get("attention.head_count_kv").or(n_heads);
    let head_dim = get("attention.key_length").or_else(|| Some(get("embedding_length")? / n_heads?).filter(|&d| d > 0));
    let n_layers = get("block_count");
    let kv = match (n_layers, n_kv_heads, head_dim) {
        (Some(n_layers), Some(kv), Some(hd)) => Some(KvShape { n_layers, kv_dim: kv as u64 * hd as u64, windows: Vec::new(), layers: Vec::new() }),
        _ => None,
    };
    ShapeInfo {
        loaded: h.tensors.iter().collect(),
        kv,
        recurrent_state_bytes: 0,
        context_train: get("context_length"),
        n_layers,
        n_kv_heads,
        head_dim,
        sliding_window: None,
    }
}

/// How `GpuTensor::allocate` places a tensor of `n_bytes` with shape `dims`
/// (ggml order) under a per-buffer `limit` (min of `maxStorageBufferBindingSize`
/// and `maxBufferSize`): one buffer when its size rounded up to 4 bytes fits;
/// otherwise split by whole rows (rows = product of dims[1..]), each part a
/// multiple of 4 bytes, i.e. a multiple of 4 / gcd(row_bytes, 4) rows.
/// `Ok(parts)`, or `Err(bytes)` with the smallest part it would need (one
/// such group of rows, or the whole tensor when it has a single row).
pub fn binding_parts(dims: &[u64], n_bytes: u64, limit: u64) -> Result<u64, u64> {
    let rows = dims.iter().skip(1).try_fold(1u64, |p, &d| p.checked_mul(d)).unwrap_or(u64::MAX).max(1);
    crate::gpu::rows_per_part(dims, n_bytes, limit).map(|per_part| rows.div_ceil(per_part))
}

/// Weight bytes one decode step reads: every uploaded tensor once, except an
/// untied embedding matrix (`token_embd.weight` beside an `output.weight`),
/// of which only the token's row is read (as `bench::decode_bytes_per_token`).
fn decode_weight_bytes(h: &Header, loaded: &[&TensorInfo]) -> f64 {
    let tied = h.tensor("output.weight").is_none();
    loaded
        .iter()
        .map(|t| {
            if t.name == "token_embd.weight" && !tied {
                let vocab = t.dims.get(1).copied().unwrap_or(1).max(1);
                t.n_bytes as f64 / vocab as f64
            } else {
                t.n_bytes as f64
            }
        })
        .sum()
}

/// Human-readable bytes in binary units ("128 MiB", "1.5 GiB").
pub fn format_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if b >= size {
            let v = b as f64 / size as f64;
            return if b % size == 0 { format!("{} {unit}", b / size) } else { format!("{v:.1} {unit}") };
        }
    }
    format!("{b} bytes")
}

/// Sizes, KV cache, fit and decode estimate for the model this header describes.
///
/// Fit rule, in order:
/// 1. Every tensor the loader uploads must be placeable under the per-buffer
///    limit (min of `max_storage_buffer_binding_size` and `max_buffer_size`,
///    whichever are given), split by rows as in [`binding_parts`]; else
///    `does_not_fit`.
/// 2. When `available_bytes` is given, `weight_bytes` must fit in it; else `does_not_fit`.
/// 3. The KV cache at `context` must fit: each layer's K (and V) buffer is
///    bound whole, so it must be within the per-buffer limit, and
///    `weight_bytes + kv_bytes` within `available_bytes`. Then `fits`; else
///    `fits_smaller_context` when some shorter context fits (the largest is
///    `max_context_that_fits`), `does_not_fit` when not even 1 position does.
///
/// Limits that are not given are not checked. `supported` is independent of
/// `fits`: an unsupported model is still sized (from its generic metadata).
pub fn inspect(h: &Header, opts: &InspectOptions) -> ModelReport {
    let architecture = h.metadata.get_str("general.architecture").ok().flatten().unwrap_or("").to_string();
    let name = h.metadata.get_str("general.name").ok().flatten().map(str::to_string);
    let config = ModelConfig::from_header(h);

    let mut tensor_types: BTreeMap<String, TypeTotal> = BTreeMap::new();
    let (mut parameters, mut weight_bytes) = (0u64, 0u64);
    let mut largest: Option<&TensorInfo> = None;
    for t in &h.tensors {
        let e = tensor_types.entry(t.ggml_type.name().to_string()).or_default();
        e.count += 1;
        e.bytes = e.bytes.saturating_add(t.n_bytes);
        parameters = parameters.saturating_add(t.n_elements);
        weight_bytes = weight_bytes.saturating_add(t.n_bytes);
        if largest.is_none_or(|l| t.n_bytes > l.n_bytes) {
            largest = Some(t);
        }
    }

    // What the loader uploads, and the KV cache's shape.
    let m = match &config {
        Ok(c) => {
            let plan: std::collections::HashSet<String> = c.tensor_plan().into_iter().map(|(n, _, _)| n).collect();
            ShapeInfo {
                loaded: h.tensors.iter().filter(|t| plan.contains(&t.name)).collect(),
                kv: Some(kv_shape_of(c)),
                recurrent_state_bytes: recurrent_state_bytes(c),
                context_train: c.ctx_train,
                n_layers: Some(c.n_layers),
                n_kv_heads: Some(c.n_kv_heads),
                head_dim: Some(c.head_dim),
                sliding_window: (0..c.n_layers).filter_map(|l| c.layer_attention(l)).map(|a| a.window).find(|&w| w > 0),
            }
        }
        Err(_) => generic_shape(h, &architecture),
    };
    let (loaded, shape) = (&m.loaded, &m.kv);
    // The text model reads its planned tensors and the fused tensors its views take rows of.
    let unread: Vec<&TensorInfo> = match &config {
        Ok(c) => {
            let read: std::collections::HashSet<String> = c.tensor_plan().into_iter().map(|(n, _, _)| n).chain(c.views.iter().map(|v| v.source.clone())).collect();
            h.tensors.iter().filter(|t| !read.contains(&t.name)).collect()
        }
        Err(_) => Vec::new(),
    };
    let n_local_layers = shape.as_ref().map_or(0, |s| s.windows.iter().zip(&s.layers).filter(|(w, &(_, owns))| w.is_some() && owns).count() as u32);
    let loaded_weight_bytes = loaded.iter().fold(0u64, |s, t| s.saturating_add(t.n_bytes));

    let context = opts.context.unwrap_or(m.context_train.unwrap_or(2048).min(4096)).max(1);
    let state = m.recurrent_state_bytes;
    let kv_at = |c: u32| shape.as_ref().map_or((0, 0), |s| s.bytes(c, opts));
    let (kv_bytes, kv_layer_bytes_max) = kv_at(context);

    // Placement of every uploaded tensor under the per-buffer limit.
    let limit = match (opts.max_storage_buffer_binding_size, opts.max_buffer_size) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut split_tensors = Vec::new();
    let mut unplaceable: Option<(&TensorInfo, u64)> = None;
    if let Some(limit) = limit {
        for t in loaded {
            match binding_parts(&t.dims, t.n_bytes, limit) {
                Ok(1) => {}
                Ok(parts) => split_tensors.push(SplitTensor { name: t.name.clone(), bytes: t.n_bytes, parts }),
                Err(min) => {
                    if unplaceable.is_none_or(|(u, _)| t.n_bytes > u.n_bytes) {
                        unplaceable = Some((t, min));
                    }
                }
            }
        }
    }

    // KV cache and memory budget at a given context.
    let kv_fits = |c: u32| {
        let (kv, layer_max) = kv_at(c);
        limit.is_none_or(|l| layer_max <= l) && opts.available_bytes.is_none_or(|a| weight_bytes.saturating_add(state).saturating_add(kv) <= a)
    };
    let weights_fit = unplaceable.is_none() && opts.available_bytes.is_none_or(|a| weight_bytes <= a);
    let max_fitting = |hi: u32| -> Option<u32> {
        // kv_at is non-decreasing in the context: binary search the last c in 1..=hi that fits.
        if hi == 0 || !kv_fits(1) {
            return None;
        }
        let (mut lo, mut hi) = (1u32, hi);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if kv_fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(lo)
    };
    let max_context_that_fits = if weights_fit { max_fitting(context.max(m.context_train.unwrap_or(0))) } else { None };

    let binding_phrase = |l: u64| match (opts.max_storage_buffer_binding_size, opts.max_buffer_size) {
        (Some(b), Some(m)) if m < b => format!("{} per buffer (maxBufferSize)", format_bytes(l)),
        (None, Some(_)) => format!("{} per buffer (maxBufferSize)", format_bytes(l)),
        _ => format!("{} per binding (maxStorageBufferBindingSize)", format_bytes(l)),
    };
    let (fits, reason) = if let Some((t, min)) = unplaceable {
        let l = limit.unwrap_or(u64::MAX);
        let what = if min.next_multiple_of(4) >= t.n_bytes.next_multiple_of(4) {
            format!("the tensor {} needs {} in one binding", t.name, format_bytes(t.n_bytes))
        } else {
            format!("the tensor {} ({}) cannot be split into parts small enough: one part of whole rows needs {}", t.name, format_bytes(t.n_bytes), format_bytes(min))
        };
        (Fit::DoesNotFit, format!("{what} but this device allows {}", binding_phrase(l)))
    } else if let Some(a) = opts.available_bytes.filter(|&a| weight_bytes > a) {
        (Fit::DoesNotFit, format!("the weights alone need {} but only {} is available", format_bytes(weight_bytes), format_bytes(a)))
    } else if kv_fits(context) {
        let budget = match opts.available_bytes {
            Some(a) => format!("fit in the {} available", format_bytes(a)),
            None => "fit (no memory budget given)".to_string(),
        };
        let binding = match (largest, limit) {
            (Some(t), Some(l)) => match split_tensors.iter().find(|s| s.name == t.name) {
                Some(s) => format!("; the largest tensor {} ({}) is split by rows into {} bindings within {}", t.name, format_bytes(t.n_bytes), s.parts, binding_phrase(l)),
                None => format!("; the largest tensor {} ({}) fits in one binding within {}", t.name, format_bytes(t.n_bytes), binding_phrase(l)),
            },
            _ => "; no binding limit given".to_string(),
        };
        let text = match shape {
            Some(_) => format!(
                "{} of weights{} and {} of KV cache at context {context} ({} in all) {budget}{binding}",
                format_bytes(weight_bytes),
                state_phrase(state),
                format_bytes(kv_bytes),
                format_bytes(weight_bytes.saturating_add(state).saturating_add(kv_bytes))
            ),
            None => format!("{} of weights {budget} (the KV cache is not counted: the metadata does not give the attention shape){binding}", format_bytes(weight_bytes)),
        };
        (Fit::Fits, text)
    } else {
        let why = match limit.filter(|&l| kv_layer_bytes_max > l) {
            Some(l) => format!("one layer's K cache at context {context} needs {} in one binding but this device allows {}", format_bytes(kv_layer_bytes_max), binding_phrase(l)),
            None => format!(
                "{} of weights{} and {} of KV cache at context {context} need {} but only {} is available",
                format_bytes(weight_bytes),
                state_phrase(state),
                format_bytes(kv_bytes),
                format_bytes(weight_bytes.saturating_add(state).saturating_add(kv_bytes)),
                format_bytes(opts.available_bytes.unwrap_or(0))
            ),
        };
        match max_fitting(context - 1) {
            Some(c) => (Fit::FitsSmallerContext, format!("{why}; a context of up to {c} fits")),
            None => (Fit::DoesNotFit, format!("{why}, and not even a context of 1 fits")),
        }
    };

    // One part of a split model says how many tensors the whole has.
    let split_count = h.metadata.get_u32("split.count").ok().flatten().unwrap_or(1).max(1);
    let split_tensors_total = h.metadata.get_u32("split.tensors.count").ok().flatten();
    let (fits, reason, max_context_that_fits) = if split_count > 1 && split_tensors_total != Some(h.tensors.len() as u32) {
        let of = split_tensors_total.map_or(String::new(), |n| format!(" of its {n}"));
        let why = format!(
            "only {} tensors{of} were read, {} of weights: this model is split into {split_count} files; give every part (`-00001-of-{split_count:05}.gguf` … ) to size it",
            h.tensors.len(),
            format_bytes(weight_bytes)
        );
        (Fit::Unknown, why, None)
    } else {
        (fits, reason, max_context_that_fits)
    };

    let decode_bytes_per_token = decode_weight_bytes(h, loaded) + shape.as_ref().map_or(0.0, |s| s.read_bytes(context as f64 / 2.0, opts.kv_bytes_per_element));
    let predicted_decode_tok_s = opts
        .bandwidth_gbps
        .filter(|b| b.is_finite() && *b > 0.0 && decode_bytes_per_token > 0.0)
        .map(|b| b * 1e9 / decode_bytes_per_token);

    ModelReport {
        architecture,
        name,
        parameters,
        tensor_types,
        weight_bytes,
        loaded_weight_bytes,
        unread_tensors: unread.len() as u32,
        unread_tensor_example: unread.first().map(|t| t.name.clone()),
        kv_bytes,
        recurrent_state_bytes: state,
        total_bytes: weight_bytes.saturating_add(state).saturating_add(kv_bytes),
        largest_tensor: largest.map(|t| NamedBytes { name: t.name.clone(), bytes: t.n_bytes }),
        largest_tensor_bytes: largest.map_or(0, |t| t.n_bytes),
        context,
        context_train: m.context_train,
        kv_bytes_per_element: opts.kv_bytes_per_element,
        n_layers: m.n_layers,
        n_kv_heads: m.n_kv_heads,
        head_dim: m.head_dim,
        sliding_window: m.sliding_window,
        n_local_layers,
        kv_layer_bytes_max,
        supported: config.is_ok(),
        // A later part of a split model holds no metadata: say which part to give.
        unsupported_reason: match crate::gguf::split::split_of(h) {
            Ok((no, count)) if no > 0 => Some(format!("this file is part {} of {count} of a split model: load its first part, which holds the model's metadata", no + 1)),
            _ => config.err().map(|e| e.to_string()),
        },
        fits,
        split_count,
        reason,
        max_context_that_fits,
        split_tensors,
        decode_bytes_per_token,
        predicted_decode_tok_s,
    }
}

/// Smallest first Range request worth making.
const PROBE_MIN_REQUEST: u64 = 1 << 20;

/// Appends part `index` (0-based: 1 for the second file) of a split GGUF
/// (llama.cpp's gguf-split layout: `split.no` counts from 0 and every part
/// repeats `split.count`) to `acc`, the first part's header with the tensors
/// of parts 1..index, so that [`inspect`] sizes the whole model. An error
/// names the part that is out of place.
pub fn append_split_part(acc: &mut Header, next: &Header, index: u32) -> Result<(), String> {
    let count = |h: &Header| h.metadata.get_u32("split.count").ok().flatten().unwrap_or(1);
    let no = next.metadata.get_u32("split.no").ok().flatten().unwrap_or(0);
    let parts = count(acc);
    if count(next) != parts || no != index || index >= parts {
        return Err(format!("expected part {} of {parts}, got part {} of {}", index + 1, no + 1, count(next)));
    }
    acc.tensors.extend(next.tensors.iter().cloned());
    Ok(())
}

/// Parses a GGUF header from the first bytes of a file, pushed in chunks of
/// any size (e.g. HTTP Range responses); tensor data is never needed. Built on
/// [`StreamParser`] with its default limits, so a hostile header gets a
/// [`GgufError`] (and the probe is spent), never a panic.
#[derive(Default)]
pub struct HeaderProbe {
    parser: StreamParser,
    bytes_pushed: u64,
    /// The header with later parts' tensors appended ([`HeaderProbe::append_part`]).
    merged: Option<Header>,
}

impl HeaderProbe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the file; `Ok(true)` once the header is
    /// complete (bytes pushed after that are ignored).
    pub fn push(&mut self, chunk: &[u8]) -> Result<bool, GgufError> {
        if self.parser.header().is_some() {
            return Ok(true);
        }
        self.bytes_pushed += chunk.len() as u64;
        // Tensor bytes that follow the header in the same chunk are skipped.
        self.parser.push(chunk, &mut |_| Ok::<(), GgufError>(()))?;
        Ok(self.parser.header().is_some())
    }

    pub fn is_complete(&self) -> bool {
        self.parser.header().is_some()
    }

    /// The header, with the tensors of any parts appended.
    pub fn header(&self) -> Option<&Header> {
        self.merged.as_ref().or(self.parser.header())
    }

    pub fn into_header(self) -> Option<Header> {
        self.merged.or_else(|| self.parser.into_header())
    }

    /// Appends part `index` (0-based) of a split model, probed on its own,
    /// to this probe (the first part's): see [`append_split_part`].
    pub fn append_part(&mut self, next: &HeaderProbe, index: u32) -> Result<(), String> {
        let next = next.header().ok_or("that part's header is not complete yet")?;
        let mut acc = match self.merged.take() {
            Some(h) => h,
            None => self.parser.header().ok_or("the first part's header is not complete yet")?.clone(),
        };
        let appended = append_split_part(&mut acc, next, index);
        self.merged = Some(acc);
        appended
    }

    pub fn bytes_pushed(&self) -> u64 {
        self.bytes_pushed
    }

    /// How many more bytes to ask for next: at least what the item being
    /// parsed still lacks, at least 1 MiB, and as much as was pushed so far,
    /// so a header of H bytes takes about log2(H / 1 MiB) + 1 requests.
    /// 0 once the header is complete.
    pub fn bytes_needed_hint(&self) -> u64 {
        if self.is_complete() {
            return 0;
        }
        let missing = match self.parser.finish() {
            Err(GgufError::Truncated { needed, .. }) => needed,
            _ => 0,
        };
        missing.max(PROBE_MIN_REQUEST).max(self.bytes_pushed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rule_matches_gpu_tensor() {
        // 10 rows of 100 bytes: whole in 1000, split into parts of 4 rows in 400.
        assert_eq!(binding_parts(&[100, 10], 1000, 1000), Ok(1));
        assert_eq!(binding_parts(&[100, 10], 1000, 450), Ok(3));
        // 18-byte rows: parts must be a multiple of 2 rows (36 bytes).
        assert_eq!(binding_parts(&[32, 10], 180, 40), Ok(5));
        assert_eq!(binding_parts(&[32, 10], 180, 35), Err(36));
        // A vector cannot be split.
        assert_eq!(binding_parts(&[1000], 4000, 3999), Err(4000));
    }

    #[test]
    fn bytes_are_formatted_in_binary_units() {
        assert_eq!(format_bytes(128 << 20), "128 MiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(100), "100 bytes");
    }
}
