//! The `tabllm` binary as a user runs it: `tokenize` reproduces llama.cpp's
//! tokenizations, and `generate --json` (tokenizer, chat template, model and
//! sampler together) reproduces llama.cpp's greedy output.

mod common;
use common::*;
use std::process::Command;

const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(shared("smollm2-135m-instruct-q4_1.json")).unwrap()).unwrap()
}

fn tabllm(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(args).output().expect("run tabllm");
    assert!(out.status.success(), "tabllm {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("tabllm {args:?}: not JSON ({e}): {stdout}"))
}

#[test]
fn tokenize_matches_llama_cpp() {
    let model = model_path(SMOLLM2);
    let model = model.to_str().unwrap();
    for case in reference()["tokenize"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let got = tabllm(&["tokenize", "--model", model, "--json", text]);
        assert_eq!(got["ids"], case["ids_parse_special"], "tokenize {text:?}");
    }
}

#[test]
fn generate_prompt_and_messages_match_llama_cpp() {
    let model = model_path(SMOLLM2);
    let model = model.to_str().unwrap();
    let r = reference();
    let g = &r["greedy"][0];
    let got = tabllm(&["generate", "--model", model, "--prompt", g["prompt"].as_str().unwrap(), "--max-tokens", "32", "--temperature", "0", "--json", "--top-logits", "20"]);
    assert_eq!(got["prompt_ids"], g["prompt_ids"]);
    assert_eq!(got["ids"], g["greedy_ids_f32_activations"], "greedy ids for {:?}", g["prompt"]);
    assert_eq!(got["text"], g["greedy_text_f32_activations"]);
    assert_eq!(got["top_logits"].as_array().unwrap().len(), 20);
    assert!(got["prefill_tok_s"].as_f64().unwrap() > 0.0 && got["decode_tok_s"].as_f64().unwrap() > 0.0);

    let c = &r["chat"][1];
    let file = std::env::temp_dir().join(format!("tabllm-messages-{}.json", std::process::id()));
    std::fs::write(&file, c["messages"].to_string()).unwrap();
    let got = tabllm(&["generate", "--model", model, "--messages", file.to_str().unwrap(), "--max-tokens", "32", "--temperature", "0", "--json"]);
    std::fs::remove_file(&file).ok();
    assert_eq!(got["prompt_ids"], c["prompt_ids"], "chat template + tokenizer");
    assert_eq!(got["ids"], c["greedy_ids_f32_activations"]);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("tabllm-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not-a-model.gguf");
    std::fs::write(&bad, b"this is not a gguf file at all").unwrap();
    let truncated = dir.join("truncated.gguf");
    let bytes = std::fs::read(shared("tiny/tiny-llama-q4_0.gguf")).unwrap();
    let half = bytes.len() / 2;
    std::fs::write(&truncated, &bytes[..half]).unwrap();
    // The tensor data runs to the end of the file, so the rest is missing.
    let ends_early = format!("file ends early: {} more bytes needed at offset {half}", bytes.len() - half);
    for (path, expect) in [(&bad, "magic"), (&truncated, ends_early.as_str())] {
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm"))
            .args(["generate", "--model", path.to_str().unwrap(), "--prompt", "hi", "--max-tokens", "1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", path.display());
        assert!(err.contains("error:") && !err.contains("panicked"), "{}: {err}", path.display());
        assert!(err.to_lowercase().contains(expect), "{}: {err}", path.display());
        eprintln!("{}: {}", path.display(), err.trim());
    }
    // A prompt longer than the context.
    let out = Command::new(env!("CARGO_BIN_EXE_tabllm"))
        .args(["generate", "--model", shared("tiny/tiny-llama-q4_0.gguf").to_str().unwrap(), "--ctx", "8", "--prompt", &"hello ".repeat(20), "--max-tokens", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("context") && !err.contains("panicked"), "{err}");
    // Sampling numbers out of range are refused by name before anything loads
    // (a repetition penalty of 0 used to divide logits by zero).
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    for (flag, value, range) in [
        ("--temperature", "-1", "from 0 to 100"),
        ("--temperature", "NaN", "from 0 to 100"),
        ("--top-p", "1.5", "from 0 to 1"),
        ("--repetition-penalty", "0", "from 0.01 to 100"),
        ("--presence-penalty", "3", "from -2 to 2"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm"))
            .args(["generate", "--model", tiny.to_str().unwrap(), "--prompt", "hi", "--max-tokens", "1", &format!("{flag}={value}")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag) && err.contains(range), "{flag} {value}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gemma3_tokenize_and_generate_match_llama_cpp() {
    let model = model_path("gemma-3-270m-q4_k_m.gguf");
    let model = model.to_str().unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared("gemma-3-270m-q4_k_m.json")).unwrap()).unwrap();
    for case in r["tokenize"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let got = tabllm(&["tokenize", "--model", model, "--json", text]);
        assert_eq!(got["ids"], case["ids_parse_special"], "gemma3 tokenize {text:?}");
    }
    let g = &r["greedy"][0];
    let got = tabllm(&["generate", "--model", model, "--prompt", g["prompt"].as_str().unwrap(), "--max-tokens", "32", "--temperature", "0", "--json"]);
    assert_eq!(got["prompt_ids"], g["prompt_ids"], "BOS from the file's add_bos_token");
    assert_eq!(got["ids"], g["greedy_ids_f32_activations"]);
    let c = &r["chat"][0];
    let file = std::env::temp_dir().join(format!("tabllm-gemma-messages-{}.json", std::process::id()));
    std::fs::write(&file, c["messages"].to_string()).unwrap();
    let got = tabllm(&["generate", "--model", model, "--messages", file.to_str().unwrap(), "--max-tokens", "32", "--temperature", "0", "--json"]);
    std::fs::remove_file(&file).ok();
    assert_eq!(got["prompt_ids"], c["prompt_ids"], "built-in Gemma turn template + tokenizer");
    assert_eq!(got["ids"], c["greedy_ids_f32_activations"]);
}

/// shared/cases/README.md: `capital.json`, `--stop 'Paris. Q:'`, greedy, 24
/// tokens. "Paris." is held back as a possible start of the stop string when
/// the end-of-generation token arrives; it must be in the output, in the JSON
/// `text` and in the streamed text.
#[test]
fn generate_flushes_text_held_back_for_a_stop_string() {
    let model = model_path(SMOLLM2);
    let messages = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/cases/messages/capital.json");
    let args = ["generate", "--model", model.to_str().unwrap(), "--messages", messages.to_str().unwrap(), "--stop", "Paris. Q:", "--temperature", "0", "--max-tokens", "24"];
    let got = tabllm(&[&args[..], &["--json"]].concat());
    assert_eq!(got["text"], "The capital of France is Paris.");
    assert_eq!(got["finish_reason"], "stop");
    let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(args).output().expect("run tabllm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "The capital of France is Paris.\n", "streamed text");
}

#[test]
fn generate_on_the_cpu_backend_matches_llama_cpp() {
    let model = model_path(SMOLLM2);
    let g = &reference()["greedy"][0];
    let got = tabllm(&["generate", "--backend", "cpu", "--model", model.to_str().unwrap(), "--prompt", g["prompt"].as_str().unwrap(), "--max-tokens", "32", "--temperature", "0", "--json"]);
    assert_eq!(got["prompt_ids"], g["prompt_ids"]);
    assert_eq!(got["ids"], g["greedy_ids_f32_activations"], "greedy ids for {:?} on the CPU backend", g["prompt"]);
    assert_eq!(got["text"], g["greedy_text_f32_activations"]);
}

/// The tiny random-weight Qwen2 model with Qwen2.5's chat template (which
/// takes tools) in its header, written by scripts/set_chat_template.py.
fn tiny_qwen2_with_template(dir: &std::path::Path, template: &str) -> std::path::PathBuf {
    let out = dir.join("tiny-qwen2-tools.gguf");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("python3")
        .arg(root.join("scripts/set_chat_template.py"))
        .arg(shared("tiny/tiny-qwen2-q4_k_m.gguf"))
        .arg(root.join("tests/templates").join(template))
        .arg(&out)
        .status()
        .expect("run python3 (with the gguf package)");
    assert!(status.success(), "scripts/set_chat_template.py failed");
    out
}

/// `--tools` reaches the chat template as Hugging Face passes `tools`: the
/// prompt ids are exactly those of the prompt Qwen2.5's template documents
/// for one tool (the text below, written by hand from its tool section), and
/// what tabllm cannot do with tools is refused by name.
#[test]
fn generate_with_tools_renders_them_into_the_template_forces_calls_and_refuses_by_name() {
    let dir = std::env::temp_dir().join(format!("tabllm-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = tiny_qwen2_with_template(&dir, "qwen2.5-instruct.jinja");
    let model = model.to_str().unwrap();
    let messages = dir.join("messages.json");
    std::fs::write(&messages, r#"[{"role": "user", "content": "Weather in Oslo?"}]"#).unwrap();
    let tools = dir.join("tools.json");
    std::fs::write(&tools, r#"[{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]"#).unwrap();
    let (messages, tools) = (messages.to_str().unwrap(), tools.to_str().unwrap());
    let expected_prompt = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n\
        You may call one or more functions to assist with the user query.\n\n\
        You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n\
        {\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather in a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n\
        </tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n\
        <tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n\
        <|im_start|>user\nWeather in Oslo?<|im_end|>\n<|im_start|>assistant\n";
    let want = tabllm(&["tokenize", "--model", model, "--json", expected_prompt]);
    let base = ["generate", "--model", model, "--messages", messages, "--max-tokens", "2", "--temperature", "0", "--json"];
    let got = tabllm(&[&base[..], &["--tools", tools]].concat());
    assert_eq!(got["prompt_ids"], want["ids"], "the prompt with tools");
    let none = tabllm(&[&base[..], &["--tools", tools, "--tool-choice", "none"]].concat());
    assert_eq!(none["prompt_ids"], want["ids"], "tool_choice none still renders the tools");
    let plain = tabllm(&base);
    assert!(plain["prompt_ids"].as_array().unwrap().len() < want["ids"].as_array().unwrap().len());
    // Random weights call nothing: the reply is plain content.
    assert!(matches!(got["finish_reason"].as_str(), Some("stop" | "length")) && got.get("tool_calls").is_none(), "{got}");

    let smol_template = shared("tiny/tiny-qwen2-q4_k_m.gguf");
    let bad_tools = dir.join("bad-tools.json");
    std::fs::write(&bad_tools, r#"[{"type": "function", "function": {"name": "get weather"}}]"#).unwrap();
    // tool_choice required / named: decoding is held to Qwen's call format, the
    // arguments to the tool's schema, so even random weights come back as a call.
    let bounded = dir.join("bounded-tools.json");
    std::fs::write(&bounded, r#"[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}}, "required": ["city"], "additionalProperties": false}}}]"#).unwrap();
    // The same tool as pydantic writes it: the argument's type behind `$defs` / `$ref`.
    let with_defs = dir.join("defs-tools.json");
    std::fs::write(&with_defs, r##"[{"type": "function", "function": {"name": "get_weather", "parameters": {"$defs": {"City": {"type": "string", "maxLength": 12}}, "type": "object", "properties": {"city": {"$ref": "#/$defs/City"}}, "required": ["city"], "additionalProperties": false}}}]"##).unwrap();
    for (choice, tools_file) in [("required", &bounded), (r#"{"type": "function", "function": {"name": "get_weather"}}"#, &bounded), ("required", &with_defs)] {
        for seed in ["0", "1", "2"] {
            let args = ["generate", "--model", model, "--messages", messages, "--max-tokens", "160", "--temperature", "0.8", "--seed", seed, "--json"];
            let forced = tabllm(&[&args[..], &["--tools", tools_file.to_str().unwrap(), "--tool-choice", choice]].concat());
            assert_eq!(forced["finish_reason"], "tool_calls", "{choice} seed {seed}: {forced}");
            let calls = forced["tool_calls"].as_array().unwrap();
            assert_eq!(calls.len(), 1, "{forced}");
            assert_eq!(calls[0]["type"], "function");
            assert_eq!(calls[0]["function"]["name"], "get_weather");
            let a: serde_json::Value = serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
            let city = a["city"].as_str().unwrap_or_else(|| panic!("arguments {a}"));
            assert!(a.as_object().unwrap().len() == 1 && city.chars().count() <= 12, "arguments {a}");
        }
    }

    // The same forced call cut off by --max-tokens (same seed, so the same
    // tokens as far as they go): OpenAI's answer, finish_reason `length` and
    // the call with its arguments as far as they got, a prefix of the whole
    // reply's arguments as written; before the name is whole, the raw text.
    let named = r#"{"type": "function", "function": {"name": "get_weather"}}"#;
    let whole_args = ["generate", "--model", model, "--messages", messages, "--max-tokens", "160", "--temperature", "0.8", "--seed", "0", "--json", "--tools", bounded.to_str().unwrap(), "--tool-choice", named];
    let whole = tabllm(&whole_args);
    let text = whole["text"].as_str().unwrap();
    let written = &text[text.find("\"arguments\":").unwrap_or_else(|| panic!("{whole}")) + 12..].trim_start();
    let mut partial = 0;
    // Every 4th length (each run loads the model): cuts before, in and after the name and the arguments.
    for n in (1..whole["ids"].as_array().unwrap().len()).step_by(4) {
        let limit = n.to_string();
        let mut args = whole_args;
        args[6] = &limit;
        let cut = tabllm(&args);
        match (cut["finish_reason"].as_str(), cut.get("tool_calls")) {
            (Some("length"), Some(calls)) => {
                let calls = calls.as_array().unwrap();
                assert_eq!((calls.len(), calls[0]["function"]["name"].as_str()), (1, Some("get_weather")), "max-tokens {n}: {cut}");
                // A cut inside a character's bytes decodes as U+FFFD, as a cut reply's text does.
                let got = calls[0]["function"]["arguments"].as_str().unwrap().trim_end_matches('\u{FFFD}');
                assert!(written.starts_with(got), "max-tokens {n}: arguments {got:?} are not a prefix of {written:?}");
                partial += !got.is_empty() as usize;
            }
            // The arguments whole, only the closing tag cut: the call as the whole reply's.
            (Some("tool_calls"), Some(calls)) => {
                assert_eq!((calls.as_array().unwrap().len(), &calls[0]["function"]), (1, &whole["tool_calls"][0]["function"]), "max-tokens {n}")
            }
            (Some("length"), None) => {
                assert!(cut["text"].as_str().unwrap().len() < text.find("\"arguments\"").unwrap() + 12, "max-tokens {n}: no call once the name is whole: {cut}")
            }
            _ => panic!("max-tokens {n}: {cut}"),
        }
    }
    assert!(partial > 0, "no cut fell inside the arguments: {whole}");

    let rf = r#"{"type":"json_object"}"#;
    let unenforceable = dir.join("unique-tools.json");
    std::fs::write(&unenforceable, r#"[{"type": "function", "function": {"name": "tag", "parameters": {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": true}}}}}]"#).unwrap();
    for (model, extra, expect) in [
        (model, vec!["--tools", unenforceable.to_str().unwrap(), "--tool-choice", "required"], "tools[0].function.parameters: the keyword \"uniqueItems\" at /properties/tags/uniqueItems cannot be enforced"),
        (model, vec!["--tools", tools, "--tool-choice", "required", "--response-format", rf], "`response_format` cannot be combined with `tool_choice` `required`"),
        (model, vec!["--tools", bad_tools.to_str().unwrap()], "`tools[0].function.name` must be"),
        (smol_template.to_str().unwrap(), vec!["--tools", tools], "`tools` cannot be used with this model: its chat template does not take tools"),
    ] {
        let args = ["generate", "--model", model, "--messages", messages, "--max-tokens", "1"];
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(args).args(&extra).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(expect) && !err.contains("panicked"), "{extra:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `--response-format`: the tiny model (SentencePiece with byte tokens) under
/// a schema gives JSON that parses with the fields the schema requires; a
/// keyword that cannot be enforced is refused by name before the model loads
/// (the model path does not even exist).
#[test]
fn generate_with_a_response_format() {
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    let rf = r#"{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"word":{"type":"string","maxLength":8},"n":{"enum":[1,2,3]}},"required":["word","n"],"additionalProperties":false}}}"#;
    for seed in ["0", "1", "2"] {
        let got = tabllm(&["generate", "--model", tiny.to_str().unwrap(), "--ctx", "128", "--prompt", "JSON:", "--max-tokens", "40", "--temperature", "1", "--seed", seed, "--json", "--response-format", rf]);
        assert_eq!(got["finish_reason"], "stop", "{got}");
        let v: serde_json::Value = serde_json::from_str(got["text"].as_str().unwrap()).unwrap_or_else(|e| panic!("{e}: {got}"));
        let o = v.as_object().unwrap();
        assert!(o.len() == 2 && o["word"].as_str().is_some_and(|w| w.chars().count() <= 8), "{v}");
        assert!([1, 2, 3].contains(&o["n"].as_i64().unwrap_or(0)), "{v}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tabllm"))
        .args(["generate", "--model", "/nonexistent.gguf", "--prompt", "hi", "--response-format", r#"{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"array","uniqueItems":true}}}"#])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("response_format.json_schema.schema") && err.contains("\"uniqueItems\""), "{err}");
}

/// A keyword value llguidance cannot enforce (a `format` it does not know,
/// a `oneOf` whose branches overlap, `minProperties` over optional
/// properties) is refused naming the keyword and its JSON pointer, before
/// the model loads.
#[test]
fn unenforceable_keyword_values_are_refused_with_their_place() {
    for (schema, keyword, pointer, reason) in [
        (r#"{"type":"object","properties":{"homepage":{"type":"string","format":"uri-reference"}}}"#, "format", "/properties/homepage/format", "uri-reference"),
        (r#"{"type":"object","properties":{"a":{"type":"array","items":{"oneOf":[{"type":"string"},{"type":"string","maxLength":3}]}}}}"#, "oneOf", "/properties/a/items/oneOf", "oneOf"),
        (r#"{"type":"object","properties":{"x":{"type":"integer"}},"minProperties":1}"#, "minProperties", "/minProperties", "minProperties"),
    ] {
        let rf = format!(r#"{{"type":"json_schema","json_schema":{{"name":"r","schema":{schema}}}}}"#);
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(["generate", "--model", "/nonexistent.gguf", "--prompt", "hi", "--response-format", &rf]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        let named = format!("response_format.json_schema.schema: the keyword \"{keyword}\" at {pointer} cannot be enforced");
        assert!(err.contains(&named) && err.contains(reason), "{schema}: {err}");
    }
}

/// A conversation as the OpenAI SDK sends it back (field3): the call's
/// `arguments` is a JSON string, and reaches Qwen2.5's template as an
/// object: the prompt is the one the template writes for parsed arguments
/// (the text below, as jinja2 renders it then), not double-encoded.
#[test]
fn generate_renders_string_tool_arguments_as_objects() {
    let dir = std::env::temp_dir().join(format!("tabllm-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = tiny_qwen2_with_template(&dir, "qwen2.5-instruct.jinja");
    let model = model.to_str().unwrap();
    let (messages, tools) = (shared("../cases/field3/messages/tool_args_as_string.json"), shared("../cases/field3/messages/tools_weather.json"));
    let expected_prompt = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n\
        You may call one or more functions to assist with the user query.\n\n\
        You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n\
        {\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather for a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n\
        </tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n\
        <tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n\
        <|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n\
        <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n\
        <|im_start|>user\n<tool_response>\n{\"temp\": 20}\n</tool_response><|im_end|>\n<|im_start|>assistant\n";
    let want = tabllm(&["tokenize", "--model", model, "--json", expected_prompt]);
    let got = tabllm(&["generate", "--model", model, "--messages", messages.to_str().unwrap(), "--tools", tools.to_str().unwrap(), "--max-tokens", "1", "--temperature", "0", "--json"]);
    assert_eq!(got["prompt_ids"], want["ids"], "the prompt with the arguments as an object");
    std::fs::remove_dir_all(&dir).ok();
}

/// Mistral Nemo's template (field3) with a conversation whose call ids are
/// OpenAI's 24 characters: the ids are mapped to 9 alphanumerics and the
/// conversation renders (it failed with "Tool call IDs should be
/// alphanumeric strings with length 9!"); the prompt is the library's
/// rendering, one BOS.
#[test]
fn generate_maps_foreign_tool_call_ids_for_mistral_templates() {
    use tabllm::chat::{chat_prompt_ids, ChatMessage, ChatTemplate, FinalAssistant, RenderArgs};
    use tabllm::tokenizer::Tokenizer;
    let model = shared("../cases/field3/templates/mistral_nemo.gguf");
    let (messages, tools) = (shared("../cases/field3/messages/tool_ids_24_chars.json"), shared("../cases/field3/messages/tools_weather.json"));
    let got = tabllm(&["generate", "--model", model.to_str().unwrap(), "--messages", messages.to_str().unwrap(), "--tools", tools.to_str().unwrap(), "--max-tokens", "1", "--temperature", "0", "--json"]);

    let md = tabllm::gguf::read_header_from_path(&model).unwrap().metadata;
    let tok = Tokenizer::from_metadata(&md).unwrap();
    let template = ChatTemplate::for_model(&md).unwrap().unwrap();
    let m = ChatMessage::parse_list(&std::fs::read_to_string(&messages).unwrap()).unwrap();
    let t: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&tools).unwrap()).unwrap();
    let (bos, eos) = (tok.token_text(tok.bos_id().unwrap()).unwrap(), tok.token_text(tok.eos_id().unwrap()).unwrap());
    let text = template.render_prompt(&m, FinalAssistant::Continue, &RenderArgs { bos_token: bos, eos_token: eos, tools: Some(&t), ..Default::default() }).unwrap();
    assert!(text.contains("[TOOL_RESULTS]") && !text.contains("call_PTLP8xhu3uwZk4l3nlnrrJha"), "{text}");
    let want: Vec<u32> = chat_prompt_ids(&tok, &text);
    assert_eq!(got["prompt_ids"], serde_json::json!(want));
}

/// A template printing a list (`{{ "a,b".split(",") }}`, as templates print
/// tools with `{{ tool|string }}`) writes Python's repr, `['a', 'b']`, as
/// jinja2 does, not JSON.
#[test]
fn generate_prints_template_lists_as_python() {
    let dir = std::env::temp_dir().join(format!("tabllm-repr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("lists.jinja");
    std::fs::write(&template, "{{ \"a,b\".split(\",\") }}{% for m in messages %}{{ {'role': m.role} }}{{ m.content }}{% endfor %}").unwrap();
    let model = tiny_qwen2_with_template(&dir, template.to_str().unwrap());
    let model = model.to_str().unwrap();
    let want = tabllm(&["tokenize", "--model", model, "--json", "['a', 'b']{'role': 'user'}Hi"]);
    let hi = shared("../cases/messages/hi.json");
    let got = tabllm(&["generate", "--model", model, "--messages", hi.to_str().unwrap(), "--max-tokens", "1", "--temperature", "0", "--json"]);
    assert_eq!(got["prompt_ids"], want["ids"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// `tabllm info`'s numbers are refused by name when out of range (a context
/// of 0 was taken as 1, one of 2^32 sized a petabyte cache, NaN bandwidth
/// was ignored), and printing into a closed pipe ends quietly, not in a panic.
#[test]
fn info_refuses_numbers_out_of_range_and_survives_a_closed_pipe() {
    use std::os::fd::{AsRawFd, FromRawFd};
    for (flag, value) in [("--context", "0"), ("--context", "4294967295"), ("--bandwidth-gbps", "NaN"), ("--bandwidth-gbps", "0"), ("--available-bytes", "0"), ("--max-binding-size", "0")] {
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(["info", "--shape", "llama-3.1-8b", flag, value]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag) && err.contains(value), "{flag} {value}: {err}");
    }
    // A reader that stops after 100 bytes, long before the table's 20 KB,
    // on a pipe of one page, so tabllm is still writing when it closes.
    let (read_end, write_end) = {
        let mut fds = [0; 2];
        // SAFETY: pipe2(2) fills both descriptors, each then owned once;
        // close-on-exec, so the child holds only the write end it is given.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        unsafe { (std::fs::File::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) }
    };
    // SAFETY: F_SETPIPE_SZ on a descriptor we own.
    assert!(unsafe { libc::fcntl(read_end.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) } >= 4096);
    let child = Command::new(env!("CARGO_BIN_EXE_tabllm"))
        .args(["info", "--json"])
        .stdout(std::process::Stdio::from(write_end))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    let mut read_end = read_end;
    std::io::Read::read_exact(&mut read_end, &mut first).unwrap();
    drop(read_end);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && err.is_empty(), "{err}");
}

#[test]
fn a_context_beyond_training_loads_with_a_warning() {
    // tiny-llama's llama.context_length is 512: 600 is allowed, and said.
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    for (ctx, warned) in [("600", true), ("512", false)] {
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm"))
            .args(["generate", "--model", tiny.to_str().unwrap(), "--ctx", ctx, "--prompt", "hi", "--max-tokens", "1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "--ctx {ctx}: {err}");
        let warning = "warning: context 600 is beyond the 512 positions this model was trained on; text past position 512 may degrade";
        assert_eq!(err.contains(warning), warned, "--ctx {ctx}: {err}");
        assert_eq!(err.contains("warning:"), warned, "--ctx {ctx}: {err}");
    }
}

// ---------------------------------------------------------------- field cases of issue 27

/// A file of `../shared/cases/`.
fn case(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/cases").join(path)
}

/// Runs the binary: (exit code, stdout, stderr).
fn run_tabllm(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(args).output().expect("run tabllm");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tabllm-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// shared/cases/README.md, `field3/eog/`: the tiny model's first greedy token
/// is `</s>` / `<turn|>`, which llama.cpp's end-of-generation set holds
/// (src/llama-vocab.cpp; tokenizer/eog.rs): the reply ends there, on both
/// backends, instead of printing `</s>o</s>o`.
#[test]
fn end_of_generation_texts_llama_cpp_knows_end_the_reply() {
    for file in ["end_token_s_close.gguf", "end_token_turn_close.gguf"] {
        let model = case(&format!("field3/eog/{file}"));
        for backend in ["webgpu", "cpu"] {
            let got = tabllm(&["generate", "--model", model.to_str().unwrap(), "--backend", backend, "--prompt", "hello", "--max-tokens", "4", "--temperature", "0", "--json"]);
            assert_eq!((got["text"].as_str(), got["finish_reason"].as_str()), (Some(""), Some("stop")), "{file} on {backend}: {got}");
            assert!(got["ids"].as_array().unwrap().len() <= 1, "{file} on {backend}: {got}");
        }
    }
}

/// shared/cases/README.md, `field3/split/`: which file is which part is read
/// from `split.no` / `split.count`, never from the name, and every command
/// loads a split model from its first part (the split files are the tiny
/// llama model, so they answer as it does).
#[test]
fn split_models_load_in_every_command_by_their_split_keys() {
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    let tiny = tiny.to_str().unwrap();
    let gen = |model: &str, backend: &str| tabllm(&["generate", "--model", model, "--backend", backend, "--prompt", "hello", "--max-tokens", "6", "--temperature", "0", "--json"])["ids"].clone();
    let want = gen(tiny, "webgpu");
    assert_eq!(want.as_array().unwrap().len(), 6);
    let standard = case("field3/split/t-00001-of-00003.gguf");
    let suffixed = case("field3/split/suffix/t-00001-of-00003-e3b5.gguf");
    for part1 in [&standard, &suffixed] {
        let part1 = part1.to_str().unwrap();
        for backend in ["webgpu", "cpu"] {
            assert_eq!(gen(part1, backend), want, "{part1} on {backend}");
        }
        let info = tabllm(&["info", "--model", part1, "--json"]);
        assert_eq!((info["split_count"].as_u64(), info["fits"].as_str()), (Some(3), Some("fits")), "{info}");
        let bench = tabllm(&["bench", "--model", part1, "--pp", "8", "--tg", "2", "--no-bandwidth", "--json"]);
        assert!(bench["decode_tok_s"].as_f64().unwrap() > 0.0, "{bench}");
        let (code, _, err) = run_tabllm(&["chat", "--model", part1]); // stdin is empty: load, then quit
        assert_eq!(code, Some(0), "chat: {err}");
    }

    // Progress counts every part from the start: after part 1 of 3 it is at
    // part 1's share of the bytes on disk (355808 of 1134048), never at 100 %.
    let (code, _, err) = run_tabllm(&["generate", "--model", standard.to_str().unwrap(), "--prompt", "hello", "--max-tokens", "1"]);
    assert_eq!(code, Some(0), "{err}");
    let shown: Vec<&str> = err.split('\r').filter(|l| l.starts_with("loading")).collect();
    assert_eq!(shown.first().map(|l| l.split('%').next().unwrap()), Some("loading  31"), "{shown:?}");

    // A later part alone: llama.cpp's "model must be loaded with the first split", named.
    let part2 = case("field3/split/t-00002-of-00003.gguf");
    let part2 = part2.to_str().unwrap();
    for args in [&["generate", "--model", part2, "--prompt", "hello", "--max-tokens", "1"][..], &["tokenize", "--model", part2, "hello"], &["bench", "--model", part2, "--no-bandwidth"]] {
        let (code, _, err) = run_tabllm(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        let first = case("field3/split/t-00001-of-00003.gguf");
        assert!(err.contains(&format!("{part2} is part 2 of 3 of a split model: load its first part ({}), which holds the model's metadata", first.display())), "{args:?}: {err}");
        assert!(!err.contains("device:"), "refused before a GPU is set up: {err}");
    }

    // A whole model whose name looks like a part is a whole model.
    let dir = scratch("split");
    let whole = dir.join("whole-00001-of-00003.gguf");
    std::fs::copy(tiny, &whole).unwrap();
    assert_eq!(gen(whole.to_str().unwrap(), "webgpu"), want);
    assert_eq!(tabllm(&["info", "--model", whole.to_str().unwrap(), "--json"])["split_count"], 1);

    // A part that is not there: every path looked for, named.
    let lone = dir.join("lone");
    std::fs::create_dir_all(&lone).unwrap();
    for (from, to) in [(&standard, "t-00001-of-00003.gguf"), (&case("field3/split/t-00002-of-00003.gguf"), "t-00002-of-00003.gguf"), (&suffixed, "t-00001-of-00003-e3b5.gguf")] {
        std::fs::copy(from, lone.join(to)).unwrap();
    }
    // (The suffixed first part finds part 2 under the standard name.)
    for (first, looked) in [("t-00001-of-00003.gguf", vec!["t-00003-of-00003.gguf"]), ("t-00001-of-00003-e3b5.gguf", vec!["t-00003-of-00003-e3b5.gguf", "t-00003-of-00003.gguf"])] {
        let model = lone.join(first);
        let (code, _, err) = run_tabllm(&["generate", "--model", model.to_str().unwrap(), "--prompt", "hello", "--max-tokens", "1"]);
        assert_eq!(code, Some(1), "{err}");
        let paths: Vec<String> = looked.iter().map(|n| lone.join(n).display().to_string()).collect();
        assert!(err.contains(&format!("part 3 of 3 of the split model was not found; looked for {}", paths.join(", "))), "{err}");
    }
    // A first part whose name gives no way to the others.
    let renamed = dir.join("renamed.gguf");
    std::fs::copy(&standard, &renamed).unwrap();
    let (code, _, err) = run_tabllm(&["generate", "--model", renamed.to_str().unwrap(), "--prompt", "hello", "--max-tokens", "1"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is the first of 3 parts of a split model, but its name does not follow gguf-split's `NAME-00001-of-00003.gguf`"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A tensor with a dimension of 0 (llama.cpp loads such files, PR #25596):
/// one the model does not read is ignored, and the model answers as without
/// it; one the forward pass needs is refused by name, on both backends.
/// The files come from scripts/zero_sized_tensor.py (the gguf package's writer).
#[test]
fn zero_sized_tensors_load_unless_the_model_needs_them() {
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    let dir = scratch("zero");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/zero_sized_tensor.py");
    let make = |out: &str, mode: &str, name: &str| {
        let path = dir.join(out);
        let st = Command::new("python3").args([script, tiny.to_str().unwrap(), path.to_str().unwrap(), mode, name]).status().expect("python3 with the gguf package");
        assert!(st.success(), "zero_sized_tensor.py {mode} {name}");
        path
    };
    let extra = make("extra.gguf", "add", "blk.0.unused_empty.weight");
    let needed = make("needed.gguf", "empty", "blk.0.ffn_norm.weight");
    let args = |model: &std::path::Path, backend: &'static str| -> Vec<String> {
        ["generate", "--model", model.to_str().unwrap(), "--backend", backend, "--prompt", "hello", "--max-tokens", "4", "--temperature", "0", "--json"].map(String::from).to_vec()
    };
    for backend in ["webgpu", "cpu"] {
        let run = |m: &std::path::Path| tabllm(&args(m, backend).iter().map(String::as_str).collect::<Vec<_>>())["ids"].clone();
        assert_eq!(run(&extra), run(&tiny), "{backend}");
        let a = args(&needed, backend);
        let (code, _, err) = run_tabllm(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, Some(1), "{backend}: {err}");
        assert!(err.contains("tensor `blk.0.ffn_norm.weight` has shape [0], with no elements, and the model needs it") && !err.contains("panicked"), "{backend}: {err}");
    }
    let info = tabllm(&["info", "--model", needed.to_str().unwrap(), "--json"]);
    assert!(info["unsupported_reason"].as_str().unwrap().contains("blk.0.ffn_norm.weight"), "{info}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `--logit-bias` (OpenAI's `logit_bias`) on the tiny model, on both
/// backends: −100 on the greedy first token makes the first token the next
/// best of that step's logits, and the banned token never comes (the bias
/// holds on every decode step, on the GPU sampler as well as the CPU's); +100
/// on the least likely token makes every token that one, greedy and sampled.
/// With a grammar (`--response-format`) the grammar's mask comes first: no
/// bias brings a forbidden token in or bans the only allowed one. A malformed bias
/// is refused by name before anything loads (clap: exit 2); an id outside
/// the vocabulary once the model is known (exit 1).
#[test]
fn generate_with_a_logit_bias_bans_and_forces_tokens() {
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    let tiny = tiny.to_str().unwrap();
    for backend in ["webgpu", "cpu"] {
        let base = ["generate", "--backend", backend, "--model", tiny, "--ctx", "64", "--prompt", "The capital of France is", "--json"];
        let run = |extra: &[&str]| tabllm(&[&base[..], extra].concat());
        // Six tokens unless `extra` says otherwise.
        let run6 = |extra: &[&str]| run(&[&["--max-tokens", "6"][..], extra].concat());
        let ids = |v: &serde_json::Value| -> Vec<u64> { v["ids"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap()).collect() };
        let plain = run6(&["--temperature", "0", "--top-logits", "1024"]);
        let top = plain["top_logits"].as_array().unwrap();
        let (first, second, low) = (top[0][0].as_u64().unwrap(), top[1][0].as_u64().unwrap(), top[1023][0].as_u64().unwrap());
        assert_eq!(ids(&plain)[0], first);

        let banned = run6(&["--temperature", "0", "--logit-bias", &format!(r#"{{"{first}": -100}}"#)]);
        let banned = ids(&banned);
        assert_eq!(banned[0], second, "{backend}: banned {first}: {banned:?}");
        assert!(!banned.contains(&first), "{backend}: banned {first}: {banned:?}");

        let force = format!(r#"{{"{low}": 100}}"#);
        assert_eq!(ids(&run6(&["--temperature", "0", "--logit-bias", &force])), [low; 6], "{backend}: forced, greedy");
        assert_eq!(ids(&run6(&["--temperature", "1", "--seed", "3", "--logit-bias", &force])), [low; 6], "{backend}: forced, sampled");

        // Under a grammar: the tiny model's constrained greedy reply is `{}`.
        // +100 on a token the grammar forbids does not bring it in; −100 on
        // `{`, the only token that may open the object, leaves it there (a
        // bias adds to a logit, the mask makes it −∞); −100 on `}` makes the
        // model write on, and `}` never comes.
        let rf = ["--temperature", "0", "--max-tokens", "12", "--response-format", r#"{"type":"json_object"}"#];
        let constrained = run(&rf);
        let (open, close) = (ids(&constrained)[0], ids(&constrained)[1]);
        assert_eq!((constrained["text"].as_str(), ids(&constrained).len()), (Some("{}"), 2), "{backend}: {constrained}");
        let biased = |bias: String| run(&[&rf[..], &["--logit-bias", &bias]].concat());
        assert_eq!(biased(force.clone())["ids"], constrained["ids"], "{backend}: the grammar comes before +100");
        assert_eq!(biased(format!(r#"{{"{open}": -100}}"#))["ids"], constrained["ids"], "{backend}: −100 on the only allowed token");
        let no_close = biased(format!(r#"{{"{close}": -100}}"#));
        assert!(no_close["text"].as_str().unwrap().starts_with('{') && !ids(&no_close).contains(&close), "{backend}: {no_close}");
        assert_eq!(ids(&no_close).len(), 12, "{backend}: {no_close}");
    }

    let refused = |bias: &str, model: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm"))
            .args(["generate", "--model", model, "--prompt", "hi", "--max-tokens", "1", "--logit-bias", bias])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{bias}: {err}");
        (out.status.code(), err)
    };
    for (bias, expect) in [
        (r#"{"5": 150}"#, r#"logit_bias["5"] must be a number from -100 to 100, got 150"#),
        (r#"{"5": -100.5}"#, r#"logit_bias["5"] must be a number from -100 to 100, got -100.5"#),
        (r#"{"abc": 1}"#, r#"logit_bias key "abc" is not a token id"#),
        (r#"{"1.5": 1}"#, r#"logit_bias key "1.5" is not a token id"#),
        (r#"{"-3": 1}"#, r#"logit_bias key "-3" is not a token id"#),
        (r#"[1, 2]"#, "logit_bias must be an object"),
        (r#"{"5": "#, "logit_bias is not JSON"),
    ] {
        let (status, err) = refused(bias, "/nonexistent.gguf");
        assert_eq!(status, Some(2), "{bias}: {err}");
        assert!(err.contains("--logit-bias") && err.contains(expect), "{bias}: {err}");
    }
    // Too many entries: refused by count, without echoing the 4,097 entries back.
    let many = serde_json::to_string(&(0..4097).map(|i| (i.to_string(), serde_json::json!(1))).collect::<serde_json::Map<_, _>>()).unwrap();
    let (status, err) = refused(&many, "/nonexistent.gguf");
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("logit_bias has 4097 entries: at most 4096") && err.len() < 300, "{}", &err[..err.len().min(400)]);
    let (status, err) = refused(r#"{"3": 1, "1024": -100}"#, tiny);
    assert_eq!(status, Some(1), "{err}");
    assert!(err.contains(r#"logit_bias key "1024" is outside the vocabulary (ids 0 to 1023)"#), "{err}");
}

/// Options that mean something only with another are refused by name
/// without it, never ignored (a newcomer found `--tools` with `--prompt`
/// running as if it were not there).
#[test]
fn options_without_what_they_need_are_refused() {
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    let tools = std::env::temp_dir().join(format!("tabllm-cli-tools-{}.json", std::process::id()));
    std::fs::write(&tools, r#"[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#).unwrap();
    let base = ["generate", "--model", tiny.to_str().unwrap(), "--prompt", "hi", "--max-tokens", "1"];
    for (extra, want) in [
        (vec!["--tools", tools.to_str().unwrap()], "--tools needs --messages"),
        (vec!["--close-assistant"], "--close-assistant needs --messages"),
        (vec!["--top-logits", "3"], "--top-logits needs --json"),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    // chat refuses an id past the vocabulary once, before the first turn.
    let out = Command::new(env!("CARGO_BIN_EXE_tabllm"))
        .args(["chat", "--model", tiny.to_str().unwrap(), "--logit-bias", r#"{"5000": 1}"#])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(r#"logit_bias key "5000" is outside the vocabulary"#), "{err}");
    std::fs::remove_file(&tools).ok();
}

/// `info` on a later part of a split model alone says which part to give
/// (generate, chat and tokenize refuse it the same way), in text and JSON.
#[test]
fn info_on_a_later_split_part_names_the_first_part() {
    let part2 = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/cases/field3/split/t-00002-of-00003.gguf");
    let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(["info", "--model", part2.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("runs in tabllm: no (this file is part 2 of 3 of a split model: load its first part"), "{text}");
    let info = tabllm(&["info", "--model", part2.to_str().unwrap(), "--json"]);
    assert!(info["unsupported_reason"].as_str().unwrap().starts_with("this file is part 2 of 3 of a split model"), "{info}");
}

/// The tiny random-weight Qwen3 with Qwen3.5's chat template (which opens
/// `<think>` in the generation prompt, or writes an empty reasoning when
/// `enable_thinking` is false) and the think tags in its vocabulary (its
/// tokens 3 and 4 renamed `<think>` and `</think>`), written by
/// scripts/set_chat_template.py.
fn tiny_thinking_model(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("tiny-qwen3-thinking.gguf");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("python3")
        .arg(root.join("scripts/set_chat_template.py"))
        .arg(shared("tiny/tiny-qwen3-q4_k_m.gguf"))
        .arg(root.join("tests/templates/qwen3.5.jinja"))
        .arg(&out)
        .args(["3=<think>", "4=</think>"])
        .status()
        .expect("run python3 (with the gguf package)");
    assert!(status.success(), "scripts/set_chat_template.py failed");
    out
}

/// Thinking through the CLI: `--no-think` renders the template with
/// `enable_thinking` false (`--print-prompt` shows the prompt); a reply to a
/// prompt that opened `<think>` comes back with its reasoning apart, in
/// `--json`'s `reasoning_content`, and printed to stderr, not stdout.
#[test]
fn no_think_and_reasoning_content() {
    let dir = std::env::temp_dir().join(format!("tabllm-think-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = tiny_thinking_model(&dir);
    let model = model.to_str().unwrap();
    let messages = dir.join("messages.json");
    std::fs::write(&messages, r#"[{"role": "user", "content": "What is 2+2?"}]"#).unwrap();
    let messages = messages.to_str().unwrap();
    let base = ["generate", "--backend", "cpu", "--model", model, "--messages", messages];
    let head = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
    let on = tabllm(&[&base[..], &["--print-prompt", "--json"]].concat());
    assert_eq!(on["prompt"], format!("{head}<think>\n"));
    let off = tabllm(&[&base[..], &["--print-prompt", "--json", "--no-think"]].concat());
    assert_eq!(off["prompt"], format!("{head}<think>\n\n</think>\n\n"));
    let want = tabllm(&["tokenize", "--model", model, "--json", off["prompt"].as_str().unwrap()]);
    assert_eq!(off["prompt_ids"], want["ids"], "the think tags are single tokens");
    let plain = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(base).args(["--print-prompt", "--no-think"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stdout), format!("{head}<think>\n\n</think>\n\n\n"));
    // Both mean something only with --messages: refused without, never ignored.
    for flag in ["--no-think", "--print-prompt"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(["generate", "--backend", "cpu", "--model", model, "--prompt", "hi", "--max-tokens", "1", flag]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(1) && err.contains(&format!("{flag} needs --messages")), "{flag}: {err}");
    }

    // The prompt opened the reasoning: the reply (random weights, cut by
    // --max-tokens) is reasoning up to a `</think>` it may write.
    let mut seen_reasoning = 0;
    for seed in ["0", "1", "2", "3"] {
        let args = [&base[..], &["--max-tokens", "12", "--temperature", "1", "--seed", seed]].concat();
        let g = tabllm(&[&args[..], &["--json"]].concat());
        assert_eq!(g["prompt_ids"], tabllm(&[&base[..], &["--print-prompt", "--json"]].concat())["prompt_ids"]);
        let text = g["text"].as_str().unwrap();
        let (reasoning, content) = match text.split_once("</think>") {
            Some((r, c)) => (r.trim(), c.trim_start()),
            None => (text.trim(), ""),
        };
        assert_eq!(g["content"], content, "seed {seed}: {g}");
        match g.get("reasoning_content") {
            Some(r) => {
                assert_eq!(r, reasoning, "seed {seed}: {g}");
                seen_reasoning += 1;
            }
            None => assert_eq!(reasoning, "", "seed {seed}: {g}"),
        }
        // Printed: the answer on stdout, the reasoning on stderr.
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(&args).output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{content}\n"), "seed {seed}");
        let err = String::from_utf8_lossy(&out.stderr);
        if !reasoning.is_empty() {
            assert!(err.contains(&format!("[thinking]\n{reasoning}\n[/thinking]\n")), "seed {seed}: {err}");
        }
    }
    assert!(seen_reasoning > 0, "no seed gave a reply with reasoning");
    // Thinking off: the prompt closed the reasoning, the reply is all content.
    let g = tabllm(&[&base[..], &["--no-think", "--max-tokens", "12", "--temperature", "1", "--json"]].concat());
    assert!(g.get("reasoning_content").is_none() && g["content"] == g["text"] && !g["text"].as_str().unwrap().is_empty(), "{g}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Qwen3.5 writes tool calls in Qwen3-Coder's XML (`<function=…>`,
/// `<parameter=…>`), LFM2.5 as Python calls between its tool-call tokens and
/// Gemma 4 as `call:name{key:value}`, not as Hermes JSON: a forced call with
/// each template follows its format (an integer parameter, a
/// string enum) and comes back in OpenAI's shape with typed arguments, on
/// both backends.
#[test]
fn qwen35_lfm2_and_gemma4_tool_calls_are_read_from_their_formats() {
    let dir = scratch("2026-tools");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let messages = dir.join("messages.json");
    std::fs::write(&messages, r#"[{"role": "user", "content": "Weather in Oslo?"}]"#).unwrap();
    let tools = dir.join("tools.json");
    std::fs::write(&tools, r#"[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"days": {"type": "integer", "minimum": 0, "maximum": 9}, "units": {"enum": ["c", "f"]}}, "required": ["days", "units"]}}}]"#).unwrap();
    let tiny_2026 = |arch: &str| root.join(format!("tests/reference/tiny/tiny-{arch}-q4_k_m.gguf"));
    for (arch, weights, template, head, tail) in [
        ("qwen35", tiny_2026("qwen35"), "qwen3.5.jinja", "<tool_call>\n<function=get_weather>\n<parameter=days>\n", "</function>\n</tool_call>"),
        ("lfm2", tiny_2026("lfm2"), "lfm2.5-instruct.jinja", "<|tool_call_start|>[get_weather(days=", ")]<|tool_call_end|>"),
        // Gemma 4's format on the tiny Qwen2's weights (the format is the template's).
        ("gemma4", shared("tiny/tiny-qwen2-q4_k_m.gguf"), "gemma-4-it.jinja", "<|tool_call>call:get_weather{days:", "<|\"|>}<tool_call|>"),
    ] {
        let model = dir.join(format!("tiny-{arch}-tools.gguf"));
        let status = Command::new("python3")
            .arg(root.join("scripts/set_chat_template.py"))
            .arg(weights)
            .arg(root.join("tests/templates").join(template))
            .arg(&model)
            .status()
            .expect("run python3 (with the gguf package)");
        assert!(status.success(), "scripts/set_chat_template.py failed");
        for backend in ["webgpu", "cpu"] {
            let got = tabllm(&[
                "generate", "--backend", backend, "--model", model.to_str().unwrap(), "--ctx", "2048", "--messages", messages.to_str().unwrap(),
                "--tools", tools.to_str().unwrap(), "--tool-choice", "required", "--max-tokens", "200", "--temperature", "0", "--json",
            ]);
            let text = got["text"].as_str().unwrap();
            assert!(text.starts_with(head) && text.ends_with(tail), "{arch} {backend}: {got}");
            assert_eq!(got["finish_reason"], "tool_calls", "{arch} {backend}: {got}");
            let call = &got["tool_calls"][0]["function"];
            assert_eq!(call["name"], "get_weather", "{arch} {backend}: {got}");
            let args: serde_json::Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
            assert!(args["days"].as_u64().is_some_and(|d| d <= 9) && matches!(args["units"].as_str(), Some("c" | "f")), "{arch} {backend}: {args}");
        }
    }
}

/// `--chat-template-kwargs JSON` (llama-server's flag) on `generate` and
/// `chat`: the variables reach the template as a request's
/// `chat_template_kwargs` do, with the same checks by name (a non-boolean
/// `enable_thinking`, a name no template can read); `--no-think` with an
/// `enable_thinking` of its own is refused. A message field tabllm does not
/// know is named by its path in the list, without a JSON column.
#[test]
fn chat_template_kwargs_flag_and_message_fields_by_name() {
    let dir = scratch("kwargs");
    let model = tiny_thinking_model(&dir);
    let model = model.to_str().unwrap();
    let messages = dir.join("messages.json");
    std::fs::write(&messages, r#"[{"role": "user", "content": "What is 2+2?"}]"#).unwrap();
    let base = ["generate", "--backend", "cpu", "--model", model, "--messages", messages.to_str().unwrap(), "--print-prompt", "--json"];
    let off = tabllm(&[&base[..], &["--no-think"]].concat());
    let kw = tabllm(&[&base[..], &["--chat-template-kwargs", r#"{"enable_thinking": false, "extra": [1]}"#]].concat());
    assert_eq!(kw["prompt"], off["prompt"]);
    // --no-think adds to other variables.
    assert_eq!(tabllm(&[&base[..], &["--no-think", "--chat-template-kwargs", r#"{"extra": 1}"#]].concat())["prompt"], off["prompt"]);
    for (json, code, text) in [
        (r#"{"enable_thinking": "false"}"#, 2, "chat_template_kwargs.enable_thinking must be true or false, got the string \"false\""),
        (r#"{"foo-bar": 1}"#, 2, "chat_template_kwargs key \"foo-bar\" is not a name a chat template can read"),
        (r#"{"bos_token": "x"}"#, 2, "chat_template_kwargs.bos_token cannot be set"),
        ("[1]", 2, "must be a JSON object"),
    ] {
        let (got, _, err) = run_tabllm(&[&base[..], &["--chat-template-kwargs", json]].concat());
        assert_eq!(got, Some(code), "{json}: {err}");
        assert!(err.contains(text), "{json}: {err}");
    }
    let (got, _, err) = run_tabllm(&[&base[..], &["--no-think", "--chat-template-kwargs", r#"{"enable_thinking": true}"#]].concat());
    assert!(got == Some(1) && err.contains("--no-think sets enable_thinking, which --chat-template-kwargs sets too"), "{err}");
    let (got, _, err) = run_tabllm(&["generate", "--backend", "cpu", "--model", model, "--prompt", "hi", "--chat-template-kwargs", "{}"]);
    assert!(got == Some(1) && err.contains("--chat-template-kwargs needs --messages"), "{err}");
    let (got, _, err) = run_tabllm(&["chat", "--backend", "cpu", "--model", model, "--chat-template-kwargs", r#"{"enable_thinking": 0}"#]);
    assert!(got == Some(2) && err.contains("chat_template_kwargs.enable_thinking must be true or false"), "{err}");

    std::fs::write(&messages, r#"[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", "refusal": null, "annotations": []}, {"role": "user", "content": "x", "foo": 1}]"#).unwrap();
    let (got, _, err) = run_tabllm(&base);
    assert!(got == Some(1) && err.contains("messages[2].foo is not a message field tabllm knows") && !err.contains("column"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// An error in one part of a split model names that part's file: a part cut
/// short, and a part given twice (here part 1 copied under part 2's name).
#[test]
fn errors_in_a_split_part_name_its_file() {
    let dir = scratch("split-names");
    let parts: Vec<std::path::PathBuf> = (1..=3).map(|k| dir.join(format!("t-0000{k}-of-00003.gguf"))).collect();
    for (k, p) in parts.iter().enumerate() {
        std::fs::copy(case(&format!("field3/split/t-0000{}-of-00003.gguf", k + 1)), p).unwrap();
    }
    let generate = || run_tabllm(&["generate", "--backend", "cpu", "--model", parts[0].to_str().unwrap(), "--prompt", "hello", "--max-tokens", "1"]);
    let f = std::fs::OpenOptions::new().write(true).open(&parts[1]).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 1000).unwrap();
    drop(f);
    let (code, _, err) = generate();
    assert!(code == Some(1) && err.contains(&format!("{}: file ends early: 1000 more bytes needed", parts[1].display())), "{err}");
    std::fs::copy(&parts[0], &parts[1]).unwrap();
    let (code, _, err) = generate();
    assert!(code == Some(1) && err.contains(&format!("part 1 of 3 arrived twice: {} and {} both say they are it", parts[0].display(), parts[1].display())), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// An optional tensor llama.cpp knows (a layer's attention or FFN bias) of
/// the wrong shape is refused by name with both shapes, as llama.cpp's
/// `check_tensor_dims` refuses it, instead of being ignored.
#[test]
fn a_wrong_shaped_optional_tensor_is_refused() {
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    let dir = scratch("optional");
    let out = dir.join("bias.gguf");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/zero_sized_tensor.py");
    // A q bias makes the llama walk apply q/k/v biases, so an empty one is a needed tensor with no elements.
    for (name, want) in [
        ("blk.0.attn_q.bias", "tensor `blk.0.attn_q.bias` has shape [0, 4], with no elements, and the model needs it"),
        ("blk.0.ffn_down.bias", "tensor `blk.0.ffn_down.bias` has shape [0, 4], expected [256]"),
    ] {
        let st = Command::new("python3").args([script, tiny.to_str().unwrap(), out.to_str().unwrap(), "add", name]).status().expect("python3 with the gguf package");
        assert!(st.success());
        let (code, _, err) = run_tabllm(&["generate", "--backend", "cpu", "--model", out.to_str().unwrap(), "--prompt", "hello", "--max-tokens", "1"]);
        assert!(code == Some(1) && err.contains(want), "{name}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// llama.cpp's llama graph adds q/k/v biases where a `llama` file has them
/// (`TENSOR_NOT_REQUIRED` in `src/llama-model.cpp`), and tabllm now does too,
/// through the path Qwen2's biases take (checked against llama.cpp in the
/// tiny Qwen2 test): zero biases change nothing, random ones change the
/// logits, on both backends. An optional tensor tabllm's forward pass does
/// not apply (`attn_output.bias`) is refused by name instead of ignored.
#[test]
fn llama_files_with_biases_apply_them_or_are_refused() {
    let tiny = shared("tiny/tiny-llama-q4_0.gguf");
    let dir = scratch("llama-bias");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/zero_sized_tensor.py");
    let with = |file: &str, specs: &[String]| {
        let out = dir.join(file);
        let st = Command::new("python3").args([script, tiny.to_str().unwrap(), out.to_str().unwrap(), "vector"]).args(specs).status().unwrap();
        assert!(st.success());
        out
    };
    let qkv = |value: &str| -> Vec<String> { (0..2).flat_map(|l| [("q", 256), ("k", 128), ("v", 128)].map(|(t, n)| format!("blk.{l}.attn_{t}.bias:{n}:{value}"))).collect() };
    let (zero, random) = (with("zero.gguf", &qkv("0")), with("random.gguf", &qkv("random")));
    let run = |m: &std::path::Path, backend: &str| tabllm(&["generate", "--backend", backend, "--model", m.to_str().unwrap(), "--prompt", "hello", "--max-tokens", "4", "--temperature", "0", "--json", "--top-logits", "4"]);
    for backend in ["webgpu", "cpu"] {
        let plain = run(&tiny, backend);
        assert_eq!(run(&zero, backend)["top_logits"], plain["top_logits"], "{backend}: zero biases");
        assert_ne!(run(&random, backend)["top_logits"], plain["top_logits"], "{backend}: random biases are applied");
    }
    let out_bias = with("out-bias.gguf", &["blk.0.attn_output.bias:256:random".to_string()]);
    let (code, _, err) = run_tabllm(&["generate", "--backend", "cpu", "--model", out_bias.to_str().unwrap(), "--prompt", "hello", "--max-tokens", "1"]);
    assert!(code == Some(1) && err.contains("tensor `blk.0.attn_output.bias` is in the file and llama.cpp applies it"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `tabllm info` on this year's hybrid models says what each layer is, and
/// counts only the attention layers as holding a KV cache (it said "4
/// layers" of attention for a Qwen3.5 with one, and named no kind).
#[test]
fn info_names_the_layer_kinds_of_hybrid_models() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny");
    for (file, layers, attention) in [
        ("tiny-qwen35-q4_k_m.gguf", "layers: 3 Gated DeltaNet, 1 attention (output-gated)", "attention: 1 of 4 layers"),
        ("tiny-lfm2-q4_k_m.gguf", "layers: 2 short conv (3 taps), 2 attention", "attention: 2 of 4 layers"),
        ("tiny-smollm3-q4_k_m.gguf", "layers: 3 attention, 1 attention (no RoPE)", "attention: 4 of 4 layers"),
        ("tiny-gemma4-q4_k_m.gguf", "layers: 1 attention (sliding window 8), 1 attention, 1 attention (sliding window 8, an earlier layer's KV cache), 1 attention (an earlier layer's KV cache)", "attention: 4 of 4 layers"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tabllm")).args(["info", "--model", dir.join(file).to_str().unwrap()]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let line = text.lines().find(|l| l.starts_with("layers: ")).unwrap_or_else(|| panic!("{file}: no layers line in\n{text}"));
        eprintln!("{file}: {line}");
        assert!(line.starts_with(layers), "{file}: {line}");
        assert!(text.contains(attention), "{file}: {text}");
    }
}
