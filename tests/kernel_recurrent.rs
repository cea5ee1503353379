//! The recurrent blocks' kernels and their CPU twins against an f64
//! reference written here from the definitions (llama.cpp's ggml_ssm_conv,
//! ggml_gated_delta_net, build_gdn_l2_norm, build_norm_gated), on seeded
//! random inputs:
//!
//! - `kernels::ssm_conv` / `cpu::recurrent::ssm_conv`: LFM2's gated short
//!   conv (input [b | c | x], 3 taps) and Qwen3.5's conv + silu (4 taps).
//! - `kernels::gated_delta_net` / `cpu::recurrent::gated_delta_net`: the
//!   gated delta rule, alone and with the gated RMSNorm folded in, with as
//!   many key heads as value heads and fewer (GQA-like), head dims 32, 64,
//!   128 (and head_k_dim != head_v_dim).
//!
//! Each case chains steps of [`STEPS`] tokens on one state, from zeros (on
//! the GPU the state buffer starts full of 1e3, what an earlier sequence
//! left: the kernels take a step at position 0 as a fresh state), and
//! compares every step's output and the final state with the reference run
//! token by token: a state not carried over, a step shorter than the conv's
//! window (1 and 2 tokens against 3 rows of state), a wrong tap order or key
//! head mapping each fail here. Inputs are read at an offset inside wider
//! rows, as when a projection's output is packed beside another's. GPU cases
//! run on both precision paths (`common::contexts`); the kernels have no
//! other variant.

mod common;
use common::*;
use tabllm::cpu::recurrent::{self, DeltaNetInputs, HostGatedNorm, HostRows};
use tabllm::gpu::{GpuContext, Step};
use tabllm::kernels::{self, ConvGating, ConvShape, DeltaNetGates, DeltaNetParams, DeltaNetShape, GatedNorm, Rows};

/// Steps chained on one state: steps of 1 and 2 tokens are shorter than the
/// conv's state (2 or 3 rows), from a zero state and, after a prefill-like
/// 17, from a full one (decode); 38 tokens are more than head_v_dim 32, so
/// the gated norm's invocations each take several tokens.
const STEPS: [usize; 7] = [1, 2, 3, 17, 1, 1, 38];
const TOTAL: usize = 63;
const MAX_STEP: usize = 38;

/// The conv: at most 4 f32 products of values up to 4 summed, then silu's
/// exp or the c gate (lavapipe f32 and f16 paths and the CPU: 3.2e-7 worst
/// on the outputs; the state is copied inputs, exact).
const TOL_CONV: f32 = 2e-6;
/// The delta rule over 63 tokens: f32 dots of up to 128 products per row,
/// the exp/softplus/sigmoid gates, the GPU's inverseSqrt. The raw outputs
/// are small (|o| ~ 1e-2: q is scaled by 1/sqrt(head_k_dim)), so the
/// tolerance, relative to 1 + |want|, is in effect absolute (lavapipe: 2.1e-8
/// worst on outputs, 5.4e-8 on the state; the CPU 1.5e-8 and 5.3e-8).
const TOL_DELTA_NET: f32 = 5e-7;
/// The delta rule then the gated RMSNorm, outputs of order 1: the small raw
/// outputs' errors grow by 1/rms (lavapipe: 4.2e-6 worst, the CPU 2.1e-6).
const TOL_DELTA_NET_NORMED: f32 = 2e-5;
/// Epsilon of the q/k L2 norms and the gated RMSNorm (Qwen3.5's RMS epsilon).
const EPS: f32 = 1e-6;

// ---------------------------------------------------------------------------
// f64 reference, token by token from a zero state.

fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

/// The conv's input row u for one token's input row.
fn conv_u(row: &[f32], s: &ConvShape) -> Vec<f64> {
    let c = s.channels as usize;
    match s.gating {
        ConvGating::ShortConv => (0..c).map(|i| row[i] as f64 * row[2 * c + i] as f64).collect(),
        ConvGating::Silu => row[..c].iter().map(|&v| v as f64).collect(),
    }
}

/// Outputs (TOTAL, C) and the final state (L − 1, C) of the conv over
/// `rows` (one input row per token): u_ext = [L − 1 zero rows; u],
/// y[t, c] = Σ_j w[c, j] · u_ext[t + j, c].
fn conv_reference(rows: &[Vec<f32>], w: &[f32], s: &ConvShape) -> (Vec<f64>, Vec<f64>) {
    let (c, taps) = (s.channels as usize, s.taps as usize);
    let mut u_ext: Vec<Vec<f64>> = vec![vec![0.0; c]; taps - 1];
    let mut out = Vec::new();
    for row in rows {
        u_ext.push(conv_u(row, s));
        let window = &u_ext[u_ext.len() - taps..];
        for ch in 0..c {
            let y: f64 = (0..taps).map(|j| w[ch * taps + j] as f64 * window[j][ch]).sum();
            out.push(match s.gating {
                ConvGating::ShortConv => row[c + ch] as f64 * y,
                ConvGating::Silu => silu(y),
            });
        }
    }
    let state = u_ext[u_ext.len() - (taps - 1)..].concat();
    (out, state)
}

/// The per-token inputs of the delta rule, as separate f32 arrays.
struct DeltaInputs {
    /// (TOTAL, qkv_width): [q | k | v].
    qkv: Vec<Vec<f32>>,
    /// (TOTAL, n_v) each.
    alpha: Vec<Vec<f32>>,
    beta: Vec<Vec<f32>>,
    /// (TOTAL, n_v · head_v_dim).
    z: Vec<Vec<f32>>,
    /// (n_v) each; ssm_a = −exp(A_log).
    dt_bias: Vec<f32>,
    ssm_a: Vec<f32>,
    /// (head_v_dim).
    norm_w: Vec<f32>,
}

fn l2_normed(x: &[f32], eps: f64) -> Vec<f64> {
    let ss: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
    x.iter().map(|&v| v as f64 / (ss + eps).sqrt()).collect()
}

/// Outputs (TOTAL, n_v · head_v_dim) and the final state (n_v, head_v_dim,
/// head_k_dim) of the gated delta rule from a zero state, straight from the
/// definitions: value head h reads key head h mod n_k (ggml_repeat_4d tiles).
fn delta_reference(x: &DeltaInputs, s: &DeltaNetShape, normed: bool) -> (Vec<f64>, Vec<f64>) {
    let (n_k, n_v, hk, hv) = (s.n_k_heads as usize, s.n_v_heads as usize, s.head_k_dim as usize, s.head_v_dim as usize);
    let eps = EPS as f64;
    // state[h][j][i] = S_h[j, i]: value row j, key column i.
    let mut state = vec![vec![vec![0.0f64; hk]; hv]; n_v];
    let mut out = Vec::new();
    for t in 0..x.qkv.len() {
        let row = &x.qkv[t];
        let mut o_t = Vec::new();
        for (h, sh) in state.iter_mut().enumerate() {
            let kh = h % n_k;
            let q: Vec<f64> = l2_normed(&row[kh * hk..][..hk], eps).iter().map(|v| v / (hk as f64).sqrt()).collect();
            let k = l2_normed(&row[(n_k + kh) * hk..][..hk], eps);
            let v = &row[2 * n_k * hk + h * hv..][..hv];
            let a = x.alpha[t][h] as f64 + x.dt_bias[h] as f64;
            let softplus = if a > 20.0 { a } else { (1.0 + a.exp()).ln() };
            let g = (softplus * x.ssm_a[h] as f64).exp();
            let beta = 1.0 / (1.0 + (-(x.beta[t][h] as f64)).exp());
            sh.iter_mut().flatten().for_each(|e| *e *= g);
            let sk: Vec<f64> = sh.iter().map(|r| r.iter().zip(&k).map(|(a, b)| a * b).sum()).collect();
            for j in 0..hv {
                let d = beta * (v[j] as f64 - sk[j]);
                sh[j].iter_mut().zip(&k).for_each(|(e, ki)| *e += d * ki);
            }
            let mut o: Vec<f64> = sh.iter().map(|r| r.iter().zip(&q).map(|(a, b)| a * b).sum()).collect();
            if normed {
                let ms = o.iter().map(|v| v * v).sum::<f64>() / hv as f64;
                let inv = 1.0 / (ms + eps).sqrt();
                let z = &x.z[t][h * hv..][..hv];
                o.iter_mut().enumerate().for_each(|(j, v)| *v = *v * inv * x.norm_w[j] as f64 * silu(z[j] as f64));
            }
            o_t.extend(o);
        }
        out.extend(o_t);
    }
    (out, state.into_iter().flatten().flatten().collect())
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Rows of `width` placed at `offset` inside rows of `stride`, the padding
/// filled with values a kernel must not read (NaN would poison any sum).
fn packed(rows: &[Vec<f32>], offset: usize, stride: usize) -> Vec<f32> {
    let mut v = vec![f32::NAN; rows.len() * stride];
    for (t, r) in rows.iter().enumerate() {
        v[t * stride + offset..][..r.len()].copy_from_slice(r);
    }
    v
}

/// Runs `per_step(t0, n)` for each step of [`STEPS`] and checks its output
/// against `want` rows t0..t0+n of `width`.
fn chain_steps(what: &str, width: usize, want: &[f64], tol: f32, mut per_step: impl FnMut(usize, usize) -> Vec<f32>) {
    let mut t0 = 0;
    for n in STEPS {
        let got = per_step(t0, n);
        assert_close(&format!("{what}, step of {n} at token {t0}"), &got, &f32s(&want[t0 * width..(t0 + n) * width]), tol);
        t0 += n;
    }
    assert_eq!(t0, TOTAL);
}

// ---------------------------------------------------------------------------
// Conv

/// (shape, offset, stride) of the input rows: LFM2's [b | c | x] dense, as
/// its in_proj writes it; Qwen3.5's qkv inside a wider row (packed beside z).
fn conv_cases() -> Vec<(ConvShape, usize, usize)> {
    vec![
        (ConvShape { channels: 300, taps: 3, gating: ConvGating::ShortConv }, 0, 900),
        (ConvShape { channels: 256, taps: 4, gating: ConvGating::Silu }, 7, 256 + 20),
        (ConvShape { channels: 70, taps: 4, gating: ConvGating::ShortConv }, 3, 3 * 70 + 5),
    ]
}

struct ConvCase {
    /// (TOTAL) input rows of input_width.
    rows: Vec<Vec<f32>>,
    /// (C, L).
    w: Vec<f32>,
    want: Vec<f64>,
    want_state: Vec<f64>,
}

fn conv_case(seed: u64, s: ConvShape) -> ConvCase {
    let mut rng = Rng::new(seed);
    let rows: Vec<Vec<f32>> = (0..TOTAL).map(|_| rng.vec(s.input_width() as usize, 2.0)).collect();
    let w = rng.vec((s.channels * s.taps) as usize, 1.0);
    let (want, want_state) = conv_reference(&rows, &w, &s);
    ConvCase { rows, w, want, want_state }
}

#[test]
fn ssm_conv_gpu_matches_reference() {
    for ctx in contexts() {
        for (i, (s, offset, stride)) in conv_cases().into_iter().enumerate() {
            let case = conv_case(100 + i as u64, s);
            let what = format!("ssm_conv {s:?} {}", label(&ctx));
            let c = s.channels as usize;
            let input = packed(&case.rows, offset, stride);
            let step = step_buffer(&ctx, 0, 1);
            let in_buf = buffer_f32(&ctx, &vec![0.0; MAX_STEP * stride]);
            let w = buffer_f32(&ctx, &case.w);
            let state = buffer_f32(&ctx, &vec![1.0e3; s.state_len() as usize]);
            let out = buffer_f32(&ctx, &vec![0.0; MAX_STEP * c]);
            let rows = Rows { buffer: &in_buf, offset: offset as u32, stride: stride as u32 };
            let op = kernels::ssm_conv(&ctx, &step, "conv", rows, &w, &state, &out, s).unwrap();
            chain_steps(&what, c, &case.want, TOL_CONV, |t0, n| {
                run_gpu_step(&ctx, &step, &[&op], &in_buf, &input[t0 * stride..(t0 + n) * stride], t0, n);
                read_f32(&ctx, &out, n * c)
            });
            assert_close(&format!("{what}: final state"), &read_f32(&ctx, &state, s.state_len() as usize), &f32s(&case.want_state), TOL_CONV);
        }
    }
}

#[test]
fn ssm_conv_cpu_matches_reference() {
    for (i, (s, offset, stride)) in conv_cases().into_iter().enumerate() {
        let case = conv_case(100 + i as u64, s);
        let c = s.channels as usize;
        let input = packed(&case.rows, offset, stride);
        let mut state = vec![0.0; s.state_len() as usize];
        let mut out = vec![0.0; MAX_STEP * c];
        chain_steps(&format!("cpu ssm_conv {s:?}"), c, &case.want, TOL_CONV, |t0, n| {
            let rows = HostRows { data: &input[t0 * stride..(t0 + n) * stride], offset, stride };
            recurrent::ssm_conv(rows, &case.w, &mut state, &mut out, n, &s).unwrap();
            out[..n * c].to_vec()
        });
        assert_close(&format!("cpu ssm_conv {s:?}: final state"), &state, &f32s(&case.want_state), TOL_CONV);
    }
}

/// Writes a step's packed input rows, sets the step uniform and runs `ops`.
fn run_gpu_step(ctx: &GpuContext, step: &wgpu::Buffer, ops: &[&tabllm::gpu::Op], input: &wgpu::Buffer, rows: &[f32], t0: usize, n: usize) {
    ctx.queue.write_buffer(input, 0, bytemuck::cast_slice(rows));
    set_step(ctx, step, t0 as u32, n as u32);
    let s = Step { pos0: t0 as u32, n_tokens: n as u32, kv_len: (t0 + n) as u32, _pad: 0 };
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        for op in ops {
            op.encode(&mut pass, &s);
        }
    }
    ctx.queue.submit([enc.finish()]);
    ctx.check().expect("GPU error");
}

// ---------------------------------------------------------------------------
// Gated delta rule

/// (n_k_heads, n_v_heads, head_k_dim, head_v_dim).
const DELTA_SHAPES: [(u32, u32, u32, u32); 5] = [(2, 2, 32, 32), (2, 4, 64, 64), (1, 2, 128, 128), (2, 6, 128, 128), (2, 4, 64, 32)];

/// Where each input sits in its packed rows: qkv after 4 f32 of another
/// output, [beta | alpha] packed together in rows of 2·n_v + 3, z after 5.
/// Tokens whose q and k are scaled down by 1e-3: in the first step, a short step, a decode step after the prefill, the long step.
const TINY_QK: [usize; 4] = [0, 4, 23, 30];
const QKV_OFFSET: usize = 4;
const Z_OFFSET: usize = 5;

struct DeltaCase {
    s: DeltaNetShape,
    x: DeltaInputs,
    qkv_stride: usize,
    gate_stride: usize,
    alpha_offset: usize,
    z_stride: usize,
    /// Packed rows (TOTAL, stride) of qkv, gates ([beta | alpha]) and z.
    qkv: Vec<f32>,
    gates: Vec<f32>,
    z: Vec<f32>,
}

fn delta_case(seed: u64, (n_k, n_v, hk, hv): (u32, u32, u32, u32)) -> DeltaCase {
    let s = DeltaNetShape { n_k_heads: n_k, n_v_heads: n_v, head_k_dim: hk, head_v_dim: hv, eps: EPS };
    let mut rng = Rng::new(seed);
    let n_v = n_v as usize;
    let width = s.out_width() as usize;
    // Tokens TINY_QK have q and k of norm ~3e-3, where eps (1e-6) moves the
    // L2 norm by a few percent: x / sqrt(|x|² + eps) and x / max(|x|, eps) differ.
    let qk = 2 * (n_k * hk) as usize;
    let x = DeltaInputs {
        qkv: (0..TOTAL)
            .map(|t| {
                let mut row = rng.vec(s.qkv_width() as usize, 1.0);
                if TINY_QK.contains(&t) {
                    row[..qk].iter_mut().for_each(|v| *v *= 1e-3);
                }
                row
            })
            .collect(),
        alpha: (0..TOTAL).map(|_| rng.vec(n_v, 2.0)).collect(),
        beta: (0..TOTAL).map(|_| rng.vec(n_v, 3.0)).collect(),
        z: (0..TOTAL).map(|_| rng.vec(width, 2.0)).collect(),
        dt_bias: rng.vec(n_v, 1.0),
        ssm_a: rng.vec(n_v, 1.0).iter().map(|a_log| -a_log.exp()).collect(),
        norm_w: rng.vec(hv as usize, 1.0).iter().map(|w| 1.0 + 0.5 * w).collect(),
    };
    let qkv_stride = QKV_OFFSET + s.qkv_width() as usize + 3;
    let (gate_stride, alpha_offset) = (2 * n_v + 3, n_v + 1);
    let z_stride = Z_OFFSET + width;
    let gate_rows: Vec<Vec<f32>> = (0..TOTAL).map(|t| [x.beta[t].clone(), vec![f32::NAN], x.alpha[t].clone()].concat()).collect();
    DeltaCase {
        qkv: packed(&x.qkv, QKV_OFFSET, qkv_stride),
        gates: packed(&gate_rows, 0, gate_stride),
        z: packed(&x.z, Z_OFFSET, z_stride),
        s,
        x,
        qkv_stride,
        gate_stride,
        alpha_offset,
        z_stride,
    }
}

#[test]
fn gated_delta_net_gpu_matches_reference() {
    for ctx in contexts() {
        for (i, shape) in DELTA_SHAPES.into_iter().enumerate() {
            let c = delta_case(200 + i as u64, shape);
            let s = c.s;
            for normed in [false, true] {
                let (want, want_state) = delta_reference(&c.x, &s, normed);
                let what = format!("gated_delta_net {s:?} normed {normed} {}", label(&ctx));
                let width = s.out_width() as usize;
                let step = step_buffer(&ctx, 0, 1);
                let qkv = buffer_f32(&ctx, &vec![0.0; MAX_STEP * c.qkv_stride]);
                let gates = buffer_f32(&ctx, &vec![0.0; MAX_STEP * c.gate_stride]);
                let z = buffer_f32(&ctx, &vec![0.0; MAX_STEP * c.z_stride]);
                let (dt_bias, ssm_a, norm_w) = (buffer_f32(&ctx, &c.x.dt_bias), buffer_f32(&ctx, &c.x.ssm_a), buffer_f32(&ctx, &c.x.norm_w));
                let state = buffer_f32(&ctx, &vec![1.0e3; s.state_len() as usize]);
                let out = buffer_f32(&ctx, &vec![0.0; MAX_STEP * width]);
                let op = kernels::gated_delta_net(
                    &ctx,
                    &step,
                    "delta_net",
                    Rows { buffer: &qkv, offset: QKV_OFFSET as u32, stride: c.qkv_stride as u32 },
                    DeltaNetGates { buffer: &gates, stride: c.gate_stride as u32, alpha_offset: c.alpha_offset as u32, beta_offset: 0 },
                    DeltaNetParams { dt_bias: &dt_bias, ssm_a: &ssm_a },
                    &state,
                    &out,
                    s,
                    normed.then_some(GatedNorm { z: Rows { buffer: &z, offset: Z_OFFSET as u32, stride: c.z_stride as u32 }, weight: &norm_w, eps: EPS }),
                )
                .unwrap();
                let tol = if normed { TOL_DELTA_NET_NORMED } else { TOL_DELTA_NET };
                chain_steps(&what, width, &want, tol, |t0, n| {
                    ctx.queue.write_buffer(&gates, 0, bytemuck::cast_slice(&c.gates[t0 * c.gate_stride..(t0 + n) * c.gate_stride]));
                    ctx.queue.write_buffer(&z, 0, bytemuck::cast_slice(&c.z[t0 * c.z_stride..(t0 + n) * c.z_stride]));
                    run_gpu_step(&ctx, &step, &[&op], &qkv, &c.qkv[t0 * c.qkv_stride..(t0 + n) * c.qkv_stride], t0, n);
                    read_f32(&ctx, &out, n * width)
                });
                assert_close(&format!("{what}: final state"), &read_f32(&ctx, &state, s.state_len() as usize), &f32s(&want_state), TOL_DELTA_NET);
            }
        }
    }
}

#[test]
fn gated_delta_net_cpu_matches_reference() {
    for (i, shape) in DELTA_SHAPES.into_iter().enumerate() {
        let c = delta_case(200 + i as u64, shape);
        let s = c.s;
        for normed in [false, true] {
            let (want, want_state) = delta_reference(&c.x, &s, normed);
            let what = format!("cpu gated_delta_net {s:?} normed {normed}");
            let width = s.out_width() as usize;
            let mut state = vec![0.0; s.state_len() as usize];
            let mut out = vec![0.0; MAX_STEP * width];
            let tol = if normed { TOL_DELTA_NET_NORMED } else { TOL_DELTA_NET };
            chain_steps(&what, width, &want, tol, |t0, n| {
                let gates = &c.gates[t0 * c.gate_stride..(t0 + n) * c.gate_stride];
                let x = DeltaNetInputs {
                    qkv: HostRows { data: &c.qkv[t0 * c.qkv_stride..(t0 + n) * c.qkv_stride], offset: QKV_OFFSET, stride: c.qkv_stride },
                    alpha: HostRows { data: gates, offset: c.alpha_offset, stride: c.gate_stride },
                    beta: HostRows { data: gates, offset: 0, stride: c.gate_stride },
                    dt_bias: &c.x.dt_bias,
                    ssm_a: &c.x.ssm_a,
                };
                let norm = HostGatedNorm { z: HostRows { data: &c.z[t0 * c.z_stride..(t0 + n) * c.z_stride], offset: Z_OFFSET, stride: c.z_stride }, weight: &c.x.norm_w, eps: EPS };
                recurrent::gated_delta_net(&x, &mut state, &mut out, n, &s, normed.then_some(&norm)).unwrap();
                out[..n * width].to_vec()
            });
            assert_close(&format!("{what}: final state"), &state, &f32s(&want_state), TOL_DELTA_NET);
        }
    }
}

/// Shapes the kernels cannot run are refused by name, not run out of bounds.
#[test]
fn recurrent_kernels_refuse_bad_shapes() {
    let ctx = &contexts()[0];
    let step = step_buffer(ctx, 0, 1);
    let buf = buffer_f32(ctx, &[0.0; 4096]);
    let conv = |s: ConvShape, rows: Rows| kernels::ssm_conv(ctx, &step, "bad conv", rows, &buf, &buf, &buf, s);
    let silu = |channels, taps| ConvShape { channels, taps, gating: ConvGating::Silu };
    assert!(conv(silu(64, 4), Rows::dense(&buf, 64)).is_ok());
    for (s, rows) in [
        (silu(64, 1), Rows::dense(&buf, 64)),
        (silu(64, kernels::MAX_CONV_TAPS + 1), Rows::dense(&buf, 64)),
        (silu(0, 4), Rows::dense(&buf, 64)),
        // The row does not fit its stride; 3C of LFM2's [b | c | x] in a C-wide row.
        (silu(64, 4), Rows { buffer: &buf, offset: 1, stride: 64 }),
        (ConvShape { channels: 64, taps: 3, gating: ConvGating::ShortConv }, Rows::dense(&buf, 64)),
        // A state of 3 × 2000 f32 in a 4096-f32 buffer.
        (silu(2000, 4), Rows::dense(&buf, 2000)),
    ] {
        let err = conv(s, rows).err().unwrap_or_else(|| panic!("{s:?} {rows:?} accepted"));
        assert!(err.to_string().contains("bad conv: bad shape"), "{err}");
    }
    let delta = |s: DeltaNetShape| {
        let w = s.qkv_width() as u32;
        kernels::gated_delta_net(ctx, &step, "bad delta", Rows::dense(&buf, w), DeltaNetGates { buffer: &buf, stride: 2 * s.n_v_heads, alpha_offset: 0, beta_offset: s.n_v_heads }, DeltaNetParams { dt_bias: &buf, ssm_a: &buf }, &buf, &buf, s, None)
    };
    let shape = |n_k, n_v, hk, hv| DeltaNetShape { n_k_heads: n_k, n_v_heads: n_v, head_k_dim: hk, head_v_dim: hv, eps: EPS };
    assert!(delta(shape(2, 4, 16, 16)).is_ok());
    for s in [shape(0, 4, 16, 16), shape(3, 4, 16, 16), shape(2, 4, 0, 16), shape(2, 4, 16, 512), shape(1, 1, 512, 8), shape(2, 4, 64, 64)] {
        let err = delta(s).err().unwrap_or_else(|| panic!("{s:?} accepted"));
        assert!(err.to_string().contains("bad delta: bad shape"), "{err}");
    }
    let mut state = vec![0.0; 4];
    let err = recurrent::ssm_conv(HostRows::dense(&[0.0; 64], 64), &[0.0; 256], &mut state, &mut [0.0; 64], 1, &silu(64, 4)).unwrap_err();
    assert!(err.to_string().contains("ssm_conv"), "{err}");
}
