// Element-wise ops over (n_tokens, width) rows.
//   swiglu: a = silu(a) * b      (Llama FFN gate)
//   geglu:  a = gelu(a) * b      (Gemma FFN gate, tanh approximation as in llama.cpp)
//   gelu:   a = gelu(a), b unbound (BERT's FFN: up -> GELU -> down, no gate)
//   add:      a = a + b          (residual)
//   bias_add: a[t] = a[t] + b    (b is one (width) row for every token: projection biases)
//   scale_by: a = a * b[0]      (b is one f32: Gemma 4's layer_output_scale)
//   softcap:  a = cap * tanh(a / cap), b unbound (final logit soft-capping)
// b's element (t, i) is b[b_offset + t * b_stride + i] (swiglu, geglu, add):
// dense rows, or one slice of wider rows (Gemma 4's per-layer inputs).
#include "common/step.wgsl"
#include "common/act.wgsl"

struct Params {
    width: u32,   // elements per token
    cap: f32,     // softcap only
    b_offset: u32, // f32 from b's row start to its first element
    b_stride: u32, // f32 between b's rows
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;   // (n_tokens, width)
@group(0) @binding(3) var<storage, read> b: array<f32>;         // (n_tokens, b_stride); bias_add: (width); scale_by: (1)

fn index(gid: vec3<u32>) -> u32 {
    if (gid.y >= step.n_tokens || gid.x >= p.width) {
        return 0xffffffffu;
    }
    return gid.y * p.width + gid.x;
}

// b's element for a's element at gid (rows of b_stride from b_offset).
fn b_index(gid: vec3<u32>) -> u32 {
    return p.b_offset + gid.y * p.b_stride + gid.x;
}

@compute @workgroup_size(WG_SIZE)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i == 0xffffffffu) {
        return;
    }
    a[i] = silu(a[i]) * b[b_index(gid)];
}

@compute @workgroup_size(WG_SIZE)
fn geglu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i == 0xffffffffu) {
        return;
    }
    a[i] = gelu_tanh(a[i]) * b[b_index(gid)];
}

@compute @workgroup_size(WG_SIZE)
fn gelu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i == 0xffffffffu) {
        return;
    }
    a[i] = gelu_tanh(a[i]);
}

@compute @workgroup_size(WG_SIZE)
fn add(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i == 0xffffffffu) {
        return;
    }
    a[i] = a[i] + b[b_index(gid)];
}

@compute @workgroup_size(WG_SIZE)
fn bias_add(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i == 0xffffffffu) {
        return;
    }
    a[i] = a[i] + b[gid.x];
}

@compute @workgroup_size(WG_SIZE)
fn scale_by(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i == 0xffffffffu) {
        return;
    }
    a[i] = a[i] * b[0];
}

@compute @workgroup_size(WG_SIZE)
fn softcap(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i == 0xffffffffu) {
        return;
    }
    // tanh saturates to ±1 in f32 well before ±15; the clamp keeps exp-based tanh finite.
    a[i] = p.cap * tanh(clamp(a[i] / p.cap, -15.0, 15.0));
}
