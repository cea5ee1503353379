//! Architecture hyper-parameters read from GGUF metadata, and the tensors
//! each architecture needs, checked at header time (before any weight bytes).

use super::weights::{LayerTensor, OUTPUT, OUTPUT_NORM, POSITION_EMBD, TOKEN_EMBD_NORM, TOKEN_EMBD_NORM_BIAS, TOKEN_TYPES, PER_LAYER_MODEL_PROJ, PER_LAYER_PROJ_NORM, PER_LAYER_TOKEN_EMBD, ROPE_FACTORS_LONG, ROPE_FACTORS_SHORT, ROPE_FREQS};
use super::ModelError;
use crate::gguf::{Header, TensorInfo};
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
    /// `phi3` (Phi-3.5-mini, Phi-4-mini): q|k|v in one `attn_qkv` tensor and
    /// gate|up in one `ffn_up`, NeoX RoPE with LongRoPE factors
    /// (`rope_factors_short/long`) and `rope.scaling.attn_factor`.
    Phi3,
    /// `smollm3`: the Llama walk with no RoPE on every 4th layer (NoPE).
    SmolLM3,
    /// `lfm2` (LFM2, LFM2.5): gated short convolutions in the layers whose
    /// `attention.head_count_kv` entry is 0, attention with QK norm in the
    /// others, NeoX RoPE; the final norm is `token_embd_norm`.
    Lfm2,
    /// `qwen35` (Qwen3.5): Gated DeltaNet layers (`attention.recurrent_layers`)
    /// with attention every few layers; the attention layers gate their
    /// output per head (`attn_q` holds each head's query then its gate), QK
    /// norm, NeoX RoPE over `rope.dimension_count`; the FFN's input norm is
    /// `post_attention_norm` (llama.cpp `src/models/qwen35.cpp`).
    Qwen35,
    /// `gemma4` (Gemma 4 E2B/E4B shape, text only): Gemma 3's norms, GELU and
    /// sliding windows with a per-layer pattern (`attention.sliding_window_pattern`),
    /// head size and RoPE per kind of layer, V normed, attention scale 1,
    /// per-layer embeddings added after each FFN, `layer_output_scale`, and
    /// the last `attention.shared_kv_layers` layers reading an earlier
    /// layer's KV cache (llama.cpp `src/models/gemma4.cpp`).
    Gemma4,
    /// `bert` (all-MiniLM, bge): an encoder for embeddings. Token, position
    /// and token-type rows summed and LayerNormed; post-norm layers with
    /// biases on every projection, bidirectional attention, an ungated GELU
    /// FFN; no output norm and no head (llama.cpp `src/models/bert.cpp`).
    Bert,
    /// `nomic-bert` (nomic-embed-text-v1, v1.5): BERT's encoder with NeoX
    /// RoPE (`rope.freq_base`) in place of position rows, q|k|v in one
    /// `attn_qkv`, no projection biases, and a SwiGLU FFN (ffn_gate, ffn_up,
    /// ffn_down) (llama.cpp `src/models/nomic-bert.cpp` and `bert.cpp`).
    NomicBert,
    /// `gemma-embedding` (EmbeddingGemma): Gemma 3's layers with
    /// bidirectional attention whatever the file says, its sliding layers'
    /// window symmetric (keys within `sliding_window / 2` of the query on
    /// either side), and after pooling the optional `dense_2` / `dense_3`
    /// projections (llama.cpp `src/models/gemma-embedding.cpp`,
    /// `build_dense_out`).
    GemmaEmbedding,
}

impl Arch {
    /// Every architecture tabllm runs, by its GGUF `general.architecture` name
    /// (keep `ModelError::UnsupportedArchitecture`'s message in step).
    pub const ALL: [Arch; 12] = [Arch::Llama, Arch::Qwen2, Arch::Qwen3, Arch::Gemma3, Arch::Phi3, Arch::SmolLM3, Arch::Lfm2, Arch::Qwen35, Arch::Gemma4, Arch::Bert, Arch::NomicBert, Arch::GemmaEmbedding];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
            Arch::Phi3 => "phi3",
            Arch::SmolLM3 => "smollm3",
            Arch::Lfm2 => "lfm2",
            Arch::Qwen35 => "qwen35",
            Arch::Gemma4 => "gemma4",
            Arch::Bert => "bert",
            Arch::NomicBert => "nomic-bert",
            Arch::GemmaEmbedding => "gemma-embedding",
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
/// Longest LFM2 short convolution the kernels take (LFM2 and LFM2.5 use 3).
pub const MAX_SHORT_CONV_L_CACHE: u32 = 8;
/// LFM2's final norm (llama.cpp `LLM_TENSOR_OUTPUT_NORM_LFM2`: the converter's name for it).
const LFM2_OUTPUT_NORM: &str = "token_embd_norm.weight";

/// SmolLM3 leaves RoPE out of layer l when (l + 1) % 4 == 0 (llama.cpp
/// `smollm3.cpp`: `n_no_rope_layer_step = 4`; the file does not say).
const SMOLLM3_NO_ROPE_STEP: u32 = 4;

/// A dense projection after pooling (sentence-transformers' `2_Dense`,
/// `3_Dense`, as `convert_hf_to_gguf.py --sentence-transformers-dense-modules`
/// writes them): pooled (n_in) → (n_out), no bias (llama.cpp `build_dense_out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseProjection {
    /// The tensor, ggml dims [n_in, n_out].
    pub tensor: &'static str,
    pub n_in: u32,
    pub n_out: u32,
}

/// Per-layer attention settings that differ between layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerAttention {
    /// 0: full causal attention; else attend to the last `window` positions.
    pub window: u32,
    /// False on a NoPE layer (SmolLM3): q and k go to attention unrotated.
    pub rope: bool,
    pub rope_base: f32,
    pub rope_scale: f32,
    /// Queries are multiplied by this before q·k.
    pub scale: f32,
    /// Qwen3.5: `attn_q` holds per head head_dim query rows then head_dim
    /// gate rows, and the attention output is multiplied by sigmoid(gate)
    /// before `attn_output` (llama.cpp `qwen35.cpp` build_layer_attn).
    pub output_gate: bool,
    /// Elements per head of q, k and v (Gemma 4: `attention.key_length` on
    /// full layers, `attention.key_length_swa` on sliding ones).
    pub head_dim: u32,
    /// Dimensions of each head RoPE rotates (even, at most head_dim).
    pub n_rot: u32,
    /// The layer whose KV cache this one attends over: itself, or (Gemma 4's
    /// last `attention.shared_kv_layers` layers) an earlier layer of the same
    /// kind, in which case this layer computes no K and V and has no cache.
    pub kv_layer: u32,
    /// `ModelConfig::causal`: false, every token of a step attends to every
    /// token of it (BERT).
    pub causal: bool,
}

impl LayerAttention {
    /// Whether layer `l` computes and stores its own K and V.
    pub fn owns_kv(&self, l: usize) -> bool {
        self.kv_layer as usize == l
    }
}

/// Sizes of a Gated DeltaNet layer (Qwen3.5 `ssm.*` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeltaNetDims {
    /// `ssm.group_count`: key (and query) heads.
    pub n_k_heads: u32,
    /// `ssm.time_step_rank`: value heads, a multiple of n_k_heads.
    pub n_v_heads: u32,
    /// `ssm.state_size`.
    pub head_k_dim: u32,
    /// `ssm.inner_size` / n_v_heads.
    pub head_v_dim: u32,
    /// `ssm.conv_kernel`: taps of the conv in front of the delta rule.
    pub conv_taps: u32,
}

impl DeltaNetDims {
    /// The kernels' shape, with the model's RMS norm epsilon for the q and k L2 norms.
    pub fn shape(&self, eps: f32) -> kernels::DeltaNetShape {
        kernels::DeltaNetShape { n_k_heads: self.n_k_heads, n_v_heads: self.n_v_heads, head_k_dim: self.head_k_dim, head_v_dim: self.head_v_dim, eps }
    }

    /// The conv's channels: q | k | v, 2 · n_k_heads · head_k_dim + n_v_heads · head_v_dim.
    pub fn conv_channels(&self) -> u32 {
        2 * self.n_k_heads * self.head_k_dim + self.n_v_heads * self.head_v_dim
    }

    /// The output's (and z's) width: n_v_heads · head_v_dim (`ssm.inner_size`).
    pub fn inner(&self) -> u32 {
        self.n_v_heads * self.head_v_dim
    }
}

/// What mixes information across positions in one layer: the block the
/// layer runs before its feed-forward block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mixer {
    /// Self-attention over a KV cache.
    Attention(LayerAttention),
    /// LFM2's gated short convolution: in_proj → b, c, x; y = c ⊙
    /// conv(b ⊙ x) over the last `l_cache` positions (a rolling state of
    /// l_cache − 1 inputs) → out_proj (llama.cpp `lfm2.cpp`).
    ShortConv { l_cache: u32 },
    /// Qwen3.5's Gated DeltaNet: attn_qkv → silu(conv) over a rolling state
    /// → gated delta rule over a (n_v_heads, head_v_dim, head_k_dim) state,
    /// normed and gated by silu(attn_gate) → ssm_out (llama.cpp `qwen35.cpp`
    /// build_layer_attn_linear).
    GatedDeltaNet(DeltaNetDims),
}

/// Where a layer's norms sit, and so which blocks it is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormPlacement {
    /// Decoders: x += block(rmsnorm(x)) for the mixing block and the gated
    /// FFN (Gemma's post-norms come on top, as `ModelConfig::post_norms`).
    Pre,
    /// BERT's encoder layer: x = layernorm(x + block(x)) with weight and
    /// bias after each block; the projections' biases
    /// (`ModelConfig::encoder_biases`) and the FFN's gate
    /// (`LayerPlan::gated_ffn`) are the model's (llama.cpp `bert.cpp`).
    PostLayerNorm,
}

/// BERT's input rows (`ModelConfig::encoder_input`): each token's embedding
/// gets its position's row of `position_embd` (BERT; nomic-bert rotates q
/// and k instead) and row 0 of `token_types` (when the file has it), then a
/// LayerNorm (`token_embd_norm` weight and bias) (llama.cpp `bert.cpp`:
/// token types are always 0, "sentence A").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderInput {
    /// Rows of `position_embd` (`{arch}.context_length`): no step may reach
    /// past them; None without the table (nomic-bert).
    pub n_positions: Option<u32>,
    /// Rows of `token_types` (`tokenizer.ggml.token_type_count`); 0 when the file has no such tensor.
    pub token_types: u32,
}

/// One layer of the forward pass: its blocks, chosen from the header once
/// (`ModelConfig::layers`). A pre-norm layer has the dense gated FFN after
/// its mixing block; then, when the model has them (Gemma 4), its per-layer
/// input block (`ModelConfig::per_layer_input`) and its output scale. A
/// post-norm layer (BERT) is attention and an FFN, each followed by its
/// residual add and LayerNorm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerPlan {
    pub mixer: Mixer,
    pub norms: NormPlacement,
    /// The FFN's width (`feed_forward_length`, one for every layer or one per layer).
    pub ffn_dim: u32,
    /// The FFN is act(gate) ⊙ up (every pre-norm layer; nomic-bert's
    /// SwiGLU); false: act(up) alone (BERT's GELU).
    pub gated_ffn: bool,
    /// `blk.N.layer_output_scale.weight`: the residual stream is multiplied
    /// by this scalar at the layer's end (Gemma 4).
    pub output_scale: bool,
}

/// RoPE frequency factors of the file (`n_rot / 2` divisors of the angles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeFactors {
    None,
    /// `rope_freqs.weight` (Llama 3.1+), on every rotated layer.
    Freqs,
    /// LongRoPE (Phi-3.5 / Phi-4-mini): `rope_factors_long.weight` when the
    /// context allocated is above `original` positions, else
    /// `rope_factors_short.weight` (llama.cpp `llama_model::get_rope_factors`).
    LongShort { original: u32, long: bool },
}

/// A tensor of the file that holds several the forward pass reads, as row
/// ranges of it: `attn_qkv` (q, k, v) and Phi-3's `ffn_up` (gate, up).
/// llama.cpp writes either form (`create_tensor_qkv`); the loader streams
/// the fused tensor's rows straight into the parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorView {
    /// The tensor in the file.
    pub source: String,
    /// (name the forward pass reads, rows), in row order.
    pub parts: Vec<(String, u64)>,
}

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub arch: Arch,
    pub n_layers: u32,
    pub dim: u32,
    pub n_heads: u32,
    pub n_kv_heads: u32,
    /// The widest layer's head size (each layer's is `LayerAttention::head_dim`).
    pub head_dim: u32,
    /// The widest layer's FFN (each layer's is `LayerPlan::ffn_dim`).
    pub ffn_dim: u32,
    pub vocab: u32,
    /// Context length the model was trained with (`{arch}.context_length`;
    /// None when the file does not say).
    pub ctx_train: Option<u32>,
    /// The norms' epsilon: RMSNorm's (`attention.layer_norm_rms_epsilon`),
    /// or LayerNorm's for BERT (`attention.layer_norm_epsilon`).
    pub rms_eps: f32,
    pub rope_base: f32,
    pub rope_scale: f32,
    /// Rotated dimensions of the full-attention layers (`rope_freqs` holds n_rot / 2 factors).
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
    /// V gets an RMSNorm over each head without a weight (Gemma 4, llama.cpp
    /// `ggml_rms_norm` on Vcur).
    pub v_norm: bool,
    /// `blk.N.post_attention_norm` / `post_ffw_norm`: RMSNorm on each block's
    /// output before it joins the residual stream (Gemma 3 and 4).
    pub post_norms: bool,
    pub activation: GateActivation,
    /// Embeddings are multiplied by this (sqrt(dim) for Gemma).
    pub embed_scale: f32,
    /// Queries are multiplied by this before q·k.
    pub attn_scale: f32,
    /// Sliding-window length of local layers (0: every layer is global).
    pub sliding_window: u32,
    /// Gemma 3: layer l is local when l % swa_period != swa_period - 1 (0:
    /// none is by this rule; Gemma 4 reads its pattern from the file).
    pub swa_period: u32,
    /// RoPE base of local layers (Gemma 3: 10000; Gemma 4: `rope.freq_base_swa`).
    pub rope_base_local: f32,
    /// logits = cap * tanh(logits / cap) when > 0.
    pub final_logit_softcap: f32,
    /// `rope.scaling.attn_factor` (1 when absent): RoPE multiplies the
    /// rotated dimensions of q and k by it (llama.cpp's `attn_factor`,
    /// `llama-context.cpp`), as LongRoPE's magnitude scale.
    pub rope_attn_factor: f32,
    pub rope_factors: RopeFactors,
    /// Layer l's blocks, read once from the header.
    pub layers: Vec<LayerPlan>,
    /// Fused tensors of the file read as the separate ones they hold.
    pub views: Vec<TensorView>,
    /// LFM2: the short convolution's length (`shortconv.l_cache`); 0 without.
    pub short_conv_l_cache: u32,
    /// The final norm's tensor (`output_norm.weight`; LFM2:
    /// `token_embd_norm.weight`); None for an encoder without one (BERT),
    /// which then has no output head either ([`has_head`](Self::has_head)).
    pub output_norm: Option<&'static str>,
    /// `{arch}.attention.causal` (true when absent, as llama.cpp's
    /// `causal_attn` default): false, attention is bidirectional over the
    /// step, so a text runs as one step from position 0 (BERT).
    pub causal: bool,
    /// BERT's position and token-type rows and embedding norm (None without).
    pub encoder_input: Option<EncoderInput>,
    /// A post-norm layer's attn_output, ffn_up and ffn_down biases (and
    /// q, k, v's, `qkv_bias`): BERT has them; nomic-bert none.
    pub encoder_biases: bool,
    /// EmbeddingGemma's projections of the pooled vector, in order (empty
    /// without): held on the host whatever the backend, applied by
    /// `Engine::embed` before normalization.
    pub dense_out: Vec<DenseProjection>,
    /// Qwen3.5: the Gated DeltaNet layers' sizes (None without).
    pub delta_net: Option<DeltaNetDims>,
    /// The FFN's input norm: `ffn_norm`, or (Qwen3.5) `post_attention_norm`.
    pub ffn_norm: LayerTensor,
    /// Gemma 4: elements of each layer's per-layer input
    /// (`embedding_length_per_layer_input`); 0 without per-layer inputs.
    pub per_layer_input: u32,
    /// `{arch}.pooling_type` as llama.cpp numbers it (`llama_pooling_type`:
    /// 0 none, 1 mean, 2 cls, 3 last, 4 rank): how an embedding model pools
    /// its hidden states (`crate::embed`); None when the file does not say
    /// (generative models).
    pub pooling_type: Option<u32>,
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

    /// Whether the model ends in a logits head (a final norm and the output
    /// projection); an encoder without an output norm (BERT) gives hidden
    /// states only.
    pub fn has_head(&self) -> bool {
        self.output_norm.is_some()
    }

    /// Refuses a context of `n_ctx` positions that reaches past the
    /// position-embedding rows (BERT's `position_embd`: llama.cpp sizes it
    /// by the training context and reads no row past it).
    pub fn check_n_ctx(&self, n_ctx: u32) -> Result<(), ModelError> {
        match self.encoder_input {
            Some(EncoderInput { n_positions: Some(n), .. }) if n_ctx > n => Err(ModelError::Config(format!("a context of {n_ctx} positions is past this model's {n} position embeddings (position_embd.weight); ask for at most {n}"))),
            _ => Ok(()),
        }
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
        let block_count = req("block_count")?;
        // Qwen3.5 counts its multi-token-prediction layers in block_count; they run after the model's and are not read.
        let nextn = md.get_u32(&key("nextn_predict_layers"))?.unwrap_or(0);
        let n_layers = block_count.checked_sub(nextn).filter(|&n| n > 0).ok_or_else(|| ModelError::Config(format!("{} is {block_count} with {nextn} prediction layers", key("block_count"))))?;
        if n_layers > 1024 {
            return Err(ModelError::Config(format!("{n_layers} layers")));
        }
        // One count for every layer, or (LFM2) one per layer, 0 on a short-conv layer.
        let kv_heads = per_layer_u32(md, &key("attention.head_count_kv"), n_layers)?.unwrap_or_else(|| vec![n_heads; n_layers as usize]);
        let conv_layers: Vec<bool> = kv_heads.iter().map(|&n| n == 0).collect();
        let delta_net = if arch == Arch::Qwen35 { Some(delta_net_dims(md, &key)?) } else { None };
        let recurrent_layers = if arch == Arch::Qwen35 { qwen35_recurrent_layers(md, &key, n_layers)? } else { vec![false; n_layers as usize] };
        if conv_layers.iter().any(|&c| c) && arch != Arch::Lfm2 {
            return Err(ModelError::Config(format!("{} has a layer with 0 KV heads, which only lfm2 reads as a convolution layer", key("attention.head_count_kv"))));
        }
        let mut attn_kv = kv_heads.iter().copied().filter(|&n| n > 0);
        let n_kv_heads = attn_kv.next().unwrap_or(n_heads);
        if attn_kv.any(|n| n != n_kv_heads) {
            return Err(ModelError::Config(format!("{}: attention layers with different KV head counts are not supported", key("attention.head_count_kv"))));
        }
        let short_conv_l_cache = if arch == Arch::Lfm2 { md.require_u32(&key("shortconv.l_cache"))? } else { 0 };
        if conv_layers.iter().any(|&c| c) && !(2..=MAX_SHORT_CONV_L_CACHE).contains(&short_conv_l_cache) {
            return Err(ModelError::Config(format!("{} is {short_conv_l_cache} (2..={MAX_SHORT_CONV_L_CACHE} supported)", key("shortconv.l_cache"))));
        }
        let head_dim = md.get_u32(&key("attention.key_length"))?.unwrap_or(dim / n_heads);
        if let Some(v) = md.get_u32(&key("attention.value_length"))? {
            if v != head_dim {
                return Err(ModelError::Config(format!("value length {v} differs from key length {head_dim}")));
            }
        }
        let (_, embd) = h.tensor("token_embd.weight").ok_or_else(|| ModelError::MissingTensor("token_embd.weight".into()))?;
        if embd.n_elements == 0 {
            return Err(ModelError::EmptyTensor { tensor: embd.name.clone(), dims: embd.dims.clone() });
        }
        let vocab = *embd.dims.get(1).unwrap_or(&0) as u32;
        let scale_type = md.get_str(&key("rope.scaling.type"))?.unwrap_or("none");
        // Llama 3.1+ ("llama3") carries its scaling in the rope_freqs.weight factors.
        let rope_freqs = h.tensor(ROPE_FREQS).is_some();
        let rope_factors = if rope_freqs {
            RopeFactors::Freqs
        } else if h.tensor(ROPE_FACTORS_LONG).is_some() || h.tensor(ROPE_FACTORS_SHORT).is_some() {
            // llama.cpp: n_ctx_orig_yarn = the original context, else the training one.
            let original = md.get_u32(&key("rope.scaling.original_context_length"))?.or(md.get_u32(&key("context_length"))?).unwrap_or(0);
            RopeFactors::LongShort { original, long: false }
        } else {
            RopeFactors::None
        };
        let rope_scale = match scale_type {
            "linear" => 1.0 / md.get_f32(&key("rope.scaling.factor"))?.unwrap_or(1.0),
            "none" => 1.0,
            "llama3" if rope_freqs => 1.0,
            "longrope" if matches!(rope_factors, RopeFactors::LongShort { .. }) => 1.0,
            other => return Err(ModelError::Config(format!("RoPE scaling `{other}` is not supported yet"))),
        };
        let rope_layout = match arch {
            Arch::Llama | Arch::SmolLM3 => RopeLayout::Normal,
            // Qwen3.5's IMRoPE (`rope.dimension_sections`) gives every section the
            // token's position for text: NeoX RoPE over rope.dimension_count.
            // BERT runs no RoPE (llama.cpp lists it with the NeoX ones).
            Arch::Qwen2 | Arch::Qwen3 | Arch::Gemma3 | Arch::Phi3 | Arch::Lfm2 | Arch::Qwen35 | Arch::Gemma4 | Arch::Bert | Arch::NomicBert | Arch::GemmaEmbedding => RopeLayout::Neox,
        };
        let gemma = matches!(arch, Arch::Gemma3 | Arch::Gemma4 | Arch::GemmaEmbedding);
        let embedding_gemma = arch == Arch::GemmaEmbedding;
        let sliding_window = if embedding_gemma {
            // llama.cpp requires the window and applies the pattern of 6;
            // a window of 0 would leave each token only itself.
            if md.contains(&key("attention.sliding_window_pattern")) {
                return Err(ModelError::Config(format!("{} is set: a sliding-window pattern other than every 6th layer global is not supported yet for {arch_name}", key("attention.sliding_window_pattern"))));
            }
            match md.require_u32(&key("attention.sliding_window"))? {
                0 => return Err(ModelError::Config(format!("{} is 0", key("attention.sliding_window")))),
                w => w,
            }
        } else if gemma {
            md.get_u32(&key("attention.sliding_window"))?.unwrap_or(0)
        } else {
            0
        };
        // Gemma 3 27B (62 layers) scales by dim / n_heads rather than the head
        // size (query_pre_attn_scalar; llama.cpp does the same); Gemma 4 by 1
        // (its QK norms take the place of the scale).
        let attn_scale = if arch == Arch::Gemma4 {
            1.0
        } else if arch == Arch::Gemma3 && n_layers == 62 {
            1.0 / ((dim / n_heads) as f32).sqrt()
        } else {
            1.0 / (head_dim as f32).sqrt()
        };
        let ffn_dims = per_layer_u32(md, &key("feed_forward_length"), n_layers)?.ok_or_else(|| ModelError::Gguf(crate::gguf::GgufError::MissingKey(key("feed_forward_length"))))?;
        if let Some(l) = ffn_dims.iter().position(|&f| f == 0) {
            return Err(ModelError::Config(format!("{} is 0 for layer {l}", key("feed_forward_length"))));
        }
        let gemma4 = if arch == Arch::Gemma4 { Some(Gemma4Layers::read(md, &key, n_layers, head_dim)?) } else { None };
        // Embedding models with bidirectional attention (EmbeddingGemma, BERT)
        // say so; absent, attention is causal (llama.cpp's default). tabllm
        // runs bidirectional attention in BERT's walk (bert, nomic-bert) and
        // EmbeddingGemma's, whose attention is bidirectional whatever the file
        // says (llama.cpp sets causal_attn = false for the architecture).
        let bert = arch == Arch::Bert;
        let encoder = matches!(arch, Arch::Bert | Arch::NomicBert);
        let causal = !embedding_gemma && md.get_bool(&key("attention.causal"))?.unwrap_or(true);
        if !causal && !encoder && !embedding_gemma {
            return Err(ModelError::Config(format!("{} is false: bidirectional attention (as EmbeddingGemma and BERT-family embedding models use) is not supported yet for {arch_name}", key("attention.causal"))));
        }
        let encoder_input = if encoder { Some(encoder_input(h, &key, bert)?) } else { None };
        // BERT's LayerNorms read their own epsilon (llama.cpp requires it).
        let norm_eps = if encoder {
            let k = key("attention.layer_norm_epsilon");
            match md.get_f32(&k)? {
                Some(e) if e.is_finite() && e >= 0.0 => e,
                Some(e) => return Err(ModelError::Config(format!("{k} is {e}"))),
                None => return Err(ModelError::Gguf(crate::gguf::GgufError::MissingKey(k))),
            }
        } else {
            md.get_f32(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5)
        };
        let mut cfg = ModelConfig {
            arch,
            n_layers,
            dim,
            n_heads,
            n_kv_heads,
            head_dim: gemma4.as_ref().map_or(head_dim, |g| g.head_dim.max(g.head_dim_swa)),
            ffn_dim: ffn_dims.iter().copied().max().unwrap_or(0),
            vocab,
            ctx_train: md.get_u32(&key("context_length"))?,
            rms_eps: norm_eps,
            rope_base: md.get_f32(&key("rope.freq_base"))?.unwrap_or(10000.0),
            rope_scale,
            n_rot: md.get_u32(&key("rope.dimension_count"))?.unwrap_or(head_dim),
            rope_layout,
            tied_output: h.tensor(OUTPUT).is_none(),
            rope_freqs: rope_factors != RopeFactors::None,
            // llama.cpp's llama graph adds q/k/v biases where the file has
            // them (`TENSOR_NOT_REQUIRED`); Qwen2 always has them.
            qkv_bias: arch == Arch::Qwen2 || bert || (arch == Arch::Llama && h.tensor("blk.0.attn_q.bias").is_some()),
            qk_norm: matches!(arch, Arch::Qwen3 | Arch::Gemma3 | Arch::Lfm2 | Arch::Qwen35 | Arch::Gemma4 | Arch::GemmaEmbedding),
            v_norm: arch == Arch::Gemma4,
            post_norms: gemma,
            activation: if gemma || bert { GateActivation::Gelu } else { GateActivation::SiLU },
            embed_scale: if gemma { (dim as f32).sqrt() } else { 1.0 },
            attn_scale,
            sliding_window,
            swa_period: if gemma && sliding_window > 0 { GEMMA3_SWA_PERIOD } else { 0 },
            rope_base_local: match &gemma4 {
                Some(g) => g.rope_base_swa,
                None if embedding_gemma => md.get_f32(&key("rope.freq_base_swa"))?.unwrap_or(GEMMA3_ROPE_BASE_LOCAL),
                None => GEMMA3_ROPE_BASE_LOCAL,
            },
            final_logit_softcap: md.get_f32(&key("final_logit_softcapping"))?.unwrap_or(0.0),
            rope_attn_factor: md.get_f32(&key("rope.scaling.attn_factor"))?.unwrap_or(1.0),
            rope_factors,
            layers: Vec::new(),
            views: Vec::new(),
            short_conv_l_cache,
            output_norm: match arch {
                Arch::Lfm2 => Some(LFM2_OUTPUT_NORM),
                Arch::Bert | Arch::NomicBert => None,
                _ => Some(OUTPUT_NORM),
            },
            causal,
            encoder_input,
            encoder_biases: bert,
            dense_out: if embedding_gemma { dense_projections(h, &key, dim)? } else { Vec::new() },
            pooling_type: md.get_u32(&key("pooling_type"))?,
            delta_net,
            ffn_norm: if arch == Arch::Qwen35 { LayerTensor::PostAttentionNorm } else { LayerTensor::FfnNorm },
            per_layer_input: gemma4.as_ref().map_or(0, |g| g.per_layer_input),
        };
        cfg.layers = (0..n_layers)
            .map(|l| {
                let mixer = match (delta_net, &gemma4) {
                    (Some(d), _) if recurrent_layers[l as usize] => Mixer::GatedDeltaNet(d),
                    (_, Some(g)) => Mixer::Attention(g.attention(l, &cfg)),
                    _ => cfg.plan_mixer(l, conv_layers[l as usize]),
                };
                let output_scale = h.tensor(&LayerTensor::LayerOutputScale.gguf_name(l)).is_some();
                let norms = if encoder { NormPlacement::PostLayerNorm } else { NormPlacement::Pre };
                LayerPlan { mixer, norms, ffn_dim: ffn_dims[l as usize], gated_ffn: !bert, output_scale }
            })
            .collect();
        cfg.views = fused_views(h, &cfg);
        cfg.check_dims()?;
        cfg.check_tensors(h)?;
        Ok(cfg)
    }

    fn check_dims(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.n_kv_heads == 0 || self.n_heads % self.n_kv_heads != 0 {
            return bad(format!("{} heads cannot share {} KV heads", self.n_heads, self.n_kv_heads));
        }
        for (l, plan) in self.layers.iter().enumerate() {
            if let Mixer::Attention(a) = plan.mixer {
                if a.head_dim == 0 || a.head_dim > kernels::attention_max_head_dim() || a.head_dim % 2 != 0 {
                    return bad(format!("head dimension {} is not supported", a.head_dim));
                }
                if a.n_rot > a.head_dim || a.n_rot % 2 != 0 {
                    return bad(format!("rope dimension {} does not fit head dimension {}", a.n_rot, a.head_dim));
                }
                if (self.n_heads * a.head_dim) % 32 != 0 {
                    return bad("model widths must be multiples of 32".into());
                }
                let src = self.layers.get(a.kv_layer as usize).map(|p| p.mixer);
                let same = matches!(src, Some(Mixer::Attention(s)) if s.owns_kv(a.kv_layer as usize) && s.head_dim == a.head_dim && s.window == a.window);
                if a.kv_layer as usize > l || !same {
                    return bad(format!("layer {l} reads the KV cache of layer {}, which is not an earlier attention layer of its kind", a.kv_layer));
                }
            }
            if plan.ffn_dim % 32 != 0 {
                return bad("model widths must be multiples of 32".into());
            }
        }
        if self.dim % 32 != 0 || self.per_layer_input % 32 != 0 {
            return bad("model widths must be multiples of 32".into());
        }
        if !(self.final_logit_softcap.is_finite() && self.final_logit_softcap >= 0.0) {
            return bad(format!("final logit soft-cap {}", self.final_logit_softcap));
        }
        if let Some(d) = self.delta_net {
            let shape = d.shape(self.rms_eps);
            let ok = d.n_k_heads > 0
                && d.n_v_heads % d.n_k_heads == 0
                && (1..=kernels::DELTA_NET_MAX_HEAD_DIM).contains(&d.head_k_dim)
                && (1..=kernels::DELTA_NET_MAX_HEAD_DIM).contains(&d.head_v_dim)
                && (2..=kernels::MAX_CONV_TAPS).contains(&d.conv_taps)
                && shape.qkv_width() <= 1 << 20;
            if !ok {
                return bad(format!(
                    "Gated DeltaNet with {} key heads and {} value heads (a multiple of the key heads), heads of {} (keys) and {} (values) elements (1..={} supported), a conv of {} taps (2..={} supported) is not supported",
                    d.n_k_heads, d.n_v_heads, d.head_k_dim, d.head_v_dim, kernels::DELTA_NET_MAX_HEAD_DIM, d.conv_taps, kernels::MAX_CONV_TAPS
                ));
            }
        }
        if self.vocab == 0 || self.n_layers > 1024 {
            return bad(format!("vocabulary {} / {} layers", self.vocab, self.n_layers));
        }
        Ok(())
    }

    /// Every tensor the forward pass reads: (name, expected ggml dims, is a matrix).
    pub fn tensor_plan(&self) -> Vec<(String, Vec<u64>, bool)> {
        use super::weights::{LayerTensor::*, TOKEN_EMBD};
        let d = self.dim as u64;
        let mut v = vec![(TOKEN_EMBD.to_string(), vec![d, self.vocab as u64], true)];
        v.extend(self.output_norm.map(|n| (n.to_string(), vec![d], false)));
        if let Some(e) = self.encoder_input {
            v.extend(e.n_positions.map(|n| (POSITION_EMBD.to_string(), vec![d, n as u64], true)));
            v.extend([(TOKEN_EMBD_NORM.to_string(), vec![d], false), (TOKEN_EMBD_NORM_BIAS.to_string(), vec![d], false)]);
            if e.token_types > 0 {
                v.push((TOKEN_TYPES.to_string(), vec![d, e.token_types as u64], true));
            }
        }
        v.extend(self.dense_out.iter().map(|p| (p.tensor.to_string(), vec![p.n_in as u64, p.n_out as u64], true)));
        if !self.tied_output {
            v.push((OUTPUT.to_string(), vec![d, self.vocab as u64], true));
        }
        let factors: &[&str] = match self.rope_factors {
            RopeFactors::None => &[],
            RopeFactors::Freqs => &[ROPE_FREQS],
            // Both are read: which one applies depends on the context a load allocates.
            RopeFactors::LongShort { .. } => &[ROPE_FACTORS_LONG, ROPE_FACTORS_SHORT],
        };
        v.extend(factors.iter().map(|n| (n.to_string(), vec![self.n_rot as u64 / 2], false)));
        let (p, all_p) = (self.per_layer_input as u64, self.per_layer_input as u64 * self.n_layers as u64);
        if p > 0 {
            v.extend([
                (PER_LAYER_TOKEN_EMBD.to_string(), vec![all_p, self.vocab as u64], true),
                (PER_LAYER_MODEL_PROJ.to_string(), vec![d, all_p], true),
                (PER_LAYER_PROJ_NORM.to_string(), vec![p], false),
            ]);
        }
        let attention = |l: u32, a: LayerAttention| {
            let (q, kv, hd) = ((self.n_heads * a.head_dim) as u64, (self.n_kv_heads * a.head_dim) as u64, a.head_dim as u64);
            let own = a.owns_kv(l as usize);
            // Qwen3.5's attn_q holds a gate row for every query row.
            let q_rows = if a.output_gate { 2 * q } else { q };
            let mut t = vec![(AttnQ, vec![d, q_rows], true)];
            if own {
                t.extend([(AttnK, vec![d, kv], true), (AttnV, vec![d, kv], true)]);
            }
            t.push((AttnOutput, vec![q, d], true));
            if self.qkv_bias && own {
                t.extend([(AttnQBias, vec![q], false), (AttnKBias, vec![kv], false), (AttnVBias, vec![kv], false)]);
            }
            if self.qk_norm {
                t.push((AttnQNorm, vec![hd], false));
                if own {
                    t.push((AttnKNorm, vec![hd], false));
                }
            }
            if self.post_norms {
                t.push((PostAttentionNorm, vec![d], false));
            }
            t
        };
        let short_conv = |l_cache: u32| vec![(ShortConv, vec![l_cache as u64, d], false), (ShortConvInProj, vec![d, 3 * d], true), (ShortConvOutProj, vec![d, d], true)];
        let delta_net = |n: DeltaNetDims| {
            let (ch, inner, nv) = (n.conv_channels() as u64, n.inner() as u64, n.n_v_heads as u64);
            vec![
                (DeltaQkv, vec![d, ch], true),
                (DeltaGate, vec![d, inner], true),
                (DeltaConv, vec![n.conv_taps as u64, ch], false),
                (DeltaDtBias, vec![nv], false),
                (DeltaA, vec![nv], false),
                (DeltaBeta, vec![d, nv], true),
                (DeltaAlpha, vec![d, nv], true),
                (DeltaNorm, vec![n.head_v_dim as u64], false),
                (DeltaOut, vec![inner, d], true),
            ]
        };
        for (l, plan) in (0..self.n_layers).zip(&self.layers) {
            let mixer = match plan.mixer {
                Mixer::Attention(a) => attention(l, a),
                Mixer::ShortConv { l_cache } => short_conv(l_cache),
                Mixer::GatedDeltaNet(n) => delta_net(n),
            };
            let f = plan.ffn_dim as u64;
            if plan.norms == NormPlacement::PostLayerNorm {
                let mut post = vec![
                    (AttnOutputNorm, vec![d], false),
                    (AttnOutputNormBias, vec![d], false),
                    (FfnUp, vec![d, f], true),
                    (FfnDown, vec![f, d], true),
                    (LayerOutputNorm, vec![d], false),
                    (LayerOutputNormBias, vec![d], false),
                ];
                if self.encoder_biases {
                    post.extend([(AttnOutputBias, vec![d], false), (FfnUpBias, vec![f], false), (FfnDownBias, vec![d], false)]);
                }
                if plan.gated_ffn {
                    post.push((FfnGate, vec![d, f], true));
                }
                v.extend(mixer.into_iter().chain(post).map(|(t, dims, m)| (t.gguf_name(l), dims, m)));
                continue;
            }
            let mut ffn = vec![(self.ffn_norm, vec![d], false), (FfnGate, vec![d, f], true), (FfnUp, vec![d, f], true), (FfnDown, vec![f, d], true)];
            if self.post_norms {
                ffn.push((PostFfwNorm, vec![d], false));
            }
            if p > 0 {
                ffn.extend([(PerLayerInpGate, vec![d, p], true), (PerLayerProj, vec![p, d], true), (PerLayerPostNorm, vec![d], false)]);
            }
            if plan.output_scale {
                ffn.push((LayerOutputScale, vec![1], false));
            }
            let layer = std::iter::once((AttnNorm, vec![d], false)).chain(mixer).chain(ffn);
            v.extend(layer.map(|(t, dims, m)| (t.gguf_name(l), dims, m)));
        }
        v
    }

    /// Presence, shape and type of every tensor, before any weight is read
    /// (a part of a fused tensor as the rows it takes of it); a needed tensor
    /// with no elements is refused by name.
    fn check_tensors(&self, h: &Header) -> Result<(), ModelError> {
        for view in &self.views {
            let (_, src) = h.tensor(&view.source).ok_or_else(|| ModelError::MissingTensor(view.source.clone()))?;
            let rows: u64 = view.parts.iter().map(|(_, r)| r).sum();
            if src.dims.len() != 2 || src.dims[1] != rows {
                return Err(ModelError::TensorShape { tensor: view.source.clone(), expected: vec![src.dims[0], rows], got: src.dims.clone() });
            }
        }
        let plan = self.tensor_plan();
        for (name, dims) in self.optional_tensors() {
            match h.tensor(&name) {
                Some((_, t)) if !plan.iter().any(|(n, _, _)| *n == name) => {
                    if !same_shape(&t.dims, &dims) {
                        return Err(ModelError::TensorShape { tensor: name, expected: dims, got: t.dims.clone() });
                    }
                    return Err(ModelError::TensorNotApplied(name));
                }
                _ => {}
            }
        }
        for (name, dims, matrix) in plan {
            let t = self.planned_info(h, &name).ok_or_else(|| ModelError::MissingTensor(name.clone()))?;
            if t.n_elements == 0 {
                return Err(ModelError::EmptyTensor { tensor: name, dims: t.dims.clone() });
            }
            if !same_shape(&t.dims, &dims) {
                return Err(ModelError::TensorShape { tensor: name, expected: dims, got: t.dims.clone() });
            }
            let ok = if matrix { kernels::gpu_supports(t.ggml_type) } else { t.ggml_type == GgmlType::F32 };
            if !ok {
                return Err(ModelError::UnsupportedTensorType { tensor: name, ty: t.ggml_type });
            }
        }
        Ok(())
    }

    /// The optional tensors llama.cpp creates for a layer (`TENSOR_NOT_REQUIRED`
    /// in `src/llama-model.cpp`: the attention and FFN biases), with the
    /// shape it requires: (name, ggml dims). A file that holds one of
    /// another shape is refused, as llama.cpp's `check_tensor_dims` refuses
    /// it, even where tabllm's forward pass does not read it.
    fn optional_tensors(&self) -> Vec<(String, Vec<u64>)> {
        let (d, q, kv, f) = (self.dim as u64, self.q_dim() as u64, self.kv_dim() as u64, self.ffn_dim as u64);
        let shapes = [("attn_q.bias", q), ("attn_k.bias", kv), ("attn_v.bias", kv), ("attn_qkv.bias", q + 2 * kv), ("attn_output.bias", d), ("ffn_gate.bias", f), ("ffn_up.bias", f), ("ffn_down.bias", d)];
        (0..self.n_layers).flat_map(|l| shapes.map(|(suffix, n)| (format!("blk.{l}.{suffix}"), vec![n]))).collect()
    }

    /// The tensor `name` as the forward pass reads it: the file's own, or a
    /// part of a fused one ([`TensorView`]) with the offset and size of its rows.
    pub fn planned_info(&self, h: &Header, name: &str) -> Option<TensorInfo> {
        for view in &self.views {
            let Some(i) = view.parts.iter().position(|(n, _)| n == name) else { continue };
            let (_, src) = h.tensor(&view.source)?;
            let total_rows = src.dims.get(1).copied().filter(|&r| r > 0)?;
            let row_bytes = src.n_bytes / total_rows;
            let first_row: u64 = view.parts[..i].iter().map(|(_, r)| r).sum();
            let rows = view.parts[i].1;
            return Some(TensorInfo {
                name: name.to_string(),
                dims: vec![src.dims[0], rows],
                ggml_type: src.ggml_type,
                offset: src.offset + first_row * row_bytes,
                n_elements: src.dims[0] * rows,
                n_bytes: rows * row_bytes,
            });
        }
        h.tensor(name).map(|(_, t)| t.clone())
    }

    /// The mixing block of layer `l`, from the architecture's rules: which
    /// layers are sliding-window (Gemma 3), which run without RoPE (SmolLM3).
    fn plan_mixer(&self, l: u32, short_conv: bool) -> Mixer {
        if short_conv {
            return Mixer::ShortConv { l_cache: self.short_conv_l_cache };
        }
        let local = self.swa_period > 0 && l % self.swa_period != self.swa_period - 1;
        let rope = !(self.arch == Arch::SmolLM3 && (l + 1) % SMOLLM3_NO_ROPE_STEP == 0) && self.arch != Arch::Bert;
        let (scale, head_dim, n_rot) = (self.attn_scale, self.head_dim, self.n_rot);
        let attention = if local {
            LayerAttention { window: self.sliding_window, rope, rope_base: self.rope_base_local, rope_scale: 1.0, scale, output_gate: false, head_dim, n_rot, kv_layer: l, causal: self.causal }
        } else {
            LayerAttention { window: 0, rope, rope_base: self.rope_base, rope_scale: self.rope_scale, scale, output_gate: self.arch == Arch::Qwen35, head_dim, n_rot, kv_layer: l, causal: self.causal }
        };
        Mixer::Attention(attention)
    }

    /// Elements of layer `l`'s K (and V) rows in its own cache: 0 for a
    /// layer without attention or one that reads an earlier layer's cache.
    pub fn layer_kv_dim(&self, l: u32) -> u32 {
        match self.layer_attention(l) {
            Some(a) if a.owns_kv(l as usize) => self.n_kv_heads * a.head_dim,
            _ => 0,
        }
    }

    /// Window and RoPE of layer `l` when it is an attention layer (None for
    /// a recurrent one, which has no KV cache): local (sliding-window) layers
    /// use `rope_base_local` and no scaling; global ones the file's RoPE.
    pub fn layer_attention(&self, l: u32) -> Option<LayerAttention> {
        match self.layers.get(l as usize)?.mixer {
            Mixer::Attention(a) => Some(a),
            Mixer::ShortConv { .. } | Mixer::GatedDeltaNet(_) => None,
        }
    }

    /// Elements per token of the buffer a block projects its wide input
    /// into (`Act::Mix`): LFM2's in_proj output b | c | x, a Gated DeltaNet's
    /// conv input q | k | v, a gated attention's query|gate heads; 0 without
    /// such layers.
    pub fn mix_dim(&self) -> u32 {
        self.layers
            .iter()
            .map(|p| match p.mixer {
                Mixer::Attention(a) if a.output_gate => 2 * self.n_heads * a.head_dim,
                Mixer::Attention(_) => 0,
                Mixer::ShortConv { .. } => 3 * self.dim,
                Mixer::GatedDeltaNet(n) => n.conv_channels(),
            })
            .max()
            .unwrap_or(0)
    }

    /// Elements per token of the mixing blocks' output (`Act::Att`):
    /// attention's q_dim, a short conv's dim, a Gated DeltaNet's inner size.
    pub fn att_dim(&self) -> u32 {
        self.layers
            .iter()
            .map(|p| match p.mixer {
                Mixer::Attention(a) => self.n_heads * a.head_dim,
                Mixer::ShortConv { .. } => self.dim,
                Mixer::GatedDeltaNet(n) => n.inner(),
            })
            .max()
            .unwrap_or(0)
            .max(self.q_dim())
    }

    /// Some layer keeps a recurrent state (a short convolution or a Gated
    /// DeltaNet), which cannot be rewound (`engine::KvCache`).
    pub fn is_recurrent(&self) -> bool {
        self.layers.iter().any(|p| !matches!(p.mixer, Mixer::Attention(_)))
    }

    /// Chooses LongRoPE's long or short factors for a context of `n_ctx`
    /// positions (llama.cpp: long when n_ctx is above the original context).
    pub fn select_rope_factors(&mut self, n_ctx: u32) {
        if let RopeFactors::LongShort { original, .. } = self.rope_factors {
            self.rope_factors = RopeFactors::LongShort { original, long: n_ctx > original };
        }
    }

    /// The model-level tensor the rotated layers take their frequency factors from.
    pub fn rope_factors_tensor(&self) -> Option<&'static str> {
        match self.rope_factors {
            RopeFactors::None => None,
            RopeFactors::Freqs => Some(ROPE_FREQS),
            RopeFactors::LongShort { long: true, .. } => Some(ROPE_FACTORS_LONG),
            RopeFactors::LongShort { long: false, .. } => Some(ROPE_FACTORS_SHORT),
        }
    }

    pub fn q_dim(&self) -> u32 {
        self.n_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> u32 {
        self.n_kv_heads * self.head_dim
    }
}

/// The fused tensors of `h` that hold tensors the forward pass reads
/// separately: a layer's `attn_qkv` when it has no `attn_q`, and an
/// `ffn_up` of twice the FFN width when it has no `ffn_gate` (Phi-3: gate
/// rows first, as llama.cpp's `LLM_FFN_SWIGLU` splits it).
/// Whether a tensor's ggml dims are `want`, trailing 1s aside (`[64, 1]` is `[64]`).
fn same_shape(got: &[u64], want: &[u64]) -> bool {
    let mut got = got;
    while got.len() > want.len() && got.last() == Some(&1) {
        got = &got[..got.len() - 1];
    }
    got == want
}

fn fused_views(h: &Header, c: &ModelConfig) -> Vec<TensorView> {
    use LayerTensor::*;
    let mut views = Vec::new();
    for (l, plan) in (0..c.n_layers).zip(&c.layers) {
        let name = |t: LayerTensor| t.gguf_name(l);
        let qkv = format!("blk.{l}.attn_qkv.weight");
        let f = plan.ffn_dim as u64;
        match plan.mixer {
            Mixer::Attention(a) if a.owns_kv(l as usize) && h.tensor(&name(AttnQ)).is_none() && h.tensor(&qkv).is_some() => {
                let (q, kv) = ((c.n_heads * a.head_dim) as u64, (c.n_kv_heads * a.head_dim) as u64);
                // Qwen3.5's query rows hold a gate row each (llama.cpp create_tensor_qkv with 2 · q_dim).
                let q = if a.output_gate { 2 * q } else { q };
                views.push(TensorView { source: qkv, parts: vec![(name(AttnQ), q), (name(AttnK), kv), (name(AttnV), kv)] });
            }
            _ => {}
        }
        let up = h.tensor(&name(FfnUp)).map(|(_, t)| t.dims.get(1).copied());
        if h.tensor(&name(FfnGate)).is_none() && up == Some(Some(2 * f)) {
            views.push(TensorView { source: name(FfnUp), parts: vec![(name(FfnGate), f), (name(FfnUp), f)] });
        }
    }
    views
}

/// EmbeddingGemma's dense projections after pooling, those the file holds
/// (llama.cpp `gemma-embedding.cpp`: `dense_2` [dim, dense_2_feat_out], then
/// `dense_3` [dense_3_feat_in, dim], each optional); a size key missing for
/// a tensor that is there, or sizes that do not chain, are refused by name.
fn dense_projections(h: &Header, key: &dyn Fn(&str) -> String, dim: u32) -> Result<Vec<DenseProjection>, ModelError> {
    let md = &h.metadata;
    let mut out = Vec::new();
    let mut width = dim;
    for (tensor, n, fixed_in) in [("dense_2.weight", "dense_2", true), ("dense_3.weight", "dense_3", false)] {
        if h.tensor(tensor).is_none() {
            continue;
        }
        let size = |k: &str| -> Result<u32, ModelError> {
            let k = key(&format!("{n}_{k}"));
            match md.require_u32(&k)? {
                0 => Err(ModelError::Config(format!("{k} is 0"))),
                v => Ok(v),
            }
        };
        // dense_2 reads the pooled vector (feat_in = dim); dense_3 gives it back (feat_out = dim).
        let (n_in, n_out) = if fixed_in { (dim, size("feat_out")?) } else { (size("feat_in")?, dim) };
        if n_in != width {
            return Err(ModelError::Config(format!("{} is {n_in}, but the vector it projects has {width} components", key(&format!("{n}_feat_in")))));
        }
        out.push(DenseProjection { tensor, n_in, n_out });
        width = n_out;
    }
    Ok(out)
}

/// BERT's input rows (llama.cpp `bert.cpp` and `nomic-bert.cpp`
/// load_arch_tensors): with `positions` (BERT), the position table has
/// `{arch}.context_length` rows; `token_types`, optional there, needs
/// `tokenizer.ggml.token_type_count` (llama.cpp refuses a file without the count).
fn encoder_input(h: &Header, key: &dyn Fn(&str) -> String, positions: bool) -> Result<EncoderInput, ModelError> {
    let md = &h.metadata;
    let n_positions = if positions {
        match md.require_u32(&key("context_length"))? {
            0 => return Err(ModelError::Config(format!("{} is 0", key("context_length")))),
            n => Some(n),
        }
    } else {
        None
    };
    let count = md.require_u32("tokenizer.ggml.token_type_count")?;
    if count == 0 {
        return Err(ModelError::Config("tokenizer.ggml.token_type_count is 0: BERT needs its token types".into()));
    }
    let token_types = if h.tensor(TOKEN_TYPES).is_some() { count } else { 0 };
    Ok(EncoderInput { n_positions, token_types })
}

/// Qwen3.5's Gated DeltaNet sizes from the `ssm.*` keys (llama.cpp
/// `llama-model.cpp` LLM_ARCH_QWEN35).
fn delta_net_dims(md: &crate::gguf::Metadata, key: &dyn Fn(&str) -> String) -> Result<DeltaNetDims, ModelError> {
    let req = |k: &str| -> Result<u32, ModelError> {
        match md.require_u32(&key(k))? {
            0 => Err(ModelError::Config(format!("{} is 0", key(k)))),
            v => Ok(v),
        }
    };
    let (n_k_heads, n_v_heads, head_k_dim, inner, conv_taps) = (req("ssm.group_count")?, req("ssm.time_step_rank")?, req("ssm.state_size")?, req("ssm.inner_size")?, req("ssm.conv_kernel")?);
    // llama.cpp sizes the value heads by ssm.state_size too.
    if inner != n_v_heads * head_k_dim {
        return Err(ModelError::Config(format!("{} {inner} is not {} {n_v_heads} × {} {head_k_dim}", key("ssm.inner_size"), key("ssm.time_step_rank"), key("ssm.state_size"))));
    }
    Ok(DeltaNetDims { n_k_heads, n_v_heads, head_k_dim, head_v_dim: inner / n_v_heads, conv_taps })
}

/// Which Qwen3.5 layers are Gated DeltaNet: `attention.recurrent_layers`
/// (one bool per layer), else all but every `full_attention_interval`-th
/// (layer l recurrent when (l + 1) % interval != 0; llama.cpp `llama-model.cpp`).
fn qwen35_recurrent_layers(md: &crate::gguf::Metadata, key: &dyn Fn(&str) -> String, n_layers: u32) -> Result<Vec<bool>, ModelError> {
    if let Some(v) = md.get_bool_array(&key("attention.recurrent_layers"))? {
        // A file with prediction layers may list them too; they are not run.
        if v.len() < n_layers as usize {
            return Err(ModelError::Config(format!("{} has {} entries for {n_layers} layers", key("attention.recurrent_layers"), v.len())));
        }
        return Ok(v[..n_layers as usize].to_vec());
    }
    let interval = md.get_u32(&key("full_attention_interval"))?.unwrap_or(4);
    if interval == 0 {
        return Err(ModelError::Config(format!("{} is 0", key("full_attention_interval"))));
    }
    Ok((0..n_layers).map(|l| (l + 1) % interval != 0).collect())
}

/// Gemma 4's per-layer hyper-parameters (llama.cpp `gemma4.cpp`
/// load_arch_hparams and `llama-model.cpp`'s generic keys): which layers are
/// sliding-window, each kind's head size, rotated dimensions and RoPE base,
/// and which layers read an earlier layer's KV cache.
struct Gemma4Layers {
    /// `attention.sliding_window_pattern`: true on a sliding-window layer.
    swa: Vec<bool>,
    /// `attention.key_length` (full layers) and `attention.key_length_swa`.
    head_dim: u32,
    head_dim_swa: u32,
    /// `rope.dimension_count` (default head_dim) and `rope.dimension_count_swa` (default the former).
    n_rot: u32,
    n_rot_swa: u32,
    /// `rope.freq_base_swa` (llama.cpp's default 10000).
    rope_base_swa: f32,
    /// Layers from this one on read an earlier layer's KV cache
    /// (n_layers − `attention.shared_kv_layers`).
    kv_from_start: u32,
    /// `embedding_length_per_layer_input`.
    per_layer_input: u32,
}

impl Gemma4Layers {
    fn read(md: &crate::gguf::Metadata, key: &dyn Fn(&str) -> String, n_layers: u32, head_dim: u32) -> Result<Self, ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        // The mixture-of-experts FFN (26B-A4B) is not run: refused by name.
        if let Some(n) = md.get_u32(&key("expert_count"))?.filter(|&n| n > 0) {
            return bad(format!("{} is {n}: Gemma 4's mixture-of-experts layers are not supported", key("expert_count")));
        }
        let swa = md.get_bool_array(&key("attention.sliding_window_pattern"))?.ok_or_else(|| ModelError::Gguf(crate::gguf::GgufError::MissingKey(key("attention.sliding_window_pattern"))))?;
        if swa.len() != n_layers as usize {
            return bad(format!("{} has {} entries for {n_layers} layers", key("attention.sliding_window_pattern"), swa.len()));
        }
        let head_dim_swa = md.get_u32(&key("attention.key_length_swa"))?.unwrap_or(head_dim);
        if let Some(v) = md.get_u32(&key("attention.value_length_swa"))? {
            if v != head_dim_swa {
                return bad(format!("value length {v} differs from key length {head_dim_swa} on sliding-window layers"));
            }
        }
        let n_rot = md.get_u32(&key("rope.dimension_count"))?.unwrap_or(head_dim);
        let n_rot_swa = md.get_u32(&key("rope.dimension_count_swa"))?.unwrap_or(n_rot);
        let shared = md.get_u32(&key("attention.shared_kv_layers"))?.unwrap_or(0);
        // llama.cpp asserts two layers with a cache of their own before the shared ones.
        let kv_from_start = match n_layers.checked_sub(shared) {
            Some(n) if shared == 0 || n >= 2 => n,
            _ => return bad(format!("{} is {shared} of {n_layers} layers", key("attention.shared_kv_layers"))),
        };
        let per_layer_input = md.get_u32(&key("embedding_length_per_layer_input"))?.ok_or_else(|| ModelError::Gguf(crate::gguf::GgufError::MissingKey(key("embedding_length_per_layer_input"))))?;
        if per_layer_input > 1 << 16 {
            return bad(format!("{} is {per_layer_input}", key("embedding_length_per_layer_input")));
        }
        let rope_base_swa = md.get_f32(&key("rope.freq_base_swa"))?.unwrap_or(10000.0);
        // Required by llama.cpp: a sliding-window layer without a window would attend to everything.
        if swa.iter().any(|&s| s) && md.require_u32(&key("attention.sliding_window"))? == 0 {
            return bad(format!("{} is 0", key("attention.sliding_window")));
        }
        Ok(Self { swa, head_dim, head_dim_swa, n_rot, n_rot_swa, rope_base_swa, kv_from_start, per_layer_input })
    }

    /// Layer `l`'s attention: a sliding-window layer takes the `_swa` head
    /// size, rotation and base (and no RoPE scaling), a full one the file's;
    /// a layer from `kv_from_start` on reads the cache of layer
    /// kv_from_start − 2 (sliding) or − 1 (full) (llama.cpp `llama-model.cpp`
    /// create_memory, the `reuse` rule of Gemma 3n and 4), which
    /// `ModelConfig::check_dims` checks is of the same kind.
    fn attention(&self, l: u32, c: &ModelConfig) -> LayerAttention {
        let swa = self.swa[l as usize];
        let kv_layer = if l >= self.kv_from_start { self.kv_from_start - if swa { 2 } else { 1 } } else { l };
        let base = LayerAttention { window: 0, rope: true, rope_base: c.rope_base, rope_scale: c.rope_scale, scale: c.attn_scale, output_gate: false, head_dim: self.head_dim, n_rot: self.n_rot, kv_layer, causal: c.causal };
        if swa {
            LayerAttention { window: c.sliding_window, rope_base: self.rope_base_swa, rope_scale: 1.0, head_dim: self.head_dim_swa, n_rot: self.n_rot_swa, ..base }
        } else {
            base
        }
    }
}

/// A hyper-parameter given once for every layer (a number) or per layer (an
/// array of `n_layers` numbers, as LFM2's `attention.head_count_kv`).
fn per_layer_u32(md: &crate::gguf::Metadata, key: &str, n_layers: u32) -> Result<Option<Vec<u32>>, ModelError> {
    if let Some(arr) = md.get_i64_array(key).ok().flatten() {
        if arr.len() != n_layers as usize {
            return Err(ModelError::Config(format!("{key} has {} entries for {n_layers} layers", arr.len())));
        }
        return arr
            .into_iter()
            .map(|v| u32::try_from(v).map_err(|_| ModelError::Config(format!("{key} holds {v}"))))
            .collect::<Result<Vec<_>, _>>()
            .map(Some);
    }
    Ok(md.get_u32(key)?.map(|n| vec![n; n_layers as usize]))
}
