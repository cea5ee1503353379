//! SmolLM2's byte-level BPE tokenizer against llama.cpp's tokenizations in
//! `shared/reference/`, and the tiny models' (their vocabulary is a cut of
//! SmolLM2's).

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tabllm::gguf::read_header_from_path;
use tabllm::tokenizer::{StreamDecoder, Tokenizer};

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference")
}

fn model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn load_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn tokenizer_for(path: &Path) -> Tokenizer {
    let header = read_header_from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Tokenizer::from_metadata(&header.metadata).unwrap()
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn smollm2() -> (Tokenizer, Json) {
    let reference = load_json(&reference_dir().join("smollm2-135m-instruct-q4_1.json"));
    (tokenizer_for(&model_path()), reference)
}

/// BOS when the reference says the prompt starts with one.
fn with_bos(tok: &Tokenizer, add_bos: bool, mut body: Vec<u32>) -> Vec<u32> {
    if add_bos {
        body.insert(0, tok.bos_id().unwrap());
    }
    body
}

#[test]
fn smollm2_metadata() {
    let (tok, reference) = smollm2();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.add_bos(), reference["add_bos"].as_bool().unwrap());
    assert_eq!(tok.token_text(1), Some("<|im_start|>"));
    // EOS <|im_end|> and <|endoftext|> end generation; <|im_start|> does not.
    assert!(tok.is_eog(2));
    assert!(tok.is_eog(0));
    assert!(!tok.is_eog(1));
    assert!(!tok.is_eog(504));
}

#[test]
fn smollm2_tokenize_matches_llama_cpp() {
    let (tok, reference) = smollm2();
    let failures = common::reference::tokenize_mismatches(&tok, &reference);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn smollm2_greedy_prompts_encode() {
    let (tok, reference) = smollm2();
    let add_bos = reference["add_bos"].as_bool().unwrap();
    for case in reference["greedy"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let got = with_bos(&tok, add_bos, tok.encode(prompt, true));
        assert_eq!(got, ids(&case["prompt_ids"]), "prompt {prompt:?}");
    }
}

#[test]
fn smollm2_chat_renderings_encode() {
    let (tok, reference) = smollm2();
    for case in reference["chat"].as_array().unwrap() {
        let rendered = case["rendered"].as_str().unwrap();
        assert_eq!(
            tok.encode(rendered, true),
            ids(&case["prompt_ids"]),
            "rendered {rendered:?}"
        );
    }
}

#[test]
fn smollm2_decode_round_trips() {
    let (tok, reference) = smollm2();
    for case in reference["tokenize"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(tok.decode(&ids(&case["ids"])), text);
        assert_eq!(tok.decode(&ids(&case["ids_parse_special"])), text);
        assert_eq!(tok.decode(&tok.encode(text, false)), text);
    }
}

/// The generated text llama.cpp reports is the pieces of the generated ids.
#[test]
fn smollm2_decode_matches_greedy_text() {
    let (tok, reference) = smollm2();
    for case in reference["greedy"]
        .as_array()
        .unwrap()
        .iter()
        .chain(reference["chat"].as_array().unwrap())
    {
        for (ids_key, text_key) in [
            ("greedy_ids", "greedy_text"),
            ("greedy_ids_f32_activations", "greedy_text_f32_activations"),
        ] {
            let generated = ids(&case[ids_key]);
            // llama.cpp stops at EOG without printing it.
            let shown: Vec<u32> = generated
                .iter()
                .copied()
                .take_while(|&id| !tok.is_eog(id))
                .collect();
            assert_eq!(
                tok.decode(&shown),
                case[text_key].as_str().unwrap(),
                "{ids_key} of {:?}",
                case.get("prompt")
            );
        }
    }
}

#[test]
fn smollm2_stream_decoder_emits_whole_characters() {
    let (tok, reference) = smollm2();
    let mut texts: Vec<String> = reference["tokenize"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect();
    texts.push("🇺🇸👍🏽 😀 日本語 naïve".to_string());
    for text in &texts {
        let mut dec = StreamDecoder::new();
        let mut out = String::new();
        let mut had_pending = false;
        for id in tok.encode(text, true) {
            // Each chunk is a &str, so it can only hold whole characters; and
            // nothing is ever replaced by U+FFFD.
            let chunk = dec.push(&tok, id);
            assert!(!chunk.contains('\u{FFFD}'), "{text:?}: chunk {chunk:?}");
            had_pending |= dec.has_pending();
            out.push_str(&chunk);
        }
        assert!(!dec.has_pending());
        out.push_str(&dec.finish());
        assert_eq!(&out, text);
        if text.contains('😀') {
            assert!(had_pending, "an emoji spans several byte-level tokens");
        }
    }
}

#[test]
fn long_repeated_word_is_fast() {
    let (tok, _) = smollm2();
    let text = "a".repeat(20_000);
    let start = std::time::Instant::now();
    let got = tok.encode(&text, false);
    assert_eq!(tok.decode(&got), text);
    assert!(
        start.elapsed().as_secs_f64() < 2.0,
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn tiny_models_tokenize_like_llama_cpp() {
    let dir = reference_dir().join("tiny");
    let index = load_json(&dir.join("index.json"));
    for entry in index.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let reference = load_json(&dir.join(file.replace(".gguf", ".json")));
        let tok = tokenizer_for(&dir.join(file));
        assert_eq!(tok.vocab_size(), 1024, "{file}");
        for case in reference["cases"].as_array().unwrap() {
            let prompt = case["prompt"].as_str().unwrap();
            let want = ids(&case["prompt_ids"]);
            let got = with_bos(&tok, tok.add_bos(), tok.encode(prompt, true));
            assert_eq!(got, want, "{file}: {prompt:?}");
        }
    }
}
