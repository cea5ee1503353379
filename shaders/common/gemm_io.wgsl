// What both prefill GEMMs bind (gemm.wgsl for GPUs, gemm_token_lanes.wgsl
// for CPU adapters): the step, the op's parameters (src/kernels/gemm.rs
// `Params`), the weights, x and y.
#include "common/step.wgsl"

struct Params {
    rows: u32,       // output rows of this op (rows of W it reads)
    cols: u32,       // inner dimension (multiple of 32)
    row_bytes: u32,  // bytes per row of W
    w_offset: u32,   // byte offset of row 0 in w (a segment of a packed buffer; multiple of 4)
    x_stride: u32,   // f32 elements between tokens in x (multiple of 4)
    y_stride: u32,   // f32 elements between tokens in y
    y_offset: u32,   // first output column written
    accumulate: u32, // 1: y += W x instead of y = W x
    kind: u32,       // weight format (K_* in common/quant.wgsl)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    part_start: vec4<u32>, // W_PART1..: first row held by w, w1, w2, w3
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;            // raw GGUF blocks: (rows, row_bytes / 4) from byte w_offset
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;      // (n_tokens, x_stride / 4)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // (n_tokens, y_stride)
#include "common/weight_parts.wgsl"
