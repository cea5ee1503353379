// The extra bindings of a weight tensor split across several (see
// common/bytes.wgsl): w holds the first rows, w1..w3 the next ones, each
// whole rows. Bound at 6..8 so they follow any kernel's own bindings.
#ifdef W_PART1
@group(0) @binding(6) var<storage, read> w1: array<u32>;   // (rows of part 1, row_bytes / 4)
#endif
#ifdef W_PART2
@group(0) @binding(7) var<storage, read> w2: array<u32>;   // (rows of part 2, row_bytes / 4)
#endif
#ifdef W_PART3
@group(0) @binding(8) var<storage, read> w3: array<u32>;   // (rows of part 3, row_bytes / 4)
#endif

// Selects the part holding `row` (parts start at rows 0, start.y, start.z,
// start.w; unused parts start at 0xffffffff) and returns its first row.
fn select_part(row: u32, start: vec4<u32>) -> u32 {
#ifdef W_PART1
    w_part = u32(row >= start.y) + u32(row >= start.z) + u32(row >= start.w);
    return select(select(select(0u, start.y, w_part >= 1u), start.z, w_part >= 2u), start.w, w_part >= 3u);
#else
    return 0u;
#endif
}
