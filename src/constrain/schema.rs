//! Which JSON-Schema keywords the constraint enforces, checked before a
//! schema reaches llguidance, so a keyword it cannot enforce is refused by
//! name and by where it sits (a JSON pointer), never silently dropped.
//!
//! The lists are llguidance 1.9's (`json/schema.rs`: `IMPLEMENTED`,
//! `META_AND_ANNOTATIONS`); llguidance still checks the schema itself
//! (unknown `format`s, malformed values), see [`super::ConstraintError::Schema`].

use serde_json::Value;

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
