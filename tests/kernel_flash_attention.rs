//! Flash attention (`shaders/flash_attention.wgsl`) against a CPU reference on
//! seeded inputs, on the f32 path and (when the adapter has shader-f16) the
//! f16 cache path: single tokens, short and long steps spanning several token
//! tiles, an empty and a filled cache before the step, the GQA shapes of the
//! supported models, head dims 64 to 512 (and 80, whose dims do not fill the
//! lanes), sliding windows over ring caches that wrap; and against the
//! existing `attention` kernel on the same cache. Both layouts
//! (`PrefillKernels::Tiled` for GPUs, `TokenLanes` for CPU adapters) run every case.

mod common;
use common::*;
use tabllm::gpu::{GpuContext, PrefillKernels, Step};
use tabllm::kernels::{self, AttentionShape, FlashTile, FLASH_MAX_THREADS, FLASH_SHARED_BYTES};

/// The reference rounds K and V as the cache stores them, so what is left is
/// f32 arithmetic in another order and the GPU's exp (lavapipe: worst seen
/// 2e-7).
const TOL_VS_CPU: f32 = 2e-6;
/// Both kernels read the same cache: sums in another order, the same exp
/// (lavapipe: worst seen 1.5e-7).
const TOL_VS_ATTENTION: f32 = 1e-6;

/// One test case: a step of `n_tokens` from position `pos0` over a cache of
/// `n_cache` slots (None: as long as the context).
struct Case {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    window: u32,
    pos0: usize,
    n_tokens: usize,
    n_cache: Option<usize>,
    /// False: every token attends to the whole step (BERT).
    causal: bool,
}

impl Case {
    fn shape(&self) -> AttentionShape {
        let scale = 1.0 / (self.head_dim as f32).sqrt();
        AttentionShape { n_heads: self.n_heads, n_kv_heads: self.n_kv_heads, head_dim: self.head_dim, window: self.window, scale, causal: self.causal }
    }
    fn kv_len(&self) -> usize {
        self.pos0 + self.n_tokens
    }
    fn n_cache(&self) -> usize {
        self.n_cache.unwrap_or(self.kv_len())
    }
}

/// A step's buffers: caches as kv_store leaves them after this and every
/// earlier step (slots no position reached hold NaN, so reading one fails),
/// q, and out filled with NaN so a row the kernel skips fails.
struct Inputs {
    step: wgpu::Buffer,
    q: Vec<f32>,
    qb: wgpu::Buffer,
    kc: wgpu::Buffer,
    vc: wgpu::Buffer,
    out: wgpu::Buffer,
    /// K and V of every position as the cache holds them (f16-rounded on the f16 path).
    k_all: Vec<f32>,
    v_all: Vec<f32>,
}

fn nan_cache(ctx: &GpuContext, elems: usize) -> wgpu::Buffer {
    if ctx.has_f16() {
        let nan = half::f16::NAN.to_bits().to_le_bytes();
        buffer_bytes(ctx, &nan.repeat(elems))
    } else {
        buffer_f32(ctx, &vec![f32::NAN; elems])
    }
}

fn inputs(ctx: &GpuContext, c: &Case, seed: u64) -> Inputs {
    let s = c.shape();
    let (kv_dim, width, n_cache) = (s.kv_dim() as usize, (s.n_heads * s.head_dim) as usize, c.n_cache());
    let mut rng = Rng::new(seed);
    let mut k_all = rng.vec(c.kv_len() * kv_dim, 1.0);
    let mut v_all = rng.vec(c.kv_len() * kv_dim, 1.0);
    let q = rng.vec(c.n_tokens * width, 2.0);
    let kc = nan_cache(ctx, n_cache * kv_dim);
    let vc = nan_cache(ctx, n_cache * kv_dim);
    // One kv_store of the last min(n_cache, kv_len) positions leaves each slot
    // as the step-by-step stores would.
    let stored = n_cache.min(c.kv_len());
    let first = c.kv_len() - stored;
    let store_step = step_buffer(ctx, first as u32, stored as u32);
    let kb = buffer_f32(ctx, &k_all[first * kv_dim..]);
    let vb = buffer_f32(ctx, &v_all[first * kv_dim..]);
    let store = kernels::kv_store(ctx, &store_step, "kv", &kb, &vb, &kc, &vc, kv_dim as u32, n_cache as u32).unwrap();
    run_step(ctx, &[store], &Step { pos0: first as u32, n_tokens: stored as u32, kv_len: c.kv_len() as u32, _pad: 0 });
    if ctx.has_f16() {
        for x in k_all.iter_mut().chain(v_all.iter_mut()) {
            *x = half::f16::from_f32(*x).to_f32();
        }
    }
    Inputs {
        step: step_buffer(ctx, c.pos0 as u32, c.n_tokens as u32),
        qb: buffer_f32(ctx, &q),
        out: buffer_f32(ctx, &vec![f32::NAN; q.len()]),
        q,
        kc,
        vc,
        k_all,
        v_all,
    }
}

fn step_of(c: &Case) -> Step {
    Step { pos0: c.pos0 as u32, n_tokens: c.n_tokens as u32, kv_len: c.kv_len() as u32, _pad: 0 }
}

fn run_flash(ctx: &GpuContext, c: &Case, inp: &Inputs) -> Vec<f32> {
    let op = kernels::flash_attention(ctx, &inp.step, "flash", &inp.qb, &inp.kc, &inp.vc, &inp.out, c.shape(), c.n_cache() as u32).unwrap();
    run_step(ctx, &[op], &step_of(c));
    read_f32(ctx, &inp.out, inp.q.len())
}

fn cases() -> Vec<Case> {
    let case = |n_heads, n_kv_heads, head_dim, window, pos0, n_tokens, n_cache| Case { n_heads, n_kv_heads, head_dim, window, pos0, n_tokens, n_cache, causal: true };
    let bidirectional = |n_heads, n_kv_heads, head_dim, pos0, n_tokens| Case { causal: false, ..case(n_heads, n_kv_heads, head_dim, 0, pos0, n_tokens, None) };
    vec![
        // SmolLM2 (9 / 3, head dim 64): one token at the start and after a
        // prefix, steps within one tile and across several, from 0 and later.
        case(9, 3, 64, 0, 0, 1, None),
        case(9, 3, 64, 0, 40, 1, None),
        case(9, 3, 64, 0, 0, 7, None),
        case(9, 3, 64, 0, 37, 33, None),
        case(9, 3, 64, 0, 0, 300, None),
        case(9, 3, 64, 0, 129, 300, Some(512)),
        // Qwen-like 32 / 8 and 8 / 2 at head dim 128.
        case(32, 8, 128, 0, 0, 33, None),
        case(32, 8, 128, 0, 70, 1, None),
        case(8, 2, 128, 0, 5, 300, None),
        // Gemma 3 1B (4 / 1, head dim 256): global and sliding-window layers;
        // the ring caches hold window + n_tokens - 1 slots (or a few more)
        // and wrap several times before the step.
        case(4, 1, 256, 0, 0, 7, None),
        case(4, 1, 256, 0, 100, 300, None),
        case(4, 1, 256, 64, 200, 33, Some(64 + 33 - 1)),
        case(4, 1, 256, 64, 333, 1, Some(64)),
        case(9, 3, 64, 50, 450, 300, Some(50 + 300 - 1 + 3)),
        // A window longer than the context so far, over a full cache.
        case(8, 2, 64, 500, 3, 7, None),
        // Head dim 80: 8 lanes of 12 dims, 16 of them padding; plain MHA.
        case(6, 6, 80, 0, 10, 33, None),
        // Head dim 20: not whole 8-dim loads, so token lanes falls back to the tiled kernel (as for 256).
        case(4, 2, 20, 0, 3, 40, None),
        // Decode-sized steps over long spans, GQA groups of 3 (SmolLM2) and 4 (Gemma 3).
        case(9, 3, 64, 0, 2100, 1, None),
        case(9, 3, 64, 0, 1000, 5, None),
        case(8, 2, 128, 0, 1500, 1, None),
        // Head dim 256 past 700 positions: token lanes declines (FLASH_LANE_MAX_HEAD_DIM).
        case(4, 1, 256, 0, 1500, 1, None),
        // Decode over a window longer than SPLIT_MIN_SPAN in a ring that
        // wrapped (split, window and ring at once); a GQA group of 7 (Qwen2.5
        // 0.5B: 14 / 2) over a split span.
        case(4, 1, 256, 1100, 2500, 1, Some(1100)),
        case(14, 2, 64, 0, 1200, 1, None),
        // Head dim 256 in one workgroup past 700 positions (where the
        // token-lanes kernel went wrong): decode below SPLIT_MIN_SPAN, and a
        // 5-token step (q in registers, never split).
        case(4, 1, 256, 0, 900, 1, None),
        case(4, 1, 256, 0, 1000, 5, None),
        // Head dim 32: two heads of a GQA group share a position-lanes workgroup.
        case(8, 2, 32, 0, 1100, 1, None),
        // Head dim 512 (Gemma 4 E2B's full layers, 8 heads over one KV
        // head): a prefill step over several tiles (token lanes declines, the
        // tiled kernel runs), a few-token step, decode below and above
        // SPLIT_MIN_SPAN (position lanes merges its lanes in two passes).
        case(8, 1, 512, 0, 20, 40, None),
        case(8, 1, 512, 0, 300, 5, None),
        case(8, 1, 512, 0, 700, 1, None),
        case(8, 1, 512, 0, 1200, 1, None),
        // Bidirectional (BERT, `causal: false`): every token reads every
        // position of the step. MiniLM's 12 × 32 over one step of several
        // tiles, bge-base's 12 × 64 on a short step, a GQA group, and a step
        // after a prefix (what the model refuses, the kernels still define).
        bidirectional(12, 12, 32, 0, 150),
        bidirectional(12, 12, 64, 0, 7),
        bidirectional(8, 2, 64, 0, 40),
        bidirectional(4, 4, 32, 5, 20),
        // Bidirectional with a symmetric window (EmbeddingGemma's sliding
        // layers, llama.cpp LLAMA_SWA_TYPE_SYMMETRIC): keys within window / 2
        // of the token on both sides, over a step of several tiles; an odd
        // window (7: 3 each side); Gemma's head dim 256.
        Case { window: 8, ..bidirectional(4, 2, 64, 0, 70) },
        Case { window: 7, ..bidirectional(4, 4, 32, 0, 40) },
        Case { window: 16, ..bidirectional(3, 1, 256, 0, 50) },
    ]
}

#[test]
fn flash_attention_matches_cpu() {
    let cases = cases();
    for ctx in prefill_contexts() {
        for (i, c) in cases.iter().enumerate() {
            let s = c.shape();
            let tile = FlashTile::for_shape(&s);
            let inp = inputs(&ctx, c, 100 + i as u64);
            let got = run_flash(&ctx, c, &inp);
            let want = cpu::attention(&inp.q, &inp.k_all, &inp.v_all, c.pos0, c.n_tokens, s);
            let what = format!(
                "flash {}/{} hd={} window={} slots={} pos0={} n={} tile={}x{} {} {:?}",
                c.n_heads,
                c.n_kv_heads,
                c.head_dim,
                c.window,
                c.n_cache(),
                c.pos0,
                c.n_tokens,
                tile.heads,
                tile.tokens,
                label(&ctx),
                ctx.prefill_kernels
            );
            assert_close(&what, &got, &want, TOL_VS_CPU);
        }
    }
    // The cases reach what they claim to: several tiles per step, and ring
    // caches that wrapped before the step.
    assert!(cases.iter().any(|c| c.n_tokens > 2 * FlashTile::for_shape(&c.shape()).tokens as usize));
    assert!(cases.iter().filter(|c| c.window > 0 && c.n_cache() < c.kv_len()).count() >= 3);
    assert!(cases.iter().any(|c| c.head_dim == kernels::MAX_HEAD_DIM && c.n_tokens > 2 * FlashTile::for_shape(&c.shape()).tokens as usize));
    assert!(cases.iter().any(|c| !c.causal && c.n_tokens > 2 * FlashTile::for_shape(&c.shape()).tokens as usize));
    assert!(cases.iter().any(|c| !c.causal && c.window > 0 && c.n_tokens > 2 * FlashTile::for_shape(&c.shape()).tokens as usize));
}

/// The decode list's attention on CPU adapters (`attention_position_lanes`:
/// lanes take the span's positions, splits and attention's combine past
/// SPLIT_MIN_SPAN) on every case whose head dim it takes, against the CPU
/// reference, on both precision paths. One-token steps run the decode
/// pipeline, with q read through its uniform window and, a second time, from
/// a storage-only buffer (a q the window cannot cover).
#[test]
fn attention_position_lanes_matches_cpu() {
    let (mut ran, mut split, mut storage_q) = (0, 0, 0);
    for ctx in contexts() {
        for (i, c) in cases().iter().enumerate() {
            let s = c.shape();
            let inp = inputs(&ctx, c, 300 + i as u64);
            let n_ctx = c.kv_len() as u32;
            let max_splits = kernels::attention_max_splits(if c.window > 0 { n_ctx.min(c.window) } else { n_ctx });
            let partials = buffer_f32(&ctx, &vec![f32::NAN; (s.n_heads * max_splits * (s.head_dim + 2)) as usize]);
            let run = |qb: &wgpu::Buffer| -> Option<Vec<f32>> {
                let out = buffer_f32(&ctx, &vec![f32::NAN; inp.q.len()]);
                let ops = match kernels::attention_position_lanes(&ctx, &inp.step, "att", qb, &inp.kc, &inp.vc, &out, &partials, s, c.n_cache() as u32, n_ctx) {
                    Ok(ops) => ops,
                    Err(e) => {
                        assert!(c.head_dim % 8 != 0, "hd={}: {e}", c.head_dim);
                        return None;
                    }
                };
                run_step(&ctx, &ops, &step_of(c));
                Some(read_f32(&ctx, &out, inp.q.len()))
            };
            let want = cpu::attention(&inp.q, &inp.k_all, &inp.v_all, c.pos0, c.n_tokens, s);
            let what = |q: &str| {
                let heads = kernels::position_lane_heads(&s);
                format!("position lanes ({q} q) {}/{} hd={} heads={heads} window={} slots={} pos0={} n={} {}", c.n_heads, c.n_kv_heads, c.head_dim, c.window, c.n_cache(), c.pos0, c.n_tokens, label(&ctx))
            };
            let Some(got) = run(&inp.qb) else { continue };
            assert_close(&what("activation"), &got, &want, TOL_VS_CPU);
            ran += 1;
            let span = if c.window > 0 { c.kv_len().min(c.window as usize) } else { c.kv_len() };
            split += (c.n_tokens == 1 && span > kernels::SPLIT_MIN_SPAN as usize) as usize;
            if c.n_tokens == 1 {
                let q_storage = buffer_bytes(&ctx, bytemuck::cast_slice(&inp.q));
                assert!(!q_storage.usage().contains(wgpu::BufferUsages::UNIFORM));
                assert_close(&what("storage"), &run(&q_storage).unwrap(), &want, TOL_VS_CPU);
                storage_q += 1;
            }
        }
    }
    // Every case but head dim 20, on each context; split spans (one over a
    // wrapped ring window) and both q paths among them.
    let n = contexts().len();
    assert_eq!(ran, n * (cases().len() - 1), "position lanes ran {ran} cases");
    assert!(split >= 4 * n && storage_q >= 7 * n, "split {split}, storage q {storage_q}");
    // Some case puts several heads in a workgroup (the per-head loops past g = 0).
    assert!(cases().iter().any(|c| c.head_dim % 8 == 0 && kernels::position_lane_heads(&c.shape()) > 1));
}

/// The decode list's attention on CPU adapters fits WebGPU's default
/// workgroup memory at every head dim up to 512 (a 512-dim head merges its
/// lanes in two passes), as the Rust side reckons.
#[test]
fn attention_position_lanes_fits_workgroup_memory() {
    let ctx = &contexts()[0];
    let mut most = 0;
    for head_dim in [8, 64, 128, 256, 264, 512] {
        let c = Case { n_heads: 2, n_kv_heads: 1, head_dim, window: 0, pos0: 3, n_tokens: 1, n_cache: None, causal: true };
        let s = c.shape();
        let inp = inputs(ctx, &c, 9);
        let partials = buffer_f32(ctx, &vec![0.0; (s.n_heads * (s.head_dim + 2)) as usize]);
        kernels::attention_position_lanes(ctx, &inp.step, "att", &inp.qb, &inp.kc, &inp.vc, &inp.out, &partials, s, c.n_cache() as u32, c.kv_len() as u32).unwrap();
        most = most.max(kernels::position_lanes_shared_bytes(head_dim));
    }
    assert_eq!(assert_workgroup_memory_fits(ctx, "attention_position_lanes.wgsl"), most);
}

/// Flash attention's pipelines (both layouts, head dims up to 512) fit
/// WebGPU's default workgroup memory.
#[test]
fn flash_attention_fits_workgroup_memory() {
    for ctx in prefill_contexts() {
        for head_dim in [64, 128, 256, 512] {
            let c = Case { n_heads: 8, n_kv_heads: 1, head_dim, window: 0, pos0: 0, n_tokens: 9, n_cache: None, causal: true };
            let inp = inputs(&ctx, &c, 11);
            run_flash(&ctx, &c, &inp);
        }
        // The largest use is what FlashTile reckons for the head dims that ran
        // the tiled kernel (token lanes takes those up to FLASH_LANE_MAX_HEAD_DIM).
        let tiled = |head_dim: &&u32| ctx.prefill_kernels == PrefillKernels::Tiled || **head_dim > kernels::FLASH_LANE_MAX_HEAD_DIM;
        let tile = |head_dim: u32| FlashTile::for_shape(&AttentionShape { n_heads: 8, n_kv_heads: 1, head_dim, window: 0, scale: 1.0, causal: true });
        let reckoned = [64, 128, 256, 512].iter().filter(tiled).map(|&d| tile(d).shared_bytes()).max();
        assert_eq!(Some(assert_workgroup_memory_fits(&ctx, "flash_attention.wgsl")), reckoned, "{:?}", ctx.prefill_kernels);
    }
}

#[test]
fn flash_attention_matches_attention_kernel() {
    let c = Case { n_heads: 9, n_kv_heads: 3, head_dim: 64, window: 0, pos0: 20, n_tokens: 45, n_cache: None, causal: true };
    for ctx in prefill_contexts() {
        let inp = inputs(&ctx, &c, 7);
        let flash = run_flash(&ctx, &c, &inp);
        let s = c.shape();
        let n_ctx = c.kv_len() as u32;
        let partials = buffer_f32(&ctx, &vec![0.0; (s.n_heads * kernels::attention_max_splits(n_ctx) * (s.head_dim + 2)) as usize]);
        let ob = buffer_f32(&ctx, &vec![f32::NAN; inp.q.len()]);
        let ops = kernels::attention(&ctx, &inp.step, "att", &inp.qb, &inp.kc, &inp.vc, &ob, &partials, s, n_ctx, n_ctx).unwrap();
        run_step(&ctx, &ops, &step_of(&c));
        let want = read_f32(&ctx, &ob, inp.q.len());
        assert_close(&format!("flash vs attention {} {:?}", label(&ctx), ctx.prefill_kernels), &flash, &want, TOL_VS_ATTENTION);
    }
}

/// Every tile fits WebGPU's guaranteed workgroup limits and covers its head;
/// the tiles of SmolLM2 and Gemma 3 1B are the ones `FlashTile::for_shape`
/// documents.
#[test]
fn flash_tiles_fit_workgroup_limits() {
    let tile = |n_heads, n_kv_heads, head_dim| FlashTile::for_shape(&AttentionShape { n_heads, n_kv_heads, head_dim, window: 0, scale: 1.0, causal: true });
    let smollm2 = tile(9, 3, 64);
    assert_eq!((smollm2.lanes, smollm2.heads, smollm2.tokens, smollm2.kv_block, smollm2.shared_bytes()), (4, 3, 21, 10, 15200));
    let gemma = tile(4, 1, 256);
    assert_eq!((gemma.lanes, gemma.heads, gemma.tokens, gemma.kv_block, gemma.shared_bytes()), (16, 4, 4, 5, 15360));
    let gemma4 = tile(8, 1, 512);
    assert_eq!((gemma4.lanes, gemma4.heads, gemma4.tokens, gemma4.kv_block, gemma4.shared_bytes()), (32, 8, 1, 3, 15360));
    for head_dim in 1..=kernels::MAX_HEAD_DIM {
        for (n_heads, n_kv_heads) in [(1, 1), (9, 3), (4, 1), (8, 2), (32, 8), (64, 4), (6, 6)] {
            let t = tile(n_heads, n_kv_heads, head_dim);
            let what = format!("{t:?} for {n_heads}/{n_kv_heads} hd={head_dim}");
            assert!(t.threads() <= FLASH_MAX_THREADS && t.shared_bytes() <= FLASH_SHARED_BYTES, "{what}: over the limits");
            assert!(t.lanes * t.dims_per_lane >= head_dim && t.lanes.is_power_of_two(), "{what}: dims not covered");
            assert!(t.dims_per_lane % 4 == 0, "{what}: lanes hold whole vec4s");
            assert!((n_heads / n_kv_heads) % t.heads == 0 && t.tokens >= 1 && t.kv_block >= 1, "{what}");
        }
    }
}

#[test]
fn flash_attention_rejects_bad_shapes() {
    let ctx = &contexts()[0];
    let step = step_buffer(ctx, 0, 4);
    let [q, kc, vc, out] = [(); 4].map(|_| buffer_f32(ctx, &[0.0; 4096]));
    let ok = AttentionShape { n_heads: 4, n_kv_heads: 2, head_dim: 64, window: 0, scale: 0.125, causal: true };
    let bad = [
        (AttentionShape { head_dim: 0, ..ok }, 8),
        (AttentionShape { head_dim: kernels::MAX_HEAD_DIM + 1, ..ok }, 8),
        (AttentionShape { n_heads: 5, ..ok }, 8),
        (AttentionShape { n_kv_heads: 0, ..ok }, 8),
        (ok, 0),
        // (slots, kv_dim 128) of f32 is more than the 16 KiB cache buffers.
        (ok, 33),
    ];
    assert!(kernels::flash_attention(ctx, &step, "flash", &q, &kc, &vc, &out, ok, 8).is_ok());
    for (s, n_cache) in bad {
        match kernels::flash_attention(ctx, &step, "flash", &q, &kc, &vc, &out, s, n_cache) {
            Err(kernels::KernelError::Shape { .. }) => {}
            Err(e) => panic!("{s:?} n_cache={n_cache}: wrong error {e}"),
            Ok(_) => panic!("{s:?} n_cache={n_cache}: accepted"),
        }
    }
}
