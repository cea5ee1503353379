//! The tiny random-weight llama models in ../shared/reference/tiny/ against
//! llama.cpp (see `common::tiny::check_tiny`). Both precisions.

mod common;
use common::tiny::check_tiny;

#[test]
fn tiny_llama_q4_0() {
    check_tiny("tiny-llama-q4_0");
}

#[test]
fn tiny_llama_q5_1() {
    check_tiny("tiny-llama-q5_1");
}

#[test]
fn tiny_llama_bf16() {
    check_tiny("tiny-llama-bf16");
}
