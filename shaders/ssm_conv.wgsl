// Causal depthwise conv1d over the step's tokens with a rolling state
// (ggml_ssm_conv; llama.cpp src/models/lfm2.cpp build_shortconv_block and
// src/models/delta-net-base.cpp build_conv_state):
//   u_ext = [state; u]                         (TAPS - 1 + n_tokens rows of C)
//   y[t, c] = sum_{j < TAPS} w[c, j] * u_ext[t + j, c]
//   state  <- the last TAPS - 1 rows of u_ext  (oldest first)
// SHORT_CONV (LFM2): the input row is [b | c | x] (3C); u = b * x, out = c * y.
// Otherwise (Qwen3.5): the input row is u (C); out = silu(y).
// One invocation per channel scans the step's tokens in order, holding the
// window and the taps in registers; channels are independent.
#include "common/step.wgsl"
#include "common/act.wgsl"

struct Params {
    channels: u32,   // C
    in_offset: u32,  // f32 from a token's input row start to its first column (b, or u)
    in_stride: u32,  // f32 between tokens of the input
    _pad: u32,
};
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> input: array<f32>;        // (n_tokens, in_stride): [b | c | x] (3C) or u (C) at in_offset
@group(0) @binding(3) var<storage, read> weight: array<f32>;       // (C, TAPS): row c holds channel c's taps
@group(0) @binding(4) var<storage, read_write> state: array<f32>;  // (TAPS - 1, C): the previous TAPS - 1 inputs, oldest first
@group(0) @binding(5) var<storage, read_write> out: array<f32>;    // (n_tokens, C)

// u[t, c]: the conv's input for token t, channel c.
fn conv_input(t: u32, c: u32) -> f32 {
    let row = t * p.in_stride + p.in_offset;
#ifdef SHORT_CONV
    return input[row + c] * input[row + 2u * p.channels + c];
#else
    return input[row + c];
#endif
}

@compute @workgroup_size(WG_SIZE)
fn ssm_conv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.channels) {
        return;
    }
    var w: array<f32, TAPS>;    // set before read: every tap below
    var win: array<f32, TAPS>;  // u_ext rows t .. t + TAPS - 1 of this channel; set before read: the state rows, then u[t]
    for (var j = 0u; j < TAPS; j++) {
        w[j] = weight[c * TAPS + j];
    }
    // A step at position 0 starts a sequence: its state is zero, whatever
    // the buffer holds from an earlier one.
    let fresh = step.pos0 == 0u;
    for (var j = 0u; j + 1u < TAPS; j++) {
        win[j] = select(state[j * p.channels + c], 0.0, fresh);
    }
    for (var t = 0u; t < step.n_tokens; t++) {
        win[TAPS - 1u] = conv_input(t, c);
        var y = 0.0;
        for (var j = 0u; j < TAPS; j++) {
            y += w[j] * win[j];
        }
#ifdef SHORT_CONV
        out[t * p.channels + c] = input[t * p.in_stride + p.in_offset + p.channels + c] * y;
#else
        out[t * p.channels + c] = silu(y);
#endif
        for (var j = 0u; j + 1u < TAPS; j++) {
            win[j] = win[j + 1u];
        }
    }
    // After the shift, win[0 .. TAPS - 1] holds u_ext's last TAPS - 1 rows,
    // also when the step has fewer tokens than that.
    for (var j = 0u; j + 1u < TAPS; j++) {
        state[j * p.channels + c] = win[j];
    }
}
