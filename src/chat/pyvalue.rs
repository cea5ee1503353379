//! Values as Python's jinja2 sees them: printed as Python's `str()` prints
//! them, and tested with jinja2's tests (`jinja2/tests.py`).
//!
//! Printing (`{{ x }}`, `x|string`, `~`, `join`): strings as they are;
//! `None`, `True`, `False`; floats as Python's `repr` (`1e-05`, `2.0`,
//! `inf`); lists and dicts as Python's `repr` of them: `['a', 'b']`,
//! `{'a': 1, 'b': None}`, items printed with `repr` (strings quoted and
//! escaped as Python's `unicode_repr` does, see [`write_str_repr`]), nested
//! to any depth the budget allows. An undefined value prints empty, and as
//! `Undefined` inside a list (jinja2's default `Undefined`). minijinja has no
//! tuples, ranges or dict views: `(1, 2)`, `range(2)` and `d.items()` print
//! as lists (`[1, 2]`, `[0, 1]`, `[['a', 1]]`) where jinja2 prints `(1, 2)`,
//! `range(0, 2)` and `dict_items([('a', 1)])`.
//!
//! Tests that differ in minijinja are replaced by jinja2's definitions:
//! `sequence` (anything with a length and items: strings, lists, dicts),
//! `iterable` (not None),
//! `number` (booleans are numbers in Python), `lower` / `upper` (Python's
//! `str.islower` / `str.isupper`: at least one cased character).

use std::borrow::Cow;

use minijinja::value::{Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use unicode_general_category::{get_general_category, GeneralCategory};

use super::budget;
use super::pyjson::python_float;

/// Deeper nesting is refused (Python's own limit is its recursion limit, ~1000).
const MAX_DEPTH: usize = 256;

/// A value as Python's `str()` writes it. Errors when the text would be
/// larger than the budget's largest string, or nested deeper than 256.
pub fn py_str(v: &Value) -> Result<Cow<'_, str>, Error> {
    Ok(match v.kind() {
        ValueKind::String => Cow::Borrowed(v.as_str().unwrap_or_default()),
        ValueKind::Undefined => "".into(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
            let mut w = Writer { out: String::new(), limit: budget::max_string_bytes() };
            w.repr(v, 0)?;
            w.out.into()
        }
        _ => scalar(v).map(Cow::Owned).unwrap_or_else(|| v.to_string().into()),
    })
}

/// The `str()` of a scalar whose text minijinja writes differently, `None`
/// for the others.
fn scalar(v: &Value) -> Option<String> {
    match v.kind() {
        ValueKind::None => Some("None".into()),
        ValueKind::Bool => Some((if v.is_true() { "True" } else { "False" }).into()),
        ValueKind::Number if !v.is_integer() => {
            let f = f64::try_from(v.clone()).ok()?;
            Some(python_float(f).replace("Infinity", "inf").replace("NaN", "nan"))
        }
        _ => None,
    }
}

struct Writer {
    out: String,
    limit: usize,
}

impl Writer {
    fn push(&mut self, s: &str) -> Result<(), Error> {
        if self.out.len().saturating_add(s.len()) > self.limit {
            return Err(budget::string_size_exceeded());
        }
        self.out.push_str(s);
        Ok(())
    }

    /// Python's `repr(v)`.
    fn repr(&mut self, v: &Value, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(Error::new(ErrorKind::InvalidOperation, "a value nested too deeply to print"));
        }
        match v.kind() {
            ValueKind::String => {
                let mut s = String::new();
                write_str_repr(v.as_str().unwrap_or_default(), &mut s);
                self.push(&s)
            }
            ValueKind::Undefined => self.push("Undefined"),
            ValueKind::Seq | ValueKind::Iterable => {
                self.push("[")?;
                for (i, item) in v.try_iter()?.enumerate() {
                    if i > 0 {
                        self.push(", ")?;
                    }
                    self.repr(&item, depth + 1)?;
                }
                self.push("]")
            }
            ValueKind::Map => {
                self.push("{")?;
                for (i, key) in v.try_iter()?.enumerate() {
                    if i > 0 {
                        self.push(", ")?;
                    }
                    self.repr(&key, depth + 1)?;
                    self.push(": ")?;
                    let item = v.get_item(&key)?;
                    self.repr(&item, depth + 1)?;
                }
                self.push("}")
            }
            _ => match scalar(v) {
                Some(s) => self.push(&s),
                None => self.push(&v.to_string()),
            },
        }
    }
}

/// A string as Python's `repr` writes it (`unicode_repr` in CPython's
/// `Objects/unicodeobject.c`): single quotes, or double quotes when the
/// text holds `'` and no `"`; the quote and `\` escaped; `\t \n \r`;
/// other ASCII control characters as `\xNN`; characters Python does not
/// print (`str.isprintable`: general categories Cc, Cf, Cs, Co, Cn, Zl, Zp,
/// Zs but the space) as `\xNN`, `\uNNNN` or `\UNNNNNNNN`; every other
/// character as it is.
pub fn write_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_ascii() || is_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable` for one character.
fn is_printable(c: char) -> bool {
    use GeneralCategory::*;
    if c == ' ' {
        return true;
    }
    !matches!(
        get_general_category(c),
        Control | Format | Surrogate | PrivateUse | Unassigned | LineSeparator | ParagraphSeparator | SpaceSeparator
    )
}

/// Registers `string` (Python's `str()`), `format` (values printed with
/// `str()`), and the tests jinja2 defines differently from minijinja.
pub(super) fn install(env: &mut Environment<'static>) {
    env.add_filter("string", string);
    env.add_filter("format", format);
    env.add_test("sequence", is_sequence);
    env.add_test("iterable", is_iterable);
    env.add_test("number", is_number);
    env.add_test("lower", is_lower);
    env.add_test("upper", is_upper);
}

/// `x|string`: `str(x)` (jinja2's `soft_str`); undefined is empty.
fn string(_state: &State, value: &Value) -> Result<Value, Error> {
    Ok(match value.kind() {
        ValueKind::String => value.clone(),
        _ => Value::from(py_str(value)?.into_owned()),
    })
}

/// `fmt|format(*args)`: jinja2's `soft_str(fmt) % args`, Python's printf-style
/// formatting. minijinja's filter does the formatting; `None`, lists and
/// dicts are handed to it as their `str()` (`%s` of `{'a': 'x'}` prints
/// `{'a': 'x'}`, not JSON). A format string that reads mapping keys
/// (`%(name)s`) gets its arguments as they are. Booleans and floats are
/// left to minijinja (`%s` of `True` prints `true`, where Python prints
/// `True`), since `%d` of them must stay a number.
fn format(state: &State, fmt: &Value, args: Rest<Value>) -> Result<Value, Error> {
    let by_key = fmt.as_str().is_some_and(|s| s.contains("%("));
    let args = args
        .0
        .into_iter()
        .map(|a| match a.kind() {
            ValueKind::None | ValueKind::Seq | ValueKind::Map | ValueKind::Iterable if !by_key => Ok(Value::from(py_str(&a)?.into_owned())),
            _ => Ok(a),
        })
        .collect::<Result<Vec<_>, Error>>()?;
    minijinja::filters::format(state, fmt, Rest(args))
}

/// jinja2's `sequence`: `len(value)` and `value.__getitem__` both work —
/// strings, lists and dicts (and jinja2's `Undefined`).
fn is_sequence(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Undefined)
}

/// jinja2's `iterable`: `iter(value)` works — strings, lists, dicts,
/// iterators (and jinja2's `Undefined`); not None, booleans or numbers.
fn is_iterable(value: &Value) -> bool {
    match value.kind() {
        ValueKind::None | ValueKind::Bool | ValueKind::Number => false,
        ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::Undefined => true,
        _ => value.try_iter().is_ok(),
    }
}

/// jinja2's `number`: `isinstance(value, numbers.Number)`, booleans included.
fn is_number(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Number | ValueKind::Bool)
}

/// Python's `str(value).islower()`: at least one cased character, and no
/// uppercase or titlecase one.
fn is_lower(value: &Value) -> Result<bool, Error> {
    let s = py_str(value)?;
    Ok(s.chars().any(|c| c.is_lowercase()) && !s.chars().any(|c| c.is_uppercase() || is_titlecase(c)))
}

/// Python's `str(value).isupper()`.
fn is_upper(value: &Value) -> Result<bool, Error> {
    let s = py_str(value)?;
    Ok(s.chars().any(|c| c.is_uppercase()) && !s.chars().any(|c| c.is_lowercase() || is_titlecase(c)))
}

fn is_titlecase(c: char) -> bool {
    get_general_category(c) == GeneralCategory::TitlecaseLetter
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(s: &str) -> String {
        let mut out = String::new();
        write_str_repr(s, &mut out);
        out
    }

    #[test]
    fn strings_repr_as_python() {
        assert_eq!(repr("a"), "'a'");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("both ' and \""), "'both \\' and \"'");
        assert_eq!(repr("tab\tnl\nback\\"), "'tab\\tnl\\nback\\\\'");
        assert_eq!(repr("\u{0}\u{7f}\u{a0}\u{ad}\u{200b}\u{2028}\u{e000}é☃😀"), "'\\x00\\x7f\\xa0\\xad\\u200b\\u2028\\ue000é☃😀'");
        assert_eq!(repr("\u{10ffff}"), "'\\U0010ffff'");
    }

    #[test]
    fn containers_print_as_python() {
        let v = Value::from_serialize(serde_json::json!({"a": [1, "x", null, true, 1.5], "b": {}, "c": []}));
        assert_eq!(py_str(&v).unwrap(), "{'a': [1, 'x', None, True, 1.5], 'b': {}, 'c': []}");
    }
}
