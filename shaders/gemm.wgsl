// Prefill dequantize-matmul as a tiled GEMM: y[t, y_offset + r] = sum_c
// W[r, c] * x[t, c] (or += with `accumulate`, a residual add folded in).
//
// A workgroup computes a tile of GEMM_ROWS weight rows x GEMM_TOKENS tokens
// with (GEMM_ROWS / 8) x (GEMM_TOKENS / 8) invocations (64 for 64 x 64). The
// inner dimension goes 32 at a time (one quantization chunk): the first
// GEMM_ROWS invocations each dequantize one row's chunk into workgroup memory
// and all of them stage the tile's x, then each invocation accumulates an
// 8 x 8 register tile (rows tr + TR*r, tokens tc + TC*j) from there. Every
// weight is therefore read and dequantized once per GEMM_TOKENS tokens (the
// batched matvec.wgsl reads it once per TT = 8). Tile sizes come from Rust
// (src/kernels/gemm.rs); workgroup memory is 2 x 8 x 64 vec4 = 16 KiB, the
// WebGPU default limit. The 8 x 8 register tile reads 16 vec4s from workgroup
// memory per 64 dot products (4 x 4 took 8 per 16): on lavapipe, whose
// workgroup-memory reads are per-lane gathers, 1.2x faster. Tokens and rows past the end are computed on zeros /
// a copy of the last row and not stored.
//
// Shared-memory layout is (chunk quarter i, row or token): consecutive
// invocations (consecutive tc) read consecutive vec4s, so reads do not
// collide on banks, and the TC invocations of one tr read one ws entry
// (a broadcast).
#include "common/gemm_io.wgsl"

#include "common/bytes.wgsl"
#include "common/quant.wgsl"

const RT: u32 = 8u;                         // register tile: RT rows x RT tokens per invocation
const TR: u32 = GEMM_ROWS / RT;             // invocation rows
const TC: u32 = GEMM_TOKENS / RT;           // invocation columns
const GEMM_WG: u32 = TR * TC;
var<workgroup> ws: array<vec4<f32>, 8u * GEMM_ROWS>;    // (8, GEMM_ROWS): ws[i * GEMM_ROWS + r] = weights 4i..4i+3 of row r's chunk
var<workgroup> xs: array<vec4<f32>, 8u * GEMM_TOKENS>;  // (8, GEMM_TOKENS): xs[i * GEMM_TOKENS + t] = x[t0 + t, 32c + 4i ..]

@compute @workgroup_size(GEMM_WG)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.x * GEMM_ROWS;
    let t0 = wid.z * GEMM_TOKENS;
    if (t0 >= step.n_tokens) {
        return;
    }
    let nt = min(GEMM_TOKENS, step.n_tokens - t0);
    let tr = lid / TC;
    let tc = lid % TC;

    // The row whose chunks this invocation dequantizes (lid < GEMM_ROWS).
    let lr = min(row0 + lid, p.rows - 1u);
    var rb = 0u;
    if (lid < GEMM_ROWS) {
        rb = p.w_offset + (lr - select_part(lr, p.part_start)) * p.row_bytes;
    }
    let xs4 = p.x_stride / 4u;

    // a_r: row tr + TR*r, tokens tc + TC*j for j = 0..3; b_r: j = 4..7.
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    var b4 = vec4<f32>(0.0); var b5 = vec4<f32>(0.0); var b6 = vec4<f32>(0.0); var b7 = vec4<f32>(0.0);
    for (var c = 0u; c < p.cols / 32u; c++) {
        if (lid < GEMM_ROWS) {
            load_chunk_of(p.kind, rb, c);
            for (var i = 0u; i < 8u; i++) {
                ws[i * GEMM_ROWS + lid] = vec4<f32>(cv[i]);
            }
        }
        // Consecutive invocations read consecutive vec4s of one token's x.
        for (var e = lid; e < 8u * GEMM_TOKENS; e += GEMM_WG) {
            let t = e / 8u;
            let i = e % 8u;
            var v = vec4<f32>(0.0);
            if (t < nt) {
                v = x[(t0 + t) * xs4 + c * 8u + i];
            }
            xs[i * GEMM_TOKENS + t] = v;
        }
        workgroupBarrier();
        for (var i = 0u; i < 8u; i++) {
            let wb = i * GEMM_ROWS + tr;
            let xb = i * GEMM_TOKENS + tc;
            let x0 = xs[xb]; let x1 = xs[xb + TC]; let x2 = xs[xb + 2u * TC]; let x3 = xs[xb + 3u * TC];
            let x4 = xs[xb + 4u * TC]; let x5 = xs[xb + 5u * TC]; let x6 = xs[xb + 6u * TC]; let x7 = xs[xb + 7u * TC];
            var w = ws[wb];
            a0 += vec4<f32>(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3)); b0 += vec4<f32>(dot(w, x4), dot(w, x5), dot(w, x6), dot(w, x7));
            w = ws[wb + TR];
            a1 += vec4<f32>(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3)); b1 += vec4<f32>(dot(w, x4), dot(w, x5), dot(w, x6), dot(w, x7));
            w = ws[wb + 2u * TR];
            a2 += vec4<f32>(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3)); b2 += vec4<f32>(dot(w, x4), dot(w, x5), dot(w, x6), dot(w, x7));
            w = ws[wb + 3u * TR];
            a3 += vec4<f32>(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3)); b3 += vec4<f32>(dot(w, x4), dot(w, x5), dot(w, x6), dot(w, x7));
            w = ws[wb + 4u * TR];
            a4 += vec4<f32>(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3)); b4 += vec4<f32>(dot(w, x4), dot(w, x5), dot(w, x6), dot(w, x7));
            w = ws[wb + 5u * TR];
            a5 += vec4<f32>(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3)); b5 += vec4<f32>(dot(w, x4), dot(w, x5), dot(w, x6), dot(w, x7));
            w = ws[wb + 6u * TR];
            a6 += vec4<f32>(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3)); b6 += vec4<f32>(dot(w, x4), dot(w, x5), dot(w, x6), dot(w, x7));
            w = ws[wb + 7u * TR];
            a7 += vec4<f32>(dot(w, x0), dot(w, x1), dot(w, x2), dot(w, x3)); b7 += vec4<f32>(dot(w, x4), dot(w, x5), dot(w, x6), dot(w, x7));
        }
        // ws and xs are rewritten by the next chunk.
        workgroupBarrier();
    }

    let lo = array<vec4<f32>, RT>(a0, a1, a2, a3, a4, a5, a6, a7);
    let hi = array<vec4<f32>, RT>(b0, b1, b2, b3, b4, b5, b6, b7);
    // Each (token, row) is written by exactly one invocation, so += is race-free.
    for (var r = 0u; r < RT; r++) {
        let row = row0 + tr + TR * r;
        if (row >= p.rows) {
            continue;
        }
        for (var j = 0u; j < RT; j++) {
            let t = tc + TC * j;
            if (t < nt) {
                let o = (t0 + t) * p.y_stride + p.y_offset + row;
                if (p.accumulate == 1u) {
                    y[o] += select(hi[r][j % 4u], lo[r][j % 4u], j < 4u);
                } else {
                    y[o] = select(hi[r][j % 4u], lo[r][j % 4u], j < 4u);
                }
            }
        }
    }
}
