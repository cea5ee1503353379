// K and V cache rows read 8 dims (16 bytes of f16, 32 of f32) at a time, for
// the lane kernels (flash_attention_token_lanes.wgsl,
// attention_position_lanes.wgsl): a rasterizer that loops over the lanes for
// every storage load does one loop per 8 dims. Needs HEAD_DIM and kv_dim
// multiples of 8.
#ifdef F16
// 8 f16 per vec4<u32>.
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<u32>>;  // (n_cache, kv_dim / 8) by slot
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<u32>>;  // (n_cache, kv_dim / 8) by slot
#else
// 8 f32 per pair of vec4<f32>.
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<f32>>;  // (n_cache, kv_dim / 4) by slot
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<f32>>;  // (n_cache, kv_dim / 4) by slot
#endif

// Dims 8u..8u+7 of the K (v false) or V (v true) row that starts at element
// `e` (a multiple of 8). `v` is a constant at every call, so the branch folds.
fn kv_oct(v: bool, e: u32, u: u32) -> array<vec4<f32>, 2> {
#ifdef F16
    var w: vec4<u32>;
    if (v) {
        w = v_cache[e / 8u + u];
    } else {
        w = k_cache[e / 8u + u];
    }
    return array<vec4<f32>, 2>(vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)), vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)));
#else
    let i = e / 4u + 2u * u;
    if (v) {
        return array<vec4<f32>, 2>(v_cache[i], v_cache[i + 1u]);
    }
    return array<vec4<f32>, 2>(k_cache[i], k_cache[i + 1u]);
#endif
}
