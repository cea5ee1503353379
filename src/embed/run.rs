//! [`Engine::embed`]: one text through the model with [`Output::Hidden`],
//! pooled, through the model's dense projections (if any), and normalized (the rules are in the module above).

use super::{check_dimensions, check_one_step, finish_pooling, normalize_l2, pool_rows, EmbedError, Pooling};
use crate::engine::{Engine, EngineError};
use crate::model::Output;

/// What an embedding request may change.
#[derive(Clone, Debug, Default)]
pub struct EmbedOptions {
    /// Overrides the model's declared pooling (llama.cpp's `--pooling`);
    /// needed for a model that declares none.
    pub pooling: Option<Pooling>,
    /// Keep the first `dimensions` components, then normalize again
    /// (1..=the model's width; OpenAI's `dimensions`).
    pub dimensions: Option<u64>,
}

/// One text's embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    /// (dimensions) f32, unit L2 norm (or all zero).
    pub vector: Vec<f32>,
    /// The tokens the model read (special tokens included): OpenAI's `usage.prompt_tokens`.
    pub tokens: usize,
    pub pooling: Pooling,
}

impl Engine {
    /// The pooling a request gets: its own, else the model's declared one.
    pub fn embed_pooling(&self, opts: &EmbedOptions) -> Result<Pooling, EmbedError> {
        opts.pooling.map_or_else(|| Pooling::declared(self.model.config.pooling_type), Ok)
    }

    /// The ids an embedding reads for `text`, as llama.cpp's
    /// `tokenize(add_special = true)` gives them: BOS when the vocabulary
    /// adds it (`[CLS]` for WordPiece), the text with special-token text
    /// parsed, then [`Tokenizer::suffix_id`](crate::tokenizer::Tokenizer::suffix_id)
    /// (EOS when `tokenizer.ggml.add_eos_token`; `[SEP]` for WordPiece).
    pub fn embed_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = self.encode_prompt(text);
        ids.extend(self.tokenizer.suffix_id());
        ids
    }

    /// Embeds `text` from an empty cache, in steps of at most the model's
    /// batch (pooling over the steps equals pooling over the whole text);
    /// a bidirectional model's text in one step ([`check_one_step`]).
    /// The KV cache is forgotten before and after.
    ///
    /// Errors: [`EmbedError`] for the pooling, `dimensions` or an empty
    /// text; `PromptTooLong` when the tokens exceed the context (llama-server
    /// refuses those too); a model step's failure.
    pub async fn embed(&mut self, text: &str, opts: &EmbedOptions) -> Result<Embedding, EngineError> {
        let pooling = self.embed_pooling(opts)?;
        let dim = self.model.config.dim;
        // The width after the dense projections (EmbeddingGemma), else the model's.
        let width = self.model.config.dense_out.last().map_or(dim, |p| p.n_out);
        let keep = check_dimensions(opts.dimensions, width)?;
        self.check_text_fits(text)?;
        let ids = self.embed_ids(text);
        if ids.is_empty() {
            return Err(EmbedError::Empty.into());
        }
        let n_ctx = self.model.n_ctx();
        if ids.len() > n_ctx as usize {
            return Err(EngineError::PromptTooLong { prompt: ids.len(), n_ctx });
        }
        check_one_step(ids.len(), self.model.max_batch() as usize, self.model.config.causal)?;
        self.reset();
        let result = self.embed_steps(&ids, pooling, dim as usize).await;
        self.reset();
        let mut vector = result?;
        normalize_l2(&mut vector);
        if keep < vector.len() {
            vector.truncate(keep);
            normalize_l2(&mut vector);
        }
        Ok(Embedding { vector, tokens: ids.len(), pooling })
    }

    async fn embed_steps(&mut self, ids: &[u32], pooling: Pooling, dim: usize) -> Result<Vec<f32>, EngineError> {
        let mut acc = vec![0.0f32; dim];
        let max_batch = self.model.max_batch() as usize;
        for (i, chunk) in ids.chunks(max_batch).enumerate() {
            let r = self.step(chunk, Output::Hidden).await?;
            let hidden = r.hidden.ok_or_else(|| EngineError::Model(crate::model::ModelError::Config("the step returned no hidden states".into())))?;
            pool_rows(pooling, &hidden, dim, i * max_batch, ids.len(), &mut acc);
        }
        finish_pooling(pooling, &mut acc, ids.len());
        // llama.cpp `build_dense_out`: the pooled vector through the model's
        // dense projections (EmbeddingGemma), before normalization.
        Ok(self.model.project_pooled(acc)?)
    }
}
