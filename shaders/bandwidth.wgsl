// Memory-bandwidth probes (src/bench.rs): `read`, `write` and `copy` over a
// buffer of n vec4<u32> (16-byte accesses), each thread walking a
// grid-stride loop. One flag (READ / WRITE / COPY) picks the entry point's
// bindings, so every variant is its own small module.
#include "common/step.wgsl"

struct Params {
    n: u32,        // vec4<u32> elements in the buffer(s)
    pattern: u32,  // `write`: xor-ed into the stored index pattern
    _pad0: u32,
    _pad1: u32,
};
@group(0) @binding(1) var<uniform> p: Params;

#ifdef READ
@group(0) @binding(2) var<storage> src: array<vec4<u32>>;              // (n), read-only (the default access: `read` is the entry point's name)
@group(0) @binding(3) var<storage, read_write> sums: array<u32>;       // (workgroups * WG_SIZE) wrapping sums, one per thread

// Every element is loaded and summed (wrapping), and each thread writes its
// sum, so no load can be optimised away; the sums are checked on the CPU.
// No shared memory and no barrier: CPU implementations (SwiftShader,
// lavapipe) pay dearly for barriers, which would be measured instead of
// memory. The sums add one 4-byte store per thread, under 4% of the bytes read.
@compute @workgroup_size(WG_SIZE)
fn read(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    _ = step.n_tokens; // keeps binding 0 in the layout every op shares
    let g = linear_group(wid, nwg);
    let stride = nwg.x * nwg.y * WG_SIZE;
    var i = g * WG_SIZE + lid;
    var a0 = vec4<u32>(0u);
    var a1 = vec4<u32>(0u);
    var a2 = vec4<u32>(0u);
    var a3 = vec4<u32>(0u);
    // Four independent loads in flight per iteration.
    let s3 = 3u * stride;
    for (; i < p.n && p.n - i > s3; i += 4u * stride) {
        a0 += src[i];
        a1 += src[i + stride];
        a2 += src[i + 2u * stride];
        a3 += src[i + s3];
    }
    for (; i < p.n; i += stride) {
        a0 += src[i];
    }
    let a = a0 + a1 + a2 + a3;
    sums[g * WG_SIZE + lid] = a.x + a.y + a.z + a.w;
}
#endif

#ifdef WRITE
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;  // (n)

// dst[i] = (4i, 4i+1, 4i+2, 4i+3) ^ pattern: every word distinct, so a
// missed or doubled store shows in the test.
@compute @workgroup_size(WG_SIZE)
fn write(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    _ = step.n_tokens;
    let stride = nwg.x * nwg.y * WG_SIZE;
    let pat = vec4<u32>(p.pattern);
    for (var i = linear_group(wid, nwg) * WG_SIZE + lid; i < p.n; i += stride) {
        dst[i] = (vec4<u32>(i * 4u) + vec4<u32>(0u, 1u, 2u, 3u)) ^ pat;
    }
}
#endif

#ifdef COPY
@group(0) @binding(2) var<storage> src: array<vec4<u32>>;              // (n), read-only (the default access: `read` is the entry point's name)
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<u32>>;  // (n)

@compute @workgroup_size(WG_SIZE)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    _ = step.n_tokens;
    let stride = nwg.x * nwg.y * WG_SIZE;
    for (var i = linear_group(wid, nwg) * WG_SIZE + lid; i < p.n; i += stride) {
        dst[i] = src[i];
    }
}
#endif
