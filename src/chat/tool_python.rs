//! LFM2 / LFM2.5's tool calls: Python-style calls in a list between two
//! special tokens (llama.cpp `common/parsers/lfm2.cpp`; the template holds
//! `<|tool_list_start|>` (LFM2) or `List of tools: [` (LFM2.5)):
//!
//! ```text
//! <|tool_call_start|>[get_weather(city="Paris", days=3), get_time()]<|tool_call_end|>
//! ```
//!
//! Arguments are keyword arguments whose values are Python literals (strings
//! in either quote, numbers, `True`/`False`/`None`, lists, tuples, dicts) or,
//! as llama.cpp also accepts for LFM2, JSON's `true`/`false`/`null`.

use serde_json::Value as Json;

use super::tool_markup::{param_sequence, split_at_markers};
use super::tools::valid_name;

pub(super) const OPEN: &str = "<|tool_call_start|>";
pub(super) const CLOSE: &str = "<|tool_call_end|>";

/// Whether a template's source asks for this format (llama.cpp's two tests,
/// LFM2's and LFM2.5's).
pub(super) fn detect(template: &str) -> bool {
    (template.contains("<|tool_list_start|>") && template.contains("<|tool_list_end|>")) || template.contains("List of tools: [")
}

/// Deepest nesting of lists and dicts read in one value: a reply is model
/// output, bounded by max_tokens, but recursion is bounded regardless.
const MAX_DEPTH: u32 = 64;

struct Reader<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.at..]
    }

    fn ws(&mut self) {
        let r = self.rest();
        self.at += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.ws();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        self.ws();
        let r = self.rest();
        let n = r.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.')).unwrap_or(r.len());
        (n > 0).then(|| {
            self.at += n;
            &r[..n]
        })
    }

    fn value(&mut self, depth: u32) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        let r = self.rest();
        let first = r.chars().next()?;
        match first {
            '"' | '\'' => self.string(first).map(Json::String),
            '[' | '(' => {
                let close = if first == '[' { "]" } else { ")" };
                self.at += 1;
                let mut items = Vec::new();
                while !self.eat(close) {
                    if !items.is_empty() && !self.eat(",") {
                        return None;
                    }
                    // A trailing comma before the close.
                    if !items.is_empty() && self.eat(close) {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                }
                Some(Json::Array(items))
            }
            '{' => {
                self.at += 1;
                let mut map = serde_json::Map::new();
                while !self.eat("}") {
                    if !map.is_empty() && !self.eat(",") {
                        return None;
                    }
                    if !map.is_empty() && self.eat("}") {
                        break;
                    }
                    let key = match self.value(depth + 1)? {
                        Json::String(k) => k,
                        other => other.to_string(),
                    };
                    if !self.eat(":") {
                        return None;
                    }
                    map.insert(key, self.value(depth + 1)?);
                }
                Some(Json::Object(map))
            }
            _ => {
                let n = r.find(|c: char| !(c.is_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))).unwrap_or(r.len());
                let word = &r[..n];
                let v = match word {
                    "True" | "true" => Json::Bool(true),
                    "False" | "false" => Json::Bool(false),
                    "None" | "null" => Json::Null,
                    _ => {
                        let digits = word.replace('_', "");
                        match digits.parse::<i64>() {
                            Ok(i) => Json::from(i),
                            Err(_) => Json::from(digits.parse::<f64>().ok().filter(|f| f.is_finite())?),
                        }
                    }
                };
                self.at += n;
                Some(v)
            }
        }
    }

    /// A quoted Python string (no prefixes), with its backslash escapes.
    fn string(&mut self, quote: char) -> Option<String> {
        let mut out = String::new();
        let mut chars = self.rest()[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    self.at += 1 + i + 1;
                    return Some(out);
                }
                '\\' => {
                    let (_, e) = chars.next()?;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        'u' | 'x' => {
                            let len = if e == 'u' { 4 } else { 2 };
                            let hex: String = (0..len).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                            out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)?);
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        None
    }

    /// `name(key=value, …)`: the name and the arguments as JSON text.
    fn call(&mut self) -> Option<(String, String)> {
        let name = self.ident()?;
        if !valid_name(name) || !self.eat("(") {
            return None;
        }
        let mut args = serde_json::Map::new();
        while !self.eat(")") {
            if !args.is_empty() && !self.eat(",") {
                return None;
            }
            if !args.is_empty() && self.eat(")") {
                break;
            }
            let key = self.ident()?;
            if !self.eat("=") || args.contains_key(key) {
                return None;
            }
            args.insert(key.to_string(), self.value(0)?);
        }
        Some((name.to_string(), serde_json::to_string(&Json::Object(args)).ok()?))
    }
}

/// Content pieces and (name, arguments) calls of a whole reply; `None` when it
/// holds no call or a call list does not parse.
pub(super) fn parse(text: &str) -> Option<(Vec<&str>, Vec<(String, String)>)> {
    split_at_markers(text, OPEN, CLOSE, |after| {
        let mut r = Reader { s: after, at: 0 };
        if !r.eat("[") {
            return None;
        }
        let mut calls = Vec::new();
        while !r.eat("]") {
            if !calls.is_empty() && !r.eat(",") {
                return None;
            }
            calls.push(r.call()?);
        }
        Some((calls, r.rest()))
    })
}

/// The name of one call cut off by the token limit (`text` from the opening
/// token on) and its arguments so far as raw text (from after `(`), as
/// OpenAI returns truncated arguments. `None` before `name(` is written or
/// with a second call.
pub(super) fn partial(text: &str) -> Option<(String, String)> {
    let body = text.trim_start().strip_prefix(OPEN)?.trim_start().strip_prefix('[')?;
    let open = body.find('(')?;
    let name = body[..open].trim();
    let args = &body[open + 1..];
    // `), other(` would be a second call.
    if args.contains("),") {
        return None;
    }
    Some((name.to_string(), args.trim_end().to_string()))
}

/// Lark (llguidance) rules admitting one call of one of `wanted`:
/// `<|tool_call_start|>[name(key=value, …)]<|tool_call_end|>`, each
/// parameter the schema lists in its order (the required ones always, the
/// others optionally), each value JSON following its schema (JSON
/// literals are among those LFM2's parser takes).
pub(super) fn forced_grammar(wanted: &[&Json], marker: &dyn Fn(&str) -> String) -> String {
    let lit = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut g = format!("start: {} \"[\" call \"]\" {}\n", marker(OPEN), marker(CLOSE));
    let calls: Vec<String> = (0..wanted.len()).map(|i| format!("call_{i}")).collect();
    g.push_str(&format!("call: {}\n", calls.join(" | ")));
    for (i, t) in wanted.iter().enumerate() {
        let f = &t["function"];
        let name = f["name"].as_str().unwrap_or_default();
        let params = &f["parameters"];
        let required: Vec<&str> = params["required"].as_array().map(|r| r.iter().filter_map(Json::as_str).collect()).unwrap_or_default();
        // Required parameters first, then the optional ones, each after ", "
        // when another came before it (a call cannot start its list with ", ").
        let props: Vec<(&String, &Json)> = params["properties"].as_object().map(|p| p.iter().collect()).unwrap_or_default();
        let (req, opt): (Vec<_>, Vec<_>) = props.into_iter().partition(|(k, _)| required.contains(&k.as_str()));
        let mut seq = vec![lit(&format!("{name}("))];
        let mut rules = Vec::new();
        for (j, (key, schema)) in req.iter().chain(opt.iter()).enumerate() {
            let rule = format!("call_{i}_p{j}");
            g.push_str(&format!("{rule}: {} %json {schema}\n", lit(&format!("{key}="))));
            rules.push(rule);
        }
        let (req_rules, opt_rules) = rules.split_at(req.len());
        seq.extend(param_sequence(req_rules, opt_rules, &lit(", ")));
        seq.push(lit(")"));
        g.push_str(&format!("call_{i}: {}\n", seq.join(" ")));
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detected_by_its_tool_list() {
        let t = |f: &str| std::fs::read_to_string(format!("{}/tests/templates/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(detect(&t("lfm2.5-instruct.jinja")));
        assert!(!detect(&t("qwen2.5-instruct.jinja")));
    }

    // Expected values written by hand from LFM2's documented call format.
    #[test]
    fn python_literals_become_json() {
        let reply = "Checking.<|tool_call_start|>[get_weather(city=\"Paris\", days=3, metric=True, note=None, tags=['a', \"b\"], box={'w': 1.5, \"h\": -2}, pair=(1, 2), esc='it\\'s\\n')]<|tool_call_end|>";
        let (parts, calls) = parse(reply).unwrap();
        assert_eq!(parts, ["Checking.", ""]);
        assert_eq!(calls, [("get_weather".to_string(), r#"{"city":"Paris","days":3,"metric":true,"note":null,"tags":["a","b"],"box":{"w":1.5,"h":-2},"pair":[1,2],"esc":"it's\n"}"#.to_string())]);
        let two = "<|tool_call_start|>[a(), b(x=true, y=null)]<|tool_call_end|>";
        assert_eq!(parse(two).unwrap().1, [("a".to_string(), "{}".to_string()), ("b".to_string(), r#"{"x":true,"y":null}"#.to_string())]);
        for broken in [
            "no call",
            "<|tool_call_start|>get_weather(city=\"Paris\")<|tool_call_end|>",
            "<|tool_call_start|>[get_weather(\"Paris\")]<|tool_call_end|>",
            "<|tool_call_start|>[get_weather(city=\"Paris)]<|tool_call_end|>",
            "<|tool_call_start|>[get_weather(city=1, city=2)]<|tool_call_end|>",
            "<|tool_call_start|>[a b()]<|tool_call_end|>",
            "<|tool_call_start|>[a()] trailing<|tool_call_end|>",
        ] {
            assert_eq!(parse(broken), None, "{broken:?}");
        }
        let deep = format!("<|tool_call_start|>[a(x={}{})]", "[".repeat(100), "]".repeat(100));
        assert_eq!(parse(&deep), None, "nesting past MAX_DEPTH");
    }

    #[test]
    fn a_cut_call_keeps_its_raw_arguments() {
        assert_eq!(partial("<|tool_call_start|>[get_weather(city=\"Par"), Some(("get_weather".to_string(), "city=\"Par".to_string())));
        assert_eq!(partial("<|tool_call_start|>[get_wea"), None);
    }

    #[test]
    fn forced_grammar_lists_each_parameter() {
        let tools = vec![json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
            "units": {"enum": ["c", "f"]}, "city": {"type": "string"}}, "required": ["city"]}}})];
        let wanted: Vec<&Json> = tools.iter().collect();
        let g = forced_grammar(&wanted, &|m| format!("{m:?}"));
        assert_eq!(
            g,
            "start: \"<|tool_call_start|>\" \"[\" call \"]\" \"<|tool_call_end|>\"\ncall: call_0\n\
             call_0_p0: \"city=\" %json {\"type\":\"string\"}\n\
             call_0_p1: \"units=\" %json {\"enum\":[\"c\",\"f\"]}\n\
             call_0: \"get_weather(\" call_0_p0 (\", \" call_0_p1)? \")\"\n"
        );
        // No required parameter: any in order, the first without a separator.
        let tools = vec![json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {}, "b": {}}}}})];
        let g = forced_grammar(&tools.iter().collect::<Vec<_>>(), &|m| format!("{m:?}"));
        assert!(g.ends_with("call_0: \"f(\" (call_0_p0 (\", \" call_0_p1)? | call_0_p1)? \")\"\n"), "{g}");
    }
}
