//! The XML tool-call format of Qwen3-Coder, Qwen3.5 and Nemotron Nano 3
//! (llama.cpp `common/parsers/qwen3-coder.cpp`; the template holds
//! `<tool_call>`, `<function=` and `<parameter=`):
//!
//! ```text
//! <tool_call>
//! <function=get_weather>
//! <parameter=city>
//! Paris
//! </parameter>
//! </function>
//! </tool_call>
//! ```
//!
//! A parameter's value is raw text between `<parameter=NAME>\n` and
//! `\n</parameter>`. It becomes a JSON value by the tool's schema, as
//! llama.cpp types it: a parameter that cannot be a string is read as JSON; one
//! that can only be a string stays the text; one that may be either is read as
//! JSON when the text is a JSON value of an allowed type, else kept as text. A
//! parameter the schema does not name (or a request without schemas) is read
//! as JSON when it parses, else text.

use std::collections::HashMap;

use serde_json::Value as Json;

use super::tool_markup::split_at_markers;
use super::tools::valid_name;

pub(super) const OPEN: &str = "<tool_call>";
pub(super) const CLOSE: &str = "</tool_call>";
const FUNCTION: &str = "<function=";
const FUNCTION_CLOSE: &str = "</function>";
const PARAMETER: &str = "<parameter=";
const PARAMETER_CLOSE: &str = "</parameter>";

/// Whether a template's source asks for this format (llama.cpp's test in
/// `common_chat_templates_apply_jinja`, including its exclusion of templates
/// that write the tags with no newline between them).
pub(super) fn detect(template: &str) -> bool {
    template.contains(OPEN) && template.contains(FUNCTION) && template.contains(PARAMETER) && !template.contains("'<tool_call><function=' ~ tool_call.name ~ '>'")
}

/// JSON types a parameter's schema allows (`type`, `enum`/`const` values,
/// `anyOf`/`oneOf` branches; a schema that says none allows all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Types {
    string: bool,
    other: bool,
}

impl Types {
    const ANY: Types = Types { string: true, other: true };

    fn of(schema: &Json, depth: u32) -> Types {
        let Some(o) = schema.as_object() else { return Types::ANY };
        if depth > 16 {
            return Types::ANY;
        }
        let mut t = Types::default();
        let mut said = false;
        let add = |name: &str, t: &mut Types| {
            if name == "string" {
                t.string = true
            } else {
                t.other = true
            }
        };
        match o.get("type") {
            Some(Json::String(s)) => {
                said = true;
                add(s, &mut t);
            }
            Some(Json::Array(list)) => {
                said = true;
                list.iter().filter_map(Json::as_str).for_each(|s| add(s, &mut t));
            }
            _ => {}
        }
        let values = o.get("enum").and_then(Json::as_array).map(|v| v.iter().collect::<Vec<_>>()).or_else(|| o.get("const").map(|c| vec![c]));
        if let (false, Some(values)) = (said, values) {
            said = true;
            for v in values {
                if v.is_string() {
                    t.string = true
                } else {
                    t.other = true
                }
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let (false, Some(Json::Array(branches))) = (said, o.get(key)) {
                said = true;
                for b in branches {
                    let bt = Types::of(b, depth + 1);
                    t.string |= bt.string;
                    t.other |= bt.other;
                }
            }
        }
        if said {
            t
        } else {
            Types::ANY
        }
    }
}

/// Each tool's parameters' types, by tool name then parameter name.
#[derive(Clone, Debug, Default)]
pub struct ParamTypes(HashMap<String, HashMap<String, Types>>);

impl ParamTypes {
    /// From a request's tools (OpenAI's `{type: "function", function: {name, parameters}}`).
    pub fn of(tools: &[Json]) -> Self {
        let mut all = HashMap::new();
        for t in tools {
            let f = &t["function"];
            let Some(name) = f["name"].as_str() else { continue };
            let props = f["parameters"]["properties"].as_object();
            let types = props.map(|p| p.iter().map(|(k, s)| (k.clone(), Types::of(s, 0))).collect()).unwrap_or_default();
            all.insert(name.to_string(), types);
        }
        Self(all)
    }

    fn get(&self, tool: &str, param: &str) -> Types {
        self.0.get(tool).and_then(|p| p.get(param)).copied().unwrap_or(Types::ANY)
    }
}

/// A parameter's text as a JSON value, by its types (see the module doc).
fn typed(text: &str, types: Types) -> Json {
    if types.other {
        if let Ok(v) = serde_json::from_str::<Json>(text.trim()) {
            if !v.is_string() || types.string {
                return v;
            }
        }
    }
    Json::String(text.to_string())
}

/// One call: `<function=NAME>\n` parameters `</function>` (the text after
/// `<tool_call>`). Returns the name, the arguments as JSON text, and the
/// rest after `</function>`.
fn parse_call<'a>(text: &'a str, types: &ParamTypes) -> Option<(String, String, &'a str)> {
    let s = text.trim_start().strip_prefix(FUNCTION)?;
    let gt = s.find('>')?;
    let name = s[..gt].trim();
    if !valid_name(name) {
        return None;
    }
    let mut rest = &s[gt + 1..];
    let mut args = serde_json::Map::new();
    loop {
        let r = rest.trim_start();
        if let Some(after) = r.strip_prefix(FUNCTION_CLOSE) {
            rest = after;
            break;
        }
        let p = r.strip_prefix(PARAMETER)?;
        let gt = p.find('>')?;
        let key = p[..gt].trim();
        let body = &p[gt + 1..];
        let end = body.find(PARAMETER_CLOSE)?;
        // The newline after the opening tag and the one before the closing one are the format's.
        let value = body[..end].strip_prefix('\n').unwrap_or(&body[..end]);
        let value = value.strip_suffix('\n').unwrap_or(value);
        if key.is_empty() || args.contains_key(key) {
            return None;
        }
        args.insert(key.to_string(), typed(value, types.get(name, key)));
        rest = &body[end + PARAMETER_CLOSE.len()..];
    }
    Some((name.to_string(), serde_json::to_string(&Json::Object(args)).ok()?, rest))
}

/// Content pieces and (name, arguments) calls of a whole reply; `None` when it
/// holds no call or a call does not parse.
pub(super) fn parse<'a>(text: &'a str, types: &ParamTypes) -> Option<(Vec<&'a str>, Vec<(String, String)>)> {
    split_at_markers(text, OPEN, CLOSE, |after| parse_call(after, types).map(|(name, args, rest)| (vec![(name, args)], rest)))
}

/// The name and the arguments so far of one call cut off by the token limit
/// (`text` from `<tool_call>` on): the complete parameters as a JSON object
/// left open (`{"city":"Paris"`), as OpenAI returns truncated arguments.
/// `None` before the name is whole or with a second call.
pub(super) fn partial(text: &str, types: &ParamTypes) -> Option<(String, String)> {
    let body = text.trim_start().strip_prefix(OPEN)?;
    if body.contains(OPEN) {
        return None;
    }
    let s = body.trim_start().strip_prefix(FUNCTION)?;
    let gt = s.find('>')?;
    let name = s[..gt].trim().to_string();
    let mut args = serde_json::Map::new();
    let mut rest = &s[gt + 1..];
    while let Some(p) = rest.trim_start().strip_prefix(PARAMETER) {
        let Some(gt) = p.find('>') else { break };
        let body = &p[gt + 1..];
        let Some(end) = body.find(PARAMETER_CLOSE) else { break };
        let value = body[..end].strip_prefix('\n').unwrap_or(&body[..end]);
        let value = value.strip_suffix('\n').unwrap_or(value);
        let key = p[..gt].trim();
        args.insert(key.to_string(), typed(value, types.get(&name, key)));
        rest = &body[end + PARAMETER_CLOSE.len()..];
    }
    let whole = serde_json::to_string(&Json::Object(args)).ok()?;
    Some((name, whole[..whole.len() - 1].to_string()))
}

/// Lark (llguidance) rules admitting one call of one of `wanted` in this
/// format: `start` is `<tool_call>\n<function=NAME>\n` parameters
/// `</function>\n</tool_call>`. Each parameter the schema lists comes in the
/// schema's order, the required ones always, the others optionally; a value
/// that cannot be a string is JSON following its schema (`%json`), other
/// values are text without `</p` (the closing tag could not be told from the
/// text otherwise). `marker` writes a marker as its token where it is one.
pub(super) fn forced_grammar(wanted: &[&Json], marker: &dyn Fn(&str) -> String) -> String {
    let lit = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut g = format!("start: {} \"\\n\" call {} \"\\n\"?\n", marker(OPEN), marker(CLOSE));
    let calls: Vec<String> = (0..wanted.len()).map(|i| format!("call_{i}")).collect();
    g.push_str(&format!("call: {}\n", calls.join(" | ")));
    g.push_str("TEXT: /([^<]|<[^\\/]|<\\/[^p])*/\n");
    for (i, t) in wanted.iter().enumerate() {
        let f = &t["function"];
        let name = f["name"].as_str().unwrap_or_default();
        let params = &f["parameters"];
        let required: Vec<&str> = params["required"].as_array().map(|r| r.iter().filter_map(Json::as_str).collect()).unwrap_or_default();
        let mut seq = vec![lit(&format!("{FUNCTION}{name}>\n"))];
        if let Some(props) = params["properties"].as_object() {
            for (j, (key, schema)) in props.iter().enumerate() {
                let rule = format!("call_{i}_p{j}");
                let value = match string_choices(schema) {
                    Some(choices) => format!("({})", choices.iter().map(|c| lit(c)).collect::<Vec<_>>().join(" | ")),
                    None if Types::of(schema, 0).string => "TEXT".to_string(),
                    None => format!("%json {schema}"),
                };
                g.push_str(&format!("{rule}: {} {value} {}\n", lit(&format!("{PARAMETER}{key}>\n")), lit(&format!("\n{PARAMETER_CLOSE}\n"))));
                seq.push(if required.contains(&key.as_str()) { rule } else { format!("{rule}?") });
            }
        }
        seq.push(lit(&format!("{FUNCTION_CLOSE}\n")));
        g.push_str(&format!("call_{i}: {}\n", seq.join(" ")));
    }
    g
}

/// The values of a parameter that can only be one of some strings (an
/// `enum` or `const` of strings), written as they are: the text of a string value.
fn string_choices(schema: &Json) -> Option<Vec<&str>> {
    let values: Vec<&Json> = match (schema.get("enum"), schema.get("const")) {
        (Some(Json::Array(v)), _) => v.iter().collect(),
        (None, Some(c)) => vec![c],
        _ => return None,
    };
    let strings: Vec<&str> = values.iter().filter_map(|v| v.as_str()).collect();
    (!strings.is_empty() && strings.len() == values.len()).then_some(strings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn weather() -> Vec<Json> {
        vec![json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}, "units": {"enum": ["c", "f"]}, "note": {"type": ["string", "null"]}, "tags": {}
        }, "required": ["city"]}}})]
    }

    #[test]
    fn detected_by_its_three_tags() {
        let t = |f: &str| std::fs::read_to_string(format!("{}/tests/templates/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(detect(&t("qwen3.5.jinja")));
        assert!(!detect(&t("qwen2.5-instruct.jinja")), "Hermes JSON calls, not XML");
    }

    // Expected values written by hand from the format Qwen3.5's template asks the model for.
    #[test]
    fn values_are_typed_by_the_schema() {
        let types = ParamTypes::of(&weather());
        let reply = "I'll look.\n<tool_call>\n<function=get_weather>\n<parameter=city>\n02139\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=units>\nc\n</parameter>\n<parameter=note>\nnull\n</parameter>\n<parameter=tags>\n[\"a\", 1]\n</parameter>\n</function>\n</tool_call>";
        let (parts, calls) = parse(reply, &types).unwrap();
        assert_eq!(parts, ["I'll look.\n", ""]);
        assert_eq!(calls, [("get_weather".to_string(), r#"{"city":"02139","days":3,"units":"c","note":null,"tags":["a",1]}"#.to_string())]);
        // A string-only parameter keeps JSON-looking text as text; multi-line text keeps its inner newlines.
        let reply = "<tool_call>\n<function=get_weather>\n<parameter=city>\n42\n</parameter>\n<parameter=note>\nline 1\nline 2\n</parameter>\n</function>\n</tool_call>";
        assert_eq!(parse(reply, &types).unwrap().1[0].1, r#"{"city":"42","note":"line 1\nline 2"}"#);
        // Without schemas: JSON when it parses, else text.
        assert_eq!(parse(reply, &ParamTypes::default()).unwrap().1[0].1, r#"{"city":42,"note":"line 1\nline 2"}"#);
    }

    #[test]
    fn several_calls_and_broken_ones() {
        let types = ParamTypes::default();
        let two = "<tool_call>\n<function=a>\n</function>\n</tool_call>\n<tool_call>\n<function=b>\n<parameter=x>\n1\n</parameter>\n</function>\n</tool_call>";
        assert_eq!(parse(two, &types).unwrap().1, [("a".to_string(), "{}".to_string()), ("b".to_string(), r#"{"x":1}"#.to_string())]);
        // The closing tag cut by the end of the reply still counts.
        assert!(parse("<tool_call>\n<function=a>\n</function>\n", &types).is_some());
        for broken in [
            "no call at all",
            "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>",
            "<tool_call>\n<function=a>\n<parameter=x>\n1\n</function>\n</tool_call>",
            "<tool_call>\n<function=a b>\n</function>\n</tool_call>",
            "<tool_call>\n<function=a>\n<parameter=x>\n1\n</parameter>\n<parameter=x>\n2\n</parameter>\n</function>\n</tool_call>",
            "<tool_call>\n<function=a>\n</function>\ntrailing\n</tool_call>",
        ] {
            assert_eq!(parse(broken, &types), None, "{broken:?}");
        }
    }

    #[test]
    fn a_cut_call_keeps_its_complete_parameters() {
        let types = ParamTypes::of(&weather());
        let cut = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3";
        assert_eq!(partial(cut, &types), Some(("get_weather".to_string(), r#"{"city":"Paris""#.to_string())));
        assert_eq!(partial("<tool_call>\n<function=get_wea", &types), None);
    }

    #[test]
    fn forced_grammar_lists_each_parameter() {
        let tools = weather();
        let wanted: Vec<&Json> = tools.iter().collect();
        let g = forced_grammar(&wanted, &|m| format!("{m:?}"));
        assert!(g.starts_with("start: \"<tool_call>\" \"\\n\" call \"</tool_call>\" \"\\n\"?\ncall: call_0\n"), "{g}");
        assert!(g.contains("call_0_p0: \"<parameter=city>\\n\" TEXT \"\\n</parameter>\\n\"\n"), "{g}");
        assert!(g.contains("call_0_p1: \"<parameter=days>\\n\" %json {\"type\":\"integer\"} \"\\n</parameter>\\n\"\n"), "{g}");
        assert!(g.contains("call_0_p2: \"<parameter=units>\\n\" (\"c\" | \"f\") \"\\n</parameter>\\n\"\n"), "{g}");
        assert!(g.contains("call_0: \"<function=get_weather>\\n\" call_0_p0 call_0_p1? call_0_p2? call_0_p3? call_0_p4? \"</function>\\n\"\n"), "{g}");
    }
}
