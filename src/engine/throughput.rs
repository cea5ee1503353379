//! llama-bench-style throughput of a loaded model: prefill of N tokens and
//! decode of M tokens, with the bytes a decode step reads, so tok/s can be
//! set against the memory bandwidth (bytes/token × tok/s = implied GB/s).

use serde::Serialize;
use web_time::Instant;

use crate::bench::{decode_bytes_per_token, DecodeBytes};
use crate::model::{Model, ModelError, Output, StepInput};

#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    pub prompt_tokens: u32,
    pub gen_tokens: u32,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    /// Weights + KV cache read by a decode step, averaged over the measured steps.
    pub bytes_per_token: f64,
    pub weight_bytes_per_token: f64,
    pub kv_bytes_per_token: f64,
    /// bytes_per_token × decode_tok_s / 1e9.
    pub implied_gbps: f64,
    /// Compute dispatches a greedy decode step records (`Model::dispatches_per_step`).
    pub dispatches_per_token: usize,
    /// Host time to write, encode and submit one decode step, in ms (mean
    /// over the measured steps): the CPU side of a token, which on a real GPU
    /// in a browser can bound decode before bandwidth does.
    pub host_encode_ms_per_token: f64,
}

/// Runs a short warm-up, then a timed prefill of `prompt_tokens` arbitrary
/// ids and `gen_tokens` greedy decode steps after it. Overwrites the KV cache.
pub async fn measure_throughput(model: &Model, prompt_tokens: u32, gen_tokens: u32) -> Result<Throughput, ModelError> {
    let n_ctx = model.n_ctx();
    if prompt_tokens == 0 || gen_tokens == 0 || prompt_tokens + gen_tokens + 1 > n_ctx {
        return Err(ModelError::ContextFull { needed: prompt_tokens.max(1) + gen_tokens.max(1) + 1, n_ctx });
    }
    // Arbitrary valid ids; speed does not depend on them.
    let ids: Vec<u32> = (0..prompt_tokens).map(|i| (i * 7919 + 13) % model.config.vocab).collect();
    let prefill = |ids: &[u32]| {
        let ids = ids.to_vec();
        async move {
            let t = Instant::now();
            let mut pos = 0;
            let mut last = 0;
            for chunk in ids.chunks(model.max_batch() as usize) {
                let out = if pos + chunk.len() == ids.len() { Output::Argmax } else { Output::None };
                last = model.step(chunk, pos as u32, out).await?.token.unwrap_or(0);
                pos += chunk.len();
            }
            Ok::<_, ModelError>((t.elapsed().as_secs_f64(), last))
        }
    };
    // Warm-up, not counted: one prefill batch and one decode step compile
    // every pipeline and touch every weight.
    let (_, tok) = prefill(&ids[..ids.len().min(model.max_batch() as usize)]).await?;
    model.step(&[tok], 1, Output::Argmax).await?;
    let (prefill_s, mut tok) = prefill(&ids).await?;
    // Decode as the engine does: each step queued before the previous
    // token is read back, its input taken from the GPU.
    let t = Instant::now();
    let mut pending = model.submit(StepInput::Ids(&[tok]), prompt_tokens, Output::Argmax)?;
    let mut encode_s = model.last_encode_seconds();
    for i in 1..=gen_tokens {
        let next = if i < gen_tokens {
            let p = model.submit(StepInput::PreviousToken, prompt_tokens + i, Output::Argmax)?;
            encode_s += model.last_encode_seconds();
            Some(p)
        } else {
            None
        };
        tok = model.finish(pending).await?.token.unwrap_or(0);
        match next {
            Some(p) => pending = p,
            None => break,
        }
    }
    let _ = tok;
    let decode_s = t.elapsed().as_secs_f64();
    let prefill_tok_s = prompt_tokens as f64 / prefill_s.max(1e-9);
    let decode_tok_s = gen_tokens as f64 / decode_s.max(1e-9);
    // Decode step i attends over prompt_tokens + i + 1 positions.
    let mean_kv = prompt_tokens as f64 + (gen_tokens as f64 + 1.0) / 2.0;
    let DecodeBytes { weights, kv, total } = decode_bytes_per_token(model, mean_kv);
    Ok(Throughput {
        prompt_tokens,
        gen_tokens,
        prefill_tok_s,
        decode_tok_s,
        bytes_per_token: total,
        weight_bytes_per_token: weights,
        kv_bytes_per_token: kv,
        implied_gbps: total * decode_tok_s / 1e9,
        dispatches_per_token: model.dispatches_per_step(1, Output::Argmax),
        host_encode_ms_per_token: encode_s * 1e3 / gen_tokens as f64,
    })
}
