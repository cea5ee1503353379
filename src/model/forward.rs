//! The forward pass, recorded once at load as a straight list of named ops
//! (norm → q/k/v [→ bias] [→ q/k norm] → rope → cache → attention → out
//! [→ post-norm] → residual → norm → gate/up → act → down [→ post-norm] →
//! residual), then replayed every step with one command submission. The
//! bracketed ops are per architecture (see `ModelConfig`).

use std::collections::HashMap;
use std::sync::Arc;

use super::state::State;
use super::{LayerAttention, ModelConfig, ModelError};
use crate::gpu::{GpuContext, GpuTensor, Op, Step};
use crate::kernels::{self as k, AttentionShape, MatvecOut, RopeShape};
use crate::sampler::SamplerConfig;

/// What a step should bring back to the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Nothing: an intermediate prefill chunk.
    None,
    /// The greedy token, chosen on the GPU (4 bytes read back).
    Argmax,
    /// The whole logits row of the last token (for sampling or logprobs).
    Logits,
    /// A token sampled on the GPU with what [`Model::set_sampling`] last
    /// wrote (4 bytes read back).
    Sample,
}

#[derive(Clone, Debug, Default)]
pub struct StepResult {
    pub token: Option<u32>,
    pub logits: Option<Vec<f32>>,
}

pub struct Model {
    pub ctx: Arc<GpuContext>,
    pub config: ModelConfig,
    weights: HashMap<String, GpuTensor>,
    state: State,
    /// Embedding and every layer: runs for every token of the step.
    body: Vec<Op>,
    /// Final norm and output projection for the step's last token.
    head: Vec<Op>,
    argmax: Op,
    /// Penalties, filters and one draw over the logits (`Output::Sample`).
    sample: Op,
}

impl Model {
    pub(super) fn new(
        ctx: Arc<GpuContext>,
        config: ModelConfig,
        weights: HashMap<String, GpuTensor>,
        max_batch: u32,
        n_ctx: u32,
    ) -> Result<Self, ModelError> {
        let state = State::new(&ctx, &config, max_batch, n_ctx);
        let (body, head, argmax) = record(&ctx, &config, &weights, &state)?;
        let sample = k::sample(&ctx, &state.step, &state.logits, &state.sample_inputs, &state.sampled, config.vocab)?;
        ctx.check()?;
        Ok(Self { ctx, config, weights, state, body, head, argmax, sample })
    }

    pub fn n_ctx(&self) -> u32 {
        self.state.n_ctx
    }

    pub fn max_batch(&self) -> u32 {
        self.state.max_batch
    }

    /// The weight tensors on the GPU, by GGUF name.
    pub fn weight_tensors(&self) -> impl Iterator<Item = (&str, &GpuTensor)> {
        self.weights.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Bytes of weights on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        self.weights.values().map(|t| t.n_bytes).sum()
    }

    /// The sliding-window layers' ring cache, when some layer has one.
    pub fn kv_ring(&self) -> Option<super::Ring> {
        self.state.ring
    }

    pub fn kv_cache_bytes(&self) -> u64 {
        self.state.kv_bytes()
    }

    /// Compute dispatches one step of `n_tokens` records with output `out`
    /// (a decode step: `dispatches_per_step(1, Output::Argmax)`). Each is
    /// three wgpu calls (pipeline, bind group, dispatch): in the browser,
    /// three wasm→JS crossings.
    pub fn dispatches_per_step(&self, n_tokens: u32, out: Output) -> usize {
        let head: &[Op] = if out == Output::None { &[] } else { &self.head };
        let argmax = (out == Output::Argmax).then_some(&self.argmax);
        let sample = (out == Output::Sample).then_some(&self.sample);
        self.body.iter().chain(head).chain(argmax).chain(sample).filter(|op| op.dispatches(n_tokens)).count()
    }

    /// Sets what the next `Output::Sample` step draws with: the sampler
    /// settings, the tokens its penalties look at (oldest first, including
    /// the ids of that step) and a uniform u32 from the seeded RNG
    /// ([`Sampler::next_draw`](crate::sampler::Sampler::next_draw)). False
    /// when the penalty window holds more distinct ids than the GPU takes
    /// (kernels::MAX_PENALIZED): sample that step on the CPU.
    pub fn set_sampling(&self, cfg: &SamplerConfig, recent: &[u32], draw: u32) -> bool {
        self.state.sample_inputs.write(&self.ctx.queue, cfg, self.config.vocab, recent, draw)
    }

    /// Runs `ids` (at most `max_batch`) at positions pos0.. and returns what `out` asks for.
    pub async fn step(&self, ids: &[u32], pos0: u32, out: Output) -> Result<StepResult, ModelError> {
        let n = ids.len() as u32;
        if n == 0 || n > self.state.max_batch {
            return Err(ModelError::Config(format!("a step takes 1..={} tokens, got {n}", self.state.max_batch)));
        }
        let needed = pos0.saturating_add(n);
        if needed > self.state.n_ctx {
            return Err(ModelError::ContextFull { needed, n_ctx: self.state.n_ctx });
        }
        if let Some(&id) = ids.iter().find(|&&id| id >= self.config.vocab) {
            return Err(ModelError::BadToken { id, vocab: self.config.vocab });
        }
        let q = &self.ctx.queue;
        q.write_buffer(&self.state.ids, 0, bytemuck::cast_slice(ids));
        let s = Step { pos0, n_tokens: n, kv_len: needed, _pad: 0 };
        q.write_buffer(&self.state.step, 0, bytemuck::bytes_of(&s));

        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            let head: &[Op] = if out == Output::None { &[] } else { &self.head };
            for op in self.body.iter().chain(head) {
                op.encode(&mut pass, n);
            }
            if out == Output::Argmax {
                self.argmax.encode(&mut pass, n);
            }
            if out == Output::Sample {
                self.sample.encode(&mut pass, n);
            }
        }
        match out {
            Output::None => {}
            Output::Argmax | Output::Sample => self.state.token_slot.record_copy(&mut enc, &self.state.sampled, 0, 4),
            Output::Logits => {
                let bytes = self.config.vocab as u64 * 4;
                self.state.logits_slot.record_copy(&mut enc, &self.state.logits, 0, bytes)
            }
        }
        q.submit([enc.finish()]);
        let mut r = StepResult::default();
        match out {
            // An intermediate prefill step: wait for the GPU rather than
            // queueing every step at once, so an abort between steps takes
            // effect within one step (in the browser, this await is where the
            // worker sees the abort message).
            Output::None => self.ctx.settle().await?,
            Output::Argmax | Output::Sample => {
                let b = self.state.token_slot.read(&self.ctx, 4).await?;
                r.token = Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            }
            Output::Logits => {
                let b = self.state.logits_slot.read(&self.ctx, self.config.vocab as u64 * 4).await?;
                r.logits = Some(bytemuck::pod_collect_to_vec(&b));
            }
        }
        Ok(r)
    }
}

impl Model {
    /// Native diagnostics: runs one step with every op in its own submission,
    /// waiting for each, and returns wall time per kernel family (op name with
    /// the layer prefix removed), largest first.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn profile_step(&self, ids: &[u32], pos0: u32) -> Result<Vec<(String, f64)>, ModelError> {
        let n = ids.len() as u32;
        self.ctx.queue.write_buffer(&self.state.ids, 0, bytemuck::cast_slice(ids));
        let s = Step { pos0, n_tokens: n, kv_len: pos0 + n, _pad: 0 };
        self.ctx.queue.write_buffer(&self.state.step, 0, bytemuck::bytes_of(&s));
        let mut by_kind: HashMap<String, f64> = HashMap::new();
        for op in self.body.iter().chain(&self.head).chain([&self.argmax, &self.sample]) {
            let t = web_time::Instant::now();
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                op.encode(&mut pass, n);
            }
            self.ctx.queue.submit([enc.finish()]);
            self.ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| crate::gpu::GpuError::Readback(e.to_string()))?;
            let kind = op.name.rsplit('.').find(|p| *p != "weight").unwrap_or(&op.name).to_string();
            *by_kind.entry(kind).or_default() += t.elapsed().as_secs_f64();
        }
        let mut v: Vec<_> = by_kind.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(v)
    }
}

/// Records the op lists. Buffers are bound here once; nothing is created per step.
fn record(
    ctx: &GpuContext,
    c: &ModelConfig,
    w: &HashMap<String, GpuTensor>,
    s: &State,
) -> Result<(Vec<Op>, Vec<Op>, Op), ModelError> {
    let t = |name: &str| w.get(name).ok_or_else(|| ModelError::MissingTensor(name.to_string()));
    // A norm weight is a single-part F32 tensor.
    let vec_buf = |name: &str| -> Result<&wgpu::Buffer, ModelError> { Ok(&t(name)?.parts[0].buffer) };
    let step = &s.step;
    let (dim, qd, kvd, ffn) = (c.dim as u64, c.q_dim() as u64, c.kv_dim() as u64, c.ffn_dim as u64);
    // xb holds one dim-wide row per token (normed input, then projection outputs).
    let xb_stride = dim;
    let rope = |n_heads, la: LayerAttention| RopeShape {
        n_heads,
        head_dim: c.head_dim,
        n_rot: c.n_rot,
        freq_base: la.rope_base,
        freq_scale: la.rope_scale,
        layout: c.rope_layout,
    };
    let att_shape = |la: LayerAttention| AttentionShape {
        n_heads: c.n_heads,
        n_kv_heads: c.n_kv_heads,
        head_dim: c.head_dim,
        window: la.window,
        scale: c.attn_scale,
    };
    let mv = |name: &str, x: &wgpu::Buffer, xs: u64, y: &wgpu::Buffer, ys: u64| {
        k::matvec(ctx, step, name, t(name)?, x, xs, y, ys, MatvecOut::AllTokens).map_err(ModelError::from)
    };
    // Output projection and its residual add: y = W x, then x += norm(y) where
    // the model has post-norms (Gemma), else x += W y in the matvec itself.
    let project_add = |body: &mut Vec<Op>, name: &str, input: &wgpu::Buffer, in_stride: u64, post_norm: &str, add_name: &str| -> Result<(), ModelError> {
        if c.post_norms {
            body.extend(mv(name, input, in_stride, &s.xb, xb_stride)?);
            body.push(k::rmsnorm_in_place(ctx, step, post_norm, &s.xb, vec_buf(post_norm)?, c.dim, 1, c.rms_eps)?);
            body.push(k::add(ctx, step, add_name, &s.x, &s.xb, c.dim)?);
        } else {
            body.extend(k::matvec(ctx, step, name, t(name)?, input, in_stride, &s.x, xb_stride, MatvecOut::Accumulate)?);
        }
        Ok(())
    };
    let norm = |name: &str, x: &wgpu::Buffer, y: &wgpu::Buffer| -> Result<Op, ModelError> {
        Ok(k::rmsnorm(ctx, step, name, x, vec_buf(name)?, y, c.dim, 1, c.rms_eps)?)
    };
    // In place over rows of `dim` (per-head QK norm: rows = heads).
    let norm_rows = |name: &str, x: &wgpu::Buffer, dim: u32, rows: u32| -> Result<Op, ModelError> {
        Ok(k::rmsnorm_in_place(ctx, step, name, x, vec_buf(name)?, dim, rows, c.rms_eps)?)
    };
    let bias = |name: &str, y: &wgpu::Buffer, width: u64| -> Result<Op, ModelError> {
        Ok(k::bias_add(ctx, step, name, y, vec_buf(name)?, width as u32)?)
    };

    let mut body = k::embed(ctx, step, t("token_embd.weight")?, &s.ids, &s.x, c.embed_scale)?;
    for l in 0..c.n_layers as usize {
        let n = |op: &str| format!("blk.{l}.{op}.weight");
        let op = |op: &str| format!("blk.{l}.{op}");
        let la = c.layer_attention(l as u32);
        // Attention block.
        body.push(norm(&n("attn_norm"), &s.x, &s.xb)?);
        body.extend(mv(&n("attn_q"), &s.xb, xb_stride, &s.q, qd)?);
        body.extend(mv(&n("attn_k"), &s.xb, xb_stride, &s.k, kvd)?);
        body.extend(mv(&n("attn_v"), &s.xb, xb_stride, &s.v, kvd)?);
        if c.qkv_bias {
            body.push(bias(&op("attn_q.bias"), &s.q, qd)?);
            body.push(bias(&op("attn_k.bias"), &s.k, kvd)?);
            body.push(bias(&op("attn_v.bias"), &s.v, kvd)?);
        }
        if c.qk_norm {
            body.push(norm_rows(&n("attn_q_norm"), &s.q, c.head_dim, c.n_heads)?);
            body.push(norm_rows(&n("attn_k_norm"), &s.k, c.head_dim, c.n_kv_heads)?);
        }
        // Frequency factors apply to the model's own RoPE, not Gemma's local-layer one.
        let factors = if c.rope_freqs && la.window == 0 { Some(vec_buf("rope_freqs.weight")?) } else { None };
        body.push(k::rope(ctx, step, &op("rope_q"), &s.q, qd as u32, rope(c.n_heads, la), factors)?);
        body.push(k::rope(ctx, step, &op("rope_k"), &s.k, kvd as u32, rope(c.n_kv_heads, la), factors)?);
        body.push(k::kv_store(ctx, step, &op("kv_store"), &s.k, &s.v, &s.k_cache[l], &s.v_cache[l], kvd as u32, s.cache_len[l])?);
        body.push(k::attention(ctx, step, &op("attention"), &s.q, &s.k_cache[l], &s.v_cache[l], &s.att, att_shape(la), s.cache_len[l])?);
        project_add(&mut body, &n("attn_output"), &s.att, qd, &n("post_attention_norm"), &op("attn_residual"))?;
        // Feed-forward block.
        body.push(norm(&n("ffn_norm"), &s.x, &s.xb)?);
        body.extend(mv(&n("ffn_gate"), &s.xb, xb_stride, &s.gate, ffn)?);
        body.extend(mv(&n("ffn_up"), &s.xb, xb_stride, &s.up, ffn)?);
        body.push(k::gated_activation(ctx, step, &op("ffn_act"), c.activation, &s.gate, &s.up, c.ffn_dim)?);
        project_add(&mut body, &n("ffn_down"), &s.gate, ffn, &n("post_ffw_norm"), &op("ffn_residual"))?;
    }
    let mut head = vec![k::rmsnorm(ctx, step, "output_norm", &s.x, vec_buf("output_norm.weight")?, &s.xb, c.dim, 1, c.rms_eps)?];
    let out_name = if c.tied_output { "token_embd.weight" } else { "output.weight" };
    head.extend(k::matvec(ctx, step, "output", t(out_name)?, &s.xb, xb_stride, &s.logits, c.vocab as u64, MatvecOut::LastToken)?);
    if c.final_logit_softcap > 0.0 {
        head.push(k::softcap(ctx, step, "output_softcap", &s.logits, c.vocab, c.final_logit_softcap)?);
    }
    let argmax = k::argmax(ctx, step, &s.logits, &s.sampled, c.vocab)?;
    Ok((body, head, argmax))
}
