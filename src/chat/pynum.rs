//! jinja2's `int` and `float` filters (`do_int` / `do_float` in jinja2's
//! `filters.py`, 3.1), which fall back where minijinja's abort the render:
//!
//! - `value|int(default=0, base=10)`: a string is read as Python's
//!   `int(value, base)` reads it; anything else as `int(value)`. When that
//!   fails, `int(float(value))` is tried ("42.23"|int is 42), and when that
//!   fails too, `default` is returned: `"x"|int` is 0, `"12abc"|int(7)` is 7,
//!   `" 42 "|int` is 42, `"0x1A"|int(0, 16)` is 26, `"0b101"|int(base=0)` is 5.
//! - `value|float(default=0.0)`: Python's `float(value)`, else `default`:
//!   `"x"|float` is 0.0, `"1_0.5"|float` is 10.5, `" -inf "|float` is -inf.
//!
//! As in jinja2, an undefined value is an error (its `__int__` raises), and
//! so is `int()` of an infinite float value (Python's `OverflowError`, which
//! jinja2 does not catch there). Python's integers have no bound; an
//! integer outside i128 is an error here. Python also reads non-ASCII
//! decimal digits (`"٤٢"`); these read ASCII digits only, and strip the
//! whitespace Rust's `char::is_whitespace` names (Python's `str.strip` set
//! but for U+001C–U+001F).

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

/// `value|int(default=0, base=10)`, positional or by keyword.
pub fn int(value: &Value, default: Option<Value>, base: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default = one_of("int", "default", default, &kwargs)?.unwrap_or(Value::from(0));
    let base = match one_of("int", "base", base, &kwargs)? {
        None => 10,
        Some(b) => i64::try_from(b.clone()).map_err(|_| invalid(format!("int: base must be an integer, not {}", b.kind())))?,
    };
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "int() of an undefined value"));
    }
    let first = match value.as_str() {
        Some(s) => parse_int(s, base).map(Value::from),
        None => int_of(value)?,
    };
    if let Some(v) = first {
        return Ok(v);
    }
    // jinja2's fallback: int(float(value)), OverflowError included in what it catches.
    match float_of(value) {
        Some(f) if f.is_finite() && f.trunc().abs() < i128::MAX as f64 => Ok(Value::from(f.trunc() as i128)),
        Some(f) if f.is_finite() => Err(invalid(format!("int: {f} is outside the integers tabllm's templates hold (i128)"))),
        _ => Ok(default),
    }
}

/// `value|float(default=0.0)`, positional or by keyword.
pub fn float(value: &Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default = one_of("float", "default", default, &kwargs)?.unwrap_or(Value::from(0.0));
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "float() of an undefined value"));
    }
    Ok(float_of(value).map(Value::from).unwrap_or(default))
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// An argument given positionally or by keyword (not both, as Python refuses).
fn one_of(filter: &str, name: &str, positional: Option<Value>, kwargs: &Kwargs) -> Result<Option<Value>, Error> {
    let by_name: Option<Value> = kwargs.get(name)?;
    match (positional, by_name) {
        (Some(_), Some(_)) => Err(invalid(format!("{filter}: got multiple values for argument '{name}'"))),
        (p, k) => Ok(p.or(k)),
    }
}

/// Python's `int(value)` of a value that is not a string: `None` where
/// Python raises `TypeError`/`ValueError` (jinja2 then falls back).
fn int_of(value: &Value) -> Result<Option<Value>, Error> {
    Ok(match value.kind() {
        ValueKind::Bool => Some(Value::from(value.is_true() as i64)),
        ValueKind::Number if value.is_integer() => Some(value.clone()),
        ValueKind::Number => {
            let f = f64::try_from(value.clone()).map_err(|_| invalid("int: not a number".into()))?;
            if f.is_infinite() {
                return Err(invalid("int: cannot convert float infinity to integer".into()));
            }
            if f.is_nan() {
                None
            } else if f.trunc().abs() < i128::MAX as f64 {
                Some(Value::from(f.trunc() as i128))
            } else {
                return Err(invalid(format!("int: {f} is outside the integers tabllm's templates hold (i128)")));
            }
        }
        _ => None,
    })
}

/// Python's `float(value)`: `None` where it raises `TypeError`/`ValueError`.
fn float_of(value: &Value) -> Option<f64> {
    match value.kind() {
        ValueKind::Bool => Some(value.is_true() as u8 as f64),
        ValueKind::Number => f64::try_from(value.clone()).ok(),
        ValueKind::String => parse_float(value.as_str()?),
        _ => None,
    }
}

/// Python's `int(s, base)` (CPython's `PyLong_FromString`): surrounding
/// whitespace, one sign, with base 0 the base told by a `0x`/`0o`/`0b`
/// prefix (else 10, where a leading zero is allowed only in zero itself),
/// with base 16/8/2 that prefix optional, then digits below the base with
/// single underscores between them (one may follow the prefix). `None`
/// where Python raises `ValueError` (a base outside 0 and 2..=36 included);
/// a value outside i128 too.
pub fn parse_int(s: &str, base: i64) -> Option<i128> {
    if base != 0 && !(2..=36).contains(&base) {
        return None;
    }
    let s = s.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let prefix = |s: &str| -> Option<u32> {
        let p = s.get(..2)?.to_ascii_lowercase();
        match p.as_str() {
            "0x" => Some(16),
            "0o" => Some(8),
            "0b" => Some(2),
            _ => None,
        }
    };
    let zero_base = base == 0;
    let (base, digits, after_prefix) = match (base as u32, prefix(s)) {
        (0, Some(b)) => (b, &s[2..], true),
        (0, None) => (10, s, false),
        (b, Some(p)) if p == b => (b, &s[2..], true),
        (b, _) => (b, s, false),
    };
    // One underscore may follow a prefix ("0x_1f").
    let digits = if after_prefix { digits.strip_prefix('_').unwrap_or(digits) } else { digits };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let mut n: i128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(36).filter(|&d| d < base)?;
        n = n.checked_mul(base as i128)?.checked_add(d as i128)?;
    }
    // Base 0 refuses a leading zero but in zero itself ("010": Python 3 has
    // no octal without 0o); base 10 reads "010" as 10.
    if zero_base && !after_prefix && digits.starts_with('0') && n != 0 {
        return None;
    }
    Some(if negative { -n } else { n })
}

/// Python's `float(s)`: surrounding whitespace, a sign, decimal digits with
/// single underscores between digits, an optional fraction and exponent, or
/// `inf`/`infinity`/`nan` in any case. `None` where Python raises `ValueError`.
pub fn parse_float(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let digit = |j: Option<usize>| j.and_then(|j| b.get(j)).is_some_and(u8::is_ascii_digit);
            if !digit(i.checked_sub(1)) || !digit(Some(i + 1)) {
                return None;
            }
        }
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    // Rust's grammar is Python's but for these spellings, which Python refuses.
    if cleaned.is_empty() || cleaned.contains(|c: char| c.is_whitespace()) {
        return None;
    }
    cleaned.parse::<f64>().ok()
}
