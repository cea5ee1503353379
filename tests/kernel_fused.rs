//! The fused layer kernels against a CPU reference written here from their
//! definitions, on seeded random inputs:
//!
//! - `kernels::attn_qkv`: RMSNorm(x) * attn_norm, the packed q|k|v
//!   dequantize-matvec, + bias, RMSNorm per head (QK norm), RoPE on q and k;
//!   q into `q`, k and v into the KV cache at slot (pos0 + t) % n_cache.
//!   With an output gate (Qwen3.5) the q tensor holds query|gate rows per
//!   head and the gate heads go to their own buffer.
//! - `kernels::ffn_gate_up`: RMSNorm(x) * ffn_norm, the packed gate|up
//!   dequantize-matvec, y = act(gate) * up.
//! - `kernels::norm_projections`: RMSNorm(x) * norm, then each packed
//!   projection into its own rows (offset, stride) of up to three buffers
//!   (the Gated DeltaNet's input side).
//!
//! - a post-norm add pending on the input (`kernels::PendingNorm`, Gemma's
//!   post-norms and Gemma 4's layer output scale, folded into attn_qkv,
//!   ffn_gate_up, the output head's matvec and `kernels::per_layer`): the
//!   input is x' = (x + rmsnorm(xb) · g) · s, and x' is written to its own
//!   buffer for the step's tokens.
//! - `kernels::per_layer`: Gemma 4's per-layer input block, y = W_proj
//!   (gelu(W_gate x') ⊙ the layer's per-layer input).
//!
//! Weights are decoded by `quant::dequantize_to_vec` (itself checked against
//! Python's `gguf` in quant_dequant.rs); everything after that is f64 here.
//! Each case runs under every matvec variant a device runs, forced in turn,
//! on both precision paths (`common::matvec_contexts`), for a step of several
//! tokens (two token groups, the second partial), a decode step and a short
//! step, at positions past the end of a small ring cache. With one
//! invocation per row (CPU adapters) the decode step reads x, and the FFN's
//! norm weight, through the uniform window the model's activation buffers
//! allow, and again from plain storage buffers (the path when a token is
//! wider than the window).

mod common;
use common::*;
use half::f16;
use tabllm::gpu::{self, GpuContext, GpuTensor, MatvecVariant, PackedTensors, PackedVectors, Precision, Step};
use tabllm::kernels::{self, GateActivation, MatvecFold, MatvecOut, PendingNorm, QkvShape, QkvVectors, RopeLayout, Rows};
use tabllm::quant::{self, testing, GgmlType};

/// The v rows (projection + bias, no transcendentals) on the f32 path: f32
/// weights dequantized exactly, sums in another order than the reference's
/// f64 (as `TOL_MATVEC` in kernels_quant.rs; lavapipe: 2e-6 worst).
const TOL_MATVEC: f32 = 2e-5;
/// q and k after RoPE: the GPU's f32 pow/sin/cos of angles up to ~30 rad
/// (positions up to 29) against f64 libm (as `TOL_TRANSCENDENTAL` in
/// kernels_basic.rs; lavapipe: 1.1e-5 worst, GPUs' sin/cos are coarser).
const TOL_ROPE: f32 = 2e-4;
/// The f16 path stores k and v in an f16 cache: rounding to an 11-bit
/// significand alone is up to 2^-11 ≈ 4.9e-4 relative (lavapipe: 4.5e-4
/// worst), on top of TOL_ROPE.
const TOL_KV_F16: f32 = 1e-3;
/// act(gate) * up: the GPU's f32 exp/tanh against f64 libm, on products up
/// to ~100 (as `TOL_TRANSCENDENTAL` in kernels_basic.rs; lavapipe: 5e-6 worst).
const TOL_ACT: f32 = 2e-4;

/// x' = (x + rmsnorm(xb) · g) · s written back: f32 products and sums of
/// three terms against f64 (lavapipe: 2.4e-7 worst).
const TOL_PENDING: f32 = 2e-6;

/// The model dimension: a whole number of 256-weight K-quant blocks.
const DIM: usize = 256;
/// Cache slots: every step below is at positions past the ring's end.
const N_CACHE: u32 = 16;
/// Rows of x, q and y allocated, as the model's `max_batch`.
const MAX_BATCH: usize = 16;
/// (pos0, n_tokens) of the steps each case runs in order, on one cache:
/// 11 tokens are two groups of `TOKENS_PER_GROUP` (8), the second partial,
/// and wrap around the ring (slots 13, 14, 15, 0..7); then a decode step
/// (slot 8); then 5 tokens overwriting slots 9..13.
const STEPS: [(u32, u32); 3] = [(13, 11), (24, 1), (25, 5)];
const EPS: f32 = 1e-5;

/// How x (and the FFN's norm weight) are allocated.
#[derive(Clone, Copy, Debug, PartialEq)]
enum XBuf {
    /// `gpu::activation_buffer`, as the model's: one-invocation-per-row
    /// decode reads it as a uniform window.
    Activation,
    /// A plain storage buffer: decode reads it from storage.
    Storage,
}

fn x_kinds(ctx: &GpuContext) -> Vec<XBuf> {
    // Only one invocation per row has a uniform-window decode variant.
    if ctx.matvec == MatvecVariant::ThreadPerRow {
        vec![XBuf::Activation, XBuf::Storage]
    } else {
        vec![XBuf::Activation]
    }
}

fn f32_buffer(ctx: &GpuContext, kind: XBuf, data: &[f32]) -> wgpu::Buffer {
    match kind {
        XBuf::Activation => buffer_f32(ctx, data),
        XBuf::Storage => buffer_bytes(ctx, bytemuck::cast_slice(data)),
    }
}

/// A weight tensor: its GGUF bytes and the reference's decoding of them.
struct Weight {
    ty: GgmlType,
    rows: usize,
    bytes: Vec<u8>,
    values: Vec<f32>, // (rows, DIM)
}

fn weight(ty: GgmlType, rows: usize, seed: u64) -> Weight {
    let bytes = testing::random_tensor(ty, rows * DIM, seed);
    let values = quant::dequantize_to_vec(ty, &bytes).unwrap();
    Weight { ty, rows, bytes, values }
}

/// A tensor of `cols` columns on the GPU on its own (not packed), with its decoding.
fn loose_tensor(ctx: &GpuContext, name: &str, ty: GgmlType, rows: usize, cols: usize, seed: u64) -> (GpuTensor, Vec<f32>) {
    let bytes = testing::random_tensor(ty, rows * cols, seed);
    let mut t = GpuTensor::allocate(ctx, name, ty, &[cols as u64, rows as u64], bytes.len() as u64).unwrap();
    t.write_next(&ctx.queue, &bytes);
    assert!(t.is_complete());
    (t, quant::dequantize_to_vec(ty, &bytes).unwrap())
}

/// A post-norm add pending on a kernel's input ([`PendingNorm`]) and its
/// reference: x' = (x + rmsnorm(xb) · g) · s per token, s = 1 without a
/// scale. Its buffers are made as the model's (activation buffers); `out`
/// starts with values no step writes.
struct Pending {
    g: Vec<f32>,
    s: Option<f32>,
    /// The current step's xb rows.
    xb: Vec<f32>,
    xb_buf: wgpu::Buffer,
    g_buf: wgpu::Buffer,
    s_buf: Option<wgpu::Buffer>,
    /// What `out_buf` should hold.
    out: Vec<f32>,
    out_buf: wgpu::Buffer,
}

impl Pending {
    fn new(ctx: &GpuContext, rng: &mut Rng, scale: bool) -> Self {
        let g = rng.vec(DIM, 1.5);
        let s = scale.then(|| 0.75 + rng.vec(1, 0.5)[0]);
        let out = rng.vec(MAX_BATCH * DIM, 50.0);
        Self {
            xb_buf: buffer_f32(ctx, &vec![0.0; MAX_BATCH * DIM]),
            g_buf: buffer_f32(ctx, &g),
            s_buf: s.map(|s| buffer_f32(ctx, &[s])),
            out_buf: buffer_f32(ctx, &out),
            g,
            s,
            xb: Vec::new(),
            out,
        }
    }

    /// The fold, writing x' when `write`.
    fn norm(&self, write: bool) -> PendingNorm<'_> {
        PendingNorm { xb: &self.xb_buf, norm: &self.g_buf, scale: self.s_buf.as_ref(), out: write.then_some(&self.out_buf), eps: EPS }
    }

    /// New xb rows for a step of `n` tokens.
    fn next_step(&mut self, ctx: &GpuContext, rng: &mut Rng, n: usize) {
        self.xb = rng.vec(n * DIM, 3.0);
        ctx.queue.write_buffer(&self.xb_buf, 0, bytemuck::cast_slice(&self.xb));
    }

    /// Token t's x' from its x.
    fn apply(&self, x: &[f32], t: usize) -> Vec<f32> {
        let n = norm_cpu(&self.xb[t * DIM..][..DIM], &self.g, EPS);
        x.iter().zip(n).map(|(&x, n)| ((x as f64 + n) * self.s.unwrap_or(1.0) as f64) as f32).collect()
    }

    /// x' of the step's `n` tokens of x (n x DIM) in `out`, and the rest of
    /// `out` as it was.
    fn check_out(&mut self, ctx: &GpuContext, what: &str, x: &[f32], n: usize) {
        let got = read_f32(ctx, &self.out_buf, self.out.len());
        for t in 0..n {
            let row = &got[t * DIM..][..DIM];
            assert_close(&format!("{what} token {t}: x' written back"), row, &self.apply(&x[t * DIM..][..DIM], t), TOL_PENDING);
            self.out[t * DIM..][..DIM].copy_from_slice(row);
        }
        if let Some(j) = (n * DIM..self.out.len()).find(|&j| got[j].to_bits() != self.out[j].to_bits()) {
            panic!("{what}: x'[{j}] (token {}) was not to be written, changed from {} to {}", j / DIM, self.out[j], got[j]);
        }
    }
}

/// Each token's input as the kernel sees it: x, or x' with a pending add.
fn inputs(x: &[f32], n: usize, pending: Option<&Pending>) -> Vec<f32> {
    match pending {
        Some(p) => (0..n).flat_map(|t| p.apply(&x[t * DIM..][..DIM], t)).collect(),
        None => x.to_vec(),
    }
}

/// The tensors streamed into one buffer at the offsets the loader uses
/// (`GpuTensor::segment_of`, `PackedTensors::from_segments`).
fn pack_weights(ctx: &GpuContext, label: &str, ws: &[&Weight]) -> PackedTensors {
    let sizes: Vec<u64> = ws.iter().map(|w| w.bytes.len() as u64).collect();
    let (offsets, total) = PackedTensors::layout(&sizes, u64::MAX).unwrap();
    let buffer = gpu::storage_buffer(ctx, label, total);
    let tensors = ws
        .iter()
        .zip(offsets)
        .enumerate()
        .map(|(i, (w, offset))| {
            let mut t = GpuTensor::segment_of(&buffer, offset, &format!("{label}.{i}"), w.ty, &[DIM as u64, w.rows as u64], w.bytes.len() as u64);
            t.write_next(&ctx.queue, &w.bytes);
            assert!(t.is_complete());
            t
        })
        .collect();
    PackedTensors::from_segments(tensors).unwrap_or_else(|_| panic!("{label}: segments should be in place"))
}

/// F32 vectors packed in this order, as the loader packs a layer's (`PackedVectors::pack`).
fn pack_vectors(ctx: &GpuContext, vs: &[(&str, &[f32])]) -> PackedVectors {
    let tensors: Vec<GpuTensor> = vs
        .iter()
        .map(|(name, data)| {
            let bytes: &[u8] = bytemuck::cast_slice(data);
            let mut t = GpuTensor::allocate(ctx, name, GgmlType::F32, &[data.len() as u64], bytes.len() as u64).unwrap();
            t.write_next(&ctx.queue, bytes);
            t
        })
        .collect();
    PackedVectors::pack(ctx, "vectors", &tensors.iter().collect::<Vec<_>>()).unwrap()
}

/// A KV cache holding `data`, in the element type of the context's precision.
fn cache_buffer(ctx: &GpuContext, data: &[f32]) -> wgpu::Buffer {
    match ctx.precision {
        Precision::F16 => buffer_bytes(ctx, bytemuck::cast_slice(&data.iter().map(|&v| f16::from_f32(v)).collect::<Vec<_>>())),
        Precision::F32 => buffer_bytes(ctx, bytemuck::cast_slice(data)),
    }
}

fn read_cache(ctx: &GpuContext, buf: &wgpu::Buffer, n: usize) -> Vec<f32> {
    match ctx.precision {
        Precision::F16 => {
            let bytes = pollster::block_on(gpu::read_buffer(ctx, buf, (n * 2) as u64)).expect("readback");
            bytes[..n * 2].chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        }
        Precision::F32 => read_f32(ctx, buf, n),
    }
}

/// Cache contents no step writes, exactly representable in the cache's element type.
fn cache_sentinel(ctx: &GpuContext, n: usize, seed: u64) -> Vec<f32> {
    let v = Rng::new(seed).vec(n, 50.0);
    match ctx.precision {
        Precision::F16 => v.iter().map(|&x| f16::from_f32(x).to_f32()).collect(),
        Precision::F32 => v,
    }
}

/// RMSNorm(x) * g.
fn norm_cpu(x: &[f32], g: &[f32], eps: f32) -> Vec<f64> {
    let ms = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64;
    let inv = 1.0 / (ms + eps as f64).sqrt();
    x.iter().zip(g).map(|(&v, &g)| v as f64 * inv * g as f64).collect()
}

/// W xn for the decoded rows of W (rows, DIM).
fn matvec_cpu(w: &Weight, xn: &[f64]) -> Vec<f64> {
    w.values.chunks_exact(DIM).map(|row| row.iter().zip(xn).map(|(&a, b)| a as f64 * b).sum()).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The name of the case and the device, for failure messages.
fn device_label(ctx: &GpuContext, x: XBuf) -> String {
    format!("{} {:?} x {x:?}", label(ctx), ctx.matvec)
}

// ---------------------------------------------------------------- attn_qkv

/// One attention input configuration.
#[derive(Clone, Copy, Debug)]
struct QkvCase {
    name: &'static str,
    types: [GgmlType; 3],
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    n_rot: u32,
    layout: RopeLayout,
    freq_base: f32,
    freq_scale: f32,
    /// LongRoPE's magnitude scale on the rotated pairs (1: none).
    mscale: f32,
    bias: bool,
    qk_norm: bool,
    rope_factors: bool,
    /// Pack attn_norm after the other vectors (its f32 index is not 0).
    norm_last: bool,
    /// Qwen3.5: per head, head_dim query rows then head_dim gate rows in q.
    output_gate: bool,
    /// v normed over each head without a weight (Gemma 4).
    v_norm: bool,
    /// q alone: a layer reading an earlier layer's KV cache (Gemma 4); the
    /// caches must not be written.
    q_only: bool,
}

/// All grouped-query (n_heads != n_kv_heads). Between them: both RoPE
/// layouts, each with all and with part of the head rotated; with and
/// without bias, QK norm, frequency factors, linear scaling; a single
/// format with block minimums (Q4_1), Q8_0, Q4_K_M's mix (Q4_K, Q4_K,
/// Q6_K), three different formats; head dims 64, 256 (more rotated pairs
/// than invocations), 512 (the largest: Gemma 4's full layers, whose
/// pipeline takes fewer tokens per workgroup) and 80 (not a multiple of the
/// rows a workgroup computes at once).
const QKV_CASES: [QkvCase; 8] = [
    QkvCase {
        name: "llama3.1-like: Q4_1, normal RoPE over 48 of 64, frequency factors",
        types: [GgmlType::Q4_1; 3],
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 64,
        n_rot: 48,
        layout: RopeLayout::Normal,
        freq_base: 500000.0,
        freq_scale: 1.0,
        mscale: 1.0,
        bias: false,
        qk_norm: false,
        rope_factors: true,
        norm_last: false,
        output_gate: false,
        v_norm: false,
        q_only: false,
    },
    QkvCase {
        name: "qwen2-like: Q8_0, bias, normal RoPE, linear scaling 1/4",
        types: [GgmlType::Q8_0; 3],
        n_heads: 6,
        n_kv_heads: 2,
        head_dim: 64,
        n_rot: 64,
        layout: RopeLayout::Normal,
        freq_base: 1000000.0,
        freq_scale: 0.25,
        mscale: 1.0,
        bias: true,
        qk_norm: false,
        rope_factors: false,
        norm_last: false,
        output_gate: false,
        v_norm: false,
        q_only: false,
    },
    QkvCase {
        name: "gemma3-1b-like: Q4_K, Q4_K, Q6_K, QK norm, NeoX RoPE, head_dim 256",
        types: [GgmlType::Q4K, GgmlType::Q4K, GgmlType::Q6K],
        n_heads: 4,
        n_kv_heads: 1,
        head_dim: 256,
        n_rot: 256,
        layout: RopeLayout::Neox,
        freq_base: 1000000.0,
        freq_scale: 1.0,
        mscale: 1.0,
        bias: false,
        qk_norm: true,
        rope_factors: false,
        norm_last: false,
        output_gate: false,
        v_norm: false,
        q_only: false,
    },
    QkvCase {
        name: "everything: Q5_1, Q8_0, Q4_0, bias, QK norm, NeoX RoPE over 32 of 80, factors, scaling 1/2, LongRoPE mscale",
        types: [GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q4_0],
        n_heads: 6,
        n_kv_heads: 2,
        head_dim: 80,
        n_rot: 32,
        layout: RopeLayout::Neox,
        freq_base: 10000.0,
        freq_scale: 0.5,
        mscale: 1.1338934,
        bias: true,
        qk_norm: true,
        rope_factors: true,
        norm_last: true,
        output_gate: false,
        v_norm: false,
        q_only: false,
    },
    QkvCase {
        name: "qwen3.5-like: Q4_K, Q4_K, Q6_K, output gate, QK norm, NeoX RoPE over 16 of 64",
        types: [GgmlType::Q4K, GgmlType::Q4K, GgmlType::Q6K],
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 64,
        n_rot: 16,
        layout: RopeLayout::Neox,
        freq_base: 10000000.0,
        freq_scale: 1.0,
        mscale: 1.0,
        bias: false,
        qk_norm: true,
        rope_factors: false,
        norm_last: false,
        output_gate: true,
        v_norm: false,
        q_only: false,
    },
    QkvCase {
        name: "gemma4-full-like: Q4_K, Q4_K, Q6_K, QK norm, V norm, NeoX RoPE, factors, head_dim 128",
        types: [GgmlType::Q4K, GgmlType::Q4K, GgmlType::Q6K],
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 128,
        n_rot: 128,
        layout: RopeLayout::Neox,
        freq_base: 1000000.0,
        freq_scale: 1.0,
        mscale: 1.0,
        bias: false,
        qk_norm: true,
        rope_factors: true,
        norm_last: false,
        output_gate: false,
        v_norm: true,
        q_only: false,
    },
    QkvCase {
        name: "gemma4-e2b-full-like: Q4_K, Q4_K, Q6_K, QK norm, V norm, NeoX RoPE, factors, head_dim 512",
        types: [GgmlType::Q4K, GgmlType::Q4K, GgmlType::Q6K],
        n_heads: 4,
        n_kv_heads: 1,
        head_dim: 512,
        n_rot: 512,
        layout: RopeLayout::Neox,
        freq_base: 1000000.0,
        freq_scale: 1.0,
        mscale: 1.0,
        bias: false,
        qk_norm: true,
        rope_factors: true,
        norm_last: false,
        output_gate: false,
        v_norm: true,
        q_only: false,
    },
    QkvCase {
        name: "gemma4-shared-kv-like: q alone, Q4_K, QK norm, NeoX RoPE, head_dim 64",
        types: [GgmlType::Q4K; 3],
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 64,
        n_rot: 64,
        layout: RopeLayout::Neox,
        freq_base: 10000.0,
        freq_scale: 1.0,
        mscale: 1.0,
        bias: false,
        qk_norm: true,
        rope_factors: false,
        norm_last: false,
        output_gate: false,
        v_norm: true,
        q_only: true,
    },
];

/// The f32 vectors of a layer's attention input.
struct QkvVecs {
    attn_norm: Vec<f32>,
    bias: Option<[Vec<f32>; 3]>,
    qk_norm: Option<[Vec<f32>; 2]>,
    factors: Option<Vec<f32>>,
}

/// Rotates the first n_rot dimensions of one head at position `pos`:
/// pair i, (2i, 2i+1) or NeoX (i, i + n_rot/2), by
/// pos * freq_scale * freq_base^(-2i/n_rot) / factors[i].
fn rope_cpu(head: &mut [f64], pos: u32, c: &QkvCase, factors: Option<&[f32]>) {
    let half = c.n_rot as usize / 2;
    for i in 0..half {
        let theta = pos as f64 * c.freq_scale as f64 * (c.freq_base as f64).powf(-2.0 * i as f64 / c.n_rot as f64) / factors.map_or(1.0, |f| f[i] as f64);
        let (a, b) = match c.layout {
            RopeLayout::Normal => (2 * i, 2 * i + 1),
            RopeLayout::Neox => (i, i + half),
        };
        let (x0, x1, m) = (head[a], head[b], c.mscale as f64);
        head[a] = m * (x0 * theta.cos() - x1 * theta.sin());
        head[b] = m * (x0 * theta.sin() + x1 * theta.cos());
    }
}

/// q, k, v of one token at position `pos`, from the definitions, and with
/// an output gate the gate heads (one after another).
fn qkv_cpu(c: &QkvCase, w: &[Weight; 3], v: &QkvVecs, x: &[f32], pos: u32) -> ([Vec<f64>; 3], Vec<f64>) {
    let hd = c.head_dim as usize;
    let xn = norm_cpu(x, &v.attn_norm, EPS);
    let mut out: [Vec<f64>; 3] = std::array::from_fn(|s| matvec_cpu(&w[s], &xn));
    let mut gate = Vec::new();
    if c.output_gate {
        // Per head: head_dim query rows, then head_dim gate rows.
        let (q, g): (Vec<_>, Vec<_>) = out[0].chunks_exact(hd).enumerate().partition(|(i, _)| i % 2 == 0);
        gate = g.into_iter().flat_map(|(_, h)| h.to_vec()).collect();
        out[0] = q.into_iter().flat_map(|(_, h)| h.to_vec()).collect();
    }
    for (s, y) in out.iter_mut().enumerate() {
        if let Some(b) = &v.bias {
            y.iter_mut().zip(&b[s]).for_each(|(y, &b)| *y += b as f64);
        }
        if s == 2 {
            // v: no rotation; Gemma 4 norms it without a weight.
            if c.v_norm {
                for head in y.chunks_exact_mut(hd) {
                    let ms = head.iter().map(|x| x * x).sum::<f64>() / hd as f64;
                    let inv = 1.0 / (ms + EPS as f64).sqrt();
                    head.iter_mut().for_each(|x| *x *= inv);
                }
            }
            continue;
        }
        for head in y.chunks_exact_mut(hd) {
            if let Some(g) = &v.qk_norm {
                let ms = head.iter().map(|x| x * x).sum::<f64>() / hd as f64;
                let inv = 1.0 / (ms + EPS as f64).sqrt();
                head.iter_mut().zip(&g[s]).for_each(|(x, &g)| *x *= inv * g as f64);
            }
            rope_cpu(head, pos, c, v.factors.as_deref());
        }
    }
    (out, gate)
}

fn check_attn_qkv(ctx: &GpuContext, c: &QkvCase, xk: XBuf, seed: u64, pending: Option<bool>) {
    let what = format!("attn_qkv [{}] {}{}", c.name, device_label(ctx, xk), pending.map_or(String::new(), |s| format!(" pending post-norm (scale {s})")));
    let (hd, q_dim, kv_dim) = (c.head_dim as usize, (c.n_heads * c.head_dim) as usize, (c.n_kv_heads * c.head_dim) as usize);
    let q_rows = if c.output_gate { 2 * q_dim } else { q_dim };
    let w: [Weight; 3] = std::array::from_fn(|s| weight(c.types[s], [q_rows, kv_dim, kv_dim][s], seed + s as u64));
    let packed = if c.q_only { pack_weights(ctx, "attn_q", &[&w[0]]) } else { pack_weights(ctx, "attn_qkv", &[&w[0], &w[1], &w[2]]) };
    let mut rng = Rng::new(seed + 10);
    let vecs = QkvVecs {
        attn_norm: rng.vec(DIM, 1.5),
        bias: c.bias.then(|| [rng.vec(q_dim, 1.0), rng.vec(kv_dim, 1.0), rng.vec(kv_dim, 1.0)]),
        qk_norm: c.qk_norm.then(|| [rng.vec(hd, 2.0), rng.vec(hd, 2.0)]),
        // As Llama 3.1 writes them: 1 for high frequencies, up to 8 for low
        // ones; Gemma 4's proportional RoPE: 1, then 1e30 (no rotation).
        factors: c.rope_factors.then(|| {
            let n = c.n_rot as usize / 2;
            if c.v_norm {
                (0..n).map(|i| if i < n / 4 { 1.0 } else { 1e30 }).collect()
            } else {
                (0..n).map(|i| 1.0 + 7.0 * (i as f32 / (n - 1) as f32).powi(2)).collect()
            }
        }),
    };
    let mut list: Vec<(&str, &[f32])> = Vec::new();
    if let Some([bq, bk, bv]) = &vecs.bias {
        list.extend([("bq", &bq[..]), ("bk", &bk[..]), ("bv", &bv[..])]);
    }
    if let Some([nq, nk]) = &vecs.qk_norm {
        list.extend([("q_norm", &nq[..]), ("k_norm", &nk[..])]);
    }
    if let Some(f) = &vecs.factors {
        list.push(("rope_freqs", &f[..]));
    }
    list.insert(if c.norm_last { list.len() } else { 0 }, ("attn_norm", &vecs.attn_norm[..]));
    let pv = pack_vectors(ctx, &list);
    let at = |name: &str| pv.offset(name).unwrap();
    let vectors = QkvVectors {
        attn_norm: at("attn_norm"),
        bias: c.bias.then(|| [at("bq"), at("bk"), at("bv")]),
        qk_norm: c.qk_norm.then(|| [at("q_norm"), at("k_norm")]),
        rope_factors: c.rope_factors.then(|| at("rope_freqs")),
    };
    assert_eq!(vectors.attn_norm != 0, c.norm_last, "{what}: attn_norm's place in the packed vectors");
    let shape = QkvShape {
        dim: DIM as u32,
        n_heads: c.n_heads,
        n_kv_heads: c.n_kv_heads,
        head_dim: c.head_dim,
        n_rot: c.n_rot,
        layout: c.layout,
        freq_base: c.freq_base,
        freq_scale: c.freq_scale,
        mscale: c.mscale,
        eps: EPS,
        v_norm: c.v_norm,
    };
    let step = step_buffer(ctx, 0, 1);
    let xb = f32_buffer(ctx, xk, &vec![0.0; MAX_BATCH * DIM]);
    let qb = buffer_f32(ctx, &vec![0.0; MAX_BATCH * q_dim]);
    // What the gate buffer should hold; starts with values no step writes.
    let mut gate = rng.vec(MAX_BATCH * q_dim, 50.0);
    let gb = buffer_f32(ctx, &gate);
    let cache_n = N_CACHE as usize * kv_dim;
    // What each cache should hold; starts with values no step writes.
    let mut cache = [cache_sentinel(ctx, cache_n, seed + 20), cache_sentinel(ctx, cache_n, seed + 21)];
    let caches = [cache_buffer(ctx, &cache[0]), cache_buffer(ctx, &cache[1])];
    let mut pend = pending.map(|scale| Pending::new(ctx, &mut rng, scale));
    // Built once and replayed for every step, as the model does.
    let fold = pend.as_ref().map(|p| p.norm(true));
    let op = kernels::attn_qkv(ctx, &step, "attn_qkv", &packed, &xb, &pv, vectors, shape, &qb, c.output_gate.then_some(&gb), &caches[0], &caches[1], N_CACHE, fold).unwrap();
    let cache_tol = if ctx.has_f16() { TOL_KV_F16 } else { TOL_ROPE };
    for (pos0, n) in STEPS {
        let x_in = rng.vec(n as usize * DIM, 3.0);
        ctx.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x_in));
        if let Some(p) = &mut pend {
            p.next_step(ctx, &mut rng, n as usize);
        }
        set_step(ctx, &step, pos0, n);
        run_step(ctx, std::slice::from_ref(&op), &Step { pos0, n_tokens: n, kv_len: pos0 + n, _pad: 0 });
        if let Some(p) = &mut pend {
            p.check_out(ctx, &format!("{what} step ({pos0}, {n})"), &x_in, n as usize);
        }
        let x = inputs(&x_in, n as usize, pend.as_ref());
        let got_q = read_f32(ctx, &qb, n as usize * q_dim);
        let got_gate = read_f32(ctx, &gb, gate.len());
        let got = [read_cache(ctx, &caches[0], cache_n), read_cache(ctx, &caches[1], cache_n)];
        let mut written = vec![false; N_CACHE as usize];
        for t in 0..n as usize {
            let pos = pos0 + t as u32;
            let here = format!("{what} step ({pos0}, {n}) token {t} pos {pos}");
            let ([q, k, v], g) = qkv_cpu(c, &w, &vecs, &x[t * DIM..][..DIM], pos);
            assert_close(&format!("{here}: q (head = index / {hd})"), &got_q[t * q_dim..][..q_dim], &to_f32(&q), TOL_ROPE);
            if c.output_gate {
                let row = &got_gate[t * q_dim..][..q_dim];
                assert_close(&format!("{here}: output gate (head = index / {hd})"), row, &to_f32(&g), TOL_MATVEC);
                gate[t * q_dim..][..q_dim].copy_from_slice(row);
            }
            if c.q_only {
                continue;
            }
            let slot = (pos % N_CACHE) as usize;
            written[slot] = true;
            for (i, (name, want, tol)) in [("k", k, cache_tol), ("v", v, if ctx.has_f16() { TOL_KV_F16 } else { TOL_MATVEC })].into_iter().enumerate() {
                let row = &got[i][slot * kv_dim..][..kv_dim];
                assert_close(&format!("{here}: {name} cache slot {slot} (head = index / {hd})"), row, &to_f32(&want), tol);
                cache[i][slot * kv_dim..][..kv_dim].copy_from_slice(row);
            }
        }
        // The gate rows past the step's tokens (all of them without a gate) keep what they held.
        if let Some(j) = (0..gate.len()).find(|&j| got_gate[j].to_bits() != gate[j].to_bits()) {
            panic!("{what} step ({pos0}, {n}): gate[{j}] was not to be written, changed from {} to {}", gate[j], got_gate[j]);
        }
        // Slots this step did not write keep what they held.
        for (i, name) in ["k", "v"].into_iter().enumerate() {
            for slot in (0..N_CACHE as usize).filter(|&s| !written[s]) {
                let (g, want) = (&got[i][slot * kv_dim..][..kv_dim], &cache[i][slot * kv_dim..][..kv_dim]);
                if let Some(j) = (0..kv_dim).find(|&j| g[j].to_bits() != want[j].to_bits()) {
                    panic!("{what} step ({pos0}, {n}): {name} cache slot {slot} was not to be written, index {j} changed from {} to {}", want[j], g[j]);
                }
            }
        }
    }
}

#[test]
fn attn_qkv_matches_cpu() {
    for ctx in matvec_contexts() {
        for (i, c) in QKV_CASES.iter().enumerate() {
            for xk in x_kinds(&ctx) {
                check_attn_qkv(&ctx, c, xk, 1000 * (i as u64 + 1), None);
            }
        }
        // The previous layer's post-norm add pending (Gemma 3 without a
        // scale; Gemma 4 with its layer output scale, full and shared-KV).
        for (i, scale) in [(2, false), (5, true), (7, true)] {
            for xk in x_kinds(&ctx) {
                check_attn_qkv(&ctx, &QKV_CASES[i], xk, 1000 * (i as u64 + 1) + 7, Some(scale));
            }
        }
        // Every variant built (decode and multi-token, head dims up to 512)
        // fits WebGPU's default workgroup memory, as the Rust side reckons.
        let most = assert_workgroup_memory_fits(&ctx, "attn_qkv.wgsl");
        assert_eq!(most, kernels::qkv_shared_bytes(512, kernels::qkv_tokens_per_group(512)), "{}", device_label(&ctx, XBuf::Storage));
    }
    assert!(kernels::qkv_tokens_per_group(512) < kernels::TOKENS_PER_GROUP && kernels::qkv_tokens_per_group(256) == kernels::TOKENS_PER_GROUP);
}

// ------------------------------------------------------------- ffn_gate_up

#[derive(Clone, Copy, Debug)]
struct GateUpCase {
    name: &'static str,
    types: [GgmlType; 2],
    /// ffn_dim: not a multiple of the rows a workgroup computes (64 with
    /// one invocation per row, 4 with 16 lanes).
    rows: usize,
    act: GateActivation,
}

const GATE_UP_CASES: [GateUpCase; 3] = [
    GateUpCase { name: "llama-like: SiLU, Q4_K", types: [GgmlType::Q4K, GgmlType::Q4K], rows: 102, act: GateActivation::SiLU },
    GateUpCase { name: "gemma-like: GELU, Q8_0", types: [GgmlType::Q8_0, GgmlType::Q8_0], rows: 70, act: GateActivation::Gelu },
    GateUpCase { name: "mixed: GELU, Q4_1 gate, Q6_K up", types: [GgmlType::Q4_1, GgmlType::Q6K], rows: 102, act: GateActivation::Gelu },
];

fn act_cpu(act: GateActivation, g: f64) -> f64 {
    match act {
        GateActivation::SiLU => g / (1.0 + (-g).exp()),
        GateActivation::Gelu => 0.5 * g * (1.0 + (0.7978845608028654 * (g + 0.044715 * g * g * g)).tanh()),
    }
}

fn check_ffn_gate_up(ctx: &GpuContext, c: &GateUpCase, xk: XBuf, seed: u64, pending: bool) {
    let what = format!("ffn_gate_up [{}] {}{}", c.name, device_label(ctx, xk), if pending { " pending post-norm" } else { "" });
    let (gate, up) = (weight(c.types[0], c.rows, seed), weight(c.types[1], c.rows, seed + 1));
    let packed = pack_weights(ctx, "ffn_gate_up", &[&gate, &up]);
    let mut rng = Rng::new(seed + 10);
    let g = rng.vec(DIM, 1.5);
    let step = step_buffer(ctx, 0, 1);
    let (xb, gb) = (f32_buffer(ctx, xk, &vec![0.0; MAX_BATCH * DIM]), f32_buffer(ctx, xk, &g));
    // What y should hold; starts with values no step writes.
    let mut y = rng.vec(MAX_BATCH * c.rows, 50.0);
    let yb = buffer_f32(ctx, &y);
    let mut pend = pending.then(|| Pending::new(ctx, &mut rng, false));
    let op = kernels::ffn_gate_up(ctx, &step, "ffn_gate_up", &packed, &xb, &gb, EPS, c.act, &yb, pend.as_ref().map(|p| p.norm(true))).unwrap();
    for (pos0, n) in STEPS {
        let x_in = rng.vec(n as usize * DIM, 3.0);
        ctx.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x_in));
        if let Some(p) = &mut pend {
            p.next_step(ctx, &mut rng, n as usize);
        }
        set_step(ctx, &step, pos0, n);
        run_step(ctx, std::slice::from_ref(&op), &Step { pos0, n_tokens: n, kv_len: pos0 + n, _pad: 0 });
        if let Some(p) = &mut pend {
            p.check_out(ctx, &format!("{what} step ({pos0}, {n})"), &x_in, n as usize);
        }
        let x = inputs(&x_in, n as usize, pend.as_ref());
        let got = read_f32(ctx, &yb, y.len());
        for t in 0..n as usize {
            let xn = norm_cpu(&x[t * DIM..][..DIM], &g, EPS);
            let want: Vec<f32> = matvec_cpu(&gate, &xn).iter().zip(matvec_cpu(&up, &xn)).map(|(&a, b)| (act_cpu(c.act, a) * b) as f32).collect();
            assert_close(&format!("{what} step ({pos0}, {n}) token {t}"), &got[t * c.rows..][..c.rows], &want, TOL_ACT);
            y[t * c.rows..][..c.rows].copy_from_slice(&got[t * c.rows..][..c.rows]);
        }
        // Rows past the step's tokens keep what they held.
        let rest = n as usize * c.rows;
        if let Some(j) = (rest..y.len()).find(|&j| got[j].to_bits() != y[j].to_bits()) {
            panic!("{what} step ({pos0}, {n}): y[{j}] (token {}) was not to be written, changed from {} to {}", j / c.rows, y[j], got[j]);
        }
    }
}

#[test]
fn ffn_gate_up_matches_cpu() {
    for ctx in matvec_contexts() {
        for (i, c) in GATE_UP_CASES.iter().enumerate() {
            for xk in x_kinds(&ctx) {
                check_ffn_gate_up(&ctx, c, xk, 5000 + 100 * i as u64, false);
            }
        }
        // Gemma's post_attention_norm add pending.
        for xk in x_kinds(&ctx) {
            check_ffn_gate_up(&ctx, &GATE_UP_CASES[1], xk, 5150, true);
        }
    }
}

// -------------------------------------------------------- norm_projections

/// Where one projection of a `norm_projections` case writes.
#[derive(Clone, Copy, Debug)]
struct ProjOut {
    /// Which of the case's output buffers.
    buffer: usize,
    offset: usize,
    stride: usize,
}

#[derive(Clone, Copy, Debug)]
struct ProjectionsCase {
    name: &'static str,
    /// (format, rows) of each projection, packed in this order.
    weights: &'static [(GgmlType, usize)],
    outs: &'static [ProjOut],
    /// Elements per token of each output buffer.
    widths: &'static [usize],
}

/// Rows not multiples of what a workgroup computes at once (64 with one
/// invocation per row, 4 with 16 lanes).
const PROJECTIONS_CASES: [ProjectionsCase; 2] = [
    ProjectionsCase {
        name: "qwen3.5-like DeltaNet input: Q4_K q|k|v, Q6_K z, F32 alpha and Q8_0 beta side by side",
        weights: &[(GgmlType::Q4K, 100), (GgmlType::Q6K, 70), (GgmlType::F32, 5), (GgmlType::Q8_0, 5)],
        outs: &[
            ProjOut { buffer: 0, offset: 0, stride: 100 },
            ProjOut { buffer: 1, offset: 0, stride: 70 },
            ProjOut { buffer: 2, offset: 0, stride: 10 },
            ProjOut { buffer: 2, offset: 5, stride: 10 },
        ],
        widths: &[100, 70, 10],
    },
    ProjectionsCase {
        name: "two projections into one buffer, with gaps: Q4_0 at 3, Q5_1 at 45 of 72",
        weights: &[(GgmlType::Q4_0, 40), (GgmlType::Q5_1, 24)],
        outs: &[ProjOut { buffer: 0, offset: 3, stride: 72 }, ProjOut { buffer: 0, offset: 45, stride: 72 }],
        widths: &[72],
    },
];

fn check_norm_projections(ctx: &GpuContext, c: &ProjectionsCase, xk: XBuf, seed: u64) {
    let what = format!("norm_projections [{}] {}", c.name, device_label(ctx, xk));
    let ws: Vec<Weight> = c.weights.iter().enumerate().map(|(i, &(ty, rows))| weight(ty, rows, seed + i as u64)).collect();
    let packed = pack_weights(ctx, "projections", &ws.iter().collect::<Vec<_>>());
    let mut rng = Rng::new(seed + 10);
    let g = rng.vec(DIM, 1.5);
    let step = step_buffer(ctx, 0, 1);
    let (xb, gb) = (f32_buffer(ctx, xk, &vec![0.0; MAX_BATCH * DIM]), f32_buffer(ctx, xk, &g));
    // What each output should hold; starts with values no step writes.
    let mut ys: Vec<Vec<f32>> = c.widths.iter().map(|w| rng.vec(MAX_BATCH * w, 50.0)).collect();
    let ybs: Vec<wgpu::Buffer> = ys.iter().map(|y| buffer_f32(ctx, y)).collect();
    let rows: Vec<Rows> = c.outs.iter().map(|o| Rows { buffer: &ybs[o.buffer], offset: o.offset as u32, stride: o.stride as u32 }).collect();
    let op = kernels::norm_projections(ctx, &step, "projections", &packed, &xb, &gb, EPS, &rows).unwrap();
    for (pos0, n) in STEPS {
        let x = rng.vec(n as usize * DIM, 3.0);
        ctx.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
        set_step(ctx, &step, pos0, n);
        run_step(ctx, std::slice::from_ref(&op), &Step { pos0, n_tokens: n, kv_len: pos0 + n, _pad: 0 });
        let got: Vec<Vec<f32>> = ybs.iter().zip(&ys).map(|(b, y)| read_f32(ctx, b, y.len())).collect();
        for t in 0..n as usize {
            let xn = norm_cpu(&x[t * DIM..][..DIM], &g, EPS);
            for (s, (w, o)) in ws.iter().zip(c.outs).enumerate() {
                let at = o.offset + t * o.stride;
                let row = &got[o.buffer][at..][..w.rows];
                assert_close(&format!("{what} step ({pos0}, {n}) token {t} projection {s}"), row, &to_f32(&matvec_cpu(w, &xn)), TOL_MATVEC);
                ys[o.buffer][at..][..w.rows].copy_from_slice(row);
            }
        }
        // Everything else (gaps, rows past the step's tokens) keeps what it held.
        for (b, (got, want)) in got.iter().zip(&ys).enumerate() {
            if let Some(j) = (0..want.len()).find(|&j| got[j].to_bits() != want[j].to_bits()) {
                panic!("{what} step ({pos0}, {n}): output {b}[{j}] was not to be written, changed from {} to {}", want[j], got[j]);
            }
        }
    }
}

#[test]
fn norm_projections_matches_cpu() {
    for ctx in matvec_contexts() {
        for (i, c) in PROJECTIONS_CASES.iter().enumerate() {
            for xk in x_kinds(&ctx) {
                check_norm_projections(&ctx, c, xk, 7000 + 100 * i as u64);
            }
        }
    }
}

#[test]
fn norm_projections_refuses_what_it_cannot_place() {
    let ctx = GpuContext::new_blocking(&Default::default()).expect("GPU adapter");
    let ws = [weight(GgmlType::Q8_0, 8, 1), weight(GgmlType::Q8_0, 8, 2)];
    let packed = pack_weights(&ctx, "projections", &[&ws[0], &ws[1]]);
    let step = step_buffer(&ctx, 0, 1);
    let (xb, gb) = (buffer_f32(&ctx, &vec![0.0; DIM]), buffer_f32(&ctx, &vec![1.0; DIM]));
    let y = buffer_f32(&ctx, &vec![0.0; MAX_BATCH * 16]);
    let run = |rows: &[Rows]| kernels::norm_projections(&ctx, &step, "projections", &packed, &xb, &gb, EPS, rows);
    assert!(run(&[Rows { buffer: &y, offset: 0, stride: 16 }, Rows { buffer: &y, offset: 8, stride: 16 }]).is_ok());
    // One output for two projections; a row past its stride.
    assert!(run(&[Rows { buffer: &y, offset: 0, stride: 16 }]).is_err());
    assert!(run(&[Rows { buffer: &y, offset: 0, stride: 16 }, Rows { buffer: &y, offset: 9, stride: 16 }]).is_err());
}

// ------------------------------------------------- the head after a post-norm

/// The output head over a stream with Gemma 4's last post-norm add (and
/// layer output scale) pending: logits = cap · tanh(W (rmsnorm(x') · g) / cap)
/// for the step's last token; x' is not written back.
fn check_head_pending(ctx: &GpuContext, ty: GgmlType, xk: XBuf, seed: u64) {
    let what = format!("head {ty} pending post-norm {}", device_label(ctx, xk));
    const ROWS: usize = 70;
    let (t, wv) = loose_tensor(ctx, "output", ty, ROWS, DIM, seed);
    let mut rng = Rng::new(seed + 10);
    let g = rng.vec(DIM, 1.5);
    let cap = 3.0;
    let step = step_buffer(ctx, 0, 1);
    let (xb, gb, yb) = (f32_buffer(ctx, xk, &vec![0.0; MAX_BATCH * DIM]), f32_buffer(ctx, xk, &g), buffer_f32(ctx, &vec![0.0; ROWS]));
    let mut pend = Pending::new(ctx, &mut rng, true);
    let fold = MatvecFold { norm: Some((&gb, EPS)), softcap: Some(cap), pending: Some(pend.norm(false)) };
    let ops = kernels::matvec_folded(ctx, &step, "output", &t, &xb, DIM as u64, &yb, ROWS as u64, MatvecOut::LastToken, fold).unwrap();
    for (pos0, n) in STEPS {
        let x = rng.vec(n as usize * DIM, 3.0);
        ctx.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
        pend.next_step(ctx, &mut rng, n as usize);
        set_step(ctx, &step, pos0, n);
        run_step(ctx, &ops, &Step { pos0, n_tokens: n, kv_len: pos0 + n, _pad: 0 });
        let last = n as usize - 1;
        let xn = norm_cpu(&pend.apply(&x[last * DIM..][..DIM], last), &g, EPS);
        let logit = |row: &[f32]| row.iter().zip(&xn).map(|(&w, x)| w as f64 * x).sum::<f64>();
        let want: Vec<f32> = wv.chunks_exact(DIM).map(|row| (cap as f64 * (logit(row) / cap as f64).tanh()) as f32).collect();
        assert_close(&format!("{what} step ({pos0}, {n})"), &read_f32(ctx, &yb, ROWS), &want, TOL_ACT);
    }
    // Nothing written back: out keeps what it held.
    pend.check_out(ctx, &what, &[], 0);
}

#[test]
fn head_with_a_pending_post_norm_matches_cpu() {
    for ctx in matvec_contexts() {
        for (i, ty) in [GgmlType::Q6K, GgmlType::Q8_0].into_iter().enumerate() {
            for xk in x_kinds(&ctx) {
                check_head_pending(&ctx, ty, xk, 9000 + 100 * i as u64);
            }
        }
    }
}

// ------------------------------------------------------------------ per_layer

#[derive(Clone, Copy, Debug)]
struct PerLayerCase {
    name: &'static str,
    /// W_gate (P x DIM), W_proj (DIM x P).
    types: [GgmlType; 2],
    /// P.
    width: usize,
    /// The FFN's post-norm add pending on the input: None, or with Gemma 4's scale or not.
    pending: Option<bool>,
}

/// P = 64 (the tiny Gemma 4's) and 256 (Gemma 4 E2B's); K-quant rows need
/// 256 columns, so the 64-wide projection is Q8_0, as llama.cpp falls back.
const PER_LAYER_CASES: [PerLayerCase; 3] = [
    PerLayerCase { name: "tiny-gemma4-like: Q4_K gate, Q8_0 proj, P 64, pending post-norm", types: [GgmlType::Q4K, GgmlType::Q8_0], width: 64, pending: Some(false) },
    PerLayerCase { name: "e2b-like: Q4_K gate, Q6_K proj, P 256, pending post-norm and scale", types: [GgmlType::Q4K, GgmlType::Q6K], width: 256, pending: Some(true) },
    PerLayerCase { name: "plain: Q8_0 both, P 96, nothing pending", types: [GgmlType::Q8_0, GgmlType::Q8_0], width: 96, pending: None },
];

/// Layers of per-layer inputs in each token's row of `up`; the block reads layer 1's.
const PER_LAYER_LAYERS: usize = 3;

fn check_per_layer(ctx: &GpuContext, c: &PerLayerCase, xk: XBuf, seed: u64) {
    let what = format!("per_layer [{}] {}", c.name, device_label(ctx, xk));
    let p = c.width;
    let (gate, gate_v) = loose_tensor(ctx, "inp_gate", c.types[0], p, DIM, seed);
    let (proj, proj_v) = loose_tensor(ctx, "proj", c.types[1], DIM, p, seed + 1);
    let mut rng = Rng::new(seed + 10);
    let step = step_buffer(ctx, 0, 1);
    let xb = f32_buffer(ctx, xk, &vec![0.0; MAX_BATCH * DIM]);
    let up_stride = PER_LAYER_LAYERS * p;
    let upb = buffer_f32(ctx, &vec![0.0; MAX_BATCH * up_stride]);
    // What y should hold; starts with values no step writes.
    let mut y = rng.vec(MAX_BATCH * DIM, 50.0);
    let yb = buffer_f32(ctx, &y);
    let mut pend = c.pending.map(|scale| Pending::new(ctx, &mut rng, scale));
    let up = Rows { buffer: &upb, offset: p as u32, stride: up_stride as u32 };
    let op = kernels::per_layer(ctx, &step, "per_layer", &gate, &proj, &xb, up, &yb, DIM as u64, pend.as_ref().map(|pn| pn.norm(true))).unwrap();
    for (pos0, n) in STEPS {
        let nt = n as usize;
        let x_in = rng.vec(nt * DIM, 3.0);
        let ups = rng.vec(nt * up_stride, 2.0);
        ctx.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x_in));
        ctx.queue.write_buffer(&upb, 0, bytemuck::cast_slice(&ups));
        if let Some(pn) = &mut pend {
            pn.next_step(ctx, &mut rng, nt);
        }
        set_step(ctx, &step, pos0, n);
        run_step(ctx, std::slice::from_ref(&op), &Step { pos0, n_tokens: n, kv_len: pos0 + n, _pad: 0 });
        if let Some(pn) = &mut pend {
            pn.check_out(ctx, &format!("{what} step ({pos0}, {n})"), &x_in, nt);
        }
        let x = inputs(&x_in, nt, pend.as_ref());
        let got = read_f32(ctx, &yb, y.len());
        for t in 0..nt {
            let xt = &x[t * DIM..][..DIM];
            let a: Vec<f64> = gate_v.chunks_exact(DIM).enumerate().map(|(r, row)| act_cpu(GateActivation::Gelu, row.iter().zip(xt).map(|(&w, &x)| w as f64 * x as f64).sum()) * ups[t * up_stride + p + r] as f64).collect();
            let want: Vec<f32> = proj_v.chunks_exact(p).map(|row| row.iter().zip(&a).map(|(&w, a)| w as f64 * a).sum::<f64>() as f32).collect();
            assert_close(&format!("{what} step ({pos0}, {n}) token {t}"), &got[t * DIM..][..DIM], &want, TOL_ACT);
            y[t * DIM..][..DIM].copy_from_slice(&got[t * DIM..][..DIM]);
        }
        if let Some(j) = (nt * DIM..y.len()).find(|&j| got[j].to_bits() != y[j].to_bits()) {
            panic!("{what} step ({pos0}, {n}): y[{j}] (token {}) was not to be written, changed from {} to {}", j / DIM, y[j], got[j]);
        }
    }
}

#[test]
fn per_layer_matches_cpu() {
    for ctx in matvec_contexts() {
        for (i, c) in PER_LAYER_CASES.iter().enumerate() {
            for xk in x_kinds(&ctx) {
                check_per_layer(&ctx, c, xk, 11000 + 100 * i as u64);
            }
        }
        // Every variant built fits WebGPU's default workgroup memory.
        assert!(assert_workgroup_memory_fits(&ctx, "per_layer.wgsl") <= kernels::PER_LAYER_SHARED_BYTES);
    }
}

/// What the fold cannot take is refused by name, not run: x' into x or xb
/// (a workgroup would read what another writes), a weight that is not a
/// uniform buffer, two epsilons, a pending add beside an output gate (its
/// bindings would pass WebGPU's 8 storage buffers), a block writing the
/// pending add's input.
#[test]
fn pending_post_norm_refuses_what_it_cannot_fold() {
    let ctx = GpuContext::new_blocking(&Default::default()).expect("GPU adapter");
    let mut rng = Rng::new(1);
    let step = step_buffer(&ctx, 0, 1);
    let x = buffer_f32(&ctx, &vec![0.0; MAX_BATCH * DIM]);
    let y = buffer_f32(&ctx, &vec![0.0; MAX_BATCH * 128]);
    let pend = Pending::new(&ctx, &mut rng, true);
    let ws = [weight(GgmlType::Q8_0, 64, 1), weight(GgmlType::Q8_0, 64, 2)];
    let packed = pack_weights(&ctx, "ffn_gate_up", &[&ws[0], &ws[1]]);
    let g = buffer_f32(&ctx, &vec![1.0; DIM]);
    let gate_up = |pn: PendingNorm<'_>, eps: f32| kernels::ffn_gate_up(&ctx, &step, "ffn_gate_up", &packed, &x, &g, eps, GateActivation::Gelu, &y, Some(pn));
    assert!(gate_up(pend.norm(true), EPS).is_ok());
    assert!(gate_up(PendingNorm { out: Some(&x), ..pend.norm(true) }, EPS).is_err(), "x' into x");
    assert!(gate_up(PendingNorm { out: Some(&pend.xb_buf), ..pend.norm(true) }, EPS).is_err(), "x' into xb");
    assert!(gate_up(PendingNorm { xb: &x, ..pend.norm(true) }, EPS).is_err(), "xb is x");
    let storage_norm = buffer_bytes(&ctx, bytemuck::cast_slice(&vec![1.0f32; DIM]));
    assert!(gate_up(PendingNorm { norm: &storage_norm, ..pend.norm(true) }, EPS).is_err(), "a weight without uniform usage");
    assert!(gate_up(pend.norm(true), 2.0 * EPS).is_err(), "two epsilons");
    // The per-layer block writing the buffer its pending add reads.
    let (gate, _) = loose_tensor(&ctx, "inp_gate", GgmlType::Q8_0, 64, DIM, 3);
    let (proj, _) = loose_tensor(&ctx, "proj", GgmlType::Q8_0, DIM, 64, 4);
    let upb = buffer_f32(&ctx, &vec![0.0; MAX_BATCH * 64]);
    let up = Rows::dense(&upb, 64);
    let out = buffer_f32(&ctx, &vec![0.0; MAX_BATCH * DIM]);
    assert!(kernels::per_layer(&ctx, &step, "per_layer", &gate, &proj, &x, up, &out, DIM as u64, Some(pend.norm(true))).is_ok());
    assert!(kernels::per_layer(&ctx, &step, "per_layer", &gate, &proj, &x, up, &pend.xb_buf, DIM as u64, Some(pend.norm(true))).is_err(), "y is xb");
    // attn_qkv with an output gate.
    let hd = 64;
    let wq = weight(GgmlType::Q8_0, 2 * 2 * hd, 5);
    let wkv = weight(GgmlType::Q8_0, hd, 6);
    let packed = pack_weights(&ctx, "attn_qkv", &[&wq, &wkv, &wkv]);
    let pv = pack_vectors(&ctx, &[("attn_norm", &vec![1.0; DIM][..])]);
    let shape = QkvShape { dim: DIM as u32, n_heads: 2, n_kv_heads: 1, head_dim: hd as u32, n_rot: hd as u32, layout: RopeLayout::Neox, freq_base: 10000.0, freq_scale: 1.0, mscale: 1.0, eps: EPS, v_norm: false };
    let (q, gb) = (buffer_f32(&ctx, &vec![0.0; MAX_BATCH * 2 * hd]), buffer_f32(&ctx, &vec![0.0; MAX_BATCH * 2 * hd]));
    let caches = [cache_buffer(&ctx, &vec![0.0; N_CACHE as usize * hd]), cache_buffer(&ctx, &vec![0.0; N_CACHE as usize * hd])];
    let qkv = |pn: Option<PendingNorm<'_>>| kernels::attn_qkv(&ctx, &step, "attn_qkv", &packed, &x, &pv, QkvVectors::default(), shape, &q, Some(&gb), &caches[0], &caches[1], N_CACHE, pn);
    assert!(qkv(None).is_ok());
    assert!(qkv(Some(pend.norm(true))).is_err(), "a pending add with an output gate");
}
