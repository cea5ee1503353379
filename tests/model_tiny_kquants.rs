//! The tiny random-weight llama models quantized to K-quants and IQ4 formats
//! against llama.cpp (see `common::tiny::check_tiny`): every logit within
//! 0.02 of the f32-activation reference, greedy ids exactly. Both precisions.

mod common;
use common::tiny::check_tiny;

#[test]
fn tiny_llama_q2_k() {
    check_tiny("tiny-llama-q2_k");
}

#[test]
fn tiny_llama_q3_k_m() {
    check_tiny("tiny-llama-q3_k_m");
}

#[test]
fn tiny_llama_q4_k_m() {
    check_tiny("tiny-llama-q4_k_m");
}

#[test]
fn tiny_llama_q5_k_m() {
    check_tiny("tiny-llama-q5_k_m");
}

#[test]
fn tiny_llama_q6_k() {
    check_tiny("tiny-llama-q6_k");
}

#[test]
fn tiny_llama_iq4_nl() {
    check_tiny("tiny-llama-iq4_nl");
}

#[test]
fn tiny_llama_iq4_xs() {
    check_tiny("tiny-llama-iq4_xs");
}
