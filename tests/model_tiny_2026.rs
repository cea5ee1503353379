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

/// Qwen3.5's decode op list within 6 dispatches per layer (issue 26), as
/// `tabllm bench` counts them. Fused (the default): a Gated DeltaNet layer
/// is ssm_in (norm, attn_qkv, attn_gate, ssm_alpha, ssm_beta), ssm_conv,
/// delta_net, ssm_out (+ residual), ffn_gate_up, ffn_down (+ residual); the
/// gated attention layer is attn_qkv (norm, query|gate heads, QK norm,
/// RoPE, KV store), attention, attn_gate (sigmoid), attn_output, ffn_gate_up,
/// ffn_down. Unfused: attn_norm, attn_qkv, attn_gate, ssm_alpha, its copy
/// into Gates, ssm_beta, its copy, ssm_conv, delta_net, ssm_out, then the
/// FFN's ffn_norm, gate, up, act, down (15); attention: attn_norm, attn_q,
/// the query copy, attn_k, attn_v, the QK norms, RoPE on q and k, kv_store,
/// attention, attn_gate, attn_output, then the FFN's 5 (18). Plus the
/// embedding, the output head and the GPU argmax.
#[test]
fn qwen35_decode_within_six_dispatches_per_layer() {
    use std::sync::Arc;
    use tabllm::model::{self, LoadOptions, Output, PrefillPath};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-qwen35-q4_k_m.gguf");
    let ctx = Arc::new(tabllm::gpu::GpuContext::new_blocking(&Default::default()).unwrap());
    for (fuse, delta, attention) in [(true, 6, 6), (false, 15, 18)] {
        let opts = LoadOptions { n_ctx: Some(64), max_batch: 16, fuse, prefill: PrefillPath::Matvec, cpu_threads: None };
        let (m, _) = model::load_path(ctx.clone(), &path, opts, 1 << 16).unwrap();
        assert_eq!(m.fused_layers(), (if fuse { 4 } else { 0 }, 4));
        assert_eq!(m.dispatches_per_step(1, Output::Argmax), 1 + 3 * delta + attention + 2, "decode, fuse {fuse}");
        assert_eq!(m.dispatches_per_step(8, Output::None), 1 + 3 * delta + attention, "a short step (the decode list), fuse {fuse}");
    }
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

/// Gemma 4's decode op list within 6 dispatches per layer (issue 26), as
/// `tabllm bench` counts them, on a GPU matvec variant (forced here, as a
/// GPU picks it). Fused (the default), every layer is attn_qkv (applying
/// the last layer's pending post-norm add and output scale; q alone on
/// layers 2 and 3, which read the caches of 0 and 1), attention,
/// attn_output, ffn_gate_up (applying post_attention_norm), ffn_down,
/// per_layer_input (applying post_ffw_norm; inp_gate, gelu ⊙ per-layer
/// input, proj); the head applies the last post_norm and scale. Unfused,
/// layer 0: attn_norm, q, k, v, the QK and V norms, RoPE on q and k,
/// kv_store, attention, attn_output (12), post_attention_norm, ffn_norm,
/// gate, up, act, down (6), post_ffw_norm, inp_gate, act, proj (4); layer 1
/// adds layer 0's post_norm and scale (24); layers 2 and 3: those 2,
/// attn_norm, q, q norm, RoPE on q, attention, attn_output, then 6 and 4
/// (18). Plus the embedding, the per-layer inputs (embedding, projection,
/// norm), the output head and the GPU argmax. With one invocation per row
/// (CPU adapters: lavapipe's default) no op folds a post-norm add: each
/// runs as its own ops where it is made, post_attention_norm,
/// post_ffw_norm, post_norm and the scale (10 per layer fused; unfused the
/// last layer's post_norm and scale before the head, 2 more).
#[test]
fn gemma4_decode_within_six_dispatches_per_layer() {
    use std::sync::Arc;
    use tabllm::gpu::{DeviceOptions, GpuContext, MatvecVariant};
    use tabllm::model::{self, LoadOptions, Output, PrefillPath};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-gemma4-q4_k_m.gguf");
    for matvec in [MatvecVariant::SharedLanes { lanes: 16 }, MatvecVariant::ThreadPerRow] {
        let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions { matvec: Some(matvec), ..Default::default() }).unwrap());
        assert_eq!(ctx.matvec, matvec);
        let gpu = matvec != MatvecVariant::ThreadPerRow;
        for (fuse, layers) in [(true, if gpu { 4 * 6 } else { 4 * 10 }), (false, 22 + 24 + 18 + 18 + if gpu { 0 } else { 2 })] {
            let opts = LoadOptions { n_ctx: Some(64), max_batch: 16, fuse, prefill: PrefillPath::Matvec, cpu_threads: None };
            let (m, _) = model::load_path(ctx.clone(), &path, opts, 1 << 16).unwrap();
            assert_eq!(m.fused_layers(), (if fuse { 4 } else { 0 }, 4));
            assert_eq!(m.dispatches_per_step(1, Output::Argmax), 1 + 3 + layers + 2, "decode, {matvec:?}, fuse {fuse}");
            assert_eq!(m.dispatches_per_step(8, Output::None), 1 + 3 + layers, "a short step (the decode list), {matvec:?}, fuse {fuse}");
        }
    }
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

/// Gemma 4: a follow-up turn's shared-KV layers read the caches (rings on
/// the sliding layers: window 8, 32-token steps) that layers 0 and 1 filled
/// in earlier steps, and get the logits of a fresh sequence (both backends).
#[test]
fn gemma4_follow_up_turn_reads_the_shared_kv_caches() {
    follow_up_turn_continues_the_recurrent_state("tiny-gemma4-q4_k_m.gguf");
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

/// Gemma 4's layer plan as the header gives it (llama.cpp `gemma4.cpp`,
/// `llama-model.cpp`), and what it cannot run or make sense of refused by
/// name at header time: the mixture-of-experts FFN, a window pattern of the
/// wrong length, shared-KV layers whose source is of the other kind or
/// without two layers to read from.
#[test]
fn gemma4_layer_plan_and_refusals() {
    use tabllm::gguf::{Value, ValueType};
    use tabllm::model::{Mixer, ModelConfig, ModelError};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-gemma4-q4_k_m.gguf");
    let h0 = tabllm::gguf::read_header_from_path(&path).unwrap();
    let c = ModelConfig::from_header(&h0).unwrap();
    let plan: Vec<_> = c
        .layers
        .iter()
        .map(|p| match p.mixer {
            Mixer::Attention(a) => (a.window, a.head_dim, a.n_rot, a.rope_base, a.kv_layer, a.scale, p.ffn_dim, p.output_scale),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        plan,
        [(8, 64, 64, 10000.0, 0, 1.0, 512, true), (0, 128, 128, 1e6, 1, 1.0, 512, true), (8, 64, 64, 10000.0, 0, 1.0, 1024, true), (0, 128, 128, 1e6, 1, 1.0, 1024, true)]
    );
    assert_eq!((c.per_layer_input, c.head_dim, c.ffn_dim, c.final_logit_softcap, c.v_norm), (64, 128, 1024, 30.0, true));
    // Only layers 0 and 1 hold a cache: 2 KV heads of 64 and of 128.
    assert_eq!((0..4).map(|l| c.layer_kv_dim(l)).collect::<Vec<_>>(), [128, 256, 0, 0]);

    let refused = |key: &str, value: Value, says: &str| {
        let mut h = h0.clone();
        h.metadata.insert(key.to_string(), value);
        match ModelConfig::from_header(&h) {
            Err(e @ ModelError::Config(_)) => assert!(e.to_string().contains(says), "{key}: `{e}` does not say `{says}`"),
            other => panic!("{key}: expected a configuration error, got {:?}", other.map(|_| ())),
        }
    };
    let pattern = |v: &[bool]| Value::Array(ValueType::Bool, v.iter().map(|&b| Value::Bool(b)).collect());
    refused("gemma4.expert_count", Value::U32(8), "gemma4.expert_count");
    refused("gemma4.attention.sliding_window_pattern", pattern(&[true, false, true]), "gemma4.attention.sliding_window_pattern");
    // Layer 2 is full here, but the layer it would read (1) is sliding.
    refused("gemma4.attention.sliding_window_pattern", pattern(&[false, true, false, false]), "KV cache of layer 1");
    refused("gemma4.attention.shared_kv_layers", Value::U32(3), "gemma4.attention.shared_kv_layers");
}

/// A Gemma 4 file that also holds a vision and an audio encoder (llama.cpp's
/// mtmd tensors, `v.*` and `a.*`): the text model loads without them and
/// computes the same logits, and `inspect` notes what it skipped.
#[test]
fn gemma4_with_encoder_tensors_loads_the_text_model() {
    use tabllm::gguf::TensorInfo;
    use tabllm::model::{self, Device, LoadOptions, Output};
    use tabllm::quant::GgmlType;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-gemma4-q4_k_m.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let mut h = tabllm::gguf::read_header(&bytes[..]).unwrap();
    let mut data = bytes[h.data_offset as usize..].to_vec();
    for (name, dims) in [("v.patch_embd.weight", vec![64u64, 32]), ("a.conv1d.0.weight", vec![32u64, 16])] {
        data.resize((data.len() as u64).next_multiple_of(h.alignment) as usize, 0);
        let n = dims.iter().product::<u64>();
        h.tensors.push(TensorInfo { name: name.into(), dims, ggml_type: GgmlType::F32, offset: data.len() as u64, n_elements: n, n_bytes: 4 * n });
        data.extend((0..n).flat_map(|i| (i as f32 * 0.01).to_le_bytes()));
    }
    let mut file = tabllm::synth::encode_header(&h);
    file.extend(&data);
    let with_encoders = std::env::temp_dir().join(format!("tabllm-gemma4-encoders-{}.gguf", std::process::id()));
    std::fs::write(&with_encoders, &file).unwrap();

    let r = tabllm::inspect::inspect(&tabllm::gguf::read_header_from_path(&with_encoders).unwrap(), &Default::default());
    assert!(r.supported, "{:?}", r.unsupported_reason);
    assert_eq!((r.unread_tensors, r.unread_tensor_example.as_deref()), (2, Some("v.patch_embd.weight")));
    let ids = [504, 265, 512, 269, 272];
    let logits = |p: &std::path::Path| {
        let (m, _) = model::load_path_on(Device::Cpu, p, LoadOptions { n_ctx: Some(64), max_batch: 8, ..Default::default() }, 1 << 16).unwrap();
        pollster::block_on(m.step(&ids, 0, Output::Logits)).unwrap().logits.unwrap()
    };
    let (plain, with) = (logits(&path), logits(&with_encoders));
    std::fs::remove_file(&with_encoders).ok();
    assert_eq!(plain, with);
}
