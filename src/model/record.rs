//! The forward pass as one walk of the layers, written once for every
//! backend: [`record_body`] and [`record_head`] call a [`Recorder`] for each
//! named op, and the backend turns the calls into what it replays each step
//! (GPU dispatches with their bind groups in `forward`, CPU ops in
//! `crate::cpu::forward`). Activations are named by role ([`Act`]), weights
//! by the backend's tensor type.
//!
//! A layer is two named blocks, the mixing block its plan names
//! (`ModelConfig::layers`, read once from the header) and the feed-forward
//! block; a family is its configuration, never a branch in this walk:
//! - attention (fused, GPU decode): attn_qkv (norm, q|k|v, [bias], [QK
//!   norm], [RoPE], KV store, [output gate]) → attention → [output gate] →
//!   attn_output (+ residual) [→ post-norm + residual]; unfused: attn_norm → q, k, v → [bias] → [QK
//!   norm] → [RoPE q, k] → KV store → attention → attn_output (+ residual).
//!   RoPE is left out on a NoPE layer (SmolLM3).
//! - short conv (LFM2): attn_norm → in_proj (b | c | x) → c ⊙ conv(b ⊙ x)
//!   over the layer's rolling state → out_proj (+ residual).
//! - Gated DeltaNet (Qwen3.5): attn_norm → attn_qkv (q | k | v), attn_gate
//!   (z), ssm_alpha, ssm_beta (fused, GPU decode: one `ssm_in` op with the
//!   norm) → silu(conv(q | k | v)) over the layer's
//!   rolling state → gated delta rule over its state, rmsnorm · silu(z) per
//!   head → ssm_out (+ residual).
//! - gated attention (Qwen3.5): `attn_q` writes query|gate heads; fused,
//!   attn_qkv writes the gate heads to Mix; unfused, the queries are copied
//!   out before QK norm; the attention output is multiplied by
//!   sigmoid(gate) before attn_output.
//! - feed-forward: ffn_gate_up (norm, gate|up, activation) or ffn_norm →
//!   gate, up → activation; then ffn_down (+ residual) [→ post-norm +
//!   residual].
//! - per-layer input (Gemma 4, after the FFN): inp_gate → gelu(·) ⊙ the
//!   layer's per-layer input → proj → post_norm (+ residual); the per-layer
//!   inputs of every layer are made once after the embedding
//!   ([`per_layer_inputs`]); on decode one op before the post-norm.
//! - [layer output scale: the residual stream times a scalar (Gemma 4)].
//!
//! A post-norm layer (BERT, nomic-bert: `NormPlacement::PostLayerNorm`) is
//! two blocks of its own, after the input rows (token + token type 0 [+
//! position] → LayerNorm):
//! - encoder attention: q, k, v [+ bias] [→ RoPE] → KV store →
//!   bidirectional attention → attn_output (+ residual) [+ bias] → LayerNorm;
//! - encoder feed-forward: up [+ bias] → GELU, or act(gate) ⊙ up → down
//!   (+ residual) [+ bias] → LayerNorm.
//!
//! A post-norm's residual add (Gemma 2/3/4) and the layer output scale after
//! it are not ops of their own: the walk carries them as the stream's
//! pending add ([`Residual`]) to the next op that reads the stream, and a
//! fused op (attn_qkv, ffn_gate_up, the per-layer block, the output head)
//! applies it on its way in; before any other op the walk applies it as
//! rmsnorm_add (+ scale) ops ([`settle`]). A backend that does not fold
//! ([`Recorder::folds_pending`]: CPU adapters' one-invocation-per-row
//! matvec, the CPU backend) gets those ops where the add is made.
//! Bracketed ops are per architecture (see `ModelConfig`). A Gemma 4 layer
//! that reads an earlier layer's KV cache (`LayerAttention::kv_layer`)
//! computes q alone and attends over that cache.

use super::weights::{AttentionWeights, DeltaNetWeights, EncoderInputWeights, LayerWeights, MixerWeights, PerLayerInputWeights, PerLayerWeights, Projections, ShortConvWeights, Weights};
use super::{DeltaNetDims, LayerAttention, LayerPlan, Mixer, ModelConfig, ModelError, NormPlacement};
use crate::gpu::{PackedTensors, PackedVectors};
use crate::kernels::{AttentionShape, ConvShape, DeltaNetShape, EmbedRows, GateActivation, HeadLayout, MatvecOut, QkvShape, RopeShape};

/// An activation buffer, by role (every one holds `max_batch` tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    /// (n_tokens, dim) residual stream.
    X,
    /// (n_tokens, dim) normed input, then projection outputs.
    Xb,
    /// (n_tokens, dim) the residual stream's second buffer: an op that
    /// applies a pending post-norm add ([`Residual`]) reads the stream from
    /// one of X and XAlt and writes it to the other.
    XAlt,
    /// (n_tokens, q_dim)
    Q,
    /// (n_tokens, kv_dim)
    K,
    /// (n_tokens, kv_dim)
    V,
    /// (n_tokens, att_dim) a mixing block's output: attention's (q_dim),
    /// a short conv's (dim), a Gated DeltaNet's (inner).
    Att,
    /// (n_tokens, ffn_dim) gate projection, then the gated activation.
    Gate,
    /// (n_tokens, ffn_dim); Gemma 4's per-layer block's output on decode (dim).
    Up,
    /// (n_tokens, mix_dim) a block's wide input projection (LFM2: b | c |
    /// x; Gated DeltaNet: q | k | v; gated attention: query|gate heads).
    Mix,
    /// (n_tokens, conv channels) the Gated DeltaNet conv's output; before
    /// it, scratch for the alpha and beta projections.
    Conv,
    /// (n_tokens, 2 · n_v_heads) the Gated DeltaNet's alpha | beta.
    Gates,
    /// (n_tokens, inner) the Gated DeltaNet's z (attn_gate).
    Z,
    /// (n_tokens, n_layers · P) Gemma 4's per-layer inputs of every layer.
    PerLayer,
    /// (n_tokens, n_layers · P) their projection from the embedding, before the norm.
    PerLayerProj,
}

impl Act {
    pub const ALL: [Act; 15] = [Act::X, Act::Xb, Act::XAlt, Act::Q, Act::K, Act::V, Act::Att, Act::Gate, Act::Up, Act::Mix, Act::Conv, Act::Gates, Act::Z, Act::PerLayer, Act::PerLayerProj];

    /// Elements per token.
    pub fn width(self, c: &ModelConfig) -> u32 {
        match self {
            Act::X | Act::Xb | Act::XAlt => c.dim,
            Act::Q => c.q_dim(),
            Act::Att => c.att_dim(),
            Act::K | Act::V => c.kv_dim(),
            // The gate also holds the per-layer block's gate (P wide), Up
            // its output on decode (dim wide).
            Act::Gate => c.ffn_dim.max(c.per_layer_input),
            Act::Up if c.per_layer_input > 0 => c.ffn_dim.max(c.dim),
            Act::Up => c.ffn_dim,
            Act::Mix => c.mix_dim(),
            Act::Conv => c.delta_net.map_or(0, |d| d.conv_channels()),
            Act::Gates => c.delta_net.map_or(0, |d| 2 * d.n_v_heads),
            Act::Z => c.delta_net.map_or(0, |d| d.inner()),
            Act::PerLayer | Act::PerLayerProj => c.per_layer_input * c.n_layers,
        }
    }
}

/// A post-norm residual add not applied yet (Gemma's post_attention_norm,
/// post_ffw_norm and per-layer post_norm, then Gemma 4's layer output
/// scale): the residual stream is (x + rmsnorm(from) · norm) · scale. The walk
/// carries it to the next op that reads the stream, which applies it on its
/// way in; where that op cannot, the walk applies it first as its own ops.
pub struct PostNorm<'a, T> {
    /// The buffer holding the projection output the norm reads (Xb; Gemma
    /// 4's fused per-layer block: Up).
    pub from: Act,
    /// The name of the norm-add when it runs as its own op (`….post_norm`).
    pub name: String,
    pub norm: &'a T,
    pub eps: f32,
    /// The layer output scale (one value) and its op's name.
    pub scale: Option<(&'a T, String)>,
}

/// The residual stream as the walk carries it: buffer `x` (X or XAlt) and a
/// post-norm add still to apply to it.
pub struct Residual<'a, T> {
    pub x: Act,
    pub pending: Option<PostNorm<'a, T>>,
}

impl<T> Residual<'_, T> {
    /// The stream in X, nothing pending (after the embedding).
    pub fn settled(x: Act) -> Self {
        Self { x, pending: None }
    }

    /// Where an op that reads this stream leaves it: an op that applies the
    /// pending add writes the stream to the other buffer (never the one it
    /// reads: its workgroups read that one while one of them writes).
    pub fn next(&self) -> Act {
        match (&self.pending, self.x) {
            (None, x) => x,
            (Some(_), Act::X) => Act::XAlt,
            (Some(_), _) => Act::X,
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

/// Where a fused projection writes: element (t, i) of its output is f32
/// `offset + t · stride + i` of activation `act`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActRows {
    pub act: Act,
    pub offset: u32,
    pub stride: u32,
}

impl ActRows {
    /// The whole of `act`, `width` f32 per token.
    pub fn dense(act: Act, width: u32) -> Self {
        Self { act, offset: 0, stride: width }
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

    /// out[t, :] = scale · table[ids[t], :] (out as wide as a table row).
    fn embed(&self, name: &str, table: &Self::Tensor, out: Act, scale: f32) -> Result<Vec<Self::Op>, ModelError>;
    /// out[t, :] += table[row(t), :], row(t) the token's position pos0 + t
    /// or one fixed row (BERT's position and token-type rows).
    fn embed_add(&self, name: &str, table: &Self::Tensor, rows: EmbedRows, out: Act) -> Result<Vec<Self::Op>, ModelError>;
    /// LayerNorm in place: x[t, :] = (x[t, :] − mean) / sqrt(var + eps) · w + b
    /// over one row of `dim` per token (ggml_norm, then weight and bias).
    fn layernorm(&self, name: &str, x: Act, w: &Self::Tensor, b: &Self::Tensor, dim: u32, eps: f32) -> Result<Self::Op, ModelError>;
    /// x[t, i] = act(x[t, i]) for i < width, rows `width` wide: an ungated
    /// FFN's activation (BERT's GELU).
    fn activation(&self, name: &str, act: GateActivation, x: Act, width: u32) -> Result<Self::Op, ModelError>;
    /// y[t, :] = x[t, :] / sqrt(mean(x[t, :]²) + eps) · g, one row of `dim` per token.
    fn rmsnorm(&self, name: &str, x: Act, g: &Self::Tensor, y: Act, dim: u32, eps: f32) -> Result<Self::Op, ModelError>;
    /// The same norm in place, over `rows_per_token` heads of `dim` per
    /// token (QK norm); without `g` the weight is 1 (Gemma 4's V norm).
    fn rmsnorm_in_place(&self, name: &str, x: Act, g: Option<&Self::Tensor>, dim: u32, rows_per_token: u32, eps: f32) -> Result<Self::Op, ModelError>;
    /// y[t, r, :] += rmsnorm(x[t, r, :]) · g · scale over `rows_per_token`
    /// rows of `dim` per token (Gemma's post-norms: one row, scale 1).
    #[allow(clippy::too_many_arguments)]
    fn rmsnorm_add(&self, name: &str, x: Act, g: &Self::Tensor, y: Act, dim: u32, rows_per_token: u32, eps: f32, scale: f32) -> Result<Self::Op, ModelError>;
    /// y[t, 0..rows] = W x[t, :] (stored, or added with `MatvecOut::Accumulate`)
    /// for every token; `x_stride`/`y_stride` are the buffers' widths.
    #[allow(clippy::too_many_arguments)]
    fn project(&self, name: &str, w: Proj<'_, Self::Tensor>, x: Act, x_stride: u64, y: Act, y_stride: u64, out: MatvecOut, pass: Pass) -> Result<Vec<Self::Op>, ModelError>;
    /// y[t, i] += b[i] for i < width.
    fn bias_add(&self, name: &str, y: Act, b: &Self::Tensor, width: u32) -> Result<Self::Op, ModelError>;
    /// RoPE in place over the heads of x (`stride` elements per token).
    fn rope(&self, name: &str, x: Act, stride: u32, shape: RopeShape, factors: Option<&Self::Tensor>) -> Result<Self::Op, ModelError>;
    /// K and V of the step (`kv_dim` per token) into layer `layer`'s cache.
    fn kv_store(&self, name: &str, layer: usize, kv_dim: u32) -> Result<Self::Op, ModelError>;
    /// Att = softmax(Q Kᵀ · scale + causal/window mask) V over layer `layer`'s cache.
    fn attention(&self, name: &str, layer: usize, shape: AttentionShape, pass: Pass) -> Result<Vec<Self::Op>, ModelError>;
    /// Gate[t, i] = act(Gate[t, i]) · up[t, up_offset + i] for i < width
    /// (Gate rows `width` wide, up rows `up_stride` wide: the FFN's Up, or
    /// Gemma 4's per-layer input of one layer).
    fn gated_activation(&self, name: &str, act: GateActivation, up: Act, up_offset: u32, up_stride: u32, width: u32) -> Result<Self::Op, ModelError>;
    /// x[t, i] *= s for i < width, s the one value of tensor `s` (Gemma 4's layer output scale).
    fn scale(&self, name: &str, x: Act, s: &Self::Tensor, width: u32) -> Result<Self::Op, ModelError>;
    /// logits = W · fold(x'[last token]) over the vocabulary, x' the stream
    /// `x` with its pending post-norm add applied.
    fn head(&self, w: &Self::Tensor, fold: HeadFold<'_, Self::Tensor>, x: &Residual<'_, Self::Tensor>) -> Result<Vec<Self::Op>, ModelError>;
    /// Gemma 4's per-layer input block before its post-norm: out[t, :] =
    /// proj · (gelu(inp_gate · x'[t]) ⊙ up[t, up_offset ..][..P]), x' the
    /// stream `x` with its pending add applied (llama.cpp `gemma4.cpp`:
    /// inp_gate, gelu, the product with the layer's per-layer input, proj).
    /// `out` (dim wide) is neither the stream's buffers nor the pending
    /// add's input. Returns the ops and the buffer the settled stream is
    /// left in: `x.next()` when one fused op applies the add on its way in,
    /// `x.x` when separate ops apply it first.
    #[allow(clippy::too_many_arguments)]
    fn per_layer_input(&self, name: &str, pw: &PerLayerWeights<Self::Tensor>, x: &Residual<'_, Self::Tensor>, up: Act, up_offset: u32, up_stride: u32, out: Act, pass: Pass) -> Result<(Vec<Self::Op>, Act), ModelError>;
    /// The fused q|k|v op of a packed group (backends that pack); `layer`
    /// is the layer whose cache k and v go to (q alone writes none). With
    /// `output_gate` q holds query|gate heads and the gate heads go to Mix
    /// (n_tokens, q_dim), heads one after another. It reads the stream `x`
    /// and applies its pending add, leaving the stream in `x.next()`.
    #[allow(clippy::too_many_arguments)]
    fn attn_qkv(&self, name: &str, layer: usize, attn_norm: &Self::Tensor, aw: &AttentionWeights<Self::Tensor>, packed: &PackedTensors, vecs: &PackedVectors, shape: QkvShape, factors: Option<&Self::Tensor>, output_gate: bool, x: &Residual<'_, Self::Tensor>) -> Result<Self::Op, ModelError>;
    /// LFM2's gated short convolution of layer `layer` over its rolling
    /// state: Att[t, :] = c ⊙ conv(b ⊙ x) where Mix[t, :] = b | c | x (each
    /// `dim` wide) and conv runs each channel's `l_cache` taps over the
    /// state's last l_cache − 1 inputs and the step's; the state then holds
    /// the step's last inputs. A step at position 0 starts from a zero state.
    fn short_conv(&self, name: &str, layer: usize, taps: &Self::Tensor, dim: u32, l_cache: u32) -> Result<Self::Op, ModelError>;
    /// dst[t, h, i] = src[t, h, i] for h < n_heads, i < width (elements
    /// placed by the [`HeadLayout`]s; dst and src different activations).
    #[allow(clippy::too_many_arguments)]
    fn copy_heads(&self, name: &str, dst: Act, dl: HeadLayout, src: Act, sl: HeadLayout, n_heads: u32, width: u32) -> Result<Self::Op, ModelError>;
    /// dst[t, h, i] ·= sigmoid(src[t, h, i]): Qwen3.5's attention output gate.
    #[allow(clippy::too_many_arguments)]
    fn sigmoid_gate_heads(&self, name: &str, dst: Act, dl: HeadLayout, src: Act, sl: HeadLayout, n_heads: u32, width: u32) -> Result<Self::Op, ModelError>;
    /// The Gated DeltaNet's conv of layer `layer`: Conv[t, :] =
    /// silu(conv(Mix[t, :])) over the layer's rolling state (`ConvGating::Silu`;
    /// a step at position 0 starts from a zero state).
    fn delta_conv(&self, name: &str, layer: usize, taps: &Self::Tensor, shape: ConvShape) -> Result<Self::Op, ModelError>;
    /// The gated delta rule of layer `layer` over its state, with the gated
    /// norm: Att = rmsnorm(o) · norm · silu(Z) per head, where o is the rule's
    /// output over Conv (q | k | v) and Gates (alpha | beta, `n_v_heads` each);
    /// a step at position 0 starts from a zero state (kernels::gated_delta_net).
    #[allow(clippy::too_many_arguments)]
    fn delta_net(&self, name: &str, layer: usize, dt_bias: &Self::Tensor, ssm_a: &Self::Tensor, norm: &Self::Tensor, shape: DeltaNetShape, norm_eps: f32) -> Result<Self::Op, ModelError>;
    /// The fused norm and projections of a packed group, each into its own
    /// rows: outs[s][t, :] = W_s (rmsnorm(x[t, :]) · norm) (backends that pack).
    fn norm_projections(&self, name: &str, x: Act, norm: &Self::Tensor, packed: &PackedTensors, outs: &[ActRows], eps: f32) -> Result<Self::Op, ModelError>;
    /// The fused norm, gate|up and activation of a packed group (backends
    /// that pack), reading the stream `x` and applying its pending add (the
    /// stream is then in `x.next()`).
    fn ffn_gate_up(&self, name: &str, lw: &LayerWeights<Self::Tensor>, packed: &PackedTensors, eps: f32, act: GateActivation, x: &Residual<'_, Self::Tensor>) -> Result<Self::Op, ModelError>;
    /// Whether the walk carries a post-norm residual add to the next op
    /// that reads the stream (true: the fused ops and the head apply it on
    /// their way in), or applies it as its own ops where it is made (false).
    /// Decided once per backend and device (the GPU's from
    /// `MatvecVariant::folds_pending_add`); the stream is the same either way.
    fn folds_pending(&self) -> bool;
}

/// Records one body op list (embedding and every layer); nothing is created
/// per step. A layer is its mixing block (from `ModelConfig::layers`) and
/// the feed-forward block; both passes walk the same blocks and differ in
/// how a projection runs and whether its neighbours are fused into it.
/// Returns the ops and the residual stream they leave, for [`record_head`].
pub fn record_body<'w, R: Recorder>(r: &R, c: &ModelConfig, w: &'w Weights<R::Tensor>, pass: Pass) -> Result<(Vec<R::Op>, Residual<'w, R::Tensor>), ModelError> {
    let mut body = r.embed("token_embd", &w.token_embd, Act::X, c.embed_scale)?;
    if let Some(pw) = &w.per_layer_inputs {
        per_layer_inputs(r, c, pw, pass, &mut body)?;
    }
    if let Some(ew) = &w.encoder_input {
        encoder_input(r, c, ew, &mut body)?;
    }
    let mut x = Residual::settled(Act::X);
    for (l, (plan, lw)) in c.layers.iter().zip(&w.layers).enumerate() {
        let b = Block { r, c, l, plan, pass };
        if plan.norms == NormPlacement::PostLayerNorm {
            b.encoder_attention(&mut body, x.x, lw)?;
            b.encoder_feed_forward(&mut body, x.x, lw)?;
            continue;
        }
        x = match (plan.mixer, &lw.mixer) {
            (Mixer::Attention(la), MixerWeights::Attention(aw)) => b.attention(&mut body, x, &lw.attn_norm, aw, la, w.rope_freqs.as_ref())?,
            (Mixer::ShortConv { l_cache }, MixerWeights::ShortConv(sw)) => b.short_conv(&mut body, x, &lw.attn_norm, sw, l_cache)?,
            (Mixer::GatedDeltaNet(d), MixerWeights::GatedDeltaNet(dw)) => b.delta_net(&mut body, x, &lw.attn_norm, dw, d)?,
            _ => return Err(ModelError::Config(format!("layer {l}: its weights are not those of its block"))),
        };
        x = b.feed_forward(&mut body, x, lw)?;
        if let Some(pw) = &lw.per_layer {
            x = b.per_layer_input(&mut body, x, pw)?;
        }
        if let Some(s) = &lw.output_scale {
            x = b.output_scale(&mut body, x, s)?;
        }
    }
    Ok((body, x))
}

/// Gemma 4's per-layer inputs of every layer (L layers of P), from the
/// step's tokens and their scaled embeddings x (llama.cpp `gemma4.cpp`
/// build_inp_per_layer and project_per_layer_inputs):
/// PerLayer[t, l, :] = (per_layer_token_embd[id][l] · sqrt(P) +
/// rmsnorm(per_layer_model_proj · x[t] / sqrt(dim))[l] · per_layer_proj_norm) / sqrt(2).
/// The token rows are embedded with scale sqrt(P) / sqrt(2); the norm of
/// each P-row adds its result times 1/sqrt(2); and the projection's
/// 1/sqrt(dim) moves into the norm's epsilon, since rmsnorm_eps(s·v) =
/// rmsnorm_{eps/s²}(v) for s > 0.
fn per_layer_inputs<R: Recorder>(r: &R, c: &ModelConfig, pw: &PerLayerInputWeights<R::Tensor>, pass: Pass, body: &mut Vec<R::Op>) -> Result<(), ModelError> {
    let (p, all) = (c.per_layer_input, c.per_layer_input * c.n_layers);
    body.extend(r.embed("per_layer_token_embd", &pw.token_embd, Act::PerLayer, (p as f32 / 2.0).sqrt())?);
    body.extend(r.project("per_layer_model_proj", Proj::Tensor(&pw.model_proj), Act::X, c.dim as u64, Act::PerLayerProj, all as u64, MatvecOut::AllTokens, pass)?);
    let eps = c.rms_eps * c.dim as f32;
    body.push(r.rmsnorm_add("per_layer_proj_norm", Act::PerLayerProj, &pw.proj_norm, Act::PerLayer, p, c.n_layers, eps, std::f32::consts::FRAC_1_SQRT_2)?);
    Ok(())
}

/// BERT's input rows after the token embedding in X (llama.cpp `bert.cpp`):
/// X += token_types[0] (when the file has it), X += position_embd[pos0 + t]
/// (when it has the table), then X = LayerNorm(X) · token_embd_norm + its bias.
fn encoder_input<R: Recorder>(r: &R, c: &ModelConfig, ew: &EncoderInputWeights<R::Tensor>, body: &mut Vec<R::Op>) -> Result<(), ModelError> {
    if let Some(tt) = &ew.token_type {
        body.extend(r.embed_add("token_types", tt, EmbedRows::Fixed(0), Act::X)?);
    }
    if let Some(p) = &ew.position {
        body.extend(r.embed_add("position_embd", p, EmbedRows::Positions, Act::X)?);
    }
    body.push(r.layernorm("token_embd_norm", Act::X, &ew.norm, &ew.norm_bias, c.dim, c.rms_eps)?);
    Ok(())
}

/// One layer's blocks as they are recorded: the recorder, the model, the
/// layer's index and plan, and the pass.
struct Block<'a, R: Recorder> {
    r: &'a R,
    c: &'a ModelConfig,
    l: usize,
    plan: &'a LayerPlan,
    pass: Pass,
}

impl<R: Recorder> Block<'_, R> {
    /// `blk.{l}.{op}`: an op's name in this layer.
    fn op(&self, op: &str) -> String {
        format!("blk.{}.{op}", self.l)
    }

    /// y[t, 0..] = W x[t, :] for every token (x and y `xs` and `ys` wide).
    fn project(&self, name: &str, w: Proj<'_, R::Tensor>, x: Act, xs: u64, y: Act, ys: u64) -> Result<Vec<R::Op>, ModelError> {
        self.r.project(name, w, x, xs, y, ys, MatvecOut::AllTokens, self.pass)
    }

    /// Applies the stream's pending post-norm add as its own ops (before an
    /// op that cannot apply it on its way in): x += rmsnorm(Xb) · norm, then
    /// x *= scale.
    fn settle<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>) -> Result<Residual<'w, R::Tensor>, ModelError> {
        settle(self.r, self.c, body, &x)
    }

    /// The stream `x` with a post-norm add just made pending: carried on
    /// where the backend folds it ([`Recorder::folds_pending`]), else
    /// applied now as its own ops.
    fn pend<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>) -> Result<Residual<'w, R::Tensor>, ModelError> {
        if self.r.folds_pending() {
            Ok(x)
        } else {
            self.settle(body, x)
        }
    }

    /// Output projection and its residual add: x += W y in the projection
    /// itself, or with a post-norm (Gemma) xb = W y and the add x +=
    /// norm(xb) left pending, for the next op that reads the stream.
    #[allow(clippy::too_many_arguments)]
    fn project_add<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>, name: &str, t: &R::Tensor, input: Act, in_stride: u64, post_norm: Option<&'w R::Tensor>) -> Result<Residual<'w, R::Tensor>, ModelError> {
        let (r, c, dim) = (self.r, self.c, self.c.dim as u64);
        let x = self.settle(body, x)?;
        Ok(match post_norm {
            Some(g) => {
                body.extend(self.project(name, Proj::Tensor(t), input, in_stride, Act::Xb, dim)?);
                self.pend(body, Residual { x: x.x, pending: Some(PostNorm { from: Act::Xb, name: format!("{name}.post_norm"), norm: g, eps: c.rms_eps, scale: None }) })?
            }
            None => {
                body.extend(r.project(name, Proj::Tensor(t), input, in_stride, x.x, dim, MatvecOut::Accumulate, self.pass)?);
                x
            }
        })
    }

    /// BERT's attention block over the stream `x` (post-norm, llama.cpp
    /// `bert.cpp`): q, k, v = W x [+ b] [→ RoPE (nomic-bert)] → KV store →
    /// attention, bidirectional when the model says so → x += W_o att [+
    /// b_o] → x = LayerNorm(x) · attn_output_norm + its bias.
    fn encoder_attention(&self, body: &mut Vec<R::Op>, x: Act, lw: &LayerWeights<R::Tensor>) -> Result<(), ModelError> {
        let (r, c, l, op) = (self.r, self.c, self.l, |n: &str| self.op(n));
        let (Mixer::Attention(la), MixerWeights::Attention(aw), Some(bias)) = (self.plan.mixer, &lw.mixer, &lw.encoder) else {
            return Err(ModelError::Config(format!("layer {l}: a post-norm layer is attention with its norms' biases")));
        };
        let &[wq, wk, wv] = &Proj::of(&aw.qkv)[..] else {
            return Err(ModelError::Config(format!("layer {l}: q, k and v are needed")));
        };
        let hd = la.head_dim;
        let (dim, qd, kvd) = (c.dim as u64, (c.n_heads * hd) as u64, (c.n_kv_heads * hd) as u64);
        for (i, (name, w, y, width)) in [("attn_q", wq, Act::Q, qd), ("attn_k", wk, Act::K, kvd), ("attn_v", wv, Act::V, kvd)].into_iter().enumerate() {
            body.extend(self.project(&op(name), w, x, dim, y, width)?);
            if let Some(b) = &aw.qkv_bias {
                body.push(r.bias_add(&op(&format!("{name}.bias")), y, &b[i], width as u32)?);
            }
        }
        if la.rope {
            let rope = |n_heads| RopeShape { n_heads, head_dim: hd, n_rot: la.n_rot, freq_base: la.rope_base, freq_scale: la.rope_scale, layout: c.rope_layout, mscale: c.rope_attn_factor };
            body.push(r.rope(&op("rope_q"), Act::Q, qd as u32, rope(c.n_heads), None)?);
            body.push(r.rope(&op("rope_k"), Act::K, kvd as u32, rope(c.n_kv_heads), None)?);
        }
        body.push(r.kv_store(&op("kv_store"), l, kvd as u32)?);
        let shape = AttentionShape { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: hd, window: la.window, scale: la.scale, causal: la.causal };
        body.extend(r.attention(&op("attention"), l, shape, self.pass)?);
        body.extend(r.project(&op("attn_output"), Proj::Tensor(&aw.attn_output), Act::Att, qd, x, dim, MatvecOut::Accumulate, self.pass)?);
        if let Some(p) = &bias.projections {
            body.push(r.bias_add(&op("attn_output.bias"), x, &p.attn_output, c.dim)?);
        }
        body.push(r.layernorm(&op("attn_output_norm"), x, &lw.attn_norm, &bias.attn_norm, c.dim, c.rms_eps)?);
        Ok(())
    }

    /// BERT's feed-forward block (llama.cpp `build_ffn`): BERT's
    /// LLM_FFN_GELU, LLM_FFN_SEQ: H = GELU(W_up x + b_up); nomic-bert's
    /// LLM_FFN_SILU, LLM_FFN_PAR: H = SiLU(W_gate x) ⊙ W_up x; then x +=
    /// W_down H [+ b_down] → x = LayerNorm(x) · layer_output_norm + its bias.
    fn encoder_feed_forward(&self, body: &mut Vec<R::Op>, x: Act, lw: &LayerWeights<R::Tensor>) -> Result<(), ModelError> {
        let (r, c, op) = (self.r, self.c, |n: &str| self.op(n));
        let Some(bias) = &lw.encoder else {
            return Err(ModelError::Config(format!("layer {}: a post-norm FFN has its norm's bias", self.l)));
        };
        let (dim, ffn) = (c.dim as u64, self.plan.ffn_dim);
        // The FFN's output rows: Gate when gated (its activation writes there), else Up.
        let h = match (self.plan.gated_ffn, &Proj::of(&lw.gate_up)[..]) {
            (true, &[wg, wu]) => {
                body.extend(self.project(&op("ffn_gate"), wg, x, dim, Act::Gate, ffn as u64)?);
                body.extend(self.project(&op("ffn_up"), wu, x, dim, Act::Up, ffn as u64)?);
                body.push(r.gated_activation(&op("ffn_act"), c.activation, Act::Up, 0, ffn, ffn)?);
                Act::Gate
            }
            (false, &[wu]) => {
                body.extend(self.project(&op("ffn_up"), wu, x, dim, Act::Up, ffn as u64)?);
                if let Some(p) = &bias.projections {
                    body.push(r.bias_add(&op("ffn_up.bias"), Act::Up, &p.ffn_up, ffn)?);
                }
                body.push(r.activation(&op("ffn_act"), c.activation, Act::Up, ffn)?);
                Act::Up
            }
            _ => return Err(ModelError::Config(format!("layer {}: a gated FFN is gate and up, an ungated one up alone", self.l))),
        };
        body.extend(r.project(&op("ffn_down"), Proj::Tensor(&lw.ffn_down), h, ffn as u64, x, dim, MatvecOut::Accumulate, self.pass)?);
        if let Some(p) = &bias.projections {
            body.push(r.bias_add(&op("ffn_down.bias"), x, &p.ffn_down, c.dim)?);
        }
        body.push(r.layernorm(&op("layer_output_norm"), x, &lw.ffn_norm, &bias.ffn_norm, c.dim, c.rms_eps)?);
        Ok(())
    }

    /// Gemma 4's layer output scale: x *= s, folded into the pending
    /// post-norm add when there is one.
    fn output_scale<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>, s: &'w R::Tensor) -> Result<Residual<'w, R::Tensor>, ModelError> {
        let name = self.op("layer_output_scale");
        Ok(match x.pending {
            Some(pn) if pn.scale.is_none() => Residual { x: x.x, pending: Some(PostNorm { scale: Some((s, name)), ..pn }) },
            pending => {
                let x = self.settle(body, Residual { x: x.x, pending })?;
                body.push(self.r.scale(&name, x.x, s, self.c.dim)?);
                x
            }
        })
    }

    /// Self-attention: norm → q, k, v [→ bias] [→ QK norm] [→ V norm] [→
    /// RoPE] → KV store → attention → output projection (+ residual). On
    /// decode a packed q|k|v runs as the one fused `attn_qkv` op. A layer
    /// that reads an earlier layer's cache (`la.kv_layer`) computes q alone.
    fn attention<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>, attn_norm: &R::Tensor, lw: &'w AttentionWeights<R::Tensor>, la: LayerAttention, rope_freqs: Option<&R::Tensor>) -> Result<Residual<'w, R::Tensor>, ModelError> {
        let (r, c, l, op) = (self.r, self.c, self.l, |n: &str| self.op(n));
        let hd = la.head_dim;
        let (dim, qd, kvd) = (c.dim as u64, (c.n_heads * hd) as u64, (c.n_kv_heads * hd) as u64);
        let own_kv = la.owns_kv(l);
        let cache = la.kv_layer as usize;
        // A NoPE layer rotates no dimension.
        let n_rot = if la.rope { la.n_rot } else { 0 };
        // Frequency factors apply to the model's own RoPE, not Gemma's local-layer one.
        let factors = rope_freqs.filter(|_| la.window == 0 && la.rope);
        let rope = |n_heads| RopeShape { n_heads, head_dim: hd, n_rot, freq_base: la.rope_base, freq_scale: la.rope_scale, layout: c.rope_layout, mscale: c.rope_attn_factor };
        // Where the output gate's heads are left (Mix), per head.
        let mut x = x;
        let gate_layout = match (&lw.qkv, &lw.attn_vectors) {
            // The fused kernel writes query|gate heads apart, without biases
            // and on a layer with its own KV (a q-only layer has no gate).
            (Projections::Packed(packed), Some(vecs)) if self.pass == Pass::Decode && !(la.output_gate && (lw.qkv_bias.is_some() || !own_kv)) => {
                let shape = QkvShape {
                    dim: c.dim,
                    n_heads: c.n_heads,
                    n_kv_heads: c.n_kv_heads,
                    head_dim: hd,
                    n_rot,
                    layout: c.rope_layout,
                    freq_base: la.rope_base,
                    freq_scale: la.rope_scale,
                    mscale: c.rope_attn_factor,
                    eps: c.rms_eps,
                    v_norm: c.v_norm,
                };
                // An output gate leaves no binding for a pending add.
                if la.output_gate {
                    x = self.settle(body, x)?;
                }
                body.push(r.attn_qkv(&op("attn_qkv"), cache, attn_norm, lw, packed, vecs, shape, factors, la.output_gate, &x)?);
                x = Residual::settled(x.next());
                HeadLayout::dense(hd, qd as u32)
            }
            (qkv, _) => {
                let (wq, kv) = match Proj::of(qkv)[..] {
                    [wq, wk, wv] if own_kv => (wq, Some((wk, wv))),
                    [wq] if !own_kv => (wq, None),
                    _ => return Err(ModelError::Config(format!("layer {l}: q|k|v must be three tensors (q alone on a shared-KV layer)"))),
                };
                x = self.settle(body, x)?;
                body.push(r.rmsnorm(&op("attn_norm"), x.x, attn_norm, Act::Xb, c.dim, c.rms_eps)?);
                if la.output_gate {
                    // Per head: head_dim query rows, then head_dim gate rows (kept in Mix).
                    body.extend(self.project(&op("attn_q"), wq, Act::Xb, dim, Act::Mix, 2 * qd)?);
                    let wide = HeadLayout { offset: 0, head_stride: 2 * hd, stride: 2 * qd as u32 };
                    body.push(r.copy_heads(&op("attn_q.split"), Act::Q, HeadLayout::dense(hd, qd as u32), Act::Mix, wide, c.n_heads, hd)?);
                } else {
                    body.extend(self.project(&op("attn_q"), wq, Act::Xb, dim, Act::Q, qd)?);
                }
                if let Some((wk, wv)) = kv {
                    body.extend(self.project(&op("attn_k"), wk, Act::Xb, dim, Act::K, kvd)?);
                    body.extend(self.project(&op("attn_v"), wv, Act::Xb, dim, Act::V, kvd)?);
                }
                if let Some([bq, bk, bv]) = &lw.qkv_bias {
                    for (name, y, b, width) in [("attn_q.bias", Act::Q, bq, qd), ("attn_k.bias", Act::K, bk, kvd), ("attn_v.bias", Act::V, bv, kvd)] {
                        body.push(r.bias_add(&op(name), y, b, width as u32)?);
                    }
                }
                if let Some(nq) = &lw.q_norm {
                    body.push(r.rmsnorm_in_place(&op("attn_q_norm"), Act::Q, Some(nq), hd, c.n_heads, c.rms_eps)?);
                }
                if kv.is_some() {
                    if let Some(nk) = &lw.k_norm {
                        body.push(r.rmsnorm_in_place(&op("attn_k_norm"), Act::K, Some(nk), hd, c.n_kv_heads, c.rms_eps)?);
                    }
                    if c.v_norm {
                        body.push(r.rmsnorm_in_place(&op("attn_v_norm"), Act::V, None, hd, c.n_kv_heads, c.rms_eps)?);
                    }
                }
                if la.rope {
                    body.push(r.rope(&op("rope_q"), Act::Q, qd as u32, rope(c.n_heads), factors)?);
                    if kv.is_some() {
                        body.push(r.rope(&op("rope_k"), Act::K, kvd as u32, rope(c.n_kv_heads), factors)?);
                    }
                }
                if kv.is_some() {
                    body.push(r.kv_store(&op("kv_store"), l, kvd as u32)?);
                }
                HeadLayout { offset: hd, head_stride: 2 * hd, stride: 2 * qd as u32 }
            }
        };
        let shape = AttentionShape { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: hd, window: la.window, scale: la.scale, causal: la.causal };
        body.extend(r.attention(&op("attention"), cache, shape, self.pass)?);
        if la.output_gate {
            body.push(r.sigmoid_gate_heads(&op("attn_gate"), Act::Att, HeadLayout::dense(hd, qd as u32), Act::Mix, gate_layout, c.n_heads, hd)?);
        }
        self.project_add(body, x, &op("attn_output"), &lw.attn_output, Act::Att, qd, lw.post_attention_norm.as_ref())
    }

    /// LFM2's gated short convolution: norm → in_proj (b | c | x) → c ⊙
    /// conv(b ⊙ x) over the rolling state → out_proj (+ residual).
    fn short_conv<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>, attn_norm: &R::Tensor, sw: &ShortConvWeights<R::Tensor>, l_cache: u32) -> Result<Residual<'w, R::Tensor>, ModelError> {
        let (r, c, op) = (self.r, self.c, |n: &str| self.op(n));
        let dim = c.dim as u64;
        let x = self.settle(body, x)?;
        body.push(r.rmsnorm(&op("attn_norm"), x.x, attn_norm, Act::Xb, c.dim, c.rms_eps)?);
        body.extend(self.project(&op("shortconv.in_proj"), Proj::Tensor(&sw.in_proj), Act::Xb, dim, Act::Mix, 3 * dim)?);
        body.push(r.short_conv(&op("shortconv.conv"), self.l, &sw.conv, c.dim, l_cache)?);
        self.project_add(body, x, &op("shortconv.out_proj"), &sw.out_proj, Act::Att, dim, None)
    }

    /// Qwen3.5's Gated DeltaNet: norm → attn_qkv, attn_gate (z), alpha,
    /// beta → silu(conv) → gated delta rule with its gated norm → ssm_out
    /// (+ residual) (llama.cpp `qwen35.cpp` build_layer_attn_linear).
    fn delta_net<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>, attn_norm: &R::Tensor, dw: &DeltaNetWeights<R::Tensor>, d: DeltaNetDims) -> Result<Residual<'w, R::Tensor>, ModelError> {
        let (r, c, op) = (self.r, self.c, |n: &str| self.op(n));
        let (dim, ch, inner, nv) = (c.dim as u64, d.conv_channels(), d.inner(), d.n_v_heads);
        let x = self.settle(body, x)?;
        match &dw.input {
            // One dispatch: the norm, and each projection straight into its place.
            Projections::Packed(packed) if self.pass == Pass::Decode => {
                let gates = |offset| ActRows { act: Act::Gates, offset, stride: 2 * nv };
                let outs = [ActRows::dense(Act::Mix, ch), ActRows::dense(Act::Z, inner), gates(0), gates(nv)];
                body.push(r.norm_projections(&op("ssm_in"), x.x, attn_norm, packed, &outs, c.rms_eps)?);
            }
            input => {
                let [wqkv, wz, walpha, wbeta] = Proj::of(input)[..] else { return Err(ModelError::Config("a Gated DeltaNet's input must be four tensors".into())) };
                body.push(r.rmsnorm(&op("attn_norm"), x.x, attn_norm, Act::Xb, c.dim, c.rms_eps)?);
                body.extend(self.project(&op("attn_qkv"), wqkv, Act::Xb, dim, Act::Mix, ch as u64)?);
                body.extend(self.project(&op("attn_gate"), wz, Act::Xb, dim, Act::Z, inner as u64)?);
                // alpha, beta into Conv (free until the conv), then side by side into Gates.
                for (name, w, offset) in [("ssm_alpha", walpha, 0), ("ssm_beta", wbeta, nv)] {
                    body.extend(self.project(&op(name), w, Act::Xb, dim, Act::Conv, nv as u64)?);
                    let gates = HeadLayout { offset, head_stride: nv, stride: 2 * nv };
                    body.push(r.copy_heads(&op(&format!("{name}.place")), Act::Gates, gates, Act::Conv, HeadLayout::dense(nv, nv), 1, nv)?);
                }
            }
        }
        let conv = ConvShape { channels: ch, taps: d.conv_taps, gating: crate::kernels::ConvGating::Silu };
        body.push(r.delta_conv(&op("ssm_conv"), self.l, &dw.conv, conv)?);
        body.push(r.delta_net(&op("delta_net"), self.l, &dw.dt_bias, &dw.a, &dw.norm, d.shape(c.rms_eps), c.rms_eps)?);
        self.project_add(body, x, &op("ssm_out"), &dw.out, Act::Att, inner as u64, None)
    }

    /// The gated FFN: norm → gate, up → act(gate) · up → down (+ residual)
    /// [→ post-norm]. On decode a packed gate|up runs as the fused `ffn_gate_up`.
    fn feed_forward<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>, lw: &'w LayerWeights<R::Tensor>) -> Result<Residual<'w, R::Tensor>, ModelError> {
        let (r, c, op) = (self.r, self.c, |n: &str| self.op(n));
        let (dim, ffn) = (c.dim as u64, self.plan.ffn_dim as u64);
        let x = match &lw.gate_up {
            Projections::Packed(packed) if self.pass == Pass::Decode => {
                body.push(r.ffn_gate_up(&op("ffn_gate_up"), lw, packed, c.rms_eps, c.activation, &x)?);
                Residual::settled(x.next())
            }
            gate_up => {
                let [wg, wu] = Proj::of(gate_up)[..] else { return Err(ModelError::Config("gate|up must be two tensors".into())) };
                let x = self.settle(body, x)?;
                body.push(r.rmsnorm(&op("ffn_norm"), x.x, &lw.ffn_norm, Act::Xb, c.dim, c.rms_eps)?);
                body.extend(self.project(&op("ffn_gate"), wg, Act::Xb, dim, Act::Gate, ffn)?);
                body.extend(self.project(&op("ffn_up"), wu, Act::Xb, dim, Act::Up, ffn)?);
                body.push(r.gated_activation(&op("ffn_act"), c.activation, Act::Up, 0, ffn as u32, ffn as u32)?);
                x
            }
        };
        self.project_add(body, x, &op("ffn_down"), &lw.ffn_down, Act::Gate, ffn, lw.post_ffw_norm.as_ref())
    }

    /// Gemma 4's per-layer input block, after the FFN: x += post_norm(proj(
    /// gelu(inp_gate · x) ⊙ PerLayer[t, l])) (llama.cpp `gemma4.cpp`).
    /// On decode the whole block before its post-norm is one op that also
    /// applies the FFN's pending post-norm add, writing into Up (free after
    /// the FFN; the pending add reads Xb): its own post-norm add is left
    /// pending on Up.
    fn per_layer_input<'w>(&self, body: &mut Vec<R::Op>, x: Residual<'w, R::Tensor>, pw: &'w PerLayerWeights<R::Tensor>) -> Result<Residual<'w, R::Tensor>, ModelError> {
        let (r, c, op) = (self.r, self.c, |n: &str| self.op(n));
        let p = c.per_layer_input;
        match self.pass {
            Pass::Decode => {
                let (ops, stream) = r.per_layer_input(&op("per_layer_input"), pw, &x, Act::PerLayer, self.l as u32 * p, c.n_layers * p, Act::Up, self.pass)?;
                body.extend(ops);
                let post_norm = PostNorm { from: Act::Up, name: op("proj.post_norm"), norm: &pw.post_norm, eps: c.rms_eps, scale: None };
                self.pend(body, Residual { x: stream, pending: Some(post_norm) })
            }
            Pass::Prefill => {
                let x = self.settle(body, x)?;
                body.extend(self.project(&op("inp_gate"), Proj::Tensor(&pw.inp_gate), x.x, c.dim as u64, Act::Gate, p as u64)?);
                body.push(r.gated_activation(&op("per_layer_act"), GateActivation::Gelu, Act::PerLayer, self.l as u32 * p, c.n_layers * p, p)?);
                self.project_add(body, x, &op("proj"), &pw.proj, Act::Gate, p as u64, Some(&pw.post_norm))
            }
        }
    }
}

/// The output head: the final norm and soft-cap folded into the logits
/// projection of the step's last token, over the stream `x` a body left
/// (its pending post-norm add applied on the way in).
/// A model without an output norm (BERT) has no head: no ops (`Model::submit`
/// refuses to ask it for logits).
pub fn record_head<R: Recorder>(r: &R, c: &ModelConfig, w: &Weights<R::Tensor>, x: &Residual<'_, R::Tensor>) -> Result<Vec<R::Op>, ModelError> {
    let Some(norm) = &w.output_norm else { return Ok(Vec::new()) };
    let softcap = (c.final_logit_softcap > 0.0).then_some(c.final_logit_softcap);
    r.head(w.output(), HeadFold { norm, eps: c.rms_eps, softcap }, x)
}

/// [`Output::Hidden`](super::Output::Hidden) in place of the head: the
/// stream's pending add settled, then the output norm over every token of
/// the step into Xb, (n_tokens, dim): llama.cpp's `result_norm`, the input
/// its embedding pooling reads (`llm_graph_context::build_pooling`). A
/// model without an output norm (BERT) copies the stream into Xb as it is
/// (llama.cpp `bert.cpp`: `t_embd` is the last layer's output).
pub fn record_hidden<R: Recorder>(r: &R, c: &ModelConfig, w: &Weights<R::Tensor>, x: &Residual<'_, R::Tensor>) -> Result<Vec<R::Op>, ModelError> {
    let mut ops = Vec::new();
    let x = settle(r, c, &mut ops, x)?;
    ops.push(match &w.output_norm {
        Some(norm) => r.rmsnorm("output_norm", x.x, norm, Act::Xb, c.dim, c.rms_eps)?,
        None => {
            let rows = HeadLayout::dense(c.dim, c.dim);
            r.copy_heads("hidden", Act::Xb, rows, x.x, rows, 1, c.dim)?
        }
    });
    Ok(ops)
}

/// Applies the stream's pending post-norm add as its own ops: x +=
/// rmsnorm(Xb) · norm, then x *= scale (a backend composing a fused op of
/// its simpler ones calls this too). Returns the settled stream, in the same
/// buffer.
pub fn settle<'w, R: Recorder>(r: &R, c: &ModelConfig, body: &mut Vec<R::Op>, x: &Residual<'_, R::Tensor>) -> Result<Residual<'w, R::Tensor>, ModelError> {
    if let Some(pn) = &x.pending {
        body.push(r.rmsnorm_add(&pn.name, pn.from, pn.norm, x.x, c.dim, 1, pn.eps, 1.0)?);
        if let Some((s, name)) = &pn.scale {
            body.push(r.scale(name, x.x, s, c.dim)?);
        }
    }
    Ok(Residual::settled(x.x))
}

/// [`Recorder::per_layer_input`] as simpler ops, for a backend without the
/// fused one: the pending add settled in place, inp_gate into Gate, the
/// gated activation, proj into `out`.
#[allow(clippy::too_many_arguments)]
pub fn per_layer_input_composed<R: Recorder>(r: &R, c: &ModelConfig, name: &str, pw: &PerLayerWeights<R::Tensor>, x: &Residual<'_, R::Tensor>, up: Act, up_offset: u32, up_stride: u32, out: Act, pass: Pass) -> Result<(Vec<R::Op>, Act), ModelError> {
    let (dim, p) = (c.dim, c.per_layer_input);
    let mut ops = Vec::new();
    let x = settle(r, c, &mut ops, x)?;
    ops.extend(r.project(&format!("{name}.inp_gate"), Proj::Tensor(&pw.inp_gate), x.x, dim as u64, Act::Gate, p as u64, MatvecOut::AllTokens, pass)?);
    ops.push(r.gated_activation(&format!("{name}.act"), GateActivation::Gelu, up, up_offset, up_stride, p)?);
    ops.extend(r.project(&format!("{name}.proj"), Proj::Tensor(&pw.proj), Act::Gate, p as u64, out, dim as u64, MatvecOut::AllTokens, pass)?);
    Ok((ops, x.x))
}
