// Causal attention for steps of several tokens (prefill), flash style: the
// same result as attention.wgsl, but one workgroup serves a tile of TILE
// consecutive tokens times HEADS query heads that share one KV head, so each
// K and V row is read from the cache once per tile instead of once per token.
//
// A query row is one (token, head) pair; LANES consecutive invocations share
// a row, each holding DPL of its dims, as vec4s (dims 4 (lane + i LANES) + c),
// of the scaled query and of the output accumulator in registers. Positions
// are taken KV_BLOCK at a time: the block's K and V rows are staged in
// workgroup memory (as f32), each invocation forms the partial dot products
// of its dims, every lane of a row sums the row's partials from workgroup
// memory, and each row keeps its own online softmax (all its lanes hold the
// same m and l). Three barriers per block; no subgroup operations.
//
// Token t sits at position pos0 + t and (causal; non-causal: up to the
// step's last position, span_end) attends to positions [start, pos0 + t],
// start = 0 or, with a sliding window, pos0 + t + 1 - window; position j is in
// cache slot j % n_cache (a ring needs n_cache >= window + n_tokens - 1).
// The workgroup walks the union of its tokens' spans; each row masks the
// positions outside its own.
//
// Tile constants come from Rust (src/kernels/flash_attention.rs, FlashTile):
// HEAD_DIM, LANES, DPL (a multiple of 4, LANES * DPL >= HEAD_DIM), HEADS,
// TILE, KV_BLOCK and THREADS = TILE * HEADS * LANES.
#include "common/step.wgsl"

#include "common/kv.wgsl"

#include "common/attention_params.wgsl"

@group(0) @binding(2) var<storage, read> q: array<f32>;             // (n_tokens, q_stride): heads of head_dim
@group(0) @binding(3) var<storage, read> k_cache: array<kv_t>;      // (n_cache, kv_dim) by slot
@group(0) @binding(4) var<storage, read> v_cache: array<kv_t>;      // (n_cache, kv_dim) by slot
@group(0) @binding(5) var<storage, read_write> out: array<f32>;     // (n_tokens, out_stride)

const ROW_DIM: u32 = LANES * DPL;  // HEAD_DIM padded to whole lanes (pad dims are 0)
const ROW_VEC: u32 = ROW_DIM / 4u;  // vec4s per row
const VPL: u32 = DPL / 4u;          // vec4s per lane
const NEG: f32 = -1.0e30;

var<workgroup> ks: array<vec4<f32>, KV_BLOCK * ROW_VEC>;  // (KV_BLOCK, ROW_DIM) keys of one block of positions
var<workgroup> vs: array<vec4<f32>, KV_BLOCK * ROW_VEC>;  // (KV_BLOCK, ROW_DIM) values of the block
var<workgroup> part: array<f32, KV_BLOCK * THREADS>;      // (KV_BLOCK, rows, LANES) partial scores

@compute @workgroup_size(THREADS)
fn flash_attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = lid / LANES;
    let lane = lid % LANES;
    let h0 = wid.x * HEADS;                 // first query head of the workgroup
    let h = h0 + row % HEADS;               // this row's head
    let t0 = wid.y * TILE;                  // first token of the tile
    let t = t0 + row / HEADS;               // this row's token
    if (t0 >= step.n_tokens) {
        return;
    }
    let live = t < step.n_tokens;           // the last tile may be partial
    let kv_off = (h0 / (p.n_heads / p.n_kv_heads)) * HEAD_DIM;
    // This row's span [start, end) and the tile's [lo, hi).
    let end = span_end(t);
    let start = span_start(t);
    let lo = span_start(t0);
    let hi = span_end(min(t0 + TILE, step.n_tokens) - 1u);

    var qr: array<vec4<f32>, VPL>;   // scaled query dims 4 (lane + i * LANES) + 0..3
    var acc: array<vec4<f32>, VPL>;  // unnormalised output, same dims
    if (live) {
        for (var i = 0u; i < VPL; i++) {
            for (var c = 0u; c < 4u; c++) {
                let d = 4u * (lane + i * LANES) + c;
                if (d < HEAD_DIM) {
                    qr[i][c] = q[t * p.q_stride + h * HEAD_DIM + d] * p.scale;
                }
            }
        }
    }
    var m = NEG;
    var l = 0.0;
    for (var base = lo; base < hi; base += KV_BLOCK) {
        for (var i = lid; i < KV_BLOCK * ROW_VEC; i += THREADS) {
            let j = base + i / ROW_VEC;
            let d0 = 4u * (i % ROW_VEC);
            var kx = vec4<f32>();
            var vx = vec4<f32>();
            if (j < hi) {
                let at = (j % p.n_cache) * p.kv_dim + kv_off + d0;
                for (var c = 0u; c < 4u; c++) {
                    if (d0 + c < HEAD_DIM) {
                        kx[c] = f32(k_cache[at + c]);
                        vx[c] = f32(v_cache[at + c]);
                    }
                }
            }
            ks[i] = kx;
            vs[i] = vx;
        }
        workgroupBarrier();
        for (var jj = 0u; jj < KV_BLOCK; jj++) {
            var s = 0.0;
            for (var i = 0u; i < VPL; i++) {
                s += dot(qr[i], ks[jj * ROW_VEC + lane + i * LANES]);
            }
            part[jj * THREADS + lid] = s;
        }
        workgroupBarrier();
        // Whole scores of this row (every lane sums the same partials).
        var sc: array<f32, KV_BLOCK>;  // set before read: each jj starts at NEG
        var m_new = m;
        for (var jj = 0u; jj < KV_BLOCK; jj++) {
            let j = base + jj;
            sc[jj] = NEG;
            if (live && j >= start && j < end) {
                var s = 0.0;
                for (var k = 0u; k < LANES; k++) {
                    s += part[jj * THREADS + row * LANES + k];
                }
                sc[jj] = s;
                m_new = max(m_new, s);
            }
        }
        let corr = exp(m - m_new);
        l *= corr;
        for (var i = 0u; i < VPL; i++) {
            acc[i] *= corr;
        }
        for (var jj = 0u; jj < KV_BLOCK; jj++) {
            let w = select(0.0, exp(sc[jj] - m_new), sc[jj] > NEG);
            l += w;
            for (var i = 0u; i < VPL; i++) {
                acc[i] += w * vs[jj * ROW_VEC + lane + i * LANES];
            }
        }
        m = m_new;
        workgroupBarrier();
    }
    if (live) {
        for (var i = 0u; i < VPL; i++) {
            for (var c = 0u; c < 4u; c++) {
                let d = 4u * (lane + i * LANES) + c;
                if (d < HEAD_DIM) {
                    out[t * p.out_stride + h * HEAD_DIM + d] = acc[i][c] / l;
                }
            }
        }
    }
}
