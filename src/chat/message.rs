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

/// The fields a message may have. `refusal`, `annotations`, `audio` and
/// `function_call` are those of OpenAI's reply message (the SDKs' pattern
/// `messages.push(completion.choices[0].message)` sends them back): accepted
/// where they ask nothing tabllm cannot do (see [`ChatMessage::from_value`]).
pub const FIELDS: [&str; 10] = ["role", "content", "name", "tool_call_id", "tool_calls", "reasoning_content", "refusal", "annotations", "audio", "function_call"];

/// Why a message cannot be used. Each names its field within the message
/// ([`MessageError::field`]); the message reads as that path followed by
/// the reason (`content[1].type 'image_url' is not supported: text only`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("role `{0}` is not supported (system, developer, user, assistant or tool)")]
    UnknownRole(String),
    #[error("content must be a string, an array of text parts or null, not {0}")]
    ContentType(&'static str),
    #[error("content[{index}] is not an object with a `type`")]
    PartWithoutType { index: usize },
    #[error("content[{index}].type '{part_type}' is not supported: text only")]
    UnsupportedPart { index: usize, part_type: String },
    #[error("content[{index}].text must be a string (a `text` part)")]
    PartWithoutText { index: usize },
    #[error("tool_calls[{index}] is not an object")]
    ToolCallNotObject { index: usize },
    #[error("content is needed on a `{0}` message (only an assistant message with tool_calls may have none)")]
    MissingContent(String),
    #[error("refusal must be null on an assistant message (a refusal text is not supported; put it in content)")]
    Refusal,
    #[error("{field} is only for assistant messages, not `{role}`")]
    AssistantOnly { field: &'static str, role: String },
    #[error("{field} must be {want}, not {got}")]
    FieldType { field: &'static str, want: &'static str, got: &'static str },
    #[error("{field} must be null: {why}")]
    NotNull { field: &'static str, why: &'static str },
    #[error("{0} is not a message field tabllm knows (role, content, name, tool_call_id, tool_calls; on assistant messages reasoning_content, refusal: null, annotations, audio: null, function_call: null)")]
    UnknownField(String),
    #[error("a message must be an object, not {0}")]
    NotObject(&'static str),
}

impl MessageError {
    /// The field at fault within the message, as a path (`content[1].type`,
    /// `foo`); empty when the message itself is (not an object).
    pub fn field(&self) -> String {
        match self {
            MessageError::UnknownRole(_) => "role".into(),
            MessageError::ContentType(_) | MessageError::MissingContent(_) => "content".into(),
            MessageError::PartWithoutType { index } => format!("content[{index}]"),
            MessageError::UnsupportedPart { index, .. } => format!("content[{index}].type"),
            MessageError::PartWithoutText { index } => format!("content[{index}].text"),
            MessageError::ToolCallNotObject { index } => format!("tool_calls[{index}]"),
            MessageError::Refusal => "refusal".into(),
            MessageError::AssistantOnly { field, .. } | MessageError::FieldType { field, .. } | MessageError::NotNull { field, .. } => field.to_string(),
            MessageError::UnknownField(name) => name.clone(),
            MessageError::NotObject(_) => String::new(),
        }
    }
}

/// Why a list of messages cannot be used: `messages[i]` and the message's
/// own error, or the list's.
#[derive(Debug, thiserror::Error)]
pub enum MessagesError {
    #[error("messages is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("messages must be an array of messages, not {0}")]
    NotArray(&'static str),
    #[error("messages is an empty array")]
    Empty,
    /// Reads as the path then the reason: every [`MessageError`] message
    /// but [`MessageError::NotObject`] begins with its field.
    #[error("messages[{index}]{}{source}", if source.field().is_empty() { ": " } else { "." })]
    At { index: usize, source: MessageError },
}

fn dot(e: &MessageError) -> String {
    match e.field() {
        f if f.is_empty() => String::new(),
        f => format!(".{f}"),
    }
}

impl MessagesError {
    /// The request field at fault (`messages[0].content[1].type`).
    pub fn field(&self) -> String {
        match self {
            MessagesError::At { index, source } => format!("messages[{index}]{}", dot(source)),
            _ => "messages".into(),
        }
    }
}

/// One message of a conversation. The template sees it as a map with
/// `role` and `content` (null when there is no text) and, only when given,
/// `name`, `tool_call_id` and `tool_calls` (so `message.tool_calls is defined`
/// means what it means in Hugging Face's templates).
#[derive(Clone, Debug, PartialEq, Serialize)]
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

impl<'de> Deserialize<'de> for ChatMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Json::deserialize(d)?;
        ChatMessage::from_value(&v).map_err(serde::de::Error::custom)
    }
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self { role: role.into(), content: Some(content.into()), name: None, tool_call_id: None, tool_calls: None, reasoning_content: None }
    }

    /// The text, empty when there is none.
    pub fn text(&self) -> &str {
        self.content.as_deref().unwrap_or("")
    }

    /// Parses a JSON array of messages; a message that is refused is named
    /// by its index and field ([`MessagesError::At`]); an empty array is
    /// refused (there is nothing to reply to).
    pub fn parse_list(json: &str) -> Result<Vec<ChatMessage>, MessagesError> {
        let v: Json = serde_json::from_str(json)?;
        Self::from_list(&v)
    }

    /// [`parse_list`](Self::parse_list) of a parsed JSON value.
    pub fn from_list(v: &Json) -> Result<Vec<ChatMessage>, MessagesError> {
        let list = v.as_array().ok_or(MessagesError::NotArray(json_kind(v)))?;
        if list.is_empty() {
            return Err(MessagesError::Empty);
        }
        list.iter().enumerate().map(|(index, m)| Self::from_value(m).map_err(|source| MessagesError::At { index, source })).collect()
    }

    /// One message in OpenAI's shape. Every field but those of [`FIELDS`] is
    /// refused by name. Of the reply fields, on assistant messages only:
    /// `refusal` must be null; `annotations` (an array: the reply's URL
    /// citations, which say where its own text came from and which no
    /// template reads) is dropped; `audio` and `function_call` must be null
    /// (an earlier audio reply, OpenAI's deprecated form of `tool_calls`).
    pub fn from_value(v: &Json) -> Result<Self, MessageError> {
        let obj = v.as_object().ok_or(MessageError::NotObject(json_kind(v)))?;
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(MessageError::UnknownField(k.clone()));
        }
        let present = |f: &str| obj.get(f).filter(|v| !v.is_null());
        let string = |field: &'static str| -> Result<Option<String>, MessageError> {
            match present(field) {
                None => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(MessageError::FieldType { field, want: "a string", got: json_kind(other) }),
            }
        };
        let role = match obj.get("role") {
            Some(Json::String(r)) => r.clone(),
            Some(other) => return Err(MessageError::FieldType { field: "role", want: "a string", got: json_kind(other) }),
            None => return Err(MessageError::FieldType { field: "role", want: "a string", got: "absent" }),
        };
        if !ROLES.contains(&role.as_str()) {
            return Err(MessageError::UnknownRole(role));
        }
        let content = match present("content") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Array(parts)) => Some(join_text_parts(parts)?),
            Some(other) => return Err(MessageError::ContentType(json_kind(other))),
        };
        let tool_calls = match present("tool_calls") {
            None => None,
            Some(Json::Array(calls)) => {
                if let Some(index) = calls.iter().position(|c| !c.is_object()) {
                    return Err(MessageError::ToolCallNotObject { index });
                }
                Some(calls.clone())
            }
            Some(other) => return Err(MessageError::FieldType { field: "tool_calls", want: "an array of tool calls", got: json_kind(other) }),
        };
        let assistant = role == "assistant";
        for field in ["reasoning_content", "refusal", "annotations", "audio", "function_call"] {
            if !assistant && present(field).is_some() {
                return Err(MessageError::AssistantOnly { field, role });
            }
        }
        if present("refusal").is_some() {
            return Err(MessageError::Refusal);
        }
        match present("annotations") {
            None | Some(Json::Array(_)) => {}
            Some(other) => return Err(MessageError::FieldType { field: "annotations", want: "an array", got: json_kind(other) }),
        }
        if present("audio").is_some() {
            return Err(MessageError::NotNull { field: "audio", why: "an earlier audio reply cannot be given to a text model" });
        }
        if present("function_call").is_some() {
            return Err(MessageError::NotNull { field: "function_call", why: "OpenAI's deprecated form of a call is not supported; give tool_calls" });
        }
        // OpenAI: content is required unless an assistant message carries tool_calls.
        if content.is_none() && !(assistant && tool_calls.is_some()) {
            return Err(MessageError::MissingContent(role));
        }
        Ok(Self { name: string("name")?, tool_call_id: string("tool_call_id")?, reasoning_content: string("reasoning_content")?, role, content, tool_calls })
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
        assert!(err.contains("messages[0].reasoning_content is only for assistant messages"), "{err}");
    }

    #[test]
    fn image_parts_unknown_roles_and_fields_are_refused_by_name() {
        let e = serde_json::from_str::<ChatMessage>(
            r#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("'image_url'"), "{e}");
        let e = serde_json::from_str::<ChatMessage>(r#"{"role":"robot","content":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("`robot`"), "{e}");
        let e = serde_json::from_str::<ChatMessage>(r#"{"role":"user","content":"x","audio":1}"#).unwrap_err();
        assert!(e.to_string().contains("audio"), "{e}");
    }

    /// Each refusal names its message and field as a path, without a
    /// position in the JSON text (the package's `details.field`).
    #[test]
    fn refusals_name_the_message_and_field() {
        let cases = [
            (r#"[{"role":"user","content":"Hi","foo":1}]"#, "messages[0].foo", "messages[0].foo is not a message field tabllm knows"),
            (r#"[{"role":"user","content":"Hi"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}}]}]"#, "messages[1].content[1].type", "messages[1].content[1].type 'image_url' is not supported: text only"),
            (r#"[{"role":"user","content":"Hi","name":3}]"#, "messages[0].name", "name must be a string, not a number"),
            (r#"[{"role":"user","content":"Hi","annotations":[]}]"#, "messages[0].annotations", "annotations is only for assistant messages, not `user`"),
            (r#"[{"role":"assistant","content":"Hi","annotations":{}}]"#, "messages[0].annotations", "annotations must be an array, not an object"),
            (r#"[{"role":"assistant","content":"Hi","audio":{"id":"a"}}]"#, "messages[0].audio", "audio must be null"),
            (r#"[{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}}]"#, "messages[0].function_call", "give tool_calls"),
            (r#"["hi"]"#, "messages[0]", "messages[0]: a message must be an object, not a string"),
            (r#"[{"content":"Hi"}]"#, "messages[0].role", "role must be a string, not absent"),
        ];
        for (json, field, text) in cases {
            let e = ChatMessage::parse_list(json).unwrap_err();
            assert_eq!(e.field(), field, "{json}");
            assert!(e.to_string().contains(text), "{json}: {e}");
            assert!(!e.to_string().contains("column"), "{e}");
        }
    }

    /// An OpenAI reply appended as it came back (the SDKs' own pattern)
    /// parses: `annotations` (dropped), and `refusal`, `audio` and
    /// `function_call` null.
    #[test]
    fn openai_reply_messages_round_trip() {
        let list = ChatMessage::parse_list(
            r#"[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello","refusal":null,"annotations":[],"audio":null,"function_call":null},{"role":"user","content":"More"}]"#,
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&list[1]).unwrap(), serde_json::json!({"role": "assistant", "content": "Hello"}));
    }

    #[test]
    fn absent_optional_fields_stay_absent_for_the_template() {
        for (json, role) in [(r#"{"role":"user"}"#, "user"), (r#"{"role":"user","content":null}"#, "user"), (r#"{"role":"assistant","content":null}"#, "assistant")] {
            let e = serde_json::from_str::<ChatMessage>(json).unwrap_err();
            assert!(e.to_string().contains(&format!("content is needed on a `{role}` message")), "{json}: {e}");
        }
        let e = ChatMessage::parse_list("[]").unwrap_err();
        assert!(e.to_string().contains("empty array"), "{e}");
        let m: ChatMessage = serde_json::from_str(r#"{"role":"assistant","content":null,"tool_calls":[{"id":"1"}]}"#).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v, serde_json::json!({"role":"assistant","content":null,"tool_calls":[{"id":"1"}]}));
    }
}
