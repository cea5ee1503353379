//! Every number that crosses from JS is checked against the range it may take,
//! so a wrong one is an `invalid_request` naming the field and the range
//! instead of a silent wrap (wasm-bindgen turns 2^32 + 5 into 5 for a `u32`),
//! an overflow, or a multi-gigabyte allocation that aborts the instance.
//! Exports therefore take JS numbers as `f64` and convert them here.

use wasm_bindgen::JsValue;

use super::error::{to_js, ErrorCode};

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A number outside its range: `details` = `{field, min, max, got}`.
pub struct OutOfRange {
    field: String,
    got: f64,
    min: f64,
    max: f64,
    integer: bool,
}

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.integer { "an integer" } else { "a number" };
        write!(f, "{} must be {kind} from {} to {}, got {}", self.field, self.min, self.max, self.got)
    }
}

impl ErrorCode for OutOfRange {
    fn code(&self) -> &'static str {
        "invalid_request"
    }
    fn details(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "field": self.field, "min": self.min, "max": self.max, "got": self.got }))
    }
}

/// `v` as an integer in `[min, max]` (NaN, infinities and fractions are refused).
pub fn integer(field: &str, v: f64, min: u64, max: u64) -> Result<u64, JsValue> {
    if v.fract() == 0.0 && v >= min as f64 && v <= max as f64 {
        Ok(v as u64)
    } else {
        Err(to_js(&OutOfRange { field: field.into(), got: v, min: min as f64, max: max as f64, integer: true }))
    }
}

/// `v` in `[min, max]` (NaN is refused).
pub fn real(field: &str, v: f64, min: f64, max: f64) -> Result<f64, JsValue> {
    if v >= min && v <= max {
        Ok(v)
    } else {
        Err(to_js(&OutOfRange { field: field.into(), got: v, min, max, integer: false }))
    }
}

/// An optional integer field, `default` when absent.
pub fn integer_or(field: &str, v: Option<f64>, min: u64, max: u64, default: u64) -> Result<u64, JsValue> {
    v.map_or(Ok(default), |v| integer(field, v, min, max))
}

/// An optional number field, `default` when absent.
pub fn real_or(field: &str, v: Option<f64>, min: f64, max: f64, default: f64) -> Result<f64, JsValue> {
    v.map_or(Ok(default), |v| real(field, v, min, max))
}
