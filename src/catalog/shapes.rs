//! The model shapes people run, from each model's published Hugging Face
//! `config.json` (`hidden_size`, `num_hidden_layers`, `num_attention_heads`,
//! `num_key_value_heads`, `head_dim`, `intermediate_size`, `vocab_size`,
//! `tie_word_embeddings`, `rope_theta`, `max_position_embeddings`), named
//! with llama.cpp's GGUF architecture names. Gemma 3 rows are the text model
//! of the multimodal checkpoints (`text_config`).

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
}

impl ShapeArch {
    pub fn name(self) -> &'static str {
        match self {
            ShapeArch::Llama => "llama",
            ShapeArch::Qwen2 => "qwen2",
            ShapeArch::Qwen3 => "qwen3",
            ShapeArch::Gemma3 => "gemma3",
            ShapeArch::Phi3 => "phi3",
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
    /// layer l is global when l % 6 == 5 (`sliding_window_pattern` 6).
    pub sliding_window: u32,
}

impl Shape {
    pub fn q_dim(&self) -> u64 {
        self.n_heads as u64 * self.head_dim as u64
    }

    pub fn kv_dim(&self) -> u64 {
        self.n_kv_heads as u64 * self.head_dim as u64
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

const fn phi3(mut s: Shape, n_rot: u32) -> Shape {
    s.rope_scaling = RopeScaling::LongRope;
    s.n_rot = n_rot;
    s.rms_eps = 1e-5;
    s
}

use ShapeArch::{Gemma3, Llama, Phi3, Qwen2, Qwen3};

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
];

/// The shape with this catalog name.
pub fn find(name: &str) -> Option<&'static Shape> {
    SHAPES.iter().find(|s| s.name == name)
}
