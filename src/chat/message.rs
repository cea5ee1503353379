//! The messages of a conversation in the shape OpenAI's chat API takes them:
//! `role`, `content` as a string or an array of `{type: "text", text}` parts,
//! and for tool use `name`, `tool_call_id` and the assistant's `tool_calls`.
//!
//! Text parts are joined as llama-server joins them for templates that take
//! plain-string content (`common_chat_msgs_to_json_oaicompat` with
//! `concat_typed_text` in llama.cpp's `common/chat.cpp`): a `"\n"` between a
//! part and the text before it, none while that text is still empty. Parts of
//! any other type (images, audio, files) are refused by name: this runtime
//! reads text only. Fields we don't know are refused by name too.
//!
//! An assistant message may carry `reasoning_content` (a reply of a thinking
//! model as tabllm, llama-server and the DeepSeek API return it), passed to
//! the template as given, as llama-server passes it (Qwen3's template reads it).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The roles a message may have.
pub const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

/// Why a message cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("role `{0}` is not supported (system, developer, user, assistant or tool)")]
    UnknownRole(String),
    #[error("content must be a string, an array of text parts or null, not {0}")]
    ContentType(&'static str),
    #[error("content part {index} is not an object with a `type`")]
    PartWithoutType { index: usize },
    #[error("content part {index} has type `{part_type}`; only `text` parts are supported")]
    UnsupportedPart { index: usize, part_type: String },
    #[error("content part {index} (type `text`) has no string `text`")]
    PartWithoutText { index: usize },
    #[error("tool_calls entry {index} is not an object")]
    ToolCallNotObject { index: usize },
    #[error("a `{0}` message needs content (only an assistant message with tool_calls may have none)")]
    MissingContent(String),
    #[error("refusal must be null on an assistant message (a refusal text is not supported; put it in content)")]
    Refusal,
    #[error("reasoning_content is only for assistant messages, not `{0}`")]
    ReasoningNotAssistant(String),
}

/// One message of a conversation. The template sees it as a map with
/// `role` and `content` (null when there is no text) and, only when given,
/// `name`, `tool_call_id` and `tool_calls` (so `message.tool_calls is defined`
/// means what it means in Hugging Face's templates).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawMessage")]
pub struct ChatMessage {
    pub role: String,
    /// The text; `None` for an assistant turn that only calls tools.
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Passed to the template as sent: OpenAI's `{id, type: "function",
    /// function: {name, arguments}}` with `arguments` a JSON string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Json>>,
    /// An assistant's reasoning, as its reply came back (`message.reasoning_content`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: role.into(), content: Some(content.into()), name: None, tool_call_id: None, tool_calls: None, reasoning_content: None }
    }

    /// The text, empty when there is none.
    pub fn text(&self) -> &str {
        self.content.as_deref().unwrap_or("")
    }

    /// Parses a JSON array of messages, with the typed reason when one is
    /// refused; an empty array is refused (there is nothing to reply to).
    pub fn parse_list(json: &str) -> Result<Vec<ChatMessage>, serde_json::Error> {
        let list: Vec<ChatMessage> = serde_json::from_str(json)?;
        if list.is_empty() {
            return Err(serde::de::Error::custom("messages is an empty array"));
        }
        Ok(list)
    }
}

/// The wire form, checked into a [`ChatMessage`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    role: String,
    #[serde(default)]
    content: Option<Json>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<Json>>,
    /// OpenAI's assistant messages carry `refusal` (tabllm's replies say
    /// null), so a reply appended to the conversation as it came back parses.
    #[serde(default)]
    refusal: Option<Json>,
    #[serde(default)]
    reasoning_content: Option<String>,
}

impl TryFrom<RawMessage> for ChatMessage {
    type Error = MessageError;

    fn try_from(raw: RawMessage) -> Result<Self, MessageError> {
        if !ROLES.contains(&raw.role.as_str()) {
            return Err(MessageError::UnknownRole(raw.role));
        }
        let content = match raw.content {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s),
            Some(Json::Array(parts)) => Some(join_text_parts(&parts)?),
            Some(other) => return Err(MessageError::ContentType(json_kind(&other))),
        };
        if !matches!(raw.refusal, None | Some(Json::Null)) {
            return Err(MessageError::Refusal);
        }
        if let Some(calls) = &raw.tool_calls {
            if let Some(index) = calls.iter().position(|c| !c.is_object()) {
                return Err(MessageError::ToolCallNotObject { index });
            }
        }
        // OpenAI: content is required unless an assistant message carries tool_calls.
        if content.is_none() && !(raw.role == "assistant" && raw.tool_calls.is_some()) {
            return Err(MessageError::MissingContent(raw.role));
        }
        if raw.reasoning_content.is_some() && raw.role != "assistant" {
            return Err(MessageError::ReasoningNotAssistant(raw.role));
        }
        Ok(Self { role: raw.role, content, name: raw.name, tool_call_id: raw.tool_call_id, tool_calls: raw.tool_calls, reasoning_content: raw.reasoning_content })
    }
}

/// Text parts joined with `"\n"` as llama-server joins them.
fn join_text_parts(parts: &[Json]) -> Result<String, MessageError> {
    let mut text = String::new();
    for (index, part) in parts.iter().enumerate() {
        let part_type = part.get("type").and_then(Json::as_str).ok_or(MessageError::PartWithoutType { index })?;
        if part_type != "text" {
            return Err(MessageError::UnsupportedPart { index, part_type: part_type.to_string() });
        }
        let t = part.get("text").and_then(Json::as_str).ok_or(MessageError::PartWithoutText { index })?;
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(t);
    }
    Ok(text)
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parts_are_joined_with_newlines_after_the_first_nonempty_text() {
        let m: ChatMessage = serde_json::from_str(
            r#"{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"a"},{"type":"text","text":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(m.content.as_deref(), Some("a\nb"));
    }

    /// A reply as the package returns it (`refusal: null`) goes back into the
    /// conversation unchanged; a refusal text is refused by name.
    #[test]
    fn assistant_replies_round_trip_with_a_null_refusal() {
        let list = ChatMessage::parse_list(r#"[{"role":"user","content":"hi"},{"role":"assistant","content":"hello","refusal":null},{"role":"user","content":"more"}]"#).unwrap();
        assert_eq!(list[1].text(), "hello");
        let err = ChatMessage::parse_list(r#"[{"role":"assistant","content":null,"refusal":"no"}]"#).unwrap_err().to_string();
        assert!(err.contains("refusal must be null"), "{err}");
    }

    /// A thinking model's reply goes back with its `reasoning_content`, which
    /// the template sees (Qwen3's reads it); other roles may not carry one.
    #[test]
    fn assistant_reasoning_round_trips_to_the_template() {
        let list = ChatMessage::parse_list(r#"[{"role":"user","content":"hi"},{"role":"assistant","content":"hello","reasoning_content":"Greet back.","refusal":null}]"#).unwrap();
        assert_eq!(list[1].reasoning_content.as_deref(), Some("Greet back."));
        assert_eq!(serde_json::to_value(&list[1]).unwrap()["reasoning_content"], "Greet back.");
        assert!(serde_json::to_value(&list[0]).unwrap().get("reasoning_content").is_none());
        let err = ChatMessage::parse_list(r#"[{"role":"user","content":"hi","reasoning_content":"x"}]"#).unwrap_err().to_string();
        assert!(err.contains("reasoning_content is only for assistant messages"), "{err}");
    }

    #[test]
    fn image_parts_unknown_roles_and_fields_are_refused_by_name() {
        let e = serde_json::from_str::<ChatMessage>(
            r#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("`image_url`"), "{e}");
        let e = serde_json::from_str::<ChatMessage>(r#"{"role":"robot","content":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("`robot`"), "{e}");
        let e = serde_json::from_str::<ChatMessage>(r#"{"role":"user","content":"x","audio":1}"#).unwrap_err();
        assert!(e.to_string().contains("audio"), "{e}");
    }

    #[test]
    fn absent_optional_fields_stay_absent_for_the_template() {
        for (json, role) in [(r#"{"role":"user"}"#, "user"), (r#"{"role":"user","content":null}"#, "user"), (r#"{"role":"assistant","content":null}"#, "assistant")] {
            let e = serde_json::from_str::<ChatMessage>(json).unwrap_err();
            assert!(e.to_string().contains(&format!("a `{role}` message needs content")), "{json}: {e}");
        }
        let e = ChatMessage::parse_list("[]").unwrap_err();
        assert!(e.to_string().contains("empty array"), "{e}");
        let m: ChatMessage = serde_json::from_str(r#"{"role":"assistant","content":null,"tool_calls":[{"id":"1"}]}"#).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v, serde_json::json!({"role":"assistant","content":null,"tool_calls":[{"id":"1"}]}));
    }
}
