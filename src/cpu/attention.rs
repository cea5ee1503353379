//! Causal attention over an f16 KV cache on the CPU backend: the
//! arithmetic of shaders/flash_attention.wgsl (and of the decode kernel
//! attention.wgsl) with the same masks, run on host memory.
//!
//! - **KV cache in f16**, as on the GPU and in llama.cpp (whose default
//!   cache type is F16, `common/common.h`): [`store`] rounds each K/V value
//!   to nearest, ties to even (IEEE 754's default; `half::f16::from_f32`);
//!   the kernel widens each row exactly on load. Half the memory and the
//!   bytes read per step of an f32 cache.
//! - **Blocked and online (flash-style)**: for each KV head, query tokens go
//!   in blocks of [`Q_BLOCK`] (all the query heads of the group together), keys
//!   in tiles of [`K_TILE`]: each K/V row of a tile is widened once per block
//!   and read by every query row of it, and each row keeps a running max,
//!   sum and output (the online softmax of Milakov & Gimelshein 2018, as in
//!   FlashAttention), so scratch is bounded by the block and tile sizes,
//!   not by the context length.
//! - **SIMD over the head dimension** (`simd`: wasm SIMD128 when built with
//!   `+simd128`, autovectorized lane loops otherwise): dot products of a
//!   query against four keys at once, the weighted sum of four V rows at
//!   once, and a polynomial exp.
//!
//! Masks: token t at position p = pos0 + t attends to positions
//! [p + 1 − window, p] (all of [0, p] without a window; a non-causal shape,
//! BERT's, to all of [0, pos0 + n_tokens), or with a window those within
//! window / 2 of p on both sides, EmbeddingGemma's), position j stored
//! in slot j % cache_len (sliding-window layers keep a ring); query head h
//! reads KV head h / (n_heads / n_kv_heads) (grouped-query attention).

#[doc(hidden)]
#[path = "attention/check.rs"]
pub mod check;
#[path = "attention/simd.rs"]
pub mod simd;

use half::f16;
use half::slice::HalfFloatSliceExt;

/// Query tokens per block: each K/V tile is widened once per block.
pub const Q_BLOCK: usize = 16;
/// Keys per tile: the widened K and V rows a block reads in one pass.
pub const K_TILE: usize = 64;

/// The heads of one attention call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// 0 for full attention, else the sliding-window length: causal, the
    /// last `window` positions; non-causal, within `window / 2` positions on
    /// both sides (llama.cpp `LLAMA_SWA_TYPE_SYMMETRIC`, EmbeddingGemma).
    pub window: usize,
    /// Multiplies q·k (1/√head_dim, or the model's own).
    pub scale: f32,
    /// False: every token attends to every position of the step and before
    /// it (bidirectional encoders, llama.cpp `causal_attn = false`).
    pub causal: bool,
}

impl Shape {
    /// Elements of one cache position: n_kv_heads · head_dim.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Positions token `t` of a step of `n_tokens` at `pos0` attends to.
    fn keys(&self, pos0: usize, t: usize, n_tokens: usize) -> std::ops::Range<usize> {
        let pos = pos0 + t;
        match (self.causal, self.window) {
            (true, 0) => 0..pos + 1,
            (true, w) => (pos + 1).saturating_sub(w)..pos + 1,
            (false, 0) => 0..pos0 + n_tokens,
            // llama.cpp `is_masked_swa`: |key − query| <= window / 2.
            (false, w) => pos.saturating_sub(w / 2)..(pos + w / 2 + 1).min(pos0 + n_tokens),
        }
    }
}

/// What can be wrong with an [`attention`] or [`store`] request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttentionError {
    #[error("attention heads: {0}")]
    Heads(String),
    #[error("{what} has {got} elements; {expected} needed")]
    Length { what: &'static str, expected: usize, got: usize },
    #[error("a cache of {cache_len} positions cannot hold positions {first}..={last} at once")]
    Ring { cache_len: usize, first: usize, last: usize },
}

/// Scratch of [`attention`], reused between calls: its size depends on the
/// heads ([`Q_BLOCK`] · group · head_dim + 2 · [`K_TILE`] · head_dim floats),
/// never on the context length.
#[derive(Default)]
pub struct Scratch {
    /// (K_TILE, head_dim) widened K / V rows of the tile.
    k: Vec<f32>,
    v: Vec<f32>,
    /// (K_TILE) one row's scores, then its weights.
    p: Vec<f32>,
    /// (Q_BLOCK · group, head_dim) running outputs; (Q_BLOCK · group) running max and sum.
    o: Vec<f32>,
    m: Vec<f32>,
    l: Vec<f32>,
}

impl Scratch {
    /// Floats held.
    pub fn len(&self) -> usize {
        self.k.len() + self.v.len() + self.p.len() + self.o.len() + self.m.len() + self.l.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Writes `src` (f32) into `dst` (f16), each value rounded to nearest, ties
/// to even; overflow goes to ±inf, NaN stays NaN. Lengths must match.
pub fn store(src: &[f32], dst: &mut [f16]) -> Result<(), AttentionError> {
    if src.len() != dst.len() {
        return Err(AttentionError::Length { what: "the f16 destination", expected: src.len(), got: dst.len() });
    }
    dst.convert_from_f32_slice(src);
    Ok(())
}

/// Widens f16 values to f32, exactly (`src.len() == dst.len()`).
pub fn widen(src: &[f16], dst: &mut [f32]) {
    simd::f16_to_f32(bytemuck::cast_slice(&src[..dst.len()]), dst);
}

/// Causal attention of a step's `n_tokens` query tokens at positions
/// pos0.. over one layer's cache (masks and GQA: see the module docs).
///
/// `q`, `out`: (n_tokens, n_heads · head_dim) f32, token-major (longer
/// buffers are fine); `k`, `v`: (cache_len, n_kv_heads · head_dim) f16,
/// already holding this step's positions. Errors, before anything is
/// written: heads that do not divide, short buffers, or a cache too short
/// to hold every position the step reads (pos0 + n_tokens − first ≤ cache_len).
#[allow(clippy::too_many_arguments)]
pub fn attention(q: &[f32], k: &[f16], v: &[f16], cache_len: usize, pos0: usize, n_tokens: usize, s: &Shape, out: &mut [f32], scratch: &mut Scratch) -> Result<(), AttentionError> {
    check(q, k, v, cache_len, pos0, n_tokens, s, out)?;
    // SAFETY: checked; `out` is borrowed whole for the call.
    unsafe { attention_units(q, k, v, cache_len, pos0, n_tokens, s, out.as_mut_ptr(), 0..units(s, n_tokens), scratch) };
    Ok(())
}

/// Independent units of an [`attention`] call: one KV head's group of
/// query heads over one block of [`Q_BLOCK`] query tokens each. Threads may
/// split them in any way (`super::pool`): a unit's arithmetic does not
/// depend on which others run, or where.
pub fn units(s: &Shape, n_tokens: usize) -> usize {
    s.n_kv_heads * n_tokens.div_ceil(Q_BLOCK)
}

/// Runs `units` of [`attention`]: unit u is KV head `u % n_kv_heads`, query
/// tokens `(u / n_kv_heads) · Q_BLOCK..` (so consecutive units are different
/// heads of one block, and a round-robin split of a causal step gives every
/// thread blocks early and late). Each writes only its own rows of `out`.
///
/// # Safety
/// The request passed [`check`]; `out` points to the (n_tokens, n_heads ·
/// head_dim) f32 outputs, and no other thread runs the same unit meanwhile.
#[allow(clippy::too_many_arguments)]
pub unsafe fn attention_units(q: &[f32], k: &[f16], v: &[f16], cache_len: usize, pos0: usize, n_tokens: usize, s: &Shape, out: *mut f32, units: impl Iterator<Item = usize>, scratch: &mut Scratch) {
    if n_tokens == 0 {
        return;
    }
    let (hd, kv_dim) = (s.head_dim, s.kv_dim());
    let width = s.n_heads * hd;
    let group = s.n_heads / s.n_kv_heads;
    let rows = Q_BLOCK.min(n_tokens) * group;
    let grow = |b: &mut Vec<f32>, n: usize| {
        if b.len() < n {
            b.resize(n, 0.0);
        }
    };
    let sc = scratch;
    grow(&mut sc.k, K_TILE * hd);
    grow(&mut sc.v, K_TILE * hd);
    grow(&mut sc.p, K_TILE);
    grow(&mut sc.o, rows * hd);
    grow(&mut sc.m, rows);
    grow(&mut sc.l, rows);
    for u in units {
        let (g, t0) = (u % s.n_kv_heads, (u / s.n_kv_heads) * Q_BLOCK);
        if t0 >= n_tokens {
            continue;
        }
        let t1 = (t0 + Q_BLOCK).min(n_tokens);
        let rows = (t1 - t0) * group;
        sc.o[..rows * hd].fill(0.0);
        sc.m[..rows].fill(f32::NEG_INFINITY);
        sc.l[..rows].fill(0.0);
        let (lo, hi) = (s.keys(pos0, t0, n_tokens).start, s.keys(pos0, t1 - 1, n_tokens).end);
        for j0 in (lo..hi).step_by(K_TILE) {
            let j1 = (j0 + K_TILE).min(hi);
            for j in j0..j1 {
                let at = (j % cache_len) * kv_dim + g * hd;
                let r = (j - j0) * hd;
                widen(&k[at..at + hd], &mut sc.k[r..r + hd]);
                widen(&v[at..at + hd], &mut sc.v[r..r + hd]);
            }
            for t in t0..t1 {
                let keys = s.keys(pos0, t, n_tokens);
                let (a, b) = (keys.start.max(j0), keys.end.min(j1));
                if a >= b {
                    continue;
                }
                for hh in 0..group {
                    let r = (t - t0) * group + hh;
                    let qr = &q[t * width + (g * group + hh) * hd..][..hd];
                    let tile = Tile { k: &sc.k[(a - j0) * hd..(b - j0) * hd], v: &sc.v[(a - j0) * hd..(b - j0) * hd], hd };
                    tile.attend(qr, s.scale, &mut sc.p[..b - a], &mut sc.o[r * hd..(r + 1) * hd], &mut sc.m[r], &mut sc.l[r]);
                }
            }
        }
        for t in t0..t1 {
            for hh in 0..group {
                let r = (t - t0) * group + hh;
                // This unit's own row of out (the caller's contract).
                let dst = std::slice::from_raw_parts_mut(out.add(t * width + (g * group + hh) * hd), hd);
                let inv = 1.0 / sc.l[r];
                dst.iter_mut().zip(&sc.o[r * hd..(r + 1) * hd]).for_each(|(d, o)| *d = o * inv);
            }
        }
    }
}

/// Widened K and V rows (n, head_dim) a query row reads in one pass.
struct Tile<'a> {
    k: &'a [f32],
    v: &'a [f32],
    hd: usize,
}

/// Row `j` of (n, hd) rows.
fn row(b: &[f32], hd: usize, j: usize) -> &[f32] {
    &b[j * hd..(j + 1) * hd]
}

impl Tile<'_> {
    /// One online-softmax step of one query row over this tile: scores
    /// p = scale · q·k_j, new max m' = max(m, p), rescale of the running
    /// (o, l) by exp(m − m'), then o += Σ exp(p_j − m')·v_j, l += Σ exp(p_j − m').
    fn attend(&self, q: &[f32], scale: f32, p: &mut [f32], o: &mut [f32], m: &mut f32, l: &mut f32) {
        let hd = self.hd;
        let n = p.len();
        let mut j = 0;
        while j + 4 <= n {
            let d = simd::dot_f32(q, [row(self.k, hd, j), row(self.k, hd, j + 1), row(self.k, hd, j + 2), row(self.k, hd, j + 3)]);
            p[j..j + 4].iter_mut().zip(d).for_each(|(p, d)| *p = d * scale);
            j += 4;
        }
        for (jj, pj) in p.iter_mut().enumerate().skip(j) {
            *pj = simd::dot_f32(q, [row(self.k, hd, jj)])[0] * scale;
        }
        let tile_max = p.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let m_new = m.max(tile_max);
        if *m > f32::NEG_INFINITY && *m < m_new {
            let c = (*m - m_new).exp();
            simd::scale(o, c);
            *l *= c;
        }
        *m = m_new;
        *l += simd::exp_sub_sum(p, m_new);
        let mut j = 0;
        while j + 4 <= n {
            simd::axpy(o, [p[j], p[j + 1], p[j + 2], p[j + 3]], [row(self.v, hd, j), row(self.v, hd, j + 1), row(self.v, hd, j + 2), row(self.v, hd, j + 3)]);
            j += 4;
        }
        for (jj, &pj) in p.iter().enumerate().skip(j) {
            simd::axpy(o, [pj], [row(self.v, hd, jj)]);
        }
    }
}

/// The checks [`attention`] makes (see there), for callers that split it
/// into [`attention_units`].
#[allow(clippy::too_many_arguments)]
pub fn check(q: &[f32], k: &[f16], v: &[f16], cache_len: usize, pos0: usize, n_tokens: usize, s: &Shape, out: &[f32]) -> Result<(), AttentionError> {
    if s.head_dim == 0 || s.n_kv_heads == 0 || s.n_heads == 0 || s.n_heads % s.n_kv_heads != 0 {
        return Err(AttentionError::Heads(format!("{} query heads, {} KV heads of {}", s.n_heads, s.n_kv_heads, s.head_dim)));
    }
    if n_tokens == 0 {
        return Ok(());
    }
    let width = s.n_heads * s.head_dim;
    let cache = cache_len.checked_mul(s.kv_dim());
    for (what, got, expected) in [
        ("q", q.len(), n_tokens.checked_mul(width)),
        ("out", out.len(), n_tokens.checked_mul(width)),
        ("the K cache", k.len(), cache),
        ("the V cache", v.len(), cache),
    ] {
        match expected {
            Some(e) if got >= e => {}
            e => return Err(AttentionError::Length { what, expected: e.unwrap_or(usize::MAX), got }),
        }
    }
    let last = pos0.checked_add(n_tokens).ok_or(AttentionError::Heads(format!("{n_tokens} positions from {pos0} overflow")))? - 1;
    let first = s.keys(pos0, 0, n_tokens).start;
    if last - first >= cache_len {
        return Err(AttentionError::Ring { cache_len, first, last });
    }
    Ok(())
}
