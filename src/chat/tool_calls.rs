//! Tool calls in a model's reply, read back into OpenAI's `tool_calls`.
//!
//! Each model family writes a call its own way; the format is told from the
//! chat template's text, as llama.cpp's `common_chat_templates_apply_jinja`
//! (`common/chat.cpp`) tells it:
//! - [`ToolCallFormat::Hermes`] (Hermes 2/3 Pro, Qwen2.5, Qwen3; the template
//!   holds `<tool_call>`): `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`,
//!   possibly several; text around the calls is content.
//! - [`ToolCallFormat::Llama3`] (Llama 3.1/3.2/3.3; the template holds
//!   `<|start_header_id|>ipython<|end_header_id|>`): the whole reply is
//!   `{"name": "f", "parameters": {...}}` (optionally after `<|python_tag|>`,
//!   optionally `{"type": "function", ...}`); several objects may follow one
//!   another, separated by `;` or whitespace. Llama 3.1's built-in tools
//!   (`<|python_tag|>brave_search.call(query="...")`, raw code) are not
//!   parsed: they stay content.
//! - [`ToolCallFormat::QwenXml`] (Qwen3.5, Qwen3-Coder, Nemotron Nano 3; the
//!   template holds `<tool_call>`, `<function=` and `<parameter=`):
//!   `<tool_call>\n<function=f>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>`,
//!   values typed by the tools' schemas (see [`super::tool_xml`]).
//! - [`ToolCallFormat::Lfm2`] (LFM2, LFM2.5; the template holds
//!   `<|tool_list_start|>` or `List of tools: [`):
//!   `<|tool_call_start|>[f(city="Oslo"), g()]<|tool_call_end|>`, Python
//!   literals read as JSON (see [`super::tool_python`]).
//! - [`ToolCallFormat::Gemma4`] (Gemma 4; the template holds
//!   `'<|tool_call>call:'`): `<|tool_call>call:f{city:<|"|>Oslo<|"|>}<tool_call|>`
//!   (see [`super::tool_gemma4`]).
//! - [`ToolCallFormat::Mistral`] (Mistral v0.3, Nemo, Small 3.x; the template
//!   holds `[TOOL_CALLS]`): `[TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "..."}, ...]`,
//!   or the newer `[TOOL_CALLS]f[ARGS]{...}` / `[TOOL_CALLS]f[CALL_ID]id[ARGS]{...}`
//!   (repeated for several calls).
//!   Text before `[TOOL_CALLS]` is content.
//!
//! A reply whose call text does not parse (broken JSON, a call without a
//! name) comes back whole as content, with no calls, as llama.cpp does.
//! `arguments` is the JSON text of the arguments object (compact,
//! keys in the model's order); an `arguments` the model wrote as a string is
//! kept as written.
//!
//! [`ToolCallStream`] does the same on a stream: text that may be the start
//! of a call is held back until it is decided, so no call markup leaks into
//! the streamed content.

use serde::Serialize;
use serde_json::Value as Json;

use super::tool_history::{is_mistral_id, MISTRAL_ID_LEN};
pub use super::tool_xml::ParamTypes;
use super::tool_gemma4;
use super::tool_markup::split_at_markers;
use super::tool_python;
use super::tool_xml;
use super::tools::{valid_name, ToolChoice};

/// How a model family writes tool calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolCallFormat {
    Hermes,
    Llama3,
    Mistral,
    QwenXml,
    Lfm2,
    Gemma4,
}

const HERMES_OPEN: &str = "<tool_call>";
const HERMES_CLOSE: &str = "</tool_call>";
const PYTHON_TAG: &str = "<|python_tag|>";
const MISTRAL_CALLS: &str = "[TOOL_CALLS]";
const MISTRAL_ARGS: &str = "[ARGS]";
const MISTRAL_CALL_ID: &str = "[CALL_ID]";

impl ToolCallFormat {
    /// The format a chat template's source implies, checked in llama.cpp's order.
    pub fn detect(template: &str) -> Option<Self> {
        // Before Hermes: these templates hold `<tool_call>` too.
        if tool_xml::detect(template) {
            Some(Self::QwenXml)
        } else if tool_python::detect(template) {
            Some(Self::Lfm2)
        } else if tool_gemma4::detect(template) {
            Some(Self::Gemma4)
        } else if template.contains(HERMES_OPEN) {
            Some(Self::Hermes)
        } else if template.contains("<|start_header_id|>ipython<|end_header_id|>") {
            Some(Self::Llama3)
        } else if template.contains(MISTRAL_CALLS) {
            Some(Self::Mistral)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Hermes => "hermes",
            Self::Llama3 => "llama3",
            Self::Mistral => "mistral",
            Self::QwenXml => "qwen3-coder-xml",
            Self::Lfm2 => "lfm2",
            Self::Gemma4 => "gemma4",
        }
    }

    /// Byte offset in `text` where a call (possibly still incomplete)
    /// begins, searching from `from` (a char boundary before which no call
    /// can begin: a stream searches only what it has not sent).
    fn call_start(self, text: &str, from: usize) -> Option<usize> {
        match self {
            Self::Hermes | Self::QwenXml => text[from..].find(HERMES_OPEN).map(|i| from + i),
            Self::Mistral => text[from..].find(MISTRAL_CALLS).map(|i| from + i),
            Self::Lfm2 => text[from..].find(tool_python::OPEN).map(|i| from + i),
            Self::Gemma4 => text[from..].find(tool_gemma4::OPEN).map(|i| from + i),
            Self::Llama3 => {
                let s = text.trim_start();
                (s.starts_with('{') || s.starts_with(PYTHON_TAG)).then_some(0)
            }
        }
    }

    /// How many bytes at the end of `text` (which holds no call start) must
    /// wait, since more text could make them a call's start; trailing
    /// whitespace waits too (content before a call is trimmed at its end).
    fn undecided_tail(self, text: &str) -> usize {
        match self {
            Self::Hermes | Self::QwenXml => marker_tail(text, HERMES_OPEN),
            Self::Mistral => marker_tail(text, MISTRAL_CALLS),
            Self::Lfm2 => marker_tail(text, tool_python::OPEN),
            Self::Gemma4 => marker_tail(text, tool_gemma4::OPEN),
            Self::Llama3 => {
                // Only the very start of a reply can be a call.
                let s = text.trim_start();
                if s.is_empty() || PYTHON_TAG.starts_with(s) {
                    text.len()
                } else {
                    0
                }
            }
        }
    }
}

/// The longest end of `text` that begins `marker` (a proper prefix of it),
/// with the whitespace before it.
fn marker_tail(text: &str, marker: &str) -> usize {
    let partial = (1..marker.len()).rev().find(|&k| text.ends_with(&marker[..k])).unwrap_or(0);
    let rest = &text[..text.len() - partial];
    partial + (rest.len() - rest.trim_end().len())
}

/// One call in OpenAI's shape: `{id, type: "function", function: {name, arguments}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text of the arguments object.
    pub arguments: String,
}

impl Serialize for ToolCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "id": self.id,
            "type": "function",
            "function": { "name": self.name, "arguments": self.arguments },
        })
        .serialize(s)
    }
}

/// A reply split into content and calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedReply {
    /// Text outside the calls; `None` when there is none.
    pub content: Option<String>,
    /// At least one.
    pub calls: Vec<ToolCall>,
}

/// A call as the model wrote it, before it gets an id.
struct RawCall {
    name: String,
    arguments: String,
    /// An id the model wrote (Mistral Nemo writes 9 alphanumerics).
    id: Option<String>,
}

/// Reads the calls out of a whole reply. `None` when the reply holds no call
/// or its call text does not parse (the reply is then plain content).
/// `parallel == false` keeps the first call only.
pub fn parse_tool_calls(format: ToolCallFormat, text: &str, parallel: bool) -> Option<ParsedReply> {
    parse_typed(format, text, parallel, &ParamTypes::default())
}

/// [`parse_tool_calls`] with the request's tool schemas, which type the
/// values of formats that write them as text ([`ToolCallFormat::QwenXml`]).
pub fn parse_typed(format: ToolCallFormat, text: &str, parallel: bool, types: &ParamTypes) -> Option<ParsedReply> {
    let (parts, raw) = match format {
        ToolCallFormat::Hermes => parse_hermes(text)?,
        ToolCallFormat::Llama3 => (Vec::new(), parse_llama3(text)?),
        ToolCallFormat::Mistral => parse_mistral(text)?,
        ToolCallFormat::QwenXml | ToolCallFormat::Lfm2 | ToolCallFormat::Gemma4 => {
            let (parts, calls) = match format {
                ToolCallFormat::Lfm2 => tool_python::parse(text)?,
                ToolCallFormat::Gemma4 => tool_gemma4::parse(text)?,
                _ => tool_xml::parse(text, types)?,
            };
            (parts, calls.into_iter().map(|(name, arguments)| RawCall { name, arguments, id: None }).collect())
        }
    };
    if raw.is_empty() {
        return None;
    }
    let keep = if parallel { raw.len() } else { 1 };
    let calls = raw
        .into_iter()
        .take(keep)
        .map(|c| ToolCall { id: c.id.filter(|id| format == ToolCallFormat::Mistral && is_mistral_id(id)).unwrap_or_else(|| new_call_id(format)), name: c.name, arguments: c.arguments })
        .collect();
    Some(ParsedReply { content: join_content(&parts), calls })
}

/// Content pieces around the calls: the first (streamed before the call was
/// seen) trimmed at its end only, the others on both sides; joined by "\n".
fn join_content(parts: &[&str]) -> Option<String> {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        let p = if i == 0 { p.trim_end() } else { p.trim() };
        if p.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(p);
    }
    (!out.is_empty()).then_some(out)
}

/// One JSON value at the start of `s` (after whitespace): the value and the rest.
fn json_prefix(s: &str) -> Option<(Json, &str)> {
    let s = s.trim_start();
    let mut it = serde_json::Deserializer::from_str(s).into_iter::<Json>();
    let v = it.next()?.ok()?;
    Some((v, &s[it.byte_offset()..]))
}

/// A call object: `name` (a string) and the arguments under one of `keys`
/// (an object, or a string kept as written; absent means `{}`).
fn raw_call(v: &Json, keys: &[&str]) -> Option<RawCall> {
    let o = v.as_object()?;
    let name = o.get("name")?.as_str()?.to_string();
    if name.is_empty() {
        return None;
    }
    let args = keys.iter().find_map(|k| o.get(*k));
    let arguments = match args {
        None => "{}".to_string(),
        Some(Json::Object(_)) => serde_json::to_string(args?).ok()?,
        Some(Json::String(s)) => s.clone(),
        Some(_) => return None,
    };
    let id = o.get("id").and_then(Json::as_str).map(str::to_string);
    Some(RawCall { name, arguments, id })
}

type Split<'a> = (Vec<&'a str>, Vec<RawCall>);

fn parse_hermes(text: &str) -> Option<Split<'_>> {
    split_at_markers(text, HERMES_OPEN, HERMES_CLOSE, |after| {
        let (v, rest) = json_prefix(after)?;
        Some((vec![raw_call(&v, &["arguments", "parameters"])?], rest))
    })
}

fn parse_llama3(text: &str) -> Option<Vec<RawCall>> {
    let s = text.trim_start();
    let mut rest = s.strip_prefix(PYTHON_TAG).unwrap_or(s).trim_start();
    if !rest.starts_with('{') {
        return None;
    }
    let mut calls = Vec::new();
    while !rest.is_empty() {
        let (v, after) = json_prefix(rest)?;
        if !v.is_object() {
            return None;
        }
        calls.push(raw_call(&v, &["parameters", "arguments"])?);
        let after = after.trim_start();
        rest = after.strip_prefix(';').unwrap_or(after).trim_start();
    }
    Some(calls)
}

fn parse_mistral(text: &str) -> Option<Split<'_>> {
    let at = text.find(MISTRAL_CALLS)?;
    let mut parts = vec![&text[..at]];
    let mut calls = Vec::new();
    let mut rest = &text[at + MISTRAL_CALLS.len()..];
    loop {
        let s = rest.trim_start();
        if s.starts_with('[') {
            // [{"name": ..., "arguments": ..., "id": ...}, ...]
            let (v, after) = json_prefix(s)?;
            let list = v.as_array()?;
            if list.is_empty() {
                return None;
            }
            for c in list {
                calls.push(raw_call(c, &["arguments", "parameters"])?);
            }
            rest = after;
        } else {
            // name[ARGS]{...}, or name[CALL_ID]id[ARGS]{...}
            let args_at = s.find(MISTRAL_ARGS)?;
            let (name, id) = match s[..args_at].split_once(MISTRAL_CALL_ID) {
                Some((name, id)) => (name.trim(), Some(id.trim().to_string())),
                None => (s[..args_at].trim(), None),
            };
            if !valid_name(name) {
                return None;
            }
            let (v, after) = json_prefix(&s[args_at + MISTRAL_ARGS.len()..])?;
            let arguments = match &v {
                Json::Object(_) => serde_json::to_string(&v).ok()?,
                _ => return None,
            };
            calls.push(RawCall { name: name.to_string(), arguments, id });
            rest = after;
        }
        match rest.trim_start().strip_prefix(MISTRAL_CALLS) {
            Some(r) => rest = r,
            None => break,
        }
    }
    parts.push(rest);
    Some((parts, calls))
}

/// A fresh call id: `call_` and 24 letters/digits, or for Mistral 9
/// letters/digits (its template takes no other). Unique within a process
/// (a counter) and across runs (the clock), not secret.
pub fn new_call_id(format: ToolCallFormat) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clock = web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut state = clock ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let (prefix, len) = if format == ToolCallFormat::Mistral { ("", MISTRAL_ID_LEN) } else { ("call_", 24) };
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    let mut word = 0u64;
    for i in 0..len {
        if i % 8 == 0 {
            word = splitmix64(&mut state);
        }
        id.push(ALPHABET[(word % ALPHABET.len() as u64) as usize] as char);
        word /= ALPHABET.len() as u64;
    }
    id
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The end of a streamed reply: what is still to be sent as content, and the calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEnd {
    /// Content not sent yet (held back while it might have begun a call).
    pub tail: String,
    /// The whole content (what was sent and `tail`); `None` with calls and no text.
    pub content: Option<String>,
    /// Empty when the reply called nothing (or its call text did not parse).
    pub calls: Vec<ToolCall>,
    /// The one call in `calls` was cut off by the token limit: its arguments
    /// are as far as they got (the finish reason stays `length`).
    pub partial: bool,
}

/// Splits a reply into content and calls as it streams: [`push`](Self::push)
/// each piece of text and send what it returns as content; [`finish`](Self::finish)
/// says the rest. Text that may begin a call (a marker, or part of one at the
/// end of the text so far) is held back; once a call has begun, nothing more
/// is sent until the end, where the calls are parsed from the whole reply.
/// The content sent is always the start of the final content.
#[derive(Debug)]
pub struct ToolCallStream {
    format: ToolCallFormat,
    parallel: bool,
    types: ParamTypes,
    text: String,
    /// Bytes of `text` sent as content.
    sent: usize,
    /// A call has begun: everything from here on waits for the end.
    in_call: bool,
}

impl ToolCallStream {
    pub fn new(format: ToolCallFormat, parallel: bool) -> Self {
        Self { format, parallel, types: ParamTypes::default(), text: String::new(), sent: 0, in_call: false }
    }

    /// The request's tools, whose schemas type the values of formats that
    /// write them as text ([`ToolCallFormat::QwenXml`]).
    pub fn with_tools(mut self, tools: &[Json]) -> Self {
        self.types = ParamTypes::of(tools);
        self
    }

    /// Takes the next piece of the reply; returns the content that can be sent now (maybe empty).
    pub fn push(&mut self, piece: &str) -> String {
        self.text.push_str(piece);
        if self.in_call {
            return String::new();
        }
        // A marker cannot begin in the text sent: any start of one was held back.
        let end = match self.format.call_start(&self.text, self.sent) {
            Some(at) => {
                self.in_call = true;
                self.text[..at].trim_end().len()
            }
            None => self.text.len() - self.format.undecided_tail(&self.text),
        };
        let out = if end > self.sent { self.text[self.sent..end].to_string() } else { String::new() };
        self.sent = self.sent.max(end);
        out
    }

    /// The reply is complete: the rest of the content and the calls.
    /// `cut`: the reply stopped at its token limit (finish reason `length`).
    /// A single call cut off after its name then comes back as OpenAI returns
    /// one: that name with the arguments as far as they got (not valid JSON),
    /// and the text before the call as content; see [`partial_typed`].
    pub fn finish(self, cut: bool) -> StreamEnd {
        let sent = &self.text[..self.sent];
        if self.in_call {
            if let Some(p) = parse_typed(self.format, &self.text, self.parallel, &self.types) {
                let content = p.content.unwrap_or_default();
                // Always true (what was sent precedes the call); checked, not assumed.
                if let Some(tail) = content.strip_prefix(sent) {
                    return StreamEnd { tail: tail.to_string(), content: (!content.is_empty()).then_some(content.clone()), calls: p.calls, partial: false };
                }
            } else if let Some(call) = cut.then(|| partial_typed(self.format, &self.text[self.sent..], &self.types)).flatten() {
                // Nothing after the call's start was sent: the content is what was.
                return StreamEnd { tail: String::new(), content: (!sent.is_empty()).then(|| sent.to_string()), calls: vec![call], partial: true };
            }
        }
        StreamEnd { tail: self.text[self.sent..].to_string(), content: Some(self.text.clone()), calls: Vec::new(), partial: false }
    }
}

/// The one call in `text` (a reply from the start of its call markup on,
/// in `format`) that the token limit cut off: its name, once written whole,
/// and its arguments as written so far (raw text from the arguments' first
/// character, possibly empty; OpenAI likewise returns truncated arguments
/// with finish reason `length`). `None` when the name is not complete or
/// not valid, when the text holds more than one call, or when the arguments
/// come before the name (their keys could then pass for it).
fn partial_typed(format: ToolCallFormat, text: &str, types: &ParamTypes) -> Option<ToolCall> {
    let (name, args) = match format {
        ToolCallFormat::QwenXml | ToolCallFormat::Lfm2 | ToolCallFormat::Gemma4 => {
            let (name, args) = match format {
                ToolCallFormat::Lfm2 => tool_python::partial(text)?,
                ToolCallFormat::Gemma4 => tool_gemma4::partial(text)?,
                _ => tool_xml::partial(text, types)?,
            };
            if !valid_name(&name) {
                return None;
            }
            return Some(ToolCall { id: new_call_id(format), name, arguments: args });
        }
        ToolCallFormat::Hermes => {
            let body = text.trim_start().strip_prefix(HERMES_OPEN)?;
            if body.contains(HERMES_OPEN) {
                return None;
            }
            json_name_and_args(body)?
        }
        ToolCallFormat::Llama3 => {
            let s = text.trim_start();
            json_name_and_args(s.strip_prefix(PYTHON_TAG).unwrap_or(s))?
        }
        ToolCallFormat::Mistral => {
            let body = text.trim_start().strip_prefix(MISTRAL_CALLS)?.trim_start();
            if body.starts_with('[') {
                json_name_and_args(&body[1..])?
            } else {
                // name[ARGS]{..., or name[CALL_ID]id[ARGS]{...
                let at = body.find(MISTRAL_ARGS)?;
                let name = body[..at].split(MISTRAL_CALL_ID).next()?.trim();
                (name.to_string(), body[at + MISTRAL_ARGS.len()..].trim_start())
            }
        }
    };
    if !valid_name(&name) {
        return None;
    }
    Some(ToolCall { id: new_call_id(format), name, arguments: args.trim_end().to_string() })
}

/// From the text of a call object cut off somewhere (`{"name": "f",
/// "arguments": {...`): the name (a whole JSON string) and what follows the
/// arguments key (`arguments` or `parameters`) and its colon. The name must
/// come first; text with a second call object (`}, {` at depth 0, or a second
/// `"name"` key before the arguments) gives `None`.
fn json_name_and_args(text: &str) -> Option<(String, &str)> {
    let s = text.trim_start().strip_prefix('{')?;
    let name_key = s.find("\"name\"")?;
    let args_key = ["\"arguments\"", "\"parameters\""].iter().filter_map(|k| s.find(k).map(|i| (i, k.len()))).min()?;
    if name_key + 6 > args_key.0 || s[name_key + 6..args_key.0].contains("\"name\"") {
        return None;
    }
    let after = s[name_key + 6..].trim_start().strip_prefix(':')?.trim_start();
    // The name as a whole JSON string literal (a prefix of `after`).
    let (v, _) = json_prefix(after)?;
    let name = v.as_str()?.to_string();
    let args = s[args_key.0 + args_key.1..].trim_start().strip_prefix(':')?.trim_start();
    // A second call after the first finished: not one cut call.
    if args.contains("\"name\"") && value_then_more(args) {
        return None;
    }
    Some((name, args))
}

/// Whether `args` holds a whole JSON value followed by more text (the
/// first call ended and another began).
fn value_then_more(args: &str) -> bool {
    json_prefix(args).is_some_and(|(_, rest)| !rest.trim().is_empty())
}

/// Moves `schema`'s `$defs` and `definitions` into `defs` as `<prefix><name>`
/// and rewrites every `$ref` into them (`#/$defs/N…`, `#/definitions/N…`)
/// to `#/$defs/<prefix>N…`, so the schema can sit anywhere below the root
/// that holds `defs`.
fn hoist_defs(schema: &mut Json, prefix: &str, defs: &mut serde_json::Map<String, Json>) {
    fn rewrite(v: &mut Json, prefix: &str) {
        match v {
            Json::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match (k.as_str(), x) {
                        ("$ref", Json::String(r)) => {
                            for root in ["#/$defs/", "#/definitions/"] {
                                if let Some(rest) = r.strip_prefix(root) {
                                    *r = format!("#/$defs/{prefix}{rest}");
                                    break;
                                }
                            }
                        }
                        (_, x) => rewrite(x, prefix),
                    }
                }
            }
            Json::Array(a) => a.iter_mut().for_each(|x| rewrite(x, prefix)),
            _ => {}
        }
    }
    rewrite(schema, prefix);
    if let Json::Object(m) = schema {
        for key in ["$defs", "definitions"] {
            if let Some(Json::Object(d)) = m.remove(key) {
                for (name, def) in d {
                    defs.insert(format!("{prefix}{name}"), def);
                }
            }
        }
    }
}

/// A grammar (llguidance's Lark syntax) that admits exactly a reply calling
/// the tools `tool_choice` asks for, once: `required` any one of them, a named
/// one that function (one call is what `required` asks for; a small model held
/// to "one or more" repeats the same call until max_tokens). Arguments follow
/// each tool's `parameters` schema (any object when it has none). A marker
/// that is one token of the vocabulary (`token_id(marker)`) is written as
/// that token (`<[id]>`), so the model emits the special token it was trained
/// on rather than its spelling; otherwise as text. `None` for `auto`/`none`
/// (nothing is forced).
///
/// Hermes: `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`;
/// Llama 3: `{"name": ..., "parameters": ...}`; Mistral:
/// `[TOOL_CALLS][{"name": ..., "arguments": ..., "id": "<9 alphanumerics>"}]`.
pub fn forced_call_grammar(
    format: ToolCallFormat,
    tools: &[Json],
    choice: &ToolChoice,
    token_id: &dyn Fn(&str) -> Option<u32>,
    spacing: &dyn Fn(&mut Json),
) -> Option<String> {
    let wanted: Vec<&Json> = match choice {
        ToolChoice::Auto | ToolChoice::None => return None,
        ToolChoice::Required => tools.iter().collect(),
        ToolChoice::Function(name) => tools.iter().filter(|t| t["function"]["name"].as_str() == Some(name)).collect(),
    };
    let args_key = if format == ToolCallFormat::Llama3 { "parameters" } else { "arguments" };
    // Each tool's `$defs` / `definitions` move to the root of the call schema
    // (its `#/…` refs would otherwise point at the wrong object once the
    // parameters sit under `arguments`), renamed `<tool>.<def>`.
    let mut defs = serde_json::Map::new();
    let variants: Vec<Json> = wanted
        .iter()
        .map(|t| {
            let f = &t["function"];
            let mut params = match f.get("parameters") {
                Some(p @ Json::Object(_)) => p.clone(),
                _ => serde_json::json!({"type": "object"}),
            };
            hoist_defs(&mut params, &format!("{}.", f["name"].as_str().unwrap_or_default()), &mut defs);
            let mut props = serde_json::Map::new();
            props.insert("name".into(), serde_json::json!({"const": f["name"]}));
            props.insert(args_key.into(), params);
            let mut required = vec!["name", args_key];
            if format == ToolCallFormat::Mistral {
                props.insert("id".into(), serde_json::json!({"type": "string", "pattern": "^[a-zA-Z0-9]{9}$"}));
                required.push("id");
            }
            serde_json::json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
        })
        .collect();
    let mut call_schema = if variants.len() == 1 { variants[0].clone() } else { serde_json::json!({"anyOf": variants}) };
    if format != ToolCallFormat::Mistral {
        if !defs.is_empty() {
            call_schema["$defs"] = Json::Object(defs.clone());
        }
        spacing(&mut call_schema);
    }
    let marker = |m: &str| match token_id(m) {
        Some(id) => format!("<[{id}]>"),
        None => serde_json::to_string(m).unwrap_or_default(),
    };
    let g = match format {
        ToolCallFormat::QwenXml => tool_xml::forced_grammar(&wanted, &marker),
        ToolCallFormat::Lfm2 => tool_python::forced_grammar(&wanted, &marker),
        ToolCallFormat::Gemma4 => tool_gemma4::forced_grammar(&wanted, &marker),
        ToolCallFormat::Hermes => format!(
            "start: tool_call\ntool_call: {} \"\\n\" call \"\\n\" {} \"\\n\"?\ncall: %json {}\n",
            marker(HERMES_OPEN),
            marker(HERMES_CLOSE),
            call_schema
        ),
        ToolCallFormat::Llama3 => format!("start: call\ncall: %json {call_schema}\n"),
        ToolCallFormat::Mistral => {
            let mut list = serde_json::json!({"type": "array", "items": call_schema, "minItems": 1, "maxItems": 1});
            if !defs.is_empty() {
                list["$defs"] = Json::Object(defs);
            }
            spacing(&mut list);
            format!("start: {} calls\ncalls: %json {list}\n", marker(MISTRAL_CALLS))
        }
    };
    Some(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: &str) -> (String, String) {
        (name.to_string(), arguments.to_string())
    }

    fn names_and_args(p: &ParsedReply) -> Vec<(String, String)> {
        p.calls.iter().map(|c| (c.name.clone(), c.arguments.clone())).collect()
    }

    /// Templates of the three families (tests/templates) and one without tools.
    #[test]
    fn formats_are_told_from_the_template() {
        let t = |f: &str| std::fs::read_to_string(format!("{}/tests/templates/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(ToolCallFormat::detect(&t("qwen2.5-instruct.jinja")), Some(ToolCallFormat::Hermes));
        assert_eq!(ToolCallFormat::detect(&t("qwen3.jinja")), Some(ToolCallFormat::Hermes));
        assert_eq!(ToolCallFormat::detect(&t("llama-3.2-tools.jinja")), Some(ToolCallFormat::Llama3));
        assert_eq!(ToolCallFormat::detect(&t("tool_formats/mistral-nemo.jinja")), Some(ToolCallFormat::Mistral));
        assert_eq!(ToolCallFormat::detect(&t("qwen3.5.jinja")), Some(ToolCallFormat::QwenXml));
        assert_eq!(ToolCallFormat::detect(&t("lfm2.5-instruct.jinja")), Some(ToolCallFormat::Lfm2));
        assert_eq!(ToolCallFormat::detect(&t("gemma-4-it.jinja")), Some(ToolCallFormat::Gemma4));
        assert_eq!(ToolCallFormat::detect(&t("smollm2.jinja")), None);
        assert_eq!(ToolCallFormat::detect(&t("mistral-instruct.jinja")), None);
    }

    // Expected values below are written by hand from each family's documented
    // format (Qwen2.5 / Hermes function-calling docs, Meta's Llama 3.1 model
    // card "JSON based tool calling", Mistral's v3 tokenizer docs).

    #[test]
    fn hermes_one_call_with_text_before() {
        let out = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"celsius\"}}\n</tool_call>";
        let p = parse_tool_calls(ToolCallFormat::Hermes, out, true).unwrap();
        assert_eq!(p.content.as_deref(), Some("Let me check."));
        assert_eq!(names_and_args(&p), [call("get_weather", r#"{"city":"Oslo","unit":"celsius"}"#)]);
    }

    #[test]
    fn hermes_several_calls_and_parallel_false() {
        let out = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Europe/Oslo\"}}\n</tool_call>";
        let p = parse_tool_calls(ToolCallFormat::Hermes, out, true).unwrap();
        assert_eq!(p.content, None);
        assert_eq!(names_and_args(&p), [call("get_weather", r#"{"city":"Oslo"}"#), call("get_time", r#"{"tz":"Europe/Oslo"}"#)]);
        let p = parse_tool_calls(ToolCallFormat::Hermes, out, false).unwrap();
        assert_eq!(names_and_args(&p), [call("get_weather", r#"{"city":"Oslo"}"#)]);
    }

    #[test]
    fn hermes_malformed_or_absent_calls_are_content() {
        for out in [
            "Just text, no call.",
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"\n</tool_call>",
            "<tool_call>\n{\"arguments\": {}}\n</tool_call>",
            "<tool_call>\n[1, 2]\n</tool_call>",
            "<tool_call>\n{\"name\": \"f\", \"arguments\": 3}\n</tool_call>",
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {}} trailing\n</tool_call>",
        ] {
            assert_eq!(parse_tool_calls(ToolCallFormat::Hermes, out, true), None, "{out:?}");
        }
        // No closing tag at the very end still counts; a string `arguments` is kept as written.
        let p = parse_tool_calls(ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}\n", true).unwrap();
        assert_eq!(names_and_args(&p), [call("f", r#"{"a": 1}"#)]);
    }

    #[test]
    fn llama3_whole_reply_calls() {
        let p = parse_tool_calls(ToolCallFormat::Llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", true).unwrap();
        assert_eq!((p.content.clone(), names_and_args(&p)), (None, vec![call("get_weather", r#"{"city":"Oslo"}"#)]));
        let p = parse_tool_calls(ToolCallFormat::Llama3, "<|python_tag|>{\"type\": \"function\", \"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}}", true).unwrap();
        assert_eq!(names_and_args(&p), [call("get_time", r#"{"tz":"UTC"}"#)]);
        let p = parse_tool_calls(ToolCallFormat::Llama3, "{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": [1]}}", true).unwrap();
        assert_eq!(names_and_args(&p), [call("a", "{}"), call("b", r#"{"x":[1]}"#)]);
        for out in [
            "The weather is {\"name\": \"x\", \"parameters\": {}}",
            "{\"name\": \"get_weather\", \"parameters\": {\"city\": ",
            "{\"name\": \"a\", \"parameters\": {}} and then text",
            "<|python_tag|>brave_search.call(query=\"Oslo\")",
            "{\"answer\": 42}",
        ] {
            assert_eq!(parse_tool_calls(ToolCallFormat::Llama3, out, true), None, "{out:?}");
        }
    }

    #[test]
    fn mistral_array_and_args_forms() {
        let out = "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}, \"id\": \"a1B2c3D4e\"}, {\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}]";
        let p = parse_tool_calls(ToolCallFormat::Mistral, out, true).unwrap();
        assert_eq!(p.content, None);
        assert_eq!(names_and_args(&p), [call("get_weather", r#"{"city":"Oslo"}"#), call("get_time", r#"{"tz":"UTC"}"#)]);
        assert_eq!(p.calls[0].id, "a1B2c3D4e", "the model's own 9-character id is kept");
        assert!(is_mistral_id(&p.calls[1].id), "{}", p.calls[1].id);
        let out = "Sure.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Oslo\"}[TOOL_CALLS]get_time[ARGS]{\"tz\": \"UTC\"}";
        let p = parse_tool_calls(ToolCallFormat::Mistral, out, true).unwrap();
        assert_eq!(p.content.as_deref(), Some("Sure."));
        assert_eq!(names_and_args(&p), [call("get_weather", r#"{"city":"Oslo"}"#), call("get_time", r#"{"tz":"UTC"}"#)]);
        let p = parse_tool_calls(ToolCallFormat::Mistral, "[TOOL_CALLS]get_time[CALL_ID]Zx9Yw8Vu7[ARGS]{\"tz\": \"UTC\"}", true).unwrap();
        assert_eq!((names_and_args(&p), p.calls[0].id.as_str()), (vec![call("get_time", r#"{"tz":"UTC"}"#)], "Zx9Yw8Vu7"));
        for out in ["[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}", "[TOOL_CALLS][]", "[TOOL_CALLS]bad name[ARGS]{}", "[TOOL_CALLS]f[ARGS][1]"] {
            assert_eq!(parse_tool_calls(ToolCallFormat::Mistral, out, true), None, "{out:?}");
        }
    }

    #[test]
    fn call_ids_are_unique_and_shaped() {
        let ids: Vec<String> = (0..100).map(|_| new_call_id(ToolCallFormat::Hermes)).collect();
        for id in &ids {
            assert!(id.starts_with("call_") && id.len() == 29 && id[5..].bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        assert!(is_mistral_id(&new_call_id(ToolCallFormat::Mistral)));
        let v = serde_json::to_value(ToolCall { id: "call_1".into(), name: "f".into(), arguments: "{}".into() }).unwrap();
        assert_eq!(v, json!({"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}));
    }

    /// A Mistral call id goes back into the conversation as it is: Mistral
    /// Nemo's template raises on any id but 9 characters. A `call_…` id from
    /// another client is mapped to 9 characters before rendering
    /// (chat/tool_history.rs), the same in both places.
    #[test]
    fn mistral_ids_render_in_mistral_nemos_template() {
        let src = std::fs::read_to_string(format!("{}/tests/templates/tool_formats/mistral-nemo.jinja", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let t = super::super::ChatTemplate::new(&src).unwrap();
        let conversation = |id: &str| {
            let json = json!([
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                {"role": "tool", "tool_call_id": id, "content": "12 C"},
            ]);
            serde_json::from_value::<Vec<super::super::ChatMessage>>(json).unwrap()
        };
        let id = new_call_id(ToolCallFormat::Mistral);
        let out = t.render(&conversation(&id), true, "<s>", "</s>").unwrap();
        assert!(out.contains(&format!("\"id\": \"{id}\"}}]</s>[TOOL_RESULTS]")), "{out}");
        let foreign = new_call_id(ToolCallFormat::Hermes);
        let out = t.render(&conversation(&foreign), true, "<s>", "</s>").unwrap();
        assert!(!out.contains(&foreign), "{out}");
    }

    /// Feeds `pieces` through a stream; returns the content sent while
    /// streaming (piece by piece) and the end.
    fn stream(format: ToolCallFormat, pieces: &[&str]) -> (Vec<String>, StreamEnd) {
        let mut s = ToolCallStream::new(format, true);
        let sent = pieces.iter().map(|p| s.push(p)).collect();
        (sent, s.finish(false))
    }

    /// A reply cut by the token limit inside its one call: the call with the
    /// arguments as far as they got, `partial`, the text before it as
    /// content; and the same text not cut (another finish reason) stays
    /// content, as before.
    #[test]
    fn a_call_cut_by_the_token_limit_comes_back_partial() {
        let cases: [(ToolCallFormat, &str, Option<(&str, &str)>); 12] = [
            (ToolCallFormat::Hermes, "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Os", Some(("get_weather", r#"{"city": "Os"#))),
            (ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": ", Some(("get_weather", ""))),
            (ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}", Some(("get_weather", r#"{"city": "Oslo"}"#))),
            // The name not whole yet, or no arguments key yet: nothing to call.
            (ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"get_wea", None),
            (ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"argu", None),
            // Arguments before the name: their keys could pass for it.
            (ToolCallFormat::Hermes, "<tool_call>\n{\"arguments\": {\"name\": \"x\"}, \"name\": \"f", None),
            // A second call begun: not one cut call.
            (ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {\"a", None),
            (ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"bad name\", \"arguments\": {", None),
            (ToolCallFormat::Llama3, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"O", Some(("get_weather", r#"{"city": "O"#))),
            (ToolCallFormat::Mistral, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\"", Some(("get_weather", r#"{"city""#))),
            (ToolCallFormat::Mistral, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Os", Some(("get_weather", r#"{"city": "Os"#))),
            (ToolCallFormat::Mistral, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": {", None),
        ];
        for (format, text, want) in cases {
            let mut st = ToolCallStream::new(format, true);
            let sent = st.push(text);
            let end = st.finish(true);
            match want {
                Some((name, args)) => {
                    assert!(end.partial && end.tail.is_empty(), "{text:?}: {end:?}");
                    assert_eq!(end.calls.len(), 1, "{text:?}");
                    assert_eq!((end.calls[0].name.as_str(), end.calls[0].arguments.as_str()), (name, args), "{text:?}");
                    assert_eq!(end.content.as_deref().unwrap_or(""), sent, "{text:?}: the content is what was sent before the call");
                }
                None => {
                    assert!(!end.partial && end.calls.is_empty(), "{text:?}: {end:?}");
                    assert_eq!(format!("{sent}{}", end.tail), text, "{text:?}: the raw reply, as when not cut");
                }
            }
            let mut st = ToolCallStream::new(format, true);
            let sent = st.push(text);
            let end = st.finish(false);
            assert!(!end.partial && end.calls.is_empty() && format!("{sent}{}", end.tail) == text, "{text:?} not cut: {end:?}");
        }
    }

    #[test]
    fn stream_holds_back_a_marker_split_across_pieces() {
        let (sent, end) = stream(ToolCallFormat::Hermes, &["Checking", " now.\n<tool", "_call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"]);
        assert_eq!(sent, ["Checking", " now.", "", ""]);
        assert_eq!(end.tail, "");
        assert_eq!(end.content.as_deref(), Some("Checking now."));
        assert_eq!(end.calls.len(), 1);
        assert_eq!((end.calls[0].name.as_str(), end.calls[0].arguments.as_str()), ("get_weather", r#"{"city":"Oslo"}"#));
    }

    #[test]
    fn stream_releases_what_turned_out_not_to_be_a_marker() {
        let (sent, end) = stream(ToolCallFormat::Hermes, &["a <to", "y> b "]);
        assert_eq!(sent, ["a", " <toy> b"]);
        assert_eq!(end.tail, " ");
        assert_eq!(end.content.as_deref(), Some("a <toy> b "));
        assert!(end.calls.is_empty());
        // A call that does not parse: everything held comes out at the end, as written.
        let (sent, end) = stream(ToolCallFormat::Hermes, &["Hi ", "<tool_call>{\"name\": ", "oops</tool_call>"]);
        assert_eq!(sent, ["Hi", "", ""]);
        assert_eq!(end.tail, " <tool_call>{\"name\": oops</tool_call>");
        assert!(end.calls.is_empty());
    }

    #[test]
    fn stream_llama3_decides_at_the_start_and_mistral_marker_is_held() {
        let (sent, end) = stream(ToolCallFormat::Llama3, &[" ", "<|python", "_tag|>{\"name\": \"f\",", " \"parameters\": {}}"]);
        assert_eq!(sent, ["", "", "", ""]);
        assert_eq!((end.tail.as_str(), end.content.clone(), end.calls.len()), ("", None, 1));
        let (sent, end) = stream(ToolCallFormat::Llama3, &["", "Hello {", "\"name\": 1}"]);
        assert_eq!(sent, ["", "Hello {", "\"name\": 1}"]);
        assert_eq!((end.tail.as_str(), end.calls.len()), ("", 0));
        let (sent, end) = stream(ToolCallFormat::Llama3, &["{\"not\": ", "\"a call\"}"]);
        assert_eq!(sent, ["", ""]);
        assert_eq!((end.tail.as_str(), end.calls.len()), ("{\"not\": \"a call\"}", 0));
        let (sent, end) = stream(ToolCallFormat::Mistral, &["Ok [TOOL", "_CALLS][{\"name\": \"f\", \"arguments\": {}}]"]);
        assert_eq!(sent, ["Ok", ""]);
        assert_eq!((end.tail.as_str(), end.content.as_deref(), end.calls.len()), ("", Some("Ok"), 1));
    }

    /// However a reply is cut into pieces (each byte split, and one
    /// character at a time), the stream sends exactly the content of the
    /// whole reply (hand-checked above) and the same calls; no piece sent
    /// holds call markup.
    #[test]
    fn stream_equals_the_whole_reply_at_every_split() {
        let cases = [
            (ToolCallFormat::Hermes, "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"),
            (ToolCallFormat::Hermes, "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>"),
            (ToolCallFormat::Hermes, "Ünïcode <tool_call>{\"name\": broken</tool_call> tail "),
            (ToolCallFormat::Hermes, "Plain answer with < and <tool and no call.\n"),
            (ToolCallFormat::Llama3, "  <|python_tag|>{\"name\": \"f\", \"parameters\": {\"x\": \"é\"}}"),
            (ToolCallFormat::Llama3, "<|python is not a tag"),
            (ToolCallFormat::Mistral, "Sure. [TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}]"),
            (ToolCallFormat::Mistral, "[TOOL_CALLS]f[ARGS]{\"a\": 1}[TOOL_CALLS]g[ARGS]{}"),
            (ToolCallFormat::QwenXml, "Let me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>"),
            (ToolCallFormat::QwenXml, "<tool_call>\n<function=f>\n<parameter=x>\n{\"a\": [1]}\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=g>\n</function>\n</tool_call>"),
            (ToolCallFormat::QwenXml, "Text <tool_call>\n<function=broken\n</tool_call> tail"),
            (ToolCallFormat::Lfm2, "Sure.<|tool_call_start|>[f(x='<|tool_call_start|>'), g(y=[1, {\"z\": None}])]<|tool_call_end|>"),
            (ToolCallFormat::Lfm2, "Plain <|tool answer"),
            (ToolCallFormat::Gemma4, "Sure.<|tool_call>call:f{x:<|\"|>a<|\"|>}<tool_call|><|tool_call>call:g{}<tool_call|>"),
        ];
        for (format, text) in cases {
            let whole = parse_tool_calls(format, text, true);
            let want_content = match &whole {
                Some(p) => p.content.clone().unwrap_or_default(),
                None => text.to_string(),
            };
            let want_calls: Vec<(String, String)> = whole.as_ref().map(names_and_args).unwrap_or_default();
            let mut splits: Vec<Vec<&str>> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).map(|i| vec![&text[..i], &text[i..]]).collect();
            splits.push(text.char_indices().map(|(i, c)| &text[i..i + c.len_utf8()]).collect());
            for pieces in splits {
                let (sent, end) = stream(format, &pieces);
                let streamed = sent.concat() + &end.tail;
                assert_eq!(streamed, want_content, "{format:?} {pieces:?}");
                assert_eq!(end.calls.iter().map(|c| (c.name.clone(), c.arguments.clone())).collect::<Vec<_>>(), want_calls, "{pieces:?}");
                if whole.is_some() {
                    assert!(!streamed.contains("<tool_call>") && !streamed.contains("[TOOL_CALLS]") && !streamed.contains('{') && !streamed.contains("<function="), "{pieces:?}: {streamed:?}");
                }
            }
        }
    }

    #[test]
    fn forced_grammars_hoist_each_tools_defs_to_the_root() {
        // As pydantic / zod write parameters: the refs point at the parameters' own root.
        let city = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        let tools = vec![json!({"type": "function", "function": {"name": "get_weather", "parameters": {
            "$defs": {"City": city}, "type": "object", "properties": {"city": {"$ref": "#/$defs/City"}, "near": {"$ref": "#/definitions/City/properties/name"}},
            "definitions": {"City": city}}}})];
        let g = forced_call_grammar(ToolCallFormat::Llama3, &tools, &ToolChoice::Required, &|_| None, &|_: &mut Json| {}).unwrap();
        let schema: Json = serde_json::from_str(g.strip_prefix("start: call\ncall: %json ").unwrap().trim_end()).unwrap();
        assert_eq!(schema["$defs"]["get_weather.City"], city);
        let params = &schema["properties"]["parameters"];
        assert_eq!(params["properties"]["city"]["$ref"], "#/$defs/get_weather.City");
        assert_eq!(params["properties"]["near"]["$ref"], "#/$defs/get_weather.City/properties/name");
        assert!(params.get("$defs").is_none() && params.get("definitions").is_none(), "{params}");
    }

    #[test]
    fn forced_grammars_by_family() {
        let tools = vec![
            json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}),
            json!({"type": "function", "function": {"name": "now"}}),
        ];
        let ids = |m: &str| match m {
            "<tool_call>" => Some(151657),
            "</tool_call>" => Some(151658),
            _ => None,
        };
        let named = ToolChoice::Function("get_weather".into());
        // Spacing options are the constraint module's business: none here.
        let none = |_: &mut Json| {};
        assert_eq!(forced_call_grammar(ToolCallFormat::Hermes, &tools, &ToolChoice::Auto, &ids, &none), None);
        assert_eq!(
            forced_call_grammar(ToolCallFormat::Hermes, &tools, &named, &ids, &none).unwrap(),
            "start: tool_call\ntool_call: <[151657]> \"\\n\" call \"\\n\" <[151658]> \"\\n\"?\ncall: %json {\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"get_weather\"},\"arguments\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}},\"required\":[\"name\",\"arguments\"],\"additionalProperties\":false}\n"
        );
        assert_eq!(
            forced_call_grammar(ToolCallFormat::Llama3, &tools[1..], &ToolChoice::Required, &ids, &none).unwrap(),
            "start: call\ncall: %json {\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"now\"},\"parameters\":{\"type\":\"object\"}},\"required\":[\"name\",\"parameters\"],\"additionalProperties\":false}\n"
        );
        let g = forced_call_grammar(ToolCallFormat::Mistral, &tools, &ToolChoice::Required, &|_| None, &none).unwrap();
        assert!(g.starts_with("start: \"[TOOL_CALLS]\" calls\ncalls: %json {\"type\":\"array\",\"items\":{\"anyOf\":["), "{g}");
        assert!(g.contains("\"id\":{\"type\":\"string\",\"pattern\":\"^[a-zA-Z0-9]{9}$\"}") && g.contains("\"minItems\":1") && g.contains("\"maxItems\":1"), "{g}");
    }
}
