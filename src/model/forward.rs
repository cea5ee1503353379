//! The forward pass on the GPU: the walk of `record` recorded once at load
//! as two straight lists of dispatches (the fused decode list, and the GEMM
//! list for prefill steps of at least `GEMM_MIN_TOKENS` tokens), replayed
//! every step with one command submission. A group whose weights could not
//! be packed runs as the separate ops it fuses.

use std::collections::HashMap;
use std::sync::Arc;

use super::record::{per_layer_input_composed, record_body, record_head, record_hidden, Act, ActRows, HeadFold, Pass, Proj, Recorder, Residual};
use super::state::State;
use super::weights::{AttentionWeights, LayerWeights, MixerWeights, PerLayerWeights, Projections, Weights};
use super::{ModelConfig, ModelError};
use crate::gpu::{GpuContext, GpuTensor, Op, PackedTensors, PackedVectors, Step};
use crate::kernels::{self as k, AttentionShape, MatvecFold, MatvecOut, QkvShape, QkvVectors, RopeShape};
use crate::sampler::{LogitBias, SamplerConfig};

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
    /// Every token's final hidden state, after the output norm: (n_tokens,
    /// dim) f32, what llama.cpp pools into an embedding (its `t_embd`, the
    /// graph's result_norm). No logits.
    Hidden,
}

#[derive(Clone, Debug, Default)]
pub struct StepResult {
    pub token: Option<u32>,
    pub logits: Option<Vec<f32>>,
    /// With [`Output::Hidden`]: (n_tokens, dim) f32.
    pub hidden: Option<Vec<f32>>,
}

/// The model on a GPU (the `webgpu` backend of [`Model`](super::Model)).
pub struct GpuForward {
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
    /// Final norm and output projection for the step's last token, over
    /// the stream `body` leaves (with its last post-norm add folded in).
    head: Vec<Op>,
    /// The same over the stream `prefill_body` leaves.
    prefill_head: Vec<Op>,
    /// [`Output::Hidden`]'s ops in place of the head: the stream's pending
    /// add settled, then the output norm over every token into Xb.
    hidden: Vec<Op>,
    prefill_hidden: Vec<Op>,
    /// Xb's read-back for `Output::Hidden`, (max_batch, dim) f32: made at the
    /// first such step (a chat never needs it).
    hidden_slot: std::sync::OnceLock<crate::gpu::ReadbackSlot>,
    argmax: Op,
    /// Penalties, filters and one draw over the logits (`Output::Sample`).
    sample: Op,
    /// Host time of the last step up to its submit (buffer writes, encoding,
    /// submit), in ns: what each dispatch costs the CPU side.
    last_encode_ns: std::sync::atomic::AtomicU64,
    /// The token read-back slot the next step uses (0 or 1, alternating).
    next_token_slot: std::sync::atomic::AtomicUsize,
}

impl GpuForward {
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
        let rec = GpuRecorder { ctx: &ctx, c: &config, s: &state, fuse };
        let (body, out) = record_body(&rec, &config, &weights, Pass::Decode)?;
        let head = record_head(&rec, &config, &weights, &out)?;
        let hidden = record_hidden(&rec, &config, &weights, &out)?;
        let prefill_min_tokens = match prefill {
            PrefillPath::Auto => GEMM_MIN_TOKENS,
            PrefillPath::Gemm => 2,
            PrefillPath::Matvec => u32::MAX,
        };
        let (prefill_body, prefill_head, prefill_hidden) = if prefill_min_tokens <= max_batch {
            let (ops, out) = record_body(&rec, &config, &weights, Pass::Prefill)?;
            let head = record_head(&rec, &config, &weights, &out)?;
            let hidden = record_hidden(&rec, &config, &weights, &out)?;
            (ops, head, hidden)
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        let argmax = k::argmax(&ctx, &state.step, &state.logits, &state.sampled, config.vocab)?;
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
            prefill_head,
            hidden,
            prefill_hidden,
            hidden_slot: Default::default(),
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

    /// The head ops after [`body`](Self::body): none when `out` asks for no logits.
    fn head(&self, n_tokens: u32, out: Output) -> &[Op] {
        let prefill = n_tokens >= self.prefill_min_tokens;
        match out {
            Output::None => &[],
            Output::Hidden if prefill => &self.prefill_hidden,
            Output::Hidden => &self.hidden,
            _ if prefill => &self.prefill_head,
            _ => &self.head,
        }
    }

    /// Bytes `Output::Hidden` reads back for a step of `n_tokens`.
    fn hidden_bytes(&self, n_tokens: u32) -> u64 {
        n_tokens as u64 * self.config.dim as u64 * 4
    }

    fn hidden_slot(&self) -> &crate::gpu::ReadbackSlot {
        let bytes = self.hidden_bytes(self.state.max_batch);
        self.hidden_slot.get_or_init(|| crate::gpu::ReadbackSlot::new(&self.ctx, "hidden readback", bytes))
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
    /// kernels' tiling: each layer matrix once per GEMM tile of tokens
    /// (`PrefillKernels::tokens_per_group`) on the GEMM list (once per TOKENS_PER_GROUP on the matvec list), the
    /// embedding rows of the step's ids, the output head once (last token
    /// only). Norm vectors and biases are left out (under 0.1 % of the bytes).
    pub fn weight_bytes_read(&self, n_tokens: u32) -> u64 {
        let n = n_tokens.max(1) as u64;
        let per_token_group = if n_tokens >= self.prefill_min_tokens { self.ctx.prefill_kernels.tokens_per_group() } else { k::TOKENS_PER_GROUP };
        let passes = if n == 1 { 1 } else { n.div_ceil(per_token_group as u64) };
        let group_bytes = |g: &Projections| match g {
            Projections::Packed(p) => p.segments.iter().map(|s| s.n_bytes).sum::<u64>(),
            Projections::Separate(t) => t.iter().map(|t| t.n_bytes).sum(),
        };
        let mixer_bytes = |l: &LayerWeights| match &l.mixer {
            MixerWeights::Attention(a) => group_bytes(&a.qkv) + a.attn_output.n_bytes,
            MixerWeights::ShortConv(s) => s.in_proj.n_bytes + s.out_proj.n_bytes,
            MixerWeights::GatedDeltaNet(d) => group_bytes(&d.input) + d.out.n_bytes,
        };
        let per_layer = |l: &LayerWeights| l.per_layer.as_ref().map_or(0, |p| p.inp_gate.n_bytes + p.proj.n_bytes);
        let layers: u64 = self.weights.layers.iter().map(|l| mixer_bytes(l) + group_bytes(&l.gate_up) + l.ffn_down.n_bytes + per_layer(l)).sum();
        let embd = &self.weights.token_embd;
        // Gemma 4: the projection into the per-layer inputs, and each token's row of their table.
        let inputs = self.weights.per_layer_inputs.as_ref().map_or(0, |p| p.model_proj.n_bytes * passes + n * p.token_embd.row_bytes);
        layers * passes + n * embd.row_bytes + inputs + self.weights.output().n_bytes
    }

    /// Layers whose q|k|v and gate|up run fused, out of all layers.
    pub fn fused_layers(&self) -> (usize, usize) {
        let fused = self.weights.layers.iter().filter(|l| l.groups().iter().all(|g| matches!(g, Projections::Packed(_)))).count();
        (fused, self.weights.layers.len())
    }

    /// Fused groups (q|k|v, gate|up) streamed into their packed buffers at
    /// load, and those packed afterwards by GPU copies (a split GGUF): a
    /// copy holds the group's bytes twice while it runs.
    pub fn packed_groups(&self) -> (usize, usize) {
        let groups = self.weights.layers.iter().flat_map(|l| l.groups());
        groups.fold((0, 0), |(streamed, copied), g| match g {
            Projections::Packed(p) if p.copied => (streamed, copied + 1),
            Projections::Packed(_) => (streamed + 1, copied),
            Projections::Separate(_) => (streamed, copied),
        })
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
    pub fn dispatches_per_step(&self, n_tokens: u32, pos0: u32, out: Output) -> usize {
        let head = self.head(n_tokens, out);
        let argmax = (out == Output::Argmax).then_some(&self.argmax);
        let sample = (out == Output::Sample).then_some(&self.sample);
        let s = Step { pos0, n_tokens, kv_len: pos0 + n_tokens, _pad: 0 };
        self.body(n_tokens).iter().chain(head).chain(argmax).chain(sample).filter(|op| op.dispatches(&s)).count()
    }

    /// Host seconds the last step took to write its inputs, encode its
    /// dispatches and submit them (not the GPU time, not the read-back).
    pub fn last_encode_seconds(&self) -> f64 {
        self.last_encode_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 * 1e-9
    }

    /// Sets what the next `Output::Sample` step draws with: the sampler
    /// settings, the logit bias, the tokens its penalties look at (oldest
    /// first, including the ids of that step) and a uniform u32 from the
    /// seeded RNG ([`Sampler::next_draw`](crate::sampler::Sampler::next_draw)).
    /// False when the bias and the penalty window change more distinct ids
    /// than the GPU takes (kernels::MAX_ADJUSTED): sample that step on the CPU.
    pub fn set_sampling(&self, cfg: &SamplerConfig, bias: &LogitBias, recent: &[u32], draw: u32) -> bool {
        self.state.sample_inputs.write(&self.ctx.queue, cfg, bias, self.config.vocab, recent, draw)
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
        let n = check_step(input, pos0, self.state.max_batch, self.state.n_ctx, self.config.vocab)?;
        let needed = pos0 + n;
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
            return Ok(PendingStep { out, slot, n_tokens: n, cpu: None });
        }
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        if input == StepInput::PreviousToken {
            // The id the previous step chose (argmax.wgsl writes it in range).
            enc.copy_buffer_to_buffer(&self.state.sampled, 0, &self.state.ids, 0, 4);
        }
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for op in self.body(n).iter().chain(self.head(n, out)) {
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
            Output::Hidden => self.hidden_slot().record_copy(&mut enc, &self.state.xb, 0, self.hidden_bytes(n)),
        }
        q.submit([enc.finish()]);
        self.last_encode_ns.store(t_encode.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(PendingStep { out, slot, n_tokens: n, cpu: None })
    }

    /// Browser: the whole step in one call into JavaScript (`gpu::web_replay`).
    /// False when some op has no JS twin (the caller encodes through wgpu).
    #[cfg(target_arch = "wasm32")]
    fn replay(&self, s: &Step, input: StepInput<'_>, out: Output, slot: usize) -> Result<bool, ModelError> {
        let head = self.head(s.n_tokens, out);
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
            Output::Hidden => vec![(&st.xb, 0, self.hidden_slot().staging(), 0, self.hidden_bytes(s.n_tokens))],
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
            Output::Hidden => {
                let b = self.hidden_slot().read(&self.ctx, self.hidden_bytes(p.n_tokens)).await?;
                r.hidden = Some(bytemuck::pod_collect_to_vec(&b));
            }
        }
        Ok(r)
    }
}

/// Checks a step against the model's sizes: 1..=max_batch tokens, positions
/// within n_ctx, ids within the vocabulary. Returns its token count.
pub(super) fn check_step(input: StepInput<'_>, pos0: u32, max_batch: u32, n_ctx: u32, vocab: u32) -> Result<u32, ModelError> {
    let n = match input {
        StepInput::Ids(ids) => u32::try_from(ids.len()).unwrap_or(u32::MAX),
        StepInput::PreviousToken => 1,
    };
    if n == 0 || n > max_batch {
        return Err(ModelError::Config(format!("a step takes 1..={max_batch} tokens, got {n}")));
    }
    let needed = pos0.saturating_add(n);
    if needed > n_ctx {
        return Err(ModelError::ContextFull { needed, n_ctx });
    }
    if let StepInput::Ids(ids) = input {
        if let Some(&id) = ids.iter().find(|&&id| id >= vocab) {
            return Err(ModelError::BadToken { id, vocab });
        }
    }
    Ok(n)
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
    pub(super) out: Output,
    pub(super) slot: usize,
    /// The step's tokens (what `Output::Hidden` reads back).
    pub(super) n_tokens: u32,
    /// The CPU backend runs a step at submit: its result.
    pub(super) cpu: Option<StepResult>,
}

impl GpuForward {
    /// Native diagnostics: runs one step with every op in its own submission,
    /// waiting for each, and returns wall time per kernel family (op name with
    /// the layer prefix removed), largest first. The step runs once untimed
    /// first: a driver may compile a pipeline at its first dispatch (lavapipe
    /// JIT-compiles there; the sampler, which greedy tests never run, took
    /// 2.4 s that way on a cold shader cache), which is not the kernel's time.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn profile_step(&self, ids: &[u32], pos0: u32) -> Result<Vec<(String, f64)>, ModelError> {
        let n = ids.len() as u32;
        self.ctx.queue.write_buffer(&self.state.ids, 0, bytemuck::cast_slice(ids));
        let s = Step { pos0, n_tokens: n, kv_len: pos0 + n, _pad: 0 };
        self.ctx.queue.write_buffer(&self.state.step, 0, bytemuck::bytes_of(&s));
        let ops = || self.body(n).iter().chain(self.head(n, Output::Logits)).chain([&self.argmax, &self.sample]);
        let wait = || self.ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| crate::gpu::GpuError::Readback(e.to_string()));
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            ops().for_each(|op| op.encode(&mut pass, &s));
        }
        self.ctx.queue.submit([enc.finish()]);
        wait()?;
        // A validation or memory error is recorded, not returned: timings of a failed step mean nothing.
        self.ctx.check()?;
        let mut by_kind: HashMap<String, f64> = HashMap::new();
        for op in ops() {
            let t = web_time::Instant::now();
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                op.encode(&mut pass, &s);
            }
            self.ctx.queue.submit([enc.finish()]);
            wait()?;
            let kind = op.name.rsplit('.').find(|p| *p != "weight").unwrap_or(&op.name).to_string();
            *by_kind.entry(kind).or_default() += t.elapsed().as_secs_f64();
        }
        self.ctx.check()?;
        let mut v: Vec<_> = by_kind.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(v)
    }
}

/// A norm weight or bias: a single-part F32 tensor.
fn vec_buf(t: &GpuTensor) -> &wgpu::Buffer {
    &t.parts[0].buffer
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

/// Records the forward pass as GPU dispatches over the model's activation
/// buffers and KV cache (`State`).
struct GpuRecorder<'a> {
    ctx: &'a GpuContext,
    c: &'a ModelConfig,
    s: &'a State,
    /// `LoadOptions::fuse`: false runs Gemma 4's per-layer block as separate
    /// ops too (the packed groups are already separate).
    fuse: bool,
}

impl GpuRecorder<'_> {
    fn buf(&self, a: Act) -> &wgpu::Buffer {
        let s = self.s;
        match a {
            Act::X => &s.x,
            Act::Xb => &s.xb,
            Act::XAlt => &s.x_alt,
            Act::Q => &s.q,
            Act::K => &s.k,
            Act::V => &s.v,
            Act::Att => &s.att,
            Act::Gate => &s.gate,
            Act::Up => &s.up,
            Act::Mix => &s.mix,
            Act::Conv => &s.conv,
            Act::Gates => &s.gates,
            Act::Z => &s.z,
            Act::PerLayer => &s.per_layer,
            Act::PerLayerProj => &s.per_layer_proj,
        }
    }
}

impl GpuRecorder<'_> {
    /// The stream's pending post-norm add as the kernels fold it, writing
    /// the stream to `x.next()` when `write`.
    fn pending<'b>(&'b self, x: &'b Residual<'_, GpuTensor>, write: bool) -> Option<k::PendingNorm<'b>> {
        x.pending.as_ref().map(|pn| k::PendingNorm {
            xb: self.buf(pn.from),
            norm: vec_buf(pn.norm),
            scale: pn.scale.as_ref().map(|(s, _)| vec_buf(s)),
            out: write.then(|| self.buf(x.next())),
            eps: pn.eps,
        })
    }
}

impl Recorder for GpuRecorder<'_> {
    type Tensor = GpuTensor;
    type Op = Op;

    fn embed(&self, name: &str, table: &GpuTensor, out: Act, scale: f32) -> Result<Vec<Op>, ModelError> {
        Ok(k::embed(self.ctx, &self.s.step, name, table, &self.s.ids, self.buf(out), scale)?)
    }

    fn embed_add(&self, name: &str, table: &GpuTensor, rows: k::EmbedRows, out: Act) -> Result<Vec<Op>, ModelError> {
        Ok(k::embed_rows(self.ctx, &self.s.step, name, table, &self.s.ids, self.buf(out), 1.0, rows, true)?)
    }

    fn layernorm(&self, name: &str, x: Act, w: &GpuTensor, b: &GpuTensor, dim: u32, eps: f32) -> Result<Op, ModelError> {
        Ok(k::layernorm(self.ctx, &self.s.step, name, self.buf(x), vec_buf(w), vec_buf(b), dim, eps)?)
    }

    fn activation(&self, name: &str, act: k::GateActivation, x: Act, width: u32) -> Result<Op, ModelError> {
        Ok(k::activation(self.ctx, &self.s.step, name, act, self.buf(x), width)?)
    }

    fn rmsnorm(&self, name: &str, x: Act, g: &GpuTensor, y: Act, dim: u32, eps: f32) -> Result<Op, ModelError> {
        Ok(k::rmsnorm(self.ctx, &self.s.step, name, self.buf(x), vec_buf(g), self.buf(y), dim, 1, eps)?)
    }

    fn rmsnorm_in_place(&self, name: &str, x: Act, g: Option<&GpuTensor>, dim: u32, rows_per_token: u32, eps: f32) -> Result<Op, ModelError> {
        Ok(k::rmsnorm_in_place(self.ctx, &self.s.step, name, self.buf(x), g.map(vec_buf), dim, rows_per_token, eps)?)
    }

    fn rmsnorm_add(&self, name: &str, x: Act, g: &GpuTensor, y: Act, dim: u32, rows_per_token: u32, eps: f32, scale: f32) -> Result<Op, ModelError> {
        Ok(k::rmsnorm_add(self.ctx, &self.s.step, name, self.buf(x), vec_buf(g), self.buf(y), dim, rows_per_token, eps, scale)?)
    }

    fn project(&self, name: &str, w: Proj<'_, GpuTensor>, x: Act, xs: u64, y: Act, ys: u64, out: MatvecOut, pass: Pass) -> Result<Vec<Op>, ModelError> {
        let (ctx, step, x, y) = (self.ctx, &self.s.step, self.buf(x), self.buf(y));
        Ok(match (pass, w) {
            (Pass::Decode, Proj::Tensor(t)) => k::matvec(ctx, step, name, t, x, xs, y, ys, out)?,
            (Pass::Prefill, Proj::Tensor(t)) => k::gemm(ctx, step, name, t, x, xs, y, ys, out)?,
            (_, Proj::Segment(p, i)) if out == MatvecOut::AllTokens => vec![k::gemm_segment(ctx, step, name, p, i, x, xs, y, ys)?],
            (_, Proj::Segment(..)) => return Err(ModelError::Config(format!("{name}: a packed projection cannot accumulate"))),
        })
    }

    fn bias_add(&self, name: &str, y: Act, b: &GpuTensor, width: u32) -> Result<Op, ModelError> {
        Ok(k::bias_add(self.ctx, &self.s.step, name, self.buf(y), vec_buf(b), width)?)
    }

    fn rope(&self, name: &str, x: Act, stride: u32, shape: RopeShape, factors: Option<&GpuTensor>) -> Result<Op, ModelError> {
        Ok(k::rope(self.ctx, &self.s.step, name, self.buf(x), stride, shape, factors.map(vec_buf))?)
    }

    fn kv_store(&self, name: &str, l: usize, kv_dim: u32) -> Result<Op, ModelError> {
        let s = self.s;
        Ok(k::kv_store(self.ctx, &s.step, name, &s.k, &s.v, &s.k_cache[l], &s.v_cache[l], kv_dim, s.cache_len[l])?)
    }

    fn attention(&self, name: &str, l: usize, shape: AttentionShape, pass: Pass) -> Result<Vec<Op>, ModelError> {
        let s = self.s;
        Ok(match pass {
            // CPU adapters: the lanes take positions, each K/V row loaded by one lane.
            Pass::Decode if k::position_lanes_take(self.ctx, &shape) => {
                k::attention_position_lanes(self.ctx, &s.step, name, &s.q, &s.k_cache[l], &s.v_cache[l], &s.att, &s.att_partials, shape, s.cache_len[l], s.n_ctx)?
            }
            Pass::Decode => k::attention(self.ctx, &s.step, name, &s.q, &s.k_cache[l], &s.v_cache[l], &s.att, &s.att_partials, shape, s.cache_len[l], s.n_ctx)?,
            // A tile of queries shares each K/V block it stages.
            Pass::Prefill => vec![k::flash_attention(self.ctx, &s.step, name, &s.q, &s.k_cache[l], &s.v_cache[l], &s.att, shape, s.cache_len[l])?],
        })
    }

    fn gated_activation(&self, name: &str, act: k::GateActivation, up: Act, up_offset: u32, up_stride: u32, width: u32) -> Result<Op, ModelError> {
        let up = k::Rows { buffer: self.buf(up), offset: up_offset, stride: up_stride };
        Ok(k::gated_activation(self.ctx, &self.s.step, name, act, &self.s.gate, up, width)?)
    }

    fn scale(&self, name: &str, x: Act, s: &GpuTensor, width: u32) -> Result<Op, ModelError> {
        Ok(k::scale_by(self.ctx, &self.s.step, name, self.buf(x), vec_buf(s), width)?)
    }

    fn head(&self, w: &GpuTensor, fold: HeadFold<'_, GpuTensor>, x: &Residual<'_, GpuTensor>) -> Result<Vec<Op>, ModelError> {
        let fold = MatvecFold { norm: Some((vec_buf(fold.norm), fold.eps)), softcap: fold.softcap, pending: self.pending(x, false) };
        let (c, s) = (self.c, self.s);
        Ok(k::matvec_folded(self.ctx, &s.step, "output", w, self.buf(x.x), c.dim as u64, &s.logits, c.vocab as u64, MatvecOut::LastToken, fold)?)
    }

    fn per_layer_input(&self, name: &str, pw: &PerLayerWeights, x: &Residual<'_, GpuTensor>, up: Act, up_offset: u32, up_stride: u32, out: Act, pass: Pass) -> Result<(Vec<Op>, Act), ModelError> {
        // Prefill, unfused, and weights the kernel cannot take: the separate ops.
        if pass == Pass::Prefill || !self.fuse || !k::per_layer_fits(&pw.inp_gate, &pw.proj) {
            return per_layer_input_composed(self, self.c, name, pw, x, up, up_offset, up_stride, out, pass);
        }
        let up = k::Rows { buffer: self.buf(up), offset: up_offset, stride: up_stride };
        let s = self.s;
        let op = k::per_layer(self.ctx, &s.step, name, &pw.inp_gate, &pw.proj, self.buf(x.x), up, self.buf(out), self.c.dim as u64, self.pending(x, true))?;
        Ok((vec![op], x.next()))
    }

    fn attn_qkv(&self, name: &str, l: usize, attn_norm: &GpuTensor, lw: &AttentionWeights, packed: &PackedTensors, vecs: &PackedVectors, shape: QkvShape, factors: Option<&GpuTensor>, output_gate: bool, x: &Residual<'_, GpuTensor>) -> Result<Op, ModelError> {
        let at = |t: &GpuTensor| vecs.offset(&t.name).ok_or_else(|| ModelError::MissingTensor(t.name.clone()));
        let vectors = QkvVectors {
            attn_norm: at(attn_norm)?,
            bias: match &lw.qkv_bias {
                Some([bq, bk, bv]) => Some([at(bq)?, at(bk)?, at(bv)?]),
                None => None,
            },
            // q alone (a shared-KV layer) has no k norm: its offset is never read.
            qk_norm: match (&lw.q_norm, &lw.k_norm) {
                (Some(nq), Some(nk)) => Some([at(nq)?, at(nk)?]),
                (Some(nq), None) => Some([at(nq)?, at(nq)?]),
                _ => None,
            },
            rope_factors: factors.map(at).transpose()?,
        };
        let s = self.s;
        let gate = output_gate.then_some(&s.mix);
        Ok(k::attn_qkv(self.ctx, &s.step, name, packed, self.buf(x.x), vecs, vectors, shape, &s.q, gate, &s.k_cache[l], &s.v_cache[l], s.cache_len[l], self.pending(x, true))?)
    }

    fn short_conv(&self, name: &str, l: usize, taps: &GpuTensor, dim: u32, l_cache: u32) -> Result<Op, ModelError> {
        let s = self.s;
        let state = s.conv_state.get(l).and_then(Option::as_ref).ok_or_else(|| ModelError::Config(format!("{name}: layer {l} has no convolution state")))?;
        let shape = k::ConvShape { channels: dim, taps: l_cache, gating: k::ConvGating::ShortConv };
        Ok(k::ssm_conv(self.ctx, &s.step, name, k::Rows::dense(&s.mix, 3 * dim), vec_buf(taps), state, &s.att, shape)?)
    }

    fn copy_heads(&self, name: &str, dst: Act, dl: k::HeadLayout, src: Act, sl: k::HeadLayout, n_heads: u32, width: u32) -> Result<Op, ModelError> {
        Ok(k::copy_heads(self.ctx, &self.s.step, name, self.buf(dst), dl, self.buf(src), sl, n_heads, width)?)
    }

    fn sigmoid_gate_heads(&self, name: &str, dst: Act, dl: k::HeadLayout, src: Act, sl: k::HeadLayout, n_heads: u32, width: u32) -> Result<Op, ModelError> {
        Ok(k::sigmoid_gate_heads(self.ctx, &self.s.step, name, self.buf(dst), dl, self.buf(src), sl, n_heads, width)?)
    }

    fn delta_conv(&self, name: &str, l: usize, taps: &GpuTensor, shape: k::ConvShape) -> Result<Op, ModelError> {
        let s = self.s;
        let state = s.conv_state.get(l).and_then(Option::as_ref).ok_or_else(|| ModelError::Config(format!("{name}: layer {l} has no convolution state")))?;
        Ok(k::ssm_conv(self.ctx, &s.step, name, k::Rows::dense(&s.mix, shape.input_width() as u32), vec_buf(taps), state, &s.conv, shape)?)
    }

    fn delta_net(&self, name: &str, l: usize, dt_bias: &GpuTensor, ssm_a: &GpuTensor, norm: &GpuTensor, shape: k::DeltaNetShape, norm_eps: f32) -> Result<Op, ModelError> {
        let s = self.s;
        let state = s.delta_state.get(l).and_then(Option::as_ref).ok_or_else(|| ModelError::Config(format!("{name}: layer {l} has no delta-rule state")))?;
        let nv = shape.n_v_heads;
        let gates = k::DeltaNetGates { buffer: &s.gates, stride: 2 * nv, alpha_offset: 0, beta_offset: nv };
        let params = k::DeltaNetParams { dt_bias: vec_buf(dt_bias), ssm_a: vec_buf(ssm_a) };
        let gated = k::GatedNorm { z: k::Rows::dense(&s.z, shape.out_width() as u32), weight: vec_buf(norm), eps: norm_eps };
        let qkv = k::Rows::dense(&s.conv, shape.qkv_width() as u32);
        Ok(k::gated_delta_net(self.ctx, &s.step, name, qkv, gates, params, state, &s.att, shape, Some(gated))?)
    }

    fn norm_projections(&self, name: &str, x: Act, norm: &GpuTensor, packed: &PackedTensors, outs: &[ActRows], eps: f32) -> Result<Op, ModelError> {
        let rows: Vec<k::Rows> = outs.iter().map(|o| k::Rows { buffer: self.buf(o.act), offset: o.offset, stride: o.stride }).collect();
        Ok(k::norm_projections(self.ctx, &self.s.step, name, packed, self.buf(x), vec_buf(norm), eps, &rows)?)
    }

    fn ffn_gate_up(&self, name: &str, lw: &LayerWeights, packed: &PackedTensors, eps: f32, act: k::GateActivation, x: &Residual<'_, GpuTensor>) -> Result<Op, ModelError> {
        Ok(k::ffn_gate_up(self.ctx, &self.s.step, name, packed, self.buf(x.x), vec_buf(&lw.ffn_norm), eps, act, &self.s.gate, self.pending(x, true))?)
    }

    fn folds_pending(&self) -> bool {
        self.ctx.matvec.folds_pending_add()
    }
}
