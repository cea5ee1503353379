//! [`Model`]: a loaded model on one backend — the GPU (WebGPU, natively
//! wgpu) or the CPU — behind one step API, so the engine, tokenizer,
//! sampler and KV-cache bookkeeping are the same for both.

use std::sync::Arc;

use super::forward::{check_step, GpuForward};
use super::{ModelConfig, ModelError, Output, PendingStep, Ring, StepInput, StepResult, Weights};
use crate::cpu::CpuForward;
use crate::gpu::GpuContext;
use crate::sampler::{LogitBias, SamplerConfig};

/// Which backend runs a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// WebGPU in the browser, wgpu natively.
    #[serde(rename = "webgpu")]
    WebGpu,
    /// The wasm SIMD / native CPU kernels (`crate::cpu`).
    Cpu,
}

impl BackendKind {
    /// The name the JS API and the CLI use (`'webgpu'`, `'cpu'`).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::WebGpu => "webgpu",
            BackendKind::Cpu => "cpu",
        }
    }
}

pub(super) enum Backend {
    Gpu(GpuForward),
    Cpu(CpuForward),
}

/// A model ready to run: configuration, weights, activations and KV cache
/// on its backend, and the recorded forward pass.
pub struct Model {
    pub config: ModelConfig,
    pub(super) backend: Backend,
    /// `config.dense_out`'s weights, in its order, in host memory.
    dense: Vec<crate::cpu::CpuTensor>,
}

impl Model {
    pub(super) fn gpu(f: GpuForward) -> Self {
        Self { config: f.config.clone(), backend: Backend::Gpu(f), dense: Vec::new() }
    }

    pub(super) fn cpu(config: ModelConfig, f: CpuForward) -> Self {
        Self { config, backend: Backend::Cpu(f), dense: Vec::new() }
    }

    pub(super) fn with_dense(self, dense: Vec<crate::cpu::CpuTensor>) -> Self {
        Self { dense, ..self }
    }

    /// A pooled vector through the model's dense projections
    /// (`config.dense_out`, EmbeddingGemma's `dense_2` then `dense_3`), as
    /// llama.cpp's `build_dense_out` applies them after pooling and before
    /// normalization; the vector unchanged without them. `pooled`: (dim)
    /// f32; returns (the last projection's n_out) f32. One matvec each with
    /// the CPU backend's matmul, on either backend (a few MFLOP).
    ///
    /// Errors: `Cpu` for a weight type the CPU matmul does not read, or a
    /// vector of the wrong width.
    pub fn project_pooled(&self, pooled: Vec<f32>) -> Result<Vec<f32>, ModelError> {
        let mut x = pooled;
        for (p, w) in self.config.dense_out.iter().zip(&self.dense) {
            let mut y = vec![0.0f32; p.n_out as usize];
            let bytes = w.host_bytes().ok_or_else(|| ModelError::Cpu(crate::cpu::CpuError::Shape(format!("{}: not in host memory", p.tensor))))?;
            crate::cpu::matmul::matmul(w.ty, bytes, p.n_out as usize, p.n_in as usize, 0..p.n_out as usize, &x, 1, &mut y, p.n_out as usize, crate::cpu::matmul::Write::Store)
                .map_err(|e| ModelError::Cpu(crate::cpu::CpuError::Shape(format!("{}: {e}", p.tensor))))?;
            x = y;
        }
        Ok(x)
    }

    pub fn backend(&self) -> BackendKind {
        match self.backend {
            Backend::Gpu(_) => BackendKind::WebGpu,
            Backend::Cpu(_) => BackendKind::Cpu,
        }
    }

    /// The GPU the model runs on (None on the CPU backend).
    pub fn gpu_context(&self) -> Option<&Arc<GpuContext>> {
        match &self.backend {
            Backend::Gpu(g) => Some(&g.ctx),
            Backend::Cpu(_) => None,
        }
    }

    /// The GPU forward pass (None on the CPU backend): diagnostics and tests.
    pub fn gpu_forward(&self) -> Option<&GpuForward> {
        match &self.backend {
            Backend::Gpu(g) => Some(g),
            Backend::Cpu(_) => None,
        }
    }

    pub fn n_ctx(&self) -> u32 {
        match &self.backend {
            Backend::Gpu(g) => g.n_ctx(),
            Backend::Cpu(c) => c.n_ctx,
        }
    }

    pub fn max_batch(&self) -> u32 {
        match &self.backend {
            Backend::Gpu(g) => g.max_batch(),
            Backend::Cpu(c) => c.max_batch,
        }
    }

    /// (GGUF name, bytes) of every weight tensor held.
    pub fn weight_sizes(&self) -> &[(String, u64)] {
        match &self.backend {
            Backend::Gpu(g) => g.weight_sizes(),
            Backend::Cpu(c) => &c.weights.sizes,
        }
    }

    /// The GPU weights, by role (None on the CPU backend).
    pub fn weights(&self) -> Option<&Weights> {
        self.gpu_forward().map(|g| g.weights())
    }

    /// Bytes of weights held.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_sizes().iter().map(|(_, b)| b).sum()
    }

    /// Weight bytes one step of `n_tokens` reads from memory (see
    /// `GpuForward::weight_bytes_read`); on the CPU every matrix once per step
    /// plus the step's embedding rows.
    pub fn weight_bytes_read(&self, n_tokens: u32) -> u64 {
        match &self.backend {
            Backend::Gpu(g) => g.weight_bytes_read(n_tokens),
            Backend::Cpu(c) => {
                let embd = &c.weights.token_embd;
                let tied = c.weights.output.is_none();
                let all = self.weight_bytes();
                let embd_rows = n_tokens.max(1) as u64 * embd.row_bytes as u64;
                if tied { all + embd_rows } else { all - embd.n_bytes as u64 + embd_rows }
            }
        }
    }

    /// Layers whose q|k|v and gate|up run fused, out of all layers.
    pub fn fused_layers(&self) -> (usize, usize) {
        match &self.backend {
            Backend::Gpu(g) => g.fused_layers(),
            Backend::Cpu(_) => (0, self.config.n_layers as usize),
        }
    }

    /// Fused groups streamed into place at load, and packed by copies
    /// afterwards (`GpuForward::packed_groups`); (0, 0) on the CPU.
    pub fn packed_groups(&self) -> (usize, usize) {
        match &self.backend {
            Backend::Gpu(g) => g.packed_groups(),
            Backend::Cpu(_) => (0, 0),
        }
    }

    /// The sliding-window layers' ring cache, when some layer has one.
    pub fn kv_ring(&self) -> Option<Ring> {
        match &self.backend {
            Backend::Gpu(g) => g.kv_ring(),
            Backend::Cpu(c) => c.ring,
        }
    }

    pub fn kv_cache_bytes(&self) -> u64 {
        match &self.backend {
            Backend::Gpu(g) => g.kv_cache_bytes(),
            Backend::Cpu(c) => c.kv_cache_bytes(),
        }
    }

    /// GPU dispatches (CPU: ops) one step of `n_tokens` records with output `out`.
    pub fn dispatches_per_step(&self, n_tokens: u32, out: Output) -> usize {
        self.dispatches_per_step_at(n_tokens, 0, out)
    }

    /// [`dispatches_per_step`](Self::dispatches_per_step) for a step at
    /// position `pos0`: a decode step over a long span adds attention's
    /// combine dispatches.
    pub fn dispatches_per_step_at(&self, n_tokens: u32, pos0: u32, out: Output) -> usize {
        match &self.backend {
            Backend::Gpu(g) => g.dispatches_per_step(n_tokens, pos0, out),
            Backend::Cpu(c) => c.ops_per_step(out),
        }
    }

    /// Host seconds the last GPU step took to encode and submit (0 on the CPU,
    /// where the whole step is host time).
    pub fn last_encode_seconds(&self) -> f64 {
        match &self.backend {
            Backend::Gpu(g) => g.last_encode_seconds(),
            Backend::Cpu(_) => 0.0,
        }
    }

    /// Sets what the next `Output::Sample` step draws with (see
    /// `GpuForward::set_sampling`). False when that step must sample on the
    /// host instead: always on the CPU backend.
    pub fn set_sampling(&self, cfg: &SamplerConfig, bias: &LogitBias, recent: &[u32], draw: u32) -> bool {
        match &self.backend {
            Backend::Gpu(g) => g.set_sampling(cfg, bias, recent, draw),
            Backend::Cpu(_) => false,
        }
    }

    /// Runs `ids` (at most `max_batch`) at positions pos0.. and returns what `out` asks for.
    pub async fn step(&self, ids: &[u32], pos0: u32, out: Output) -> Result<StepResult, ModelError> {
        let pending = self.submit(StepInput::Ids(ids), pos0, out)?;
        self.finish(pending).await
    }

    /// Starts a step (see `GpuForward::submit`: a GPU step is queued and
    /// read back by [`finish`](Self::finish)); the CPU runs it here.
    /// `Output::Sample` is GPU-only (the CPU backend's `set_sampling` says so).
    /// A model without a head (BERT) gives `Output::Hidden` or nothing
    /// (`NoHead`); a bidirectional one runs its text as one step from
    /// position 0 (`BidirectionalStep`).
    pub fn submit(&self, input: StepInput<'_>, pos0: u32, out: Output) -> Result<PendingStep, ModelError> {
        if !self.config.has_head() && matches!(out, Output::Argmax | Output::Logits | Output::Sample) {
            return Err(ModelError::NoHead);
        }
        if !self.config.causal && pos0 != 0 {
            return Err(ModelError::BidirectionalStep { pos0 });
        }
        match &self.backend {
            Backend::Gpu(g) => g.submit(input, pos0, out),
            Backend::Cpu(c) => {
                check_step(input, pos0, c.max_batch, c.n_ctx, self.config.vocab)?;
                if out == Output::Sample {
                    return Err(ModelError::Config("the CPU backend samples on the host: ask for Output::Logits".into()));
                }
                let ids = match input {
                    StepInput::Ids(ids) => Some(ids),
                    StepInput::PreviousToken => None,
                };
                let result = c.run(ids, pos0, out)?;
                Ok(PendingStep { out, slot: 0, n_tokens: ids.map_or(1, |i| i.len() as u32), cpu: Some(result) })
            }
        }
    }

    /// Waits for a submitted step and reads back what its output asks for.
    pub async fn finish(&self, mut p: PendingStep) -> Result<StepResult, ModelError> {
        if let Some(r) = p.cpu.take() {
            // The step ran in `submit`; give the worker's event loop a turn
            // (an abort arrives there) before the next one.
            #[cfg(target_arch = "wasm32")]
            crate::cpu::yield_to_event_loop().await;
            return Ok(r);
        }
        match &self.backend {
            Backend::Gpu(g) => g.finish(p).await,
            Backend::Cpu(_) => Err(ModelError::Config("a GPU step cannot finish on the CPU backend".into())),
        }
    }

    /// Native diagnostics: wall time per op family of one step, largest first (GPU only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn profile_step(&self, ids: &[u32], pos0: u32) -> Result<Vec<(String, f64)>, ModelError> {
        match &self.backend {
            Backend::Gpu(g) => g.profile_step(ids, pos0),
            Backend::Cpu(_) => Err(ModelError::Config("--profile times GPU kernels; the CPU backend has none".into())),
        }
    }
}
