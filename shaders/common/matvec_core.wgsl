// The inner loop every dequantize-matmul kernel shares (matvec.wgsl,
// attn_qkv.wgsl, ffn_gate_up.wgsl): one weight row against the x rows of up
// to TT tokens, TPR lanes per row, then a reduction across the lanes.
//
// The including shader provides: `w: array<u32>` (raw GGUF blocks), `x:
// array<vec4<f32>>` (tokens of x_stride f32), with NORM_X `vecs:
// array<vec4<f32>>` (the norm weight at vec4 index p.norm_off); a uniform `p`
// with `cols`, `x_stride`, `norm_off`, `eps`; constants WG_SIZE, TPR (lanes per
// row, a power of two) and TT (tokens per workgroup: 1 for the decode
// variant, whose loops then have a single iteration and no arrays to index).
//
// Lane reductions, chosen by the pipeline's defines:
//   TPR == 1        one invocation per row: no reduction (CPU adapters, where
//                   barriers are costly);
//   SUBGROUP_REDUCE butterfly over the TPR lanes with subgroupShuffleXor
//                   (needs TPR <= the subgroup size; lanes of a row are
//                   consecutive invocations, so they share a subgroup);
//   otherwise       a tree in workgroup memory.
//
// With NORM_X the kernel's input is RMSNorm(x) * g computed on the fly:
// W (x * g / rms) = ((W * g) x) / rms, so the chunk is scaled by g and the
// sum by 1 / rms, which `norm_prologue` computes once per workgroup and token.

// Browsers want the extension enabled; naga (native) rejects the directive
// and takes subgroup operations from the device feature alone.
#ifdef ENABLE_SUBGROUPS
enable subgroups;
#endif

const RPW: u32 = WG_SIZE / TPR;                        // rows in flight per workgroup
var<private> acc: array<f32, TT>;                      // this lane's sums, by token
var<workgroup> partial: array<f32, WG_SIZE * TT>;      // (TT, WG_SIZE) reduction scratch
#ifdef NORM_X
var<private> inv_rms: array<f32, TT>;                  // 1 / rms(x[t0 + t])
#endif
#ifdef PENDING
var<private> pend_r: array<f32, TT>;                   // 1 / rms(xb[t0 + t])
#endif
var<private> sumsq: array<f32, TT>;                    // row_sumsq's result

// Element (t0 + t, 4 col .. 4 col + 3) of the kernel's input stream, at vec4
// index `i` of x: x itself, or with PENDING x' (see common/matvec_x.wgsl).
fn x_at(t: u32, i: u32, col: u32) -> vec4<f32> {
#ifdef PENDING
#ifdef PENDING_SCALE
    return (x[i] + xb[i] * (pend_r[t] * pg[col])) * ps.x;
#else
    return x[i] + xb[i] * (pend_r[t] * pg[col]);
#endif
#else
    return x[i];
#endif
}

// The rows row_sumsq sums: the input stream (src 0) or, with PENDING, xb (1).
fn sq_source(src: u32, t: u32, i: u32, col: u32) -> vec4<f32> {
#ifdef PENDING
    if (src == 1u) {
        return xb[i];
    }
#endif
    return x_at(t, i, col);
}

// sumsq[t] = the sum of squares of the `cols` elements of token t0 + t of
// source `src` (see sq_source), for t < nt. Called by the whole workgroup.
// Without barriers where they are costly or not needed: the TPR lanes of each
// row split the row and combine with subgroup shuffles (SUBGROUP_REDUCE), or
// with TPR == 1 each invocation sums the row itself (the same for all);
// otherwise the workgroup shares one sum through a tree in memory.
fn row_sumsq(lid: u32, t0: u32, nt: u32, src: u32) {
    let xs = p.x_stride / 4u;
#ifdef SUBGROUP_REDUCE
    let lanes_share = true;
#else
    let lanes_share = TPR == 1u;
#endif
    if (lanes_share) {
        let lane = lid % TPR;
        for (var t = 0u; t < TT; t++) {
            var s = vec4<f32>(0.0);
            if (t < nt) {
                for (var i = lane; i < p.cols / 4u; i += TPR) {
                    let v = sq_source(src, t, (t0 + t) * xs + i, i);
                    s += v * v;
                }
            }
            var total = s.x + s.y + s.z + s.w;
#ifdef SUBGROUP_REDUCE
            for (var o = TPR / 2u; o > 0u; o >>= 1u) {
                total += subgroupShuffleXor(total, o);
            }
#endif
            sumsq[t] = total;
        }
        return;
    }
    for (var t = 0u; t < TT; t++) {
        var s = 0.0;
        if (t < nt) {
            for (var i = lid; i < p.cols / 4u; i += WG_SIZE) {
                let v = sq_source(src, t, (t0 + t) * xs + i, i);
                s += dot(v, v);
            }
        }
        partial[t * WG_SIZE + lid] = s;
    }
    workgroupBarrier();
    for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            for (var t = 0u; t < TT; t++) {
                partial[t * WG_SIZE + lid] += partial[t * WG_SIZE + lid + s];
            }
        }
        workgroupBarrier();
    }
    for (var t = 0u; t < TT; t++) {
        sumsq[t] = partial[t * WG_SIZE];
    }
    // `partial` is reused by the reduction.
    workgroupBarrier();
}

#ifdef NORM_X
// inv_rms for tokens t0..t0+nt over `cols` elements of the input stream.
// Called by the whole workgroup (after pending_prologue with PENDING).
fn norm_prologue(lid: u32, t0: u32, nt: u32) {
    row_sumsq(lid, t0, nt, 0u);
    for (var t = 0u; t < TT; t++) {
        inv_rms[t] = inverseSqrt(sumsq[t] / f32(p.cols) + p.eps);
    }
}
#endif

#ifdef PENDING
// pend_r for tokens t0..t0+nt; then, with PENDING_OUT, a `writer` workgroup
// (one per token group) stores x' of those tokens to x_out. Called by the
// whole workgroup before anything reads x_at.
fn pending_prologue(lid: u32, t0: u32, nt: u32, writer: bool) {
    row_sumsq(lid, t0, nt, 1u);
    for (var t = 0u; t < TT; t++) {
        pend_r[t] = inverseSqrt(sumsq[t] / f32(p.cols) + p.eps);
    }
#ifdef PENDING_OUT
    if (writer) {
        let xs = p.x_stride / 4u;
        for (var t = 0u; t < TT; t++) {
            if (t < nt) {
                for (var i = lid; i < p.cols / 4u; i += WG_SIZE) {
                    x_out[(t0 + t) * xs + i] = x_at(t, (t0 + t) * xs + i, i);
                }
            }
        }
    }
#endif
}
#endif

// acc[t] = this lane's share of W[row] . x[t0 + t] for t < nt, where the row
// starts at byte `rb` of w and is stored in format `kind`.
fn row_partial(kind: u32, rb: u32, lane: u32, t0: u32, nt: u32) {
    for (var t = 0u; t < TT; t++) {
        acc[t] = 0.0;
    }
    let xs = p.x_stride / 4u;
    for (var c = lane; c < p.cols / 32u; c += TPR) {
        load_chunk_of(kind, rb, c);
#ifdef NORM_X
        for (var i = 0u; i < 8u; i++) {
            cv[i] *= vecs[p.norm_off + c * 8u + i];
        }
#endif
        for (var t = 0u; t < TT; t++) {
            if (t < nt) {
                let xi = (t0 + t) * xs + c * 8u;
                var s = 0.0;
                for (var i = 0u; i < 8u; i++) {
                    s += dot(cv[i], x_at(t, xi + i, c * 8u + i));
                }
                acc[t] += s;
            }
        }
    }
#ifdef NORM_X
    for (var t = 0u; t < TT; t++) {
        acc[t] *= inv_rms[t];
    }
#endif
}

// After this, lane 0 of each row holds the row's total in acc. Called by the
// whole workgroup (uniform control flow: barriers or subgroup operations).
fn reduce_lanes(lid: u32) {
#ifdef SUBGROUP_REDUCE
    for (var t = 0u; t < TT; t++) {
        for (var o = TPR / 2u; o > 0u; o >>= 1u) {
            acc[t] += subgroupShuffleXor(acc[t], o);
        }
    }
#else
    if (TPR > 1u) {
        for (var t = 0u; t < TT; t++) {
            partial[t * WG_SIZE + lid] = acc[t];
        }
        workgroupBarrier();
        for (var s = TPR / 2u; s > 0u; s >>= 1u) {
            if (lid % TPR < s) {
                for (var t = 0u; t < TT; t++) {
                    partial[t * WG_SIZE + lid] += partial[t * WG_SIZE + lid + s];
                }
            }
            workgroupBarrier();
        }
        for (var t = 0u; t < TT; t++) {
            acc[t] = partial[t * WG_SIZE + lid];
        }
        // `partial` is reused by the next call.
        workgroupBarrier();
    }
#endif
}
