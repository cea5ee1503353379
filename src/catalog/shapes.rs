//! The model shapes people run, from each model's published Hugging Face
//! `config.json` (`hidden_size`, `num_hidden_layers`, `num_attention_heads`,
//! `num_key_value_heads`, `head_dim`, `intermediate_size`, `vocab_size`,
//! `tie_word_embeddings`, `rope_theta`, `max_position_embeddings`), named
//! with llama.cpp's GGUF architecture names. Gemma 3, Gemma 4 and Qwen3.5
//! rows are the text model of the multimodal checkpoints (`text_config`).
//! Layers that are not plain attention (Qwen3.5's Gated DeltaNet, LFM2's
//! short convolutions, Gemma 4's KV-sharing and per-layer inputs) are
//! described by [`Hybrid`], read the way llama.cpp's converter reads the
//! config (`conversion/qwen.py`, `lfm2.py`, `gemma.py`).

/// A GGUF architecture as llama.cpp names it (`general.architecture`), with
/// the tensor layout each one has in a GGUF file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeArch {
    /// `llama`: q/k/v/output + gate/up/down per layer.
    Llama,
    /// `qwen2`: llama's layout plus q/k/v biases.
    Qwen2,
    /// `qwen3`: llama's layout plus per-head q/k RMSNorms.
    Qwen3,
    /// `gemma3`: qwen3's layout plus post-attention and post-FFN norms.
    Gemma3,
    /// `phi3`: fused `attn_qkv` and fused gate+up in `ffn_up` (2 × ffn rows).
    Phi3,
    /// `qwen35`: Gated DeltaNet layers and gated attention layers ([`Hybrid::DeltaNet`]).
    Qwen35,
    /// `lfm2`: short-convolution layers and attention layers with QK norms ([`Hybrid::ShortConv`]).
    Lfm2,
    /// `smollm3`: llama's layout (llama.cpp skips RoPE on every 4th layer).
    SmolLM3,
    /// `gemma4`: per-layer inputs, KV-sharing layers, two head sizes ([`Hybrid::Gemma4`]).
    Gemma4,
}

impl ShapeArch {
    pub fn name(self) -> &'static str {
        match self {
            ShapeArch::Llama => "llama",
            ShapeArch::Qwen2 => "qwen2",
            ShapeArch::Qwen3 => "qwen3",
            ShapeArch::Gemma3 => "gemma3",
            ShapeArch::Phi3 => "phi3",
            ShapeArch::Qwen35 => "qwen35",
            ShapeArch::Lfm2 => "lfm2",
            ShapeArch::SmolLM3 => "smollm3",
            ShapeArch::Gemma4 => "gemma4",
        }
    }
}

/// RoPE frequency scaling, as the GGUF file carries it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Llama 3.1+ (`rope_scaling.rope_type == "llama3"`): a `rope_freqs.weight`
    /// tensor of head_dim / 2 factors.
    Llama3,
    /// `rope.scaling.type = "linear"` with this factor (Gemma 3 4B/12B global layers).
    Linear(f32),
    /// Phi-3 "longrope": `rope_factors_long.weight` / `rope_factors_short.weight`
    /// tensors of n_rot / 2 factors each.
    LongRope,
}

/// Qwen3.5's Gated DeltaNet (`linear_*` config keys; GGUF `ssm.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeltaNet {
    /// `full_attention_interval`: layer l attends when (l + 1) % interval == 0.
    pub full_attention_interval: u32,
    /// `linear_num_key_heads` (`ssm.group_count`).
    pub n_k_heads: u32,
    /// `linear_num_value_heads` (`ssm.time_step_rank`).
    pub n_v_heads: u32,
    /// `linear_key_head_dim` (`ssm.state_size`).
    pub head_k_dim: u32,
    /// `linear_value_head_dim` (`ssm.inner_size` = n_v_heads × this).
    pub head_v_dim: u32,
    /// `linear_conv_kernel_dim` (`ssm.conv_kernel`).
    pub conv_kernel: u32,
    /// `rope_parameters.mrope_section` + a 0 (`rope.dimension_sections`).
    pub mrope_sections: [i32; 4],
}

impl DeltaNet {
    /// Key (and query) width: n_k_heads × head_k_dim.
    pub fn key_dim(&self) -> u64 {
        self.n_k_heads as u64 * self.head_k_dim as u64
    }

    /// Value (and output, gate) width: n_v_heads × head_v_dim (`ssm.inner_size`).
    pub fn inner(&self) -> u64 {
        self.n_v_heads as u64 * self.head_v_dim as u64
    }

    /// Channels of the conv in front of the delta rule: q | k | v.
    pub fn conv_channels(&self) -> u64 {
        2 * self.key_dim() + self.inner()
    }
}

/// Gemma 4's per-layer structure (`text_config` keys; conversion/gemma.py `Gemma4Model`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemma4 {
    /// `layer_types` as a period: layer l is full attention when l % period == period − 1,
    /// else sliding-window attention.
    pub swa_period: u32,
    /// `head_dim` of the sliding layers (the shape's `head_dim` is `global_head_dim`).
    pub head_dim_swa: u32,
    /// `hidden_size_per_layer_input`.
    pub per_layer_dim: u32,
    /// `num_kv_shared_layers`: the last this many layers reuse earlier layers' K and V.
    pub shared_kv_layers: u32,
    /// `use_double_wide_mlp`: the KV-sharing layers have 2 × intermediate_size.
    pub double_wide_ffn: bool,
    /// `rope_parameters.sliding_attention.rope_theta`.
    pub rope_base_swa: f32,
    /// `rope_parameters.full_attention.partial_rotary_factor` (`rope_freqs.weight`
    /// marks the unrotated pairs).
    pub partial_rotary_full: f32,
    /// `final_logit_softcapping`.
    pub final_logit_softcap: f32,
}

/// What the layers hold besides plain attention.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Hybrid {
    None,
    /// Qwen3.5: Gated DeltaNet layers, attention every `full_attention_interval`-th layer.
    DeltaNet(DeltaNet),
    /// LFM2: attention at these layers (`layer_types`), short convolutions of
    /// `l_cache` taps (`conv_L_cache`) elsewhere.
    ShortConv { l_cache: u32, attention_layers: &'static [u32] },
    Gemma4(Gemma4),
}

/// One model's shape: everything that sizes its tensors and KV cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Catalog name (`llama-3.1-8b`).
    pub name: &'static str,
    pub arch: ShapeArch,
    /// hidden_size.
    pub dim: u32,
    pub n_layers: u32,
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    /// intermediate_size.
    pub ffn_dim: u32,
    /// Rows of token_embd (vocab_size of the config, padding included).
    pub vocab: u32,
    /// No `output.weight`: logits reuse token_embd.
    pub tied_embeddings: bool,
    pub rope_theta: f32,
    pub rope_scaling: RopeScaling,
    /// Dimensions of each head that RoPE rotates (head_dim × partial_rotary_factor).
    pub n_rot: u32,
    /// max_position_embeddings.
    pub context: u32,
    pub rms_eps: f32,
    /// Window of the sliding-window layers (0: every layer is global). Gemma 3:
    /// layer l is global when l % 6 == 5 (`sliding_window_pattern` 6);
    /// Gemma 4: see [`Gemma4::swa_period`].
    pub sliding_window: u32,
    /// Layers that are not plain attention.
    pub hybrid: Hybrid,
    /// LongRoPE: `original_max_position_embeddings` (0 without LongRoPE).
    pub rope_original_context: u32,
}

impl Shape {
    pub fn q_dim(&self) -> u64 {
        self.n_heads as u64 * self.head_dim as u64
    }

    pub fn kv_dim(&self) -> u64 {
        self.n_kv_heads as u64 * self.head_dim as u64
    }

    /// Whether layer `l` is an attention layer (else a recurrent one:
    /// Gated DeltaNet or short convolution).
    pub fn is_attention(&self, l: u32) -> bool {
        match self.hybrid {
            Hybrid::DeltaNet(d) => (l + 1) % d.full_attention_interval == 0,
            Hybrid::ShortConv { attention_layers, .. } => attention_layers.contains(&l),
            Hybrid::None | Hybrid::Gemma4(_) => true,
        }
    }

    /// Gemma 4: whether layer `l` attends over a sliding window.
    pub fn is_sliding(&self, l: u32) -> bool {
        match self.hybrid {
            Hybrid::Gemma4(g) => l % g.swa_period != g.swa_period - 1,
            _ => false,
        }
    }

    /// Head size of layer `l`'s attention.
    pub fn layer_head_dim(&self, l: u32) -> u32 {
        match self.hybrid {
            Hybrid::Gemma4(g) if self.is_sliding(l) => g.head_dim_swa,
            _ => self.head_dim,
        }
    }

    /// Whether layer `l` computes and caches its own K and V (not a
    /// recurrent layer, not a Gemma 4 KV-sharing layer).
    pub fn has_kv(&self, l: u32) -> bool {
        match self.hybrid {
            Hybrid::Gemma4(g) => l < self.n_layers - g.shared_kv_layers,
            _ => self.is_attention(l),
        }
    }

    /// FFN width of layer `l` (Gemma 4's KV-sharing layers are double wide).
    pub fn layer_ffn_dim(&self, l: u32) -> u32 {
        match self.hybrid {
            Hybrid::Gemma4(g) if g.double_wide_ffn && !self.has_kv(l) => 2 * self.ffn_dim,
            _ => self.ffn_dim,
        }
    }

    /// K + V elements one position adds to the caches, over every layer that
    /// has its own cache.
    pub fn kv_elements_per_token(&self) -> u64 {
        (0..self.n_layers).filter(|&l| self.has_kv(l)).map(|l| 2 * self.n_kv_heads as u64 * self.layer_head_dim(l) as u64).sum()
    }

    /// f32 elements of the fixed recurrent state (independent of the context):
    /// a short-conv layer keeps its last l_cache − 1 inputs (dim wide); a
    /// Gated DeltaNet layer its last conv_kernel − 1 conv inputs plus a
    /// (n_v_heads, head_v_dim, head_k_dim) delta-rule state (`model::State`).
    pub fn recurrent_state_elements(&self) -> u64 {
        let per_layer = match self.hybrid {
            Hybrid::ShortConv { l_cache, .. } => (l_cache as u64 - 1) * self.dim as u64,
            Hybrid::DeltaNet(d) => (d.conv_kernel as u64 - 1) * d.conv_channels() + d.inner() * d.head_k_dim as u64,
            Hybrid::None | Hybrid::Gemma4(_) => 0,
        };
        (0..self.n_layers).filter(|&l| !self.is_attention(l)).count() as u64 * per_layer
    }
}

/// `Shape` with the defaults most rows share (head_dim = dim / heads, full RoPE).
const fn shape(name: &'static str, arch: ShapeArch, dim: u32, n_layers: u32, n_heads: u32, n_kv_heads: u32, ffn_dim: u32, vocab: u32, tied_embeddings: bool, rope_theta: f32, context: u32) -> Shape {
    Shape {
        name,
        arch,
        dim,
        n_layers,
        n_heads,
        n_kv_heads,
        head_dim: dim / n_heads,
        ffn_dim,
        vocab,
        tied_embeddings,
        rope_theta,
        rope_scaling: RopeScaling::None,
        n_rot: dim / n_heads,
        context,
        rms_eps: 1e-6,
        sliding_window: 0,
        hybrid: Hybrid::None,
        rope_original_context: 0,
    }
}

const fn head_dim(mut s: Shape, head_dim: u32) -> Shape {
    s.head_dim = head_dim;
    s.n_rot = head_dim;
    s
}

const fn eps(mut s: Shape, rms_eps: f32) -> Shape {
    s.rms_eps = rms_eps;
    s
}

const fn llama3(mut s: Shape) -> Shape {
    s.rope_scaling = RopeScaling::Llama3;
    s.rms_eps = 1e-5;
    s
}

const fn gemma3(mut s: Shape, window: u32, rope_scaling: RopeScaling) -> Shape {
    s.sliding_window = window;
    s.rope_scaling = rope_scaling;
    s
}

/// Phi-3.5-mini / Phi-4-mini: LongRoPE from `original_max_position_embeddings`
/// 4096, `sliding_window` 262144 (written as is by conversion/phi.py).
const fn phi3(mut s: Shape, n_rot: u32) -> Shape {
    s.rope_scaling = RopeScaling::LongRope;
    s.n_rot = n_rot;
    s.rms_eps = 1e-5;
    s.rope_original_context = 4096;
    s.sliding_window = 262144;
    s
}

/// Qwen3.5 (`conversion/qwen.py` Qwen3NextModel): head_dim 256, a quarter of
/// it rotated (`partial_rotary_factor` 0.25), ε 1e-6, attention every 4th
/// layer, conv kernel 4, IMRoPE sections [11, 11, 10], rope_theta 1e7,
/// 262144 positions, vocabulary 248320.
const fn qwen35(name: &'static str, dim: u32, n_layers: u32, n_heads: u32, n_kv_heads: u32, ffn_dim: u32, tied: bool, n_k_heads: u32, n_v_heads: u32) -> Shape {
    let mut s = shape(name, Qwen35, dim, n_layers, n_heads, n_kv_heads, ffn_dim, 248320, tied, 10000000.0, 262144);
    s.head_dim = 256;
    s.n_rot = 64;
    s.hybrid = Hybrid::DeltaNet(DeltaNet { full_attention_interval: 4, n_k_heads, n_v_heads, head_k_dim: 128, head_v_dim: 128, conv_kernel: 4, mrope_sections: [11, 11, 10, 0] });
    s
}

/// LFM2's ffn width (`conversion/lfm2.py` `_add_feed_forward_length`): with
/// `block_auto_adjust_ff_dim`, 2/3 of block_ff_dim (× multiplier 1.0) rounded
/// up to `block_multiple_of` 256.
const fn lfm2_ff(block_ff_dim: u32) -> u32 {
    (2 * block_ff_dim / 3).div_ceil(256) * 256
}

/// LFM2 / LFM2.5: head_dim 64, ε 1e-5, rope_theta 1e6, tied, vocabulary
/// 65536, 128000 positions, `conv_L_cache` 3.
const fn lfm2(name: &'static str, dim: u32, n_layers: u32, n_heads: u32, ffn_dim: u32, attention_layers: &'static [u32]) -> Shape {
    let mut s = shape(name, Lfm2, dim, n_layers, n_heads, 8, ffn_dim, 65536, true, 1000000.0, 128000);
    s.rms_eps = 1e-5;
    s.hybrid = Hybrid::ShortConv { l_cache: 3, attention_layers };
    s
}

/// `layer_types` of the 16-layer LFM2 / LFM2.5 models: attention at these layers.
const LFM2_16_ATTENTION: &[u32] = &[2, 5, 8, 10, 12, 14];
/// `layer_types` of LFM2-2.6B (30 layers).
const LFM2_30_ATTENTION: &[u32] = &[2, 5, 9, 13, 17, 21, 24, 27];

/// Gemma 4 E2B / E4B (`text_config`): sliding head_dim 256, full
/// (`global_head_dim`) 512, window 512, rope_theta 1e6 (full) / 1e4
/// (sliding), partial_rotary_factor 0.25 on full layers, 1e-6, tied,
/// vocabulary 262144, 131072 positions, per-layer inputs 256 wide, final
/// logit soft-cap 30.
const fn gemma4(name: &'static str, dim: u32, n_layers: u32, n_kv_heads: u32, ffn_dim: u32, swa_period: u32, shared_kv_layers: u32, double_wide_ffn: bool) -> Shape {
    let mut s = shape(name, G4, dim, n_layers, 8, n_kv_heads, ffn_dim, 262144, true, 1000000.0, 131072);
    s.head_dim = 512;
    s.n_rot = 512; // the converter writes head_dim_full; rope_freqs.weight leaves 3/4 of the pairs unrotated
    s.sliding_window = 512;
    s.hybrid = Hybrid::Gemma4(Gemma4 { swa_period, head_dim_swa: 256, per_layer_dim: 256, shared_kv_layers, double_wide_ffn, rope_base_swa: 10000.0, partial_rotary_full: 0.25, final_logit_softcap: 30.0 });
    s
}

use ShapeArch::{Gemma3, Gemma4 as G4, Lfm2, Llama, Phi3, Qwen2, Qwen3, Qwen35, SmolLM3};

/// Every shape, smallest families first. Values from each model's config.json.
pub const SHAPES: &[Shape] = &[
    // A small llama for tests: loads and generates in seconds on a CPU Vulkan device.
    eps(shape("tiny", Llama, 256, 2, 4, 2, 768, 1024, false, 10000.0, 2048), 1e-5),
    // HuggingFaceTB/SmolLM2-135M-Instruct
    eps(shape("smollm2-135m", Llama, 576, 30, 9, 3, 1536, 49152, true, 100000.0, 8192), 1e-5),
    // meta-llama/Llama-3.2-1B, Llama-3.2-3B, Llama-3.1-8B (rope_scaling llama3, factor 32 / 8)
    llama3(shape("llama-3.2-1b", Llama, 2048, 16, 32, 8, 8192, 128256, true, 500000.0, 131072)),
    llama3(shape("llama-3.2-3b", Llama, 3072, 28, 24, 8, 8192, 128256, true, 500000.0, 131072)),
    llama3(shape("llama-3.1-8b", Llama, 4096, 32, 32, 8, 14336, 128256, false, 500000.0, 131072)),
    // Qwen/Qwen2.5-{0.5B,1.5B,3B,7B,14B}-Instruct
    shape("qwen2.5-0.5b", Qwen2, 896, 24, 14, 2, 4864, 151936, true, 1000000.0, 32768),
    shape("qwen2.5-1.5b", Qwen2, 1536, 28, 12, 2, 8960, 151936, true, 1000000.0, 32768),
    shape("qwen2.5-3b", Qwen2, 2048, 36, 16, 2, 11008, 151936, true, 1000000.0, 32768),
    shape("qwen2.5-7b", Qwen2, 3584, 28, 28, 4, 18944, 152064, false, 1000000.0, 32768),
    shape("qwen2.5-14b", Qwen2, 5120, 48, 40, 8, 13824, 152064, false, 1000000.0, 32768),
    // deepseek-ai/DeepSeek-R1-Distill-Qwen-7B: Qwen2.5-Math-7B's shape, rope_theta 10000, 128K context.
    shape("deepseek-r1-distill-qwen-7b", Qwen2, 3584, 28, 28, 4, 18944, 152064, false, 10000.0, 131072),
    // Qwen/Qwen3-{0.6B,1.7B,4B,8B} (head_dim 128 whatever the width)
    head_dim(shape("qwen3-0.6b", Qwen3, 1024, 28, 16, 8, 3072, 151936, true, 1000000.0, 40960), 128),
    head_dim(shape("qwen3-1.7b", Qwen3, 2048, 28, 16, 8, 6144, 151936, true, 1000000.0, 40960), 128),
    head_dim(shape("qwen3-4b", Qwen3, 2560, 36, 32, 8, 9728, 151936, true, 1000000.0, 40960), 128),
    head_dim(shape("qwen3-8b", Qwen3, 4096, 36, 32, 8, 12288, 151936, false, 1000000.0, 40960), 128),
    // google/gemma-3-{1b-it, 4b-it, 12b-it} (text_config; head_dim 256, local RoPE base 10000)
    gemma3(head_dim(shape("gemma-3-1b", Gemma3, 1152, 26, 4, 1, 6912, 262144, true, 1000000.0, 32768), 256), 512, RopeScaling::None),
    gemma3(head_dim(shape("gemma-3-4b", Gemma3, 2560, 34, 8, 4, 10240, 262208, true, 1000000.0, 131072), 256), 1024, RopeScaling::Linear(8.0)),
    gemma3(head_dim(shape("gemma-3-12b", Gemma3, 3840, 48, 16, 8, 15360, 262208, true, 1000000.0, 131072), 256), 1024, RopeScaling::Linear(8.0)),
    // mistralai/Mistral-7B-Instruct-v0.3
    eps(shape("mistral-7b-v0.3", Llama, 4096, 32, 32, 8, 14336, 32768, false, 1000000.0, 32768), 1e-5),
    // microsoft/Phi-3.5-mini-instruct (longrope), microsoft/Phi-4-mini-instruct (partial_rotary_factor 0.75)
    phi3(shape("phi-3.5-mini", Phi3, 3072, 32, 32, 32, 8192, 32064, false, 10000.0, 131072), 96),
    phi3(shape("phi-4-mini", Phi3, 3072, 32, 24, 8, 8192, 200064, true, 10000.0, 131072), 96),
    // Qwen/Qwen3.5-{0.8B,2B,4B,9B} (text_config; model cards' "Model Overview" and
    // the 0.8B config.json): Gated DeltaNet 16 QK heads × 128 and 16 (0.8B, 2B) or
    // 32 (4B, 9B) V heads × 128; gated attention 8/2, 8/2, 16/4, 16/4 heads × 256.
    // 9B's LM output is untied ("248320 (Padded)"), the others tie it.
    qwen35("qwen3.5-0.8b", 1024, 24, 8, 2, 3584, true, 16, 16),
    qwen35("qwen3.5-2b", 2048, 24, 8, 2, 6144, true, 16, 16),
    qwen35("qwen3.5-4b", 2560, 32, 16, 4, 9216, true, 16, 32),
    qwen35("qwen3.5-9b", 4096, 32, 16, 4, 12288, false, 16, 32),
    // google/gemma-4-E2B-it: 35 layers, 1 KV head, ffn 6144 (12288 on the 20
    // KV-sharing layers, use_double_wide_mlp), layer_types (4 sliding, 1 full) × 7.
    gemma4("gemma-4-e2b", 1536, 35, 1, 6144, 5, 20, true),
    // google/gemma-4-E4B-it: 42 layers, 2 KV heads, ffn 10240, 18 KV-sharing
    // layers, no double-wide MLP, layer_types (5 sliding, 1 full) × 7.
    gemma4("gemma-4-e4b", 2560, 42, 2, 10240, 6, 18, false),
    // HuggingFaceTB/SmolLM3-3B: llama layout, NoPE every 4th layer (no_rope_layer_interval 4).
    shape("smollm3-3b", SmolLM3, 2048, 36, 16, 4, 11008, 128256, true, 5000000.0, 65536),
    // LiquidAI/LFM2-{350M,700M,1.2B} (block_ff_dim 6656 / 10240 / 12288, auto-adjusted),
    // LiquidAI/LFM2.5-1.2B-Instruct (LFM2-1.2B's shape), LiquidAI/LFM2-2.6B (block_ff_dim
    // 10752, not adjusted; 30 layers).
    lfm2("lfm2-350m", 1024, 16, 16, lfm2_ff(6656), LFM2_16_ATTENTION),
    lfm2("lfm2-700m", 1536, 16, 24, lfm2_ff(10240), LFM2_16_ATTENTION),
    lfm2("lfm2-1.2b", 2048, 16, 32, lfm2_ff(12288), LFM2_16_ATTENTION),
    lfm2("lfm2.5-1.2b", 2048, 16, 32, lfm2_ff(12288), LFM2_16_ATTENTION),
    lfm2("lfm2-2.6b", 2048, 30, 32, 10752, LFM2_30_ATTENTION),
];

/// Shapes of the tiny llama.cpp-made references in tests/reference/tiny/
/// (scripts/reference/make_tiny_arch.py: dim 256, FFN 768, 4 heads / 2 KV heads,
/// 512 positions, vocabulary 1024, untied output): `tabllm synth` writes them so
/// their headers can be compared with the references and the files run in
/// seconds. Found by name, not listed in the catalog tables.
pub const TINY_SHAPES: &[Shape] = &[
    {
        let mut s = shape("tiny-qwen35", Qwen35, 256, 4, 4, 2, 768, 1024, false, 10000000.0, 512);
        s.head_dim = 64;
        s.n_rot = 16;
        s.hybrid = Hybrid::DeltaNet(DeltaNet { full_attention_interval: 4, n_k_heads: 2, n_v_heads: 4, head_k_dim: 64, head_v_dim: 64, conv_kernel: 4, mrope_sections: [3, 3, 2, 0] });
        s
    },
    {
        let mut s = shape("tiny-lfm2", Lfm2, 256, 4, 4, 2, 768, 1024, false, 1000000.0, 512);
        s.rms_eps = 1e-5;
        s.hybrid = Hybrid::ShortConv { l_cache: 3, attention_layers: &[1, 3] };
        s
    },
    shape("tiny-smollm3", SmolLM3, 256, 4, 4, 2, 768, 1024, false, 5000000.0, 512),
    {
        let mut s = phi3(shape("tiny-phi3", Phi3, 256, 2, 4, 2, 768, 1024, false, 10000.0, 512), 48);
        s.rope_original_context = 128;
        s.sliding_window = 0;
        s
    },
    {
        let mut s = shape("tiny-gemma4", G4, 256, 4, 4, 2, 512, 1024, false, 1000000.0, 512);
        s.head_dim = 128;
        s.n_rot = 128;
        s.sliding_window = 8;
        s.hybrid = Hybrid::Gemma4(Gemma4 { swa_period: 2, head_dim_swa: 64, per_layer_dim: 64, shared_kv_layers: 2, double_wide_ffn: true, rope_base_swa: 10000.0, partial_rotary_full: 0.25, final_logit_softcap: 30.0 });
        s
    },
];

/// The shape with this catalog name (or a [`TINY_SHAPES`] name).
pub fn find(name: &str) -> Option<&'static Shape> {
    SHAPES.iter().chain(TINY_SHAPES).find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LFM2's widths as its configs give them (`intermediate_size` after
    /// auto-adjustment): 350M 4608, 1.2B 8192.
    #[test]
    fn lfm2_ffn_widths_follow_the_converter() {
        assert_eq!([lfm2_ff(6656), lfm2_ff(10240), lfm2_ff(12288)], [4608, 6912, 8192]);
    }

    /// Which layers attend and cache K and V, per family's layer pattern.
    #[test]
    fn layer_patterns() {
        let q = find("qwen3.5-2b").unwrap();
        assert_eq!((0..q.n_layers).filter(|&l| q.is_attention(l)).collect::<Vec<_>>(), [3, 7, 11, 15, 19, 23]);
        // 6 attention layers × 2 × 2 KV heads × 256.
        assert_eq!(q.kv_elements_per_token(), 6 * 2 * 2 * 256);
        // 18 DeltaNet layers × (3 conv inputs of 6144 channels + 16 × 128 × 128).
        assert_eq!(q.recurrent_state_elements(), 18 * (3 * 6144 + 16 * 128 * 128));
        let l = find("lfm2-350m").unwrap();
        assert_eq!((0..l.n_layers).filter(|&i| !l.is_attention(i)).count(), 10);
        assert_eq!(l.recurrent_state_elements(), 10 * 2 * 1024);
        let g = find("gemma-4-e2b").unwrap();
        // Layers 0..15 cache K and V: 12 sliding (256) and 3 full (4, 9, 14; 512), 1 KV head.
        assert_eq!((0..15).filter(|&i| !g.is_sliding(i)).collect::<Vec<_>>(), [4, 9, 14]);
        assert_eq!(g.kv_elements_per_token(), 2 * (12 * 256 + 3 * 512));
        assert_eq!((g.layer_ffn_dim(14), g.layer_ffn_dim(15), g.has_kv(15)), (6144, 12288, false));
        assert!(SHAPES.iter().chain(TINY_SHAPES).all(|s| find(s.name) == Some(s)), "names are unique");
    }
}
