//! Gemma 3's SentencePiece tokenizer against llama.cpp's tokenizations in
//! `shared/reference/gemma-3-270m-q4_k_m.json`.
//!
//! The model file is `$TABLLM_GEMMA3_GGUF`, else
//! `models/gemma-3-270m-q4_k_m.gguf` (scripts/fetch-models.sh fetches it); the
//! test fails, saying so, when it is missing.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tabllm::gguf::read_header_from_path;
use tabllm::chat::ChatTemplate;
use tabllm::tokenizer::{StreamDecoder, Tokenizer};

fn model_path() -> PathBuf {
    let path = match std::env::var_os("TABLLM_GEMMA3_GGUF") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("models/gemma-3-270m-q4_k_m.gguf"),
    };
    assert!(
        path.exists(),
        "no Gemma 3 model at {}: run scripts/fetch-models.sh (the test command does) or set TABLLM_GEMMA3_GGUF",
        path.display()
    );
    path
}

fn reference() -> Json {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/gemma-3-270m-q4_k_m.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn gemma3_tokenizer_matches_llama_cpp() {
    let path = model_path();
    let header = read_header_from_path(&path).unwrap();
    let tok = Tokenizer::from_metadata(&header.metadata).unwrap();
    let reference = reference();
    assert_eq!(tok.vocab_size(), 262144);
    assert_eq!(tok.bos_id(), Some(2));
    assert_eq!(tok.eos_id(), Some(1));
    assert!(tok.add_bos());
    assert_eq!(tok.add_bos(), reference["add_bos"].as_bool().unwrap());
    let end_of_turn = tok.token_id("<end_of_turn>").unwrap();
    assert!(tok.is_eog(end_of_turn) && tok.is_eog(1));

    let mut failures = common::reference::tokenize_mismatches(&tok, &reference);
    for case in reference["tokenize"].as_array().unwrap() {
        assert_eq!(tok.decode(&ids(&case["ids"])), case["text"].as_str().unwrap());
    }
    for case in reference["greedy"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let mut got = vec![tok.bos_id().unwrap()];
        got.extend(tok.encode(prompt, true));
        if got != ids(&case["prompt_ids"]) {
            failures.push(format!(
                "greedy prompt {prompt:?}: want {:?} got {got:?}",
                ids(&case["prompt_ids"])
            ));
        }
    }
    let template = ChatTemplate::for_model(&header.metadata)
        .unwrap()
        .expect("built-in Gemma 3 template");
    for case in reference["chat"].as_array().unwrap() {
        let messages = serde_json::from_value::<Vec<_>>(case["messages"].clone()).unwrap();
        let rendered = template.render(&messages, true, "<bos>", "<eos>").unwrap();
        assert_eq!(rendered, case["rendered"].as_str().unwrap());
        let got = tok.encode(&rendered, true);
        if got != ids(&case["prompt_ids"]) {
            failures.push(format!(
                "chat {rendered:?}: want {:?} got {got:?}",
                ids(&case["prompt_ids"])
            ));
        }
        // The answers decode to llama.cpp's text, one token at a time too.
        let answer: Vec<u32> = ids(&case["greedy_ids"])
            .into_iter()
            .take_while(|&id| !tok.is_eog(id))
            .collect();
        assert_eq!(tok.decode(&answer), case["greedy_text"].as_str().unwrap());
        let mut dec = StreamDecoder::new();
        let mut streamed: String = answer.iter().map(|&id| dec.push(&tok, id)).collect();
        streamed.push_str(&dec.finish());
        assert_eq!(streamed, case["greedy_text"].as_str().unwrap());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
