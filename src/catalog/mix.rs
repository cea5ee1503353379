//! Quantization mixes and llama.cpp's per-tensor type choice for each.
//!
//! A port of `llama_tensor_get_type` / `llama_tensor_get_type_impl` and
//! `tensor_type_fallback` in llama.cpp's `src/llama-quant.cpp`
//! (ggml-org/llama.cpp, read at commit 007dbbf3), for the mixes below and
//! dense models (one expert, no imatrix, no overrides). Rules of that
//! function that cannot fire for these mixes are left out; one that could and
//! is not ported: the 70B bump of attn_v to Q5_K (`LLM_TYPE_70B`), as the
//! catalog has no 70B shape.

use crate::quant::GgmlType;

/// A llama.cpp file type (`llama_ftype`), the name `llama-quantize` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantMix {
    Q4_0,
    Q8_0,
    Q4KM,
    Q5KM,
    Q6K,
}

impl QuantMix {
    pub const ALL: [QuantMix; 5] = [QuantMix::Q4_0, QuantMix::Q8_0, QuantMix::Q4KM, QuantMix::Q5KM, QuantMix::Q6K];

    /// The lower-case name used in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            QuantMix::Q4_0 => "q4_0",
            QuantMix::Q8_0 => "q8_0",
            QuantMix::Q4KM => "q4_k_m",
            QuantMix::Q5KM => "q5_k_m",
            QuantMix::Q6K => "q6_k",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// `general.file_type` (`LLAMA_FTYPE_MOSTLY_*` in llama.h).
    pub fn file_type(self) -> u32 {
        match self {
            QuantMix::Q4_0 => 2,
            QuantMix::Q8_0 => 7,
            QuantMix::Q4KM => 15,
            QuantMix::Q5KM => 17,
            QuantMix::Q6K => 18,
        }
    }

    /// `llama_ftype_get_default_type`.
    pub fn default_type(self) -> GgmlType {
        match self {
            QuantMix::Q4_0 => GgmlType::Q4_0,
            QuantMix::Q8_0 => GgmlType::Q8_0,
            QuantMix::Q4KM => GgmlType::Q4K,
            QuantMix::Q5KM => GgmlType::Q5K,
            QuantMix::Q6K => GgmlType::Q6K,
        }
    }
}

/// `tensor_category` in llama-quant.cpp: broad roles by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    AttentionQkv,
    AttentionV,
    FfnDown,
    Output,
    Other,
}

/// `tensor_get_category`, for the categories these mixes act on.
fn category(name: &str) -> Category {
    if name == "output.weight" {
        Category::Output
    } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        Category::TokenEmbd
    } else if name.contains("attn_qkv.weight") || name.contains("attn_kv_b.weight") {
        Category::AttentionQkv
    } else if name.contains("attn_v.weight") {
        Category::AttentionV
    } else if name.contains("ffn_down") {
        Category::FfnDown
    } else {
        Category::Other
    }
}

/// `tensor_allows_quantization` for the tensors of dense text models: 2-D
/// (or more) tensors whose name ends in "weight", except norms, Gemma 4's
/// `per_layer_model_proj` ("not too big"), and the small conv kernels of
/// Qwen3.5 (`ssm_conv1d`) and LFM2 (`shortconv.conv.weight`), which stay in
/// the converter's type.
fn allows_quantization(name: &str, n_dims: usize) -> bool {
    n_dims >= 2
        && name.ends_with("weight")
        && !name.contains("_norm.weight")
        && !name.contains("per_layer_model_proj")
        && !name.contains("ssm_conv1d")
        && !name.contains("shortconv.conv.weight")
}

/// `use_more_bits` in `llama_tensor_get_type_impl`: the first and last
/// eighth of the layers and every third layer in between.
pub fn use_more_bits(i_layer: i64, n_layers: i64) -> bool {
    i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8).rem_euclid(3) == 2
}

/// The mix cannot store a tensor: llama.cpp throws here too.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tensor `{tensor}`: a row of {ncols} is not a whole number of {ty} blocks and llama.cpp has no fallback type for {ty}")]
pub struct NoFallback {
    pub tensor: String,
    pub ncols: u64,
    pub ty: GgmlType,
}

/// llama.cpp's quantization state (`quantize_state_impl`): counters that
/// advance as tensors are visited, so tensors must be passed in the order
/// llama.cpp visits them (its `weights_map` order: see `catalog::plan`).
pub struct TypeChooser {
    mix: QuantMix,
    /// `has_tied_embeddings`: no `output.weight` among the tensors.
    tied: bool,
    n_attention_wv: i64,
    i_attention_wv: i64,
    /// `n_ffn_down` = `hparams.n_layer_all`.
    n_layer: i64,
    i_ffn_down: i64,
}

impl TypeChooser {
    /// `init_quantize_state_counters` over the names of every tensor.
    pub fn new<'a>(mix: QuantMix, n_layer: u32, names: impl IntoIterator<Item = &'a str>) -> Self {
        let (mut tied, mut n_attention_wv) = (true, 0);
        for name in names {
            match category(name) {
                Category::AttentionV | Category::AttentionQkv => n_attention_wv += 1,
                Category::Output => tied = false,
                _ => {}
            }
        }
        Self { mix, tied, n_attention_wv, i_attention_wv: 0, n_layer: n_layer as i64, i_ffn_down: 0 }
    }

    /// `llama_tensor_get_type` for the next tensor. `dims` in ggml order
    /// (`dims[0]` = ne[0], the row length); `source` is its type before
    /// quantizing (F32 for every tensor a converter writes here).
    pub fn choose(&mut self, name: &str, dims: &[u64], source: GgmlType) -> Result<GgmlType, NoFallback> {
        if !allows_quantization(name, dims.len()) {
            return Ok(source);
        }
        let ncols = dims[0];
        let mix = self.mix;
        let k_mix = matches!(mix, QuantMix::Q4KM | QuantMix::Q5KM);
        let mut new_type = mix.default_type();
        // llama_tensor_get_type_impl
        let cat = category(name);
        if cat == Category::Output || (self.tied && cat == Category::TokenEmbd) {
            // Tied embeddings are quantized as the output tensor.
            if ncols % new_type.block_elems() != 0 {
                new_type = GgmlType::Q8_0;
            } else if new_type != GgmlType::Q8_0 {
                new_type = GgmlType::Q6K;
            }
        } else if cat == Category::TokenEmbd {
            // Only the IQ*/TQ* mixes change token_embd.
        } else if matches!(cat, Category::AttentionV | Category::AttentionQkv) {
            if k_mix && use_more_bits(self.i_attention_wv, self.n_attention_wv) {
                new_type = GgmlType::Q6K;
            }
            self.i_attention_wv += 1;
        } else if cat == Category::FfnDown {
            // One expert: the layer is the count of ffn_down tensors seen.
            if k_mix && use_more_bits(self.i_ffn_down, self.n_layer) {
                new_type = GgmlType::Q6K;
            }
            self.i_ffn_down += 1;
        }
        fallback(name, ncols, new_type)
    }
}

/// `tensor_type_fallback`: a type whose block does not divide the row length
/// is replaced by a 32-wide one, and by F16 when even that does not fit.
fn fallback(name: &str, ncols: u64, ty: GgmlType) -> Result<GgmlType, NoFallback> {
    if ncols % ty.block_elems() == 0 {
        return Ok(ty);
    }
    let to = match ty {
        GgmlType::Q2K | GgmlType::Q3K | GgmlType::TQ1_0 | GgmlType::TQ2_0 => GgmlType::Q4_0,
        GgmlType::Q4K => GgmlType::Q5_0,
        GgmlType::Q5K => GgmlType::Q5_1,
        GgmlType::Q6K => GgmlType::Q8_0,
        _ => return Err(NoFallback { tensor: name.to_string(), ncols, ty }),
    };
    Ok(if ncols % to.block_elems() == 0 { to } else { GgmlType::F16 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_more_bits_for_28_layers() {
        // n/8 = 3, 7n/8 = 24: layers 0..3, 24..28, and 5, 8, 11, ..., 23.
        let more: Vec<i64> = (0..28).filter(|&i| use_more_bits(i, 28)).collect();
        assert_eq!(more, vec![0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27]);
    }

    #[test]
    fn fallback_follows_llama_cpp() {
        assert_eq!(fallback("x", 896, GgmlType::Q4K), Ok(GgmlType::Q5_0));
        assert_eq!(fallback("x", 896, GgmlType::Q6K), Ok(GgmlType::Q8_0));
        assert_eq!(fallback("x", 896, GgmlType::Q5K), Ok(GgmlType::Q5_1));
        assert_eq!(fallback("x", 48, GgmlType::Q4K), Ok(GgmlType::F16));
        assert!(fallback("x", 48, GgmlType::Q4_0).is_err());
    }
}
