//! Gemma 3 270M Q4_K_M against llama.cpp run on the same weights with f32
//! activations (../shared/reference/gemma-3-270m-q4_k_m.json): greedy ids for
//! every `greedy` prompt and `chat` conversation (at most one may part at a
//! near-tie, whose two logits are printed) and the first-step top-20 logits
//! within 0.1. Prompts are tokenized by tabllm (BOS + text; chats through the
//! built-in Gemma 3 template) and must equal the reference ids.
//!
//! The device's binding limit is capped at WebGPU's default 128 MiB, so the
//! 178 MB Q8_0 `token_embd` (embedding and tied output) is split across
//! bindings as it is in a browser. The context (1024) is longer than a
//! sliding window plus a batch, so the local layers get ring KV caches.

mod common;
use common::*;
use std::sync::Arc;
use tabllm::gguf::read_header_from_path;
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::{self, Arch, LoadOptions, Model, Output};
use tabllm::chat::{ChatMessage, ChatTemplate};
use tabllm::tokenizer::Tokenizer;

/// WebGPU's default maxStorageBufferBindingSize.
const BINDING_LIMIT: u64 = 128 << 20;

/// The reference cases, with prompt ids made by tabllm's tokenizer (BOS + text;
/// chats through the built-in template) and checked against the reference's.
fn cases(tok: &Tokenizer, template: &ChatTemplate) -> Vec<reference::Case> {
    let bos = tok.bos_id().unwrap();
    let cases = reference::cases("gemma-3-270m-q4_k_m.json");
    for case in &cases {
        let ids = if case.name.starts_with("greedy") {
            let mut ids = vec![bos];
            ids.extend(tok.encode(case.json["prompt"].as_str().unwrap(), true));
            ids
        } else {
            let messages: Vec<ChatMessage> = serde_json::from_value(case.json["messages"].clone()).unwrap();
            let bos_text = tok.token_text(bos).unwrap();
            let eos_text = tok.token_text(tok.eos_id().unwrap()).unwrap();
            tok.encode(&template.render(&messages, true, bos_text, eos_text).unwrap(), true)
        };
        assert_eq!(ids, case.prompt_ids, "{}: prompt ids", case.name);
    }
    cases
}

#[test]
fn gemma3_matches_llama_cpp_f32_activations() {
    let path = model_path("gemma-3-270m-q4_k_m.gguf");
    let header = read_header_from_path(&path).unwrap();
    let tok = Tokenizer::from_metadata(&header.metadata).unwrap();
    let template = ChatTemplate::for_model(&header.metadata).unwrap().expect("built-in Gemma 3 template");
    let cases = cases(&tok, &template);

    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions { max_binding_size: Some(BINDING_LIMIT), ..Default::default() }).unwrap());
    eprintln!("precision {}", label(&ctx));
    let (n_ctx, max_batch) = (1024u32, 64u32);
    let (m, _) = model::load_path(ctx.clone(), &path, LoadOptions { n_ctx: Some(n_ctx), max_batch, ..Default::default() }, 1 << 20).unwrap();
    let c = &m.config;
    assert_eq!((c.arch, c.n_layers, c.dim, c.head_dim, c.sliding_window), (Arch::Gemma3, 18, 640, 256, 512));
    // 3 global layers hold the whole context; 15 local ones a ring of window + batch.
    let slot_bytes = c.kv_dim() as u64 * if ctx.has_f16() { 2 } else { 4 } * 2;
    assert_eq!(m.kv_cache_bytes(), (3 * n_ctx as u64 + 15 * (512 + max_batch) as u64) * slot_bytes);
    let embd = &m.weights().expect("a GPU model").token_embd;
    assert!(embd.parts.len() >= 2, "token_embd should be split across bindings at a {BINDING_LIMIT}-byte limit");

    reference::check_model(&m, &cases);
}

/// Header-time facts llama.cpp derives for Gemma 3 rather than reading them:
/// every 6th layer global (the rest slide over 512 positions with RoPE base
/// 10000), queries scaled by 1/sqrt(key_length), embeddings by sqrt(dim).
#[test]
fn gemma3_config_from_metadata() {
    let header = read_header_from_path(model_path("gemma-3-270m-q4_k_m.gguf")).unwrap();
    let c = tabllm::model::ModelConfig::from_header(&header).unwrap();
    assert_eq!((c.n_heads, c.n_kv_heads, c.head_dim, c.n_rot), (4, 1, 256, 256));
    assert_eq!(c.rope_layout, tabllm::kernels::RopeLayout::Neox);
    assert_eq!(c.activation, tabllm::kernels::GateActivation::Gelu);
    assert!(c.tied_output && c.qk_norm && c.post_norms && !c.qkv_bias);
    assert_eq!(c.attn_scale, 1.0 / 16.0);
    assert_eq!(c.embed_scale, (640f32).sqrt());
    assert_eq!(c.final_logit_softcap, 0.0, "the file has no final_logit_softcapping");
    let global: Vec<u32> = (0..c.n_layers).filter(|&l| c.layer_attention(l).unwrap().window == 0).collect();
    assert_eq!(global, [5, 11, 17]);
    for l in 0..c.n_layers {
        let la = c.layer_attention(l).unwrap();
        let want_base = if global.contains(&l) { 1.0e6 } else { 10000.0 };
        assert_eq!((la.rope_base, la.rope_scale), (want_base, 1.0), "layer {l}");
        assert!(la.window == 0 || la.window == 512, "layer {l}");
    }
}

/// Past the 512-position window, the local layers' ring caches (window +
/// batch slots, wrapped) give the same logits as caches holding every position.
#[test]
fn gemma3_ring_cache_matches_full_cache_past_the_window() {
    let path = model_path("gemma-3-270m-q4_k_m.gguf");
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let n_tokens = 600u32;
    // Ring: 512 + 64 = 576 slots < 600 positions. Full: 512 + 512 >= n_ctx, so every cache is n_ctx long.
    let (ring, _) = model::load_path(ctx.clone(), &path, LoadOptions { n_ctx: Some(n_tokens), max_batch: 64, ..Default::default() }, 1 << 20).unwrap();
    let (full, _) = model::load_path(ctx.clone(), &path, LoadOptions { n_ctx: Some(n_tokens), max_batch: 512, ..Default::default() }, 1 << 20).unwrap();
    assert!(ring.kv_cache_bytes() < full.kv_cache_bytes());
    // The bench's decode bytes: Gemma 3 270M's 15 sliding-window layers
    // read 512 positions at most, its 3 global layers all 4,000 (K and V,
    // 1 KV head of 256, 2 bytes on the f16 path, 4 on f32).
    let elem = if ctx.has_f16() { 2.0 } else { 4.0 };
    let kv = tabllm::bench::decode_bytes_per_token(&ring, 4000.0).kv;
    assert_eq!(kv, 2.0 * 256.0 * elem * (3.0 * 4000.0 + 15.0 * 512.0), "windowed KV bytes");
    let ids: Vec<u32> = (0..n_tokens).map(|i| 2 + (i * 7919) % 50000).collect();
    let run = |m: &Model| {
        let mut pos = 0;
        let mut logits = None;
        for c in ids.chunks(64) {
            let last = pos + c.len() as u32 == n_tokens;
            logits = pollster::block_on(m.step(c, pos, if last { Output::Logits } else { Output::None })).unwrap().logits;
            pos += c.len() as u32;
        }
        logits.unwrap()
    };
    let (a, b) = (run(&ring), run(&full));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    eprintln!("ring vs full cache after {n_tokens} tokens: max |logit difference| = {worst:e}");
    // Same kernels reading the same values from different slots: bit-identical.
    assert_eq!(worst, 0.0);
}

/// A prompt that shares its first 20 tokens with a 600-token sequence run
/// just before: the local layers' rings (512 + 64 slots) have wrapped, so the
/// slots of positions 0..24 now hold positions 576..600 and the shared prefix
/// cannot be served from the cache. The engine must prefill the prompt again
/// and give what a fresh engine gives, and llama.cpp's first-step logits.
#[test]
fn gemma3_prefix_is_not_reused_from_a_wrapped_ring() {
    use tabllm::engine::{load_engine, Engine, GenerateParams};
    use tabllm::sampler::SamplerConfig;
    let path = model_path("gemma-3-270m-q4_k_m.gguf");
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let load = || load_engine(ctx.clone(), &path, LoadOptions { n_ctx: Some(640), max_batch: 64, ..Default::default() }, 1 << 20, &mut |_| {}).unwrap();
    let case = reference::cases("gemma-3-270m-q4_k_m.json").into_iter().find(|c| c.name == "chat[2]").unwrap();
    let prompt = &case.prompt_ids;
    assert_eq!(prompt.len(), 41);
    const SHARED: usize = 20;
    let mut long = prompt[..SHARED].to_vec();
    long.extend((0..580u32).map(|i| 2 + (i * 7919) % 50000));
    assert_ne!(long[SHARED], prompt[SHARED]);
    let params = |max_tokens| GenerateParams {
        max_tokens,
        sampler: SamplerConfig { temperature: 0.0, ..SamplerConfig::default() },
        top_logits: 64,
        ..GenerateParams::default()
    };
    let gen = |e: &mut Engine, ids: &[u32], max_tokens| pollster::block_on(e.generate(ids, &params(max_tokens), &mut |_| true)).unwrap();

    let mut warm = load();
    assert_eq!(gen(&mut warm, &long, 1).prefilled, long.len());
    let again = gen(&mut warm, prompt, 6);
    let fresh = gen(&mut load(), prompt, 6);
    assert_eq!(fresh.prefilled, prompt.len());
    assert_eq!(again.ids, fresh.ids, "greedy ids after a wrapped ring vs a fresh engine");
    let (top, fresh_top) = (again.top_logits.unwrap(), fresh.top_logits.unwrap());
    for &(id, want) in &case.want_top {
        let got = top.iter().find(|t| t.0 == id).unwrap_or_else(|| panic!("id {id} (llama.cpp logit {want}) not in the top 64: {top:?}")).1;
        let fresh = fresh_top.iter().find(|t| t.0 == id).unwrap().1;
        assert!((got - want).abs() <= reference::TOP_LOGIT_TOL, "id {id}: logit {got}, llama.cpp {want} (tolerance {})", reference::TOP_LOGIT_TOL);
        assert!((got - fresh).abs() <= reference::TOP_LOGIT_TOL, "id {id}: logit {got}, fresh engine {fresh}");
    }
    assert_eq!(again.prefilled, prompt.len(), "the wrapped ring no longer holds positions 0..{SHARED}: prefill again");
}
