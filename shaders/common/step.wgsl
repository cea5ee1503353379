// Per-step values, bound at @binding(0) of every kernel (src/gpu/op.rs `Step`).
#ifdef F16
enable f16;
#endif

struct Step {
    pos0: u32,      // position of the step's first token
    n_tokens: u32,  // tokens in this step
    kv_len: u32,    // pos0 + n_tokens
    _pad: u32,
};
@group(0) @binding(0) var<uniform> step: Step;

// Workgroup index when a large x count was folded into y (src/gpu/op.rs).
fn linear_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}
