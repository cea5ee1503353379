// How a decode step (one token) splits its span across workgroups: one split
// up to SPLIT_MIN_SPAN positions, else SPLIT_PER positions each (Rust's
// SplitRule in src/kernels/attention.rs). Split s of a span [start, end)
// takes [start + s * SPLIT_PER, min(end, start + (s + 1) * SPLIT_PER)).
// Needs span_start and span_end (common/attention_params.wgsl) included before it.
fn n_splits(span: u32) -> u32 {
    if (step.n_tokens != 1u || span <= SPLIT_MIN_SPAN) {
        return 1u;
    }
    return (span + SPLIT_PER - 1u) / SPLIT_PER;
}

// The positions [x, y) that token t's split `split` attends to, and z the
// splits of its span.
fn split_span(t: u32, split: u32) -> vec3<u32> {
    var end = span_end(t);
    var start = span_start(t);
    let splits = n_splits(end - start);
    if (splits > 1u) {
        start = start + split * SPLIT_PER;
        end = min(end, start + SPLIT_PER);
    }
    return vec3<u32>(start, end, splits);
}
