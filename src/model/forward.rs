//! The forward pass, recorded once at load as a straight list of named ops
//! and replayed every step with one command submission. Per layer (fused,
//! the usual case): attn_qkv (norm, q|k|v, [bias], [QK norm], RoPE, KV store)
//! → attention → attn_output (+ residual) [→ post-norm + residual] →
//! ffn_gate_up (norm, gate|up, activation) → ffn_down (+ residual) [→
//! post-norm + residual]. Bracketed ops are per architecture (see
//! `ModelConfig`). A group whose weights could not be packed runs as the
//! separate ops it fuses.
//!
//! Prefill steps (at least `GEMM_MIN_TOKENS` tokens) replay a second list of
//! the same layers: attn_norm → q, k, v as tiled GEMMs → [bias] → [QK norm]
//! → RoPE q, k → KV store → flash attention → attn_output GEMM (+ residual)
//! → ffn_norm → gate, up GEMMs → activation → ffn_down GEMM (+ residual).

use std::collections::HashMap;
use std::sync::Arc;

use super::state::State;
use super::weights::{Projections, Weights};
use super::{LayerAttention, ModelConfig, ModelError};
use crate::gpu::{GpuContext, GpuTensor, Op, PackedTensors, Step};
use crate::kernels::{self as k, AttentionShape, MatvecFold, MatvecOut, QkvShape, QkvVectors, RopeShape};
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
    weights: Weights,
    state: State,
    /// Embedding and every layer with the fused matvec kernels: decode, and
    /// steps too short for the GEMM list.
    body: Vec<Op>,
    /// The same layers for prefill steps of at least `prefill_min_tokens`:
    /// projections as tiled GEMMs, then the ops the fused kernels fold in.
    prefill_body: Vec<Op>,
    prefill_min_tokens: u32,
    /// Final norm and output projection for the step's last token.
    head: Vec<Op>,
    argmax: Op,
    /// Penalties, filters and one draw over the logits (`Output::Sample`).
    sample: Op,
    /// Host time of the last step up to its submit (buffer writes, encoding,
    /// submit), in ns: what each dispatch costs the CPU side.
    last_encode_ns: std::sync::atomic::AtomicU64,
    /// The token read-back slot the next step uses (0 or 1, alternating).
    next_token_slot: std::sync::atomic::AtomicUsize,
}

impl Model {
    pub(super) fn new(
        ctx: Arc<GpuContext>,
        config: ModelConfig,
        tensors: HashMap<String, GpuTensor>,
        max_batch: u32,
        n_ctx: u32,
        fuse: bool,
        prefill: PrefillPath,
    ) -> Result<Self, ModelError> {
        let weights = Weights::assemble(&ctx, &config, tensors, fuse)?;
        let state = State::new(&ctx, &config, max_batch, n_ctx);
        let body = record_body(&ctx, &config, &weights, &state, Pass::Decode)?;
        let prefill_min_tokens = match prefill {
            PrefillPath::Auto => GEMM_MIN_TOKENS,
            PrefillPath::Gemm => 2,
            PrefillPath::Matvec => u32::MAX,
        };
        let prefill_body = if prefill_min_tokens <= max_batch { record_body(&ctx, &config, &weights, &state, Pass::Prefill)? } else { Vec::new() };
        let (head, argmax) = record_head(&ctx, &config, &weights, &state)?;
        let sample = k::sample(&ctx, &state.step, &state.logits, &state.sample_inputs, &state.sampled, config.vocab)?;
        ctx.check()?;
        Ok(Self {
            ctx,
            config,
            weights,
            state,
            body,
            prefill_body,
            prefill_min_tokens,
            head,
            argmax,
            sample,
            last_encode_ns: Default::default(),
            next_token_slot: Default::default(),
        })
    }

    /// The layer ops a step of `n_tokens` runs.
    fn body(&self, n_tokens: u32) -> &[Op] {
        if n_tokens >= self.prefill_min_tokens {
            &self.prefill_body
        } else {
            &self.body
        }
    }

    pub fn n_ctx(&self) -> u32 {
        self.state.n_ctx
    }

    pub fn max_batch(&self) -> u32 {
        self.state.max_batch
    }

    /// (GGUF name, bytes) of every weight tensor on the GPU.
    pub fn weight_sizes(&self) -> &[(String, u64)] {
        &self.weights.sizes
    }

    /// The weights on the GPU, by role.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Bytes of weights on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        self.weights.sizes.iter().map(|(_, b)| b).sum()
    }

    /// Weight bytes one step of `n_tokens` reads from memory, from the
    /// kernels' tiling: each layer matrix once per GEMM_TOKENS tokens on the
    /// GEMM list (once per TOKENS_PER_GROUP on the matvec list), the
    /// embedding rows of the step's ids, the output head once (last token
    /// only). Norm vectors and biases are left out (under 0.1 % of the bytes).
    pub fn weight_bytes_read(&self, n_tokens: u32) -> u64 {
        let n = n_tokens.max(1) as u64;
        let per_token_group = if n_tokens >= self.prefill_min_tokens { k::GEMM_TOKENS } else { k::TOKENS_PER_GROUP };
        let passes = if n == 1 { 1 } else { n.div_ceil(per_token_group as u64) };
        let group_bytes = |g: &Projections| match g {
            Projections::Packed(p) => p.segments.iter().map(|s| s.n_bytes).sum::<u64>(),
            Projections::Separate(t) => t.iter().map(|t| t.n_bytes).sum(),
        };
        let layers: u64 = self.weights.layers.iter().map(|l| group_bytes(&l.qkv) + group_bytes(&l.gate_up) + l.attn_output.n_bytes + l.ffn_down.n_bytes).sum();
        let embd = &self.weights.token_embd;
        layers * passes + n * embd.row_bytes + self.weights.output().n_bytes
    }

    /// Layers whose q|k|v and gate|up run fused, out of all layers.
    pub fn fused_layers(&self) -> (usize, usize) {
        let fused = self.weights.layers.iter().filter(|l| matches!((&l.qkv, &l.gate_up), (Projections::Packed(_), Projections::Packed(_)))).count();
        (fused, self.weights.layers.len())
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
        let s = Step::first(n_tokens);
        self.body(n_tokens).iter().chain(head).chain(argmax).chain(sample).filter(|op| op.dispatches(&s)).count()
    }

    /// Host seconds the last step took to write its inputs, encode its
    /// dispatches and submit them (not the GPU time, not the read-back).
    pub fn last_encode_seconds(&self) -> f64 {
        self.last_encode_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 * 1e-9
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
        let pending = self.submit(StepInput::Ids(ids), pos0, out)?;
        self.finish(pending).await
    }

    /// Encodes and submits a step without waiting for it: with
    /// [`StepInput::PreviousToken`] the next decode step can be queued before
    /// the current token is read back, so the GPU does not idle while the
    /// host reads, detokenizes and checks for a stop. Two token read-back
    /// slots alternate, so at most two steps may be pending; each must be
    /// finished (or dropped) in order.
    pub fn submit(&self, input: StepInput<'_>, pos0: u32, out: Output) -> Result<PendingStep, ModelError> {
        let n = match input {
            StepInput::Ids(ids) => ids.len() as u32,
            StepInput::PreviousToken => 1,
        };
        if n == 0 || n > self.state.max_batch {
            return Err(ModelError::Config(format!("a step takes 1..={} tokens, got {n}", self.state.max_batch)));
        }
        let needed = pos0.saturating_add(n);
        if needed > self.state.n_ctx {
            return Err(ModelError::ContextFull { needed, n_ctx: self.state.n_ctx });
        }
        if let StepInput::Ids(ids) = input {
            if let Some(&id) = ids.iter().find(|&&id| id >= self.config.vocab) {
                return Err(ModelError::BadToken { id, vocab: self.config.vocab });
            }
        }
        let t_encode = web_time::Instant::now();
        let q = &self.ctx.queue;
        if let StepInput::Ids(ids) = input {
            q.write_buffer(&self.state.ids, 0, bytemuck::cast_slice(ids));
        }
        let s = Step { pos0, n_tokens: n, kv_len: needed, _pad: 0 };
        q.write_buffer(&self.state.step, 0, bytemuck::bytes_of(&s));

        let slot = self.next_token_slot.fetch_xor(1, std::sync::atomic::Ordering::Relaxed) & 1;
        #[cfg(target_arch = "wasm32")]
        if self.ctx.web_replay && self.replay(&s, input, out, slot)? {
            self.last_encode_ns.store(t_encode.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
            return Ok(PendingStep { out, slot });
        }
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        if input == StepInput::PreviousToken {
            // The id the previous step chose (argmax.wgsl writes it in range).
            enc.copy_buffer_to_buffer(&self.state.sampled, 0, &self.state.ids, 0, 4);
        }
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            let head: &[Op] = if out == Output::None { &[] } else { &self.head };
            for op in self.body(n).iter().chain(head) {
                op.encode(&mut pass, &s);
            }
            if out == Output::Argmax {
                self.argmax.encode(&mut pass, &s);
            }
            if out == Output::Sample {
                self.sample.encode(&mut pass, &s);
            }
        }
        match out {
            Output::None => {}
            Output::Argmax | Output::Sample => self.state.token_slots[slot].record_copy(&mut enc, &self.state.sampled, 0, 4),
            Output::Logits => {
                let bytes = self.config.vocab as u64 * 4;
                self.state.logits_slot.record_copy(&mut enc, &self.state.logits, 0, bytes)
            }
        }
        q.submit([enc.finish()]);
        self.last_encode_ns.store(t_encode.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(PendingStep { out, slot })
    }

    /// Browser: the whole step in one call into JavaScript (`gpu::web_replay`).
    /// False when some op has no JS twin (the caller encodes through wgpu).
    #[cfg(target_arch = "wasm32")]
    fn replay(&self, s: &Step, input: StepInput<'_>, out: Output, slot: usize) -> Result<bool, ModelError> {
        let head: &[Op] = if out == Output::None { &[] } else { &self.head };
        let argmax = (out == Output::Argmax).then_some(&self.argmax);
        let sample = (out == Output::Sample).then_some(&self.sample);
        let body = self.body(s.n_tokens);
        let mut plan = Vec::with_capacity(4 * (body.len() + head.len() + 1));
        for op in body.iter().chain(head).chain(argmax).chain(sample) {
            if !op.plan(s, &mut plan) {
                return Ok(false);
            }
        }
        let st = &self.state;
        let pre: Vec<crate::gpu::web_replay::Copy<'_>> = match input {
            StepInput::PreviousToken => vec![(&st.sampled, 0, &st.ids, 0, 4)],
            StepInput::Ids(_) => vec![],
        };
        let post: Vec<crate::gpu::web_replay::Copy<'_>> = match out {
            Output::None => vec![],
            Output::Argmax | Output::Sample => vec![(&st.sampled, 0, st.token_slots[slot].staging(), 0, 4)],
            Output::Logits => vec![(&st.logits, 0, st.logits_slot.staging(), 0, self.config.vocab as u64 * 4)],
        };
        crate::gpu::web_replay::replay(&self.ctx, &plan, &pre, &post)?;
        Ok(true)
    }

    /// Waits for a submitted step and reads back what its output asks for.
    pub async fn finish(&self, p: PendingStep) -> Result<StepResult, ModelError> {
        let mut r = StepResult::default();
        match p.out {
            // An intermediate prefill step: wait for the GPU rather than
            // queueing every step at once, so an abort between steps takes
            // effect within one step (in the browser, this await is where the
            // worker sees the abort message).
            Output::None => self.ctx.settle().await?,
            Output::Argmax | Output::Sample => {
                let b = self.state.token_slots[p.slot].read(&self.ctx, 4).await?;
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

/// Where a step's token ids come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepInput<'a> {
    /// These ids, written from the host.
    Ids(&'a [u32]),
    /// One token: the one the previous step chose on the GPU (its argmax),
    /// copied on the GPU without a round trip through the host.
    PreviousToken,
}

/// A submitted step not yet read back ([`Model::finish`]).
#[must_use = "a pending step's token is read with Model::finish"]
pub struct PendingStep {
    out: Output,
    slot: usize,
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
        for op in self.body(n).iter().chain(&self.head).chain([&self.argmax, &self.sample]) {
            let t = web_time::Instant::now();
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                op.encode(&mut pass, &s);
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

/// A norm weight or bias: a single-part F32 tensor.
fn vec_buf(t: &GpuTensor) -> &wgpu::Buffer {
    &t.parts[0].buffer
}

/// Which op list [`record_body`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// Fused matvec kernels (q|k|v with its epilogue, gate|up with the
    /// activation): the fewest dispatches, for one token (and short steps).
    Decode,
    /// Every projection as a tiled GEMM and the folded ops as their own
    /// dispatches: weights are read once per GEMM tile of tokens; flash
    /// attention over tiles of queries.
    Prefill,
}

/// Which op list steps of several tokens run ([`LoadOptions::prefill`](super::LoadOptions)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrefillPath {
    /// The GEMM list for steps of at least [`GEMM_MIN_TOKENS`], the decode
    /// list below that.
    #[default]
    Auto,
    /// The GEMM list for every step of two tokens or more (tests use this to
    /// run it on short prompts).
    Gemm,
    /// Never the GEMM list: every step runs the batched matvecs (diagnostics).
    Matvec,
}

/// Fewest tokens a step needs to take the GEMM list under `PrefillPath::Auto`:
/// below this the batched matvec reads the weights at most twice and wastes
/// less of a GEMM_TOKENS tile.
pub const GEMM_MIN_TOKENS: u32 = 16;

/// One projection's weights: a tensor of its own or one inside a packed group.
#[derive(Clone, Copy)]
enum Proj<'a> {
    Tensor(&'a GpuTensor),
    Segment(&'a PackedTensors, usize),
}

impl<'a> Proj<'a> {
    /// The projections of a group (q, k, v or gate, up) in order.
    fn of(p: &'a Projections) -> Vec<Proj<'a>> {
        match p {
            Projections::Packed(packed) => (0..packed.segments.len()).map(|i| Proj::Segment(packed, i)).collect(),
            Projections::Separate(t) => t.iter().map(Proj::Tensor).collect(),
        }
    }
}

/// Records one body op list (embedding and every layer); nothing is created
/// per step. Both passes walk the same layer structure; they differ in how a
/// projection runs and whether its neighbours are fused into it.
fn record_body(ctx: &GpuContext, c: &ModelConfig, w: &Weights, s: &State, pass: Pass) -> Result<Vec<Op>, ModelError> {
    let step = &s.step;
    let (dim, qd, kvd, ffn) = (c.dim as u64, c.q_dim() as u64, c.kv_dim() as u64, c.ffn_dim as u64);
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
    // y = W x (or y += W x with Accumulate) for every token of the step.
    let project = |name: &str, w: Proj<'_>, x: &wgpu::Buffer, xs: u64, y: &wgpu::Buffer, ys: u64, out: MatvecOut| -> Result<Vec<Op>, ModelError> {
        Ok(match (pass, w) {
            (Pass::Decode, Proj::Tensor(t)) => k::matvec(ctx, step, name, t, x, xs, y, ys, out)?,
            (Pass::Prefill, Proj::Tensor(t)) => k::gemm(ctx, step, name, t, x, xs, y, ys, out)?,
            (_, Proj::Segment(p, i)) if out == MatvecOut::AllTokens => vec![k::gemm_segment(ctx, step, name, p, i, x, xs, y, ys)?],
            (_, Proj::Segment(..)) => return Err(ModelError::Config(format!("{name}: a packed projection cannot accumulate"))),
        })
    };
    let mv = |name: &str, w: Proj<'_>, x: &wgpu::Buffer, xs: u64, y: &wgpu::Buffer, ys: u64| project(name, w, x, xs, y, ys, MatvecOut::AllTokens);
    // Output projection and its residual add: x += W y in the matvec itself,
    // or with post-norms (Gemma) xb = W y, then x += norm(xb).
    let project_add = |body: &mut Vec<Op>, name: &str, t: &GpuTensor, input: &wgpu::Buffer, in_stride: u64, post_norm: Option<&GpuTensor>| -> Result<(), ModelError> {
        match post_norm {
            Some(g) => {
                body.extend(mv(name, Proj::Tensor(t), input, in_stride, &s.xb, dim)?);
                body.push(k::rmsnorm_add(ctx, step, &format!("{name}.post_norm"), &s.xb, vec_buf(g), &s.x, c.dim, c.rms_eps)?);
            }
            None => body.extend(project(name, Proj::Tensor(t), input, in_stride, &s.x, dim, MatvecOut::Accumulate)?),
        }
        Ok(())
    };
    let norm = |name: &str, g: &GpuTensor| -> Result<Op, ModelError> { Ok(k::rmsnorm(ctx, step, name, &s.x, vec_buf(g), &s.xb, c.dim, 1, c.rms_eps)?) };

    let mut body = k::embed(ctx, step, &w.token_embd, &s.ids, &s.x, c.embed_scale)?;
    for (l, lw) in w.layers.iter().enumerate() {
        let op = |op: &str| format!("blk.{l}.{op}");
        let la = c.layer_attention(l as u32);
        // Frequency factors apply to the model's own RoPE, not Gemma's local-layer one.
        let factors = w.rope_freqs.as_ref().filter(|_| la.window == 0);
        // Attention block.
        match (&lw.qkv, &lw.attn_vectors) {
            (Projections::Packed(packed), Some(vecs)) if pass == Pass::Decode => {
                let at = |t: &GpuTensor| vecs.offset(&t.name).ok_or_else(|| ModelError::MissingTensor(t.name.clone()));
                let vectors = QkvVectors {
                    attn_norm: at(&lw.attn_norm)?,
                    bias: match &lw.qkv_bias {
                        Some([bq, bk, bv]) => Some([at(bq)?, at(bk)?, at(bv)?]),
                        None => None,
                    },
                    qk_norm: match &lw.qk_norm {
                        Some([nq, nk]) => Some([at(nq)?, at(nk)?]),
                        None => None,
                    },
                    rope_factors: factors.map(at).transpose()?,
                };
                let shape = QkvShape {
                    dim: c.dim,
                    n_heads: c.n_heads,
                    n_kv_heads: c.n_kv_heads,
                    head_dim: c.head_dim,
                    n_rot: c.n_rot,
                    layout: c.rope_layout,
                    freq_base: la.rope_base,
                    freq_scale: la.rope_scale,
                    eps: c.rms_eps,
                };
                body.push(k::attn_qkv(ctx, step, &op("attn_qkv"), packed, &s.x, vecs, vectors, shape, &s.q, &s.k_cache[l], &s.v_cache[l], s.cache_len[l])?);
            }
            (qkv, _) => {
                let [wq, wk, wv] = Proj::of(qkv)[..] else { return Err(ModelError::Config("q|k|v must be three tensors".into())) };
                body.push(norm(&op("attn_norm"), &lw.attn_norm)?);
                body.extend(mv(&op("attn_q"), wq, &s.xb, dim, &s.q, qd)?);
                body.extend(mv(&op("attn_k"), wk, &s.xb, dim, &s.k, kvd)?);
                body.extend(mv(&op("attn_v"), wv, &s.xb, dim, &s.v, kvd)?);
                if let Some([bq, bk, bv]) = &lw.qkv_bias {
                    for (name, y, b, width) in [("attn_q.bias", &s.q, bq, qd), ("attn_k.bias", &s.k, bk, kvd), ("attn_v.bias", &s.v, bv, kvd)] {
                        body.push(k::bias_add(ctx, step, &op(name), y, vec_buf(b), width as u32)?);
                    }
                }
                if let Some([nq, nk]) = &lw.qk_norm {
                    body.push(k::rmsnorm_in_place(ctx, step, &op("attn_q_norm"), &s.q, vec_buf(nq), c.head_dim, c.n_heads, c.rms_eps)?);
                    body.push(k::rmsnorm_in_place(ctx, step, &op("attn_k_norm"), &s.k, vec_buf(nk), c.head_dim, c.n_kv_heads, c.rms_eps)?);
                }
                let factors = factors.map(vec_buf);
                body.push(k::rope(ctx, step, &op("rope_q"), &s.q, qd as u32, rope(c.n_heads, la), factors)?);
                body.push(k::rope(ctx, step, &op("rope_k"), &s.k, kvd as u32, rope(c.n_kv_heads, la), factors)?);
                body.push(k::kv_store(ctx, step, &op("kv_store"), &s.k, &s.v, &s.k_cache[l], &s.v_cache[l], kvd as u32, s.cache_len[l])?);
            }
        }
        match pass {
            Pass::Decode => body.extend(k::attention(ctx, step, &op("attention"), &s.q, &s.k_cache[l], &s.v_cache[l], &s.att, &s.att_partials, att_shape(la), s.cache_len[l], s.n_ctx)?),
            // A tile of queries shares each K/V block it stages.
            Pass::Prefill => body.push(k::flash_attention(ctx, step, &op("attention"), &s.q, &s.k_cache[l], &s.v_cache[l], &s.att, att_shape(la), s.cache_len[l])?),
        }
        project_add(&mut body, &op("attn_output"), &lw.attn_output, &s.att, qd, lw.post_attention_norm.as_ref())?;
        // Feed-forward block.
        match &lw.gate_up {
            Projections::Packed(packed) if pass == Pass::Decode => {
                body.push(k::ffn_gate_up(ctx, step, &op("ffn_gate_up"), packed, &s.x, vec_buf(&lw.ffn_norm), c.rms_eps, c.activation, &s.gate)?);
            }
            gate_up => {
                let [wg, wu] = Proj::of(gate_up)[..] else { return Err(ModelError::Config("gate|up must be two tensors".into())) };
                body.push(norm(&op("ffn_norm"), &lw.ffn_norm)?);
                body.extend(mv(&op("ffn_gate"), wg, &s.xb, dim, &s.gate, ffn)?);
                body.extend(mv(&op("ffn_up"), wu, &s.xb, dim, &s.up, ffn)?);
                body.push(k::gated_activation(ctx, step, &op("ffn_act"), c.activation, &s.gate, &s.up, c.ffn_dim)?);
            }
        }
        project_add(&mut body, &op("ffn_down"), &lw.ffn_down, &s.gate, ffn, lw.post_ffw_norm.as_ref())?;
    }
    Ok(body)
}

/// The output head (final norm and soft-cap folded into the logits matvec of
/// the step's last token) and the greedy argmax over it.
fn record_head(ctx: &GpuContext, c: &ModelConfig, w: &Weights, s: &State) -> Result<(Vec<Op>, Op), ModelError> {
    let step = &s.step;
    let dim = c.dim as u64;
    // The final norm and the soft-cap are folded into the output projection.
    let fold = MatvecFold {
        norm: Some((vec_buf(&w.output_norm), c.rms_eps)),
        softcap: (c.final_logit_softcap > 0.0).then_some(c.final_logit_softcap),
    };
    let head = k::matvec_folded(ctx, step, "output", w.output(), &s.x, dim, &s.logits, c.vocab as u64, MatvecOut::LastToken, fold)?;
    let argmax = k::argmax(ctx, step, &s.logits, &s.sampled, c.vocab)?;
    Ok((head, argmax))
}
