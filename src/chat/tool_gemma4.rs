//! Gemma 4's tool calls (llama.cpp `common/parsers/gemma4.cpp` and
//! `gemma4_to_json` in `common/chat-peg-parser.cpp`; the template holds
//! `'<|tool_call>call:'`):
//!
//! ```text
//! <|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:3}<tool_call|>
//! ```
//!
//! One call per `<|tool_call>…<tool_call|>`. The arguments are a dict whose
//! keys are bare (any text up to `:`), strings are quoted by the `<|"|>`
//! token, numbers, `true`/`false`/`null` are JSON's, and dicts and lists
//! nest.

use serde_json::Value as Json;

use super::tool_markup::{param_sequence, split_at_markers};
use super::tools::valid_name;

pub(super) const OPEN: &str = "<|tool_call>";
pub(super) const CLOSE: &str = "<tool_call|>";
const CALL: &str = "call:";
const QUOTE: &str = "<|\"|>";

/// Whether a template's source asks for this format (llama.cpp's test).
pub(super) fn detect(template: &str) -> bool {
    template.contains("'<|tool_call>call:'")
}

/// Deepest nesting of dicts and lists read in one value.
const MAX_DEPTH: u32 = 64;

/// One value at the start of `s` (after whitespace): the value and the rest.
fn value(s: &str, depth: u32) -> Option<(Json, &str)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let s = s.trim_start();
    if let Some(r) = s.strip_prefix(QUOTE) {
        let end = r.find(QUOTE)?;
        return Some((Json::String(r[..end].to_string()), &r[end + QUOTE.len()..]));
    }
    if let Some(r) = s.strip_prefix('{') {
        return dict(r, depth + 1).map(|(m, rest)| (Json::Object(m), rest));
    }
    if let Some(mut r) = s.strip_prefix('[') {
        let mut items = Vec::new();
        loop {
            r = r.trim_start();
            if let Some(after) = r.strip_prefix(']') {
                return Some((Json::Array(items), after));
            }
            if !items.is_empty() {
                r = r.strip_prefix(',')?;
            }
            let (v, after) = value(r, depth + 1)?;
            items.push(v);
            r = after;
        }
    }
    // A JSON number, boolean or null.
    let n = s.find(|c: char| matches!(c, ',' | '}' | ']') || c.is_whitespace()).unwrap_or(s.len());
    let v: Json = serde_json::from_str(&s[..n]).ok()?;
    (v.is_number() || v.is_boolean() || v.is_null()).then_some((v, &s[n..]))
}

/// The members of a dict after its `{`, up to and past its `}`.
fn dict(mut r: &str, depth: u32) -> Option<(serde_json::Map<String, Json>, &str)> {
    let mut map = serde_json::Map::new();
    loop {
        r = r.trim_start();
        if let Some(after) = r.strip_prefix('}') {
            return Some((map, after));
        }
        if !map.is_empty() {
            r = r.strip_prefix(',')?.trim_start();
        }
        // A key is bare text up to `:` (the template writes argument keys so),
        // or quoted (as it writes the keys of nested dicts).
        let (key, after) = match r.strip_prefix(QUOTE) {
            Some(q) => {
                let end = q.find(QUOTE)?;
                (q[..end].to_string(), q[end + QUOTE.len()..].trim_start().strip_prefix(':')?)
            }
            None => {
                let colon = r.find(':')?;
                let key = r[..colon].trim();
                if key.is_empty() || key.contains('}') {
                    return None;
                }
                (key.to_string(), &r[colon + 1..])
            }
        };
        if map.contains_key(&key) {
            return None;
        }
        let (v, after) = value(after, depth)?;
        map.insert(key, v);
        r = after;
    }
}

/// `call:NAME{…}` (the text after `<|tool_call>`): name, arguments as JSON
/// text, and the rest after the dict.
fn call(text: &str) -> Option<(String, String, &str)> {
    let s = text.trim_start().strip_prefix(CALL)?;
    let brace = s.find('{')?;
    let name = &s[..brace];
    if !valid_name(name) {
        return None;
    }
    let (args, rest) = dict(&s[brace + 1..], 0)?;
    Some((name.to_string(), serde_json::to_string(&Json::Object(args)).ok()?, rest))
}

/// Content pieces and (name, arguments) calls of a whole reply; `None` when it
/// holds no call or a call does not parse.
pub(super) fn parse(text: &str) -> Option<(Vec<&str>, Vec<(String, String)>)> {
    split_at_markers(text, OPEN, CLOSE, |after| call(after).map(|(name, args, rest)| (vec![(name, args)], rest)))
}

/// The name of one call cut off by the token limit (`text` from
/// `<|tool_call>` on) and its arguments so far, raw (from after `{`), as
/// OpenAI returns truncated arguments. `None` before `call:NAME{` is
/// written or with a second call.
pub(super) fn partial(text: &str) -> Option<(String, String)> {
    let body = text.trim_start().strip_prefix(OPEN)?;
    if body.contains(OPEN) {
        return None;
    }
    let s = body.trim_start().strip_prefix(CALL)?;
    let brace = s.find('{')?;
    Some((s[..brace].to_string(), s[brace + 1..].trim_end().to_string()))
}

/// Lark (llguidance) rules admitting one call of one of `wanted`:
/// `<|tool_call>call:NAME{key:value,…}<tool_call|>`, each parameter the
/// schema lists in its order (the required ones always, the others
/// optionally). A value that can only be a string is `<|"|>`text`<|"|>`
/// (text without `<|`); a number, integer, boolean or null one is JSON by
/// its schema; any other value is any Gemma 4 value (llama.cpp constrains
/// none of them by schema yet).
pub(super) fn forced_grammar(wanted: &[&Json], marker: &dyn Fn(&str) -> String) -> String {
    let lit = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let quote = marker(QUOTE);
    let mut g = format!("start: {} {} call {}\n", marker(OPEN), lit(CALL), marker(CLOSE));
    let calls: Vec<String> = (0..wanted.len()).map(|i| format!("call_{i}")).collect();
    g.push_str(&format!("call: {}\n", calls.join(" | ")));
    g.push_str(&format!("string: {quote} TEXT {quote}\nTEXT: /([^<]|<[^|])*/\n"));
    g.push_str("value: string | dict | list | %json {\"type\": [\"number\", \"boolean\", \"null\"]}\n");
    g.push_str("KEY: /[A-Za-z_][A-Za-z0-9_]*/\n");
    g.push_str("member: (KEY | string) \":\" value\n");
    g.push_str("dict: \"{\" (member (\",\" member)*)? \"}\"\n");
    g.push_str("list: \"[\" (value (\",\" value)*)? \"]\"\n");
    for (i, t) in wanted.iter().enumerate() {
        let f = &t["function"];
        let name = f["name"].as_str().unwrap_or_default();
        let params = &f["parameters"];
        let required: Vec<&str> = params["required"].as_array().map(|r| r.iter().filter_map(Json::as_str).collect()).unwrap_or_default();
        let props: Vec<(&String, &Json)> = params["properties"].as_object().map(|p| p.iter().collect()).unwrap_or_default();
        let (req, opt): (Vec<_>, Vec<_>) = props.into_iter().partition(|(k, _)| required.contains(&k.as_str()));
        let mut rules = Vec::new();
        for (j, (key, schema)) in req.iter().chain(opt.iter()).enumerate() {
            let rule = format!("call_{i}_p{j}");
            let v = match schema_kind(schema) {
                Kind::String => "string".to_string(),
                Kind::Choices(c) => format!("{quote} ({}) {quote}", c.iter().map(|c| lit(c)).collect::<Vec<_>>().join(" | ")),
                Kind::Scalar => format!("%json {schema}"),
                Kind::Any => "value".to_string(),
            };
            g.push_str(&format!("{rule}: {} {v}\n", lit(&format!("{key}:"))));
            rules.push(rule);
        }
        let (req_rules, opt_rules) = rules.split_at(req.len());
        let mut seq = vec![lit(&format!("{name}{{"))];
        seq.extend(param_sequence(req_rules, opt_rules, "\",\""));
        seq.push(lit("}"));
        g.push_str(&format!("call_{i}: {}\n", seq.join(" ")));
    }
    g
}

enum Kind<'a> {
    /// Only ever a string.
    String,
    /// One of these strings (`enum`).
    Choices(Vec<&'a str>),
    /// Only numbers, integers, booleans or null: JSON is Gemma 4's form.
    Scalar,
    Any,
}

fn schema_kind(schema: &Json) -> Kind<'_> {
    if let Some(values) = schema.get("enum").and_then(Json::as_array) {
        let strings: Vec<&str> = values.iter().filter_map(Json::as_str).collect();
        if !strings.is_empty() && strings.len() == values.len() {
            return Kind::Choices(strings);
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(list)) => list.iter().filter_map(Json::as_str).collect(),
        _ => return Kind::Any,
    };
    if types == ["string"] && schema.get("enum").is_none() {
        Kind::String
    } else if !types.is_empty() && types.iter().all(|t| matches!(*t, "number" | "integer" | "boolean" | "null")) {
        Kind::Scalar
    } else {
        Kind::Any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detected_by_its_call_prefix() {
        let t = |f: &str| std::fs::read_to_string(format!("{}/tests/templates/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(detect(&t("gemma-4-it.jinja")));
        assert!(!detect(&t("gemma3.jinja")));
    }

    // Expected values written by hand from the form Gemma 4's template
    // writes earlier calls in (`format_argument`).
    #[test]
    fn values_become_json() {
        let reply = "Let me look.<|tool_call>call:get_weather{city:<|\"|>Paris, \"FR\"<|\"|>,days:3,metric:true,note:null,tags:[<|\"|>a<|\"|>,1.5],box:{<|\"|>w<|\"|>:-2}}<tool_call|>";
        let (parts, calls) = parse(reply).unwrap();
        assert_eq!(parts, ["Let me look.", ""]);
        assert_eq!(calls, [("get_weather".to_string(), r#"{"city":"Paris, \"FR\"","days":3,"metric":true,"note":null,"tags":["a",1.5],"box":{"w":-2}}"#.to_string())]);
        let two = "<|tool_call>call:a{}<tool_call|><|tool_call>call:b{x:1}<tool_call|>";
        assert_eq!(parse(two).unwrap().1, [("a".to_string(), "{}".to_string()), ("b".to_string(), r#"{"x":1}"#.to_string())]);
        for broken in [
            "no call",
            "<|tool_call>get_weather{}<tool_call|>",
            "<|tool_call>call:get_weather{city:Paris}<tool_call|>",
            "<|tool_call>call:get_weather{city:<|\"|>Paris}<tool_call|>",
            "<|tool_call>call:a{x:1,x:2}<tool_call|>",
            "<|tool_call>call:a b{}<tool_call|>",
            "<|tool_call>call:a{} trailing<tool_call|>",
        ] {
            assert_eq!(parse(broken), None, "{broken:?}");
        }
        let deep = format!("<|tool_call>call:a{{x:{}{}}}<tool_call|>", "[".repeat(100), "]".repeat(100));
        assert_eq!(parse(&deep), None, "nesting past MAX_DEPTH");
    }

    #[test]
    fn a_cut_call_keeps_its_raw_arguments() {
        assert_eq!(partial("<|tool_call>call:get_weather{city:<|\"|>Par"), Some(("get_weather".to_string(), "city:<|\"|>Par".to_string())));
        assert_eq!(partial("<|tool_call>call:get_wea"), None);
    }

    #[test]
    fn forced_grammar_lists_each_parameter() {
        let tools = vec![json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
            "units": {"enum": ["c", "f"]}, "city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"]}}})];
        let g = forced_grammar(&tools.iter().collect::<Vec<_>>(), &|m| format!("{m:?}"));
        assert!(g.starts_with("start: \"<|tool_call>\" \"call:\" call \"<tool_call|>\"\n"), "{g}");
        assert!(g.contains("call_0_p0: \"city:\" string\n") && g.contains("call_0_p1: \"days:\" %json {\"type\":\"integer\"}\n") && g.contains("call_0_p2: \"units:\" \"<|\\\"|>\" (\"c\" | \"f\") \"<|\\\"|>\"\n"), "{g}");
        assert!(g.ends_with("call_0: \"get_weather{\" call_0_p0 \",\" call_0_p1 (\",\" call_0_p2)? \"}\"\n"), "{g}");
    }
}
