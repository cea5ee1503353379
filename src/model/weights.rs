//! The weights as the forward pass reads them: one typed set per layer (as
//! candle's `LayerWeights`), built from the streamed tensors by GGUF name.
//! [`LayerTensor`] is the one place a layer tensor's name is spelled; the
//! load plan (`ModelConfig::tensor_plan`) and the recorder both go through it.
//!
//! With fusion on, each layer's q|k|v (or a Gated DeltaNet's four input
//! projections) and gate|up are packed into one buffer each (streamed there by the loader, see [`fused_groups`] and
//! `gpu::PackedTensors`) for the fused kernels;
//! a group that cannot be packed on this device (a tensor split across
//! bindings, or the group over the binding limit) stays separate and runs
//! the unfused ops.

use std::collections::HashMap;

use super::{Mixer, ModelConfig, ModelError, NormPlacement};
use crate::gpu::{GpuContext, GpuTensor, PackedTensors, PackedVectors};

/// A tensor of every layer, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerTensor {
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    AttnQBias,
    AttnKBias,
    AttnVBias,
    AttnQNorm,
    AttnKNorm,
    AttnOutput,
    PostAttentionNorm,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
    PostFfwNorm,
    /// LFM2 short convolution: (dim, l_cache) f32 taps, in_proj (dim → 3·dim: b | c | x), out_proj.
    ShortConv,
    ShortConvInProj,
    ShortConvOutProj,
    /// Qwen3.5 Gated DeltaNet: attn_qkv (dim → conv channels q | k | v, the
    /// conv's input), attn_gate (z), the conv taps, ssm_dt.bias, ssm_a,
    /// ssm_beta, ssm_alpha, the gated norm's weight, ssm_out.
    DeltaQkv,
    DeltaGate,
    DeltaConv,
    DeltaDtBias,
    DeltaA,
    DeltaBeta,
    DeltaAlpha,
    DeltaNorm,
    DeltaOut,
    /// Gemma 4's per-layer input block: inp_gate (dim → per-layer width),
    /// proj (back to dim), post_norm; and the layer's output scale (one f32).
    PerLayerInpGate,
    PerLayerProj,
    PerLayerPostNorm,
    LayerOutputScale,
    /// BERT's post-norm layer: the attention output's bias, the LayerNorm
    /// after attention (weight, bias), the FFN's biases, and the LayerNorm
    /// after the FFN (weight, bias).
    AttnOutputBias,
    AttnOutputNorm,
    AttnOutputNormBias,
    FfnUpBias,
    FfnDownBias,
    LayerOutputNorm,
    LayerOutputNormBias,
}

impl LayerTensor {
    /// The GGUF tensor name in layer `l` (llama.cpp's `LLM_TENSOR_*` names).
    pub fn gguf_name(self, l: u32) -> String {
        use LayerTensor::*;
        let suffix = match self {
            AttnNorm => "attn_norm.weight",
            AttnQ => "attn_q.weight",
            AttnK => "attn_k.weight",
            AttnV => "attn_v.weight",
            AttnQBias => "attn_q.bias",
            AttnKBias => "attn_k.bias",
            AttnVBias => "attn_v.bias",
            AttnQNorm => "attn_q_norm.weight",
            AttnKNorm => "attn_k_norm.weight",
            AttnOutput => "attn_output.weight",
            PostAttentionNorm => "post_attention_norm.weight",
            FfnNorm => "ffn_norm.weight",
            FfnGate => "ffn_gate.weight",
            FfnUp => "ffn_up.weight",
            FfnDown => "ffn_down.weight",
            PostFfwNorm => "post_ffw_norm.weight",
            ShortConv => "shortconv.conv.weight",
            ShortConvInProj => "shortconv.in_proj.weight",
            ShortConvOutProj => "shortconv.out_proj.weight",
            DeltaQkv => "attn_qkv.weight",
            DeltaGate => "attn_gate.weight",
            DeltaConv => "ssm_conv1d.weight",
            DeltaDtBias => "ssm_dt.bias",
            DeltaA => "ssm_a",
            DeltaBeta => "ssm_beta.weight",
            DeltaAlpha => "ssm_alpha.weight",
            DeltaNorm => "ssm_norm.weight",
            DeltaOut => "ssm_out.weight",
            PerLayerInpGate => "inp_gate.weight",
            PerLayerProj => "proj.weight",
            PerLayerPostNorm => "post_norm.weight",
            LayerOutputScale => "layer_output_scale.weight",
            AttnOutputBias => "attn_output.bias",
            AttnOutputNorm => "attn_output_norm.weight",
            AttnOutputNormBias => "attn_output_norm.bias",
            FfnUpBias => "ffn_up.bias",
            FfnDownBias => "ffn_down.bias",
            LayerOutputNorm => "layer_output_norm.weight",
            LayerOutputNormBias => "layer_output_norm.bias",
        };
        format!("blk.{l}.{suffix}")
    }
}

/// The fused groups of layer `l`, each as (buffer label, GGUF names in
/// packing order): q|k|v for `attn_qkv` (q alone on a layer that reads an
/// earlier layer's KV cache), gate|up for `ffn_gate_up`, a Gated DeltaNet's
/// attn_qkv|attn_gate|ssm_alpha|ssm_beta for `norm_projections` (a layer
/// holds one of the mixing groups). The loader allocates a group's buffer
/// from this and streams the tensors into it; [`Weights::assemble`] finds
/// them there.
pub fn fused_groups(c: &ModelConfig, l: u32) -> [(String, Vec<String>); 3] {
    use LayerTensor::*;
    let qkv: &[LayerTensor] = match c.layer_attention(l) {
        Some(a) if !a.owns_kv(l as usize) => &[AttnQ],
        _ => &[AttnQ, AttnK, AttnV],
    };
    [
        (format!("blk.{l}.attn_qkv"), qkv.iter().map(|t| t.gguf_name(l)).collect()),
        (format!("blk.{l}.ffn_gate_up"), [FfnGate, FfnUp].map(|t| t.gguf_name(l)).to_vec()),
        (format!("blk.{l}.ssm_in"), [DeltaQkv, DeltaGate, DeltaAlpha, DeltaBeta].map(|t| t.gguf_name(l)).to_vec()),
    ]
}

/// Model-level tensor names.
pub const TOKEN_EMBD: &str = "token_embd.weight";
pub const OUTPUT_NORM: &str = "output_norm.weight";
pub const OUTPUT: &str = "output.weight";
pub const ROPE_FREQS: &str = "rope_freqs.weight";
/// LongRoPE's factors (Phi-3.5 / Phi-4-mini): one of the two applies, by context.
pub const ROPE_FACTORS_LONG: &str = "rope_factors_long.weight";
pub const ROPE_FACTORS_SHORT: &str = "rope_factors_short.weight";
/// Gemma 4's per-layer embeddings: a second token table of every layer's
/// inputs, the projection of the scaled embedding into them, and its norm.
pub const PER_LAYER_TOKEN_EMBD: &str = "per_layer_token_embd.weight";
pub const PER_LAYER_MODEL_PROJ: &str = "per_layer_model_proj.weight";
pub const PER_LAYER_PROJ_NORM: &str = "per_layer_proj_norm.weight";
/// BERT's input rows and their norm (`ModelConfig::encoder_input`).
pub const POSITION_EMBD: &str = "position_embd.weight";
pub const TOKEN_TYPES: &str = "token_types.weight";
pub const TOKEN_EMBD_NORM: &str = "token_embd_norm.weight";
pub const TOKEN_EMBD_NORM_BIAS: &str = "token_embd_norm.bias";

/// Projections one fused kernel reads (q, k, v or gate, up). `T` is the
/// backend's weight tensor ([`GpuTensor`], or `cpu::CpuTensor`, which is
/// never packed).
pub enum Projections<T = GpuTensor> {
    Packed(PackedTensors),
    /// In order, as separate tensors (the unfused ops).
    Separate(Vec<T>),
}

/// One layer: the norm and weights of its mixing block, then its FFN.
/// The norms are before their blocks, or after their residual adds in a
/// post-norm layer (`config::NormPlacement`; BERT's `attn_output_norm`
/// and `layer_output_norm`).
pub struct LayerWeights<T = GpuTensor> {
    pub attn_norm: T,              // (dim) f32: the mixing block's norm
    pub mixer: MixerWeights<T>,
    pub ffn_norm: T,               // (dim) f32
    pub gate_up: Projections<T>,   // gate, up (dim -> ffn_dim); up alone in an ungated FFN (BERT)
    pub ffn_down: T,               // ffn_dim -> dim
    pub post_ffw_norm: Option<T>,
    /// Gemma 4's per-layer input block (with `Weights::per_layer_inputs`).
    pub per_layer: Option<PerLayerWeights<T>>,
    /// Gemma 4: (1) f32, the residual stream's scale at the layer's end.
    pub output_scale: Option<T>,
    /// A post-norm layer's biases (BERT; None in a pre-norm layer).
    pub encoder: Option<EncoderBiases<T>>,
}

/// The biases of a BERT layer besides q, k, v's (`AttentionWeights::qkv_bias`):
/// its norms' always, its projections' with `ModelConfig::encoder_biases`.
pub struct EncoderBiases<T = GpuTensor> {
    pub attn_norm: T,              // (dim) f32: attn_output_norm's bias
    pub ffn_norm: T,               // (dim) f32: layer_output_norm's bias
    pub projections: Option<ProjectionBiases<T>>,
}

/// BERT's attn_output, ffn_up and ffn_down biases (none in nomic-bert).
pub struct ProjectionBiases<T = GpuTensor> {
    pub attn_output: T,            // (dim) f32
    pub ffn_up: T,                 // (ffn_dim) f32
    pub ffn_down: T,               // (dim) f32
}

/// BERT's input rows (`config::EncoderInput`).
pub struct EncoderInputWeights<T = GpuTensor> {
    pub position: Option<T>,       // (n_positions, dim); None with RoPE (nomic-bert)
    pub token_type: Option<T>,     // (token types, dim): row 0 is added
    pub norm: T,                   // (dim) f32
    pub norm_bias: T,              // (dim) f32
}

/// Gemma 4's per-layer input block of one layer; P = the per-layer width.
pub struct PerLayerWeights<T = GpuTensor> {
    pub inp_gate: T,               // dim -> P
    pub proj: T,                   // P -> dim
    pub post_norm: T,              // (dim) f32
}

/// Gemma 4's per-layer inputs of every layer (L layers of P each).
pub struct PerLayerInputWeights<T = GpuTensor> {
    pub token_embd: T,             // (vocab, L · P)
    pub model_proj: T,             // dim -> L · P
    pub proj_norm: T,              // (P) f32
}

/// The weights of a layer's mixing block, by kind (`config::Mixer`).
pub enum MixerWeights<T = GpuTensor> {
    Attention(AttentionWeights<T>),
    ShortConv(ShortConvWeights<T>),
    GatedDeltaNet(DeltaNetWeights<T>),
}

/// Qwen3.5's Gated DeltaNet (`config::Mixer::GatedDeltaNet`); C = conv
/// channels, I = inner size (n_v_heads · head_v_dim).
pub struct DeltaNetWeights<T = GpuTensor> {
    /// In order: attn_qkv (dim -> C: q | k | v, the conv's input),
    /// attn_gate (dim -> I: z of the gated norm), ssm_alpha and ssm_beta
    /// (dim -> n_v_heads each).
    pub input: Projections<T>,
    pub conv: T,                   // (C, taps) f32
    pub dt_bias: T,                // (n_v_heads) f32
    pub a: T,                      // (n_v_heads) f32: −exp(A_log)
    pub norm: T,                   // (head_v_dim) f32
    pub out: T,                    // I -> dim
}

/// LFM2's gated short convolution (`config::Mixer::ShortConv`).
pub struct ShortConvWeights<T = GpuTensor> {
    pub conv: T,                   // (dim, l_cache) f32: l_cache taps per channel, oldest first
    pub in_proj: T,                // dim -> 3·dim: b | c | x
    pub out_proj: T,               // dim -> dim
}

pub struct AttentionWeights<T = GpuTensor> {
    /// q (dim -> q_dim), k, v (dim -> kv_dim); q alone on a layer that
    /// reads an earlier layer's KV cache.
    pub qkv: Projections<T>,
    pub qkv_bias: Option<[T; 3]>,
    pub q_norm: Option<T>,         // (head_dim) f32
    pub k_norm: Option<T>,         // (head_dim) f32; None without k
    /// attn_norm, biases, QK norms and rope_freqs packed for `attn_qkv`
    /// (only when `qkv` is packed).
    pub attn_vectors: Option<PackedVectors>,
    pub attn_output: T,            // q_dim -> dim
    pub post_attention_norm: Option<T>,
}

impl<T> LayerWeights<T> {
    /// The attention weights, when the layer's mixing block is attention.
    pub fn attention(&self) -> Option<&AttentionWeights<T>> {
        match &self.mixer {
            MixerWeights::Attention(a) => Some(a),
            MixerWeights::ShortConv(_) | MixerWeights::GatedDeltaNet(_) => None,
        }
    }

    /// Every projection group of the layer (q|k|v or a Gated DeltaNet's
    /// input, gate|up), for packing reports.
    pub fn groups(&self) -> Vec<&Projections<T>> {
        let mut g: Vec<&Projections<T>> = match &self.mixer {
            MixerWeights::Attention(a) => vec![&a.qkv],
            MixerWeights::GatedDeltaNet(d) => vec![&d.input],
            MixerWeights::ShortConv(_) => vec![],
        };
        g.push(&self.gate_up);
        g
    }

    /// Every tensor of the layer not packed into a group, and every matrix (for sizes).
    fn loose_tensors(&self) -> Vec<&T> {
        let mut v = vec![&self.attn_norm, &self.ffn_norm, &self.ffn_down];
        v.extend(&self.post_ffw_norm);
        v.extend(self.per_layer.iter().flat_map(|p| [&p.inp_gate, &p.proj, &p.post_norm]));
        v.extend(&self.output_scale);
        v.extend(self.encoder.iter().flat_map(|e| [&e.attn_norm, &e.ffn_norm]));
        v.extend(self.encoder.iter().flat_map(|e| &e.projections).flat_map(|p| [&p.attn_output, &p.ffn_up, &p.ffn_down]));
        match &self.mixer {
            MixerWeights::Attention(a) => {
                v.push(&a.attn_output);
                v.extend(a.qkv_bias.iter().flatten().chain(&a.q_norm).chain(&a.k_norm).chain(&a.post_attention_norm));
            }
            MixerWeights::ShortConv(s) => v.extend([&s.conv, &s.in_proj, &s.out_proj]),
            MixerWeights::GatedDeltaNet(d) => v.extend([&d.conv, &d.dt_bias, &d.a, &d.norm, &d.out]),
        }
        v
    }
}

pub struct Weights<T = GpuTensor> {
    pub token_embd: T,             // (vocab, dim)
    /// BERT's input rows (None without).
    pub encoder_input: Option<EncoderInputWeights<T>>,
    /// None without a head (BERT).
    pub output_norm: Option<T>,    // (dim) f32
    /// None when tied to token_embd.
    pub output: Option<T>,         // (vocab, dim)
    pub rope_freqs: Option<T>,     // (n_rot / 2) f32
    /// Gemma 4's per-layer inputs (None without).
    pub per_layer_inputs: Option<PerLayerInputWeights<T>>,
    pub layers: Vec<LayerWeights<T>>,
    /// (GGUF name, bytes) of every tensor, as loaded (before packing).
    pub sizes: Vec<(String, u64)>,
}

/// What the weight assembly needs of a backend's tensor.
pub trait WeightTensor {
    fn byte_len(&self) -> u64;
}

impl WeightTensor for GpuTensor {
    fn byte_len(&self) -> u64 {
        self.n_bytes
    }
}

impl<T: WeightTensor> Weights<T> {
    /// Takes the tensors out of `by_name` into their places. `group` makes
    /// a layer's q|k|v or gate|up projections (packing them, or not) and
    /// `vectors` packs a packed q|k|v group's norm, bias and RoPE vectors.
    pub fn assemble_with(
        c: &ModelConfig,
        mut by_name: HashMap<String, T>,
        mut group: impl FnMut(&str, Vec<T>) -> Result<Projections<T>, ModelError>,
        mut vectors: impl FnMut(&str, &[&T]) -> Result<PackedVectors, ModelError>,
    ) -> Result<Self, ModelError> {
        let mut sizes: Vec<(String, u64)> = by_name.iter().map(|(n, t)| (n.clone(), t.byte_len())).collect();
        sizes.sort();
        let mut take = |name: String| by_name.remove(&name).ok_or(ModelError::MissingTensor(name));
        let token_embd = take(TOKEN_EMBD.into())?;
        let output_norm = c.output_norm.map(|n| take(n.into())).transpose()?;
        let encoder_input = match c.encoder_input {
            Some(e) => {
                use super::weights::{POSITION_EMBD, TOKEN_EMBD_NORM, TOKEN_EMBD_NORM_BIAS, TOKEN_TYPES};
                let token_type = if e.token_types > 0 { Some(take(TOKEN_TYPES.into())?) } else { None };
                let position = e.n_positions.map(|_| take(POSITION_EMBD.into())).transpose()?;
                Some(EncoderInputWeights { position, token_type, norm: take(TOKEN_EMBD_NORM.into())?, norm_bias: take(TOKEN_EMBD_NORM_BIAS.into())? })
            }
            None => None,
        };
        let output = if c.tied_output { None } else { Some(take(OUTPUT.into())?) };
        let rope_freqs = c.rope_factors_tensor().map(|n| take(n.into())).transpose()?;
        let per_layer_inputs = if c.per_layer_input > 0 {
            Some(PerLayerInputWeights { token_embd: take(PER_LAYER_TOKEN_EMBD.into())?, model_proj: take(PER_LAYER_MODEL_PROJ.into())?, proj_norm: take(PER_LAYER_PROJ_NORM.into())? })
        } else {
            None
        };
        let mut layers = Vec::with_capacity(c.n_layers as usize);
        for l in 0..c.n_layers {
            use LayerTensor::*;
            let mut t = |which: LayerTensor| take(which.gguf_name(l));
            let plan = c.layers[l as usize];
            let post = plan.norms == NormPlacement::PostLayerNorm;
            let attn_norm = t(if post { AttnOutputNorm } else { AttnNorm })?;
            let mixer = match plan.mixer {
                Mixer::Attention(a) => {
                    let own = a.owns_kv(l as usize);
                    let q = t(AttnQ)?;
                    let qkv = if own { vec![q, t(AttnK)?, t(AttnV)?] } else { vec![q] };
                    let qkv_bias = if c.qkv_bias && own { Some([t(AttnQBias)?, t(AttnKBias)?, t(AttnVBias)?]) } else { None };
                    let q_norm = if c.qk_norm { Some(t(AttnQNorm)?) } else { None };
                    let k_norm = if c.qk_norm && own { Some(t(AttnKNorm)?) } else { None };
                    let attn_output = t(AttnOutput)?;
                    let post_attention_norm = if c.post_norms { Some(t(PostAttentionNorm)?) } else { None };
                    let qkv = group(&fused_groups(c, l)[0].0, qkv)?;
                    let attn_vectors = match &qkv {
                        Projections::Packed(_) => {
                            let mut v = vec![&attn_norm];
                            v.extend(qkv_bias.iter().flatten());
                            v.extend(q_norm.iter().chain(&k_norm));
                            v.extend(rope_freqs.as_ref());
                            Some(vectors(&format!("blk.{l}.attn_vectors"), &v)?)
                        }
                        Projections::Separate(_) => None,
                    };
                    MixerWeights::Attention(AttentionWeights { qkv, qkv_bias, q_norm, k_norm, attn_vectors, attn_output, post_attention_norm })
                }
                Mixer::ShortConv { .. } => MixerWeights::ShortConv(ShortConvWeights { conv: t(ShortConv)?, in_proj: t(ShortConvInProj)?, out_proj: t(ShortConvOutProj)? }),
                Mixer::GatedDeltaNet(_) => {
                    let input = vec![t(DeltaQkv)?, t(DeltaGate)?, t(DeltaAlpha)?, t(DeltaBeta)?];
                    MixerWeights::GatedDeltaNet(DeltaNetWeights {
                        input: group(&fused_groups(c, l)[2].0, input)?,
                        conv: t(DeltaConv)?,
                        dt_bias: t(DeltaDtBias)?,
                        a: t(DeltaA)?,
                        norm: t(DeltaNorm)?,
                        out: t(DeltaOut)?,
                    })
                }
            };
            if post {
                let projections = if c.encoder_biases { Some(ProjectionBiases { attn_output: t(AttnOutputBias)?, ffn_up: t(FfnUpBias)?, ffn_down: t(FfnDownBias)? }) } else { None };
                let encoder = EncoderBiases { attn_norm: t(AttnOutputNormBias)?, ffn_norm: t(LayerOutputNormBias)?, projections };
                let (ffn_norm, up, ffn_down) = (t(LayerOutputNorm)?, t(FfnUp)?, t(FfnDown)?);
                let gate_up = if plan.gated_ffn { group(&fused_groups(c, l)[1].0, vec![t(FfnGate)?, up])? } else { Projections::Separate(vec![up]) };
                layers.push(LayerWeights { attn_norm, mixer, ffn_norm, gate_up, ffn_down, post_ffw_norm: None, per_layer: None, output_scale: None, encoder: Some(encoder) });
                continue;
            }
            let ffn_norm = t(c.ffn_norm)?;
            let (gate, up) = (t(FfnGate)?, t(FfnUp)?);
            let ffn_down = t(FfnDown)?;
            let post_ffw_norm = if c.post_norms { Some(t(PostFfwNorm)?) } else { None };
            let gate_up = group(&fused_groups(c, l)[1].0, vec![gate, up])?;
            let per_layer = if c.per_layer_input > 0 { Some(PerLayerWeights { inp_gate: t(PerLayerInpGate)?, proj: t(PerLayerProj)?, post_norm: t(PerLayerPostNorm)? }) } else { None };
            let output_scale = if plan.output_scale { Some(t(LayerOutputScale)?) } else { None };
            layers.push(LayerWeights { attn_norm, mixer, ffn_norm, gate_up, ffn_down, post_ffw_norm, per_layer, output_scale, encoder: None });
        }
        Ok(Self { token_embd, encoder_input, output_norm, output, rope_freqs, per_layer_inputs, layers, sizes })
    }
}

impl<T> Weights<T> {
    /// The output projection (the embedding matrix when tied).
    pub fn output(&self) -> &T {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

impl Weights {
    /// Takes the tensors out of `by_name` into their places; packs the fused
    /// groups when `fuse`.
    pub fn assemble(ctx: &GpuContext, c: &ModelConfig, by_name: HashMap<String, GpuTensor>, fuse: bool) -> Result<Self, ModelError> {
        Self::assemble_with(c, by_name, |label, tensors| group(ctx, label, tensors, fuse), |label, v| Ok(PackedVectors::pack(ctx, label, v)?))
    }

    /// The tensors not packed into a group (every tensor when loaded with
    /// `fuse: false`), as the loader allocated them.
    pub fn separate_tensors(&self) -> Vec<&GpuTensor> {
        let mut v = vec![&self.token_embd];
        v.extend(self.output_norm.iter().chain(&self.output).chain(&self.rope_freqs));
        v.extend(self.encoder_input.iter().flat_map(|e| [&e.norm, &e.norm_bias].into_iter().chain(&e.position).chain(&e.token_type)));
        v.extend(self.per_layer_inputs.iter().flat_map(|p| [&p.token_embd, &p.model_proj, &p.proj_norm]));
        for l in &self.layers {
            for g in l.groups() {
                if let Projections::Separate(ts) = g {
                    v.extend(ts);
                }
            }
            v.extend(l.loose_tensors());
        }
        v
    }

    /// Every GPU buffer holding weights, labelled (a tensor's parts by GGUF
    /// name and first row, a packed group by its label), for inspection and tests.
    pub fn buffers(&self) -> Vec<(String, &wgpu::Buffer)> {
        fn tensor<'a>(t: &'a GpuTensor, out: &mut Vec<(String, &'a wgpu::Buffer)>) {
            out.extend(t.parts.iter().map(|p| (format!("{}[{}..]", t.name, p.row_start), &p.buffer)));
        }
        fn group<'a>(g: &'a Projections, out: &mut Vec<(String, &'a wgpu::Buffer)>) {
            match g {
                Projections::Packed(p) => {
                    let names: Vec<&str> = p.segments.iter().map(|s| s.name.as_str()).collect();
                    out.push((names.join("|"), &p.buffer));
                }
                Projections::Separate(ts) => ts.iter().for_each(|t| tensor(t, out)),
            }
        }
        let mut out = Vec::new();
        tensor(&self.token_embd, &mut out);
        self.output_norm.iter().chain(&self.output).chain(&self.rope_freqs).for_each(|t| tensor(t, &mut out));
        self.encoder_input.iter().flat_map(|e| [&e.norm, &e.norm_bias].into_iter().chain(&e.position).chain(&e.token_type)).for_each(|t| tensor(t, &mut out));
        self.per_layer_inputs.iter().flat_map(|p| [&p.token_embd, &p.model_proj, &p.proj_norm]).for_each(|t| tensor(t, &mut out));
        for l in &self.layers {
            l.groups().into_iter().for_each(|g| group(g, &mut out));
            l.loose_tensors().into_iter().for_each(|t| tensor(t, &mut out));
        }
        out
    }
}

fn group(ctx: &GpuContext, label: &str, tensors: Vec<GpuTensor>, fuse: bool) -> Result<Projections, ModelError> {
    if !fuse {
        return Ok(Projections::Separate(tensors));
    }
    // Streamed into one buffer already (the loader's plan), or copied now.
    let tensors = match PackedTensors::from_segments(tensors) {
        Ok(p) => return Ok(Projections::Packed(p)),
        Err(t) => t,
    };
    Ok(match PackedTensors::pack(ctx, label, tensors)? {
        Ok(p) => Projections::Packed(p),
        Err(t) => Projections::Separate(t),
    })
}
