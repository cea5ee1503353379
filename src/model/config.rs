//! Architecture hyper-parameters read from GGUF metadata, and the tensors
//! each architecture needs, checked at header time (before any weight bytes).

use super::ModelError;
use crate::gguf::Header;
use crate::kernels::{self, RopeLayout};
use crate::quant::GgmlType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `llama`: Llama 2/3, Mistral, SmolLM2 and other Llama-shaped models.
    Llama,
}

impl Arch {
    pub fn from_name(name: &str) -> Result<Self, ModelError> {
        match name {
            "llama" => Ok(Arch::Llama),
            other => Err(ModelError::UnsupportedArchitecture(other.to_string())),
        }
    }
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
    /// Context length the model was trained with.
    pub ctx_train: u32,
    pub rms_eps: f32,
    pub rope_base: f32,
    pub rope_scale: f32,
    pub n_rot: u32,
    pub rope_layout: RopeLayout,
    /// No `output.weight`: the embedding matrix is reused for the logits.
    pub tied_output: bool,
}

impl ModelConfig {
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
        let (embd_idx, embd) = h.tensor("token_embd.weight").ok_or_else(|| ModelError::MissingTensor("token_embd.weight".into()))?;
        let _ = embd_idx;
        let vocab = *embd.dims.get(1).unwrap_or(&0) as u32;
        let scale_type = md.get_str(&key("rope.scaling.type"))?.unwrap_or("none");
        let rope_scale = match scale_type {
            "linear" => 1.0 / md.get_f32(&key("rope.scaling.factor"))?.unwrap_or(1.0),
            _ => 1.0,
        };
        let cfg = ModelConfig {
            arch,
            n_layers: req("block_count")?,
            dim,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim: req("feed_forward_length")?,
            vocab,
            ctx_train: md.get_u32(&key("context_length"))?.unwrap_or(2048),
            rms_eps: md.get_f32(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5),
            rope_base: md.get_f32(&key("rope.freq_base"))?.unwrap_or(10000.0),
            rope_scale,
            n_rot: md.get_u32(&key("rope.dimension_count"))?.unwrap_or(head_dim),
            rope_layout: RopeLayout::Normal,
            tied_output: h.tensor("output.weight").is_none(),
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
        if self.vocab == 0 || self.n_layers > 1024 {
            return bad(format!("vocabulary {} / {} layers", self.vocab, self.n_layers));
        }
        Ok(())
    }

    /// Every tensor the forward pass reads: (name, expected ggml dims, is a matrix).
    pub fn tensor_plan(&self) -> Vec<(String, Vec<u64>, bool)> {
        let (d, q, kv, f) = (
            self.dim as u64,
            (self.n_heads * self.head_dim) as u64,
            (self.n_kv_heads * self.head_dim) as u64,
            self.ffn_dim as u64,
        );
        let mut v = vec![
            ("token_embd.weight".to_string(), vec![d, self.vocab as u64], true),
            ("output_norm.weight".to_string(), vec![d], false),
        ];
        if !self.tied_output {
            v.push(("output.weight".to_string(), vec![d, self.vocab as u64], true));
        }
        for l in 0..self.n_layers {
            let b = |n: &str| format!("blk.{l}.{n}.weight");
            v.push((b("attn_norm"), vec![d], false));
            v.push((b("attn_q"), vec![d, q], true));
            v.push((b("attn_k"), vec![d, kv], true));
            v.push((b("attn_v"), vec![d, kv], true));
            v.push((b("attn_output"), vec![q, d], true));
            v.push((b("ffn_norm"), vec![d], false));
            v.push((b("ffn_gate"), vec![d, f], true));
            v.push((b("ffn_up"), vec![d, f], true));
            v.push((b("ffn_down"), vec![f, d], true));
        }
        v
    }

    /// Presence, shape and type of every tensor, before any weight is read.
    fn check_tensors(&self, h: &Header) -> Result<(), ModelError> {
        for (name, dims, matrix) in self.tensor_plan() {
            let (_, t) = h.tensor(&name).ok_or_else(|| ModelError::MissingTensor(name.clone()))?;
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

    pub fn q_dim(&self) -> u32 {
        self.n_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> u32 {
        self.n_kv_heads * self.head_dim
    }
}
