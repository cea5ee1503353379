//! `cpu::matmul` on real weights: tensors of SmolLM2-135M Q4_1 and Gemma 3
//! 270M Q4_K_M (models/, fetched by scripts/fetch-models.sh) against the
//! dequantize reference, with the tolerances of the seeded checks
//! (`cpu::matmul::check`). Real blocks have the scale/min statistics a
//! quantizer produces, which random blocks do not.

use std::ops::Range;
use std::path::PathBuf;
use tabllm::cpu::matmul::{check, Write};
use tabllm::gguf::{read_header_from_path, read_tensor_bytes};
use tabllm::quant::testing::random_f32;

fn model(file: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(file);
    assert!(p.exists(), "{} is missing: run scripts/fetch-models.sh", p.display());
    p
}

/// Activations like a hidden state: uniform in ±1 with a few large outliers
/// (which coarsen their block's 8-bit scale).
fn hidden_states(n: usize, seed: u64) -> Vec<f32> {
    let mut x = random_f32(n, seed);
    for i in (7..n).step_by(97) {
        x[i] *= 25.0;
    }
    x
}

/// Checks `name` of `file` for 5 tokens on `rows` (None: all rows).
fn check_tensor(file: &str, name: &str, rows: Option<Range<usize>>) {
    let path = model(file);
    let header = read_header_from_path(&path).unwrap();
    let (_, info) = header.tensor(name).unwrap_or_else(|| panic!("{file}: no {name}"));
    let (cols, n_rows) = (info.dims[0] as usize, info.dims[1] as usize);
    let w = read_tensor_bytes(&path, name).unwrap();
    let rows = rows.unwrap_or(0..n_rows);
    let n_tokens = 5;
    let x = hidden_states(n_tokens * cols, 11);
    let ty = info.ggml_type;
    check::check_call(ty, &w, n_rows, cols, rows.clone(), &x, n_tokens, Write::Store, 3)
        .unwrap_or_else(|e| panic!("{file} {name} ({ty}, {n_rows}×{cols}, rows {rows:?}): {e}"));
}

#[test]
fn smollm2_q4_1_and_q8_0_tensors() {
    let f = "SmolLM2-135M-Instruct.Q4_1.gguf";
    check_tensor(f, "blk.0.ffn_down.weight", None); // Q4_1, 576 × 1536
    check_tensor(f, "blk.7.attn_q.weight", None); // Q4_1, 576 × 576
    check_tensor(f, "token_embd.weight", Some(40_000..40_300)); // Q8_0, 49152 × 576
}

#[test]
fn gemma3_q4_k_m_tensors() {
    let f = "gemma-3-270m-q4_k_m.gguf";
    check_tensor(f, "blk.0.attn_k.weight", None); // Q5_0
    check_tensor(f, "blk.0.attn_output.weight", None); // Q4_K
    check_tensor(f, "blk.0.ffn_down.weight", None); // Q6_K
    check_tensor(f, "token_embd.weight", Some(200_000..200_200)); // Q8_0, 262144 × 640
}
