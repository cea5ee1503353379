//! Dequantize-matvec, the prefill GEMM and embedding lookup for every weight
//! format against the CPU reference (`quant::matvec_ref` /
//! `quant::dequantize`), on seeded random blocks, on both precision paths;
//! tensors are uploaded through the streaming writer in odd-sized pieces, and
//! also split across several bindings.

mod common;
use common::*;
use std::sync::Arc;
use tabllm::gpu::{DeviceOptions, PrefillKernels, GpuContext, GpuTensor, PackedTensors};
use tabllm::kernels::{self, MatvecOut};
use tabllm::quant::{self, testing, GgmlType};

/// Weights are dequantized in f32 on both paths; only summation order differs.
const TOL_MATVEC: f32 = 2e-5;
/// The GEMM sums each row in chunk order like the matvec: the same bound.
const TOL_GEMM: f32 = 2e-5;
/// Embedding rows are a plain dequantization.
const TOL_EMBED: f32 = 1e-6;

const TYPES: [GgmlType; 15] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2K,
    GgmlType::Q3K,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
    GgmlType::IQ4NL,
    GgmlType::IQ4XS,
];

/// Uploads through `GpuTensor::write_next` in pieces of 1, 3, 7, 4093, ... bytes.
fn upload(ctx: &GpuContext, ty: GgmlType, cols: u64, rows: u64, bytes: &[u8]) -> GpuTensor {
    let mut t = GpuTensor::allocate(ctx, "w", ty, &[cols, rows], bytes.len() as u64).unwrap();
    let sizes = [1usize, 3, 7, 4093, 2, 65536];
    let (mut at, mut i) = (0, 0);
    while at < bytes.len() {
        let n = sizes[i % sizes.len()].min(bytes.len() - at);
        t.write_next(&ctx.queue, &bytes[at..at + n]);
        at += n;
        i += 1;
    }
    assert!(t.is_complete());
    t
}

/// The output head's folds: y = cap * tanh((W (rmsnorm(x) * g)) / cap), CPU
/// reference computed from the definitions.
fn check_matvec_folded(ctx: &GpuContext, ty: GgmlType, rows: usize, cols: usize, n_tokens: usize) {
    let seed = 977 + ty as u64;
    let w = testing::random_tensor(ty, rows * cols, seed);
    let x = testing::random_f32(n_tokens * cols, seed + 1);
    let g = testing::random_f32(cols, seed + 2);
    let (eps, cap) = (1e-6f32, 3.0f32);
    let t = upload(ctx, ty, cols as u64, rows as u64, &w);
    let step = step_buffer(ctx, 0, n_tokens as u32);
    let (xb, gb, yb) = (buffer_f32(ctx, &x), buffer_f32(ctx, &g), buffer_f32(ctx, &vec![0.0; rows]));
    let fold = kernels::MatvecFold { norm: Some((&gb, eps)), softcap: Some(cap), ..Default::default() };
    let ops = kernels::matvec_folded(ctx, &step, "head", &t, &xb, cols as u64, &yb, rows as u64, MatvecOut::LastToken, fold).unwrap();
    run(ctx, &ops, n_tokens as u32);
    let last = &x[(n_tokens - 1) * cols..];
    let inv = 1.0 / (last.iter().map(|v| v * v).sum::<f32>() / cols as f32 + eps).sqrt();
    let xn: Vec<f32> = last.iter().zip(&g).map(|(v, g)| v * inv * g).collect();
    let want: Vec<f32> = quant::matvec_ref(ty, &w, rows, cols, &xn).unwrap().iter().map(|y| cap * (y / cap).tanh()).collect();
    assert_close(&format!("matvec+norm+softcap {ty} {} {:?}", label(ctx), ctx.matvec), &read_f32(ctx, &yb, rows), &want, TOL_MATVEC);
}

/// Which kernel `check_product` runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kernel {
    Matvec,
    Gemm,
}

fn check_matvec(ctx: &GpuContext, ty: GgmlType, rows: usize, cols: usize, n_tokens: usize, out: MatvecOut, tag: &str) {
    check_product(ctx, Kernel::Matvec, ty, rows, cols, n_tokens, out, tag)
}

#[allow(clippy::too_many_arguments)]
fn check_product(ctx: &GpuContext, kernel: Kernel, ty: GgmlType, rows: usize, cols: usize, n_tokens: usize, out: MatvecOut, tag: &str) {
    let seed = rows as u64 * 31 + cols as u64 + ty as u64;
    let w = testing::random_tensor(ty, rows * cols, seed);
    let x = testing::random_f32(n_tokens * cols, seed + 1);
    let t = upload(ctx, ty, cols as u64, rows as u64, &w);
    let step = step_buffer(ctx, 0, n_tokens as u32);
    let xb = buffer_f32(ctx, &x);
    // Accumulate adds onto what y holds (a residual stream); the others overwrite it.
    let y0 = testing::random_f32(n_tokens * rows, seed + 2);
    let yb = buffer_f32(ctx, &y0);
    let ops = match kernel {
        Kernel::Matvec => kernels::matvec(ctx, &step, "mv", &t, &xb, cols as u64, &yb, rows as u64, out),
        Kernel::Gemm => kernels::gemm(ctx, &step, "gemm", &t, &xb, cols as u64, &yb, rows as u64, out),
    }
    .unwrap();
    run(ctx, &ops, n_tokens as u32);
    let tol = if kernel == Kernel::Gemm { TOL_GEMM } else { TOL_MATVEC };
    let tokens: Vec<usize> = match out {
        MatvecOut::AllTokens | MatvecOut::Accumulate => (0..n_tokens).collect(),
        MatvecOut::LastToken => vec![n_tokens - 1],
    };
    let got = read_f32(ctx, &yb, tokens.len() * rows);
    for (row, &tok) in tokens.iter().enumerate() {
        let mut want = quant::matvec_ref(ty, &w, rows, cols, &x[tok * cols..(tok + 1) * cols]).unwrap();
        if out == MatvecOut::Accumulate {
            want.iter_mut().zip(&y0[tok * rows..(tok + 1) * rows]).for_each(|(w, y)| *w += y);
        }
        let what = format!("{kernel:?} {ty} {rows}x{cols} token {tok}/{n_tokens} {out:?} {tag} {} {:?} {:?}", label(ctx), ctx.matvec, ctx.prefill_kernels);
        assert_close(&what, &got[row * rows..(row + 1) * rows], &want, tol);
    }
}

/// Every format under every matvec variant (`common::configs`: one
/// invocation per row, lanes reduced in workgroup memory, lanes reduced with
/// subgroup shuffles), decode (the single-token pipeline) and prefill.
#[test]
fn matvec_every_format_matches_cpu() {
    for ctx in configs().into_iter().filter(|c| c.fuse && c.prefill == tabllm::model::PrefillPath::Matvec).map(|c| c.ctx) {
        for ty in TYPES {
            check_matvec_folded(&ctx, ty, 45, 256, 3);
            // One token: the decode pipeline (on CPU adapters x and the norm weight through uniform windows).
            check_matvec_folded(&ctx, ty, 45, 256, 1);
            // 37 rows: not a multiple of the 4 rows per workgroup. 11 tokens: two token groups, the second partial.
            check_matvec(&ctx, ty, 37, 512, 1, MatvecOut::AllTokens, "decode");
            check_matvec(&ctx, ty, 37, 512, 11, MatvecOut::AllTokens, "prefill");
            check_matvec(&ctx, ty, 37, 768, 11, MatvecOut::LastToken, "logits");
            check_matvec(&ctx, ty, 37, 512, 11, MatvecOut::Accumulate, "residual");
        }
        // A token wider than the 64 KiB uniform window: one invocation per row
        // reads x from storage then, not through the window.
        check_matvec(&ctx, GgmlType::Q4_0, 5, 16416, 1, MatvecOut::AllTokens, "decode, x over 64 KiB");
    }
}

/// The prefill GEMM, both variants (tiled, token lanes), every format on both
/// precision paths: token counts that are not multiples of either token tile
/// (one partial tile, several), rows that are not multiples of either row
/// tile, overwrite and residual add.
#[test]
fn gemm_every_format_matches_cpu() {
    assert_eq!((kernels::GEMM_ROWS, kernels::GEMM_TOKENS), (64, 64), "the cases below straddle tiles of these sizes");
    assert_eq!((kernels::LANE_GEMM_ROWS, kernels::LANE_GEMM_TOKENS), (64, 32), "the cases below straddle tiles of these sizes");
    for ctx in prefill_contexts() {
        for ty in TYPES {
            for n_tokens in [1, 7, 33, 300] {
                check_product(&ctx, Kernel::Gemm, ty, 70, 256, n_tokens, MatvecOut::AllTokens, "prefill");
            }
            check_product(&ctx, Kernel::Gemm, ty, 130, 512, 65, MatvecOut::Accumulate, "residual");
        }
    }
}

/// The GEMM on the tensors of a packed q|k|v whose formats differ (Q4_K_M:
/// Q4_K queries and keys, Q6_K values), each read from its byte offset.
#[test]
fn gemm_reads_packed_segments() {
    for ctx in prefill_contexts() {
        let (cols, n_tokens) = (256usize, 40usize);
        let specs = [(GgmlType::Q4K, 96usize), (GgmlType::Q4K, 32), (GgmlType::Q6K, 32)];
        let x = testing::random_f32(n_tokens * cols, 5);
        let mut tensors = Vec::new();
        let mut data = Vec::new();
        for (i, &(ty, rows)) in specs.iter().enumerate() {
            let w = testing::random_tensor(ty, rows * cols, 40 + i as u64);
            tensors.push(upload(&ctx, ty, cols as u64, rows as u64, &w));
            data.push(w);
        }
        let packed = PackedTensors::pack(&ctx, "qkv", tensors).unwrap().unwrap_or_else(|_| panic!("q|k|v should pack"));
        let step = step_buffer(&ctx, 0, n_tokens as u32);
        let xb = buffer_f32(&ctx, &x);
        for (i, &(ty, rows)) in specs.iter().enumerate() {
            let yb = buffer_f32(&ctx, &vec![0.0; n_tokens * rows]);
            let op = kernels::gemm_segment(&ctx, &step, "qkv", &packed, i, &xb, cols as u64, &yb, rows as u64).unwrap();
            run(&ctx, std::slice::from_ref(&op), n_tokens as u32);
            let got = read_f32(&ctx, &yb, n_tokens * rows);
            for t in 0..n_tokens {
                let want = quant::matvec_ref(ty, &data[i], rows, cols, &x[t * cols..(t + 1) * cols]).unwrap();
                assert_close(&format!("packed segment {i} ({ty}) token {t} {} {:?}", label(&ctx), ctx.prefill_kernels), &got[t * rows..(t + 1) * rows], &want, TOL_GEMM);
            }
        }
    }
}

#[test]
fn embed_every_format_matches_cpu() {
    for ctx in contexts() {
        for ty in TYPES {
            let (rows, cols) = (50usize, 256usize);
            let w = testing::random_tensor(ty, rows * cols, 7 + ty as u64);
            let table = quant::dequantize_to_vec(ty, &w).unwrap();
            let t = upload(&ctx, ty, cols as u64, rows as u64, &w);
            let ids = [3u32, 49, 0, 17, 3];
            let step = step_buffer(&ctx, 0, ids.len() as u32);
            let idb = buffer_bytes(&ctx, bytemuck::cast_slice(&ids));
            let out = buffer_f32(&ctx, &vec![0.0; ids.len() * cols]);
            run(&ctx, &kernels::embed(&ctx, &step, "embed", &t, &idb, &out, 0.5).unwrap(), ids.len() as u32);
            let want: Vec<f32> = ids.iter().flat_map(|&id| table[id as usize * cols..][..cols].iter().map(|v| v * 0.5)).collect();
            assert_close(&format!("embed {ty} {}", label(&ctx)), &read_f32(&ctx, &out, want.len()), &want, TOL_EMBED);
        }
    }
}

/// A device whose binding limit is far below the tensor size: the tensor is
/// split by rows over several buffers and the kernels run part by part.
#[test]
fn tensors_split_across_bindings() {
    let cap = 64 * 1024;
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions { max_binding_size: Some(cap), ..Default::default() }).unwrap());
    assert_eq!(ctx.max_binding_size(), cap);
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q6K] {
        let (rows, cols) = (2000usize, 512usize);
        let w = testing::random_tensor(ty, rows * cols, 99);
        let t = upload(&ctx, ty, cols as u64, rows as u64, &w);
        assert!(t.parts.len() > kernels::MAX_WEIGHT_PARTS, "{ty}: {} bytes should take more parts than one op binds", w.len());
        // One op reads up to MAX_WEIGHT_PARTS parts (w, w1, w2, w3).
        let (px, py) = (buffer_f32(&ctx, &vec![0.0; cols]), buffer_f32(&ctx, &vec![0.0; rows]));
        let ops = kernels::matvec(&ctx, &step_buffer(&ctx, 0, 1), "mv", &t, &px, cols as u64, &py, rows as u64, MatvecOut::AllTokens);
        assert_eq!(ops.unwrap().len(), t.parts.len().div_ceil(kernels::MAX_WEIGHT_PARTS), "{ty}: ops for {} parts", t.parts.len());
        check_matvec(&ctx, ty, rows, cols, 3, MatvecOut::AllTokens, "split");
        check_matvec(&ctx, ty, rows, cols, 3, MatvecOut::Accumulate, "split residual");
        check_matvec(&ctx, ty, rows, cols, 1, MatvecOut::Accumulate, "split decode");
        // The GEMM's tiles straddle part boundaries (parts hold whole rows, not whole tiles),
        // in both variants. (8 tokens: x and y stay within this device's 64 KiB bindings.)
        for gemm in [PrefillKernels::Tiled, PrefillKernels::TokenLanes] {
            let g = GpuContext::new_blocking(&DeviceOptions { max_binding_size: Some(cap), prefill_kernels: Some(gemm), ..Default::default() }).unwrap();
            check_product(&g, Kernel::Gemm, ty, rows, cols, 8, MatvecOut::Accumulate, "split");
        }
        // Embedding rows from several parts.
        let table = quant::dequantize_to_vec(ty, &w).unwrap();
        let ids = [0u32, 999, 500, 1, 640];
        let step = step_buffer(&ctx, 0, ids.len() as u32);
        let idb = buffer_bytes(&ctx, bytemuck::cast_slice(&ids));
        let out = buffer_f32(&ctx, &vec![0.0; ids.len() * cols]);
        run(&ctx, &kernels::embed(&ctx, &step, "embed", &t, &idb, &out, 1.0).unwrap(), ids.len() as u32);
        let want: Vec<f32> = ids.iter().flat_map(|&id| table[id as usize * cols..][..cols].to_vec()).collect();
        assert_close(&format!("split embed {ty}"), &read_f32(&ctx, &out, want.len()), &want, TOL_EMBED);
    }
}
