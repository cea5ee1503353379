//! A shape in a mix: every tensor's GGUF name, ggml dims and type, in the
//! order llama.cpp writes them, with data offsets, and the GGUF header
//! (metadata llama.cpp and tabllm read) that describes them.

use super::mix::{NoFallback, QuantMix, TypeChooser};
use super::shapes::{RopeScaling, Shape, ShapeArch};
use crate::gguf::{Header, Metadata, TensorInfo, Value, DEFAULT_ALIGNMENT};
use crate::quant::GgmlType;

/// One tensor of a planned file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTensor {
    pub name: String,
    /// ggml order: dims[0] is the row (contiguous) axis.
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    pub n_bytes: u64,
    /// From the start of the data section, aligned to `DEFAULT_ALIGNMENT`.
    pub offset: u64,
}

/// Every tensor of `shape` quantized as `mix`.
#[derive(Clone, Debug)]
pub struct ModelPlan {
    pub shape: Shape,
    pub mix: QuantMix,
    pub tensors: Vec<PlannedTensor>,
}

/// (name, ggml dims) of every tensor of the shape, unordered.
fn tensor_shapes(s: &Shape) -> Vec<(String, Vec<u64>)> {
    let (d, q, kv, f, v) = (s.dim as u64, s.q_dim(), s.kv_dim(), s.ffn_dim as u64, s.vocab as u64);
    let mut t: Vec<(String, Vec<u64>)> = vec![("token_embd.weight".into(), vec![d, v]), ("output_norm.weight".into(), vec![d])];
    if !s.tied_embeddings {
        t.push(("output.weight".into(), vec![d, v]));
    }
    match s.rope_scaling {
        RopeScaling::Llama3 => t.push(("rope_freqs.weight".into(), vec![s.n_rot as u64 / 2])),
        RopeScaling::LongRope => {
            t.push(("rope_factors_long.weight".into(), vec![s.n_rot as u64 / 2]));
            t.push(("rope_factors_short.weight".into(), vec![s.n_rot as u64 / 2]));
        }
        RopeScaling::None | RopeScaling::Linear(_) => {}
    }
    for l in 0..s.n_layers {
        let mut add = |n: &str, dims: Vec<u64>| t.push((format!("blk.{l}.{n}"), dims));
        add("attn_norm.weight", vec![d]);
        add("attn_output.weight", vec![q, d]);
        add("ffn_norm.weight", vec![d]);
        add("ffn_down.weight", vec![f, d]);
        if s.arch == ShapeArch::Phi3 {
            add("attn_qkv.weight", vec![d, q + 2 * kv]);
            add("ffn_up.weight", vec![d, 2 * f]); // gate and up, fused
            continue;
        }
        add("attn_q.weight", vec![d, q]);
        add("attn_k.weight", vec![d, kv]);
        add("attn_v.weight", vec![d, kv]);
        add("ffn_gate.weight", vec![d, f]);
        add("ffn_up.weight", vec![d, f]);
        if s.arch == ShapeArch::Qwen2 {
            add("attn_q.bias", vec![q]);
            add("attn_k.bias", vec![kv]);
            add("attn_v.bias", vec![kv]);
        }
        if matches!(s.arch, ShapeArch::Qwen3 | ShapeArch::Gemma3) {
            add("attn_q_norm.weight", vec![s.head_dim as u64]);
            add("attn_k_norm.weight", vec![s.head_dim as u64]);
        }
        if s.arch == ShapeArch::Gemma3 {
            add("post_attention_norm.weight", vec![d]);
            add("post_ffw_norm.weight", vec![d]);
        }
    }
    t
}

/// llama.cpp's tensor order (`llama_model_loader::weights_map`, a map with
/// `weight_name_comparer`): by layer number (tensors outside `blk.N.` first),
/// then by name, byte-wise. llama-quantize writes tensors in this order and
/// its per-layer counters advance in it.
fn weight_order(name: &str) -> (i64, &str) {
    let layer = name.strip_prefix("blk.").and_then(|r| r.split('.').next()).and_then(|n| n.parse::<i64>().ok()).unwrap_or(-1);
    (layer, name)
}

impl ModelPlan {
    pub fn new(shape: &Shape, mix: QuantMix) -> Result<Self, NoFallback> {
        let mut shapes = tensor_shapes(shape);
        shapes.sort_by(|a, b| weight_order(&a.0).cmp(&weight_order(&b.0)));
        let mut chooser = TypeChooser::new(mix, shape.n_layers, shapes.iter().map(|(n, _)| n.as_str()));
        let mut offset = 0u64;
        let mut tensors = Vec::with_capacity(shapes.len());
        for (name, dims) in shapes {
            let ggml_type = chooser.choose(&name, &dims, GgmlType::F32)?;
            let n: u64 = dims.iter().product();
            // Every row length is a multiple of the chosen type's block (fallback saw to it).
            let n_bytes = ggml_type.bytes_for(n).expect("row length is a multiple of the block");
            tensors.push(PlannedTensor { name, dims, ggml_type, n_bytes, offset });
            offset = (offset + n_bytes).next_multiple_of(DEFAULT_ALIGNMENT);
        }
        Ok(Self { shape: *shape, mix, tensors })
    }

    /// Sum of every tensor's bytes (padding excluded), as `inspect` counts.
    pub fn weight_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }

    pub fn parameters(&self) -> u64 {
        self.tensors.iter().map(|t| t.dims.iter().product::<u64>()).sum()
    }

    /// Bytes of the data section (last tensor's end).
    pub fn data_bytes(&self) -> u64 {
        self.tensors.last().map_or(0, |t| t.offset + t.n_bytes)
    }

    /// K and V cache bytes one position takes in every layer, at
    /// `elem_bytes` per element (2 × layers × kv_dim × elem_bytes); a
    /// sliding-window layer stops growing at its window.
    pub fn kv_bytes_per_token(&self, elem_bytes: u32) -> u64 {
        2 * self.shape.n_layers as u64 * self.shape.kv_dim() * elem_bytes as u64
    }

    /// The model's metadata: `general.*` and the `{arch}.*` hyper-parameters
    /// with llama.cpp's key names (llama-arch.cpp `LLM_KV_NAMES`). No
    /// tokenizer: the synth writer adds one.
    pub fn metadata(&self) -> Metadata {
        let s = &self.shape;
        let a = s.arch.name();
        let mut md = Metadata::default();
        let mut put = |k: &str, v: Value| md.insert(k.to_string(), v);
        put("general.architecture", Value::String(a.into()));
        put("general.type", Value::String("model".into()));
        put("general.name", Value::String(format!("synthetic {} {}", s.name, self.mix.name())));
        put(&format!("{a}.block_count"), Value::U32(s.n_layers));
        put(&format!("{a}.context_length"), Value::U32(s.context));
        put(&format!("{a}.embedding_length"), Value::U32(s.dim));
        put(&format!("{a}.feed_forward_length"), Value::U32(s.ffn_dim));
        put(&format!("{a}.attention.head_count"), Value::U32(s.n_heads));
        put(&format!("{a}.attention.head_count_kv"), Value::U32(s.n_kv_heads));
        put(&format!("{a}.rope.freq_base"), Value::F32(s.rope_theta));
        put(&format!("{a}.attention.layer_norm_rms_epsilon"), Value::F32(s.rms_eps));
        if s.head_dim != s.dim / s.n_heads {
            put(&format!("{a}.attention.key_length"), Value::U32(s.head_dim));
            put(&format!("{a}.attention.value_length"), Value::U32(s.head_dim));
        }
        put(&format!("{a}.rope.dimension_count"), Value::U32(s.n_rot));
        if s.sliding_window > 0 {
            put(&format!("{a}.attention.sliding_window"), Value::U32(s.sliding_window));
        }
        if let RopeScaling::Linear(f) = s.rope_scaling {
            put(&format!("{a}.rope.scaling.type"), Value::String("linear".into()));
            put(&format!("{a}.rope.scaling.factor"), Value::F32(f));
        }
        put("general.quantization_version", Value::U32(2));
        put("general.file_type", Value::U32(self.mix.file_type()));
        md
    }

    /// The header of the planned file with this metadata; `data_offset` is
    /// left 0 (it depends on the encoded metadata size, see `synth`).
    pub fn header(&self, metadata: Metadata) -> Header {
        let tensors = self
            .tensors
            .iter()
            .map(|t| TensorInfo {
                name: t.name.clone(),
                dims: t.dims.clone(),
                ggml_type: t.ggml_type,
                offset: t.offset,
                n_elements: t.dims.iter().product(),
                n_bytes: t.n_bytes,
            })
            .collect();
        Header { version: 3, metadata, tensors, alignment: DEFAULT_ALIGNMENT, data_offset: 0 }
    }
}
