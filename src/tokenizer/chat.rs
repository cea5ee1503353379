//! Chat templates: the Jinja source in `tokenizer.chat_template`, rendered
//! with minijinja configured as Hugging Face's `apply_chat_template` sets up
//! Python's jinja2: `trim_blocks` and `lstrip_blocks` on, the final newline
//! of the template dropped, `{% break %}`/`{% continue %}` allowed, Python
//! string/dict methods (`.strip()`, `.items()`, …) through minijinja-contrib's
//! pycompat, a `raise_exception(msg)` function, and `tojson` spelled as
//! Python's `json.dumps(..., ensure_ascii=False)`.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{context, Environment, Error, ErrorKind, Value};
use serde::{Deserialize, Serialize};

use crate::gguf::Metadata;

use super::TokenizerError;

/// Gemma's turn format (`<start_of_turn>user … <end_of_turn>`), text only,
/// for Gemma 3 files, which carry no template.
const GEMMA3_TEMPLATE: &str = include_str!("templates/gemma3.jinja");

const NAME: &str = "chat";

/// One message of a conversation, OpenAI style.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles a Jinja chat template; syntax errors are reported here.
    pub fn new(source: &str) -> Result<Self, TokenizerError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.to_owned())?;
        Ok(Self { env })
    }

    /// The template for a model: the file's `tokenizer.chat_template`, else a
    /// built-in one by `general.architecture` (`gemma3`: Gemma's turn
    /// format), else `None`.
    pub fn for_model(md: &Metadata) -> Result<Option<Self>, TokenizerError> {
        if let Some(source) = md.get_str("tokenizer.chat_template")? {
            return Self::new(source).map(Some);
        }
        match md.get_str("general.architecture")? {
            Some("gemma3") => Self::gemma3().map(Some),
            _ => Ok(None),
        }
    }

    /// The built-in Gemma 3 template.
    pub fn gemma3() -> Result<Self, TokenizerError> {
        Self::new(GEMMA3_TEMPLATE)
    }

    /// Renders a conversation. `bos_token` / `eos_token` are the texts of the
    /// model's BOS and EOS tokens (templates often start with `{{ bos_token }}`);
    /// with `add_generation_prompt` the text ends where the assistant's reply
    /// begins.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<String, TokenizerError> {
        let template = self.env.get_template(NAME)?;
        let out = template.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => bos_token,
            eos_token => eos_token,
        })?;
        Ok(out)
    }
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `tojson` as Hugging Face defines it: `json.dumps(x, ensure_ascii=False,
/// indent=indent)`, so `{"a": 1, "b": [1, 2]}` with Python's separators.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    value: &Value,
    indent: Option<usize>,
    depth: usize,
    out: &mut String,
) -> Result<(), Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', n * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if let Ok(i) = i64::try_from(value.clone()) {
                out.push_str(&i.to_string());
            } else {
                let f = f64::try_from(value.clone())?;
                out.push_str(&python_float(f));
            }
        }
        ValueKind::String => write_json_str(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out)?;
            }
            if !items.is_empty() {
                newline(out, depth);
            }
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                match key.as_str() {
                    Some(k) => write_json_str(k, out),
                    None => write_json_str(&key.to_string(), out),
                }
                out.push_str(": ");
                write_json(&value.get_item(key)?, indent, depth + 1, out)?;
            }
            if !keys.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: cannot serialize a {}", value.kind()),
            ))
        }
    }
    Ok(())
}

/// A JSON string as Python writes it with `ensure_ascii=False`.
fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float as Python's `repr` writes it, for the common cases.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_methods_and_tojson() {
        let t = ChatTemplate::new(
            "{% for m in messages %}{{ m.content.strip() }}|{{ m | tojson }}{% endfor %}",
        )
        .unwrap();
        let out = t
            .render(&[ChatMessage::new("user", "  hi \"x\"\n")], false, "", "")
            .unwrap();
        assert_eq!(
            out,
            "hi \"x\"|{\"role\": \"user\", \"content\": \"  hi \\\"x\\\"\\n\"}"
        );
    }

    #[test]
    fn raise_exception_is_an_error() {
        let t = ChatTemplate::new("{{ raise_exception('no system role') }}").unwrap();
        let err = t.render(&[], true, "", "").unwrap_err();
        assert!(err.to_string().contains("no system role"), "{err}");
    }

    #[test]
    fn trim_and_lstrip_blocks() {
        let t = ChatTemplate::new("  {% if true %}\nA\n  {% endif %}\nB\n").unwrap();
        assert_eq!(t.render(&[], false, "", "").unwrap(), "A\nB");
    }
}
