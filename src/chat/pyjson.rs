//! `tojson` as Hugging Face defines it for chat templates:
//! `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
//! sort_keys=sort_keys)`, so Python's separators (`", "`, `": "`; `","` once
//! `indent` is given), Python's float repr (`1e-05`, `1e+16`, `2.0`) and no
//! escaping of non-ASCII text unless `ensure_ascii=True`.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

/// How `json.dumps` was asked to write.
struct Style {
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

/// The `tojson` filter.
pub fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) if v.is_integer() => {
            let n = v.as_usize().ok_or_else(|| invalid("tojson: indent must not be negative"))?;
            if n > MAX_INDENT {
                return Err(invalid(format!("tojson: indent {n} is over {MAX_INDENT}")));
            }
            Some(" ".repeat(n))
        }
        Some(v) => match v.as_str() {
            Some(s) if s.len() <= MAX_INDENT => Some(s.to_string()),
            _ => return Err(invalid("tojson: indent must be an integer or a short string")),
        },
    };
    let (item_sep, key_sep) = match kwargs.get::<Option<Vec<String>>>("separators")? {
        Some(seps) => match <[String; 2]>::try_from(seps) {
            Ok([item, key]) => (item, key),
            Err(_) => return Err(invalid("tojson: separators must be a pair (item, key)")),
        },
        None if indent.is_some() => (",".into(), ": ".into()),
        None => (", ".into(), ": ".into()),
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let style = Style { indent, item_sep, key_sep, sort_keys, ensure_ascii };
    let mut out = String::new();
    write(&value, &style, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

/// Indents wider than this are refused (each level repeats it).
const MAX_INDENT: usize = 64;
/// Deeper nesting is refused (Python's own limit is its recursion limit, ~1000).
const MAX_DEPTH: usize = 256;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn newline(style: &Style, depth: usize, out: &mut String) {
    if let Some(ind) = &style.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write(value: &Value, style: &Style, depth: usize, out: &mut String) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(invalid("tojson: nested too deeply"));
    }
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Undefined => return Err(invalid("tojson: Object of type Undefined is not JSON serializable")),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&python_number(value)?),
        ValueKind::String => write_str(value.as_str().unwrap_or_default(), style.ensure_ascii, out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_sep);
                }
                newline(style, depth + 1, out);
                write(item, style, depth + 1, out)?;
            }
            if !items.is_empty() {
                newline(style, depth, out);
            }
            out.push(']');
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push((key_string(&key)?, item));
            }
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_sep);
                }
                newline(style, depth + 1, out);
                write_str(key, style.ensure_ascii, out);
                out.push_str(&style.key_sep);
                write(item, style, depth + 1, out)?;
            }
            if !entries.is_empty() {
                newline(style, depth, out);
            }
            out.push('}');
        }
        kind => return Err(invalid(format!("tojson: Object of type {kind} is not JSON serializable"))),
    }
    Ok(())
}

/// A map key as `json.dumps` writes it: strings as they are, numbers,
/// booleans and None as their JSON text.
fn key_string(key: &Value) -> Result<String, Error> {
    Ok(match key.kind() {
        ValueKind::String => key.as_str().unwrap_or_default().to_string(),
        ValueKind::Number => python_number(key)?,
        ValueKind::Bool => (if key.is_true() { "true" } else { "false" }).to_string(),
        ValueKind::None => "null".to_string(),
        kind => return Err(invalid(format!("tojson: keys must be str, int, float, bool or None, not {kind}"))),
    })
}

fn python_number(value: &Value) -> Result<String, Error> {
    if value.is_integer() {
        Ok(value.to_string())
    } else {
        Ok(python_float(f64::try_from(value.clone())?))
    }
}

/// A JSON string as Python writes it.
pub fn write_str(s: &str, ensure_ascii: bool, out: &mut String) {
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
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) > 0x7f) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float as Python's `repr` writes it: the shortest digits that read back
/// to the same float, positional for exponents -4..16, else `d.ddde±XX`.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` writes an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` writes an integer exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let sign_e = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign_e}{:02}", exp.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (123.456, "123.456"),
            (1e300, "1e+300"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(python_float(f), want, "{f:e}");
        }
    }

    #[test]
    fn ensure_ascii_escapes_as_utf16() {
        let mut s = String::new();
        write_str("é😀", true, &mut s);
        assert_eq!(s, "\"\\u00e9\\ud83d\\ude00\"");
    }
}
