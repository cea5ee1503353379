//! Chat templates rendered byte for byte as Python's jinja2 renders them in
//! Hugging Face's `apply_chat_template`: the corpus in tests/templates/
//! (real templates of many families × conversations), the field cases of
//! shared/cases/, and the template stored in real model headers in models/
//! (DeepSeek-R1-Distill-Qwen-7B's) × every conversation. The reference is `target/templates_jinja2.json`, written by
//! `scripts/render_templates_jinja2.py` (scripts/test.sh runs it first).
//! Where jinja2 raises (raise_exception, or a Python TypeError), tabllm must
//! fail too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use serde_json::Value as Json;
use tabllm::gguf::read_header_from_path;
use tabllm::chat::{ChatError, ChatMessage, ChatTemplate, FinalAssistant, RenderArgs};
use tabllm::tokenizer::Tokenizer;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reference() -> Json {
    let path = root().join("target/templates_jinja2.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nthe jinja2 reference is missing: run `python3 scripts/render_templates_jinja2.py target/templates_jinja2.json` \
             (needs `pip install jinja2==3.1.6 gguf==0.19.0` and the DeepSeek header from scripts/fetch-models.sh; scripts/test.sh does all three)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn now(reference: &Json) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(reference["now"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S").unwrap()
}

fn stems(dir: &Path, ext: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(ext).map(|s| s.to_string() + ext)
        })
        .collect()
}

/// Renders `conversation` (`messages`, optional `tools`, optional
/// `continue_final`, optional `add_generation_prompt: false`) as the
/// reference script does, with the placeholder BOS and EOS texts.
fn render(t: &ChatTemplate, conversation: &Json, reference: &Json) -> Result<String, ChatError> {
    render_with_tokens(t, conversation, reference["bos_token"].as_str().unwrap(), reference["eos_token"].as_str().unwrap())
}

fn render_with_tokens(t: &ChatTemplate, conversation: &Json, bos_token: &str, eos_token: &str) -> Result<String, ChatError> {
    let messages: Vec<ChatMessage> = serde_json::from_value(conversation["messages"].clone()).unwrap();
    let tools = conversation.get("tools").map(|t| t.as_array().unwrap().clone());
    let args = RenderArgs { add_generation_prompt: true, bos_token, eos_token, tools: tools.as_deref(), extra: None };
    if conversation.get("add_generation_prompt") == Some(&Json::Bool(false)) {
        // The whole conversation as it stands (a training-style rendering).
        return t.render_with(&messages, &RenderArgs { add_generation_prompt: false, ..args });
    }
    let last = match conversation.get("continue_final") {
        Some(Json::Bool(true)) => FinalAssistant::Continue,
        _ => FinalAssistant::Close,
    };
    t.render_prompt(&messages, last, &args)
}

/// Compares one rendering with the reference row; a description of the
/// difference when they differ.
fn compare(got: Result<String, ChatError>, row: &Json) -> Option<String> {
    match (got, row.get("rendered").and_then(Json::as_str), row.get("error")) {
        (Ok(got), Some(want), _) => {
            if got == want {
                return None;
            }
            let at = got.bytes().zip(want.bytes()).take_while(|(a, b)| a == b).count();
            let ctx = |s: &str| {
                let lo = s.floor_char_boundary(at.saturating_sub(40));
                let hi = s.ceil_char_boundary((at + 40).min(s.len()));
                format!("{:?}", &s[lo..hi])
            };
            Some(format!(
                "first difference at byte {at} (lengths {} / {}):\n      tabllm: {}\n      jinja2: {}",
                got.len(),
                want.len(),
                ctx(&got),
                ctx(want)
            ))
        }
        (Err(_), None, Some(_)) => None,
        (Ok(got), None, Some(err)) => Some(format!("jinja2 raised {err} but tabllm rendered {got:?}")),
        (Err(e), Some(want), _) => Some(format!("tabllm failed ({e}) but jinja2 rendered {want:?}")),
        (_, None, None) => panic!("reference row has neither `rendered` nor `error`: {row}"),
    }
}

#[test]
fn corpus_renders_like_jinja2_byte_for_byte() {
    let reference = reference();
    let now = now(&reference);
    let dir = root().join("tests/templates");
    let templates = stems(&dir, ".jinja");
    let conversations = stems(&dir.join("conversations"), ".json");
    let rows = reference["corpus"].as_array().unwrap();
    let pairs: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r["template"].as_str().unwrap().to_string(), r["conversation"].as_str().unwrap().to_string() + ".json"))
        .collect();
    let want: BTreeSet<(String, String)> =
        templates.iter().flat_map(|t| conversations.iter().map(move |c| (t.clone(), c.clone()))).collect();
    assert_eq!(pairs, want, "target/templates_jinja2.json is stale: run scripts/render_templates_jinja2.py again");
    assert!(rows.len() >= 40, "the corpus has {} pairs; at least 40 wanted", rows.len());
    assert!(templates.len() >= 8, "the corpus has {} templates; at least 8 families wanted", templates.len());

    let mut failures = Vec::new();
    for row in rows {
        let (tname, cname) = (row["template"].as_str().unwrap(), row["conversation"].as_str().unwrap());
        let source = std::fs::read_to_string(dir.join(tname)).unwrap();
        let mut t = ChatTemplate::new(&source).unwrap_or_else(|e| panic!("{tname}: {e}"));
        t.set_now(Some(now));
        let conv: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("conversations").join(format!("{cname}.json"))).unwrap())
                .unwrap();
        if let Some(diff) = compare(render(&t, &conv, &reference), row) {
            failures.push(format!("{tname} × {cname}: {diff}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} pairs differ from jinja2:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

/// shared/cases: strftime_now (plain and behind `is defined`), loop.previtem /
/// loop.nextitem, `{% generation %}`, content parts, assistant prefill, tool
/// results, tool-call arguments sent as a JSON string (field3: parsed into
/// an object first, by both sides) — templates read from the case files'
/// metadata or from tests/templates/.
#[test]
fn field_cases_render_like_jinja2() {
    let reference = reference();
    let now = now(&reference);
    let cases = root().join("../shared/cases");
    let rows = reference["cases"].as_array().unwrap();
    assert!(!rows.is_empty());
    for t in ["qwen2.5-instruct", "llama-3.2-tools", "mistral-instruct", "python_values"] {
        let covered = rows.iter().any(|r| r["template"] == format!("tests/templates/{t}.jinja") && r["messages"] == "field3/messages/tool_args_as_string.json");
        assert!(covered, "{t} × tool_args_as_string: target/templates_jinja2.json is stale: run scripts/render_templates_jinja2.py again");
    }
    let mut failures = Vec::new();
    for row in rows {
        let (tname, mname) = (row["template"].as_str().unwrap(), row["messages"].as_str().unwrap());
        let mut t = if let Some(rel) = tname.strip_prefix("tests/") {
            ChatTemplate::new(&std::fs::read_to_string(root().join("tests").join(rel)).unwrap()).unwrap()
        } else {
            let path = cases.join(tname);
            let header = read_header_from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            ChatTemplate::for_model(&header.metadata).unwrap().expect("the case file has a template")
        };
        t.set_now(Some(now));
        let read = |rel: &str| -> Json { serde_json::from_str(&std::fs::read_to_string(cases.join(rel)).unwrap()).unwrap() };
        let mut conv = serde_json::json!({ "messages": read(mname), "continue_final": true });
        if let Some(tools) = row.get("tools").and_then(Json::as_str) {
            conv["tools"] = read(tools);
        }
        if let Some(diff) = compare(render(&t, &conv, &reference), row) {
            failures.push(format!("{tname} × {mname}: {diff}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ from jinja2:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

/// The chat template stored in DeepSeek-R1-Distill-Qwen-7B's real GGUF
/// header (models/, scripts/fetch-models.sh), read by tabllm's GGUF reader,
/// rendered with the header's own BOS/EOS texts × every conversation;
/// jinja2 renders the template as the `gguf` package reads it.
#[test]
fn model_header_templates_render_like_jinja2() {
    let reference = reference();
    let now = now(&reference);
    let conv_dir = root().join("tests/templates/conversations");
    let conversations = stems(&conv_dir, ".json");
    let models = reference["models"].as_array().expect("reference has `models`: run scripts/render_templates_jinja2.py again");
    let names: Vec<&str> = models.iter().map(|m| m["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part0000.gguf"]);
    let mut failures = Vec::new();
    let mut n = 0;
    for m in models {
        let name = m["model"].as_str().unwrap();
        let path = root().join("models").join(name);
        assert!(path.exists(), "{} is missing: run scripts/fetch-models.sh", path.display());
        let header = read_header_from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // tabllm's reading of the header against the gguf package's.
        let source = header.metadata.get_str("tokenizer.chat_template").unwrap().expect("the header has a chat template");
        assert_eq!(source, m["chat_template"].as_str().unwrap(), "{name}: tokenizer.chat_template as tabllm reads it");
        let tok = Tokenizer::from_metadata(&header.metadata).unwrap();
        let bos = tok.token_text(tok.bos_id().expect("BOS id")).unwrap();
        let eos = tok.token_text(tok.eos_id().expect("EOS id")).unwrap();
        assert_eq!((bos, eos), (m["bos_token"].as_str().unwrap(), m["eos_token"].as_str().unwrap()), "{name}: BOS/EOS texts");

        let mut t = ChatTemplate::for_model(&header.metadata).unwrap().expect("the header has a chat template");
        t.set_now(Some(now));
        let rows = m["rows"].as_array().unwrap();
        let covered: BTreeSet<String> = rows.iter().map(|r| r["conversation"].as_str().unwrap().to_string() + ".json").collect();
        assert_eq!(covered, conversations, "{name}: target/templates_jinja2.json is stale: run scripts/render_templates_jinja2.py again");
        for row in rows {
            let cname = row["conversation"].as_str().unwrap();
            let conv: Json = serde_json::from_str(&std::fs::read_to_string(conv_dir.join(format!("{cname}.json"))).unwrap()).unwrap();
            if let Some(diff) = compare(render_with_tokens(&t, &conv, bos, eos), row) {
                failures.push(format!("{name} × {cname}: {diff}"));
            }
            n += 1;
        }
        // The conversations the acceptance names are there, and exercise
        // what they are meant to: an earlier answer's reasoning is dropped.
        let rendered = |c: &str| rows.iter().find(|r| r["conversation"] == c).and_then(|r| r["rendered"].as_str()).unwrap_or_else(|| panic!("{name}: no rendering of {c}"));
        for c in ["system", "multi_turn", "continue_assistant", "no_generation_prompt"] {
            rendered(c);
        }
        let think = rendered("think_history_system");
        assert!(!think.contains("<think>") && think.contains("17 + 25 = **42**."), "{name}: {think:?}");
    }
    assert!(failures.is_empty(), "{} of {n} renderings differ from jinja2:\n{}", failures.len(), failures.join("\n"));
}
