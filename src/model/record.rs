//! The forward pass as one walk of the layers, written once for every
//! backend: [`record_body`] and [`record_head`] call a [`Recorder`] for each
//! named op, and the backend turns the calls into what it replays each step
//! (GPU dispatches with their bind groups in `forward`, CPU ops in
//! `crate::cpu::forward`). Activations are named by role ([`Act`]), weights
//! by the backend's tensor type.
//!
//! Per layer (fused, GPU only): attn_qkv (norm, q|k|v, [bias], [QK norm],
//! RoPE, KV store) → attention → attn_output (+ residual) [→ post-norm +
//! residual] → ffn_gate_up (norm, gate|up, activation) → ffn_down (+
//! residual) [→ post-norm + residual]. Unfused: attn_norm → q, k, v → [bias]
//! → [QK norm] → RoPE q, k → KV store → attention → attn_output (+ residual)
//! → ffn_norm → gate, up → activation → ffn_down (+ residual). Bracketed ops
//! are per architecture (see `ModelConfig`).

use super::weights::{LayerWeights, Projections, Weights};
use super::{LayerAttention, ModelConfig, ModelError};
use crate::gpu::{PackedTensors, PackedVectors};
use crate::kernels::{AttentionShape, GateActivation, MatvecOut, QkvShape, RopeShape};

/// An activation buffer, by role (every one holds `max_batch` tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    /// (n_tokens, dim) residual stream.
    X,
    /// (n_tokens, dim) normed input, then projection outputs.
    Xb,
    /// (n_tokens, q_dim)
    Q,
    /// (n_tokens, kv_dim)
    K,
    /// (n_tokens, kv_dim)
    V,
    /// (n_tokens, q_dim) attention output.
    Att,
    /// (n_tokens, ffn_dim) gate projection, then the gated activation.
    Gate,
    /// (n_tokens, ffn_dim)
    Up,
}

impl Act {
    pub const ALL: [Act; 8] = [Act::X, Act::Xb, Act::Q, Act::K, Act::V, Act::Att, Act::Gate, Act::Up];

    /// Elements per token.
    pub fn width(self, c: &ModelConfig) -> u32 {
        match self {
            Act::X | Act::Xb => c.dim,
            Act::Q | Act::Att => c.q_dim(),
            Act::K | Act::V => c.kv_dim(),
            Act::Gate | Act::Up => c.ffn_dim,
        }
    }
}

/// Which op list [`record_body`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// One token (and short steps): on the GPU the fused matvec kernels,
    /// the fewest dispatches.
    Decode,
    /// Prompt steps: on the GPU every projection as a tiled GEMM and the
    /// folded ops as their own dispatches; flash attention over tiles of
    /// queries.
    Prefill,
}

/// One projection's weights: a tensor of its own or one inside a packed group.
pub enum Proj<'a, T> {
    Tensor(&'a T),
    Segment(&'a PackedTensors, usize),
}

impl<T> Clone for Proj<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Proj<'_, T> {}

impl<'a, T> Proj<'a, T> {
    /// The projections of a group (q, k, v or gate, up) in order.
    fn of(p: &'a Projections<T>) -> Vec<Proj<'a, T>> {
        match p {
            Projections::Packed(packed) => (0..packed.segments.len()).map(|i| Proj::Segment(packed, i)).collect(),
            Projections::Separate(t) => t.iter().map(Proj::Tensor).collect(),
        }
    }
}

/// The final norm and soft-cap folded into the output head.
pub struct HeadFold<'a, T> {
    pub norm: &'a T,
    pub eps: f32,
    /// Gemma 2/3: logits = cap · tanh(logits / cap); None without.
    pub softcap: Option<f32>,
}

/// The ops of the forward pass as one backend records them. Each method
/// records one named op (some backends need several dispatches for it) and
/// returns what the backend replays; widths are elements per token, strides
/// elements between tokens. Errors are the backend's shape and limit checks.
pub trait Recorder {
    /// A weight tensor as the backend holds it.
    type Tensor;
    /// What the backend replays each step.
    type Op;

    /// x[t, :] = scale · token_embd[ids[t], :]
    fn embed(&self, token_embd: &Self::Tensor, scale: f32) -> Result<Vec<Self::Op>, ModelError>;
    /// y[t, :] = x[t, :] / sqrt(mean(x[t, :]²) + eps) · g, one row of `dim` per token.
    fn rmsnorm(&self, name: &str, x: Act, g: &Self::Tensor, y: Act, dim: u32, eps: f32) -> Result<Self::Op, ModelError>;
    /// The same norm in place, over `rows_per_token` heads of `dim` per token (QK norm).
    fn rmsnorm_in_place(&self, name: &str, x: Act, g: &Self::Tensor, dim: u32, rows_per_token: u32, eps: f32) -> Result<Self::Op, ModelError>;
    /// y[t, :] += rmsnorm(x[t, :]) · g (Gemma's post-norms).
    fn rmsnorm_add(&self, name: &str, x: Act, g: &Self::Tensor, y: Act, dim: u32, eps: f32) -> Result<Self::Op, ModelError>;
    /// y[t, 0..rows] = W x[t, :] (stored, or added with `MatvecOut::Accumulate`)
    /// for every token; `x_stride`/`y_stride` are the buffers' widths.
    #[allow(clippy::too_many_arguments)]
    fn project(&self, name: &str, w: Proj<'_, Self::Tensor>, x: Act, x_stride: u64, y: Act, y_stride: u64, out: MatvecOut, pass: Pass) -> Result<Vec<Self::Op>, ModelError>;
    /// y[t, i] += b[i] for i < width.
    fn bias_add(&self, name: &str, y: Act, b: &Self::Tensor, width: u32) -> Result<Self::Op, ModelError>;
    /// RoPE in place over the heads of x (`stride` elements per token).
    fn rope(&self, name: &str, x: Act, stride: u32, shape: RopeShape, factors: Option<&Self::Tensor>) -> Result<Self::Op, ModelError>;
    /// K and V of the step into layer `layer`'s cache.
    fn kv_store(&self, name: &str, layer: usize) -> Result<Self::Op, ModelError>;
    /// Att = softmax(Q Kᵀ · scale + causal/window mask) V over layer `layer`'s cache.
    fn attention(&self, name: &str, layer: usize, shape: AttentionShape, pass: Pass) -> Result<Vec<Self::Op>, ModelError>;
    /// Gate[t, i] = act(Gate[t, i]) · Up[t, i].
    fn gated_activation(&self, name: &str, act: GateActivation, width: u32) -> Result<Self::Op, ModelError>;
    /// logits = W · fold(x[last token]) over the vocabulary.
    fn head(&self, w: &Self::Tensor, fold: HeadFold<'_, Self::Tensor>) -> Result<Vec<Self::Op>, ModelError>;
    /// The fused q|k|v op of a packed group (backends that pack).
    fn attn_qkv(&self, name: &str, layer: usize, lw: &LayerWeights<Self::Tensor>, packed: &PackedTensors, vecs: &PackedVectors, shape: QkvShape, factors: Option<&Self::Tensor>) -> Result<Self::Op, ModelError>;
    /// The fused norm, gate|up and activation of a packed group (backends that pack).
    fn ffn_gate_up(&self, name: &str, lw: &LayerWeights<Self::Tensor>, packed: &PackedTensors, eps: f32, act: GateActivation) -> Result<Self::Op, ModelError>;
}

/// Records one body op list (embedding and every layer); nothing is created
/// per step. Both passes walk the same layer structure; they differ in how a
/// projection runs and whether its neighbours are fused into it.
pub fn record_body<R: Recorder>(r: &R, c: &ModelConfig, w: &Weights<R::Tensor>, pass: Pass) -> Result<Vec<R::Op>, ModelError> {
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
    let mv = |name: &str, w: Proj<'_, R::Tensor>, x: Act, xs: u64, y: Act, ys: u64| r.project(name, w, x, xs, y, ys, MatvecOut::AllTokens, pass);
    // Output projection and its residual add: x += W y in the projection
    // itself, or with post-norms (Gemma) xb = W y, then x += norm(xb).
    let project_add = |body: &mut Vec<R::Op>, name: &str, t: &R::Tensor, input: Act, in_stride: u64, post_norm: Option<&R::Tensor>| -> Result<(), ModelError> {
        match post_norm {
            Some(g) => {
                body.extend(mv(name, Proj::Tensor(t), input, in_stride, Act::Xb, dim)?);
                body.push(r.rmsnorm_add(&format!("{name}.post_norm"), Act::Xb, g, Act::X, c.dim, c.rms_eps)?);
            }
            None => body.extend(r.project(name, Proj::Tensor(t), input, in_stride, Act::X, dim, MatvecOut::Accumulate, pass)?),
        }
        Ok(())
    };

    let mut body = r.embed(&w.token_embd, c.embed_scale)?;
    for (l, lw) in w.layers.iter().enumerate() {
        let op = |op: &str| format!("blk.{l}.{op}");
        let la = c.layer_attention(l as u32);
        // Frequency factors apply to the model's own RoPE, not Gemma's local-layer one.
        let factors = w.rope_freqs.as_ref().filter(|_| la.window == 0);
        // Attention block.
        match (&lw.qkv, &lw.attn_vectors) {
            (Projections::Packed(packed), Some(vecs)) if pass == Pass::Decode => {
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
                body.push(r.attn_qkv(&op("attn_qkv"), l, lw, packed, vecs, shape, factors)?);
            }
            (qkv, _) => {
                let [wq, wk, wv] = Proj::of(qkv)[..] else { return Err(ModelError::Config("q|k|v must be three tensors".into())) };
                body.push(r.rmsnorm(&op("attn_norm"), Act::X, &lw.attn_norm, Act::Xb, c.dim, c.rms_eps)?);
                body.extend(mv(&op("attn_q"), wq, Act::Xb, dim, Act::Q, qd)?);
                body.extend(mv(&op("attn_k"), wk, Act::Xb, dim, Act::K, kvd)?);
                body.extend(mv(&op("attn_v"), wv, Act::Xb, dim, Act::V, kvd)?);
                if let Some([bq, bk, bv]) = &lw.qkv_bias {
                    for (name, y, b, width) in [("attn_q.bias", Act::Q, bq, qd), ("attn_k.bias", Act::K, bk, kvd), ("attn_v.bias", Act::V, bv, kvd)] {
                        body.push(r.bias_add(&op(name), y, b, width as u32)?);
                    }
                }
                if let Some([nq, nk]) = &lw.qk_norm {
                    body.push(r.rmsnorm_in_place(&op("attn_q_norm"), Act::Q, nq, c.head_dim, c.n_heads, c.rms_eps)?);
                    body.push(r.rmsnorm_in_place(&op("attn_k_norm"), Act::K, nk, c.head_dim, c.n_kv_heads, c.rms_eps)?);
                }
                body.push(r.rope(&op("rope_q"), Act::Q, qd as u32, rope(c.n_heads, la), factors)?);
                body.push(r.rope(&op("rope_k"), Act::K, kvd as u32, rope(c.n_kv_heads, la), factors)?);
                body.push(r.kv_store(&op("kv_store"), l)?);
            }
        }
        body.extend(r.attention(&op("attention"), l, att_shape(la), pass)?);
        project_add(&mut body, &op("attn_output"), &lw.attn_output, Act::Att, qd, lw.post_attention_norm.as_ref())?;
        // Feed-forward block.
        match &lw.gate_up {
            Projections::Packed(packed) if pass == Pass::Decode => {
                body.push(r.ffn_gate_up(&op("ffn_gate_up"), lw, packed, c.rms_eps, c.activation)?);
            }
            gate_up => {
                let [wg, wu] = Proj::of(gate_up)[..] else { return Err(ModelError::Config("gate|up must be two tensors".into())) };
                body.push(r.rmsnorm(&op("ffn_norm"), Act::X, &lw.ffn_norm, Act::Xb, c.dim, c.rms_eps)?);
                body.extend(mv(&op("ffn_gate"), wg, Act::Xb, dim, Act::Gate, ffn)?);
                body.extend(mv(&op("ffn_up"), wu, Act::Xb, dim, Act::Up, ffn)?);
                body.push(r.gated_activation(&op("ffn_act"), c.activation, c.ffn_dim)?);
            }
        }
        project_add(&mut body, &op("ffn_down"), &lw.ffn_down, Act::Gate, ffn, lw.post_ffw_norm.as_ref())?;
    }
    Ok(body)
}

/// The output head: the final norm and soft-cap folded into the logits
/// projection of the step's last token.
pub fn record_head<R: Recorder>(r: &R, c: &ModelConfig, w: &Weights<R::Tensor>) -> Result<Vec<R::Op>, ModelError> {
    let softcap = (c.final_logit_softcap > 0.0).then_some(c.final_logit_softcap);
    r.head(w.output(), HeadFold { norm: &w.output_norm, eps: c.rms_eps, softcap })
}
