//! This year's architectures on tiny random-weight models
//! (tests/reference/tiny/, made with llama.cpp by scripts/reference/): every
//! logit at the last prompt position within 0.02 of llama.cpp on the
//! dequantized weights and the greedy ids equal, under every GPU kernel
//! configuration and on the CPU backend (`common::tiny::check_tiny_in`).

mod common;
use common::tiny::check_tiny_repo;

/// SmolLM3: the Llama walk without RoPE on layer 3 (NoPE every 4th layer).
#[test]
fn tiny_smollm3_q4_k_m() {
    check_tiny_repo("tiny-smollm3-q4_k_m");
}

/// Phi-4-mini shape: q|k|v in one attn_qkv, gate|up in one ffn_up, NeoX
/// RoPE over 48 of 64 dims with LongRoPE's long factors and attn_factor.
#[test]
fn tiny_phi3_q4_k_m() {
    check_tiny_repo("tiny-phi3-q4_k_m");
}

/// LFM2: gated short-convolution layers (0, 2) with a rolling state, and
/// attention layers with QK norm (1, 3); the final norm is token_embd_norm.
#[test]
fn tiny_lfm2_q4_k_m() {
    check_tiny_repo("tiny-lfm2-q4_k_m");
}

/// Qwen3.5: Gated DeltaNet layers (0–2) with a conv and a delta-rule state,
/// and a gated attention layer (3): query|gate heads, QK norm, NeoX RoPE
/// over 16 of 64 dims; the FFN's input norm is post_attention_norm.
#[test]
fn tiny_qwen35_q4_k_m() {
    check_tiny_repo("tiny-qwen35-q4_k_m");
}

/// Gemma 4: layers sliding (head 64, RoPE base 10000, window 8), full
/// (head 128, proportional RoPE through rope_freqs), then the same two
/// reading the KV caches of layers 0 and 1; per-layer embeddings after
/// each FFN, layer output scales, V norm, attention scale 1, soft-cap 30,
/// FFN widths 512 and 1024.
#[test]
fn tiny_gemma4_q4_k_m() {
    check_tiny_repo("tiny-gemma4-q4_k_m");
}

/// A follow-up turn on a model with recurrent layers runs only its new
/// tokens, from the state the last turn left, and gets the logits a fresh
/// sequence of the whole conversation gets; a later sequence from position 0
/// starts from a zero state whatever the last one left (both backends).
#[test]
fn lfm2_follow_up_turn_continues_the_recurrent_state() {
    follow_up_turn_continues_the_recurrent_state("tiny-lfm2-q4_k_m.gguf");
}

/// The same for Qwen3.5's conv and delta-rule states.
#[test]
fn qwen35_follow_up_turn_continues_the_recurrent_state() {
    follow_up_turn_continues_the_recurrent_state("tiny-qwen35-q4_k_m.gguf");
}

fn follow_up_turn_continues_the_recurrent_state(file: &str) {
    use std::sync::Arc;
    use tabllm::model::{self, Device, LoadOptions, Output};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny").join(file);
    let gpu = Arc::new(tabllm::gpu::GpuContext::new_blocking(&Default::default()).unwrap());
    for (label, device) in [("gpu", Device::Gpu(gpu)), ("cpu", Device::Cpu)] {
        let (m, _) = model::load_path_on(device, &path, LoadOptions { n_ctx: Some(256), max_batch: 32, ..Default::default() }, 1 << 16).unwrap();
        let turn1: Vec<u32> = (0..23).map(|i| (i * 37 + 5) % 1024).collect();
        let turn2: Vec<u32> = (0..9).map(|i| (i * 91 + 17) % 1024).collect();
        let whole: Vec<u32> = turn1.iter().chain(&turn2).copied().collect();
        let run = |ids: &[u32], pos0: u32| pollster::block_on(m.step(ids, pos0, Output::Logits)).unwrap().logits.unwrap();
        // The whole conversation from position 0, in the same steps (after a
        // different sequence ran, whose state must not leak into it).
        run(&turn2, 0);
        run(&whole[..16], 0);
        run(&whole[16..23], 16);
        let fresh = run(&whole[23..], 23);
        // Turn 1, then only turn 2's tokens.
        run(&turn1[..16], 0);
        run(&turn1[16..], 16);
        let follow = run(&turn2, turn1.len() as u32);
        let worst = fresh.iter().zip(&follow).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-5, "{label}: follow-up logits differ from a fresh prefill by {worst}");
        // The whole conversation in one step (other kernels, so a looser
        // bound): a state lost between steps shows here.
        let one_step = run(&whole, 0);
        let worst = one_step.iter().zip(&follow).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-2, "{label}: follow-up logits differ from a one-step prefill by {worst}");
        // Changing turn 1 changes the follow-up's logits: the state is really carried.
        run(&turn2, 0);
        let other = run(&turn2, turn2.len() as u32);
        let moved = other.iter().zip(&follow).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(moved > 0.1, "{label}: the follow-up did not depend on the earlier turn ({moved})");
    }
}
