//! Checks of [`attention`](super::attention) against a straightforward f64
//! reference, of the f16 store, and a small benchmark. Shared by the native
//! tests (`cargo test --lib cpu::attention`) and the wasm runner
//! (`scripts/test-wasm-kernels.sh`, which runs them on the SIMD128 path);
//! public only for that runner.

use super::{attention, store, widen, AttentionError, Scratch, Shape, K_TILE, Q_BLOCK};
use crate::quant::testing::random_f32;
use half::f16;

/// Largest |kernel − reference| allowed per output, for V values in
/// [−1, 1] (outputs are weighted means of them) and scores up to ~±10.
/// Sources of difference: the f32 dot products (head_dim ≤ 256 products,
/// ε = 6e-8 each, on |scale · q·k| ≲ 10: ≲ 1e-6 per score, which moves a
/// softmax weight by about as much, relative), the polynomial exp (≲ 2
/// ulp), and the f32 running sums (a few ulp per rescale, ~n_keys · ε
/// relative at worst over 3,000 keys: 2e-4 worst, ≈ √n · ε in practice).
/// The largest difference seen over [`cases`] is 8.2e-7 (SIMD128 and
/// portable alike); 5e-6 leaves room for other compilers' summation order.
/// A wrong mask, slot or head moves outputs by 1e-3 or more.
pub const TOLERANCE: f64 = 5e-6;

/// One checked call: random q (scaled by `q_amp`), K, V, a cache of
/// `cache_len` positions, `n_tokens` at `pos0`.
#[derive(Clone, Debug)]
pub struct Case {
    pub label: &'static str,
    pub shape: Shape,
    pub cache_len: usize,
    pub pos0: usize,
    pub n_tokens: usize,
    pub seed: u64,
}

fn shape(n_heads: usize, n_kv_heads: usize, head_dim: usize, window: usize) -> Shape {
    Shape { n_heads, n_kv_heads, head_dim, window, scale: 1.0 / (head_dim as f32).sqrt(), causal: true }
}

/// Decode and prefill steps, at the start of the cache and at long
/// contexts (many [`K_TILE`]s, several [`Q_BLOCK`]s), for SmolLM2's heads
/// (9 / 3 × 64: GQA), Gemma 3 270M's (4 / 1 × 256, sliding window 512 on a
/// ring of window + 64 positions), one head per KV head, and odd head
/// sizes (lane tails) with a small window on a small ring.
pub fn cases() -> Vec<Case> {
    let smol = shape(9, 3, 64, 0);
    let gemma = shape(4, 1, 256, 512);
    let c = |label, shape, cache_len, pos0, n_tokens, seed| Case { label, shape, cache_len, pos0, n_tokens, seed };
    vec![
        c("decode, first position", smol, 4096, 0, 1, 1),
        c("decode at 200", smol, 4096, 200, 1, 2),
        c("decode at 3000", smol, 4096, 3000, 1, 3),
        c("prefill of 37 from 0", smol, 4096, 0, 37, 4),
        c("prefill of 20 after 150", smol, 4096, 150, 20, 5),
        c("prefill of 40 after 1000", smol, 4096, 1000, 40, 6),
        c("window 512, decode at 300 (no wrap)", gemma, 576, 300, 1, 7),
        c("window 512 on a ring of 576, decode at 2000", gemma, 576, 2000, 1, 8),
        c("window 512 on a ring of 576, prefill of 64 after 1500", gemma, 576, 1500, 64, 9),
        c("window 512, prefill of 33 from 0", gemma, 576, 0, 33, 10),
        c("head_dim 20, window 7 on a ring of 16, prefill of 9 after 30", shape(6, 2, 20, 7), 16, 30, 9, 11),
        c("MHA 4 × 32, prefill of 70 after 5", shape(4, 4, 32, 0), 128, 5, 70, 12),
        c("head_dim 1, prefill of 6 after 2", shape(3, 1, 1, 0), 8, 2, 6, 13),
        // Bidirectional (BERT: MiniLM's 12 × 32, one step from 0): every
        // query reads every key of the step, across Q_BLOCKs and K_TILEs.
        c("non-causal MHA 12 × 32, one step of 150 from 0", Shape { causal: false, ..shape(12, 12, 32, 0) }, 512, 0, 150, 14),
        c("non-causal GQA 9 / 3 × 64, 5 tokens after 3", Shape { causal: false, ..smol }, 16, 3, 5, 15),
        // A symmetric window (EmbeddingGemma's sliding layers): keys within
        // window / 2 of the query on both sides, even and odd windows, a
        // step of several Q_BLOCKs and K_TILEs.
        c("non-causal window 8, GQA 4 / 2 × 64, one step of 70 from 0", Shape { causal: false, ..shape(4, 2, 64, 8) }, 80, 0, 70, 16),
        c("non-causal window 7, MHA 3 × 256, one step of 40 from 0", Shape { causal: false, ..shape(3, 3, 256, 7) }, 48, 0, 40, 17),
    ]
}

/// The f32 q, and the cache's K and V as stored (f16) and widened (f32).
struct Inputs {
    q: Vec<f32>,
    k: Vec<f16>,
    v: Vec<f16>,
}

fn inputs(c: &Case) -> Inputs {
    let s = &c.shape;
    // Scores up to about ±q_amp·√head_dim·scale ≈ ±6: peaked softmax rows.
    let q: Vec<f32> = random_f32(c.n_tokens * s.n_heads * s.head_dim, c.seed).iter().map(|x| x * 6.0).collect();
    let half = |seed| {
        let x = random_f32(c.cache_len * s.kv_dim(), seed);
        let mut h = vec![f16::ZERO; x.len()];
        store(&x, &mut h).expect("same lengths");
        h
    };
    Inputs { q, k: half(c.seed + 1000), v: half(c.seed + 2000) }
}

/// The attention of [`attention`]'s docs in f64, one query row at a time,
/// with the whole score row and a plain softmax (no blocks, no tiles).
pub fn reference(q: &[f32], k: &[f16], v: &[f16], cache_len: usize, pos0: usize, n_tokens: usize, s: &Shape) -> Vec<f64> {
    let (hd, kv_dim, width) = (s.head_dim, s.kv_dim(), s.n_heads * s.head_dim);
    let group = s.n_heads / s.n_kv_heads;
    let mut out = vec![0.0f64; n_tokens * width];
    for t in 0..n_tokens {
        // The positions this token reads: up to its own, or (non-causal)
        // the step's last; a causal window keeps the last `window`, a
        // non-causal one those j with |j − (pos0 + t)| <= window / 2
        // (llama.cpp `is_masked_swa`, LLAMA_SWA_TYPE_SYMMETRIC).
        let own = pos0 + t;
        let (mut first, mut p) = if s.causal { (0, own) } else { (0, pos0 + n_tokens - 1) };
        if s.window > 0 && s.causal {
            first = (own + 1).saturating_sub(s.window);
        } else if s.window > 0 {
            let half = s.window / 2;
            first = own.saturating_sub(half);
            p = p.min(own + half);
        }
        for h in 0..s.n_heads {
            let qh = &q[t * width + h * hd..][..hd];
            let kv = |cache: &[f16], j: usize| (0..hd).map(|i| cache[(j % cache_len) * kv_dim + (h / group) * hd + i].to_f64()).collect::<Vec<_>>();
            let scores: Vec<f64> = (first..=p).map(|j| s.scale as f64 * qh.iter().zip(kv(k, j)).map(|(&a, b)| a as f64 * b).sum::<f64>()).collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
            let z: f64 = w.iter().sum();
            let o = &mut out[t * width + h * hd..][..hd];
            for (wj, j) in w.iter().zip(first..=p) {
                o.iter_mut().zip(kv(v, j)).for_each(|(o, v)| *o += wj / z * v);
            }
        }
    }
    out
}

/// Runs one case; the error names the case, the first output past
/// [`TOLERANCE`] (token, head, element) and both values.
pub fn run_case(c: &Case) -> Result<(), String> {
    let s = &c.shape;
    let x = inputs(c);
    let width = s.n_heads * s.head_dim;
    let mut out = vec![f32::NAN; c.n_tokens * width];
    let mut scratch = Scratch::default();
    attention(&x.q, &x.k, &x.v, c.cache_len, c.pos0, c.n_tokens, s, &mut out, &mut scratch).map_err(|e| format!("{}: {e}", c.label))?;
    let want = reference(&x.q, &x.k, &x.v, c.cache_len, c.pos0, c.n_tokens, s);
    for (i, (&got, &want)) in out.iter().zip(&want).enumerate() {
        if !((got as f64 - want).abs() <= TOLERANCE) {
            let (t, h, e) = (i / width, (i % width) / s.head_dim, i % s.head_dim);
            return Err(format!("{}: token {t} head {h} element {e}: {got} vs reference {want:.7} (tolerance {TOLERANCE})", c.label));
        }
    }
    let group = s.n_heads / s.n_kv_heads;
    let bound = 2 * K_TILE * s.head_dim + K_TILE + Q_BLOCK * group * (s.head_dim + 2);
    if scratch.len() > bound {
        return Err(format!("{}: scratch of {} floats, more than the {bound} the heads need", c.label, scratch.len()));
    }
    Ok(())
}

/// The largest |kernel − reference| over every case (for the tolerance's note).
pub fn max_error() -> f64 {
    let mut worst = 0.0f64;
    for c in cases() {
        let x = inputs(&c);
        let mut out = vec![0.0f32; c.n_tokens * c.shape.n_heads * c.shape.head_dim];
        if attention(&x.q, &x.k, &x.v, c.cache_len, c.pos0, c.n_tokens, &c.shape, &mut out, &mut Scratch::default()).is_ok() {
            let want = reference(&x.q, &x.k, &x.v, c.cache_len, c.pos0, c.n_tokens, &c.shape);
            worst = out.iter().zip(&want).fold(worst, |w, (&a, &b)| w.max((a as f64 - b).abs()));
        }
    }
    worst
}

/// The value of f16 `bits`, decoded from its fields in f64 (independent of
/// the widening under test); None for inf and NaN.
fn f16_value(bits: u16) -> Option<f64> {
    let (sign, exp, man) = (if bits & 0x8000 != 0 { -1.0 } else { 1.0 }, (bits >> 10) & 0x1F, (bits & 0x3FF) as f64);
    match exp {
        0x1F => None,
        0 => Some(sign * man * 2f64.powi(-24)),
        e => Some(sign * (1.0 + man / 1024.0) * 2f64.powi(e as i32 - 15)),
    }
}

/// [`store`] rounds to the nearest f16, ties to even, and [`widen`] gives
/// back its exact value: named ties, overflow, subnormals, signed zero and
/// NaN, then a sweep of values at every scale checked against both
/// neighbouring halves.
/// Largest |silu_mul − f64 reference| / max(1, |reference|) allowed: the
/// polynomial exp (≲ 2 ulp), one division and two products, ≲ 5 ulp.
pub const SILU_TOLERANCE: f64 = 1e-6;

/// `simd::silu_mul` (the SiLU-gated product of the CPU backend's FFN)
/// against g / (1 + e^−g) · u in f64: random gates in ±30 and ups in ±1 of
/// lengths with and without a lane tail, and named values (0, ±tiny, large
/// ±, where e^−g underflows or overflows in f32, NaN).
pub fn silu_cases() -> Result<(), String> {
    let want = |g: f32, u: f32| g as f64 / (1.0 + (-(g as f64)).exp()) * u as f64;
    let check = |gate: &[f32], up: &[f32], label: &str| -> Result<(), String> {
        let mut got = gate.to_vec();
        super::simd::silu_mul(&mut got, up);
        for (i, ((&g, &u), &y)) in gate.iter().zip(up).zip(&got).enumerate() {
            let w = want(g, u);
            if w.is_nan() != y.is_nan() || (!w.is_nan() && (y as f64 - w).abs() / w.abs().max(1.0) > SILU_TOLERANCE) {
                return Err(format!("silu {label}[{i}]: silu({g}) · {u} = {y}, want {w}"));
            }
        }
        Ok(())
    };
    for (n, seed) in [(1536, 1), (37, 2), (3, 3)] {
        let g: Vec<f32> = random_f32(n, seed).iter().map(|v| v * 30.0).collect();
        check(&g, &random_f32(n, seed + 10), "random")?;
    }
    let named = [0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 20.0, -20.0, 88.0, -88.0, 100.0, -100.0, 1e30, -1e30, f32::NAN];
    check(&named, &[1.5; 15], "named")
}

pub fn store_cases() -> Result<(), String> {
    let p = |e: i32| 2f32.powi(e);
    let named: [(&str, f32, u16); 12] = [
        ("1 + 2^-11 (tie) to even 1", 1.0 + p(-11), 0x3C00),
        ("1 + 3·2^-11 (tie) to even 1 + 2^-9", 1.0 + 3.0 * p(-11), 0x3C02),
        ("-(1 + 2^-11) (tie) to even -1", -(1.0 + p(-11)), 0xBC00),
        ("just above a tie rounds up", 1.0 + p(-11) + p(-20), 0x3C01),
        ("65519 to the largest half", 65519.0, 0x7BFF),
        ("65520 (tie past the largest half) to inf", 65520.0, 0x7C00),
        ("2^-25 (tie with 0) to 0", p(-25), 0x0000),
        ("3·2^-25 (tie) to even subnormal 2·2^-24", 3.0 * p(-25), 0x0002),
        ("smallest subnormal", p(-24), 0x0001),
        ("-0", -0.0, 0x8000),
        ("-inf", f32::NEG_INFINITY, 0xFC00),
        ("1e-10 to 0", 1e-10, 0x0000),
    ];
    let xs: Vec<f32> = named.iter().map(|n| n.1).collect();
    let mut h = vec![f16::ZERO; xs.len()];
    store(&xs, &mut h).map_err(|e| e.to_string())?;
    for ((what, x, want), got) in named.iter().zip(&h) {
        if got.to_bits() != *want {
            return Err(format!("store {what}: {x:e} gave {:#06x}, want {want:#06x}", got.to_bits()));
        }
    }
    let mut nan = [f16::ZERO];
    store(&[f32::NAN], &mut nan).map_err(|e| e.to_string())?;
    if !nan[0].is_nan() {
        return Err(format!("store NaN gave {:#06x}", nan[0].to_bits()));
    }
    // A sweep: magnitudes from 2^-26 to 2^16, both signs.
    let u = random_f32(20_000, 77);
    let xs: Vec<f32> = u.chunks_exact(2).map(|r| r[0].signum() * 2f32.powf(-26.0 + 42.0 * r[1].abs())).collect();
    let mut h = vec![f16::ZERO; xs.len()];
    store(&xs, &mut h).map_err(|e| e.to_string())?;
    let mut back = vec![0.0f32; xs.len() + 3];
    widen(&h, &mut back[3..]); // an odd offset: the SIMD widening reads unaligned
    for (i, (&x, &hb)) in xs.iter().zip(&h).enumerate() {
        let bits = hb.to_bits();
        let (Some(y), w) = (f16_value(bits), back[3 + i]) else {
            if x.abs() < 65520.0 {
                return Err(format!("store {x:e} overflowed to {bits:#06x}"));
            }
            continue;
        };
        if w as f64 != y {
            return Err(format!("widen {bits:#06x}: {w:e}, want {y:e}"));
        }
        let x = x as f64;
        for nb in [bits.wrapping_add(1), bits.wrapping_sub(1)] {
            if let Some(n) = f16_value(nb).filter(|n| n.signum() == y.signum() || *n == 0.0) {
                let (d, dn) = ((x - y).abs(), (x - n).abs());
                if dn < d || (dn == d && bits & 1 == 1) {
                    return Err(format!("store {x:e} gave {bits:#06x} ({y:e}); {nb:#06x} ({n:e}) is nearer or the even tie"));
                }
            }
        }
    }
    Ok(())
}

/// Every rejected request gets its error and leaves `out` alone.
pub fn error_cases() -> Result<(), String> {
    let s = shape(4, 2, 8, 0);
    let q = vec![0.5f32; 3 * 32];
    let kv = vec![f16::ONE; 16 * 16];
    let mut out = vec![7.0f32; 3 * 32];
    let mut sc = Scratch::default();
    let mut call = |s: Shape, q: &[f32], k: &[f16], cache_len, pos0, n, out: &mut [f32]| attention(q, k, &kv, cache_len, pos0, n, &s, out, &mut sc);
    type Check = (&'static str, Result<(), AttentionError>, fn(&AttentionError) -> bool);
    let checks: Vec<Check> = vec![
        ("query heads not a multiple of KV heads", call(shape(3, 2, 8, 0), &q, &kv, 16, 0, 3, &mut out), |e| matches!(e, AttentionError::Heads(_))),
        ("no KV heads", call(shape(4, 0, 8, 0), &q, &kv, 16, 0, 3, &mut out), |e| matches!(e, AttentionError::Heads(_))),
        ("short q", call(s, &q[1..], &kv, 16, 0, 3, &mut out), |e| matches!(e, AttentionError::Length { what: "q", .. })),
        ("short out", call(s, &q, &kv, 16, 0, 3, &mut out[..95]), |e| matches!(e, AttentionError::Length { what: "out", .. })),
        ("short K cache", call(s, &q, &kv[..255], 16, 0, 3, &mut out), |e| matches!(e, AttentionError::Length { what: "the K cache", .. })),
        ("positions past a full cache", call(s, &q, &kv, 16, 14, 3, &mut out), |e| matches!(e, AttentionError::Ring { .. })),
        ("a window the ring cannot hold with the step", call(shape(4, 2, 8, 15), &q, &kv, 16, 40, 3, &mut out), |e| matches!(e, AttentionError::Ring { .. })),
        ("positions overflow", call(s, &q, &kv, 16, usize::MAX, 3, &mut out), |e| matches!(e, AttentionError::Heads(_))),
    ];
    for (what, got, ok) in checks {
        match got {
            Err(e) if ok(&e) => {}
            other => return Err(format!("{what}: got {other:?}")),
        }
    }
    if out.iter().any(|&v| v != 7.0) {
        return Err("a rejected call wrote out".into());
    }
    // A window the ring holds exactly (window + n_tokens − 1 = cache_len) is fine.
    let mut out = vec![0.0f32; 3 * 32];
    attention(&q, &kv, &kv, 16, 40, 3, &shape(4, 2, 8, 14), &mut out, &mut Scratch::default()).map_err(|e| format!("a ring that fits: {e}"))?;
    Ok(())
}

/// One line per (step, context) at SmolLM2-135M's heads (9 / 3 × 64), best
/// of a few calls: ms per layer and for all 30 layers, and GB/s of f16 K/V
/// read. `now`: a clock in seconds.
pub fn bench(now: &dyn Fn() -> f64, emit: &mut dyn FnMut(String)) {
    emit(format!("cpu attention bench ({} path), SmolLM2-135M heads 9/3 x 64, 30 layers", super::simd::PATH));
    let s = shape(9, 3, 64, 0);
    let cache_len = 3200;
    let x = inputs(&Case { label: "bench", shape: s, cache_len, pos0: 0, n_tokens: 64, seed: 9 });
    let mut out = vec![0.0f32; 64 * s.n_heads * s.head_dim];
    let mut sc = Scratch::default();
    for (n_tokens, pos0) in [(1usize, 100usize), (1, 1000), (1, 3000), (64, 100), (64, 3000)] {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = now();
            let r = attention(&x.q, &x.k, &x.v, cache_len, pos0, n_tokens, &s, &mut out, &mut sc);
            best = best.min(now() - t);
            if let Err(e) = r {
                emit(format!("error: {e}"));
                return;
            }
        }
        let bytes = (pos0 + n_tokens) as f64 * s.kv_dim() as f64 * 2.0 * 2.0;
        emit(format!(
            "tokens {n_tokens:>2} after {pos0:>4}: {:.3} ms per layer, {:.1} ms per 30 layers ({:.2} ms per token), {:.1} GB/s of K/V",
            best * 1e3,
            best * 3e4,
            best * 3e4 / n_tokens as f64,
            bytes / best / 1e9
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_matches_the_f64_reference() {
        let failures: Vec<String> = cases().iter().filter_map(|c| run_case(c).err()).collect();
        assert!(failures.is_empty(), "{} failed (largest error {:.2e}):\n{}", failures.len(), max_error(), failures.join("\n"));
    }

    #[test]
    fn silu_mul_matches_the_f64_reference() {
        silu_cases().unwrap();
    }

    #[test]
    fn kv_store_rounds_to_nearest_even_and_widens_exactly() {
        store_cases().unwrap();
    }

    #[test]
    fn attention_rejects_bad_requests() {
        error_cases().unwrap();
    }

    #[test]
    fn exp_matches_f64_within_two_ulp() {
        for i in 0..=100_000 {
            let x = -90.0 * i as f32 / 100_000.0;
            let got = super::super::simd::exp_scalar(x) as f64;
            let want = (x as f64).exp();
            if x < super::super::simd::EXP_LO {
                assert_eq!(got, 0.0, "exp({x})");
            } else {
                assert!((got - want).abs() <= 2.0 * f32::EPSILON as f64 * want, "exp({x}) = {got:e}, want {want:e}");
            }
        }
        assert!(super::super::simd::exp_scalar(f32::NAN).is_nan());
        assert_eq!(super::super::simd::exp_scalar(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    #[ignore = "benchmark: cargo test --release --lib cpu::attention::check::tests::bench_native -- --ignored --nocapture"]
    fn bench_native() {
        let start = std::time::Instant::now();
        bench(&|| start.elapsed().as_secs_f64(), &mut |l| println!("{l}"));
    }
}
