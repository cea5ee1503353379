//! Earlier tool calls as chat templates expect to see them.
//!
//! - **Arguments as objects.** OpenAI's API carries a call's `arguments` as a
//!   JSON *string* (that is what the OpenAI SDK sends back in a conversation,
//!   and what tabllm's own replies hold), while tool-calling templates iterate
//!   or `tojson` them as an object: Qwen2.5's, Llama 3.1's and Mistral's print
//!   a string double-encoded, Qwen3.5's fails on `arguments|items`.
//!   llama-server (`common/chat.cpp`, through minja's `chat_template` and its
//!   object-arguments polyfill) and vLLM (`chat_utils.py`, "tool call
//!   arguments … need to be dicts not JSON str") parse the string before
//!   rendering; so does [`prepare`]. A string that is not JSON, or is JSON but
//!   not an object, reaches the template unchanged.
//! - **Nine-character call ids.** Mistral's templates (v0.3, Nemo, Small)
//!   raise on any call id that is not 9 characters ("Tool call IDs should be
//!   alphanumeric strings with length 9!"), and conversations from other
//!   clients carry ids such as OpenAI's `call_` + 24 characters. vLLM
//!   rewrites the ids for Mistral tokenizers (`truncate_tool_call_ids`: the
//!   last 9 characters, which can collide). Here, for a template that
//!   [`requires_nine_char_ids`], each id that is not already 9 ASCII letters
//!   or digits is replaced by 9 derived from a hash of it, the same in the
//!   assistant's `tool_calls[].id` and the tool message's `tool_call_id`,
//!   and never equal to another id of the conversation.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use minijinja::machinery::{self, Token};
use minijinja::syntax::SyntaxConfig;
use serde_json::Value as Json;

use super::message::ChatMessage;

/// Length of a Mistral tool-call id.
pub const MISTRAL_ID_LEN: usize = 9;

/// Whether `id` is what Mistral's templates accept: 9 ASCII letters or digits.
pub fn is_mistral_id(id: &str) -> bool {
    id.len() == MISTRAL_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a template enforces 9-character tool-call ids. The rule, read
/// from the template itself (found with minijinja's lexer, so never in a
/// string or a comment): it compares the length of an id with 9, i.e. holds
/// `X|length != 9` or `X|length == 9` where `X` is a name `id` or ending in
/// `_id` (`tool_call.id`, `message.tool_call_id`) or a subscript with such a
/// name (`tool_call['id']`). That is the check Mistral v0.3's, Nemo's and
/// Small's templates make before raising.
pub fn requires_nine_char_ids(source: &str) -> bool {
    let id_name = |s: &str| s == "id" || s.ends_with("_id");
    let mut window: Vec<Token> = Vec::with_capacity(6);
    for tok in machinery::tokenize(source, false, SyntaxConfig::default(), Default::default()) {
        let Ok((tok, _)) = tok else { return false };
        if window.len() == 6 {
            window.remove(0);
        }
        window.push(tok);
        let n = window.len();
        if n < 5 {
            continue;
        }
        let tail = &window[n - 4..];
        let check = matches!(tail[0], Token::Pipe)
            && matches!(tail[1], Token::Ident("length"))
            && matches!(tail[2], Token::Ne | Token::Eq)
            && matches!(tail[3], Token::Int(9));
        let subject = match &window[n - 5] {
            Token::Ident(name) => id_name(name),
            Token::BracketClose => n == 6 && matches!(&window[0], Token::Str(name) if id_name(name)),
            _ => false,
        };
        if check && subject {
            return true;
        }
    }
    false
}

/// The messages as the template is given them: string `arguments` of
/// `tool_calls` parsed into objects, and, with `nine_char_ids`, call ids
/// mapped to 9 alphanumerics (see the module docs). Borrowed unchanged when
/// there is nothing to change. With `parse_arguments` false the arguments
/// stay strings (for a template written for strings, see `render_with`).
pub fn prepare(messages: &[ChatMessage], nine_char_ids: bool, parse_arguments: bool) -> Cow<'_, [ChatMessage]> {
    let ids = if nine_char_ids { id_map(messages) } else { HashMap::new() };
    let touched = messages.iter().any(|m| {
        m.tool_calls.as_ref().is_some_and(|calls| calls.iter().any(|c| (parse_arguments && string_arguments(c).is_some()) || call_id(c).is_some_and(|id| ids.contains_key(id))))
            || m.tool_call_id.as_deref().is_some_and(|id| ids.contains_key(id))
    });
    if !touched {
        return Cow::Borrowed(messages);
    }
    let mut out = messages.to_vec();
    for m in &mut out {
        if let Some(id) = m.tool_call_id.as_mut() {
            if let Some(new) = ids.get(id.as_str()) {
                *id = new.clone();
            }
        }
        for call in m.tool_calls.iter_mut().flatten() {
            if let Some(Json::String(id)) = call.get_mut("id") {
                if let Some(new) = ids.get(id.as_str()) {
                    *id = new.clone();
                }
            }
            if let Some(args) = call.get_mut("function").and_then(|f| f.get_mut("arguments")).filter(|_| parse_arguments) {
                if let Json::String(s) = args {
                    if let Ok(obj @ Json::Object(_)) = serde_json::from_str::<Json>(s) {
                        *args = obj;
                    }
                }
            }
        }
    }
    Cow::Owned(out)
}

/// A call's `function.arguments` when it is a string holding a JSON object.
fn string_arguments(call: &Json) -> Option<&str> {
    let s = call.get("function")?.get("arguments")?.as_str()?;
    s.trim_start().starts_with('{').then_some(s)
}

fn call_id(call: &Json) -> Option<&str> {
    call.get("id")?.as_str()
}

/// Every id of the conversation that is not a Mistral id, mapped to one
/// that is: derived from a hash of the id, and equal to no other id of the
/// conversation (kept or mapped). Deterministic: the same conversation maps
/// the same way in every render.
fn id_map(messages: &[ChatMessage]) -> HashMap<&str, String> {
    let mut all: Vec<&str> = Vec::new();
    for m in messages {
        all.extend(m.tool_calls.iter().flatten().filter_map(call_id));
        all.extend(m.tool_call_id.as_deref());
    }
    let mut taken: HashSet<String> = all.iter().filter(|id| is_mistral_id(id)).map(|id| id.to_string()).collect();
    let mut map: HashMap<&str, String> = HashMap::new();
    for id in all {
        if is_mistral_id(id) || map.contains_key(id) {
            continue;
        }
        let mapped = (0u64..).map(|salt| nine_alphanumerics(id, salt)).find(|c| !taken.contains(c)).expect("an unbounded search over salts ends");
        taken.insert(mapped.clone());
        map.insert(id, mapped);
    }
    map
}

/// 9 letters and digits from a 64-bit FNV-1a hash of `salt` and `id`,
/// mixed by splitmix64's finalizer (62^9 < 2^64, so every digit varies).
fn nine_alphanumerics(id: &str, salt: u64) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.to_le_bytes().iter().chain(id.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    (0..MISTRAL_ID_LEN)
        .map(|_| {
            let c = ALPHABET[(h % 62) as usize] as char;
            h /= 62;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(json: Json) -> Vec<ChatMessage> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn string_arguments_become_objects_and_other_strings_stay() {
        let m = conv(json!([{"role": "assistant", "content": null, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"b\": 1, \"a\": [2]}"}},
            {"id": "b", "type": "function", "function": {"name": "g", "arguments": "not json"}},
            {"id": "c", "type": "function", "function": {"name": "h", "arguments": "[1, 2]"}},
            {"id": "d", "type": "function", "function": {"name": "k", "arguments": {"x": 1}}}
        ]}]));
        let out = prepare(&m, false, true);
        let args: Vec<&Json> = out[0].tool_calls.as_ref().unwrap().iter().map(|c| &c["function"]["arguments"]).collect();
        assert_eq!(args, [&json!({"b": 1, "a": [2]}), &json!("not json"), &json!("[1, 2]"), &json!({"x": 1})]);
        // Key order as written.
        assert_eq!(serde_json::to_string(args[0]).unwrap(), r#"{"b":1,"a":[2]}"#);
        let plain = conv(json!([{"role": "user", "content": "hi"}]));
        assert!(matches!(prepare(&plain, true, true), Cow::Borrowed(_)));
    }

    #[test]
    fn foreign_ids_map_to_nine_alphanumerics_the_same_in_both_places() {
        let m = conv(json!([
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_PTLP8xhu3uwZk4l3nlnrrJha", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "abcDEF123", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_PTLP8xhu3uwZk4l3nlnrrJha", "content": "1"},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": "2"}
        ]));
        let out = prepare(&m, true, true);
        let calls = out[1].tool_calls.as_ref().unwrap();
        let mapped = calls[0]["id"].as_str().unwrap();
        assert!(is_mistral_id(mapped), "{mapped}");
        assert_eq!(out[2].tool_call_id.as_deref(), Some(mapped));
        // A Mistral id is kept as it is.
        assert_eq!(calls[1]["id"], "abcDEF123");
        assert_eq!(out[3].tool_call_id.as_deref(), Some("abcDEF123"));
        // The same in every render; untouched without the rule.
        assert_eq!(prepare(&m, true, true)[1].tool_calls.as_ref().unwrap()[0]["id"], mapped);
        assert_eq!(prepare(&m, false, true)[2].tool_call_id.as_deref(), Some("call_PTLP8xhu3uwZk4l3nlnrrJha"));
    }

    #[test]
    fn mapped_ids_never_collide_within_a_conversation() {
        // An id that is already what another would map to forces the next salt.
        let taken = nine_alphanumerics("call_1", 0);
        let m = conv(json!([
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": taken, "function": {"name": "f", "arguments": "{}"}},
                {"id": "call_1", "function": {"name": "f", "arguments": "{}"}}
            ]},
        ]));
        let out = prepare(&m, true, true);
        let calls = out[0].tool_calls.as_ref().unwrap();
        assert_eq!(calls[0]["id"], json!(taken));
        assert_eq!(calls[1]["id"], json!(nine_alphanumerics("call_1", 1)));
        assert_ne!(calls[0]["id"], calls[1]["id"]);
        // Many ids: all distinct.
        let many: Vec<Json> = (0..2000).map(|i| json!({"id": format!("call_{i}"), "function": {"name": "f", "arguments": "{}"}})).collect();
        let m = conv(json!([{"role": "assistant", "content": null, "tool_calls": many}]));
        let out = prepare(&m, true, true);
        let ids: HashSet<&str> = out[0].tool_calls.as_ref().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2000);
        assert!(ids.iter().all(|id| is_mistral_id(id)));
    }

    #[test]
    fn the_nine_char_rule_is_read_from_the_template() {
        assert!(requires_nine_char_ids("{% if not tool_call.id is defined or tool_call.id|length != 9 %}{% endif %}"));
        assert!(requires_nine_char_ids("{% if message.tool_call_id | length == 9 %}{% endif %}"));
        assert!(requires_nine_char_ids("{% if tc['id']|length != 9 %}{% endif %}"));
        assert!(!requires_nine_char_ids("{% if messages|length != 9 %}{% endif %}"));
        assert!(!requires_nine_char_ids("{# tool_call.id|length != 9 #}{{ 'tool_call.id|length != 9' }}"));
        assert!(!requires_nine_char_ids("{% if tool_call.id|length != 8 %}{% endif %}"));
        let nemo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/templates/tool_formats/mistral-nemo.jinja")).unwrap();
        assert!(requires_nine_char_ids(&nemo));
        let qwen = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/templates/qwen2.5-instruct.jinja")).unwrap();
        assert!(!requires_nine_char_ids(&qwen));
    }
}
