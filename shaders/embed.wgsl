// Embedding lookup from quantized rows: out[t, :] = scale * dequant(W[row(t), :]),
// row(t) = ids[t], or (BERT's extra input rows, added to the token's with
// ADD) the token's position pos0 + t, or one fixed row (token type 0).
// A tensor split across bindings is read from up to four parts in one
// dispatch (common/weight_parts.wgsl); an op covers rows [row_start, row_end)
// and skips ids outside them (a tensor of more parts takes several ops).
#include "common/step.wgsl"

struct Params {
    cols: u32,       // embedding width (multiple of 32)
    row_bytes: u32,  // bytes per row of W
    row_start: u32,  // first vocabulary row in this binding
    row_end: u32,    // one past the last
    scale: f32,      // 1, or sqrt(dim) for Gemma
    source: u32,     // row(t): 0 ids[t], 1 pos0 + t, 2 fixed_row
    fixed_row: u32,
    add: u32,        // 1: out[t, :] += the row

    part_start: vec4<u32>,  // first row (relative to row_start) held by w, w1, w2, w3
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;                // (row_end - row_start, row_bytes / 4)
@group(0) @binding(3) var<storage, read> ids: array<u32>;              // (n_tokens)
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;  // (n_tokens, cols / 4)
#include "common/weight_parts.wgsl"

#include "common/bytes.wgsl"
#include "common/quant.wgsl"

@compute @workgroup_size(WG_SIZE)
fn embed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.y;
    if (t >= step.n_tokens) {
        return;
    }
    var id = ids[t];
    if (p.source == 1u) {
        id = step.pos0 + t;
    } else if (p.source == 2u) {
        id = p.fixed_row;
    }
    if (id < p.row_start || id >= p.row_end) {
        return;
    }
    let r = id - p.row_start;
    let rb = (r - select_part(r, p.part_start)) * p.row_bytes;
    let c = wid.x * WG_SIZE + lid;
    if (c >= p.cols / 32u) {
        return;
    }
    load_chunk_of(W_KIND, rb, c);
    let o = t * (p.cols / 4u) + c * 8u;
    for (var i = 0u; i < 8u; i++) {
        let v = vec4<f32>(cv[i]) * p.scale;
        if (p.add == 1u) {
            out[o + i] += v;
        } else {
            out[o + i] = v;
        }
    }
}
