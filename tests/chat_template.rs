//! Chat templates rendered byte for byte as Python's jinja2 renders them in
//! Hugging Face's `apply_chat_template` (the `chat[].rendered` strings in
//! `shared/reference/`).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tabllm::gguf::{read_header_from_path, Metadata, Value};
use tabllm::chat::{ChatMessage, ChatTemplate};
use tabllm::tokenizer::Tokenizer;

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference")
}

fn load_json(name: &str) -> Json {
    let path = reference_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn messages(case: &Json) -> Vec<ChatMessage> {
    serde_json::from_value(case["messages"].clone()).unwrap()
}

#[test]
fn smollm2_file_template_renders_like_jinja2() {
    let reference = load_json("smollm2-135m-instruct-q4_1.json");
    assert_eq!(reference["chat_template_source"], "file");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let header = read_header_from_path(&path).unwrap();
    let md = &header.metadata;
    let tok = Tokenizer::from_metadata(md).unwrap();
    let template = ChatTemplate::for_model(md)
        .unwrap()
        .expect("SmolLM2 has a chat template");
    let bos = tok.token_text(tok.bos_id().unwrap()).unwrap();
    let eos = tok.token_text(tok.eos_id().unwrap()).unwrap();
    let cases = reference["chat"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let got = template.render(&messages(case), true, bos, eos).unwrap();
        assert_eq!(got, case["rendered"].as_str().unwrap());
    }
}

#[test]
fn gemma3_builtin_template_renders_like_jinja2() {
    let reference = load_json("gemma-3-270m-q4_k_m.json");
    let template = ChatTemplate::gemma3().unwrap();
    let cases = reference["chat"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let got = template
            .render(&messages(case), true, "<bos>", "<eos>")
            .unwrap();
        assert_eq!(got, case["rendered"].as_str().unwrap());
    }
}

#[test]
fn gemma3_template_is_chosen_by_architecture() {
    let mut md = Metadata::default();
    md.insert(
        "general.architecture".into(),
        Value::String("gemma3".into()),
    );
    let template = ChatTemplate::for_model(&md)
        .unwrap()
        .expect("built-in Gemma 3 template");
    let got = template
        .render(&[ChatMessage::new("user", "hi")], true, "<bos>", "<eos>")
        .unwrap();
    assert_eq!(
        got,
        "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"
    );

    md.insert("general.architecture".into(), Value::String("llama".into()));
    assert!(ChatTemplate::for_model(&md).unwrap().is_none());
}

#[test]
fn messages_deserialize_from_openai_json() {
    let m: Vec<ChatMessage> = serde_json::from_str(
        r#"[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]"#,
    )
    .unwrap();
    assert_eq!(m[1], ChatMessage::new("user", "hi"));
}

#[test]
fn template_syntax_errors_are_reported_at_compile_time() {
    assert!(ChatTemplate::new("{% for m in messages %}").is_err());
}
