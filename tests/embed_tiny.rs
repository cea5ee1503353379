//! Embeddings against llama.cpp's embedding mode on tiny random-weight
//! models (tests/reference/tiny/tiny-*emb*-q8_0.{gguf,json}, made by
//! scripts/reference/make_embed_reference.py): a Qwen3-Embedding-shaped
//! `qwen3` (last-token pooling, EOS appended), a `llama` with mean
//! pooling (BOS prepended), a `bert` (bidirectional, post-norm, mean
//! pooling, WordPiece; one step per text), a `nomic-bert` (the same with
//! RoPE, fused q|k|v, SwiGLU) and a `gemma-embedding` (bidirectional,
//! symmetric window, dense projections after pooling), each through
//! `Engine::embed` on the text (`check_on`). Tokens equal; every component of the normalized
//! embedding within EMBED_TOL of llama.cpp's on the weights dequantized to
//! f32 (`embedding_f32_activations`: llama.cpp's Q8_0 run rounds activations
//! to 8 bits, 4.7e-3 away), under every GPU kernel configuration and on the
//! CPU backend; prefill steps shorter than the long text, so pooling crosses
//! steps.

mod common;
use common::configs;
use std::sync::Arc;
use tabllm::embed::{EmbedError, EmbedOptions, Pooling};
use tabllm::engine::{load_engine, EngineError};
use tabllm::model::{Device, LoadOptions};

/// Issue 31: "tiny models within 1e-3 of llama.cpp per component".
const EMBED_TOL: f32 = 1e-3;

fn reference(file: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/reference/tiny/{file}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The header with `key` left out, or set to `value`.
fn with_key(h: &tabllm::gguf::Header, key: &str, value: Option<tabllm::gguf::Value>) -> tabllm::gguf::Header {
    let mut h = h.clone();
    let mut md = tabllm::gguf::Metadata::default();
    h.metadata.iter().filter(|(k, _)| *k != key).for_each(|(k, v)| md.insert(k.to_string(), v.clone()));
    if let Some(v) = value {
        md.insert(key.to_string(), v);
    }
    h.metadata = md;
    h
}

/// The header without the tensor `name`.
fn without_tensor(h: &tabllm::gguf::Header, name: &str) -> tabllm::gguf::Header {
    let mut h = h.clone();
    h.tensors.retain(|t| t.name != name);
    h
}

fn devices() -> Vec<(String, Device, LoadOptions)> {
    let gpu = configs().into_iter().map(|cfg| {
        let opts = LoadOptions { n_ctx: Some(1024), max_batch: 64, fuse: cfg.fuse, prefill: cfg.prefill, cpu_threads: None };
        (cfg.label.to_string(), Device::Gpu(Arc::new(cfg.ctx)), opts)
    });
    let cpu = std::iter::once(("cpu backend".to_string(), Device::Cpu, LoadOptions { n_ctx: Some(1024), max_batch: 64, ..Default::default() }));
    gpu.chain(cpu).collect()
}

/// Every text of the reference `file` through `Engine::embed` on every
/// device: llama.cpp's token ids, the model's pooling and every component
/// within EMBED_TOL; loaded at `n_ctx` with steps of `max_batch` tokens.
/// Returns the longest text's tokens.
fn check_on(file: &str, pooling: Pooling, architecture: &str, n_ctx: u32, max_batch: u32) -> usize {
    let reference = reference(file);
    assert_eq!((reference["pooling"].as_str(), reference["architecture"].as_str()), (Some(pooling.name()), Some(architecture)));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/reference/tiny/{file}.gguf"));
    let texts = reference["texts"].as_array().unwrap();
    assert!(texts.len() >= 8, "the reference has {} texts", texts.len());
    let mut longest = 0;
    for (label, device, opts) in devices() {
        let opts = LoadOptions { n_ctx: Some(n_ctx), max_batch, ..opts };
        let mut engine = load_engine(device, &path, opts, 1 << 16, &mut |_| {}).unwrap();
        let mut worst = 0f32;
        for t in texts {
            let text = t["text"].as_str().unwrap();
            let want_ids: Vec<u32> = serde_json::from_value(t["ids"].clone()).unwrap();
            let want: Vec<f32> = serde_json::from_value(t["embedding_f32_activations"].clone()).unwrap();
            assert_eq!(engine.embed_ids(text), want_ids, "{file} {label}: tokens of {text:?}");
            let got = pollster::block_on(engine.embed(text, &EmbedOptions::default())).unwrap();
            assert_eq!((got.tokens, got.pooling, got.vector.len()), (want_ids.len(), pooling, want.len()), "{file} {label}");
            for (i, (g, w)) in got.vector.iter().zip(&want).enumerate() {
                let d = (g - w).abs();
                assert!(d <= EMBED_TOL, "{file} {label}: {text:?} component {i}: {g} vs llama.cpp {w} (tolerance {EMBED_TOL})");
                worst = worst.max(d);
            }
            longest = longest.max(want_ids.len());
        }
        eprintln!("{file} {label}: max |component - llama.cpp| = {worst:.2e} over {} texts", texts.len());
    }
    longest
}

/// A causal model's texts in steps of 64 tokens, so pooling crosses steps.
fn check(file: &str, pooling: Pooling, architecture: &str) {
    let longest = check_on(file, pooling, architecture, 1024, 64);
    assert!(longest > 64, "the long text crosses steps of 64 tokens ({longest} tokens)");
}

#[test]
fn qwen3_embedding_last_token_pooling_equals_llama_cpp() {
    check("tiny-qwen3emb-q8_0", Pooling::Last, "qwen3");
}

#[test]
fn llama_mean_pooling_equals_llama_cpp() {
    check("tiny-llamaemb_mean-q8_0", Pooling::Mean, "llama");
}

/// `dimensions` keeps the first components and normalizes again
/// (Matryoshka); a model that declares no pooling is refused unless the
/// request names one; dimensions out of range and an over-long text are
/// typed errors; generation after an embedding starts from a clean cache.
#[test]
fn dimensions_pooling_choice_and_refusals() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-qwen3emb-q8_0.gguf");
    let mut e = load_engine(Device::Cpu, &path, LoadOptions { n_ctx: Some(64), max_batch: 16, ..Default::default() }, 1 << 16, &mut |_| {}).unwrap();
    let full = pollster::block_on(e.embed("hello world", &EmbedOptions::default())).unwrap().vector;
    let short = pollster::block_on(e.embed("hello world", &EmbedOptions { dimensions: Some(32), ..Default::default() })).unwrap().vector;
    assert_eq!(short.len(), 32);
    let norm = full[..32].iter().map(|x| x * x).sum::<f32>().sqrt();
    for (s, f) in short.iter().zip(&full) {
        assert!((s - f / norm).abs() < 1e-6, "{s} vs {}", f / norm);
    }
    assert!((short.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    let err = |r: Result<_, EngineError>| r.map(|_: tabllm::embed::Embedding| ()).unwrap_err().to_string();
    assert_eq!(err(pollster::block_on(e.embed("x", &EmbedOptions { dimensions: Some(0), ..Default::default() }))), EmbedError::Dimensions { got: 0, max: 256 }.to_string());
    assert_eq!(err(pollster::block_on(e.embed("x", &EmbedOptions { dimensions: Some(257), ..Default::default() }))), EmbedError::Dimensions { got: 257, max: 256 }.to_string());
    let long = "word ".repeat(100);
    assert!(matches!(pollster::block_on(e.embed(&long, &EmbedOptions::default())), Err(EngineError::PromptTooLong { n_ctx: 64, .. }) | Err(EngineError::TextTooLong { .. })));
    // Mean pooling asked of a last-pooling model: another vector, still unit length.
    let mean = pollster::block_on(e.embed("hello world", &EmbedOptions { pooling: Some(Pooling::Mean), ..Default::default() })).unwrap();
    assert_eq!(mean.pooling, Pooling::Mean);
    assert!(mean.vector.iter().zip(&full).any(|(a, b)| (a - b).abs() > 1e-3));
    assert_eq!(pollster::block_on(e.embed("hello world", &EmbedOptions::default())).unwrap().vector, full, "the same text again: the same vector");

    // A generative model declares no pooling.
    let chat = common::shared("tiny").join("tiny-qwen3-q4_k_m.gguf");
    let mut g = load_engine(Device::Cpu, &chat, LoadOptions { n_ctx: Some(64), max_batch: 16, ..Default::default() }, 1 << 16, &mut |_| {}).unwrap();
    assert_eq!(err(pollster::block_on(g.embed("x", &EmbedOptions::default()))), EmbedError::NoPooling.to_string());
    let last = pollster::block_on(g.embed("x", &EmbedOptions { pooling: Some(Pooling::Last), ..Default::default() })).unwrap();
    assert_eq!(last.vector.len(), 256);
}

/// `tabllm embed`: OpenAI's response on stdout, vectors equal to the
/// engine's (the library path above); refusals as a message and exit 1.
#[test]
fn cli_embed_prints_openai_embeddings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny");
    let reference = reference("tiny-qwen3emb-q8_0");
    let texts: Vec<&str> = reference["texts"].as_array().unwrap()[..2].iter().map(|t| t["text"].as_str().unwrap()).collect();
    let model = dir.join("tiny-qwen3emb-q8_0.gguf");
    let run = |extra: &[&str]| {
        let mut args = vec!["embed", "--backend", "cpu", "--model", model.to_str().unwrap()];
        for t in &texts {
            args.extend(["--input", t]);
        }
        args.extend(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_tabllm")).args(&args).output().unwrap()
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "tiny-qwen3emb-q8_0.gguf");
    let tokens: usize = reference["texts"].as_array().unwrap()[..2].iter().map(|t| t["ids"].as_array().unwrap().len()).sum();
    assert_eq!(v["usage"]["prompt_tokens"], tokens);
    for (i, d) in v["data"].as_array().unwrap().iter().enumerate() {
        assert_eq!((d["object"].as_str(), d["index"].as_u64()), (Some("embedding"), Some(i as u64)));
        let got: Vec<f32> = serde_json::from_value(d["embedding"].clone()).unwrap();
        let want: Vec<f32> = serde_json::from_value(reference["texts"][i]["embedding_f32_activations"].clone()).unwrap();
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() <= EMBED_TOL), "input {i}");
    }
    let short: serde_json::Value = serde_json::from_slice(&run(&["--dimensions", "64"]).stdout).unwrap();
    assert_eq!(short["data"][0]["embedding"].as_array().unwrap().len(), 64);
    let too_wide = run(&["--dimensions", "300"]);
    assert!(!too_wide.status.success());
    assert!(String::from_utf8_lossy(&too_wide.stderr).contains("dimensions must be from 1 to the model's 256, got 300"));
    // An empty input is refused, as the package refuses it (it gave [CLS] [SEP]'s vector).
    let empty = run(&["--input", ""]);
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("--input 2 is empty"), "{}", String::from_utf8_lossy(&empty.stderr));
    let chat = common::shared("tiny").join("tiny-qwen3-q4_k_m.gguf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tabllm")).args(["embed", "--backend", "cpu", "--model", chat.to_str().unwrap(), "--input", "x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("declares no pooling"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Bad input at load: a file whose attention is bidirectional
/// (`{arch}.attention.causal` false, as EmbeddingGemma and BERT declare) is
/// refused by name, since tabllm's attention is causal and would give other
/// vectors; `pooling_type` is read as the file writes it.
#[test]
fn bidirectional_attention_is_refused_and_pooling_type_is_read() {
    use tabllm::gguf::Value;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-qwen3emb-q8_0.gguf");
    let mut h = tabllm::gguf::read_header_from_path(&path).unwrap();
    assert_eq!(tabllm::model::ModelConfig::from_header(&h).unwrap().pooling_type, Some(3));
    h.metadata.insert("qwen3.attention.causal".into(), Value::Bool(true));
    assert!(tabllm::model::ModelConfig::from_header(&h).is_ok(), "causal = true is what tabllm runs");
    h.metadata.insert("qwen3.attention.causal".into(), Value::Bool(false));
    let err = tabllm::model::ModelConfig::from_header(&h).unwrap_err().to_string();
    assert!(err.contains("qwen3.attention.causal is false") && err.contains("bidirectional attention"), "{err}");
}

/// The tiny `bert` (tests/reference/tiny/tiny-bert-q8_0: all-MiniLM's
/// shape at width 64, bge's WordPiece vocabulary, mean pooling) through
/// `Engine::embed` on the text, under every GPU kernel configuration and on
/// the CPU backend. One step holds the longest text (236 tokens): a
/// bidirectional text is never split.
#[test]
fn bert_bidirectional_mean_pooling_equals_llama_cpp() {
    check_on("tiny-bert-q8_0", Pooling::Mean, "bert", 512, 256);
}

/// What a `bert` file cannot do, refused by name: logits (it has no head),
/// a step past position 0 (its attention is bidirectional), a context past
/// its position embeddings; at header time, a missing bias or norm bias,
/// no `layer_norm_epsilon`, no token-type count.
#[test]
fn bert_refusals() {
    use tabllm::model::{load_path_on, ModelConfig, ModelError, Output};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-bert-q8_0.gguf");
    let (model, _) = load_path_on(Device::Cpu, &path, LoadOptions { n_ctx: Some(64), max_batch: 16, ..Default::default() }, 1 << 16).unwrap();
    assert!(!model.config.causal && !model.config.has_head());
    assert!(matches!(pollster::block_on(model.step(&[101, 1037, 102], 0, Output::Logits)), Err(ModelError::NoHead)));
    assert!(matches!(pollster::block_on(model.step(&[101, 1037, 102], 0, Output::Argmax)), Err(ModelError::NoHead)));
    assert!(matches!(pollster::block_on(model.step(&[1037, 102], 3, Output::Hidden)), Err(ModelError::BidirectionalStep { pos0: 3 })));
    assert!(pollster::block_on(model.step(&[101, 1037, 102], 0, Output::Hidden)).is_ok());
    let Err(err) = load_path_on(Device::Cpu, &path, LoadOptions { n_ctx: Some(513), max_batch: 16, ..Default::default() }, 1 << 16) else { panic!("n_ctx 513 loaded") };
    assert!(err.to_string().contains("past this model's 512 position embeddings"), "{err}");

    let h = tabllm::gguf::read_header_from_path(&path).unwrap();
    let c = ModelConfig::from_header(&h).unwrap();
    assert_eq!((c.rms_eps, c.encoder_input.map(|e| (e.n_positions, e.token_types))), (1e-12, Some((Some(512), 2))));
    for name in ["blk.1.attn_output.bias", "blk.0.ffn_up.bias", "blk.0.attn_k.bias", "blk.1.layer_output_norm.bias", "token_embd_norm.bias", "position_embd.weight"] {
        let err = ModelConfig::from_header(&without_tensor(&h, name)).unwrap_err();
        assert!(matches!(&err, ModelError::MissingTensor(n) if n == name), "without {name}: {err}");
    }
    for key in ["bert.attention.layer_norm_epsilon", "tokenizer.ggml.token_type_count"] {
        let err = ModelConfig::from_header(&with_key(&h, key, None)).unwrap_err().to_string();
        assert!(err.contains(key), "without {key}: {err}");
    }
}

/// The tiny `nomic-bert` (tests/reference/tiny/tiny-nomic_bert-q8_0:
/// nomic-embed-text-v1.5's shape at tiny bert's sizes, bge's WordPiece
/// vocabulary, mean pooling; RoPE with freq_base 1000, one fused attn_qkv,
/// no projection biases, a SwiGLU FFN): `Engine::embed` on each text gives
/// llama.cpp's token ids and every component of the normalized embedding
/// within EMBED_TOL of llama.cpp's on the dequantized weights, under every
/// GPU kernel configuration and on the CPU backend.
#[test]
fn nomic_bert_embeds_text_equal_to_llama_cpp() {
    check_on("tiny-nomic_bert-q8_0", Pooling::Mean, "nomic-bert", 512, 256);
}

/// What a `nomic-bert` file is read as and what is refused by name: no
/// position table (RoPE instead, so no context limit from it), no
/// projection biases, a gated FFN; logits (no head); at header time a
/// missing gate, fused q|k|v or norm bias, no `layer_norm_epsilon` or
/// token-type count, a bias llama.cpp would apply (attn_output.bias,
/// attn_qkv.bias), and `nomic-bert-moe`.
#[test]
fn nomic_bert_config_and_refusals() {
    use tabllm::gguf::{TensorInfo, Value};
    use tabllm::model::{load_path_on, Arch, ModelConfig, ModelError, Output};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-nomic_bert-q8_0.gguf");
    let (model, _) = load_path_on(Device::Cpu, &path, LoadOptions { n_ctx: Some(1024), max_batch: 16, ..Default::default() }, 1 << 16).unwrap();
    assert!(!model.config.causal && !model.config.has_head());
    assert!(matches!(pollster::block_on(model.step(&[101, 1037, 102], 0, Output::Logits)), Err(ModelError::NoHead)));

    let h = tabllm::gguf::read_header_from_path(&path).unwrap();
    let c = ModelConfig::from_header(&h).unwrap();
    assert_eq!((c.arch, c.rms_eps, c.rope_base, c.encoder_input.map(|e| (e.n_positions, e.token_types))), (Arch::NomicBert, 1e-12, 1000.0, Some((None, 2))));
    assert!(!c.encoder_biases && !c.qkv_bias && c.layers.iter().all(|p| p.gated_ffn));
    for name in ["blk.1.ffn_gate.weight", "blk.0.attn_output_norm.bias", "token_embd_norm.bias"] {
        let err = ModelConfig::from_header(&without_tensor(&h, name)).unwrap_err();
        assert!(matches!(&err, ModelError::MissingTensor(n) if n == name), "without {name}: {err}");
    }
    assert!(matches!(ModelConfig::from_header(&without_tensor(&h, "blk.0.attn_qkv.weight")), Err(ModelError::MissingTensor(n)) if n == "blk.0.attn_q.weight"));
    for (name, n) in [("blk.0.attn_output.bias", 64), ("blk.1.attn_qkv.bias", 192)] {
        let mut h = h.clone();
        h.tensors.push(TensorInfo { name: name.into(), dims: vec![n], ggml_type: tabllm::quant::GgmlType::F32, offset: 0, n_elements: n, n_bytes: 4 * n });
        let err = ModelConfig::from_header(&h).unwrap_err();
        assert!(matches!(&err, ModelError::TensorNotApplied(t) if t == name), "with {name}: {err}");
    }
    for key in ["nomic-bert.attention.layer_norm_epsilon", "tokenizer.ggml.token_type_count"] {
        let err = ModelConfig::from_header(&with_key(&h, key, None)).unwrap_err().to_string();
        assert!(err.contains(key), "without {key}: {err}");
    }
    let mut moe = h.clone();
    moe.metadata.insert("general.architecture".into(), Value::String("nomic-bert-moe".into()));
    assert!(matches!(ModelConfig::from_header(&moe), Err(ModelError::UnsupportedArchitecture(a)) if a == "nomic-bert-moe"));
}

/// The tiny `gemma-embedding` (tests/reference/tiny/tiny-gemma_embedding-q8_0:
/// EmbeddingGemma's conversion at width 128, 6 layers of which layer 5 is
/// global, a symmetric sliding window of 8 that the long texts cross, mean
/// pooling, dense_2 128 → 512 and dense_3 512 → 128 after pooling) through
/// `Engine::embed` on the text: llama.cpp's token ids, and every component
/// within EMBED_TOL of llama.cpp's on the dequantized weights, under every
/// GPU kernel configuration and on the CPU backend. One step holds the
/// longest text (a bidirectional text is never split).
#[test]
fn gemma_embedding_symmetric_window_and_dense_projections_equal_llama_cpp() {
    let longest = check_on("tiny-gemma_embedding-q8_0", Pooling::Mean, "gemma-embedding", 1024, 512);
    assert!(longest > 8 * 8, "the long text crosses the window of 8 many times ({longest} tokens)");
}

/// What `gemma-embedding` reads and refuses: attention bidirectional even
/// where the file says causal (llama.cpp sets it for the architecture), the
/// window symmetric on layers 0–4 and none on layer 5, the dense
/// projections chained from the file's sizes; refused by name: no or a
/// zero sliding window, a sliding-window pattern, a dense tensor without its
/// size key or with sizes that do not chain; a text longer than one step.
#[test]
fn gemma_embedding_config_and_refusals() {
    use tabllm::gguf::Value;
    use tabllm::model::{DenseProjection, Mixer, ModelConfig};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-gemma_embedding-q8_0.gguf");
    let h = tabllm::gguf::read_header_from_path(&path).unwrap();
    let c = ModelConfig::from_header(&h).unwrap();
    assert!(!c.causal);
    let windows: Vec<(u32, bool)> = c.layers.iter().map(|l| match l.mixer {
        Mixer::Attention(a) => (a.window, a.causal),
        _ => panic!("attention layers only"),
    }).collect();
    assert_eq!(windows, [(8, false), (8, false), (8, false), (8, false), (8, false), (0, false)]);
    assert_eq!(c.dense_out, [DenseProjection { tensor: "dense_2.weight", n_in: 128, n_out: 512 }, DenseProjection { tensor: "dense_3.weight", n_in: 512, n_out: 128 }]);
    let with = |key: &str, v: Option<Value>| ModelConfig::from_header(&with_key(&h, key, v)).map_err(|e| e.to_string());
    assert!(!with("gemma-embedding.attention.causal", Some(Value::Bool(true))).unwrap().causal, "llama.cpp's gemma-embedding is bidirectional whatever the file says");
    for (key, v, says) in [
        ("gemma-embedding.attention.sliding_window", None, "gemma-embedding.attention.sliding_window"),
        ("gemma-embedding.attention.sliding_window", Some(Value::U32(0)), "gemma-embedding.attention.sliding_window is 0"),
        ("gemma-embedding.attention.sliding_window_pattern", Some(Value::U32(4)), "gemma-embedding.attention.sliding_window_pattern is set"),
        ("gemma-embedding.dense_2_feat_out", None, "gemma-embedding.dense_2_feat_out"),
        ("gemma-embedding.dense_3_feat_in", Some(Value::U32(256)), "gemma-embedding.dense_3_feat_in is 256"),
    ] {
        let err = with(key, v).unwrap_err();
        assert!(err.contains(says), "{key}: {err}");
    }
    // Without the dense tensors the pooled vector is the embedding (llama.cpp: both optional).
    let mut bare = h.clone();
    bare.tensors.retain(|t| !t.name.starts_with("dense_"));
    assert!(ModelConfig::from_header(&bare).unwrap().dense_out.is_empty());

    let mut e = load_engine(Device::Cpu, &path, LoadOptions { n_ctx: Some(1024), max_batch: 32, ..Default::default() }, 1 << 16, &mut |_| {}).unwrap();
    let long = reference("tiny-gemma_embedding-q8_0")["texts"][2]["text"].as_str().unwrap().to_string();
    let tokens = e.embed_ids(&long).len();
    let err = pollster::block_on(e.embed(&long, &EmbedOptions::default())).unwrap_err().to_string();
    assert_eq!(err, EngineError::from(EmbedError::OneStep { tokens, max: 32 }).to_string());
    assert_eq!(pollster::block_on(e.embed("hello", &EmbedOptions { dimensions: Some(64), ..Default::default() })).unwrap().vector.len(), 64);
}

/// WordPiece makes a whole unmatched word one `[UNK]`, however many bytes
/// (a run of 3,000 emoji is 12,000 bytes and 3 tokens): the check before
/// tokenizing counts words there, not bytes (it refused such a text as
/// "more than the context holds, however it tokenizes"); a text of more
/// words than the context is still refused before tokenizing.
#[test]
fn wordpiece_long_unknown_word_fits_and_word_count_bounds_the_context() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny/tiny-bert-q8_0.gguf");
    let mut e = load_engine(Device::Cpu, &path, LoadOptions { n_ctx: Some(512), max_batch: 512, ..Default::default() }, 1 << 16, &mut |_| {}).unwrap();
    let emoji = "\u{1F600}".repeat(3000);
    let got = pollster::block_on(e.embed(&emoji, &EmbedOptions::default())).unwrap();
    assert_eq!(got.tokens, 3, "[CLS] [UNK] [SEP]");
    let words = "word ".repeat(600);
    assert!(matches!(e.check_text_fits(&words), Err(EngineError::TooManyWords { words: 600, n_ctx: 512 })));
    assert!(matches!(pollster::block_on(e.embed(&words, &EmbedOptions::default())), Err(EngineError::TooManyWords { words: 600, n_ctx: 512 })));
}
