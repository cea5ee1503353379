//! Field cases of shared/cases/ that are about behaviour rather than text:
//! the render budget on hostile templates, a template that does not compile,
//! llama.cpp's BOS rule, raise_exception as a typed error, and the OpenAI
//! message shape. (Text parity with jinja2: tests/chat_templates_jinja2.rs.)

use std::path::PathBuf;

use tabllm::gguf::{read_header_from_path, Metadata, Value};
use tabllm::chat::{chat_prompt_ids, BudgetResource, ChatError, ChatMessage, ChatTemplate, FinalAssistant, RenderArgs};
use tabllm::tokenizer::Tokenizer;

fn case(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/cases").join(path)
}

fn messages(name: &str) -> Vec<ChatMessage> {
    let path = case("messages").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ChatMessage::parse_list(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON file under shared/cases/ (e.g. `field3/messages/tools_weather.json`).
fn case_json<T: serde::de::DeserializeOwned>(path: &str) -> T {
    let path = case(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn metadata(path: &str) -> Metadata {
    let path = case(path);
    read_header_from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).metadata
}

fn render_hostile(path: &str) -> ChatError {
    let t = ChatTemplate::for_model(&metadata(path)).unwrap().expect("the case has a template");
    t.render(&messages("hi.json"), true, "", "").expect_err("a hostile template must stop at its budget")
}

#[test]
fn nested_loops_stop_at_the_fuel_budget() {
    match render_hostile("hostile/template_nested_loops.gguf") {
        ChatError::TemplateBudget(b) => assert_eq!(b.resource, BudgetResource::Fuel, "{b}"),
        e => panic!("expected a budget error, got {e}"),
    }
}

#[test]
fn string_doubling_stops_at_the_string_budget() {
    match render_hostile("hostile/template_string_doubling.gguf") {
        ChatError::TemplateBudget(b) => {
            assert!(matches!(b.resource, BudgetResource::StringSize | BudgetResource::CreatedBytes), "{b}")
        }
        e => panic!("expected a budget error, got {e}"),
    }
}

#[test]
fn output_and_repetition_are_bounded_too() {
    let t = ChatTemplate::new("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}").unwrap();
    match t.render(&[], true, "", "").unwrap_err() {
        ChatError::TemplateBudget(b) => {
            assert!(matches!(b.resource, BudgetResource::OutputSize | BudgetResource::CreatedBytes), "{b}")
        }
        e => panic!("expected a budget error, got {e}"),
    }
    let t = ChatTemplate::new("{{ ('ab' * 1000000) | replace('a', 'xxxxxxxxxxxxxxxxxxxx') | length }}").unwrap();
    assert!(matches!(t.render(&[], true, "", "").unwrap_err(), ChatError::TemplateBudget(_)));
}

#[test]
fn a_template_that_does_not_compile_leaves_the_model_usable() {
    let mut md = Metadata::default();
    md.insert("tokenizer.chat_template".into(), Value::String("{% for m in messages %}{% frobnicate %}".into()));
    // Loading (engine/load.rs, web) calls for_model with `?`: it must not fail.
    let t = ChatTemplate::for_model(&md).unwrap().expect("kept, unusable");
    assert!(t.compile_error().is_some());
    match t.render(&messages("hi.json"), true, "", "").unwrap_err() {
        ChatError::TemplateUnusable { detail } => assert!(detail.contains("frobnicate"), "{detail}"),
        e => panic!("expected TemplateUnusable, got {e}"),
    }
    // The generation-block case compiles now, and renders its body.
    let t = ChatTemplate::for_model(&metadata("templates/generation_block.gguf")).unwrap().unwrap();
    assert_eq!(t.render(&messages("hi.json"), true, "", "").unwrap(), "Hi");
}

#[test]
fn generation_tags_in_strings_and_comments_are_left_alone() {
    let t = ChatTemplate::new("{# {% generation %} #}{{ '{% generation %}' }}{%- generation -%}\n A {% endgeneration %}").unwrap();
    assert_eq!(t.render(&[], true, "", "").unwrap(), "{% generation %}A ");
}

#[test]
fn a_chat_prompt_starts_with_exactly_one_bos() {
    let md = metadata("templates/add_bos_template_without_bos.gguf");
    let tok = Tokenizer::from_metadata(&md).unwrap();
    assert!(tok.add_bos());
    let bos = tok.bos_id().unwrap();
    let bos_text = tok.token_text(bos).unwrap().to_string();
    let t = ChatTemplate::for_model(&md).unwrap().unwrap();
    let rendered = t.render(&messages("hi.json"), true, &bos_text, "").unwrap();
    assert!(!rendered.starts_with(&bos_text), "this template writes no BOS");
    let ids = chat_prompt_ids(&tok, &rendered);
    assert_eq!(ids[0], bos);
    assert_eq!(ids.iter().filter(|&&i| i == bos).count(), 1, "{ids:?}");
    // A template that does write it gets no second one.
    let with = format!("{bos_text}{rendered}");
    assert_eq!(chat_prompt_ids(&tok, &with), ids);
}

#[test]
fn raise_exception_is_a_typed_error_with_the_message() {
    let t = ChatTemplate::new("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}").unwrap();
    match t.render(&[ChatMessage::new("system", "x")], true, "", "").unwrap_err() {
        ChatError::TemplateRaised(m) => assert_eq!(m, "System role not supported"),
        e => panic!("expected TemplateRaised, got {e}"),
    }
}

#[test]
fn content_parts_render_as_the_same_string() {
    let parts = messages("content_parts.json");
    let plain = messages("capital.json");
    assert_eq!(parts, plain);
}

#[test]
fn a_final_assistant_message_is_continued_or_closed() {
    let source = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/templates/smollm2.jinja")).unwrap();
    let t = ChatTemplate::new(&source).unwrap();
    let m = messages("assistant_prefill.json");
    let args = RenderArgs::default();
    let cont = t.render_prompt(&m, FinalAssistant::Continue, &args).unwrap();
    assert!(cont.ends_with("<|im_start|>assistant\nThe capital of France is"), "{cont:?}");
    let closed = t.render_prompt(&m, FinalAssistant::Close, &args).unwrap();
    assert!(closed.ends_with("The capital of France is<|im_end|>\n<|im_start|>assistant\n"), "{closed:?}");
}

#[test]
fn tool_messages_keep_their_fields() {
    let m = ChatMessage::parse_list(
        r#"[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}}]},
            {"role":"tool","tool_call_id":"c1","name":"f","content":[{"type":"text","text":"42"}]}]"#,
    )
    .unwrap();
    let t = ChatTemplate::new(
        "{% for m in messages %}{{ m.role }}:{{ m.content }}:{{ m.tool_call_id is defined }}:{% if m.tool_calls %}{{ m.tool_calls[0].function.arguments }}{% endif %}|{% endfor %}",
    )
    .unwrap();
    // The arguments string reaches the template parsed (see string_tool_arguments_reach_templates_as_objects).
    assert_eq!(t.render(&m, false, "", "").unwrap(), "assistant:None:False:{'a': 1}|tool:42:True:|");
    let e = ChatMessage::parse_list(r#"[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]"#).unwrap_err();
    assert!(e.to_string().contains("messages[0].content[0].type 'input_audio' is not supported: text only"), "{e}");
}

/// field3: a conversation as the OpenAI SDK sends it back, the call's
/// `arguments` a JSON string. Templates get an object (as llama-server and
/// vLLM pass it): Qwen2.5's prints it once, not double-encoded; a template
/// that iterates the arguments (as Qwen3.5's does with `|items`) renders
/// instead of failing with "cannot convert value into pairs". A string that
/// is not a JSON object stays a string.
#[test]
fn string_tool_arguments_reach_templates_as_objects() {
    let m: Vec<ChatMessage> = case_json("field3/messages/tool_args_as_string.json");
    let tools: Vec<serde_json::Value> = case_json("field3/messages/tools_weather.json");
    let args = RenderArgs { tools: Some(&tools), ..RenderArgs::default() };
    let qwen = ChatTemplate::new(&std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/templates/qwen2.5-instruct.jinja")).unwrap()).unwrap();
    let out = qwen.render_prompt(&m, FinalAssistant::Continue, &args).unwrap();
    assert!(out.contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"), "{out}");
    // Qwen3.5's way of writing the arguments of earlier calls.
    let items = ChatTemplate::new(
        "{% for m in messages %}{% for c in m.tool_calls|default([]) %}{% for k, v in c.function.arguments|items %}<parameter={{ k }}>{{ v }}</parameter>{% endfor %}{% endfor %}{% endfor %}",
    )
    .unwrap();
    assert_eq!(items.render_prompt(&m, FinalAssistant::Continue, &args).unwrap(), "<parameter=city>Paris</parameter>");
    let odd = ChatMessage::parse_list(
        r#"[{"role":"assistant","content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"not json"}},{"id":"b","type":"function","function":{"name":"f","arguments":"[1]"}}]}]"#,
    )
    .unwrap();
    let t = ChatTemplate::new("{% for c in messages[0].tool_calls %}{{ c.function.arguments is string }}:{{ c.function.arguments }}|{% endfor %}").unwrap();
    assert_eq!(t.render(&odd, false, "", "").unwrap(), "True:not json|True:[1]|");
}

/// field3: Mistral Nemo's template refuses ids that are not 9 characters;
/// a conversation from another client (OpenAI's 24-character ids) renders
/// with each id mapped to 9 letters or digits, the same in the call and in
/// the tool result. Templates without that rule see the ids as sent.
#[test]
fn foreign_tool_call_ids_are_mapped_for_mistral_nemo() {
    let t = ChatTemplate::for_model(&metadata("field3/templates/mistral_nemo.gguf")).unwrap().expect("the case has a template");
    let m: Vec<ChatMessage> = case_json("field3/messages/tool_ids_24_chars.json");
    let tools: Vec<serde_json::Value> = case_json("field3/messages/tools_weather.json");
    let args = RenderArgs { bos_token: "<s>", eos_token: "</s>", tools: Some(&tools), ..RenderArgs::default() };
    let out = t.render_prompt(&m, FinalAssistant::Continue, &args).unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.contains("call_PTLP8xhu3uwZk4l3nlnrrJha"), "{out}");
    let id_after = |marker: &str| {
        let at = out.find(marker).unwrap_or_else(|| panic!("{marker} in {out}")) + marker.len();
        out[at..].split('"').next().unwrap().to_string()
    };
    let (call, result) = (id_after("\"id\": \""), id_after("\"call_id\": \""));
    assert_eq!(call, result, "{out}");
    assert!(call.len() == 9 && call.bytes().all(|b| b.is_ascii_alphanumeric()), "{call}");
    assert!(out.contains("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \""), "{out}");
    // The same mapping every time.
    assert_eq!(t.render_prompt(&m, FinalAssistant::Continue, &args).unwrap(), out);
    // Qwen2.5's template has no such rule: the ids go through as sent.
    let echo = ChatTemplate::new("{% for m in messages %}{{ m.tool_call_id }}{% endfor %}").unwrap();
    assert_eq!(echo.render(&m, false, "", "").unwrap(), "call_PTLP8xhu3uwZk4l3nlnrrJha");
}

/// Lists and dicts print as Python's `str()` prints them (jinja2's way), in
/// `{{ }}`, `|string`, `~` and `join`; jinja2's tests answer as jinja2's do.
/// (The whole comparison with jinja2: tests/templates/python_values.jinja.)
#[test]
fn lists_and_dicts_print_as_python() {
    let t = ChatTemplate::new(
        "{{ \"a,b\".split(\",\") }}|{{ {'a': 1, 'b': none, 'c': [true, 1.5, \"it's\"]}|string }}|{{ 'x' ~ [none] }}|{{ [[1], none]|join(';') }}|\
         {{ 'ab' is sequence }}{{ {} is sequence }}{{ true is number }}{{ 'ab1' is lower }}",
    )
    .unwrap();
    assert_eq!(
        t.render(&[], false, "", "").unwrap(),
        "['a', 'b']|{'a': 1, 'b': None, 'c': [True, 1.5, \"it's\"]}|x[None]|[1];None|TrueTrueTrueTrue"
    );
}
