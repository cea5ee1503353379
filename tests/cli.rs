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
    use tabllm::tokenizer::{chat_prompt_ids, ChatMessage, ChatTemplate, FinalAssistant, RenderArgs, Tokenizer};
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
