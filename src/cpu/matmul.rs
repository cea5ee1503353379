//! Matrix × activations with the weights in their GGUF blocks.
//!
//! [`matmul`] computes `y = W · x` for a batch of tokens, for every weight
//! format tabllm loads ([`crate::quant::SUPPORTED`]), the way ggml-cpu does:
//!
//! - Quantized weights: the activations are quantized once per call to 16
//!   bits (`act.rs`: 32-blocks for the 32-weight formats, 256-blocks with
//!   16-sums for the k-quants and IQ4_XS; ggml quantizes to 8 bits, whose
//!   ~0.4 % error per matmul moved 30-layer models' logits by ~0.3, past the
//!   0.1 the f32 references allow), each weight block is unpacked to i8 lanes
//!   once per tile of [`TILE`] tokens, and exact i32 dot products per
//!   sub-block with f32 scale arithmetic give the result (`legacy.rs`,
//!   `kquants.rs`; the i32 bounds are derived there and in `simd`). Rows go
//!   in cache blocks of ~16 KiB of weights so a tile's activations stay in L1.
//! - F32 / F16 / BF16 weights: f32 dot products, each row converted once per
//!   call (`float.rs`).
//!
//! The vector work goes through [`simd`]: `core::arch::wasm32` SIMD128 when
//! built for wasm with `+simd128` (`i32x4_dot_i16x8` on the i16 activations
//! as stored), plain autovectorizable loops otherwise. A `+relaxed-simd`
//! build runs the same SIMD128 code: relaxed SIMD's integer dot
//! (`i32x4_relaxed_dot_i8x16_i7x16_add`) takes 8-bit operands only, so it
//! has no use with 16-bit activations.
//!
//! Accuracy: the 16-bit activations add at most
//! `Σ_c |W[r, c]| · amax_block(c) / 65534` to row r's result
//! (amax_block(c): largest |x| of column c's activation block); [`check`]
//! holds the tests that bound it.
//!
//! Sources: the block decompositions of ggml-cpu's `ggml_vec_dot_*_q8_*`
//! (with 16-bit instead of 8-bit activation quants)
//! (`ggml/src/ggml-cpu/quants.c`, and `arch/wasm/quants.c` for SIMD128);
//! block layouts from [`crate::quant`].
//!
//! Scratch: the quantized activations and the float row live in a
//! thread-local buffer that grows to the largest call and is reused, so
//! steady-state calls allocate nothing. Each thread (wasm worker) has its own.

// Explicit paths: tools/cpu-kernel-check compiles this file alone by
// #[path], where children would otherwise be looked up beside it.
#[path = "matmul/act.rs"]
mod act;
#[doc(hidden)]
#[path = "matmul/check.rs"]
pub mod check;
#[path = "matmul/float.rs"]
mod float;
#[path = "matmul/kquants.rs"]
mod kquants;
#[path = "matmul/legacy.rs"]
mod legacy;
#[path = "matmul/simd.rs"]
pub mod simd;

use crate::quant::{is_supported, matrix_row_bytes, GgmlType, QuantError};
use act::{BlockQ16K, BlockQ16_1};
use std::cell::RefCell;
use std::ops::Range;

/// How [`matmul`] writes y.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// `y = W · x`.
    Store,
    /// `y += W · x` (e.g. a residual add).
    Accumulate,
}

/// What can be wrong with a [`matmul`] request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatmulError {
    /// Unsupported type, a partial block, or `w` not `n_rows` rows long.
    #[error(transparent)]
    Quant(#[from] QuantError),
    #[error("rows {start}..{end} are not inside the matrix's {n_rows} rows")]
    Rows {
        start: usize,
        end: usize,
        n_rows: usize,
    },
    #[error("x has {got} floats; {n_tokens} tokens × {cols} columns need {expected}")]
    Input {
        n_tokens: usize,
        cols: usize,
        expected: usize,
        got: usize,
    },
    #[error("y_stride {stride} is below the end of the rows written ({end}): tokens' outputs would overlap")]
    Stride { stride: usize, end: usize },
    #[error(
        "y has {got} floats; rows ..{end} of {n_tokens} tokens {stride} apart need {expected}"
    )]
    Output {
        end: usize,
        n_tokens: usize,
        stride: usize,
        expected: usize,
        got: usize,
    },
}

/// Tokens per register tile: each weight block is unpacked once per this
/// many tokens (the rest of a batch goes one token at a time).
pub const TILE: usize = 4;

/// One weight format's kernel: a block of weights against `T` tokens'
/// activation blocks.
trait BlockKernel {
    /// The activation block this format dots with ([`BlockQ16_1`] or [`BlockQ16K`]).
    type Act;
    /// Weights per block.
    const ELEMS: usize;
    /// Bytes per block (the GGUF block size).
    const BYTES: usize;
    /// Adds `Σ_i w[i] · x_t[i]` over this block for each token t to
    /// `acc[t]` (the scaled integer dot, kept in vector lanes) and `extra[t]`
    /// (scalar terms: the mins); `w` is exactly `BYTES` long.
    fn dot<const T: usize>(
        w: &[u8],
        x: [&Self::Act; T],
        acc: &mut [simd::Acc; T],
        extra: &mut [f32; T],
    );
}

#[derive(Default)]
struct Scratch {
    q16_1: Vec<BlockQ16_1>,
    q16_k: Vec<BlockQ16K>,
    row: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `y[t · y_stride + r] = (or +=) Σ_c W[r, c] · x[t · cols + c]` for `t` in
/// `0..n_tokens` and `r` in `rows`; other elements of `y` are left alone.
///
/// - `w`: the whole tensor's GGUF bytes, row-major, `n_rows` × `cols`
///   elements of `ty` (each row a whole number of blocks; ggml's
///   `ne[0] == cols`).
/// - `rows`: the output rows to compute; a sub-range lets several workers
///   split one matrix.
/// - `x`: (n_tokens, cols) f32 activations, at least `n_tokens · cols` long.
/// - `y`: at least `(n_tokens − 1) · y_stride + rows.end` long;
///   `y_stride ≥ rows.end` when `n_tokens > 1`.
///
/// Quantized `ty` quantizes `x` to 16 bits first (see the module doc for the
/// error this adds); float `ty` uses `x` as is.
///
/// Errors: `ty` not in [`crate::quant::SUPPORTED`], `cols` not a whole
/// number of blocks, `w.len() != n_rows · row bytes`, `rows` past `n_rows`,
/// `x` or `y` too short, overlapping outputs. Nothing is written on error.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    ty: GgmlType,
    w: &[u8],
    n_rows: usize,
    cols: usize,
    rows: Range<usize>,
    x: &[f32],
    n_tokens: usize,
    y: &mut [f32],
    y_stride: usize,
    write: Write,
) -> Result<(), MatmulError> {
    if !is_supported(ty) {
        return Err(QuantError::Unsupported(ty).into());
    }
    let row_bytes = matrix_row_bytes(ty, cols, n_rows, w.len())?;
    if rows.start > rows.end || rows.end > n_rows {
        return Err(MatmulError::Rows {
            start: rows.start,
            end: rows.end,
            n_rows,
        });
    }
    let x_len = n_tokens.saturating_mul(cols);
    if x.len() < x_len {
        return Err(MatmulError::Input {
            n_tokens,
            cols,
            expected: x_len,
            got: x.len(),
        });
    }
    if n_tokens == 0 || rows.is_empty() {
        return Ok(());
    }
    if n_tokens > 1 && y_stride < rows.end {
        return Err(MatmulError::Stride {
            stride: y_stride,
            end: rows.end,
        });
    }
    let y_len = (n_tokens - 1)
        .checked_mul(y_stride)
        .and_then(|v| v.checked_add(rows.end))
        .unwrap_or(usize::MAX);
    if y.len() < y_len {
        return Err(MatmulError::Output {
            end: rows.end,
            n_tokens,
            stride: y_stride,
            expected: y_len,
            got: y.len(),
        });
    }
    let x = &x[..x_len];
    let out = Out {
        y,
        stride: y_stride,
        write,
    };
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        use GgmlType::*;
        match ty {
            F32 | F16 | BF16 => float::run(
                ty, w, cols, rows, x, n_tokens, out.y, y_stride, write, &mut s.row,
            ),
            Q4_0 => with_q16_1::<legacy::Q4_0>(w, row_bytes, rows, x, n_tokens, out, s),
            Q4_1 => with_q16_1::<legacy::Q4_1>(w, row_bytes, rows, x, n_tokens, out, s),
            Q5_0 => with_q16_1::<legacy::Q5_0>(w, row_bytes, rows, x, n_tokens, out, s),
            Q5_1 => with_q16_1::<legacy::Q5_1>(w, row_bytes, rows, x, n_tokens, out, s),
            Q8_0 => with_q16_1::<legacy::Q8_0>(w, row_bytes, rows, x, n_tokens, out, s),
            IQ4NL => with_q16_1::<legacy::IQ4NL>(w, row_bytes, rows, x, n_tokens, out, s),
            Q2K => with_q16_k::<kquants::Q2K>(w, row_bytes, rows, x, n_tokens, out, s),
            Q3K => with_q16_k::<kquants::Q3K>(w, row_bytes, rows, x, n_tokens, out, s),
            Q4K => with_q16_k::<kquants::Q4K>(w, row_bytes, rows, x, n_tokens, out, s),
            Q5K => with_q16_k::<kquants::Q5K>(w, row_bytes, rows, x, n_tokens, out, s),
            Q6K => with_q16_k::<kquants::Q6K>(w, row_bytes, rows, x, n_tokens, out, s),
            IQ4XS => with_q16_k::<kquants::IQ4XS>(w, row_bytes, rows, x, n_tokens, out, s),
            _ => unreachable!("is_supported lists every type matched here"),
        }
    });
    Ok(())
}

/// Where results go: `y[t · stride + r]`, stored or added.
struct Out<'a> {
    y: &'a mut [f32],
    stride: usize,
    write: Write,
}

#[inline(always)]
fn put(y: &mut [f32], i: usize, v: f32, write: Write) {
    match write {
        Write::Store => y[i] = v,
        Write::Accumulate => y[i] += v,
    }
}

fn with_q16_1<K: BlockKernel<Act = BlockQ16_1>>(
    w: &[u8],
    row_bytes: usize,
    rows: Range<usize>,
    x: &[f32],
    n_tokens: usize,
    out: Out,
    s: &mut Scratch,
) {
    debug_assert_eq!(K::ELEMS, 32);
    act::quantize_q16_1(x, &mut s.q16_1);
    run_blocks::<K>(w, row_bytes, rows, &s.q16_1, n_tokens, out);
}

fn with_q16_k<K: BlockKernel<Act = BlockQ16K>>(
    w: &[u8],
    row_bytes: usize,
    rows: Range<usize>,
    x: &[f32],
    n_tokens: usize,
    out: Out,
    s: &mut Scratch,
) {
    debug_assert_eq!(K::ELEMS, 256);
    act::quantize_q16_k(x, &mut s.q16_k);
    run_blocks::<K>(w, row_bytes, rows, &s.q16_k, n_tokens, out);
}

/// Weight bytes per cache block of rows: a block of rows stays in L1 while
/// every token tile passes over it.
const ROW_BLOCK_BYTES: usize = 16 * 1024;

/// The quantized driver. Rows go in blocks of about [`ROW_BLOCK_BYTES`] of
/// weights; within a block, tiles of [`TILE`] tokens (each tile's
/// activations stay in L1 across the block's rows) and then rows (each weight
/// block unpacked once per tile). Every weight byte comes from memory once
/// per call. `acts`: (n_tokens, blocks per row) activation blocks.
fn run_blocks<K: BlockKernel>(
    w: &[u8],
    row_bytes: usize,
    rows: Range<usize>,
    acts: &[K::Act],
    n_tokens: usize,
    out: Out,
) {
    debug_assert_eq!(row_bytes % K::BYTES, 0);
    let bpr = row_bytes / K::BYTES;
    let Out { y, stride, write } = out;
    let rows_per_block = (ROW_BLOCK_BYTES / row_bytes.max(1)).max(1);
    let mut r0 = rows.start;
    while r0 < rows.end {
        let r1 = (r0 + rows_per_block).min(rows.end);
        let mut t0 = 0;
        while t0 + TILE <= n_tokens {
            let tile = &acts[t0 * bpr..(t0 + TILE) * bpr];
            for r in r0..r1 {
                let wrow = &w[r * row_bytes..(r + 1) * row_bytes];
                let sums = row_dot::<K, TILE>(wrow, tile, bpr);
                for (i, v) in sums.into_iter().enumerate() {
                    put(y, (t0 + i) * stride + r, v, write);
                }
            }
            t0 += TILE;
        }
        for t in t0..n_tokens {
            let one = &acts[t * bpr..(t + 1) * bpr];
            for r in r0..r1 {
                let wrow = &w[r * row_bytes..(r + 1) * row_bytes];
                let [v] = row_dot::<K, 1>(wrow, one, bpr);
                put(y, t * stride + r, v, write);
            }
        }
        r0 = r1;
    }
}

/// One weight row against `T` consecutive tokens' activations (`acts`:
/// `T · bpr` blocks).
#[inline(always)]
fn row_dot<K: BlockKernel, const T: usize>(wrow: &[u8], acts: &[K::Act], bpr: usize) -> [f32; T] {
    let mut acc = [simd::ACC_ZERO; T];
    let mut extra = [0.0f32; T];
    for (b, wb) in wrow.chunks_exact(K::BYTES).enumerate() {
        let x: [&K::Act; T] = std::array::from_fn(|t| &acts[t * bpr + b]);
        K::dot::<T>(wb, x, &mut acc, &mut extra);
    }
    std::array::from_fn(|t| simd::acc_sum(acc[t]) + extra[t])
}
