//! OpenAI's `logit_bias`: a number from −100 to 100 added to the logit of
//! chosen token ids before sampling. The request shape is OpenAI's (a JSON
//! object whose keys are token ids written as decimal strings,
//! `{"50256": -100}`); what the sampler does with it is llama.cpp's
//! (`llama_sampler_logit_bias` in `src/llama-sampling.cpp`, the first sampler
//! of `common_sampler_init`'s chain in `common/sampling.cpp`): the bias is
//! *added* to the logit, before the penalties and the filters, so −100 bans a
//! token in practice (no logit is 100 above the rest) without making it −∞,
//! and +100 forces one. A −∞ logit (a token a grammar forbids) stays −∞.

use serde_json::Value;

/// Most entries one `logit_bias` may hold. OpenAI does not publish a bound;
/// this one keeps the per-step work small and fits the GPU sampler's buffer
/// (`kernels::MAX_ADJUSTED`) beside a full penalty window.
pub const MAX_LOGIT_BIAS: usize = 4096;

/// The largest |bias| (OpenAI's range, −100 to 100).
pub const MAX_BIAS: f64 = 100.0;

/// Why a `logit_bias` was refused. Every variant names the key at fault
/// where there is one ([`Self::key`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LogitBiasError {
    #[error("logit_bias must be an object mapping token ids (as strings) to numbers from -100 to 100, got {got}")]
    NotAnObject { got: &'static str },
    #[error("logit_bias has {count} entries: at most {max}")]
    TooMany { count: usize, max: usize },
    #[error("logit_bias key {key:?} is not a token id (a non-negative integer in decimal, such as \"50256\")")]
    BadKey { key: String },
    #[error("logit_bias[{key:?}] must be a number from -100 to 100, got {got}")]
    BadValue { key: String, got: String },
    #[error("logit_bias key {key:?} is outside the vocabulary (ids 0 to {})", vocab.saturating_sub(1))]
    OutOfVocabulary { key: String, vocab: u32 },
}

impl LogitBiasError {
    /// The key at fault, if the error is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::BadKey { key } | Self::BadValue { key, .. } | Self::OutOfVocabulary { key, .. } => Some(key),
            Self::NotAnObject { .. } | Self::TooMany { .. } => None,
        }
    }
}

/// A checked `logit_bias`: distinct token ids in increasing order, each with
/// its bias (finite, within ±[`MAX_BIAS`]), at most [`MAX_LOGIT_BIAS`] of
/// them. Empty: no bias. Whether the ids lie in a model's vocabulary is
/// checked by [`Self::check_vocab`], once the model is known.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogitBias {
    entries: Vec<(u32, f32)>,
}

impl LogitBias {
    /// Reads OpenAI's shape. Refused: anything but an object, more than
    /// [`MAX_LOGIT_BIAS`] entries, a key that is not a token id in canonical
    /// decimal (digits only, no sign, no leading zero, at most `u32::MAX`:
    /// so two keys never name one id), a value that is not a number from −100
    /// to 100. `null` values are refused too (OpenAI takes numbers only).
    pub fn from_value(v: &Value) -> Result<Self, LogitBiasError> {
        let Value::Object(map) = v else {
            let got = match v {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => unreachable!(),
            };
            return Err(LogitBiasError::NotAnObject { got });
        };
        if map.len() > MAX_LOGIT_BIAS {
            return Err(LogitBiasError::TooMany { count: map.len(), max: MAX_LOGIT_BIAS });
        }
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map {
            let id = parse_id(key).ok_or_else(|| LogitBiasError::BadKey { key: key.clone() })?;
            let bias = match value.as_f64() {
                Some(b) if b.is_finite() && b.abs() <= MAX_BIAS => b as f32,
                _ => return Err(LogitBiasError::BadValue { key: key.clone(), got: value.to_string() }),
            };
            entries.push((id, bias));
        }
        entries.sort_unstable_by_key(|e| e.0);
        Ok(Self { entries })
    }

    /// From (id, bias) pairs (a later pair for the same id replaces an
    /// earlier one), each bias checked as [`Self::from_value`] checks it.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, f32)>) -> Result<Self, LogitBiasError> {
        let mut map = std::collections::BTreeMap::new();
        for (id, bias) in pairs {
            if !(bias.is_finite() && (bias as f64).abs() <= MAX_BIAS) {
                return Err(LogitBiasError::BadValue { key: id.to_string(), got: bias.to_string() });
            }
            map.insert(id, bias);
            if map.len() > MAX_LOGIT_BIAS {
                return Err(LogitBiasError::TooMany { count: map.len(), max: MAX_LOGIT_BIAS });
            }
        }
        Ok(Self { entries: map.into_iter().collect() })
    }

    /// Refuses an id at or past `vocab` (the logits row's length), naming its key.
    pub fn check_vocab(&self, vocab: u32) -> Result<(), LogitBiasError> {
        match self.entries.last() {
            Some(&(id, _)) if id >= vocab => Err(LogitBiasError::OutOfVocabulary { key: id.to_string(), vocab }),
            _ => Ok(()),
        }
    }

    /// (id, bias) in increasing id order.
    pub fn entries(&self) -> &[(u32, f32)] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A token id in canonical decimal: `0`, or digits without a leading zero, ≤ u32::MAX.
fn parse_id(key: &str) -> Option<u32> {
    let canonical = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) && (key == "0" || !key.starts_with('0'));
    if canonical {
        key.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_openai_shape_in_id_order() {
        let b = LogitBias::from_value(&json!({"50256": -100, "7": 2.5, "0": 100})).unwrap();
        assert_eq!(b.entries(), &[(0, 100.0), (7, 2.5), (50256, -100.0)]);
        assert!(LogitBias::from_value(&json!({})).unwrap().is_empty());
    }

    #[test]
    fn refuses_by_name() {
        for key in ["abc", "-1", "+1", "1.5", "", " 1", "01", "4294967296", "1e3"] {
            let e = LogitBias::from_value(&json!({ key: 1 })).unwrap_err();
            assert_eq!(e, LogitBiasError::BadKey { key: key.into() }, "{key:?}");
            assert!(e.to_string().contains(&format!("{key:?}")), "{e}");
        }
        for v in [json!(100.5), json!(-101), json!("5"), json!(null), json!(true), json!([1])] {
            let e = LogitBias::from_value(&json!({ "12": v })).unwrap_err();
            assert!(matches!(&e, LogitBiasError::BadValue { key, .. } if key == "12"), "{v}: {e}");
            assert!(e.to_string().starts_with("logit_bias[\"12\"] must be a number from -100 to 100"), "{e}");
        }
        for v in [json!(null), json!([]), json!(3), json!("x")] {
            assert!(matches!(LogitBias::from_value(&v), Err(LogitBiasError::NotAnObject { .. })), "{v}");
        }
    }

    #[test]
    fn bounds_its_entries_and_the_vocabulary() {
        let at_cap: serde_json::Map<String, Value> = (0..MAX_LOGIT_BIAS).map(|i| (i.to_string(), json!(1))).collect();
        assert_eq!(LogitBias::from_value(&Value::Object(at_cap.clone())).unwrap().len(), MAX_LOGIT_BIAS);
        let mut over = at_cap;
        over.insert(MAX_LOGIT_BIAS.to_string(), json!(1));
        assert_eq!(LogitBias::from_value(&Value::Object(over)), Err(LogitBiasError::TooMany { count: MAX_LOGIT_BIAS + 1, max: MAX_LOGIT_BIAS }));
        assert!(matches!(LogitBias::from_pairs((0..=MAX_LOGIT_BIAS as u32).map(|i| (i, 1.0))), Err(LogitBiasError::TooMany { .. })));

        let b = LogitBias::from_value(&json!({"3": 1, "99": -1})).unwrap();
        assert_eq!(b.check_vocab(100), Ok(()));
        let e = b.check_vocab(99).unwrap_err();
        assert_eq!(e, LogitBiasError::OutOfVocabulary { key: "99".into(), vocab: 99 });
        assert_eq!(e.to_string(), "logit_bias key \"99\" is outside the vocabulary (ids 0 to 98)");
    }

    #[test]
    fn later_pairs_replace_earlier_and_values_are_checked() {
        let b = LogitBias::from_pairs([(2, 5.0), (0, -100.0), (2, 7.0)]).unwrap();
        assert_eq!(b.entries(), &[(0, -100.0), (2, 7.0)]);
        assert!(LogitBias::from_pairs([(1, f32::NAN)]).is_err());
        assert!(LogitBias::from_pairs([(1, -100.5)]).is_err());
    }
}
