// Greedy sampling on the GPU: out[0] = argmax(logits), ties to the lowest id.
#include "common/step.wgsl"

struct Params {
    n: u32,       // vocabulary size
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> logits: array<f32>;      // (n)
@group(0) @binding(3) var<storage, read_write> out: array<u32>;   // (1): the chosen id

var<workgroup> best_v: array<f32, WG_SIZE>;
var<workgroup> best_i: array<u32, WG_SIZE>;

@compute @workgroup_size(WG_SIZE)
fn argmax(@builtin(local_invocation_index) lid: u32) {
    var bv = -3.4e38;
    var bi = 0xffffffffu;
    // step.n_tokens is read so the step binding stays in the layout.
    if (step.n_tokens > 0u) {
        for (var i = lid; i < p.n; i += WG_SIZE) {
            let v = logits[i];
            if (v > bv) {
                bv = v;
                bi = i;
            }
        }
    }
    best_v[lid] = bv;
    best_i[lid] = bi;
    workgroupBarrier();
    for (var k = WG_SIZE / 2u; k > 0u; k >>= 1u) {
        if (lid < k) {
            let ov = best_v[lid + k];
            let oi = best_i[lid + k];
            if (ov > best_v[lid] || (ov == best_v[lid] && oi < best_i[lid])) {
                best_v[lid] = ov;
                best_i[lid] = oi;
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out[0] = min(best_i[0], p.n - 1u);
    }
}
