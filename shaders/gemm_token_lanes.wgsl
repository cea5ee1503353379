// Prefill dequantize-matmul for CPU adapters (lavapipe, SwiftShader): the
// same product as gemm.wgsl, y[t, y_offset + r] = sum_c W[r, c] * x[t, c]
// (or += with `accumulate`), shaped for a rasterizer that runs a workgroup
// as SIMD vectors of invocations.
//
// A workgroup is LG_LANES invocations (one vector of 8 32-bit lanes on an
// AVX2 host) and computes LG_ROWS weight rows x LG_TOKENS tokens: lane i
// takes tokens t0 + i + LG_LANES j (j = 0..3), whose x it keeps in
// registers one 32-weight chunk at a time. Every weight address depends
// only on the workgroup, the row and the chunk, so all lanes read the same
// block and dequantize it together (one vector instruction does it for
// all), then each multiplies it into its own tokens. Each weight is
// therefore read once per LG_TOKENS tokens, with no workgroup memory and
// no barrier: on lavapipe every workgroup-memory access is a loop over the
// lanes and every barrier a coroutine switch, which is what held the tiled
// GEMM to 3-4 GMAC/s there (this one: about 10 on the same 2 cores).
//
// Tokens past the end read the last token's x and are not stored; rows
// past the end repeat the last row and are not stored. Sizes come from
// Rust (src/kernels/gemm.rs: LANE_GEMM_ROWS, LANE_GEMM_LANES; 4 tokens per
// lane, the vec4 of each row's accumulator).
#include "common/gemm_io.wgsl"

#include "common/bytes.wgsl"
#include "common/quant.wgsl"

const LG_TOKENS: u32 = 4u * LG_LANES;

@compute @workgroup_size(LG_LANES)
fn gemm_token_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let row0 = wid.x * LG_ROWS;
    let t0 = wid.z * LG_TOKENS;
    if (t0 >= step.n_tokens) {
        return;
    }
    let xs4 = p.x_stride / 4u;
    let last = step.n_tokens - 1u;
    // vec4 index of this lane's tokens' x rows (token t0 + lane + LG_LANES j).
    let xb = vec4<u32>(min(vec4<u32>(t0 + lane) + vec4<u32>(0u, 1u, 2u, 3u) * LG_LANES, vec4<u32>(last)) * xs4);

    var acc: array<vec4<f32>, LG_ROWS>;  // acc[r][j]: row row0 + r, token t0 + lane + LG_LANES j
    var xr: array<vec4<f32>, 32>;         // xr[8j + i]: x[token j][32c + 4i ..][..4]
    for (var c = 0u; c < p.cols / 32u; c++) {
        for (var i = 0u; i < 8u; i++) {
            xr[i] = x[xb.x + c * 8u + i];
            xr[8u + i] = x[xb.y + c * 8u + i];
            xr[16u + i] = x[xb.z + c * 8u + i];
            xr[24u + i] = x[xb.w + c * 8u + i];
        }
        for (var r = 0u; r < LG_ROWS; r++) {
            let lr = min(row0 + r, p.rows - 1u);
            load_chunk_of(p.kind, p.w_offset + (lr - select_part(lr, p.part_start)) * p.row_bytes, c);
            var s = vec4<f32>(0.0);
            for (var i = 0u; i < 8u; i++) {
                let wv = vec4<f32>(cv[i]);
                s += vec4<f32>(dot(wv, xr[i]), dot(wv, xr[8u + i]), dot(wv, xr[16u + i]), dot(wv, xr[24u + i]));
            }
            acc[r] += s;
        }
    }
    // Each (token, row) is written by exactly one invocation, so += is race-free.
    for (var r = 0u; r < LG_ROWS; r++) {
        let row = row0 + r;
        if (row >= p.rows) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let t = t0 + lane + LG_LANES * j;
            if (t < step.n_tokens) {
                let o = t * p.y_stride + p.y_offset + row;
                if (p.accumulate == 1u) {
                    y[o] += acc[r][j];
                } else {
                    y[o] = acc[r][j];
                }
            }
        }
    }
}
