//! Embeddings: a text's final hidden states (after the output norm) pooled
//! into one vector, L2-normalized, optionally truncated (Matryoshka).
//!
//! The rules are llama.cpp's embedding mode (llama-cpp-python 0.3.36's
//! llama.cpp; `tests/reference/tiny/*emb*.json` hold its outputs):
//! - tokens: the text with special-token text parsed, BOS when the vocabulary
//!   says `add_bos_token`, EOS when it says `add_eos_token` (Qwen3-Embedding
//!   appends `<|endoftext|>`): `llama_tokenize(add_special = true,
//!   parse_special = true)` as `llama-embedding` calls it;
//! - pooling from `{arch}.pooling_type` (`llm_graph_context::build_pooling`):
//!   mean over every token (BOS and EOS included), the first token (cls) or
//!   the last (last); attention stays causal, except in a bidirectional
//!   model (BERT, EmbeddingGemma), whose text runs as one step ([`check_one_step`]);
//! - dense projections of the pooled vector where the model has them
//!   (EmbeddingGemma's `dense_2` then `dense_3`: llama.cpp `build_dense_out`,
//!   after pooling and before normalization; [`crate::model::Model::project_pooled`]);
//! - normalization: `common_embd_normalize` with p = 2, the default of
//!   `llama-embedding` and llama-server's OpenAI endpoint: the sum of squares
//!   in f64, then each component times `(1 / ‖v‖) as f32`; a zero vector
//!   stays zero.
//!
//! `dimensions` keeps the first components and normalizes again, which is
//! what Matryoshka-trained models (Qwen3-Embedding, EmbeddingGemma,
//! nomic-embed) are trained for (OpenAI's `dimensions` parameter).

mod run;

pub use run::{EmbedOptions, Embedding};

/// How hidden states become one vector (llama.cpp's `llama_pooling_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over every token of the text.
    Mean,
    /// The first token's state (BERT's [CLS]).
    Cls,
    /// The last token's state (Qwen3-Embedding: the appended EOS).
    Last,
}

impl Pooling {
    /// `mean`, `cls` or `last`: the names llama.cpp's `--pooling` takes.
    pub fn from_name(name: &str) -> Result<Self, EmbedError> {
        match name {
            "mean" => Ok(Self::Mean),
            "cls" => Ok(Self::Cls),
            "last" => Ok(Self::Last),
            other => Err(EmbedError::PoolingName(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Cls => "cls",
            Self::Last => "last",
        }
    }

    /// The pooling a model declares in `{arch}.pooling_type` (None when the
    /// file has no such key): 1 mean, 2 cls, 3 last; 0 (none: one vector per
    /// token) and 4 (rank: a reranker's score) are not embeddings of a text.
    pub fn declared(pooling_type: Option<u32>) -> Result<Self, EmbedError> {
        match pooling_type {
            None => Err(EmbedError::NoPooling),
            Some(1) => Ok(Self::Mean),
            Some(2) => Ok(Self::Cls),
            Some(3) => Ok(Self::Last),
            Some(0) => Err(EmbedError::Declared("none (one vector per token)")),
            Some(4) => Err(EmbedError::Declared("rank (a reranker's relevance score)")),
            Some(n) => Err(EmbedError::UnknownPooling(n)),
        }
    }
}

/// Why a text could not be embedded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmbedError {
    #[error("this model declares no pooling (no `pooling_type` in its metadata): it is not an embedding model; choose one with pooling: 'mean', 'cls' or 'last'")]
    NoPooling,
    #[error("this model's pooling is {0}, not one vector per text")]
    Declared(&'static str),
    #[error("this model's pooling_type is {0}, which tabllm does not know (1 mean, 2 cls, 3 last)")]
    UnknownPooling(u32),
    #[error("pooling must be 'mean', 'cls' or 'last', got {0:?}")]
    PoolingName(String),
    #[error("dimensions must be from 1 to the model's {max}, got {got}")]
    Dimensions { got: u64, max: u32 },
    #[error("the text to embed is empty and the model adds no token of its own")]
    Empty,
    #[error("this model's attention is bidirectional, so a text runs in one step of at most {max} tokens; this one has {tokens}")]
    OneStep { tokens: usize, max: usize },
}

impl EmbedError {
    /// The request field at fault, as the package names it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NoPooling | Self::Declared(_) | Self::UnknownPooling(_) | Self::PoolingName(_) => "pooling",
            Self::Dimensions { .. } => "dimensions",
            Self::Empty | Self::OneStep { .. } => "input",
        }
    }
}

/// Adds token rows of `hidden` ((n, dim) f32, positions `first..first + n`
/// of a text of `total` tokens) into `acc` (dim) as `pooling` reads them:
/// every row for mean (summed; [`finish_pooling`] divides), the row at
/// position 0 for cls, the row at `total − 1` for last.
pub fn pool_rows(pooling: Pooling, hidden: &[f32], dim: usize, first: usize, total: usize, acc: &mut [f32]) {
    let rows = hidden.chunks_exact(dim);
    let n = rows.len();
    let take = |i: usize, acc: &mut [f32]| acc.copy_from_slice(&hidden[i * dim..(i + 1) * dim]);
    match pooling {
        Pooling::Mean => {
            for row in rows {
                acc.iter_mut().zip(row).for_each(|(a, &h)| *a += h);
            }
        }
        Pooling::Cls if first == 0 && n > 0 => take(0, acc),
        Pooling::Last if (first..first + n).contains(&(total - 1)) => take(total - 1 - first, acc),
        Pooling::Cls | Pooling::Last => {}
    }
}

/// The pooled vector of a text of `total` tokens: mean divides the sum by
/// the count (llama.cpp weights each row by `1/n`, `llm_graph_input_mean`).
pub fn finish_pooling(pooling: Pooling, acc: &mut [f32], total: usize) {
    if pooling == Pooling::Mean && total > 0 {
        let w = 1.0 / total as f32;
        acc.iter_mut().for_each(|a| *a *= w);
    }
}

/// L2-normalizes `v` in place as llama.cpp's `common_embd_normalize(.., 2)`:
/// the sum of squares in f64, each component times `(1 / norm) as f32`; a
/// zero vector stays zero.
pub fn normalize_l2(v: &mut [f32]) {
    let sum: f64 = v.iter().map(|&x| x as f64 * x as f64).sum();
    let norm = sum.sqrt();
    let scale = if norm > 0.0 { (1.0 / norm) as f32 } else { 0.0 };
    v.iter_mut().for_each(|x| *x *= scale);
}

/// The steps a text of `tokens` runs in, at most `max_batch` tokens each:
/// a bidirectional model (`causal` false) must read the whole text in one
/// step (every token attends to every other; split, the first tokens would
/// never see the later ones), so a longer text is refused rather than split.
pub fn check_one_step(tokens: usize, max_batch: usize, causal: bool) -> Result<(), EmbedError> {
    if !causal && tokens > max_batch {
        return Err(EmbedError::OneStep { tokens, max: max_batch });
    }
    Ok(())
}

/// Checks `dimensions` against the model's width `dim` (1..=dim).
pub fn check_dimensions(dimensions: Option<u64>, dim: u32) -> Result<usize, EmbedError> {
    match dimensions {
        None => Ok(dim as usize),
        Some(d) if d >= 1 && d <= dim as u64 => Ok(d as usize),
        Some(d) => Err(EmbedError::Dimensions { got: d, max: dim }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_reads_llama_cpp_numbers_and_refuses_the_rest_by_name() {
        assert_eq!(Pooling::declared(Some(1)), Ok(Pooling::Mean));
        assert_eq!(Pooling::declared(Some(2)), Ok(Pooling::Cls));
        assert_eq!(Pooling::declared(Some(3)), Ok(Pooling::Last));
        assert_eq!(Pooling::declared(None), Err(EmbedError::NoPooling));
        assert!(Pooling::declared(Some(0)).unwrap_err().to_string().contains("none"));
        assert!(Pooling::declared(Some(4)).unwrap_err().to_string().contains("rank"));
        assert_eq!(Pooling::declared(Some(9)), Err(EmbedError::UnknownPooling(9)));
        assert_eq!(Pooling::from_name("max"), Err(EmbedError::PoolingName("max".into())));
    }

    #[test]
    fn pooling_over_chunks_equals_pooling_over_the_whole() {
        // 5 tokens of dim 2 in chunks of 2, 2, 1.
        let h: Vec<f32> = (0..10).map(|i| i as f32).collect();
        for pooling in [Pooling::Mean, Pooling::Cls, Pooling::Last] {
            let mut whole = vec![0.0; 2];
            pool_rows(pooling, &h, 2, 0, 5, &mut whole);
            finish_pooling(pooling, &mut whole, 5);
            let mut chunked = vec![0.0; 2];
            for (first, rows) in [(0, 0..4), (2, 4..8), (4, 8..10)] {
                pool_rows(pooling, &h[rows], 2, first, 5, &mut chunked);
            }
            finish_pooling(pooling, &mut chunked, 5);
            assert_eq!(whole, chunked, "{pooling:?}");
        }
        let mut mean = vec![0.0; 2];
        pool_rows(Pooling::Mean, &h, 2, 0, 5, &mut mean);
        finish_pooling(Pooling::Mean, &mut mean, 5);
        assert_eq!(mean, vec![4.0, 5.0]);
    }

    #[test]
    fn a_bidirectional_text_longer_than_a_step_is_refused_not_split() {
        assert_eq!(check_one_step(513, 512, false), Err(EmbedError::OneStep { tokens: 513, max: 512 }));
        assert_eq!(check_one_step(512, 512, false), Ok(()));
        assert_eq!(check_one_step(513, 512, true), Ok(()), "a causal model pools across steps");
        assert_eq!(EmbedError::OneStep { tokens: 1, max: 0 }.field(), "input");
    }

    #[test]
    fn normalization_is_common_embd_normalize_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        normalize_l2(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut z = vec![0.0; 3];
        normalize_l2(&mut z);
        assert_eq!(z, vec![0.0; 3]);
        assert_eq!(check_dimensions(Some(0), 8), Err(EmbedError::Dimensions { got: 0, max: 8 }));
        assert_eq!(check_dimensions(Some(9), 8), Err(EmbedError::Dimensions { got: 9, max: 8 }));
        assert_eq!(check_dimensions(None, 8), Ok(8));
    }
}
