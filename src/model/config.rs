//! Architecture hyper-parameters read from GGUF metadata, and the tensors
//! each architecture needs, checked at header time (before any weight bytes).

use super::ModelError;
use crate::gguf::Header;
use crate::kernels::{self, GateActivation, RopeLayout};
use crate::quant::GgmlType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `llama`: Llama 2/3, Mistral, SmolLM2 and other Llama-shaped models.
    Llama,
    /// `qwen2`: Llama shape with biases on the q/k/v projections, NeoX RoPE.
    Qwen2,
    /// `qwen3`: Llama shape with a per-head RMSNorm on q and k before RoPE, NeoX RoPE.
    Qwen3,
    /// `gemma3`: scaled embeddings, QK norm, norms after attention and FFN as
    /// well as before, GELU gate, sliding-window layers with a global one every 6th.
    Gemma3,
}

impl Arch {
    /// Every architecture tabllm runs, by its GGUF `general.architecture` name
    /// (keep `ModelError::UnsupportedArchitecture`'s message in step).
    pub const ALL: [Arch; 4] = [Arch::Llama, Arch::Qwen2, Arch::Qwen3, Arch::Gemma3];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, ModelError> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| ModelError::UnsupportedArchitecture(name.to_string()))
    }
}

/// Gemma 3 interleaves sliding-window and global layers: layer l is global when
/// l % 6 == 5 (llama.cpp `set_swa_pattern(6)`; the file does not say).
const GEMMA3_SWA_PERIOD: u32 = 6;
/// Gemma 3's sliding-window layers use this RoPE base whatever `rope.freq_base` says.
const GEMMA3_ROPE_BASE_LOCAL: f32 = 10000.0;

/// Per-layer attention settings that differ between local and global layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerAttention {
    /// 0: full causal attention; else attend to the last `window` positions.
    pub window: u32,
    pub rope_base: f32,
    pub rope_scale: f32,
}

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub arch: Arch,
    pub n_layers: u32,
    pub dim: u32,
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    pub ffn_dim: u32,
    pub vocab: u32,
    /// Context length the model was trained with (`{arch}.context_length`;
    /// None when the file does not say).
    pub ctx_train: Option<u32>,
    pub rms_eps: f32,
    pub rope_base: f32,
    pub rope_scale: f32,
    pub n_rot: u32,
    pub rope_layout: RopeLayout,
    /// No `output.weight`: the embedding matrix is reused for the logits.
    pub tied_output: bool,
    /// `rope_freqs.weight` (n_rot / 2 divisors of the RoPE angles, Llama 3.1+).
    pub rope_freqs: bool,
    /// `blk.N.attn_{q,k,v}.bias` are added after the projections (Qwen2).
    pub qkv_bias: bool,
    /// `blk.N.attn_{q,k}_norm.weight`: RMSNorm over each head of q and k before RoPE.
    pub qk_norm: bool,
    /// `blk.N.post_attention_norm` / `post_ffw_norm`: RMSNorm on each block's
    /// output before it joins the residual stream (Gemma 3).
    pub post_norms: bool,
    pub activation: GateActivation,
    /// Embeddings are multiplied by this (sqrt(dim) for Gemma).
    pub embed_scale: f32,
    /// Queries are multiplied by this before q·k.
    pub attn_scale: f32,
    /// Sliding-window length of local layers (0: every layer is global).
    pub sliding_window: u32,
    /// Layer l is local when l % swa_period != swa_period - 1 (0: none is).
    pub swa_period: u32,
    /// RoPE base of local layers.
    pub rope_base_local: f32,
    /// logits = cap * tanh(logits / cap) when > 0.
    pub final_logit_softcap: f32,
}

impl ModelConfig {
    /// A warning when `n_ctx` is beyond the context the model was trained
    /// with (`{arch}.context_length`): positions past it were never seen in
    /// training, so text there may degrade. llama.cpp warns the same
    /// ("n_ctx_per_seq > n_ctx_train"); nothing is refused.
    pub fn context_warning(&self, n_ctx: u32) -> Option<String> {
        let trained = self.ctx_train?;
        (n_ctx > trained).then(|| format!("context {n_ctx} is beyond the {trained} positions this model was trained on; text past position {trained} may degrade"))
    }

    /// The context a load allocates when none is asked for: the training
    /// context (2048 when the file does not say), at most 4096.
    pub fn default_n_ctx(&self) -> u32 {
        self.ctx_train.unwrap_or(2048).min(4096)
    }

    pub fn from_header(h: &Header) -> Result<Self, ModelError> {
        let md = &h.metadata;
        let arch_name = h.architecture()?;
        let arch = Arch::from_name(arch_name)?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let req = |k: &str| -> Result<u32, ModelError> {
            let v = md.require_u32(&key(k))?;
            if v == 0 {
                return Err(ModelError::Config(format!("{} is 0", key(k))));
            }
            Ok(v)
        };
        let dim = req("embedding_length")?;
        let n_heads = req("attention.head_count")?;
        let n_kv_heads = md.get_u32(&key("attention.head_count_kv"))?.unwrap_or(n_heads);
        let head_dim = md.get_u32(&key("attention.key_length"))?.unwrap_or(dim / n_heads);
        if let Some(v) = md.get_u32(&key("attention.value_length"))? {
            if v != head_dim {
                return Err(ModelError::Config(format!("value length {v} differs from key length {head_dim}")));
            }
        }
        let n_layers = req("block_count")?;
        let (_, embd) = h.tensor("token_embd.weight").ok_or_else(|| ModelError::MissingTensor("token_embd.weight".into()))?;
        if embd.n_elements == 0 {
            return Err(ModelError::EmptyTensor { tensor: embd.name.clone(), dims: embd.dims.clone() });
        }
        let vocab = *embd.dims.get(1).unwrap_or(&0) as u32;
        let scale_type = md.get_str(&key("rope.scaling.type"))?.unwrap_or("none");
        // Llama 3.1+ ("llama3") carries its scaling in the rope_freqs.weight factors.
        let rope_freqs = h.tensor("rope_freqs.weight").is_some();
        let rope_scale = match scale_type {
            "linear" => 1.0 / md.get_f32(&key("rope.scaling.factor"))?.unwrap_or(1.0),
            "none" => 1.0,
            "llama3" if rope_freqs => 1.0,
            other => return Err(ModelError::Config(format!("RoPE scaling `{other}` is not supported yet"))),
        };
        let rope_layout = match arch {
            Arch::Llama => RopeLayout::Normal,
            Arch::Qwen2 | Arch::Qwen3 | Arch::Gemma3 => RopeLayout::Neox,
        };
        let gemma = arch == Arch::Gemma3;
        let sliding_window = if gemma { md.get_u32(&key("attention.sliding_window"))?.unwrap_or(0) } else { 0 };
        // Gemma 3 27B (62 layers) scales by dim / n_heads rather than the head
        // size (query_pre_attn_scalar; llama.cpp does the same).
        let attn_scale = if gemma && n_layers == 62 {
            1.0 / ((dim / n_heads) as f32).sqrt()
        } else {
            1.0 / (head_dim as f32).sqrt()
        };
        let cfg = ModelConfig {
            arch,
            n_layers,
            dim,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim: req("feed_forward_length")?,
            vocab,
            ctx_train: md.get_u32(&key("context_length"))?,
            rms_eps: md.get_f32(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5),
            rope_base: md.get_f32(&key("rope.freq_base"))?.unwrap_or(10000.0),
            rope_scale,
            n_rot: md.get_u32(&key("rope.dimension_count"))?.unwrap_or(head_dim),
            rope_layout,
            tied_output: h.tensor("output.weight").is_none(),
            rope_freqs,
            qkv_bias: arch == Arch::Qwen2,
            qk_norm: matches!(arch, Arch::Qwen3 | Arch::Gemma3),
            post_norms: gemma,
            activation: if gemma { GateActivation::Gelu } else { GateActivation::SiLU },
            embed_scale: if gemma { (dim as f32).sqrt() } else { 1.0 },
            attn_scale,
            sliding_window,
            swa_period: if gemma && sliding_window > 0 { GEMMA3_SWA_PERIOD } else { 0 },
            rope_base_local: GEMMA3_ROPE_BASE_LOCAL,
            final_logit_softcap: md.get_f32(&key("final_logit_softcapping"))?.unwrap_or(0.0),
        };
        cfg.check_dims()?;
        cfg.check_tensors(h)?;
        Ok(cfg)
    }

    fn check_dims(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.n_kv_heads == 0 || self.n_heads % self.n_kv_heads != 0 {
            return bad(format!("{} heads cannot share {} KV heads", self.n_heads, self.n_kv_heads));
        }
        if self.head_dim == 0 || self.head_dim > kernels::attention_max_head_dim() || self.head_dim % 2 != 0 {
            return bad(format!("head dimension {} is not supported", self.head_dim));
        }
        if self.n_rot > self.head_dim || self.n_rot % 2 != 0 {
            return bad(format!("rope dimension {} does not fit head dimension {}", self.n_rot, self.head_dim));
        }
        if self.dim % 32 != 0 || self.ffn_dim % 32 != 0 || (self.n_heads * self.head_dim) % 32 != 0 {
            return bad("model widths must be multiples of 32".into());
        }
        if !(self.final_logit_softcap.is_finite() && self.final_logit_softcap >= 0.0) {
            return bad(format!("final logit soft-cap {}", self.final_logit_softcap));
        }
        if self.vocab == 0 || self.n_layers > 1024 {
            return bad(format!("vocabulary {} / {} layers", self.vocab, self.n_layers));
        }
        Ok(())
    }

    /// Every tensor the forward pass reads: (name, expected ggml dims, is a matrix).
    pub fn tensor_plan(&self) -> Vec<(String, Vec<u64>, bool)> {
        use super::weights::{LayerTensor::*, OUTPUT, OUTPUT_NORM, ROPE_FREQS, TOKEN_EMBD};
        let (d, q, kv, f, hd) = (
            self.dim as u64,
            (self.n_heads * self.head_dim) as u64,
            (self.n_kv_heads * self.head_dim) as u64,
            self.ffn_dim as u64,
            self.head_dim as u64,
        );
        let mut v = vec![(TOKEN_EMBD.to_string(), vec![d, self.vocab as u64], true), (OUTPUT_NORM.to_string(), vec![d], false)];
        if !self.tied_output {
            v.push((OUTPUT.to_string(), vec![d, self.vocab as u64], true));
        }
        if self.rope_freqs {
            v.push((ROPE_FREQS.to_string(), vec![self.n_rot as u64 / 2], false));
        }
        let mut layer = vec![
            (AttnNorm, vec![d], false),
            (AttnQ, vec![d, q], true),
            (AttnK, vec![d, kv], true),
            (AttnV, vec![d, kv], true),
            (AttnOutput, vec![q, d], true),
            (FfnNorm, vec![d], false),
            (FfnGate, vec![d, f], true),
            (FfnUp, vec![d, f], true),
            (FfnDown, vec![f, d], true),
        ];
        if self.qkv_bias {
            layer.extend([(AttnQBias, vec![q], false), (AttnKBias, vec![kv], false), (AttnVBias, vec![kv], false)]);
        }
        if self.qk_norm {
            layer.extend([(AttnQNorm, vec![hd], false), (AttnKNorm, vec![hd], false)]);
        }
        if self.post_norms {
            layer.extend([(PostAttentionNorm, vec![d], false), (PostFfwNorm, vec![d], false)]);
        }
        for l in 0..self.n_layers {
            v.extend(layer.iter().map(|(t, dims, m)| (t.gguf_name(l), dims.clone(), *m)));
        }
        v
    }

    /// Presence, shape and type of every tensor, before any weight is read;
    /// a needed tensor with no elements is refused by name.
    fn check_tensors(&self, h: &Header) -> Result<(), ModelError> {
        for (name, dims, matrix) in self.tensor_plan() {
            let (_, t) = h.tensor(&name).ok_or_else(|| ModelError::MissingTensor(name.clone()))?;
            if t.n_elements == 0 {
                return Err(ModelError::EmptyTensor { tensor: name, dims: t.dims.clone() });
            }
            let mut got = t.dims.clone();
            while got.len() > dims.len() && got.last() == Some(&1) {
                got.pop();
            }
            if got != dims {
                return Err(ModelError::TensorShape { tensor: name, expected: dims, got: t.dims.clone() });
            }
            let ok = if matrix { kernels::gpu_supports(t.ggml_type) } else { t.ggml_type == GgmlType::F32 };
            if !ok {
                return Err(ModelError::UnsupportedTensorType { tensor: name, ty: t.ggml_type });
            }
        }
        Ok(())
    }

    /// Window and RoPE frequencies of layer `l`: local (sliding-window) layers
    /// use `rope_base_local` and no scaling; global ones the file's RoPE.
    pub fn layer_attention(&self, l: u32) -> LayerAttention {
        let local = self.swa_period > 0 && l % self.swa_period != self.swa_period - 1;
        if local {
            LayerAttention { window: self.sliding_window, rope_base: self.rope_base_local, rope_scale: 1.0 }
        } else {
            LayerAttention { window: 0, rope_base: self.rope_base, rope_scale: self.rope_scale }
        }
    }

    pub fn q_dim(&self) -> u32 {
        self.n_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> u32 {
        self.n_kv_heads * self.head_dim
    }
}
