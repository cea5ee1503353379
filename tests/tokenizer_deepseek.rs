//! DeepSeek-R1-Distill-Qwen-7B's tokenizer (byte-level BPE, pre-tokenizer
//! `deepseek-r1-qwen`, 152,064 tokens), loaded from the real model's GGUF
//! header, against an independent reference: Hugging Face's `tokenizers`
//! rebuilt from the same header read by the `gguf` package
//! (scripts/tokenizer_reference_deepseek.py writes
//! `target/tokenizer_deepseek.json`; scripts/test.sh runs it first). The
//! texts are tests/tokenizer/deepseek_cases.json (edge cases of the Qwen2
//! pre-tokenizer, scripts, emoji, whitespace, code, special-token texts,
//! long inputs), each tokenized with and without parsing special tokens;
//! and the prompt ids of every conversation of tests/templates/conversations
//! with the header's chat template, as llama-server makes them.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tabllm::gguf::read_header_from_path;
use tabllm::gguf::Metadata;
use tabllm::chat::{chat_prompt_ids, ChatMessage, ChatTemplate, FinalAssistant, RenderArgs};
use tabllm::tokenizer::{TokenType, Tokenizer};

const MODEL: &str = "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part0000.gguf";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path, missing: &str) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}\n{missing}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn reference() -> Json {
    read_json(
        &root().join("target/tokenizer_deepseek.json"),
        "the tokenizer reference is missing: run `python3 scripts/tokenizer_reference_deepseek.py target/tokenizer_deepseek.json` \
         (needs scripts/fetch-models.sh's DeepSeek header and `pip install gguf==0.19.0 tokenizers==0.22.1`; scripts/test.sh does all three)",
    )
}

fn header_metadata() -> Metadata {
    let path = root().join("models").join(MODEL);
    assert!(path.exists(), "{} is missing: run scripts/fetch-models.sh", path.display());
    read_header_from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).metadata
}

fn tokenizer() -> Tokenizer {
    Tokenizer::from_metadata(&header_metadata()).unwrap_or_else(|e| panic!("{MODEL}: {e}"))
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Ids with their token texts, for failure messages.
fn show(tok: &Tokenizer, ids: &[u32]) -> String {
    let parts: Vec<String> = ids.iter().map(|&id| format!("{id}:{:?}", tok.token_text(id).unwrap_or("?"))).collect();
    format!("[{}]", parts.join(" "))
}

#[test]
fn deepseek_header_special_tokens_match_the_reference() {
    let reference = reference();
    let tok = tokenizer();
    assert_eq!(tok.vocab_size() as u64, reference["vocab_size"].as_u64().unwrap(), "vocabulary size");
    assert_eq!(tok.bos_id().map(u64::from), reference["bos_token_id"].as_u64(), "BOS id");
    assert_eq!(tok.eos_id().map(u64::from), reference["eos_token_id"].as_u64(), "EOS id");
    assert_eq!(tok.add_bos(), reference["add_bos_token"].as_bool().unwrap(), "add_bos");
    assert_eq!(tok.token_text(tok.bos_id().unwrap()), Some("<｜begin▁of▁sentence｜>"));
    assert_eq!(tok.token_text(tok.eos_id().unwrap()), Some("<｜end▁of▁sentence｜>"));
    let user_defined = ids(&reference["user_defined_ids"]);
    for id in ids(&reference["special_ids"]) {
        let want = if user_defined.contains(&id) { TokenType::UserDefined } else { TokenType::Control };
        assert_eq!(tok.token_type(id), Some(want), "token {id} {:?}", tok.token_text(id));
    }
    // What the header says about the reasoning tags (the template and the
    // reply parser rely on them being single tokens).
    assert_eq!((tok.token_id("<think>"), tok.token_id("</think>")), (Some(151648), Some(151649)));
}

#[test]
fn deepseek_tokenizes_like_the_reference() {
    let reference = reference();
    let fixture = read_json(&root().join("tests/tokenizer/deepseek_cases.json"), "the case list is part of the repository");
    // (name, text); a fixture case's text repeated `repeat` times (the reference's is written out).
    let texts = |v: &Json| -> Vec<(String, String)> {
        let case = |c: &Json| {
            let repeat = c.get("repeat").map_or(1, |r| r.as_u64().unwrap() as usize);
            (c["name"].as_str().unwrap().to_string(), c["text"].as_str().unwrap().repeat(repeat))
        };
        v["cases"].as_array().unwrap().iter().map(case).collect()
    };
    assert_eq!(
        texts(&reference),
        texts(&fixture),
        "target/tokenizer_deepseek.json is stale: run scripts/tokenizer_reference_deepseek.py again"
    );
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "{} cases; at least 40 wanted", cases.len());

    let tok = tokenizer();
    let mut failures = Vec::new();
    for case in cases {
        let (name, text) = (case["name"].as_str().unwrap(), case["text"].as_str().unwrap());
        for (parse_special, key) in [(true, "ids"), (false, "ids_no_special")] {
            let want = ids(&case[key]);
            let got = tok.encode(text, parse_special);
            if got != want {
                failures.push(format!(
                    "{name} (parse_special {parse_special}) {text:?}:\n      tabllm:    {}\n      reference: {}",
                    show(&tok, &got),
                    show(&tok, &want)
                ));
            }
            // Control and user-defined tokens decode to their text, so the ids give the text back.
            let back = tok.decode(&want);
            if back != text {
                failures.push(format!("{name}: the reference's {key} decode to {back:?}, not {text:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} tokenizations differ:\n{}", failures.len(), 2 * cases.len(), failures.join("\n"));
}

/// The header's template rendered by tabllm, then its prompt ids
/// ([`chat_prompt_ids`]: one BOS, the text with special tokens parsed), equal
/// to the reference's (jinja2's rendering, llama-server's BOS rule, the
/// reference tokenizer). Conversations as tests/chat_templates_jinja2.rs
/// renders them: `continue_final` continues the last assistant message,
/// `add_generation_prompt: false` renders the conversation as it stands.
#[test]
fn deepseek_chat_prompts_match_the_reference() {
    let reference = reference();
    let md = header_metadata();
    let tok = Tokenizer::from_metadata(&md).unwrap();
    let template = ChatTemplate::for_model(&md).unwrap().expect("the header has a chat template");
    let (bos, eos) = (tok.token_text(tok.bos_id().unwrap()).unwrap(), tok.token_text(tok.eos_id().unwrap()).unwrap());
    let conv_dir = root().join("tests/templates/conversations");
    let rows = reference["chat"].as_array().expect("reference has `chat`: run scripts/tokenizer_reference_deepseek.py again");
    let mut names: Vec<String> = std::fs::read_dir(&conv_dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().unwrap().strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    let covered: Vec<&str> = rows.iter().map(|r| r["conversation"].as_str().unwrap()).collect();
    assert_eq!(covered, names, "target/tokenizer_deepseek.json is stale: run scripts/tokenizer_reference_deepseek.py again");

    let mut failures = Vec::new();
    for row in rows {
        let name = row["conversation"].as_str().unwrap();
        let conv = read_json(&conv_dir.join(format!("{name}.json")), "");
        let messages: Vec<ChatMessage> = serde_json::from_value(conv["messages"].clone()).unwrap();
        let tools = conv.get("tools").map(|t| t.as_array().unwrap().clone());
        let args = RenderArgs { add_generation_prompt: true, bos_token: bos, eos_token: eos, tools: tools.as_deref(), extra: None };
        let rendered = if conv.get("add_generation_prompt") == Some(&Json::Bool(false)) {
            template.render_with(&messages, &RenderArgs { add_generation_prompt: false, ..args })
        } else {
            let last = if conv.get("continue_final") == Some(&Json::Bool(true)) { FinalAssistant::Continue } else { FinalAssistant::Close };
            template.render_prompt(&messages, last, &args)
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        if rendered != row["rendered"].as_str().unwrap() {
            failures.push(format!("{name}: rendered {rendered:?}\n      jinja2:   {:?}", row["rendered"]));
            continue;
        }
        let (got, want) = (chat_prompt_ids(&tok, &rendered), ids(&row["prompt_ids"]));
        if got != want {
            failures.push(format!("{name}:\n      tabllm:    {}\n      reference: {}", show(&tok, &got), show(&tok, &want)));
        }
    }
    assert!(failures.is_empty(), "{} of {} chat prompts differ:\n{}", failures.len(), rows.len(), failures.join("\n"));
}
