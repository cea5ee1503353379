// Sampling on the GPU, so only the chosen id (4 bytes) comes back: the
// logit bias and the penalties of src/sampler.rs, then either the argmax
// (greedy; ties to the lowest id) or one draw from the temperature softmax
// over the candidates that top-k → top-p → min-p leave, with the same
// candidate set and probabilities as `Sampler` (src/sampler.rs).
//
// One workgroup of WG_SIZE (= 256) threads loops over the vocabulary, so every
// stage sees the whole row without another dispatch:
//   0. logit bias, then penalties (llama.cpp's order): each adjusted id's
//      logit is changed in place (the original saved in `adjusted`) and put
//      back at the end, so `logits` is unchanged after the kernel (it can be
//      read back or sampled again);
//   1. a pass for the max (key, lowest id). Greedy stops here;
//   2. with top-k, top-p or min-p, a pass counts the logits (and for top-p
//      without top-k sums their mass exp(l - max)) on a ladder of distances
//      d = max - l < 2^(j-7), j = 0..15, in registers (no atomics). The first
//      step that must hold every candidate (the top-k; the nucleus; min-p's
//      reach) bounds the set. If it holds more than CAP logits, up to three
//      more passes cut that step in 16 and look again. Once the bound holds
//      ≤ CAP logits, a pass gathers them into workgroup memory, where a
//      bitonic sort (logit descending, id ascending: the CPU's order) gives
//      top-k, top-p and min-p exactly, and a second sort puts the candidates
//      in id order for the draw;
//   3. otherwise (many candidates) the cuts over the whole row, as a key τ
//      (the order-preserving u32 of a logit) and how many logits equal to τ
//      are kept, q (lowest ids first): a candidate is key > τ, or key == τ
//      among the first q such ids (no cut: τ = 0, below every key). A cut that
//      ends in a ladder step of ≤ CAP logits gathers and sorts that step
//      alone, the ladder counting (and weighing) the logits before it. Else a
//      radix select: one pass per byte of the key with a 256-bin histogram of
//      counts (top-k), or of masses as 64-bit fixed point (top-p over the
//      top-k set: exact integer sums, so the levels agree). A cut that ends
//      beyond the ladder's bound is not needed. The draw: each thread sums
//      exp((l - max) / t) over the candidates of its contiguous block of ids
//      (min-p applied per logit); a scan finds the block where u × total
//      falls, and that thread walks its block.
// Both paths draw in id order (the CPU draws in its candidate order): the
// same distribution, and for a given draw the same token on every run.
#include "common/step.wgsl"

struct Shape {
    n: u32,              // vocabulary size (≥ 1)
    max_adjusted: u32,   // entries `adjusted` holds
    _pad0: u32,
    _pad1: u32,
};
@group(0) @binding(1) var<uniform> shape: Shape;

// Written before each step (src/kernels/sample.rs `SampleParams`), already
// normalised: "off" stages hold their off values.
struct SampleParams {
    greedy: u32,              // 1: argmax of the biased and penalised logits
    top_k: u32,               // keep the top_k highest; 0 = off (0 < top_k < n)
    top_p: f32,               // nucleus mass; ≥ 1 = off
    min_p: f32,               // keep exp(l - max) ≥ min_p; 0 = off (≤ 1)
    temperature: f32,         // > 0 unless greedy
    repetition_penalty: f32,
    frequency_penalty: f32,
    presence_penalty: f32,
    n_adjusted: u32,          // entries of `adjusted` in use
    draw: u32,                // uniform u32; u = (draw >> 8) / 2^24, as Rng::next_f32
    _pad0: u32,
    _pad1: u32,
};
@group(0) @binding(2) var<uniform> sp: SampleParams;

// A distinct id whose logit the step changes (src/kernels/sample.rs
// `Adjusted`): how often it occurs in the penalty window (0: not penalised),
// (kernel scratch) its original logit's bits, and its logit bias (0: none).
struct Adjusted {
    id: u32,
    count: u32,
    saved: u32,
    bias: f32,
};
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;          // (n); penalised during the kernel, restored at its end
@group(0) @binding(4) var<storage, read_write> adjusted: array<Adjusted>;   // (max_adjusted) distinct ids, n_adjusted in use
@group(0) @binding(5) var<storage, read_write> out: array<u32>;             // (1) the chosen id
#ifdef PROBS
@group(0) @binding(6) var<storage, read_write> probs: array<f32>;           // (n) test only: each id's probability of being drawn
#endif

const BINS: u32 = 256u;
const_assert WG_SIZE == BINS; // one histogram bin per thread in the scans
// Key of -inf; NaN logits get it too (the CPU sampler makes them -inf).
const NEG_INF_KEY: u32 = 0x007fffffu;
// Fixed-point scale of exp(l - max) ∈ [0, 1] in the top-p histograms: 2^31.
const FX_ONE: f32 = 2147483648.0;

// Largest candidate set finished in workgroup memory (the sort's size).
const CAP: u32 = 1024u;
// Ladder steps: step j holds d = max - l < 2^(j - 7); 16 = beyond (d ≥ 256).
const LADDER: u32 = 16u;

// Workgroup memory: about 15.1 KiB of the 16 KiB WebGPU guarantees.
var<workgroup> sort_key: array<u32, CAP>;          // small path: keys; also the max's reduction
var<workgroup> sort_id: array<u32, CAP>;           // their ids
var<workgroup> hist_n: array<atomic<u32>, BINS>;   // logits per bin (radix) or per ladder step
var<workgroup> hist_lo: array<atomic<u32>, BINS>;  // fixed-point mass per bin, low word
var<workgroup> hist_hi: array<atomic<u32>, BINS>;  // high word
var<workgroup> scan_n: array<u32, WG_SIZE>;
var<workgroup> scan_w: array<vec2<u32>, WG_SIZE>;  // 64-bit (lo, hi)
var<workgroup> scan_f: array<f32, WG_SIZE>;
var<workgroup> counter: atomic<u32>;

// The bin a radix level chose.
struct Pick {
    found: u32,
    digit: u32,           // the bin (this level's byte of the key)
    above_n: u32,         // logits in higher bins
    bin_n: u32,           // logits in the bin
    above_w: vec2<u32>,   // their mass (fixed point, 64-bit)
    bin_w: vec2<u32>,
};
var<workgroup> pick: Pick;

// A ladder: 16 steps of d = max - l, either geometric (step j holds
// d < 2^(j - 7)) or linear within a window (step j holds d < lo + (j+1)·width),
// and what a pass over it found: the step that bounds the candidates and how
// many logits lie within it; the step where the top-k ends and how many
// logits come before it; the step where the nucleus of the row ends (exact
// mass) and the mass before it; the total mass of the row (fixed point; the
// masses only for top-p without top-k); the window to refine next.
struct Plan {
    lo: f32,
    width: f32,
    linear: u32,
    step: u32,
    count: u32,
    step_k: u32,          // LADDER: beyond the ladder
    above_k: u32,
    step_p: u32,          // LADDER: beyond the ladder
    above_p: vec2<u32>,
    total: vec2<u32>,
    next_lo: f32,
    next_width: f32,
    refinable: u32,
};
var<workgroup> plan: Plan;
var<workgroup> top: vec2<u32>;       // (max key, its lowest id)
var<workgroup> walker: vec2<u32>;    // (thread that walks + 1, take its last candidate)
var<workgroup> chosen: u32;
var<workgroup> window_cut: vec2<u32>; // (τ, q) from window_select

// ---- keys: u32s in the order of the logits (NaN as -inf, -0 as +0) ----

fn key_of(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        return NEG_INF_KEY;
    }
    if (b == 0x80000000u) {
        return 0x80000000u;
    }
    if ((b & 0x80000000u) != 0u) {
        return ~b;
    }
    return b | 0x80000000u;
}

fn value_of(k: u32) -> f32 {
    if ((k & 0x80000000u) != 0u) {
        return bitcast<f32>(k & 0x7fffffffu);
    }
    return bitcast<f32>(~k);
}

fn is_finite_key(k: u32) -> bool {
    return k > NEG_INF_KEY && k < 0xff800000u;
}

// The geometric ladder step of d ≥ 0: the smallest j with d < 2^(j - 7),
// LADDER if none.
fn ladder_step(d: f32) -> u32 {
    let e = i32((bitcast<u32>(d) >> 23u) & 0xffu);
    return u32(clamp(e - 119, 0, i32(LADDER)));
}

// The step of d ≥ 0 on the ladder (lo, width, linear); monotone in d.
fn bucket(d: f32, lo: f32, width: f32, linear: u32) -> u32 {
    if (linear == 0u) {
        return ladder_step(d);
    }
    if (d < lo) {
        return 0u;
    }
    return u32(min(floor((d - lo) / width), f32(LADDER)));
}

// ---- e^x as src/sampler.rs computes it (+, ×, rounding and bit tricks) ----

// Called with x ≤ 0 only (logit - max); above 88 the CPU's gives +inf, which
// WGSL cannot write as a constant: a near-largest f32 here.
fn exp_det(x: f32) -> f32 {
    if (!(x >= -87.0)) {
        return 0.0;
    }
    if (x > 88.0) {
        return 3.4e38;
    }
    let k = round(x * 1.442695);
    let r = x - k * 0.6933594 - k * -2.1219444e-4;
    var p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p * bitcast<f32>(u32(i32(k) + 127) << 23u);
}

// exp(l - max), the top-p mass; 0 for -inf and NaN.
fn mass(k: u32, m: f32) -> f32 {
    if (!is_finite_key(k)) {
        return 0.0;
    }
    return exp_det(value_of(k) - m);
}

// The mass as 2^31 fixed point.
fn mass_fx(k: u32, m: f32) -> u32 {
    return u32(min(mass(k, m), 1.0) * FX_ONE);
}

// The draw weight exp((l - max) / t), 0 where min-p drops the logit.
fn weight(k: u32, m: f32) -> f32 {
    if (!is_finite_key(k)) {
        return 0.0;
    }
    let d = value_of(k) - m;
    if (sp.min_p > 0.0 && !(exp_det(d) >= sp.min_p)) {
        return 0.0;
    }
    return exp_det(d / sp.temperature);
}

// ---- 64-bit unsigned integers as (lo, hi) ----

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn ge64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y > b.y || (a.y == b.y && a.x >= b.x);
}

fn f32_of64(a: vec2<u32>) -> f32 {
    return f32(a.y) * 4294967296.0 + f32(a.x);
}

// floor(x) for 0 ≤ x < 2^64.
fn u64_of_f32(x: f32) -> vec2<u32> {
    let hi = floor(x * (1.0 / 4294967296.0));
    return vec2<u32>(u32(floor(x - hi * 4294967296.0)), u32(hi));
}

fn mul64(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let mid = a0 * b1 + a1 * b0; // < 2^33: keep the carry
    let mid_carry = select(0u, 1u, mid < a0 * b1);
    let p00 = a0 * b0;
    let lo = p00 + (mid << 16u);
    let hi = a1 * b1 + (mid >> 16u) + (mid_carry << 16u) + select(0u, 1u, lo < p00);
    return vec2<u32>(lo, hi);
}

// Atomically adds the 64-bit `w` to bin `i` of hist_lo / hist_hi.
fn hist_add64(i: u32, w: vec2<u32>) {
    let old = atomicAdd(&hist_lo[i], w.x);
    let carry = select(0u, 1u, old > 0xffffffffu - w.x);
    if (w.y + carry > 0u) {
        atomicAdd(&hist_hi[i], w.y + carry);
    }
}

fn hist_load64(i: u32) -> vec2<u32> {
    return vec2<u32>(atomicLoad(&hist_lo[i]), atomicLoad(&hist_hi[i]));
}

fn clear_hist(lid: u32) {
    atomicStore(&hist_n[lid], 0u);
    atomicStore(&hist_lo[lid], 0u);
    atomicStore(&hist_hi[lid], 0u);
}

// ---- logit bias, then penalties (llama.cpp's order, as Sampler::fill_candidates, apply_penalties) ----

fn penalize(v: f32, count: u32) -> f32 {
    var l = v;
    if (l <= 0.0) {
        l *= sp.repetition_penalty;
    } else {
        l /= sp.repetition_penalty;
    }
    return l - (f32(count) * sp.frequency_penalty + sp.presence_penalty);
}

fn apply_adjustments(lid: u32) {
    let n_adj = min(sp.n_adjusted, shape.max_adjusted);
    for (var j = lid; j < n_adj; j += WG_SIZE) {
        let e = adjusted[j];
        if (e.id < shape.n) {
            let v = logits[e.id];
            adjusted[j].saved = bitcast<u32>(v);
            // -inf and NaN stay as they are (the CPU's -inf stays -inf,
            // whatever is added).
            if (is_finite_key(key_of(v))) {
                var l = v + e.bias;
                if (e.count > 0u) {
                    l = penalize(l, e.count);
                }
                logits[e.id] = l;
            }
        }
    }
    storageBarrier();
}

fn restore_adjustments(lid: u32) {
    storageBarrier();
    let n_adj = min(sp.n_adjusted, shape.max_adjusted);
    for (var j = lid; j < n_adj; j += WG_SIZE) {
        let e = adjusted[j];
        if (e.id < shape.n) {
            logits[e.id] = bitcast<f32>(e.saved);
        }
    }
}

// ---- the max: (key, lowest id) ----

fn find_max(lid: u32) -> vec2<u32> {
    var bk = 0u;
    var bi = 0u;
    for (var i = lid; i < shape.n; i += WG_SIZE) {
        let k = key_of(logits[i]);
        if (k > bk) {
            bk = k;
            bi = i;
        }
    }
    sort_key[lid] = bk;
    sort_id[lid] = bi;
    workgroupBarrier();
    for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let ok = sort_key[lid + s];
            let oi = sort_id[lid + s];
            if (ok > sort_key[lid] || (ok == sort_key[lid] && oi < sort_id[lid])) {
                sort_key[lid] = ok;
                sort_id[lid] = oi;
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        top = vec2<u32>(sort_key[0], sort_id[0]);
    }
    return workgroupUniformLoad(&top);
}

// ---- the ladder: how many logits (and how much mass) lie within each step ----

fn ladder(lid: u32, m: f32, lo: f32, width: f32, linear: u32) -> Plan {
    // Top-p after top-k needs the mass of the whole top-k set: then the
    // top-k bounds the gathered set and the row's mass is not needed.
    let topk_mass = sp.top_k > 0u && sp.top_p < 1.0;
    let with_mass = sp.top_p < 1.0 && !topk_mass;
    var cnt: array<u32, 17>;
    var fx: array<vec2<u32>, 17>; // each thread's mass per step, fixed point
    for (var i = lid; i < shape.n; i += WG_SIZE) {
        let key = key_of(logits[i]);
        if (!is_finite_key(key)) {
            continue;
        }
        let d = m - value_of(key);
        let j = bucket(d, lo, width, linear);
        cnt[j] += 1u;
        if (with_mass) {
            // = mass_fx(key, m): -d is exactly value - m.
            fx[j] = add64(fx[j], vec2<u32>(u32(min(exp_det(-d), 1.0) * FX_ONE), 0u));
        }
    }
    clear_hist(lid);
    workgroupBarrier();
    for (var j = 0u; j <= LADDER; j++) {
        if (cnt[j] > 0u) {
            atomicAdd(&hist_n[j], cnt[j]);
            if (with_mass) {
                hist_add64(j, fx[j]);
            }
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        var total = vec2<u32>(0u, 0u);
        for (var j = 0u; j <= LADDER; j++) {
            total = add64(total, hist_load64(j));
        }
        // The nucleus of the row ends where the mass reaches `goal` (as the
        // radix select computes it); the small path's f32 sums need a margin
        // of 2^-16 of the total on top.
        let goal = u64_of_f32(sp.top_p * f32_of64(total));
        let goal_margin = add64(goal, vec2<u32>((total.x >> 16u) | (total.y << 16u), total.y >> 16u));
        var step_k = LADDER;
        var above_k = 0u;
        var step_p = LADDER;
        var above_p = vec2<u32>(0u, 0u);
        var step_margin = LADDER;
        var step_m = LADDER;
        if (sp.min_p > 0.0) {
            // min-p keeps exp(-d) ≥ min_p: d ≤ -ln(min_p) (with a margin).
            step_m = bucket(-log(sp.min_p) * 1.001 + 1e-6, lo, width, linear);
        }
        var c = 0u;
        var w = vec2<u32>(0u, 0u);
        var counts: array<u32, 16>;
        for (var j = 0u; j < LADDER; j++) {
            let before_c = c;
            let before_w = w;
            c += atomicLoad(&hist_n[j]);
            w = add64(w, hist_load64(j));
            counts[j] = c;
            if (sp.top_k > 0u && step_k == LADDER && c >= sp.top_k) {
                step_k = j;
                above_k = before_c;
            }
            if (with_mass && step_p == LADDER && ge64(w, goal)) {
                step_p = j;
                above_p = before_w;
            }
            if (with_mass && step_margin == LADDER && ge64(w, goal_margin)) {
                step_margin = j;
            }
        }
        // The candidates lie within each bound (top-p after top-k: the top-k).
        var step = min(step_margin, step_m);
        if (sp.top_k > 0u) {
            step = select(min(step, step_k), step_k, topk_mass);
        }
        var count = 0xffffffffu;
        var next_lo = 0.0;
        var next_width = 0.0;
        if (step < LADDER) {
            count = counts[step];
            // The window of that step, cut in 16 for the next pass.
            if (linear == 0u) {
                let edge = exp2(f32(step) - 7.0);
                next_lo = select(0.0, edge * 0.5, step > 0u);
                next_width = (edge - next_lo) / 16.0;
            } else {
                next_lo = lo + f32(step) * width;
                next_width = width / 16.0;
            }
        }
        // A closer look helps while the bounding step holds more than CAP
        // logits (for the small path, or for a radix select over that step
        // alone) and f32 can still split it.
        let above = select(0u, counts[max(step, 1u) - 1u], step > 0u);
        let refinable = step < LADDER && count - above > CAP && next_width > max(next_lo, 1e-30) * 1e-6;
        plan = Plan(lo, width, linear, step, count, step_k, above_k, step_p, above_p, total, next_lo, next_width, u32(refinable));
    }
    return workgroupUniformLoad(&plan);
}

// ---- the small path: every candidate in workgroup memory ----

// Whether entry a goes before entry b: logit descending, id ascending.
fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
    return ka > kb || (ka == kb && ia < ib);
}

// Bitonic sort of sort_key / sort_id[..size] (size a power of two), by
// (key desc, id asc), or by id alone.
fn bitonic(lid: u32, size: u32, by_id: bool) {
    workgroupBarrier();
    for (var block = 2u; block <= size; block <<= 1u) {
        for (var stride = block >> 1u; stride > 0u; stride >>= 1u) {
            for (var t = lid; t < size / 2u; t += WG_SIZE) {
                let a = 2u * t - (t & (stride - 1u));
                let b = a + stride;
                let ka = sort_key[a];
                let ia = sort_id[a];
                let kb = sort_key[b];
                let ib = sort_id[b];
                var b_first = false;
                if (by_id) {
                    b_first = ib < ia;
                } else {
                    b_first = before(kb, ib, ka, ia);
                }
                // Alternate blocks run the other way until the last merge.
                if ((a & block) != 0u) {
                    b_first = !b_first && !(ka == kb && ia == ib);
                }
                if (b_first) {
                    sort_key[a] = kb;
                    sort_id[a] = ib;
                    sort_key[b] = ka;
                    sort_id[b] = ia;
                }
            }
            workgroupBarrier();
        }
    }
}

// Inclusive scan of scan_f over the threads; returns the total.
fn scan_floats(lid: u32) -> f32 {
    workgroupBarrier();
    for (var off = 1u; off < WG_SIZE; off <<= 1u) {
        var v = scan_f[lid];
        if (lid >= off) {
            v += scan_f[lid - off];
        }
        workgroupBarrier();
        scan_f[lid] = v;
        workgroupBarrier();
    }
    return scan_f[WG_SIZE - 1u];
}

// Gathers the logits of ladder steps ≤ p.step (p.count of them, ≤ CAP) and
// samples from them as the CPU does. False if top-p's target was not
// reached within them (f32 rounding; the caller then takes the long path).
fn small_path(lid: u32, m: f32, p: Plan) -> bool {
    atomicStore(&counter, 0u);
    workgroupBarrier();
    for (var i = lid; i < shape.n; i += WG_SIZE) {
        let key = key_of(logits[i]);
        if (is_finite_key(key) && bucket(m - value_of(key), p.lo, p.width, p.linear) <= p.step) {
            let slot = atomicAdd(&counter, 1u);
            if (slot < CAP) {
                sort_key[slot] = key;
                sort_id[slot] = i;
            }
        }
    }
    let count = min(p.count, CAP);
    var size = 1u;
    while (size < count) {
        size <<= 1u;
    }
    for (var s = count + lid; s < size; s += WG_SIZE) {
        sort_key[s] = 0u;
        sort_id[s] = 0xffffffffu;
    }
    bitonic(lid, size, false);
    // Each thread takes `per` consecutive entries.
    let per = (size + WG_SIZE - 1u) / WG_SIZE;
    let lo = min(size, lid * per);
    let hi = min(size, lo + per);
    // top-k: the first k (all when there are fewer).
    var k = count;
    if (sp.top_k > 0u) {
        k = min(sp.top_k, count);
    }
    // top-p: the shortest head of the top-k whose mass reaches top_p × the
    // mass of the top-k (without top-k: of the whole row).
    var keep = k;
    if (sp.top_p < 1.0) {
        var s = 0.0;
        for (var i = lo; i < min(hi, k); i++) {
            s += mass(sort_key[i], m);
        }
        scan_f[lid] = s;
        var total = scan_floats(lid);
        if (sp.top_k == 0u) {
            total = f32_of64(p.total) / FX_ONE;
        }
        let goal = sp.top_p * total;
        atomicStore(&counter, 0xffffffffu);
        workgroupBarrier();
        var cum = select(0.0, scan_f[max(lid, 1u) - 1u], lid > 0u);
        for (var i = lo; i < min(hi, k); i++) {
            cum += mass(sort_key[i], m);
            if (cum >= goal) {
                atomicMin(&counter, i + 1u);
                break;
            }
        }
        let reached = workgroupUniformLoad(&counter);
        if (reached != 0xffffffffu) {
            keep = reached;
        } else if (sp.top_k == 0u) {
            return false;
        }
    }
    // The candidates in id order (min-p is in `weight`), then the draw.
    for (var s = keep + lid; s < size; s += WG_SIZE) {
        sort_id[s] = 0xffffffffu;
    }
    bitonic(lid, size, true);
    var s = 0.0;
    for (var i = lo; i < min(hi, keep); i++) {
        s += weight(sort_key[i], m);
    }
    scan_f[lid] = s;
    let total = scan_floats(lid);
    let goal = f32(sp.draw >> 8u) * (1.0 / 16777216.0) * total;
    var cum = select(0.0, scan_f[max(lid, 1u) - 1u], lid > 0u);
    atomicStore(&counter, 0xffffffffu);
    atomicStore(&hist_n[0], 0u);
    workgroupBarrier();
    var last = 0xffffffffu;
    for (var i = lo; i < min(hi, keep); i++) {
        let w = weight(sort_key[i], m);
        if (w > 0.0) {
            cum += w;
            last = i;
            if (goal < cum) {
                atomicMin(&counter, i);
                break;
            }
        }
    }
    // Rounding left the goal at the very top: the last candidate with weight.
    if (last != 0xffffffffu) {
        atomicMax(&hist_n[0], last + 1u);
    }
    let hit = workgroupUniformLoad(&counter);
    if (lid == 0u) {
        if (hit != 0xffffffffu) {
            chosen = sort_id[hit];
        } else if (atomicLoad(&hist_n[0]) > 0u) {
            chosen = sort_id[atomicLoad(&hist_n[0]) - 1u];
        }
    }
#ifdef PROBS
    for (var i = lid; i < shape.n; i += WG_SIZE) {
        probs[i] = 0.0;
    }
    storageBarrier();
    for (var i = lo; i < min(hi, keep); i++) {
        probs[sort_id[i]] = weight(sort_key[i], m) / total;
    }
#endif
    return true;
}

// ---- the long path: the boundary of a large top-k or nucleus ----

// Where the ladder `p` found the step in which the top-k (weighted = false)
// or the nucleus of the row (weighted, no top-k) ends, and that step holds
// ≤ CAP logits: gathers and sorts them, puts (τ, q) in `window_cut` as
// radix_select would return them, and returns true; false when the step
// holds more.
fn window_select(lid: u32, weighted: bool, m: f32, p: Plan) -> bool {
    let window = select(p.step_k, p.step_p, weighted);
    atomicStore(&counter, 0u);
    workgroupBarrier();
    for (var i = lid; i < shape.n; i += WG_SIZE) {
        let key = key_of(logits[i]);
        if (is_finite_key(key) && bucket(m - value_of(key), p.lo, p.width, p.linear) == window) {
            let slot = atomicAdd(&counter, 1u);
            if (slot < CAP) {
                sort_key[slot] = key;
                sort_id[slot] = i;
            }
        }
    }
    let count = workgroupUniformLoad(&counter);
    if (count > CAP || count == 0u) {
        return false;
    }
    var size = 1u;
    while (size < count) {
        size <<= 1u;
    }
    for (var s = count + lid; s < size; s += WG_SIZE) {
        sort_key[s] = 0u;
        sort_id[s] = 0xffffffffu;
    }
    bitonic(lid, size, false);
    // The last entry of the prefix: the remaining count, or where the
    // remaining mass is reached (exact fixed point, as the ladder's).
    var last = min(sp.top_k - p.above_k, count) - 1u;
    if (weighted) {
        let per = (size + WG_SIZE - 1u) / WG_SIZE;
        let lo = min(count, lid * per);
        let hi = min(count, lo + per);
        var w = vec2<u32>(0u, 0u);
        for (var i = lo; i < hi; i++) {
            w = add64(w, vec2<u32>(mass_fx(sort_key[i], m), 0u));
        }
        scan_n[lid] = 0u;
        scan_w[lid] = w;
        scan_counts_and_mass(lid);
        let goal = sub64(u64_of_f32(sp.top_p * f32_of64(p.total)), p.above_p);
        atomicStore(&counter, count - 1u);
        workgroupBarrier();
        var cum = sub64(scan_w[lid], w);
        for (var i = lo; i < hi; i++) {
            cum = add64(cum, vec2<u32>(mass_fx(sort_key[i], m), 0u));
            if (ge64(cum, goal)) {
                atomicMin(&counter, i);
                break;
            }
        }
        last = workgroupUniformLoad(&counter);
    }
    // q: how many of τ's ties (they sit together, lowest ids first) are in.
    let tau = sort_key[last];
    atomicStore(&counter, last);
    workgroupBarrier();
    for (var i = lid; i <= last; i += WG_SIZE) {
        if (sort_key[i] == tau && (i == 0u || sort_key[i - 1u] != tau)) {
            atomicMin(&counter, i);
        }
    }
    let first = workgroupUniformLoad(&counter);
    if (lid == 0u) {
        window_cut = vec2<u32>(tau, last + 1u - first);
    }
    return true;
}

// ---- the long path: radix select over the whole row (ties, wide steps, big top-k) ----

// Inclusive scans over the threads of scan_n and scan_w.
fn scan_counts_and_mass(lid: u32) {
    workgroupBarrier();
    for (var off = 1u; off < WG_SIZE; off <<= 1u) {
        var n = scan_n[lid];
        var w = scan_w[lid];
        if (lid >= off) {
            n += scan_n[lid - off];
            w = add64(w, scan_w[lid - off]);
        }
        workgroupBarrier();
        scan_n[lid] = n;
        scan_w[lid] = w;
        workgroupBarrier();
    }
}

// The prefix (τ, q) of the order (key descending, id ascending) that holds
// the top_k finite logits (weighted = false), or, weighted, the smallest
// prefix of the top-k set (τk, qk) whose mass exp(l - m) reaches top_p × its
// total. Where the ladder `p` found the step where that prefix ends, only
// the logits of that step take part (those before it are all in): few
// histogram atomics. Returns (τ, q). Fewer than top_k finite logits: all
// (0, 0). A weighted select whose goal is never reached (rounding at
// top_p ≈ 1) keeps the whole top-k set, as the CPU does.
fn radix_select(lid: u32, weighted: bool, m: f32, p: Plan, tk: u32, qk: u32) -> vec2<u32> {
    var window = LADDER;
    var rem_n = sp.top_k;
    var rem_w = vec2<u32>(0u, 0u);
    if (!weighted) {
        window = p.step_k;
        if (window < LADDER) {
            rem_n -= p.above_k;
        }
    } else if (sp.top_k == 0u) {
        window = p.step_p;
        if (window < LADDER) {
            rem_w = sub64(u64_of_f32(sp.top_p * f32_of64(p.total)), p.above_p);
        }
    }
    var prefix = 0u;
    for (var level = 0u; level < 4u; level++) {
        let shift = 24u - 8u * level;
        clear_hist(lid);
        workgroupBarrier();
        if (lid == 0u) {
            pick.found = 0u;
        }
        for (var i = lid; i < shape.n; i += WG_SIZE) {
            let key = key_of(logits[i]);
            if (level > 0u && (key >> (shift + 8u)) != prefix) {
                continue;
            }
            let bin = (key >> shift) & 0xffu;
            if (window < LADDER) {
                if (!is_finite_key(key) || bucket(m - value_of(key), p.lo, p.width, p.linear) != window) {
                    continue;
                }
            } else if (weighted) {
                // Outside the top-k set, or one of τk's ties (added below).
                if (key <= tk) {
                    continue;
                }
            } else if (!is_finite_key(key)) {
                continue;
            }
            if (weighted) {
                hist_add64(bin, vec2<u32>(mass_fx(key, m), 0u));
            }
            atomicAdd(&hist_n[bin], 1u);
        }
        // The qk ties of τk in the top-k set: all of equal mass.
        if (weighted && lid == 0u && qk > 0u && (level == 0u || (tk >> (shift + 8u)) == prefix)) {
            let bin = (tk >> shift) & 0xffu;
            atomicAdd(&hist_n[bin], qk);
            hist_add64(bin, mul64(qk, mass_fx(tk, m)));
        }
        workgroupBarrier();
        // Thread t holds bin 255 - t: the scans run from the highest keys down.
        let bin = BINS - 1u - lid;
        let c = atomicLoad(&hist_n[bin]);
        let w = hist_load64(bin);
        scan_n[lid] = c;
        scan_w[lid] = w;
        scan_counts_and_mass(lid);
        if (weighted && level == 0u && window == LADDER) {
            rem_w = u64_of_f32(sp.top_p * f32_of64(scan_w[WG_SIZE - 1u]));
        }
        // The first bin where the running count (mass) reaches the goal.
        var hit = false;
        var hit_before = false;
        if (weighted) {
            hit = scan_n[lid] > 0u && ge64(scan_w[lid], rem_w);
            hit_before = lid > 0u && scan_n[lid - 1u] > 0u && ge64(scan_w[lid - 1u], rem_w);
        } else {
            hit = scan_n[lid] >= rem_n;
            hit_before = lid > 0u && scan_n[lid - 1u] >= rem_n;
        }
        if (hit && !hit_before) {
            pick = Pick(1u, bin, scan_n[lid] - c, c, sub64(scan_w[lid], w), w);
        }
        let p = workgroupUniformLoad(&pick);
        if (p.found == 0u) {
            if (weighted) {
                return vec2<u32>(tk, qk);
            }
            return vec2<u32>(0u, 0u);
        }
        prefix = (prefix << 8u) | p.digit;
        rem_n -= p.above_n;
        rem_w = sub64(rem_w, p.above_w);
        if (level == 3u) {
            if (!weighted) {
                return vec2<u32>(prefix, rem_n);
            }
            // Ties of τ have equal mass: as many as the remaining goal needs.
            let wt = mass_fx(prefix, m);
            var q = 1u;
            if (wt > 0u) {
                q = u32(ceil(f32_of64(rem_w) / f32(wt)));
            }
            return vec2<u32>(prefix, clamp(q, 1u, p.bin_n));
        }
    }
    return vec2<u32>(tk, qk); // not reached
}

// Whether the logit with key `key` is a candidate: above τ, or one of τ's
// first q ties by id (`tie_rank` of them came before it).
fn member(key: u32, tau: u32, q: u32, tie_rank: u32) -> bool {
    return key > tau || (key == tau && tie_rank < q);
}

fn draw(lid: u32, m: f32, tau: u32, q: u32) {
    let n = shape.n;
    let block = (n + WG_SIZE - 1u) / WG_SIZE;
    let lo = min(n, lid * block);
    let hi = min(n, lo + block);
    var s = 0.0;
    var ties = 0u;
    for (var i = lo; i < hi; i++) {
        let key = key_of(logits[i]);
        if (key > tau) {
            s += weight(key, m);
        } else if (key == tau) {
            ties += 1u;
        }
    }
    // Ties of τ before this block (exclusive scan), and how many of this
    // block's are candidates.
    scan_n[lid] = ties;
    scan_w[lid] = vec2<u32>(0u, 0u);
    scan_counts_and_mass(lid);
    let ties_before = scan_n[lid] - ties;
    let tie_members = min(ties, q - min(q, ties_before));
    s += f32(tie_members) * weight(tau, m);
    // Running total over the blocks.
    scan_f[lid] = s;
    atomicStore(&counter, 0u);
    let total = scan_floats(lid);
    let goal = f32(sp.draw >> 8u) * (1.0 / 16777216.0) * total;
    let before = select(0.0, scan_f[max(lid, 1u) - 1u], lid > 0u);
    if (goal < scan_f[lid] && !(lid > 0u && goal < before)) {
        walker = vec2<u32>(lid + 1u, 0u);
    }
    if (s > 0.0) {
        atomicMax(&counter, lid + 1u);
    }
    workgroupBarrier();
    // Rounding left the goal at the very top: the last candidate with weight.
    if (lid == 0u && walker.x == 0u) {
        walker = vec2<u32>(atomicLoad(&counter), 1u);
    }
    workgroupBarrier();
    let wk = walker;
    if (wk.x == lid + 1u) {
        var cum = before;
        var seen = 0u;
        var last = lo;
        var pick_id = 0xffffffffu;
        for (var i = lo; i < hi; i++) {
            let key = key_of(logits[i]);
            let is_member = member(key, tau, q, ties_before + seen);
            if (key == tau) {
                seen += 1u;
            }
            if (!is_member) {
                continue;
            }
            let w = weight(key, m);
            if (w > 0.0) {
                cum += w;
                last = i;
                if (wk.y == 0u && goal < cum) {
                    pick_id = i;
                    break;
                }
            }
        }
        chosen = select(pick_id, last, pick_id == 0xffffffffu);
    }
#ifdef PROBS
    var seen = 0u;
    for (var i = lo; i < hi; i++) {
        let key = key_of(logits[i]);
        var p = 0.0;
        if (member(key, tau, q, ties_before + seen)) {
            p = weight(key, m) / total;
        }
        probs[i] = p;
        if (key == tau) {
            seen += 1u;
        }
    }
#endif
}

@compute @workgroup_size(WG_SIZE)
fn sample(@builtin(local_invocation_index) lid: u32) {
    // step.n_tokens is read so the step binding stays in the layout.
    if (step.n_tokens == 0u) {
        return;
    }
    apply_adjustments(lid);
    let best = find_max(lid);
    if (lid == 0u) {
        walker = vec2<u32>(0u, 0u);
        chosen = best.y;
    }
    // Greedy, or nothing but -inf / NaN (as the CPU: the lowest id).
    if (sp.greedy == 0u && best.x > NEG_INF_KEY) {
        let m = value_of(best.x);
        var done = false;
        // No ladder: no bound, every stage over the whole row.
        var p = Plan(0.0, 0.0, 0u, LADDER, 0xffffffffu, LADDER, 0u, LADDER, vec2<u32>(0u, 0u), vec2<u32>(0u, 0u), 0.0, 0.0, 0u);
        if (sp.top_k > 0u || sp.top_p < 1.0 || sp.min_p > 0.0) {
            p = ladder(lid, m, 0.0, 0.0, 0u);
            // Too many logits in the bounding step: look closer, up to 3 times.
            for (var r = 0u; r < 3u && p.count > CAP && p.refinable != 0u; r++) {
                p = ladder(lid, m, p.next_lo, p.next_width, 1u);
            }
            if (p.count <= CAP) {
                done = small_path(lid, m, p);
            }
        }
        if (!done) {
            // A stage that ends beyond the bound keeps every logit within it:
            // no cut needed.
            var cut = vec2<u32>(0u, 0u);
            if (sp.top_k > 0u && !(p.step_k > p.step)) {
                var windowed = false;
                if (p.step_k < LADDER) {
                    windowed = window_select(lid, false, m, p);
                }
                if (windowed) {
                    cut = workgroupUniformLoad(&window_cut);
                } else {
                    cut = radix_select(lid, false, m, p, 0u, 0u);
                }
            }
            if (sp.top_p < 1.0 && (sp.top_k > 0u || !(p.step_p > p.step))) {
                var windowed = false;
                if (sp.top_k == 0u && p.step_p < LADDER) {
                    windowed = window_select(lid, true, m, p);
                }
                if (windowed) {
                    cut = workgroupUniformLoad(&window_cut);
                } else {
                    cut = radix_select(lid, true, m, p, cut.x, cut.y);
                }
            }
            draw(lid, m, cut.x, cut.y);
        }
    } else {
#ifdef PROBS
        for (var i = lid; i < shape.n; i += WG_SIZE) {
            probs[i] = select(0.0, 1.0, i == best.y);
        }
#endif
    }
    restore_adjustments(lid);
    workgroupBarrier();
    if (lid == 0u) {
        out[0] = chosen;
    }
}
