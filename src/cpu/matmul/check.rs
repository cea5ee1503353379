//! Checks of [`matmul`](super::matmul) against the dequantize-based reference
//! [`crate::quant::matvec_ref`], and a small benchmark. Shared by the native
//! tests (`cargo test --lib cpu`) and the wasm runner
//! (`scripts/test-wasm-kernels.sh`, which runs them on the SIMD128 path);
//! public only for that runner.

use super::{act, matmul, Write};
use crate::quant::testing::{random_f32, random_tensor};
use crate::quant::{dequantize_to_vec, matvec_ref, GgmlType, SUPPORTED};
use std::ops::Range;

/// Activation rounding: `q = round(x / d)` with `d = amax / 32767` (16-bit
/// activations, `act.rs`) is off by at most `d / 2 = amax / 65534` per
/// element, so a row's result moves by at most
/// `Σ_c |W[r, c]| · amax_block(c) / 65534` (amax_block(c): largest |x| in
/// column c's activation block, which has the weight block's size: 32 or
/// 256).
pub const ACT_ROUNDING: f64 = 1.0 / (2.0 * 32767.0);

/// f32 summation and scale-product rounding, relative to the row's magnitude
/// `Σ_c |x_c| · max_c |W[r, c]|` (the max, not |W[r, c]|, covers the
/// cancelling `d·q` and `min` terms of Q4_1 / Q5_1 / k-quants). Each
/// sub-block's exact integer dot converts to f32 and is scaled and summed in
/// f32 (ε = 6e-8 per conversion, product and add; a few hundred sub-blocks at
/// most here, so ≲ 1e-4 · ε-sized steps in the worst case and far less in
/// practice): 1e-5 is ample. It is independent of the activation width.
pub const F32_ROUNDING: f64 = 1e-5;

/// One checked call.
#[derive(Clone, Debug)]
pub struct Case {
    pub ty: GgmlType,
    pub n_rows: usize,
    pub cols: usize,
    pub rows: Range<usize>,
    pub n_tokens: usize,
    pub write: Write,
    pub seed: u64,
}

/// Every supported type at: one block of columns, three, and ~6 KiB rows
/// (several cache blocks of rows); 13 rows (a multiple of nothing); 1, 3, 5,
/// 7, 9 and 33 tokens (tiles of 4 plus remainders); sub-ranges of rows; and
/// Accumulate.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (i, &ty) in SUPPORTED.iter().enumerate() {
        let be = ty.block_elems() as usize;
        let col_counts = if be == 1 { [7, 69] } else { [be, 3 * be] };
        for (j, &cols) in col_counts.iter().enumerate() {
            let seed = 1000 * i as u64 + 100 * j as u64;
            let mut add = |rows: Range<usize>, n_tokens, write, k: u64| {
                out.push(Case {
                    ty,
                    n_rows: 13,
                    cols,
                    rows,
                    n_tokens,
                    write,
                    seed: seed + k,
                })
            };
            add(0..13, 1, Write::Store, 1);
            add(0..13, 3, Write::Store, 2);
            add(0..13, 7, Write::Store, 3);
            add(0..13, 33, Write::Store, 4);
            add(5..11, 7, Write::Accumulate, 5);
            add(2..13, 33, Write::Accumulate, 6);
            add(12..13, 1, Write::Accumulate, 7);
        }
        // Rows of about 6 KiB: two rows per cache block of the driver, so
        // 13 rows span seven blocks and 3..12 starts and ends inside one.
        let (be, bb) = (be, ty.block_bytes() as usize);
        let cols = be * (6 * 1024usize).div_ceil(bb);
        for (k, (rows, n_tokens, write)) in
            [(0..13, 9, Write::Store), (3..12, 5, Write::Accumulate)]
                .into_iter()
                .enumerate()
        {
            out.push(Case {
                ty,
                n_rows: 13,
                cols,
                rows,
                n_tokens,
                write,
                seed: 1000 * i as u64 + 900 + k as u64,
            });
        }
    }
    out
}

/// Runs one case; on failure, says which output and by how much.
pub fn run_case(c: &Case) -> Result<(), String> {
    let w = random_tensor(c.ty, c.n_rows * c.cols, c.seed);
    // Token t's activations scaled by 0.25 · (t % 5 + 1): blocks of
    // different magnitudes get different activation scales.
    let mut x = random_f32(c.n_tokens * c.cols, c.seed + 1);
    for (i, v) in x.iter_mut().enumerate() {
        *v *= 0.25 * ((i / c.cols) % 5 + 1) as f32;
    }
    check_call(
        c.ty,
        &w,
        c.n_rows,
        c.cols,
        c.rows.clone(),
        &x,
        c.n_tokens,
        c.write,
        c.seed,
    )
    .map_err(|e| format!("{c:?}: {e}"))
}

/// Calls [`matmul`] on `w` (`n_rows` × `cols` of `ty`) and `x` (`n_tokens`
/// × `cols`) with y pre-filled from `seed` and gaps between tokens, then
/// checks every output of `rows` against [`matvec_ref`] (on those rows' bytes
/// only, so sub-ranges of huge matrices stay cheap) within [`ACT_ROUNDING`]
/// and [`F32_ROUNDING`], and that nothing else in y changed.
#[allow(clippy::too_many_arguments)]
pub fn check_call(
    ty: GgmlType,
    w: &[u8],
    n_rows: usize,
    cols: usize,
    rows: Range<usize>,
    x: &[f32],
    n_tokens: usize,
    write: Write,
    seed: u64,
) -> Result<(), String> {
    let stride = n_rows + 2; // gaps between tokens, which must stay untouched
    let y0 = random_f32((n_tokens.max(1) - 1) * stride + n_rows, seed + 2);
    let mut y = y0.clone();
    matmul(
        ty,
        w,
        n_rows,
        cols,
        rows.clone(),
        x,
        n_tokens,
        &mut y,
        stride,
        write,
    )
    .map_err(|e| e.to_string())?;

    let row_bytes = w.len() / n_rows.max(1);
    let w_rows = &w[rows.start * row_bytes..rows.end * row_bytes];
    let wd = dequantize_to_vec(ty, w_rows).map_err(|e| e.to_string())?;
    let be = ty.block_elems() as usize;
    let quantized = be > 1;
    for t in 0..n_tokens {
        let xt = &x[t * cols..(t + 1) * cols];
        // The activations the kernel really multiplies: x rounded to 16 bits.
        let xhat = if quantized {
            dequantized_acts(xt, be)
        } else {
            xt.to_vec()
        };
        let want = matvec_ref(ty, w_rows, rows.len(), cols, xt).map_err(|e| e.to_string())?;
        let want_hat =
            matvec_ref(ty, w_rows, rows.len(), cols, &xhat).map_err(|e| e.to_string())?;
        for r in 0..n_rows {
            let i = t * stride + r;
            if !rows.contains(&r) {
                if y[i] != y0[i] {
                    return Err(format!("y[t={t}, r={r}] outside rows was written"));
                }
                continue;
            }
            let k = r - rows.start;
            let wr = &wd[k * cols..(k + 1) * cols];
            let wmax = wr.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
            let mag: f64 = xt.iter().map(|v| v.abs() as f64).sum::<f64>() * wmax;
            let act_err: f64 = if quantized {
                wr.chunks(be)
                    .zip(xt.chunks(be))
                    .map(|(wb, xb)| {
                        let amax = xb.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
                        wb.iter().map(|v| v.abs() as f64).sum::<f64>() * amax * ACT_ROUNDING
                    })
                    .sum()
            } else {
                0.0
            };
            let base = if write == Write::Accumulate {
                y0[i] as f64
            } else {
                0.0
            };
            let got = y[i] as f64 - base;
            let tight = F32_ROUNDING * mag + if base != 0.0 { 1e-6 * base.abs() } else { 0.0 };
            let err_hat = (got - want_hat[k] as f64).abs();
            let err = (got - want[k] as f64).abs();
            if !(err_hat <= tight && err <= act_err + tight) {
                return Err(format!(
                    "y[t={t}, r={r}] = {got} (after subtracting y0 {base}); \
                     reference on 16-bit x {} (|diff| {err_hat:.3e}, allowed {tight:.3e}); \
                     reference on f32 x {} (|diff| {err:.3e}, allowed {:.3e})",
                    want_hat[k],
                    want[k],
                    act_err + tight
                ));
            }
        }
    }
    Ok(())
}

/// `x` after the 16-bit round trip of the kernels' activation blocks.
fn dequantized_acts(x: &[f32], block: usize) -> Vec<f32> {
    if block == 32 {
        let mut b = Vec::new();
        act::quantize_q16_1(x, &mut b);
        b.iter()
            .flat_map(|b| b.qs.map(|q| b.d * q as f32))
            .collect()
    } else {
        let mut b = Vec::new();
        act::quantize_q16_k(x, &mut b);
        b.iter()
            .flat_map(|b| b.qs.map(|q| b.d * q as f32))
            .collect()
    }
}

/// One weight block of `ty` at the largest integer magnitudes its kernel
/// unpacks to, with the largest-magnitude sub-block scales (and mins): the
/// worst case of the i32 bounds derived in legacy.rs, kquants.rs and simd
/// (each sub-block's exact i32 dot, the i32/i64 min and offset sums). Its
/// f16 scales are 2^-10 (bits 0x1400) so results stay moderate. None for
/// float types.
fn extreme_block(ty: GgmlType) -> Option<Vec<u8>> {
    use GgmlType::*;
    // (fill byte, f16 scale offsets, a byte range to overwrite and its byte)
    type Layout = (u8, &'static [usize], Option<(Range<usize>, u8)>);
    let (fill, halves, patch): Layout = match ty {
        Q4_0 | Q5_0 => (0xFF, &[0], None), // quants 15 / 31
        Q4_1 | Q5_1 => (0xFF, &[0, 2], None),
        Q8_0 => (0x80, &[0], None),                    // −128
        IQ4NL => (0x00, &[0], None),                   // table[0] = −127
        Q2K => (0xFF, &[80, 82], None),                // q 3, scales and mins 15
        Q3K => (0xFF, &[108], Some((96..108, 0x00))),  // q 7, scales −32
        Q4K | Q5K => (0xFF, &[0, 2], None),            // q 15 / 31, scales and mins 63
        Q6K => (0xFF, &[208], Some((192..208, 0x80))), // q 63, scales −128
        IQ4XS => (0x00, &[0], None),                   // table[0] = −127, scales −32
        _ => return None,
    };
    let mut b = vec![fill; ty.block_bytes() as usize];
    if let Some((r, v)) = patch {
        b[r].fill(v);
    }
    for &h in halves {
        b[h..h + 2].copy_from_slice(&0x1400u16.to_le_bytes());
    }
    Some(b)
}

/// Every quantized format's [`extreme_block`] against activations whose
/// quants are all +32767 (x constant and positive, so every product has one
/// sign and nothing cancels), for a tile of 4 tokens and a single one.
pub fn extreme_cases() -> Result<(), String> {
    for (i, &ty) in SUPPORTED.iter().enumerate() {
        let be = ty.block_elems() as usize;
        let Some(block) = extreme_block(ty) else {
            if be > 1 {
                return Err(format!("{ty}: no extreme block defined"));
            }
            continue;
        };
        let (n_rows, cols, n_tokens) = (3, 3 * be, 5);
        let w = block.repeat(n_rows * cols / be);
        let x = vec![1.5f32; n_tokens * cols];
        check_call(
            ty,
            &w,
            n_rows,
            cols,
            0..n_rows,
            &x,
            n_tokens,
            Write::Store,
            5000 + i as u64,
        )
        .map_err(|e| format!("{ty} extreme block: {e}"))?;
    }
    Ok(())
}

/// Every rejected request gets its error and leaves y alone.
pub fn error_cases() -> Result<(), String> {
    use super::MatmulError;
    use crate::quant::QuantError;
    let w = random_tensor(GgmlType::Q4_0, 4 * 64, 1);
    let x = vec![0.5f32; 2 * 64];
    let mut y = vec![7.0f32; 16];
    let call = |ty, w: &[u8], cols, rows: Range<usize>, x: &[f32], n, y: &mut [f32], stride| {
        matmul(ty, w, 4, cols, rows, x, n, y, stride, Write::Store)
    };
    type Check = (&'static str, Result<(), MatmulError>, fn(&MatmulError) -> bool);
    let checks: Vec<Check> = vec![
        (
            "unsupported type",
            call(GgmlType::IQ2XXS, &w, 64, 0..4, &x, 2, &mut y, 4),
            |e| matches!(e, MatmulError::Quant(QuantError::Unsupported(_))),
        ),
        (
            "partial block",
            call(GgmlType::Q4_0, &w, 48, 0..4, &x, 2, &mut y, 4),
            |e| matches!(e, MatmulError::Quant(QuantError::PartialBlock { .. })),
        ),
        (
            "short weights",
            call(GgmlType::Q4_0, &w[1..], 64, 0..4, &x, 2, &mut y, 4),
            |e| matches!(e, MatmulError::Quant(QuantError::Length { .. })),
        ),
        (
            "rows past the matrix",
            call(GgmlType::Q4_0, &w, 64, 2..5, &x, 2, &mut y, 5),
            |e| matches!(e, MatmulError::Rows { .. }),
        ),
        (
            "short x",
            call(GgmlType::Q4_0, &w, 64, 0..4, &x[1..], 2, &mut y, 4),
            |e| matches!(e, MatmulError::Input { .. }),
        ),
        (
            "overlapping outputs",
            call(GgmlType::Q4_0, &w, 64, 0..4, &x, 2, &mut y, 3),
            |e| matches!(e, MatmulError::Stride { .. }),
        ),
        (
            "short y",
            call(GgmlType::Q4_0, &w, 64, 0..4, &x, 2, &mut y[..7], 4),
            |e| matches!(e, MatmulError::Output { .. }),
        ),
    ];
    for (what, got, ok) in checks {
        match got {
            Err(e) if ok(&e) => {}
            other => return Err(format!("{what}: got {other:?}")),
        }
    }
    if y.iter().any(|&v| v != 7.0) {
        return Err("a rejected call wrote y".into());
    }
    Ok(())
}

/// Formats of the benchmark: SmolLM2's (Q4_1, Q8_0), Gemma 3 270M
/// Q4_K_M's (Q5_0, Q4_K, Q6_K, Q8_0) and F16.
/// Shapes: SmolLM2-135M's matrices as rows ×
/// cols (ffn_down 576 × 1536, ffn_up/gate 1536 × 576, the 49152-row output).
/// 576 columns are not whole 256-blocks, so the k-quants run 768 instead
/// (llama.cpp stores those SmolLM2 tensors in a 32-block fallback type).
pub const BENCH_TYPES: [GgmlType; 6] = [
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q6K,
    GgmlType::F16,
];
pub const BENCH_SHAPES: [(usize, usize); 3] = [(576, 1536), (1536, 576), (49152, 576)];

/// One benchmark line per (type, shape, n_tokens ∈ {1, 64}): best of a few
/// timed calls; GB/s counts weight bytes, GMAC/s counts rows × cols × tokens.
/// `types`/`shapes`: e.g. [`BENCH_TYPES`] / [`BENCH_SHAPES`] (shapes as rows ×
/// cols; cols round up to whole blocks). `now`: a clock in seconds.
/// `filter`: keep only lines whose label contains it.
pub fn bench(
    types: &[GgmlType],
    shapes: &[(usize, usize)],
    now: &dyn Fn() -> f64,
    filter: &str,
    emit: &mut dyn FnMut(String),
) {
    emit(format!("cpu matmul bench ({} path)", super::simd::PATH));
    for &ty in types {
        for &(n_rows, cols) in shapes {
            let cols = cols.next_multiple_of(ty.block_elems() as usize);
            let w = random_tensor(ty, n_rows * cols, 5);
            for n_tokens in [1usize, 64] {
                let label = format!("{ty:>5} {n_rows:>5}x{cols:<5} tokens {n_tokens:>2}");
                if !label.contains(filter) {
                    continue;
                }
                let x = random_f32(n_tokens * cols, 6);
                let mut y = vec![0.0f32; n_tokens * n_rows];
                let macs = n_rows as f64 * cols as f64 * n_tokens as f64;
                let reps = ((2e8 / macs) as usize).clamp(1, 50);
                let mut best = f64::INFINITY;
                for _ in 0..reps.max(2) {
                    let t = now();
                    let r = matmul(
                        ty,
                        &w,
                        n_rows,
                        cols,
                        0..n_rows,
                        &x,
                        n_tokens,
                        &mut y,
                        n_rows,
                        Write::Store,
                    );
                    let dt = now() - t;
                    if let Err(e) = r {
                        emit(format!("{label}: {e}"));
                        break;
                    }
                    best = best.min(dt);
                }
                emit(format!(
                    "{label}: {:8.3} ms  {:6.2} GB/s of weights  {:6.2} GMAC/s",
                    best * 1e3,
                    w.len() as f64 / best / 1e9,
                    macs / best / 1e9
                ));
            }
        }
    }
}

/// SmolLM2-135M-Instruct Q4_1's matrices per layer as (rows, cols), 30
/// layers, then the tied Q8_0 output (49152 × 576).
const SMOLLM2_LAYER: [(usize, usize); 7] = [
    (576, 576),  // attn_q
    (192, 576),  // attn_k
    (192, 576),  // attn_v
    (576, 576),  // attn_output
    (1536, 576), // ffn_gate
    (1536, 576), // ffn_up
    (576, 1536), // ffn_down
];

/// Every matmul of one SmolLM2-135M Q4_1 forward step (random weights of
/// the real types and shapes, 98 MB), for 1 and 64 tokens: the matmul share
/// of a decode step and of a 64-token prefill, single-threaded.
pub fn bench_smollm2(now: &dyn Fn() -> f64, emit: &mut dyn FnMut(String)) {
    let mut mats: Vec<(GgmlType, usize, usize, Vec<u8>)> = Vec::new();
    for layer in 0..30u64 {
        for (i, &(r, c)) in SMOLLM2_LAYER.iter().enumerate() {
            let w = random_tensor(GgmlType::Q4_1, r * c, 100 * layer + i as u64);
            mats.push((GgmlType::Q4_1, r, c, w));
        }
    }
    mats.push((
        GgmlType::Q8_0,
        49152,
        576,
        random_tensor(GgmlType::Q8_0, 49152 * 576, 7),
    ));
    let bytes: usize = mats.iter().map(|m| m.3.len()).sum();
    let macs: usize = mats.iter().map(|m| m.1 * m.2).sum();
    emit(format!(
        "SmolLM2-135M Q4_1 matmuls ({} path): {} matrices, {:.1} MB, {:.1} M MAC per token",
        super::simd::PATH,
        mats.len(),
        bytes as f64 / 1e6,
        macs as f64 / 1e6
    ));
    for n_tokens in [1usize, 64] {
        let x = random_f32(n_tokens * 1536, 9);
        let mut y = vec![0.0f32; n_tokens * 49152];
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = now();
            for (ty, r, c, w) in &mats {
                let xs = &x[..n_tokens * c];
                if let Err(e) = matmul(
                    *ty,
                    w,
                    *r,
                    *c,
                    0..*r,
                    xs,
                    n_tokens,
                    &mut y,
                    *r,
                    Write::Store,
                ) {
                    emit(format!("error: {e}"));
                    return;
                }
            }
            best = best.min(now() - t);
        }
        emit(format!(
            "  {n_tokens:>2} tokens: {:8.2} ms per step = {:7.1} tok/s (matmuls only), {:5.2} GB/s of weights, {:5.2} GMAC/s",
            best * 1e3,
            n_tokens as f64 / best,
            bytes as f64 / best / 1e9,
            macs as f64 * n_tokens as f64 / best / 1e9
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_reference_for_every_format() {
        let cases = cases();
        assert!(cases.len() >= 15 * 16);
        let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
        assert!(
            failures.is_empty(),
            "{} of {} cases failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn matmul_is_exact_at_the_integer_extremes() {
        extreme_cases().unwrap();
    }

    #[test]
    fn matmul_rejects_bad_requests() {
        error_cases().unwrap();
    }

    /// `cargo test --lib cpu::matmul::check::tests::bench_native -- --ignored --nocapture`
    /// (FILTER=... to pick lines).
    #[test]
    #[ignore = "benchmark: prints timings"]
    fn bench_native() {
        let start = std::time::Instant::now();
        let filter = std::env::var("FILTER").unwrap_or_default();
        let now = || start.elapsed().as_secs_f64();
        bench(&BENCH_TYPES, &BENCH_SHAPES, &now, &filter, &mut |l| {
            println!("{l}")
        });
    }
}
