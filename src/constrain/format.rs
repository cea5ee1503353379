//! OpenAI's `response_format` (chat and text completions): `{type: "text"}`,
//! `{type: "json_object"}`, `{type: "json_schema", json_schema: {name,
//! schema, strict?, description?}}`. Errors name the field by its dotted
//! path under `response_format`.

use serde_json::{Map, Value};

use super::{Constraint, ConstraintError};

/// A parsed `response_format`.
#[derive(Clone, Debug)]
pub enum ResponseFormat {
    /// No constraint.
    Text,
    /// One JSON object.
    JsonObject,
    /// JSON that validates against `schema`. `name` and `description` tell
    /// the model nothing here (OpenAI's do not reach the prompt either);
    /// `strict` changes nothing: the schema is always enforced, or refused.
    JsonSchema { name: String, description: Option<String>, strict: Option<bool>, constraint: Constraint },
}

const FIELD: &str = "response_format";

fn field_error(field: &str, message: impl Into<String>) -> ConstraintError {
    ConstraintError::Field { field: field.into(), message: message.into() }
}

/// `obj[key]` as an optional string; another type is an error naming `field.key`.
fn opt_str<'a>(obj: &'a Map<String, Value>, field: &str, key: &str) -> Result<Option<&'a str>, ConstraintError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field_error(&format!("{field}.{key}"), "must be a string")),
    }
}

fn no_other_keys(obj: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<(), ConstraintError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(field_error(&format!("{field}.{k}"), format!("is not supported (known: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

impl ResponseFormat {
    /// Parses OpenAI's `response_format` object; a JSON schema is checked
    /// for keywords that cannot be enforced here (see [`Constraint::from_json_schema`]).
    pub fn from_value(v: &Value) -> Result<Self, ConstraintError> {
        let Value::Object(obj) = v else {
            return Err(field_error(FIELD, "must be an object with a type"));
        };
        let ty = opt_str(obj, FIELD, "type")?.ok_or_else(|| field_error(&format!("{FIELD}.type"), "is required: text, json_object or json_schema"))?;
        match ty {
            "text" => {
                no_other_keys(obj, FIELD, &["type"])?;
                Ok(Self::Text)
            }
            "json_object" => {
                no_other_keys(obj, FIELD, &["type"])?;
                Ok(Self::JsonObject)
            }
            "json_schema" => {
                no_other_keys(obj, FIELD, &["type", "json_schema"])?;
                let field = format!("{FIELD}.json_schema");
                let Some(Value::Object(js)) = obj.get("json_schema") else {
                    return Err(field_error(&field, "is required with type json_schema: an object with name and schema"));
                };
                no_other_keys(js, &field, &["name", "schema", "strict", "description"])?;
                let name = opt_str(js, &field, "name")?.ok_or_else(|| field_error(&format!("{field}.name"), "is required"))?;
                // OpenAI's rule for the name.
                if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                    return Err(field_error(&format!("{field}.name"), "must be 1 to 64 of a-z, A-Z, 0-9, _ and -"));
                }
                let description = opt_str(js, &field, "description")?.map(str::to_string);
                let strict = match js.get("strict") {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(*b),
                    Some(_) => return Err(field_error(&format!("{field}.strict"), "must be a boolean")),
                };
                let schema = js.get("schema").ok_or_else(|| field_error(&format!("{field}.schema"), "is required"))?;
                let constraint = Constraint::from_json_schema_at(schema, &format!("{field}.schema"))?;
                Ok(Self::JsonSchema { name: name.to_string(), description, strict, constraint })
            }
            other => Err(field_error(&format!("{FIELD}.type"), format!("{other:?} is not one of text, json_object, json_schema"))),
        }
    }

    /// The constraint to decode with; `None` for plain text.
    pub fn constraint(&self) -> Option<Constraint> {
        match self {
            Self::Text => None,
            Self::JsonObject => Some(Constraint::json_object()),
            Self::JsonSchema { constraint, .. } => Some(constraint.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(v: Value) -> String {
        match ResponseFormat::from_value(&v) {
            Err(ConstraintError::Field { field, .. }) => field,
            Err(ConstraintError::UnsupportedKeyword { field, keyword, .. }) => format!("{field}/{keyword}"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn shapes_are_checked_field_by_field() {
        assert!(matches!(ResponseFormat::from_value(&json!({"type": "text"})), Ok(ResponseFormat::Text)));
        assert!(ResponseFormat::from_value(&json!({"type": "json_object"})).unwrap().constraint().is_some());
        let ok = json!({"type": "json_schema", "json_schema": {"name": "a_b-1", "strict": true, "schema": {"type": "object"}}});
        assert!(matches!(ResponseFormat::from_value(&ok), Ok(ResponseFormat::JsonSchema { strict: Some(true), .. })));
        assert_eq!(field_of(json!("json")), "response_format");
        assert_eq!(field_of(json!({})), "response_format.type");
        assert_eq!(field_of(json!({"type": "xml"})), "response_format.type");
        assert_eq!(field_of(json!({"type": "text", "schema": {}})), "response_format.schema");
        assert_eq!(field_of(json!({"type": "json_schema"})), "response_format.json_schema");
        assert_eq!(field_of(json!({"type": "json_schema", "json_schema": {"schema": {}}})), "response_format.json_schema.name");
        assert_eq!(field_of(json!({"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}})), "response_format.json_schema.name");
        assert_eq!(field_of(json!({"type": "json_schema", "json_schema": {"name": "a"}})), "response_format.json_schema.schema");
        assert_eq!(field_of(json!({"type": "json_schema", "json_schema": {"name": "a", "schema": []}})), "response_format.json_schema.schema");
        assert_eq!(field_of(json!({"type": "json_schema", "json_schema": {"name": "a", "strict": 1, "schema": {}}})), "response_format.json_schema.strict");
        assert_eq!(
            field_of(json!({"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "string", "not": {"const": "x"}}}})),
            "response_format.json_schema.schema/not"
        );
    }
}
