//! The forward pass on the CPU: the same walk of the layers as the GPU
//! (`model::record_body`), recorded as [`CpuOp`]s over host buffers and run
//! in order each step. Weights stay in their GGUF blocks ([`CpuTensor`]);
//! activations are f32, the KV cache f16 (`attention`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::matmul::Write;
use super::attention::{self, Scratch};
use super::{ops, CpuError, CpuTensor, CpuThreads, WeightHandle};
use crate::gpu::{PackedTensors, PackedVectors};
use super::recurrent::{self, HostRows};
use crate::kernels::{AttentionShape, ConvGating, ConvShape, DeltaNetShape, EmbedRows, GateActivation, HeadLayout, MatvecOut, QkvShape, RopeShape};
use crate::model::{per_layer_input_composed, PerLayerWeights, record_body, record_head, record_hidden, settle, Output, StepResult, Residual, Act, ActRows, AttentionWeights, HeadFold, LayerWeights, Mixer, ModelConfig, ModelError, Pass, Proj, Recorder, Ring, Weights};

/// A weight tensor as the CPU forward pass holds it (shared by the ops that read it).
pub type CpuWeight = Arc<CpuTensor>;

/// One op of the CPU forward pass, with everything it reads bound at load.
pub struct CpuOp {
    pub name: String,
    kind: Kind,
}

enum Kind {
    /// out[t, :] (+ with `add`)= scale · dequant(W[row(t), :]), row(t) as `rows` says.
    Embed { w: CpuWeight, out: Act, scale: f32, rows: EmbedRows, add: bool },
    /// x = layernorm(x) · w + b in place over rows of `dim`.
    LayerNorm { x: Act, w: Vec<f32>, b: Vec<f32>, dim: usize, eps: f32 },
    /// x[t, i] = act(x[t, i]) for i < width.
    Activation { act: GateActivation, x: Act, width: usize },
    /// y = rmsnorm(x) · g · scale over `rows` rows of `dim` per token (added to y with `add`).
    RmsNorm { x: Act, g: Vec<f32>, y: Act, add: bool, dim: usize, rows: usize, eps: f32, scale: f32 },
    /// x = rmsnorm(x) [· g] in place over rows of `dim`.
    RmsNormInPlace { x: Act, g: Option<Vec<f32>>, dim: usize, eps: f32 },
    /// y[t, 0..rows] (+)= W x[t, :]
    Matmul { w: CpuWeight, x: Act, x_stride: usize, y: Act, y_stride: usize, write: Write },
    BiasAdd { y: Act, b: Vec<f32>, width: usize },
    Rope { x: Act, stride: usize, shape: RopeShape, factors: Option<Vec<f32>> },
    KvStore { layer: usize, kv_dim: usize },
    Attention { layer: usize, shape: AttentionShape },
    /// Gate[t, i] = act(Gate[t, i]) · up[t · up_stride + up_offset + i] for i < width.
    GatedActivation { act: GateActivation, up: Act, up_offset: usize, up_stride: usize, width: usize },
    /// x[t, i] *= s for i < width.
    Scale { x: Act, s: f32, width: usize },
    /// output = the causal conv of `input` over layer `layer`'s rolling state:
    /// LFM2's c ⊙ conv(b ⊙ x) (Mix = b | c | x → Att), or the Gated
    /// DeltaNet's silu(conv(Mix)) → Conv, as `shape.gating` says.
    Conv { layer: usize, taps: Vec<f32>, shape: ConvShape, input: Act, output: Act },
    /// dst[t, h, i] = src[t, h, i], or with `sigmoid` dst[t, h, i] ·= sigmoid(src[t, h, i]).
    Heads { dst: Act, dl: HeadLayout, src: Act, sl: HeadLayout, n_heads: usize, width: usize, sigmoid: bool },
    /// Att = the gated delta rule over Conv, Gates, Z and the layer's state.
    DeltaNet { layer: usize, dt_bias: Vec<f32>, ssm_a: Vec<f32>, norm: Vec<f32>, shape: DeltaNetShape, eps: f32 },
    /// logits = [softcap](W · rmsnorm(x[last]) · g)
    Head { w: CpuWeight, x: Act, norm: Vec<f32>, eps: f32, softcap: Option<f32> },
}

/// Activations (max_batch tokens each) and KV cache of the CPU forward pass.
struct CpuState {
    /// By `Act` (index of `Act::ALL`): (max_batch, width) f32.
    acts: Vec<Vec<f32>>,
    /// (vocab) logits of the step's last token.
    logits: Vec<f32>,
    /// (dim) the last token's normed input to the head.
    head_in: Vec<f32>,
    /// Per layer (cache_len[l], layer_kv_dim(l)) f16; position p in slot p % cache_len[l].
    k_cache: Vec<KvCache>,
    v_cache: Vec<KvCache>,
    /// Per layer, a short-conv layer's rolling state (l_cache − 1, dim) f32,
    /// or a Gated DeltaNet's conv state (taps − 1, conv channels); empty elsewhere.
    conv_state: Vec<Vec<f32>>,
    /// Per layer, a Gated DeltaNet's state (n_v_heads, head_v_dim, head_k_dim) f32; empty elsewhere.
    delta_state: Vec<Vec<f32>>,
    /// Attention's scratch (bounded by the heads, not the context).
    attention: Scratch,
    /// (max_batch) token ids of the step.
    ids: Vec<u32>,
    /// The last step's argmax (what `StepInput::PreviousToken` feeds).
    sampled: u32,
}

/// One layer's K or V cache: in host memory, or in the memory of the
/// threads that run attention (`super::threads`), where the engine only
/// writes the step's rows.
enum KvCache {
    /// (cache_len, kv_dim) f16.
    Host(Vec<half::f16>),
    /// (cache_len, kv_dim) f16 at `handle`, `len` elements.
    Threads { threads: Arc<dyn CpuThreads>, handle: WeightHandle, len: usize },
}

impl KvCache {
    fn new(threads: Option<&Arc<dyn CpuThreads>>, len: usize) -> Result<Self, CpuError> {
        match threads {
            Some(t) if len > 0 => {
                let handle = t.alloc("KV cache", len * 2)?;
                // The threads' memory is not zeroed: a fresh cache reads as zeros, as a host one does.
                t.write(handle, 0, &vec![0u8; len * 2])?;
                Ok(KvCache::Threads { threads: t.clone(), handle, len })
            }
            _ => Ok(KvCache::Host(zeros("KV cache", len)?)),
        }
    }

    /// Stores `src` (f32, rounded to f16 as `attention::store` does) at element `at`.
    fn store(&mut self, at: usize, src: &[f32], tmp: &mut Vec<half::f16>) -> Result<(), CpuError> {
        match self {
            KvCache::Host(c) => {
                let dst = c.get_mut(at..at + src.len()).ok_or_else(|| CpuError::Shape(format!("KV rows {at}..+{} past the cache", src.len())))?;
                Ok(attention::store(src, dst)?)
            }
            KvCache::Threads { threads, handle, len } => {
                if at + src.len() > *len {
                    return Err(CpuError::Shape(format!("KV rows {at}..+{} past a cache of {len}", src.len())));
                }
                tmp.resize(src.len(), half::f16::ZERO);
                attention::store(src, tmp)?;
                threads.write(*handle, at * 2, bytemuck::cast_slice(tmp))
            }
        }
    }
}

impl Drop for KvCache {
    fn drop(&mut self) {
        if let KvCache::Threads { threads, handle, len } = self {
            threads.free(*handle, *len * 2);
        }
    }
}

fn slot(a: Act) -> usize {
    Act::ALL.iter().position(|&b| b == a).unwrap_or(0)
}

impl CpuState {
    fn act(&self, a: Act) -> &[f32] {
        &self.acts[slot(a)]
    }
    fn act_mut(&mut self, a: Act) -> &mut Vec<f32> {
        &mut self.acts[slot(a)]
    }
}

/// A step for the CPU: where it starts and how many tokens it holds.
#[derive(Clone, Copy, Debug)]
pub struct CpuStep {
    pub pos0: u32,
    pub n_tokens: usize,
}

/// The model on the CPU backend.
pub struct CpuForward {
    pub weights: Weights<CpuWeight>,
    body: Vec<CpuOp>,
    head: Vec<CpuOp>,
    /// `Output::Hidden` in place of the head: the output norm of every token into Xb.
    hidden: Vec<CpuOp>,
    state: Mutex<CpuState>,
    pub cache_len: Vec<u32>,
    /// Per layer, elements of a position in its cache (0 without a cache of its own).
    kv_dims: Vec<u32>,
    pub ring: Option<Ring>,
    pub max_batch: u32,
    pub n_ctx: u32,
    vocab: usize,
    /// Width of the residual stream (hidden states).
    dim: usize,
}

/// `n` zeros, or an error naming `what` when the host refuses the memory.
fn zeros<T: Copy + Default>(what: &str, n: usize) -> Result<Vec<T>, CpuError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| CpuError::OutOfMemory { what: what.to_string(), bytes: (n * std::mem::size_of::<T>()) as u64 })?;
    v.resize(n, T::default());
    Ok(v)
}

fn f32_vec(what: &str, n: usize) -> Result<Vec<f32>, CpuError> {
    zeros(what, n)
}

impl CpuForward {
    /// Records the forward pass over `tensors` (by GGUF name) and allocates
    /// activations for `max_batch` tokens and a KV cache of `n_ctx` positions.
    /// With `threads`, the KV cache lives in their memory and attention runs
    /// on them (as the matmuls of weights they hold do).
    pub fn new(c: &ModelConfig, tensors: HashMap<String, CpuTensor>, max_batch: u32, n_ctx: u32, threads: Option<Arc<dyn CpuThreads>>) -> Result<Self, ModelError> {
        let by_name = tensors.into_iter().map(|(n, t)| (n, Arc::new(t))).collect();
        let unpacked = |_: &str, v: Vec<CpuWeight>| Ok(crate::model::Projections::Separate(v));
        let no_vectors = |label: &str, _: &[&CpuWeight]| -> Result<PackedVectors, ModelError> { Err(ModelError::Config(format!("{label}: the CPU backend does not pack"))) };
        let weights = Weights::assemble_with(c, by_name, unpacked, no_vectors)?;
        let rec = CpuRecorder { c };
        let (body, out) = record_body(&rec, c, &weights, Pass::Prefill)?;
        let head = record_head(&rec, c, &weights, &out)?;
        let hidden = record_hidden(&rec, c, &weights, &out)?;
        let (cache_len, ring) = crate::model::cache_layout(c, max_batch, n_ctx);
        let b = max_batch as usize;
        let acts = Act::ALL.iter().map(|a| f32_vec("activations", b * a.width(c) as usize)).collect::<Result<_, _>>()?;
        let cache = |_: &str| (0..).zip(&cache_len).map(|(l, &n)| KvCache::new(threads.as_ref(), n as usize * c.layer_kv_dim(l) as usize)).collect::<Result<Vec<_>, _>>();
        let state = CpuState {
            acts,
            logits: f32_vec("logits", c.vocab as usize)?,
            head_in: f32_vec("activations", c.dim as usize)?,
            k_cache: cache("KV cache")?,
            v_cache: cache("KV cache")?,
            conv_state: c
                .layers
                .iter()
                .map(|p| match p.mixer {
                    Mixer::ShortConv { l_cache } => f32_vec("recurrent state", (l_cache as usize - 1) * c.dim as usize),
                    Mixer::GatedDeltaNet(d) => f32_vec("recurrent state", (d.conv_taps as usize - 1) * d.conv_channels() as usize),
                    Mixer::Attention(_) => Ok(Vec::new()),
                })
                .collect::<Result<_, _>>()?,
            delta_state: c
                .layers
                .iter()
                .map(|p| match p.mixer {
                    Mixer::GatedDeltaNet(d) => f32_vec("recurrent state", d.shape(c.rms_eps).state_len() as usize),
                    _ => Ok(Vec::new()),
                })
                .collect::<Result<_, _>>()?,
            attention: Scratch::default(),
            ids: vec![0; b],
            sampled: 0,
        };
        let kv_dims = (0..c.n_layers).map(|l| c.layer_kv_dim(l)).collect();
        Ok(Self { weights, body, head, hidden, state: Mutex::new(state), cache_len, kv_dims, ring, max_batch, n_ctx, vocab: c.vocab as usize, dim: c.dim as usize })
    }

    /// Ops one step with output `out` runs (the body, then the head or the hidden states' norm).
    pub fn ops_per_step(&self, out: Output) -> usize {
        self.body.len() + self.tail(out).len()
    }

    /// The ops after the body for `out`.
    fn tail(&self, out: Output) -> &[CpuOp] {
        match out {
            Output::None => &[],
            Output::Hidden => &self.hidden,
            Output::Argmax | Output::Logits | Output::Sample => &self.head,
        }
    }

    /// Bytes of KV cache held (K and V, f16).
    pub fn kv_cache_bytes(&self) -> u64 {
        self.cache_len.iter().zip(&self.kv_dims).map(|(&n, &d)| n as u64 * d as u64 * 2 * 2).sum()
    }

    /// Runs one step: `ids` (None: the previous step's argmax, one token) at
    /// positions pos0.., then what `out` asks for: the argmax of the last
    /// token's logits (Argmax), with the row itself (Logits), or every
    /// token's normed hidden state, (n_tokens, dim) (Hidden). `Sample` is the
    /// GPU's: refused by the caller.
    pub fn run(&self, ids: Option<&[u32]>, pos0: u32, out: Output) -> Result<StepResult, ModelError> {
        let mut st = self.state.lock().map_err(|_| ModelError::Config("the CPU model's state was poisoned by an earlier failure".into()))?;
        let n_tokens = match ids {
            Some(ids) => {
                st.ids[..ids.len()].copy_from_slice(ids);
                ids.len()
            }
            None => {
                st.ids[0] = st.sampled;
                1
            }
        };
        let s = CpuStep { pos0, n_tokens };
        for op in &self.body {
            self.exec(op, &mut st, s)?;
        }
        for op in self.tail(out) {
            self.exec(op, &mut st, s)?;
        }
        let mut r = StepResult::default();
        match out {
            Output::None | Output::Sample => {}
            Output::Hidden => r.hidden = Some(st.act(Act::Xb)[..n_tokens * self.dim].to_vec()),
            Output::Argmax | Output::Logits => {
                let token = ops::argmax(&st.logits);
                st.sampled = token;
                r.token = (out == Output::Argmax).then_some(token);
                r.logits = (out == Output::Logits).then(|| st.logits.clone());
            }
        }
        Ok(r)
    }

    fn exec(&self, op: &CpuOp, st: &mut CpuState, s: CpuStep) -> Result<(), ModelError> {
        let n = s.n_tokens;
        // A lost thread or a failing shared memory is the engine's trouble,
        // not the model's: typed (`internal` in the browser), not `Config`.
        let err = |e: CpuError| match e {
            CpuError::Threads(_) | CpuError::SharedMemory(_) => ModelError::Cpu(e),
            e => ModelError::Config(format!("{}: {e}", op.name)),
        };
        match &op.kind {
            Kind::Embed { w, out, scale, rows, add } => {
                let cols = w.cols();
                let ids: Vec<u32> = match rows {
                    EmbedRows::Ids => st.ids[..n].to_vec(),
                    EmbedRows::Positions => (0..n as u32).map(|t| s.pos0 + t).collect(),
                    EmbedRows::Fixed(r) => vec![*r; n],
                };
                let mut row = vec![0f32; if *add { cols } else { 0 }];
                let mut bytes = Vec::new();
                let x = st.act_mut(*out);
                for (t, &id) in ids.iter().enumerate() {
                    if id as usize >= w.rows() {
                        return Err(err(CpuError::Shape(format!("row {id} of a table of {} rows", w.rows()))));
                    }
                    let out = &mut x[t * cols..(t + 1) * cols];
                    let dst = if *add { &mut row[..] } else { &mut out[..] };
                    crate::quant::dequantize(w.ty, w.row(id as usize, &mut bytes).map_err(err)?, dst).map_err(|e| err(e.into()))?;
                    if *scale != 1.0 {
                        dst.iter_mut().for_each(|v| *v *= scale);
                    }
                    if *add {
                        out.iter_mut().zip(&row).for_each(|(o, r)| *o += r);
                    }
                }
            }
            Kind::LayerNorm { x, w, b, dim, eps } => {
                ops::layernorm(&mut st.act_mut(*x)[..n * dim], w, b, *dim, *eps);
            }
            Kind::Activation { act, x, width } => {
                ops::activation(*act, &mut st.act_mut(*x)[..n * width]);
            }
            Kind::RmsNorm { x, g, y, add, dim, rows, eps, scale } => {
                let mut out = std::mem::take(st.act_mut(*y));
                let len = n * rows * dim;
                ops::rmsnorm(&st.act(*x)[..len], g, &mut out[..len], *dim, *eps, *scale, *add);
                *st.act_mut(*y) = out;
            }
            Kind::RmsNormInPlace { x, g, dim, eps } => {
                let width = st.act(*x).len() / self.max_batch as usize;
                ops::rmsnorm_in_place(&mut st.act_mut(*x)[..n * width], g.as_deref(), *dim, *eps);
            }
            Kind::Matmul { w, x, x_stride, y, y_stride, write } => {
                let mut out = std::mem::take(st.act_mut(*y));
                let r = w.matmul(&st.act(*x)[..n * x_stride], n, &mut out, *y_stride, *write);
                *st.act_mut(*y) = out;
                r.map_err(err)?;
            }
            Kind::BiasAdd { y, b, width } => {
                for row in st.act_mut(*y)[..n * width].chunks_exact_mut(*width) {
                    row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
                }
            }
            Kind::Rope { x, stride, shape, factors } => {
                ops::rope(&mut st.act_mut(*x)[..n * stride], n, *stride, s.pos0, shape, factors.as_deref());
            }
            Kind::KvStore { layer, kv_dim } => {
                let (len, kv_dim) = (self.cache_len[*layer] as usize, *kv_dim);
                let mut tmp = Vec::new();
                for t in 0..n {
                    let at = ((s.pos0 as usize + t) % len) * kv_dim;
                    let (k, v) = (&st.acts[slot(Act::K)][t * kv_dim..(t + 1) * kv_dim], &st.acts[slot(Act::V)][t * kv_dim..(t + 1) * kv_dim]);
                    st.k_cache[*layer].store(at, k, &mut tmp).map_err(err)?;
                    st.v_cache[*layer].store(at, v, &mut tmp).map_err(err)?;
                }
            }
            Kind::Attention { layer, shape } => {
                let mut out = std::mem::take(st.act_mut(Act::Att));
                let mut scratch = std::mem::take(&mut st.attention);
                let shape = attention::Shape {
                    n_heads: shape.n_heads as usize,
                    n_kv_heads: shape.n_kv_heads as usize,
                    head_dim: shape.head_dim as usize,
                    window: shape.window as usize,
                    scale: shape.scale,
                    causal: shape.causal,
                };
                let (cache_len, q) = (self.cache_len[*layer] as usize, st.act(Act::Q));
                let r = match (&st.k_cache[*layer], &st.v_cache[*layer]) {
                    (KvCache::Host(k), KvCache::Host(v)) => attention::attention(q, k, v, cache_len, s.pos0 as usize, n, &shape, &mut out, &mut scratch).map_err(CpuError::from),
                    (KvCache::Threads { threads, handle: k, .. }, KvCache::Threads { handle: v, .. }) => {
                        let width = shape.n_heads * shape.head_dim;
                        threads.attention(&q[..n * width], *k, *v, cache_len, s.pos0 as usize, n, &shape, &mut out[..n * width])
                    }
                    _ => Err(CpuError::Shape("a layer's K and V caches are in different memories".into())),
                };
                st.attention = scratch;
                *st.act_mut(Act::Att) = out;
                r.map_err(err)?;
            }
            Kind::Conv { layer, taps, shape, input, output } => {
                let state = &mut st.conv_state[*layer];
                if s.pos0 == 0 {
                    // A new sequence starts from a zero state (as the GPU kernel does).
                    state.fill(0.0);
                }
                let mut state = std::mem::take(state);
                let mut out = std::mem::take(st.act_mut(*output));
                let width = shape.input_width() as usize;
                let r = recurrent::ssm_conv(HostRows::dense(&st.act(*input)[..n * width], width), taps, &mut state, &mut out, n, shape);
                st.conv_state[*layer] = state;
                *st.act_mut(*output) = out;
                r.map_err(err)?;
            }
            Kind::Heads { dst, dl, src, sl, n_heads, width, sigmoid } => {
                // The recorder checked that every index stays within max_batch rows.
                let mut out = std::mem::take(st.act_mut(*dst));
                let from = st.act(*src);
                for t in 0..n {
                    for h in 0..*n_heads {
                        for i in 0..*width {
                            let v = from[sl.at(t, h, i)];
                            let o = &mut out[dl.at(t, h, i)];
                            *o = if *sigmoid { *o * recurrent::sigmoid(v) } else { v };
                        }
                    }
                }
                *st.act_mut(*dst) = out;
            }
            Kind::DeltaNet { layer, dt_bias, ssm_a, norm, shape, eps } => {
                let state = &mut st.delta_state[*layer];
                if s.pos0 == 0 {
                    // A new sequence starts from a zero state (as the GPU kernel does).
                    state.fill(0.0);
                }
                let mut state = std::mem::take(state);
                let mut out = std::mem::take(st.act_mut(Act::Att));
                let (qw, nv, ow) = (shape.qkv_width() as usize, shape.n_v_heads as usize, shape.out_width() as usize);
                let gates = &st.act(Act::Gates)[..n * 2 * nv];
                let inputs = recurrent::DeltaNetInputs {
                    qkv: HostRows::dense(&st.act(Act::Conv)[..n * qw], qw),
                    alpha: HostRows { data: gates, offset: 0, stride: 2 * nv },
                    beta: HostRows { data: gates, offset: nv, stride: 2 * nv },
                    dt_bias,
                    ssm_a,
                };
                let gated = recurrent::HostGatedNorm { z: HostRows::dense(&st.act(Act::Z)[..n * ow], ow), weight: norm, eps: *eps };
                let r = recurrent::gated_delta_net(&inputs, &mut state, &mut out, n, shape, Some(&gated));
                st.delta_state[*layer] = state;
                *st.act_mut(Act::Att) = out;
                r.map_err(err)?;
            }
            Kind::GatedActivation { act, up, up_offset, up_stride, width } => {
                let mut gate = std::mem::take(st.act_mut(Act::Gate));
                let up = st.act(*up);
                for (t, g) in gate[..n * width].chunks_exact_mut(*width).enumerate() {
                    ops::gated_activation(*act, g, &up[t * up_stride + up_offset..][..*width]);
                }
                *st.act_mut(Act::Gate) = gate;
            }
            Kind::Scale { x, s, width } => {
                st.act_mut(*x)[..n * width].iter_mut().for_each(|v| *v *= s);
            }
            Kind::Head { w, x, norm, eps, softcap } => {
                let dim = norm.len();
                let mut head_in = std::mem::take(&mut st.head_in);
                ops::rmsnorm(&st.act(*x)[(n - 1) * dim..n * dim], norm, &mut head_in, dim, *eps, 1.0, false);
                let mut logits = std::mem::take(&mut st.logits);
                let r = w.matmul(&head_in, 1, &mut logits, self.vocab, Write::Store);
                if let Some(cap) = softcap {
                    ops::softcap(&mut logits, *cap);
                }
                st.head_in = head_in;
                st.logits = logits;
                r.map_err(err)?;
            }
        }
        Ok(())
    }
}

/// Records the forward pass as [`CpuOp`]s.
struct CpuRecorder<'a> {
    c: &'a ModelConfig,
}

impl CpuRecorder<'_> {
    /// A per-head copy or gate, checked so that every index of a step of up
    /// to max_batch tokens stays inside its activation (rows of `Act::width`).
    #[allow(clippy::too_many_arguments)]
    fn heads(&self, name: &str, dst: Act, dl: HeadLayout, src: Act, sl: HeadLayout, n_heads: u32, width: u32, sigmoid: bool) -> Result<CpuOp, ModelError> {
        let fits = |a: Act, l: HeadLayout| width > 0 && l.stride <= a.width(self.c) && l.row_end(n_heads, width).is_some();
        if !fits(dst, dl) || !fits(src, sl) || dst == src {
            return Err(ModelError::Config(format!("{name}: {n_heads} heads of {width} do not fit {dst:?} {dl:?} / {src:?} {sl:?}")));
        }
        Ok(op(name, Kind::Heads { dst, dl, src, sl, n_heads: n_heads as usize, width: width as usize, sigmoid }))
    }
}

fn op(name: &str, kind: Kind) -> CpuOp {
    CpuOp { name: name.to_string(), kind }
}

fn values(t: &CpuWeight) -> Result<Vec<f32>, ModelError> {
    t.f32s().map_err(|e| ModelError::Config(e.to_string()))
}

impl Recorder for CpuRecorder<'_> {
    type Tensor = CpuWeight;
    type Op = CpuOp;

    fn embed(&self, name: &str, table: &CpuWeight, out: Act, scale: f32) -> Result<Vec<CpuOp>, ModelError> {
        if table.cols() != out.width(self.c) as usize {
            return Err(ModelError::TensorShape { tensor: table.name.clone(), expected: vec![out.width(self.c) as u64], got: table.dims.clone() });
        }
        Ok(vec![op(name, Kind::Embed { w: table.clone(), out, scale, rows: EmbedRows::Ids, add: false })])
    }

    fn embed_add(&self, name: &str, table: &CpuWeight, rows: EmbedRows, out: Act) -> Result<Vec<CpuOp>, ModelError> {
        if table.cols() != out.width(self.c) as usize {
            return Err(ModelError::TensorShape { tensor: table.name.clone(), expected: vec![out.width(self.c) as u64], got: table.dims.clone() });
        }
        Ok(vec![op(name, Kind::Embed { w: table.clone(), out, scale: 1.0, rows, add: true })])
    }

    fn layernorm(&self, name: &str, x: Act, w: &CpuWeight, b: &CpuWeight, dim: u32, eps: f32) -> Result<CpuOp, ModelError> {
        let (w, b) = (values(w)?, values(b)?);
        if w.len() != dim as usize || b.len() != dim as usize || dim > x.width(self.c) {
            return Err(ModelError::Config(format!("{name}: a norm of {dim} over {x:?} with {} weights and {} biases", w.len(), b.len())));
        }
        Ok(op(name, Kind::LayerNorm { x, w, b, dim: dim as usize, eps }))
    }

    fn activation(&self, name: &str, act: GateActivation, x: Act, width: u32) -> Result<CpuOp, ModelError> {
        if width > x.width(self.c) {
            return Err(ModelError::Config(format!("{name}: {width} elements do not fit {x:?}")));
        }
        Ok(op(name, Kind::Activation { act, x, width: width as usize }))
    }

    fn rmsnorm(&self, name: &str, x: Act, g: &CpuWeight, y: Act, dim: u32, eps: f32) -> Result<CpuOp, ModelError> {
        Ok(op(name, Kind::RmsNorm { x, g: values(g)?, y, add: false, dim: dim as usize, rows: 1, eps, scale: 1.0 }))
    }

    fn rmsnorm_in_place(&self, name: &str, x: Act, g: Option<&CpuWeight>, dim: u32, _rows_per_token: u32, eps: f32) -> Result<CpuOp, ModelError> {
        Ok(op(name, Kind::RmsNormInPlace { x, g: g.map(values).transpose()?, dim: dim as usize, eps }))
    }

    fn rmsnorm_add(&self, name: &str, x: Act, g: &CpuWeight, y: Act, dim: u32, rows_per_token: u32, eps: f32, scale: f32) -> Result<CpuOp, ModelError> {
        let rows = rows_per_token as usize;
        if (rows * dim as usize) as u32 > x.width(self.c).min(y.width(self.c)) {
            return Err(ModelError::Config(format!("{name}: {rows} rows of {dim} do not fit {x:?} / {y:?}")));
        }
        Ok(op(name, Kind::RmsNorm { x, g: values(g)?, y, add: true, dim: dim as usize, rows, eps, scale }))
    }

    fn project(&self, name: &str, w: Proj<'_, CpuWeight>, x: Act, x_stride: u64, y: Act, y_stride: u64, out: MatvecOut, _pass: Pass) -> Result<Vec<CpuOp>, ModelError> {
        let Proj::Tensor(w) = w else { return Err(ModelError::Config(format!("{name}: the CPU backend does not pack"))) };
        let write = match out {
            MatvecOut::AllTokens => Write::Store,
            MatvecOut::Accumulate => Write::Accumulate,
            MatvecOut::LastToken => return Err(ModelError::Config(format!("{name}: a last-token projection is the head"))),
        };
        if w.cols() as u64 != x_stride || w.rows() as u64 > y_stride {
            return Err(ModelError::TensorShape { tensor: w.name.clone(), expected: vec![x_stride, y_stride], got: w.dims.clone() });
        }
        Ok(vec![op(name, Kind::Matmul { w: w.clone(), x, x_stride: x_stride as usize, y, y_stride: y_stride as usize, write })])
    }

    fn bias_add(&self, name: &str, y: Act, b: &CpuWeight, width: u32) -> Result<CpuOp, ModelError> {
        Ok(op(name, Kind::BiasAdd { y, b: values(b)?, width: width as usize }))
    }

    fn rope(&self, name: &str, x: Act, stride: u32, shape: RopeShape, factors: Option<&CpuWeight>) -> Result<CpuOp, ModelError> {
        Ok(op(name, Kind::Rope { x, stride: stride as usize, shape, factors: factors.map(values).transpose()? }))
    }

    fn kv_store(&self, name: &str, layer: usize, kv_dim: u32) -> Result<CpuOp, ModelError> {
        Ok(op(name, Kind::KvStore { layer, kv_dim: kv_dim as usize }))
    }

    fn attention(&self, name: &str, layer: usize, shape: AttentionShape, _pass: Pass) -> Result<Vec<CpuOp>, ModelError> {
        Ok(vec![op(name, Kind::Attention { layer, shape })])
    }

    fn gated_activation(&self, name: &str, act: GateActivation, up: Act, up_offset: u32, up_stride: u32, width: u32) -> Result<CpuOp, ModelError> {
        if up_offset + width > up_stride || up_stride > up.width(self.c) || width > Act::Gate.width(self.c) {
            return Err(ModelError::Config(format!("{name}: {width} elements at {up_offset} of rows of {up_stride} do not fit {up:?}")));
        }
        Ok(op(name, Kind::GatedActivation { act, up, up_offset: up_offset as usize, up_stride: up_stride as usize, width: width as usize }))
    }

    fn scale(&self, name: &str, x: Act, s: &CpuWeight, width: u32) -> Result<CpuOp, ModelError> {
        let [s] = values(s)?[..] else { return Err(ModelError::TensorShape { tensor: s.name.clone(), expected: vec![1], got: s.dims.clone() }) };
        Ok(op(name, Kind::Scale { x, s, width: width as usize }))
    }

    fn head(&self, w: &CpuWeight, fold: HeadFold<'_, CpuWeight>, x: &Residual<'_, CpuWeight>) -> Result<Vec<CpuOp>, ModelError> {
        if w.cols() != self.c.dim as usize || w.rows() != self.c.vocab as usize {
            return Err(ModelError::TensorShape { tensor: w.name.clone(), expected: vec![self.c.dim as u64, self.c.vocab as u64], got: w.dims.clone() });
        }
        // The last post-norm add as its own ops, then the head.
        let mut ops = Vec::new();
        settle(self, self.c, &mut ops, x)?;
        ops.push(op("output", Kind::Head { w: w.clone(), x: x.x, norm: values(fold.norm)?, eps: fold.eps, softcap: fold.softcap }));
        Ok(ops)
    }

    fn per_layer_input(&self, name: &str, pw: &PerLayerWeights<CpuWeight>, x: &Residual<'_, CpuWeight>, up: Act, up_offset: u32, up_stride: u32, out: Act, pass: Pass) -> Result<(Vec<CpuOp>, Act), ModelError> {
        per_layer_input_composed(self, self.c, name, pw, x, up, up_offset, up_stride, out, pass)
    }

    fn attn_qkv(&self, name: &str, _: usize, _: &CpuWeight, _: &AttentionWeights<CpuWeight>, _: &PackedTensors, _: &PackedVectors, _: QkvShape, _: Option<&CpuWeight>, _: bool, _: &Residual<'_, CpuWeight>) -> Result<CpuOp, ModelError> {
        Err(ModelError::Config(format!("{name}: the CPU backend does not pack")))
    }

    fn short_conv(&self, name: &str, layer: usize, taps: &CpuWeight, dim: u32, l_cache: u32) -> Result<CpuOp, ModelError> {
        let shape = ConvShape { channels: dim, taps: l_cache, gating: ConvGating::ShortConv };
        Ok(op(name, Kind::Conv { layer, taps: values(taps)?, shape, input: Act::Mix, output: Act::Att }))
    }

    fn copy_heads(&self, name: &str, dst: Act, dl: HeadLayout, src: Act, sl: HeadLayout, n_heads: u32, width: u32) -> Result<CpuOp, ModelError> {
        self.heads(name, dst, dl, src, sl, n_heads, width, false)
    }

    fn sigmoid_gate_heads(&self, name: &str, dst: Act, dl: HeadLayout, src: Act, sl: HeadLayout, n_heads: u32, width: u32) -> Result<CpuOp, ModelError> {
        self.heads(name, dst, dl, src, sl, n_heads, width, true)
    }

    fn delta_conv(&self, name: &str, layer: usize, taps: &CpuWeight, shape: ConvShape) -> Result<CpuOp, ModelError> {
        Ok(op(name, Kind::Conv { layer, taps: values(taps)?, shape, input: Act::Mix, output: Act::Conv }))
    }

    fn delta_net(&self, name: &str, layer: usize, dt_bias: &CpuWeight, ssm_a: &CpuWeight, norm: &CpuWeight, shape: DeltaNetShape, norm_eps: f32) -> Result<CpuOp, ModelError> {
        Ok(op(name, Kind::DeltaNet { layer, dt_bias: values(dt_bias)?, ssm_a: values(ssm_a)?, norm: values(norm)?, shape, eps: norm_eps }))
    }

    fn norm_projections(&self, name: &str, _: Act, _: &CpuWeight, _: &PackedTensors, _: &[ActRows], _: f32) -> Result<CpuOp, ModelError> {
        Err(ModelError::Config(format!("{name}: the CPU backend does not pack")))
    }

    fn ffn_gate_up(&self, name: &str, _: &LayerWeights<CpuWeight>, _: &PackedTensors, _: f32, _: GateActivation, _: &Residual<'_, CpuWeight>) -> Result<CpuOp, ModelError> {
        Err(ModelError::Config(format!("{name}: the CPU backend does not pack")))
    }

    /// Its fused ops are the simple ones in a row: nothing to fold into.
    fn folds_pending(&self) -> bool {
        false
    }
}
