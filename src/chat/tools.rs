//! The tool part of an OpenAI chat request: `tools`, `tool_choice` and
//! `parallel_tool_calls`, checked field by field.
//!
//! `tools` is `[{type: "function", function: {name, description?,
//! parameters?, strict?}}]` (OpenAI's chat completions API). A valid list
//! reaches the chat template exactly as given, as Hugging Face's
//! `apply_chat_template(tools=...)` passes it. Each refusal names the field
//! (`tools[1].function.name`) and what it must be.
//!
//! `tool_choice`:
//! - `"auto"` (the default when tools are given): the model may answer or
//!   call tools; its calls are parsed out of the reply (see `tool_calls.rs`).
//! - `"none"`: the model is not to call tools. The tools still reach the
//!   template (so a conversation that used them renders the same, as
//!   llama.cpp does), but the reply is not parsed for calls: it comes back
//!   as plain content.
//! - `"required"` and `{type: "function", function: {name}}` force a call:
//!   decoding is constrained to the template's call format with arguments
//!   valid against the tool's `parameters` schema
//!   ([`super::tool_calls::forced_call_grammar`], `Engine::forced_tool_constraint`).
//!   Such a choice cannot be combined with `response_format`
//!   ([`ToolError::ForcedWithResponseFormat`]).
//!
//! `parallel_tool_calls` (default true): every call the reply holds comes
//! back; false keeps the first one only.

use serde_json::Value as Json;

/// OpenAI's limit on a function name's length.
pub const MAX_FUNCTION_NAME: usize = 64;

/// Most tools one request may define (OpenAI allows 128).
pub const MAX_TOOLS: usize = 128;

/// Why the tool part of a request cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("`{field}` must be {expected}")]
    Shape { field: String, expected: &'static str },
    #[error("`{field}` is not a field tabllm knows (a tool has `type` and `function`; a function `name`, `description`, `parameters`, `strict`)")]
    UnknownField { field: String },
    #[error("`{field}` is `{got}`; only `function` tools are supported")]
    ToolType { field: String, got: String },
    #[error("`{field}` is `{name}`, the name of an earlier tool; tool names must be unique")]
    DuplicateName { field: String, name: String },
    #[error("tools holds {got} tools; at most {MAX_TOOLS} are supported")]
    TooMany { got: usize },
    /// `tool_choice` or `parallel_tool_calls` without `tools` (OpenAI refuses this too).
    #[error("`{0}` needs `tools`")]
    WithoutTools(&'static str),
    #[error("`tool_choice` names the function `{0}`, which is not among the tools")]
    ChoiceUnknownTool(String),
    /// `tool_choice` `required` or a named function forces the reply's
    /// grammar (a call), so it cannot also follow `response_format`.
    #[error("`response_format` cannot be combined with `tool_choice` {0}, which constrains the reply to a tool call")]
    ForcedWithResponseFormat(String),
    /// The template never reads `tools`: they would be dropped silently.
    #[error("`tools` cannot be used with this model: its chat template does not take tools")]
    TemplateIgnoresTools,
    /// The template reads `tools`, but tabllm cannot tell how the model writes a call.
    #[error("`tools` with tool_choice `auto` cannot be used with this model: its chat template takes tools, but its tool-call format is none tabllm parses (Hermes/Qwen `<tool_call>`, Llama 3.x JSON, Mistral `[TOOL_CALLS]`); tool_choice `none` renders the tools without parsing calls")]
    UnknownFormat,
}

impl ToolError {
    /// The request field at fault (`tools[1].function.name`, `tool_choice`, …).
    pub fn field(&self) -> &str {
        match self {
            ToolError::Shape { field, .. } | ToolError::UnknownField { field } | ToolError::ToolType { field, .. } | ToolError::DuplicateName { field, .. } => field,
            ToolError::TooMany { .. } | ToolError::TemplateIgnoresTools | ToolError::UnknownFormat => "tools",
            ToolError::WithoutTools(field) => field,
            ToolError::ChoiceUnknownTool(_) => "tool_choice",
            ToolError::ForcedWithResponseFormat(_) => "response_format",
        }
    }
}

/// What `tool_choice` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    /// `{type: "function", function: {name}}`: this function must be called.
    Function(String),
}

impl ToolChoice {
    /// How the choice is named in errors.
    pub fn describe(&self) -> String {
        match self {
            ToolChoice::Auto => "`auto`".into(),
            ToolChoice::None => "`none`".into(),
            ToolChoice::Required => "`required`".into(),
            ToolChoice::Function(name) => format!("naming the function `{name}`"),
        }
    }
}

/// The checked tool part of a request.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolRequest {
    /// The tools as given (each checked), for the template's `tools`.
    pub tools: Vec<Json>,
    pub choice: ToolChoice,
    /// `parallel_tool_calls`: false keeps the first call of a reply only.
    pub parallel: bool,
}

impl ToolRequest {
    /// Checks the three fields; `Ok(None)` when none is given (or all are null).
    pub fn from_fields(tools: Option<&Json>, tool_choice: Option<&Json>, parallel: Option<&Json>) -> Result<Option<Self>, ToolError> {
        let (tools, tool_choice, parallel) = (given(tools), given(tool_choice), given(parallel));
        let Some(tools) = tools else {
            if tool_choice.is_some() {
                return Err(ToolError::WithoutTools("tool_choice"));
            }
            if parallel.is_some() {
                return Err(ToolError::WithoutTools("parallel_tool_calls"));
            }
            return Ok(None);
        };
        let tools = check_tools(tools)?;
        let choice = match tool_choice {
            None => ToolChoice::Auto,
            Some(c) => parse_choice(c)?,
        };
        if let ToolChoice::Function(name) = &choice {
            if !tools.iter().any(|t| t["function"]["name"].as_str() == Some(name)) {
                return Err(ToolError::ChoiceUnknownTool(name.clone()));
            }
        }
        let parallel = match parallel {
            None => true,
            Some(Json::Bool(b)) => *b,
            Some(_) => return Err(shape("parallel_tool_calls", "true or false")),
        };
        Ok(Some(Self { tools, choice, parallel }))
    }

    /// The names of the tools, in order.
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().filter_map(|t| t["function"]["name"].as_str()).collect()
    }

    /// Whether the choice forces a call (`required` or a named function).
    pub fn forces_call(&self) -> bool {
        matches!(self.choice, ToolChoice::Required | ToolChoice::Function(_))
    }
}

/// A field that is present and not null.
fn given(v: Option<&Json>) -> Option<&Json> {
    v.filter(|v| !v.is_null())
}

fn shape(field: impl Into<String>, expected: &'static str) -> ToolError {
    ToolError::Shape { field: field.into(), expected }
}

/// Checks `tools`: a non-empty array of function tools with unique, valid names.
fn check_tools(tools: &Json) -> Result<Vec<Json>, ToolError> {
    let list = tools.as_array().ok_or_else(|| shape("tools", "an array of tools"))?;
    if list.is_empty() {
        return Err(shape("tools", "a non-empty array (leave tools out for none)"));
    }
    if list.len() > MAX_TOOLS {
        return Err(ToolError::TooMany { got: list.len() });
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        let obj = tool.as_object().ok_or_else(|| shape(at.clone(), "an object"))?;
        // The type first: another kind of tool (OpenAI's `custom`) is named as such.
        match obj.get("type") {
            Some(Json::String(t)) if t == "function" => {}
            Some(Json::String(t)) => return Err(ToolError::ToolType { field: format!("{at}.type"), got: t.clone() }),
            _ => return Err(shape(format!("{at}.type"), "the string \"function\"")),
        }
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "type" | "function")) {
            return Err(ToolError::UnknownField { field: format!("{at}.{k}") });
        }
        let at = format!("{at}.function");
        let f = obj.get("function").and_then(Json::as_object).ok_or_else(|| shape(at.clone(), "an object"))?;
        if let Some(k) = f.keys().find(|k| !matches!(k.as_str(), "name" | "description" | "parameters" | "strict")) {
            return Err(ToolError::UnknownField { field: format!("{at}.{k}") });
        }
        let name = f.get("name").and_then(Json::as_str).filter(|n| valid_name(n)).ok_or_else(|| {
            shape(format!("{at}.name"), "a string of 1 to 64 letters, digits, underscores and dashes")
        })?;
        if names.contains(&name) {
            return Err(ToolError::DuplicateName { field: format!("{at}.name"), name: name.to_string() });
        }
        names.push(name);
        if !matches!(f.get("description"), None | Some(Json::Null) | Some(Json::String(_))) {
            return Err(shape(format!("{at}.description"), "a string"));
        }
        // A JSON Schema is an object (or `true`/`false`, which OpenAI does not take).
        if !matches!(f.get("parameters"), None | Some(Json::Null) | Some(Json::Object(_))) {
            return Err(shape(format!("{at}.parameters"), "a JSON Schema object"));
        }
        if !matches!(f.get("strict"), None | Some(Json::Null) | Some(Json::Bool(_))) {
            return Err(shape(format!("{at}.strict"), "true, false or null"));
        }
    }
    Ok(list.clone())
}

/// OpenAI's function names: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_FUNCTION_NAME && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_choice(c: &Json) -> Result<ToolChoice, ToolError> {
    const EXPECTED: &str = "\"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}";
    match c {
        Json::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(shape("tool_choice", EXPECTED)),
        },
        Json::Object(o) => {
            if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "type" | "function")) {
                return Err(ToolError::UnknownField { field: format!("tool_choice.{k}") });
            }
            match o.get("type") {
                Some(Json::String(t)) if t == "function" => {}
                Some(Json::String(t)) => return Err(ToolError::ToolType { field: "tool_choice.type".into(), got: t.clone() }),
                _ => return Err(shape("tool_choice.type", "the string \"function\"")),
            }
            let f = o.get("function").and_then(Json::as_object).ok_or_else(|| shape("tool_choice.function", "an object with a name"))?;
            if let Some(k) = f.keys().find(|k| k.as_str() != "name") {
                return Err(ToolError::UnknownField { field: format!("tool_choice.function.{k}") });
            }
            let name = f.get("name").and_then(Json::as_str).ok_or_else(|| shape("tool_choice.function.name", "a string"))?;
            Ok(ToolChoice::Function(name.to_string()))
        }
        _ => Err(shape("tool_choice", EXPECTED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn weather() -> Json {
        json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": null}})
    }

    fn err(tools: Json, choice: Option<Json>) -> String {
        ToolRequest::from_fields(Some(&tools), choice.as_ref(), None).unwrap_err().to_string()
    }

    #[test]
    fn valid_tools_pass_through_unchanged_with_auto_and_parallel_by_default() {
        let tools = json!([weather(), {"type": "function", "function": {"name": "now"}}]);
        let r = ToolRequest::from_fields(Some(&tools), None, None).unwrap().unwrap();
        assert_eq!(Json::Array(r.tools.clone()), tools);
        assert_eq!(r.choice, ToolChoice::Auto);
        assert!(r.parallel);
        assert_eq!(r.names(), ["get_weather", "now"]);
        let r = ToolRequest::from_fields(Some(&tools), Some(&json!("none")), Some(&json!(false))).unwrap().unwrap();
        assert_eq!((r.choice, r.parallel), (ToolChoice::None, false));
        assert_eq!(ToolRequest::from_fields(None, None, None).unwrap(), None);
        assert_eq!(ToolRequest::from_fields(Some(&Json::Null), Some(&Json::Null), None).unwrap(), None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(Json, &str)> = vec![
            (json!({}), "`tools` must be an array"),
            (json!([]), "`tools` must be a non-empty array"),
            (json!([weather(), 3]), "`tools[1]` must be an object"),
            (json!([{"type": "custom", "function": {"name": "x"}}]), "`tools[0].type` is `custom`"),
            (json!([{"type": "custom", "custom": {"name": "x"}}]), "`tools[0].type` is `custom`; only `function` tools are supported"),
            (json!([weather(), {"type": "function", "function": {"name": "bad name"}}]), "`tools[1].function.name` must be a string of 1 to 64"),
            (json!([weather(), {"type": "function", "function": {}}]), "`tools[1].function.name` must be"),
            (json!([{"type": "function", "function": {"name": "a".repeat(65)}}]), "`tools[0].function.name` must be"),
            (json!([weather(), weather()]), "`tools[1].function.name` is `get_weather`, the name of an earlier tool"),
            (json!([{"type": "function", "function": {"name": "x", "parameters": "{}"}}]), "`tools[0].function.parameters` must be a JSON Schema object"),
            (json!([{"type": "function", "function": {"name": "x", "description": 1}}]), "`tools[0].function.description` must be a string"),
            (json!([{"type": "function", "function": {"name": "x", "strict": "yes"}}]), "`tools[0].function.strict` must be"),
            (json!([{"type": "function", "function": {"name": "x", "returns": {}}}]), "`tools[0].function.returns` is not a field"),
            (json!([{"type": "function", "function": {"name": "x"}, "cache_control": {}}]), "`tools[0].cache_control` is not a field"),
            (json!([{"type": "function"}]), "`tools[0].function` must be an object"),
        ];
        for (tools, want) in cases {
            let e = err(tools.clone(), None);
            assert!(e.contains(want), "{tools}: {e}");
        }
    }

    #[test]
    fn tool_choice_forms_and_their_refusals() {
        let tools = json!([weather()]);
        let named = json!({"type": "function", "function": {"name": "get_weather"}});
        let r = ToolRequest::from_fields(Some(&tools), Some(&named), None).unwrap().unwrap();
        assert_eq!(r.choice, ToolChoice::Function("get_weather".into()));
        assert!(r.forces_call());
        let r = ToolRequest::from_fields(Some(&tools), Some(&json!("required")), None).unwrap().unwrap();
        assert!(r.forces_call());
        assert!(!ToolRequest::from_fields(Some(&tools), Some(&json!("auto")), None).unwrap().unwrap().forces_call());
        assert!(err(tools.clone(), Some(json!("sometimes"))).contains("`tool_choice` must be \"auto\""));
        assert!(err(tools.clone(), Some(json!({"type": "function", "function": {"name": "other"}}))).contains("`other`, which is not among the tools"));
        assert!(err(tools.clone(), Some(json!({"type": "function", "function": {"name": "get_weather", "x": 1}}))).contains("`tool_choice.function.x`"));
        let e = ToolRequest::from_fields(None, Some(&json!("auto")), None).unwrap_err().to_string();
        assert_eq!(e, "`tool_choice` needs `tools`");
        let e = ToolRequest::from_fields(None, None, Some(&json!(true))).unwrap_err().to_string();
        assert_eq!(e, "`parallel_tool_calls` needs `tools`");
        let e = ToolRequest::from_fields(Some(&tools), None, Some(&json!("yes"))).unwrap_err().to_string();
        assert!(e.contains("`parallel_tool_calls` must be true or false"), "{e}");
    }
}
