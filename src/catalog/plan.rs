//! A shape in a mix: every tensor's GGUF name, ggml dims and type, in the
//! order llama.cpp writes them, with data offsets, and the GGUF header
//! (metadata llama.cpp and tabllm read) that describes them.

use super::mix::{NoFallback, QuantMix, TypeChooser};
use super::shapes::{Hybrid, RopeScaling, Shape, ShapeArch};
use crate::gguf::{Header, Metadata, TensorInfo, Value, ValueType, DEFAULT_ALIGNMENT};
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

/// (name, ggml dims) of every tensor of the shape, unordered: the tensors
/// llama.cpp's converter writes for the architecture (its `conversion/*.py`
/// and the loader's `src/models/<arch>.cpp`; scripts/reference/make_tiny_arch.py
/// lists the same for this year's architectures).
fn tensor_shapes(s: &Shape) -> Vec<(String, Vec<u64>)> {
    let (d, v) = (s.dim as u64, s.vocab as u64);
    let final_norm = if s.arch == ShapeArch::Lfm2 { "token_embd_norm.weight" } else { "output_norm.weight" };
    let mut t: Vec<(String, Vec<u64>)> = vec![("token_embd.weight".into(), vec![d, v]), (final_norm.into(), vec![d])];
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
    if let Hybrid::Gemma4(g) = s.hybrid {
        let pl = g.per_layer_dim as u64 * s.n_layers as u64;
        t.push(("rope_freqs.weight".into(), vec![s.head_dim as u64 / 2]));
        t.push(("per_layer_token_embd.weight".into(), vec![pl, v]));
        t.push(("per_layer_model_proj.weight".into(), vec![d, pl]));
        t.push(("per_layer_proj_norm.weight".into(), vec![g.per_layer_dim as u64]));
    }
    for l in 0..s.n_layers {
        let mut add = |n: &str, dims: Vec<u64>| t.push((format!("blk.{l}.{n}"), dims));
        let (hd, f) = (s.layer_head_dim(l) as u64, s.layer_ffn_dim(l) as u64);
        let (q, kv) = (s.n_heads as u64 * hd, s.n_kv_heads as u64 * hd);
        add("attn_norm.weight", vec![d]);
        // Qwen3.5 normalizes the FFN's input with post_attention_norm, not ffn_norm.
        add(if s.arch == ShapeArch::Qwen35 { "post_attention_norm.weight" } else { "ffn_norm.weight" }, vec![d]);
        add("ffn_down.weight", vec![f, d]);
        add("ffn_up.weight", if s.arch == ShapeArch::Phi3 { vec![d, 2 * f] } else { vec![d, f] }); // phi3: gate and up, fused
        if s.arch != ShapeArch::Phi3 {
            add("ffn_gate.weight", vec![d, f]);
        }
        match s.hybrid {
            Hybrid::DeltaNet(n) if !s.is_attention(l) => {
                add("attn_qkv.weight", vec![d, n.conv_channels()]);
                add("attn_gate.weight", vec![d, n.inner()]);
                add("ssm_conv1d.weight", vec![n.conv_kernel as u64, n.conv_channels()]);
                add("ssm_dt.bias", vec![n.n_v_heads as u64]);
                add("ssm_a", vec![n.n_v_heads as u64]);
                add("ssm_beta.weight", vec![d, n.n_v_heads as u64]);
                add("ssm_alpha.weight", vec![d, n.n_v_heads as u64]);
                add("ssm_norm.weight", vec![n.head_v_dim as u64]);
                add("ssm_out.weight", vec![n.inner(), d]);
                continue;
            }
            Hybrid::ShortConv { l_cache, .. } if !s.is_attention(l) => {
                add("shortconv.conv.weight", vec![l_cache as u64, d]);
                add("shortconv.in_proj.weight", vec![d, 3 * d]); // B | C | x
                add("shortconv.out_proj.weight", vec![d, d]);
                continue;
            }
            _ => {}
        }
        add("attn_output.weight", vec![q, d]);
        if s.arch == ShapeArch::Phi3 {
            add("attn_qkv.weight", vec![d, q + 2 * kv]);
            continue;
        }
        // Qwen3.5's attn_q holds each head's query then its output gate.
        add("attn_q.weight", vec![d, if s.arch == ShapeArch::Qwen35 { 2 * q } else { q }]);
        if s.has_kv(l) {
            add("attn_k.weight", vec![d, kv]);
            add("attn_v.weight", vec![d, kv]);
        }
        if s.arch == ShapeArch::Qwen2 {
            add("attn_q.bias", vec![q]);
            add("attn_k.bias", vec![kv]);
            add("attn_v.bias", vec![kv]);
        }
        if matches!(s.arch, ShapeArch::Qwen3 | ShapeArch::Gemma3 | ShapeArch::Qwen35 | ShapeArch::Lfm2 | ShapeArch::Gemma4) {
            add("attn_q_norm.weight", vec![hd]);
            if s.has_kv(l) {
                add("attn_k_norm.weight", vec![hd]);
            }
        }
        if matches!(s.arch, ShapeArch::Gemma3 | ShapeArch::Gemma4) {
            add("post_attention_norm.weight", vec![d]);
            add("post_ffw_norm.weight", vec![d]);
        }
        if let Hybrid::Gemma4(g) = s.hybrid {
            add("inp_gate.weight", vec![d, g.per_layer_dim as u64]);
            add("proj.weight", vec![g.per_layer_dim as u64, d]);
            add("post_norm.weight", vec![d]);
            add("layer_output_scale.weight", vec![1]);
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

    /// K and V cache bytes one position takes, at `elem_bytes` per element:
    /// Σ over the layers that cache their own K and V (not recurrent layers,
    /// not Gemma 4's KV-sharing ones) of 2 × kv_heads × that layer's
    /// head_dim × elem_bytes. A sliding-window layer stops growing at its window.
    pub fn kv_bytes_per_token(&self, elem_bytes: u32) -> u64 {
        self.shape.kv_elements_per_token() * elem_bytes as u64
    }

    /// Bytes of the fixed recurrent state (f32) of the recurrent layers,
    /// whatever the context ([`Shape::recurrent_state_elements`]).
    pub fn recurrent_state_bytes(&self) -> u64 {
        self.shape.recurrent_state_elements() * 4
    }

    /// The model's metadata: `general.*` and the `{arch}.*` hyper-parameters
    /// with llama.cpp's key names and value types (llama-arch.cpp
    /// `LLM_KV_NAMES`), the keys its converter writes for each architecture
    /// (`conversion/*.py`). No tokenizer: the synth writer adds one.
    pub fn metadata(&self) -> Metadata {
        let s = &self.shape;
        let a = s.arch.name();
        let mut md = Metadata::default();
        let mut put = |k: &str, v: Value| md.insert(k.to_string(), v);
        let key = |k: &str| format!("{a}.{k}");
        let i32s = |v: Vec<u32>| Value::Array(ValueType::I32, v.into_iter().map(|x| Value::I32(x as i32)).collect());
        let bools = |v: Vec<bool>| Value::Array(ValueType::Bool, v.into_iter().map(Value::Bool).collect());
        put("general.architecture", Value::String(a.into()));
        put("general.type", Value::String("model".into()));
        put("general.name", Value::String(format!("synthetic {} {}", s.name, self.mix.name())));
        put(&key("block_count"), Value::U32(s.n_layers));
        put(&key("context_length"), Value::U32(s.context));
        put(&key("embedding_length"), Value::U32(s.dim));
        let ffn: Vec<u32> = (0..s.n_layers).map(|l| s.layer_ffn_dim(l)).collect();
        put(&key("feed_forward_length"), if ffn.iter().any(|&f| f != s.ffn_dim) { i32s(ffn) } else { Value::U32(s.ffn_dim) });
        put(&key("attention.head_count"), Value::U32(s.n_heads));
        // LFM2: one KV head count per layer, 0 on a short-conv layer.
        let kv_heads = if s.arch == ShapeArch::Lfm2 { i32s((0..s.n_layers).map(|l| if s.is_attention(l) { s.n_kv_heads } else { 0 }).collect()) } else { Value::U32(s.n_kv_heads) };
        put(&key("attention.head_count_kv"), kv_heads);
        put(&key("rope.freq_base"), Value::F32(s.rope_theta));
        put(&key("attention.layer_norm_rms_epsilon"), Value::F32(s.rms_eps));
        if s.head_dim != s.dim / s.n_heads || matches!(s.arch, ShapeArch::Qwen35 | ShapeArch::Gemma4) {
            put(&key("attention.key_length"), Value::U32(s.head_dim));
            put(&key("attention.value_length"), Value::U32(s.head_dim));
        }
        if s.arch != ShapeArch::Lfm2 {
            put(&key("rope.dimension_count"), Value::U32(s.n_rot));
        }
        if matches!(s.arch, ShapeArch::Lfm2 | ShapeArch::SmolLM3) {
            put(&key("vocab_size"), Value::U32(s.vocab));
        }
        if s.sliding_window > 0 || s.arch == ShapeArch::Phi3 {
            put(&key("attention.sliding_window"), Value::U32(s.sliding_window));
        }
        if let RopeScaling::Linear(f) = s.rope_scaling {
            put(&key("rope.scaling.type"), Value::String("linear".into()));
            put(&key("rope.scaling.factor"), Value::F32(f));
        }
        if s.rope_original_context > 0 {
            // conversion/phi.py: LongRoPE's attention factor from the context scale.
            let orig = s.rope_original_context as f64;
            let scale = s.context as f64 / orig;
            let attn_factor = if scale > 1.0 { (1.0 + scale.ln() / orig.ln()).sqrt() } else { 1.0 };
            put(&key("rope.scaling.original_context_length"), Value::U32(s.rope_original_context));
            put(&key("rope.scaling.attn_factor"), Value::F32(attn_factor as f32));
        }
        match s.hybrid {
            Hybrid::None => {}
            Hybrid::DeltaNet(n) => {
                put(&key("rope.dimension_sections"), Value::Array(ValueType::I32, n.mrope_sections.iter().map(|&x| Value::I32(x)).collect()));
                put(&key("ssm.conv_kernel"), Value::U32(n.conv_kernel));
                put(&key("ssm.state_size"), Value::U32(n.head_k_dim));
                put(&key("ssm.group_count"), Value::U32(n.n_k_heads));
                put(&key("ssm.time_step_rank"), Value::U32(n.n_v_heads));
                put(&key("ssm.inner_size"), Value::U32(n.inner() as u32));
                put(&key("attention.recurrent_layers"), bools((0..s.n_layers).map(|l| !s.is_attention(l)).collect()));
                put(&key("full_attention_interval"), Value::U32(n.full_attention_interval));
            }
            Hybrid::ShortConv { l_cache, .. } => {
                put(&key("shortconv.l_cache"), Value::U32(l_cache));
            }
            Hybrid::Gemma4(g) => {
                put(&key("rope.freq_base_swa"), Value::F32(g.rope_base_swa));
                put(&key("final_logit_softcapping"), Value::F32(g.final_logit_softcap));
                put(&key("attention.shared_kv_layers"), Value::U32(g.shared_kv_layers));
                put(&key("embedding_length_per_layer_input"), Value::U32(g.per_layer_dim));
                put(&key("attention.sliding_window_pattern"), bools((0..s.n_layers).map(|l| s.is_sliding(l)).collect()));
                put(&key("attention.key_length_swa"), Value::U32(g.head_dim_swa));
                put(&key("attention.value_length_swa"), Value::U32(g.head_dim_swa));
                put(&key("rope.dimension_count_swa"), Value::U32(g.head_dim_swa));
            }
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
