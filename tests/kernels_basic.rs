//! Every non-quantized kernel against a CPU reference on seeded inputs, on the
//! f32 path and (when the adapter has shader-f16) the f16 path.

mod common;
use common::*;
use tabllm::gpu::Step;
use tabllm::kernels::{self, AttentionShape, GateActivation, RopeLayout, RopeShape, SPLIT_MIN_SPAN};

/// f32 arithmetic on both sides; only operation order differs.
const TOL_F32: f32 = 1e-5;
/// Transcendentals (sin/cos/exp/pow) on the GPU are less exact than libm.
const TOL_TRANSCENDENTAL: f32 = 2e-4;
/// The f16 path stores the KV cache in f16 (11-bit significand).
const TOL_KV_F16: f32 = 4e-3;

#[test]
fn rmsnorm_matches_cpu() {
    for ctx in contexts() {
        let (dim, rows_per_token, n_tokens) = (576u32, 3u32, 5u32);
        let mut rng = Rng::new(1);
        let x = rng.vec((dim * rows_per_token * n_tokens) as usize, 3.0);
        let w = rng.vec(dim as usize, 1.0);
        let eps = 1e-5;
        let step = step_buffer(&ctx, 0, n_tokens);
        let (xb, wb) = (buffer_f32(&ctx, &x), buffer_f32(&ctx, &w));
        let yb = buffer_f32(&ctx, &vec![0.0; x.len()]);
        let op = kernels::rmsnorm(&ctx, &step, "norm", &xb, &wb, &yb, dim, rows_per_token, eps).unwrap();
        run(&ctx, &[op], n_tokens);
        let want = rmsnorm_cpu(&x, &w, eps);
        assert_close(&format!("rmsnorm {}", label(&ctx)), &read_f32(&ctx, &yb, x.len()), &want, TOL_F32);
    }
}

/// Gemma's post-norm: the residual y gains RMSNorm(x) * w, row by row.
#[test]
fn rmsnorm_add_matches_cpu() {
    for ctx in contexts() {
        let (dim, n_tokens) = (640u32, 4u32);
        let mut rng = Rng::new(2);
        let x = rng.vec((dim * n_tokens) as usize, 3.0);
        let y0 = rng.vec(x.len(), 1.0);
        let w = rng.vec(dim as usize, 1.0);
        let eps = 1e-6;
        let step = step_buffer(&ctx, 0, n_tokens);
        let (xb, wb, yb) = (buffer_f32(&ctx, &x), buffer_f32(&ctx, &w), buffer_f32(&ctx, &y0));
        let op = kernels::rmsnorm_add(&ctx, &step, "post_norm", &xb, &wb, &yb, dim, 1, eps, 1.0).unwrap();
        run(&ctx, &[op], n_tokens);
        let want: Vec<f32> = rmsnorm_cpu(&x, &w, eps).iter().zip(&y0).map(|(n, y)| n + y).collect();
        assert_close(&format!("rmsnorm_add {}", label(&ctx)), &read_f32(&ctx, &yb, x.len()), &want, TOL_F32);
    }
}

/// Gemma 4's per-layer inputs: y gains RMSNorm(x) * w * scale over several
/// rows per token (one per layer).
#[test]
fn rmsnorm_add_rows_scaled_matches_cpu() {
    for ctx in contexts() {
        let (dim, rows_per_token, n_tokens, scale) = (64u32, 5u32, 3u32, std::f32::consts::FRAC_1_SQRT_2);
        let mut rng = Rng::new(3);
        let x = rng.vec((dim * rows_per_token * n_tokens) as usize, 3.0);
        let y0 = rng.vec(x.len(), 1.0);
        let w = rng.vec(dim as usize, 1.0);
        let eps = 2.5e-4;
        let step = step_buffer(&ctx, 0, n_tokens);
        let (xb, wb, yb) = (buffer_f32(&ctx, &x), buffer_f32(&ctx, &w), buffer_f32(&ctx, &y0));
        let op = kernels::rmsnorm_add(&ctx, &step, "per_layer_proj_norm", &xb, &wb, &yb, dim, rows_per_token, eps, scale).unwrap();
        run(&ctx, &[op], n_tokens);
        let want: Vec<f32> = rmsnorm_cpu(&x, &w, eps).iter().zip(&y0).map(|(n, y)| n * scale + y).collect();
        assert_close(&format!("rmsnorm_add rows={rows_per_token} scale {}", label(&ctx)), &read_f32(&ctx, &yb, x.len()), &want, TOL_F32);
    }
}

/// Gemma 4's V norm: RMSNorm over each head in place, without a weight.
#[test]
fn rmsnorm_in_place_without_weight_matches_cpu() {
    for ctx in contexts() {
        let (dim, rows_per_token, n_tokens) = (128u32, 2u32, 3u32);
        let mut rng = Rng::new(5);
        let x = rng.vec((dim * rows_per_token * n_tokens) as usize, 3.0);
        let eps = 1e-6;
        let step = step_buffer(&ctx, 0, n_tokens);
        let xb = buffer_f32(&ctx, &x);
        let op = kernels::rmsnorm_in_place(&ctx, &step, "v_norm", &xb, None, dim, rows_per_token, eps).unwrap();
        run(&ctx, &[op], n_tokens);
        let want = rmsnorm_cpu(&x, &vec![1.0; dim as usize], eps);
        assert_close(&format!("rmsnorm in place without weight {}", label(&ctx)), &read_f32(&ctx, &xb, x.len()), &want, TOL_F32);
    }
}

/// Every row of w.len() elements of x, normalized and scaled by w.
/// LayerNorm in place with weight and bias (BERT) against an f64 reference,
/// at MiniLM's width 384 and bge-large's 1024 (wider than a workgroup), rows
/// with a large mean (the centred second pass keeps the variance exact).
#[test]
fn layernorm_matches_cpu() {
    for ctx in contexts() {
        for (dim, n_tokens, eps, offset) in [(384u32, 5u32, 1e-12f32, 0.0f32), (1024, 3, 1e-5, 30.0), (64, 2, 1e-12, -3.0)] {
            let mut rng = Rng::new(21 + dim as u64);
            let x: Vec<f32> = rng.vec((dim * n_tokens) as usize, 2.0).iter().map(|v| v + offset).collect();
            let (w, b) = (rng.vec(dim as usize, 1.0), rng.vec(dim as usize, 0.5));
            let step = step_buffer(&ctx, 0, n_tokens);
            let (xb, wb, bb) = (buffer_f32(&ctx, &x), buffer_f32(&ctx, &w), buffer_f32(&ctx, &b));
            run(&ctx, &[kernels::layernorm(&ctx, &step, "norm", &xb, &wb, &bb, dim, eps).unwrap()], n_tokens);
            let want: Vec<f32> = x
                .chunks_exact(dim as usize)
                .flat_map(|r| {
                    let mean = r.iter().map(|&v| v as f64).sum::<f64>() / dim as f64;
                    let var = r.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / dim as f64;
                    let inv = 1.0 / (var + eps as f64).sqrt();
                    r.iter().zip(&w).zip(&b).map(move |((&v, &w), &b)| ((v as f64 - mean) * inv * w as f64 + b as f64) as f32).collect::<Vec<_>>()
                })
                .collect();
            assert_close(&format!("layernorm dim={dim} offset={offset} {}", label(&ctx)), &read_f32(&ctx, &xb, x.len()), &want, TOL_F32);
        }
    }
}

/// The ungated activation (BERT's FFN: GELU in place) against the CPU's.
#[test]
fn activation_matches_cpu() {
    for ctx in contexts() {
        let (width, n_tokens) = (1536u32, 3u32);
        let g = Rng::new(22).vec((width * n_tokens) as usize, 6.0);
        let step = step_buffer(&ctx, 0, n_tokens);
        let gb = buffer_f32(&ctx, &g);
        run(&ctx, &[kernels::activation(&ctx, &step, "act", GateActivation::Gelu, &gb, width).unwrap()], n_tokens);
        let want: Vec<f32> = g.iter().map(|&a| gated_cpu(GateActivation::Gelu, a, 1.0)).collect();
        assert_close(&format!("gelu {}", label(&ctx)), &read_f32(&ctx, &gb, g.len()), &want, TOL_TRANSCENDENTAL);
    }
}

fn rmsnorm_cpu(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    x.chunks(w.len())
        .flat_map(|row| {
            let ms = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
            let inv = 1.0 / (ms + eps as f64).sqrt();
            row.iter().zip(w).map(move |(v, g)| (*v as f64 * inv * *g as f64) as f32)
        })
        .collect()
}

#[test]
fn rmsnorm_in_place_per_head_matches_cpu() {
    for ctx in contexts() {
        // QK norm shapes: Gemma 3 (4 heads of 256), Qwen3 (heads of 64 / 128);
        // then a whole-row in-place norm (Gemma's post-block norms).
        for (dim, rows_per_token, n_tokens) in [(256u32, 4u32, 3u32), (64, 4, 5), (128, 2, 1), (640, 1, 4)] {
            let mut rng = Rng::new(10 + dim as u64 + rows_per_token as u64);
            let x = rng.vec((dim * rows_per_token * n_tokens) as usize, 3.0);
            let w = rng.vec(dim as usize, 2.0);
            let eps = 1e-6;
            let step = step_buffer(&ctx, 0, n_tokens);
            let (xb, wb) = (buffer_f32(&ctx, &x), buffer_f32(&ctx, &w));
            let op = kernels::rmsnorm_in_place(&ctx, &step, "qk_norm", &xb, Some(&wb), dim, rows_per_token, eps).unwrap();
            run(&ctx, &[op], n_tokens);
            let what = format!("rmsnorm in place dim={dim} rows={rows_per_token} {}", label(&ctx));
            assert_close(&what, &read_f32(&ctx, &xb, x.len()), &rmsnorm_cpu(&x, &w, eps), TOL_F32);
        }
    }
}

fn rope_cpu(v: &mut [f32], stride: usize, pos0: u32, s: RopeShape, factors: Option<&[f32]>) {
    let (hd, half) = (s.head_dim as usize, s.n_rot as usize / 2);
    for (t, tok) in v.chunks_mut(stride).enumerate() {
        let pos = (pos0 as usize + t) as f64 * s.freq_scale as f64;
        for h in 0..s.n_heads as usize {
            for i in 0..half {
                let theta = pos * (s.freq_base as f64).powf(-2.0 * i as f64 / s.n_rot as f64) / factors.map_or(1.0, |f| f[i] as f64);
                let (a, b) = match s.layout {
                    RopeLayout::Normal => (h * hd + 2 * i, h * hd + 2 * i + 1),
                    RopeLayout::Neox => (h * hd + i, h * hd + i + half),
                };
                let (x0, x1) = (tok[a] as f64, tok[b] as f64);
                let m = s.mscale as f64;
                tok[a] = (m * (x0 * theta.cos() - x1 * theta.sin())) as f32;
                tok[b] = (m * (x0 * theta.sin() + x1 * theta.cos())) as f32;
            }
        }
    }
}

#[test]
fn rope_both_layouts_match_cpu() {
    for ctx in contexts() {
        // Frequency factors as Llama 3.1 writes them: 1 for high frequencies, up to 8 for low ones.
        let factors: Vec<f32> = (0..24).map(|i| 1.0 + 7.0 * (i as f32 / 23.0).powi(2)).collect();
        let fb = buffer_f32(&ctx, &factors);
        // LongRoPE (Phi-3.5/4-mini) scales the rotated pairs by its attn_factor (mscale).
        for (layout, with_factors, mscale) in [(RopeLayout::Normal, false, 1.0), (RopeLayout::Neox, false, 1.0), (RopeLayout::Normal, true, 1.0), (RopeLayout::Neox, true, 1.1338934)] {
            // n_rot < head_dim checks that the tail is left alone (and unscaled).
            let s = RopeShape { n_heads: 3, head_dim: 64, n_rot: 48, freq_base: 10000.0, freq_scale: 1.0, layout, mscale };
            let (stride, n_tokens, pos0) = (3 * 64 + 8, 4u32, 37u32);
            let mut rng = Rng::new(2);
            let v = rng.vec(stride * n_tokens as usize, 1.0);
            let step = step_buffer(&ctx, pos0, n_tokens);
            let vb = buffer_f32(&ctx, &v);
            let op = kernels::rope(&ctx, &step, "rope", &vb, stride as u32, s, with_factors.then_some(&fb)).unwrap();
            run(&ctx, &[op], n_tokens);
            let mut want = v.clone();
            rope_cpu(&mut want, stride, pos0, s, with_factors.then_some(&factors[..]));
            let what = format!("rope {layout:?} factors={with_factors} mscale={mscale} {}", label(&ctx));
            assert_close(&what, &read_f32(&ctx, &vb, v.len()), &want, TOL_TRANSCENDENTAL);
        }
    }
}

#[test]
fn kv_store_and_attention_match_cpu() {
    for ctx in contexts() {
        let tol = if ctx.has_f16() { TOL_KV_F16 } else { TOL_TRANSCENDENTAL };
        // (context, heads / KV heads, head_dim, window, cache slots, step
        // sizes). Head dims 64 (SmolLM2), 256 (Gemma) and 512 (Gemma 4 E2B's
        // full layers: 8 heads over one KV head, 4 per workgroup); a window
        // shorter than the context over a full cache; a ring cache of window
        // + largest step (sliding-window layers) that wraps several times, as
        // prefill chunks and then decode steps; decode steps over a span
        // longer than SPLIT_MIN_SPAN, split across workgroups and combined
        // (full span, and a window that bounds it).
        let long = SPLIT_MIN_SPAN as usize + 80;
        // The last two cases are bidirectional (`causal: false`): one step
        // in which every token reads every position of it (BERT), and one
        // with a symmetric window of 8, keys within 4 of the token on both
        // sides (EmbeddingGemma's sliding layers, on a ring of window + step).
        let cases: [(usize, (u32, u32), u32, u32, usize, &[usize]); 10] = [
            (160, (6, 2), 64, 0, 160, &[130, 1, 1]),
            (160, (6, 2), 256, 0, 160, &[130, 1, 1]),
            (160, (6, 2), 64, 50, 160, &[130, 1, 1]),
            (160, (6, 2), 256, 20, 20 + 30, &[30, 30, 29, 30, 1, 1, 1]),
            (long + 8, (6, 2), 64, 0, long + 8, &[long, 1, 1]),
            (long + 8, (6, 2), 64, SPLIT_MIN_SPAN + 30, long + 8, &[long, 1, 1]),
            (160, (8, 1), 512, 0, 160, &[130, 1, 1]),
            (long + 8, (8, 1), 512, 0, long + 8, &[long, 1, 1]),
            (160, (12, 12), 32, 0, 160, &[150]),
            (160, (4, 2), 256, 8, 8 + 60, &[60]),
        ];
        for (i, (n_ctx, (n_heads, n_kv_heads), head_dim, window, n_cache, steps)) in cases.into_iter().enumerate() {
            let causal = i + 2 < cases.len();
            let s = AttentionShape { n_heads, n_kv_heads, head_dim, window, scale: 1.0 / (head_dim as f32).sqrt(), causal };
            let (kv_dim, width) = (s.kv_dim() as usize, (s.n_heads * head_dim) as usize);
            let mut rng = Rng::new(3 + head_dim as u64 + window as u64);
            let k_all = rng.vec(n_ctx * kv_dim, 1.0);
            let v_all = rng.vec(n_ctx * kv_dim, 1.0);
            let kc = buffer_f32(&ctx, &vec![0.0; n_cache * kv_dim]);
            let vc = buffer_f32(&ctx, &vec![0.0; n_cache * kv_dim]);
            let mut pos0 = 0usize;
            for &n_tokens in steps {
                let q = rng.vec(n_tokens * width, 2.0);
                let step = step_buffer(&ctx, pos0 as u32, n_tokens as u32);
                let kb = buffer_f32(&ctx, &k_all[pos0 * kv_dim..(pos0 + n_tokens) * kv_dim]);
                let vb = buffer_f32(&ctx, &v_all[pos0 * kv_dim..(pos0 + n_tokens) * kv_dim]);
                let qb = buffer_f32(&ctx, &q);
                let ob = buffer_f32(&ctx, &vec![0.0; q.len()]);
                let store = kernels::kv_store(&ctx, &step, "kv", &kb, &vb, &kc, &vc, kv_dim as u32, n_cache as u32).unwrap();
                let partials = buffer_f32(&ctx, &vec![0.0; (s.n_heads * kernels::attention_max_splits(n_ctx as u32) * (head_dim + 2)) as usize]);
                let mut ops = vec![store];
                ops.extend(kernels::attention(&ctx, &step, "att", &qb, &kc, &vc, &ob, &partials, s, n_cache as u32, n_ctx as u32).unwrap());
                let st = Step { pos0: pos0 as u32, n_tokens: n_tokens as u32, kv_len: (pos0 + n_tokens) as u32, _pad: 0 };
                let splits = kernels::split_rule(window).splits(&st);
                run_step(&ctx, &ops, &st);
                let want = cpu::attention(&q, &k_all, &v_all, pos0, n_tokens, s);
                let what = format!("attention hd={head_dim} window={window} causal={causal} slots={n_cache} pos0={pos0} n={n_tokens} splits={splits} {}", label(&ctx));
                if n_tokens == 1 && pos0 >= SPLIT_MIN_SPAN as usize + 30 {
                    assert!(splits > 1, "{what}: a long decode span should be split");
                }
                assert_close(&what, &read_f32(&ctx, &ob, q.len()), &want, tol);
                pos0 += n_tokens;
            }
        }
        // Every pipeline built (head dims 64 to 512) fits WebGPU's default
        // workgroup memory; the largest is Gemma 4's, as the Rust side reckons.
        let gqa = kernels::heads_per_group(8, 1, 512);
        assert_eq!(gqa, 4);
        assert_eq!(assert_workgroup_memory_fits(&ctx, "attention.wgsl"), kernels::attention_shared_bytes(512, gqa));
    }
}

#[test]
fn gated_activations_and_add_match_cpu() {
    for ctx in contexts() {
        let (width, n_tokens) = (1536u32, 3u32);
        let mut rng = Rng::new(4);
        let n = (width * n_tokens) as usize;
        let (g, u) = (rng.vec(n, 6.0), rng.vec(n, 2.0));
        let step = step_buffer(&ctx, 0, n_tokens);
        for act in [GateActivation::SiLU, GateActivation::Gelu] {
            let (gb, ub) = (buffer_f32(&ctx, &g), buffer_f32(&ctx, &u));
            run(&ctx, &[kernels::gated_activation(&ctx, &step, "act", act, &gb, kernels::Rows::dense(&ub, width), width).unwrap()], n_tokens);
            let want: Vec<f32> = g.iter().zip(&u).map(|(&a, &b)| gated_cpu(act, a, b)).collect();
            assert_close(&format!("{act:?} {}", label(&ctx)), &read_f32(&ctx, &gb, n), &want, TOL_TRANSCENDENTAL);
        }
        let (ab, bb) = (buffer_f32(&ctx, &g), buffer_f32(&ctx, &u));
        run(&ctx, &[kernels::add(&ctx, &step, "add", &ab, &bb, width).unwrap()], n_tokens);
        let want: Vec<f32> = g.iter().zip(&u).map(|(a, b)| a + b).collect();
        assert_close(&format!("add {}", label(&ctx)), &read_f32(&ctx, &ab, n), &want, TOL_F32);
    }
}

/// act(a) · b in f64.
fn gated_cpu(act: GateActivation, a: f32, b: f32) -> f32 {
    let a = a as f64;
    let f = match act {
        GateActivation::SiLU => a / (1.0 + (-a).exp()),
        GateActivation::Gelu => 0.5 * a * (1.0 + (0.7978845608028654 * (a + 0.044715 * a * a * a)).tanh()),
    };
    (f * b as f64) as f32
}

/// Gemma 4's per-layer gate: gelu(gate) times one layer's slice of each
/// token's wider row of per-layer inputs.
#[test]
fn gated_activation_with_strided_up_matches_cpu() {
    for ctx in contexts() {
        let (width, n_layers, layer, n_tokens) = (64u32, 4u32, 2u32, 3u32);
        let stride = width * n_layers;
        let mut rng = Rng::new(6);
        let g = rng.vec((width * n_tokens) as usize, 6.0);
        let u = rng.vec((stride * n_tokens) as usize, 2.0);
        let step = step_buffer(&ctx, 0, n_tokens);
        let (gb, ub) = (buffer_f32(&ctx, &g), buffer_f32(&ctx, &u));
        let up = kernels::Rows { buffer: &ub, offset: layer * width, stride };
        run(&ctx, &[kernels::gated_activation(&ctx, &step, "per_layer_act", GateActivation::Gelu, &gb, up, width).unwrap()], n_tokens);
        let want: Vec<f32> = (0..g.len()).map(|i| {
            let (t, j) = (i / width as usize, i % width as usize);
            gated_cpu(GateActivation::Gelu, g[i], u[t * stride as usize + (layer * width) as usize + j])
        }).collect();
        assert_close(&format!("strided geglu {}", label(&ctx)), &read_f32(&ctx, &gb, g.len()), &want, TOL_TRANSCENDENTAL);
        // An up slice past its row is refused.
        let past = kernels::Rows { buffer: &ub, offset: stride - width + 1, stride };
        assert!(kernels::gated_activation(&ctx, &step, "per_layer_act", GateActivation::Gelu, &gb, past, width).is_err());
    }
}

/// Gemma 4's layer output scale: every element times one f32 of a tensor.
#[test]
fn scale_by_matches_cpu() {
    for ctx in contexts() {
        let (width, n_tokens) = (256u32, 3u32);
        let mut rng = Rng::new(7);
        let x = rng.vec((width * n_tokens) as usize, 3.0);
        let step = step_buffer(&ctx, 0, n_tokens);
        let (xb, sb) = (buffer_f32(&ctx, &x), buffer_f32(&ctx, &[0.8107922]));
        run(&ctx, &[kernels::scale_by(&ctx, &step, "layer_output_scale", &xb, &sb, width).unwrap()], n_tokens);
        let want: Vec<f32> = x.iter().map(|v| v * 0.8107922).collect();
        assert_close(&format!("scale_by {}", label(&ctx)), &read_f32(&ctx, &xb, x.len()), &want, TOL_F32);
    }
}

#[test]
fn bias_add_broadcasts_over_tokens() {
    for ctx in contexts() {
        let (width, n_tokens) = (384u32, 5u32);
        let mut rng = Rng::new(6);
        let a = rng.vec((width * n_tokens) as usize, 4.0);
        let bias = rng.vec(width as usize, 1.0);
        let step = step_buffer(&ctx, 0, n_tokens);
        let (ab, bb) = (buffer_f32(&ctx, &a), buffer_f32(&ctx, &bias));
        run(&ctx, &[kernels::bias_add(&ctx, &step, "bias", &ab, &bb, width).unwrap()], n_tokens);
        let want: Vec<f32> = a.iter().enumerate().map(|(i, v)| v + bias[i % width as usize]).collect();
        assert_close(&format!("bias_add {}", label(&ctx)), &read_f32(&ctx, &ab, a.len()), &want, TOL_F32);
    }
}

#[test]
fn softcap_matches_cpu_on_one_row() {
    for ctx in contexts() {
        let width = 1000u32;
        let mut rng = Rng::new(7);
        // Logits well past the cap on both sides, and a second row that must stay untouched.
        let mut l = rng.vec(2 * width as usize, 80.0);
        l[3] = 1.0e4;
        l[4] = -1.0e4;
        let cap = 30.0f32;
        // A 4-token step: soft-capping still touches only the one logits row.
        let step = step_buffer(&ctx, 0, 4);
        let lb = buffer_f32(&ctx, &l);
        run(&ctx, &[kernels::softcap(&ctx, &step, "softcap", &lb, width, cap).unwrap()], 4);
        let want: Vec<f32> = l
            .iter()
            .enumerate()
            .map(|(i, &v)| if i < width as usize { (cap as f64 * (v as f64 / cap as f64).tanh()) as f32 } else { v })
            .collect();
        assert_close(&format!("softcap {}", label(&ctx)), &read_f32(&ctx, &lb, l.len()), &want, TOL_TRANSCENDENTAL);
    }
}

#[test]
fn argmax_matches_cpu_and_breaks_ties_low() {
    for ctx in contexts() {
        let mut rng = Rng::new(5);
        for n in [49152usize, 262144, 1000] {
            let mut logits = rng.vec(n, 10.0);
            let top = n / 3;
            logits[top] = 50.0;
            logits[n - 1] = 50.0; // a tie: the lower id wins, as llama.cpp's greedy does
            let step = step_buffer(&ctx, 0, 1);
            let lb = buffer_f32(&ctx, &logits);
            let out = buffer_f32(&ctx, &[0.0]);
            run(&ctx, &[kernels::argmax(&ctx, &step, &lb, &out, n as u32).unwrap()], 1);
            assert_eq!(read_u32(&ctx, &out, 1)[0], top as u32, "argmax over {n} ({})", label(&ctx));
        }
    }
}

/// Qwen3.5's gated attention: the queries copied out of query|gate heads,
/// and the attention output multiplied by sigmoid(gate) read in place from
/// the wide rows; elements outside the heads stay untouched.
#[test]
fn copy_heads_and_sigmoid_gate_heads_match_cpu() {
    use kernels::HeadLayout;
    for ctx in contexts() {
        let (n_heads, hd, n_tokens) = (3u32, 40u32, 4u32);
        let (q, wide) = (n_heads * hd, 2 * n_heads * hd);
        let mut rng = Rng::new(11);
        let src = rng.vec((wide * n_tokens) as usize, 4.0);
        let dst = rng.vec((q * n_tokens) as usize, 2.0);
        let step = step_buffer(&ctx, 0, n_tokens);
        let (sb, qb, ab) = (buffer_f32(&ctx, &src), buffer_f32(&ctx, &dst), buffer_f32(&ctx, &dst));
        let queries = HeadLayout { offset: 0, head_stride: 2 * hd, stride: wide };
        let gates = HeadLayout { offset: hd, head_stride: 2 * hd, stride: wide };
        let dense = HeadLayout::dense(hd, q);
        let copy = kernels::copy_heads(&ctx, &step, "copy", &qb, dense, &sb, queries, n_heads, hd).unwrap();
        let gate = kernels::sigmoid_gate_heads(&ctx, &step, "gate", &ab, dense, &sb, gates, n_heads, hd).unwrap();
        run(&ctx, &[copy, gate], n_tokens);
        let (mut want_q, mut want_a) = (dst.clone(), dst.clone());
        for t in 0..n_tokens as usize {
            for h in 0..n_heads as usize {
                for i in 0..hd as usize {
                    let o = t * q as usize + h * hd as usize + i;
                    let s = t * wide as usize + h * 2 * hd as usize + i;
                    want_q[o] = src[s];
                    want_a[o] = dst[o] / (1.0 + (-src[s + hd as usize]).exp());
                }
            }
        }
        assert_close(&format!("copy_heads {}", label(&ctx)), &read_f32(&ctx, &qb, dst.len()), &want_q, 0.0);
        assert_close(&format!("sigmoid_gate_heads {}", label(&ctx)), &read_f32(&ctx, &ab, dst.len()), &want_a, TOL_TRANSCENDENTAL);
        // A layout whose heads overrun its stride is refused.
        let over = HeadLayout { offset: 1, head_stride: hd, stride: q };
        assert!(kernels::copy_heads(&ctx, &step, "over", &qb, over, &sb, queries, n_heads, hd).is_err());
    }
}
