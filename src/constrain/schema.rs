//! Which JSON-Schema keywords the constraint enforces, checked before a
//! schema reaches llguidance, so a keyword it cannot enforce is refused by
//! name and by where it sits (a JSON pointer), never silently dropped.
//!
//! The lists are llguidance 1.9's (`json/schema.rs`: `IMPLEMENTED`,
//! `META_AND_ANNOTATIONS`). A value of an enforced keyword that llguidance
//! still refuses (an unknown `format`, a `oneOf` whose branches may overlap,
//! `minProperties` over optional properties…) is found by [`locate_refusal`],
//! which compiles the schema as llguidance does, without a vocabulary, and
//! narrows the refusal down to one keyword and its place.

use llguidance::api::ParserLimits;
use llguidance::{GrammarBuilder, JsonCompileOptions};
use serde_json::{Map, Value};

/// Keywords the grammar enforces.
pub const ENFORCED: [&str; 27] = [
    "anyOf", "oneOf", "allOf", "$ref", "const", "enum", "type",
    "items", "additionalItems", "prefixItems", "minItems", "maxItems",
    "properties", "additionalProperties", "patternProperties", "required", "minProperties", "maxProperties",
    "minLength", "maxLength", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
];

/// Keywords that only name, describe or locate (nothing to enforce).
pub const ANNOTATIONS: [&str; 15] = [
    "$anchor", "$defs", "definitions", "$schema", "$id", "id", "$comment", "title", "description", "default",
    "readOnly", "writeOnly", "examples", "contentMediaType", "contentEncoding",
];

/// The first keyword of `schema` (depth first, in the order written) that is
/// neither enforced nor an annotation, with its JSON pointer below the
/// schema's root (e.g. `/properties/tags/uniqueItems`). Vendor extensions
/// (`x-…`) are annotations, except `x-guidance`, which would change how
/// llguidance compiles the schema.
pub fn unsupported_keyword(schema: &Value) -> Option<String> {
    walk(schema, &mut String::new())
}

fn walk(schema: &Value, path: &mut String) -> Option<String> {
    let Value::Object(map) = schema else {
        // true / false, or a malformed schema llguidance reports.
        return None;
    };
    for (key, value) in map {
        let len = path.len();
        path.push('/');
        path.push_str(&key.replace('~', "~0").replace('/', "~1"));
        let annotation = ANNOTATIONS.contains(&key.as_str()) || (key.starts_with("x-") && key != "x-guidance");
        if !ENFORCED.contains(&key.as_str()) && !annotation {
            return Some(path.clone());
        }
        let found = match key.as_str() {
            // name → schema
            "properties" | "patternProperties" | "$defs" | "definitions" => each_member(value, path),
            // one schema, or (items, older drafts) a list
            "items" | "additionalProperties" | "additionalItems" => match value {
                Value::Array(_) => each_element(value, path),
                v => walk(v, path),
            },
            "prefixItems" | "anyOf" | "oneOf" | "allOf" => each_element(value, path),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        path.truncate(len);
    }
    None
}

/// Where llguidance refuses a schema whose keywords are all enforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The keyword without which the subschema compiles, if one alone does.
    pub keyword: Option<String>,
    /// JSON pointer of that keyword (of the subschema when no one keyword
    /// is at fault), e.g. `/properties/homepage/format`.
    pub pointer: String,
    /// llguidance's reason (first line), e.g. `Unknown format: uri-reference`.
    pub reason: String,
}

/// Compiles `schema` into a grammar as llguidance does (`options`: the
/// spacing options; no vocabulary, so no lexer is built). `Err`: the first
/// line of llguidance's reason.
fn compile(schema: &Value, options: &JsonCompileOptions) -> Result<(), String> {
    let builder = GrammarBuilder::new(None, ParserLimits::default());
    options.json_to_llg(builder, schema.clone()).map(|_| ()).map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())
}

/// Keywords that give a schema its shape; when removing one of these or
/// another keyword both let a subschema compile, the other is named (e.g.
/// `minProperties` over optional properties, not `properties`).
const STRUCTURAL: [&str; 11] =
    ["type", "properties", "patternProperties", "items", "prefixItems", "additionalItems", "$ref", "anyOf", "allOf", "$defs", "definitions"];

/// `None` when llguidance compiles `schema`; else where it refuses it: the
/// deepest subschema that llguidance refuses for the same reason on its own
/// (with the root's `$defs` / `definitions` beside it, so local `$ref`s
/// resolve), and the keyword of that subschema without which it compiles
/// (see [`STRUCTURAL`] when several would do).
/// Work: one compile per subschema on the path down and per sibling tried,
/// plus one per keyword of the last one (only when the schema is refused).
pub fn locate_refusal(schema: &Value, options: &JsonCompileOptions) -> Option<Refusal> {
    let reason = compile(schema, options).err()?;
    let Value::Object(root) = schema else {
        return Some(Refusal { keyword: None, pointer: String::new(), reason });
    };
    let defs: Map<String, Value> = root.iter().filter(|(k, _)| matches!(k.as_str(), "$defs" | "definitions")).map(|(k, v)| (k.clone(), v.clone())).collect();
    let alone = |sub: &Map<String, Value>| {
        let mut s = sub.clone();
        for (k, v) in &defs {
            s.entry(k.clone()).or_insert_with(|| v.clone());
        }
        compile(&Value::Object(s), options)
    };
    let mut node = root;
    let mut pointer = String::new();
    'down: loop {
        for (at, child) in subschemas(node) {
            if let Value::Object(child) = child {
                if alone(child).err().as_deref() == Some(reason.as_str()) {
                    pointer.push_str(&at);
                    node = child;
                    continue 'down;
                }
            }
        }
        break;
    }
    let culprits: Vec<&String> = node
        .keys()
        .filter(|k| {
            let mut without = node.clone();
            without.remove(k.as_str());
            alone(&without).is_ok()
        })
        .collect();
    let keyword = culprits.iter().find(|k| !STRUCTURAL.contains(&k.as_str())).or(culprits.first()).copied();
    if let Some(k) = keyword {
        pointer.push('/');
        pointer.push_str(&escape(k));
    }
    Some(Refusal { keyword: keyword.cloned(), pointer, reason })
}

/// The subschemas directly under `node`, each with its pointer below `node`
/// (the same places [`unsupported_keyword`] walks).
fn subschemas(node: &Map<String, Value>) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (key, value) in node {
        let at = format!("/{}", escape(key));
        match (key.as_str(), value) {
            ("properties" | "patternProperties" | "$defs" | "definitions", Value::Object(m)) => {
                out.extend(m.iter().map(|(name, s)| (format!("{at}/{}", escape(name)), s)));
            }
            ("items" | "additionalProperties" | "additionalItems" | "prefixItems" | "anyOf" | "oneOf" | "allOf", Value::Array(a)) => {
                out.extend(a.iter().enumerate().map(|(i, s)| (format!("{at}/{i}"), s)));
            }
            ("items" | "additionalProperties" | "additionalItems", s) => out.push((at, s)),
            _ => {}
        }
    }
    out
}

/// A JSON-pointer token (RFC 6901: `~` as `~0`, `/` as `~1`).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn each_member(value: &Value, path: &mut String) -> Option<String> {
    let Value::Object(m) = value else { return None };
    m.iter().find_map(|(name, s)| {
        let len = path.len();
        path.push('/');
        path.push_str(&name.replace('~', "~0").replace('/', "~1"));
        let found = walk(s, path);
        path.truncate(len);
        found
    })
}

fn each_element(value: &Value, path: &mut String) -> Option<String> {
    let Value::Array(a) = value else { return None };
    a.iter().enumerate().find_map(|(i, s)| {
        let len = path.len();
        path.push_str(&format!("/{i}"));
        let found = walk(s, path);
        path.truncate(len);
        found
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_first_unenforced_keyword_with_its_path() {
        let ok = json!({"type": "object", "title": "t", "x-note": 1, "properties": {"a": {"type": "string", "maxLength": 3}},
                        "$defs": {"n": {"enum": [1, 2]}}, "required": ["a"]});
        assert_eq!(unsupported_keyword(&ok), None);
        let nested = json!({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}}});
        assert_eq!(unsupported_keyword(&nested).as_deref(), Some("/properties/tags/uniqueItems"));
        let in_list = json!({"anyOf": [{"type": "null"}, {"not": {"type": "string"}}]});
        assert_eq!(unsupported_keyword(&in_list).as_deref(), Some("/anyOf/1/not"));
        let odd_name = json!({"properties": {"a/b": {"if": {}}}});
        assert_eq!(unsupported_keyword(&odd_name).as_deref(), Some("/properties/a~1b/if"));
        assert_eq!(unsupported_keyword(&json!({"x-guidance": {}})).as_deref(), Some("/x-guidance"));
        assert_eq!(unsupported_keyword(&json!({"nullable": true})).as_deref(), Some("/nullable"));
        // A property *named* like a keyword is a name, not a keyword.
        assert_eq!(unsupported_keyword(&json!({"properties": {"not": {"type": "string"}}})), None);
    }
}
