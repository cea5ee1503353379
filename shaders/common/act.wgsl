// Gate activations of the FFN (elementwise.wgsl, ffn_gate_up.wgsl).
fn silu(g: f32) -> f32 {
    return g / (1.0 + exp(-g));
}

// GELU, tanh approximation (as llama.cpp's ggml_gelu).
fn gelu_tanh(g: f32) -> f32 {
    let inner = 0.7978845608028654 * (g + 0.044715 * g * g * g);
    return 0.5 * g * (1.0 + tanh(clamp(inner, -15.0, 15.0)));
}

// Gates of the recurrent blocks (gated_delta_net.wgsl), as ggml's CPU ops:
// sigmoid(x) = 1 / (1 + e^-x); softplus(x) = ln(1 + e^x), x itself above 20.
fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

fn softplus(x: f32) -> f32 {
    if (x > 20.0) {
        return x;
    }
    return log(1.0 + exp(x));
}
