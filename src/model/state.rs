//! Activations and KV cache, allocated once at load for `max_batch` tokens
//! per step and `n_ctx` positions.

use super::ModelConfig;
use crate::gpu::{self, GpuContext, Precision, ReadbackSlot, Step};
use crate::kernels::SampleInputs;

/// The ring cache of the sliding-window layers: position p in slot p % slots,
/// so writing p evicts p - slots. For several ring layers: the widest window
/// and the fewest slots (what any layer needs, what every layer keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    pub window: usize,
    pub slots: usize,
}

pub struct State {
    pub max_batch: u32,
    pub n_ctx: u32,
    pub step: wgpu::Buffer,       // uniform Step
    pub ids: wgpu::Buffer,        // (max_batch) u32 token ids of the step
    pub x: wgpu::Buffer,          // (max_batch, dim) residual stream
    pub xb: wgpu::Buffer,         // (max_batch, dim) normed input, then projection outputs
    pub x_alt: wgpu::Buffer,      // (max_batch, dim) the residual stream's second buffer (Act::XAlt)
    pub q: wgpu::Buffer,          // (max_batch, q_dim)
    pub k: wgpu::Buffer,          // (max_batch, kv_dim)
    pub v: wgpu::Buffer,          // (max_batch, kv_dim)
    pub att: wgpu::Buffer,        // (max_batch, q_dim) attention output
    pub att_partials: wgpu::Buffer, // (n_heads, max splits, head_dim + 2) split decode attention
    pub gate: wgpu::Buffer,       // (max_batch, ffn_dim)
    pub up: wgpu::Buffer,         // (max_batch, ffn_dim)
    pub mix: wgpu::Buffer,        // (max_batch, mix_dim) a recurrent block's input projection
    pub per_layer: wgpu::Buffer,  // (max_batch, n_layers · P) Gemma 4's per-layer inputs
    pub per_layer_proj: wgpu::Buffer, // (max_batch, n_layers · P) their projection before the norm
    pub logits: wgpu::Buffer,     // (vocab) for the step's last token
    pub sampled: wgpu::Buffer,    // (1) u32 argmax or sampled id
    /// Per-step settings, penalised ids and draw of the sample op (kernels::sample).
    pub sample_inputs: SampleInputs,
    pub k_cache: Vec<wgpu::Buffer>, // per layer (cache_len[l], layer_kv_dim(l)), f16 or f32 by precision
    pub v_cache: Vec<wgpu::Buffer>, // per layer (cache_len[l], layer_kv_dim(l))
    /// Positions each layer's cache holds: n_ctx, or for a sliding-window
    /// layer a ring of window + max_batch (every position a step's windows need).
    pub cache_len: Vec<u32>,
    /// The ring of the sliding-window layers whose cache is shorter than the
    /// context (widest window, fewest slots), if any.
    pub ring: Option<Ring>,
    /// Per layer, the recurrent state of a short-conv layer: (l_cache − 1,
    /// dim) f32, the last inputs oldest first; None on other layers.
    pub conv_state: Vec<Option<wgpu::Buffer>>,
    /// Per layer, a Gated DeltaNet layer's state (n_v_heads, head_v_dim,
    /// head_k_dim) f32; None on other layers. Its conv's rolling state
    /// (taps − 1, conv channels) is in `conv_state`.
    pub delta_state: Vec<Option<wgpu::Buffer>>,
    /// (max_batch, conv channels) the Gated DeltaNet conv's output.
    pub conv: wgpu::Buffer,
    /// (max_batch, 2 · n_v_heads) the Gated DeltaNet's alpha | beta.
    pub gates: wgpu::Buffer,
    /// (max_batch, inner) the Gated DeltaNet's z (attn_gate).
    pub z: wgpu::Buffer,
    pub token_slots: [ReadbackSlot; 2], // 4 bytes each: two decode steps may be in flight
    pub logits_slot: ReadbackSlot, // vocab * 4 bytes
}

impl State {
    pub fn new(ctx: &GpuContext, c: &ModelConfig, max_batch: u32, n_ctx: u32) -> Self {
        let b = max_batch as u64;
        let f32s = |label: &str, width: u32| gpu::activation_buffer(ctx, label, b * width as u64 * 4);
        let kv_elem = match ctx.precision {
            Precision::F16 => 2,
            Precision::F32 => 4,
        };
        let (cache_len, ring) = cache_layout(c, max_batch, n_ctx);
        let cache = |kind: &str| -> Vec<wgpu::Buffer> {
            cache_len
                .iter()
                .enumerate()
                // A layer without a cache of its own holds nothing (4 bytes: no buffer is empty).
                .map(|(l, &len)| gpu::storage_buffer(ctx, &format!("{kind}_cache.{l}"), (len as u64 * c.layer_kv_dim(l as u32) as u64 * kv_elem).max(4)))
                .collect()
        };
        Self {
            max_batch,
            n_ctx,
            step: gpu::uniform_buffer(ctx, "step", bytemuck::bytes_of(&Step::default())),
            ids: gpu::storage_buffer(ctx, "ids", b * 4),
            x: f32s("x", c.dim),
            xb: f32s("xb", c.dim),
            x_alt: f32s("x_alt", c.dim),
            q: f32s("q", c.q_dim()),
            k: f32s("k", c.kv_dim()),
            v: f32s("v", c.kv_dim()),
            att: f32s("att", crate::model::Act::Att.width(c)),
            att_partials: gpu::storage_buffer(
                ctx,
                "att_partials",
                c.n_heads as u64 * crate::kernels::attention_max_splits(n_ctx) as u64 * (c.head_dim as u64 + 2) * 4,
            ),
            gate: f32s("gate", crate::model::Act::Gate.width(c)),
            up: f32s("up", crate::model::Act::Up.width(c)),
            mix: f32s("mix", c.mix_dim().max(1)),
            per_layer: f32s("per_layer", crate::model::Act::PerLayer.width(c).max(1)),
            per_layer_proj: f32s("per_layer_proj", crate::model::Act::PerLayerProj.width(c).max(1)),
            conv: f32s("conv", crate::model::Act::Conv.width(c).max(1)),
            gates: f32s("gates", crate::model::Act::Gates.width(c).max(1)),
            z: f32s("z", crate::model::Act::Z.width(c).max(1)),
            logits: gpu::storage_buffer(ctx, "logits", c.vocab as u64 * 4),
            sampled: gpu::storage_buffer(ctx, "sampled", 4),
            sample_inputs: SampleInputs::new(ctx),
            k_cache: cache("k"),
            v_cache: cache("v"),
            cache_len,
            ring,
            conv_state: c
                .layers
                .iter()
                .enumerate()
                .map(|(l, p)| match p.mixer {
                    crate::model::Mixer::ShortConv { l_cache } => Some(gpu::storage_buffer(ctx, &format!("conv_state.{l}"), (l_cache as u64 - 1) * c.dim as u64 * 4)),
                    crate::model::Mixer::GatedDeltaNet(d) => Some(gpu::storage_buffer(ctx, &format!("conv_state.{l}"), (d.conv_taps as u64 - 1) * d.conv_channels() as u64 * 4)),
                    crate::model::Mixer::Attention(_) => None,
                })
                .collect(),
            delta_state: c
                .layers
                .iter()
                .enumerate()
                .map(|(l, p)| match p.mixer {
                    crate::model::Mixer::GatedDeltaNet(d) => Some(gpu::storage_buffer(ctx, &format!("delta_state.{l}"), d.shape(c.rms_eps).state_len() * 4)),
                    _ => None,
                })
                .collect(),
            token_slots: [ReadbackSlot::new(ctx, "token readback 0", 4), ReadbackSlot::new(ctx, "token readback 1", 4)],
            logits_slot: ReadbackSlot::new(ctx, "logits readback", c.vocab as u64 * 4),
        }
    }

    /// Bytes of KV cache held on the GPU.
    pub fn kv_bytes(&self) -> u64 {
        // Layers without attention hold a placeholder, not a cache.
        let held = |(b, &n): (&wgpu::Buffer, &u32)| if n > 0 { b.size() } else { 0 };
        self.k_cache.iter().zip(&self.cache_len).map(held).sum::<u64>() + self.v_cache.iter().zip(&self.cache_len).map(held).sum::<u64>()
    }
}

/// Positions each layer's KV cache holds, and the ring of the sliding-window
/// layers: a full layer holds n_ctx; a sliding-window layer a ring of
/// window + max_batch slots (every position a step's windows need), when
/// that is shorter.
pub fn cache_layout(c: &ModelConfig, max_batch: u32, n_ctx: u32) -> (Vec<u32>, Option<Ring>) {
    // A layer without attention (recurrent), or one that reads an earlier
    // layer's cache (Gemma 4), holds no positions.
    let cache_len: Vec<u32> = (0..c.n_layers)
        .map(|l| match c.layer_attention(l).filter(|a| a.owns_kv(l as usize)).map(|a| a.window) {
            None => 0,
            Some(0) => n_ctx,
            Some(w) => n_ctx.min(w.saturating_add(max_batch)),
        })
        .collect();
    let ring = (0..c.n_layers)
        .filter_map(|l| Some((l as usize, c.layer_attention(l)?.window)))
        .filter(|&(l, w)| w > 0 && cache_len[l] > 0 && cache_len[l] < n_ctx)
        .map(|(l, w)| Ring { window: w as usize, slots: cache_len[l] as usize })
        .reduce(|a, b| Ring { window: a.window.max(b.window), slots: a.slots.min(b.slots) });
    (cache_len, ring)
}
