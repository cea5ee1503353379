//! Constrained decoding: a grammar (a JSON schema, "any JSON object", or a
//! Lark grammar) decides, before each token, which tokens may come next; the
//! engine sets every other token's logit to −∞ before sampling, and ends the
//! generation when the grammar is complete.
//!
//! The grammar engine is llguidance (what llama.cpp uses): it compiles the
//! grammar to an Earley parser over regular-expression lexemes and computes
//! each step's mask by walking a trie of the vocabulary's token bytes
//! (`toktrie`). This module is the seam: [`Constraint`] is the grammar to
//! follow (cheap to clone, no tokenizer needed), [`ConstraintVocab`] the
//! trie built once per tokenizer, and [`ConstraintState`] one generation's
//! parser.
//!
//! End of generation: an end-of-generation token ([`Tokenizer::is_eog`]) is
//! allowed only where the grammar accepts; where nothing can follow (the
//! closing brace of a JSON object), the grammar is complete and the engine
//! stops without asking the model.

mod format;
mod schema;

pub use format::ResponseFormat;
pub use schema::{locate_refusal, unsupported_keyword, Refusal, ANNOTATIONS, ENFORCED};

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, SimpleVob, TokEnv, TokRxInfo, TokTrie};
use llguidance::{JsonCompileOptions, Matcher, ParserFactory};
use serde_json::Value;

use crate::tokenizer::{TokenType, Tokenizer};

#[derive(Debug, thiserror::Error)]
pub enum ConstraintError {
    /// A request field of the wrong shape (`field` is its dotted path, e.g.
    /// `response_format.json_schema.name`).
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    /// A schema keyword the constraint cannot enforce; `pointer` is its JSON
    /// pointer in the schema (e.g. `/properties/tags/uniqueItems`).
    #[error("{field}: the keyword {keyword:?} at {pointer} cannot be enforced (supported: {})", ENFORCED.join(", "))]
    UnsupportedKeyword { field: String, keyword: String, pointer: String },
    /// An enforced keyword whose value llguidance refuses (an unknown
    /// `format`, a `oneOf` whose branches may overlap, …); `pointer` is the
    /// keyword's JSON pointer (e.g. `/properties/homepage/format`), `reason`
    /// llguidance's.
    #[error("{field}: the keyword {keyword:?} at {pointer} cannot be enforced: {reason}")]
    KeywordRefused { field: String, keyword: String, pointer: String, reason: String },
    /// llguidance refused the grammar where no one keyword is at fault (an
    /// unsatisfiable combination, a Lark syntax error).
    #[error("the grammar cannot be compiled: {0}")]
    Schema(String),
    /// The parser failed mid-generation (e.g. it rejected a token its own
    /// mask allowed): a bug in the constraint machinery.
    #[error("the constraint failed while decoding: {0}")]
    Parser(String),
}

/// What the output must match. Build one with [`Constraint::json_object`],
/// [`Constraint::from_json_schema`] or [`Constraint::from_lark`]; it is
/// compiled against a vocabulary by [`ConstraintState::new`].
#[derive(Clone, Debug)]
pub struct Constraint {
    grammar: TopLevelGrammar,
    /// The request field a grammar error is reported under (`None`:
    /// `response_format`, see [`ConstraintError::Schema`]).
    field: Option<String>,
}

/// How generated JSON is spaced: `json.dumps`'s default separators, no other
/// whitespace. One spelling per value, so a small model cannot wander into
/// endless whitespace, and the separators the model has seen most.
fn json_options() -> JsonCompileOptions {
    JsonCompileOptions {
        item_separator: ", ".into(),
        key_separator: ": ".into(),
        whitespace_flexible: false,
        ..JsonCompileOptions::default()
    }
}

/// Refuses a JSON schema (the value of the request field `field`) that
/// cannot be enforced, naming the keyword and its JSON pointer: a keyword
/// llguidance does not implement ([`ConstraintError::UnsupportedKeyword`]),
/// or an enforced keyword whose value it refuses
/// ([`ConstraintError::KeywordRefused`], found by [`locate_refusal`]; a
/// refusal no one keyword explains is [`ConstraintError::Schema`] with the
/// subschema's pointer).
pub fn check_schema(schema: &Value, field: &str) -> Result<(), ConstraintError> {
    if let Some(pointer) = unsupported_keyword(schema) {
        let keyword = pointer.rsplit('/').next().unwrap_or_default().replace("~1", "/").replace("~0", "~");
        return Err(ConstraintError::UnsupportedKeyword { field: field.into(), keyword, pointer });
    }
    match locate_refusal(schema, &json_options()) {
        None => Ok(()),
        Some(Refusal { keyword: Some(keyword), pointer, reason }) => Err(ConstraintError::KeywordRefused { field: field.into(), keyword, pointer, reason }),
        Some(Refusal { keyword: None, pointer, reason }) => {
            let at = if pointer.is_empty() { "the root" } else { pointer.as_str() };
            Err(ConstraintError::Schema(format!("{field} at {at}: {reason}")))
        }
    }
}

/// Gives a JSON schema embedded in a Lark grammar (`%json {...}`) the same
/// spacing as [`Constraint::from_json_schema`]'s (no free whitespace).
pub fn set_json_spacing(schema: &mut Value) {
    json_options().apply_to(schema);
}

impl Constraint {
    /// Any one JSON object (OpenAI's `response_format: {type: "json_object"}`).
    pub fn json_object() -> Self {
        Self::from_json_schema(&serde_json::json!({"type": "object"})).expect("a plain object schema is supported")
    }

    /// Output that parses as JSON and validates against `schema` (a JSON
    /// Schema object; `true` is any value). A keyword that cannot be enforced
    /// is refused with its path ([`ConstraintError::UnsupportedKeyword`],
    /// `field` naming the schema "schema"; callers re-root it, see
    /// [`Self::from_json_schema_at`]).
    pub fn from_json_schema(schema: &Value) -> Result<Self, ConstraintError> {
        Self::from_json_schema_at(schema, "schema")
    }

    /// [`Self::from_json_schema`], errors naming the schema `field` (e.g.
    /// `response_format.json_schema.schema`).
    pub fn from_json_schema_at(schema: &Value, field: &str) -> Result<Self, ConstraintError> {
        let mut schema = match schema {
            Value::Object(_) => schema.clone(),
            Value::Bool(true) => serde_json::json!({}),
            _ => return Err(ConstraintError::Field { field: field.into(), message: "must be a JSON Schema object".into() }),
        };
        check_schema(&schema, field)?;
        json_options().apply_to(&mut schema);
        Ok(Self { grammar: TopLevelGrammar::from_json_schema(schema), field: None })
    }

    /// Output in the language of a Lark grammar (llguidance's dialect: a
    /// `start` rule, lexemes as strings or regular expressions, `%json`
    /// for embedded schemas). Syntax errors surface from [`ConstraintState::new`].
    pub fn from_lark(grammar: &str) -> Self {
        Self { grammar: TopLevelGrammar::from_lark(grammar.to_string()), field: None }
    }

    /// The same constraint, its grammar errors reported as errors of the
    /// request field `field` (e.g. `tool_choice` for a forced tool call).
    pub fn for_field(self, field: &str) -> Self {
        Self { field: Some(field.to_string()), ..self }
    }
}

/// A tokenizer's vocabulary as llguidance sees it: each token id's bytes in a
/// trie, control tokens behind the trie's special-token marker so no text
/// grammar can produce them. Built once per tokenizer (tens of ms for 50k
/// tokens; the factory precomputes lexeme slices of the vocabulary).
pub struct ConstraintVocab {
    factory: ParserFactory,
    /// (vocab) end-of-generation ids: allowed exactly where the grammar accepts.
    eog: Vec<u32>,
    vocab_size: usize,
}

impl ConstraintVocab {
    pub fn new(tokenizer: &Tokenizer) -> Result<Self, ConstraintError> {
        let n = tokenizer.vocab_size();
        let words: Vec<Vec<u8>> = (0..n as u32)
            .map(|id| {
                let special = tokenizer.is_eog(id) || matches!(tokenizer.token_type(id), Some(TokenType::Control | TokenType::Unknown));
                if special {
                    // toktrie's convention: 0xFF, then the name.
                    let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    w.extend_from_slice(tokenizer.token_text(id).unwrap_or_default().as_bytes());
                    w
                } else {
                    tokenizer.token_bytes(id).to_vec()
                }
            })
            .collect();
        let eog = tokenizer.eog_ids().to_vec();
        let eos = tokenizer.eos_id().or(eog.first().copied()).unwrap_or(0);
        let trie = TokTrie::from(&TokRxInfo::new(n as u32, eos), &words);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| ConstraintError::Schema(e.to_string()))?;
        // No log lines on stderr (a browser console, a CLI's output).
        factory.quiet();
        Ok(Self { factory, eog, vocab_size: n })
    }
}

/// One generation's position in the grammar.
pub struct ConstraintState {
    matcher: Matcher,
    vocab: Arc<ConstraintVocab>,
    /// The mask for the next token, computed ahead (see [`Self::prepare`]).
    mask: Option<SimpleVob>,
}

impl ConstraintState {
    /// Compiles `constraint` for `vocab`; grammar errors are reported here,
    /// before any token is generated.
    pub fn new(vocab: Arc<ConstraintVocab>, constraint: &Constraint) -> Result<Self, ConstraintError> {
        let refused = |message: String| match &constraint.field {
            Some(field) => ConstraintError::Field { field: field.clone(), message: format!("the grammar cannot be compiled: {message}") },
            None => ConstraintError::Schema(message),
        };
        let parser = vocab.factory.create_parser(constraint.grammar.clone()).map_err(|e| refused(e.to_string()))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(refused(e));
        }
        let mut state = Self { matcher, vocab, mask: None };
        // The first mask now: a grammar that admits no output at all (a
        // schema that only refers to itself) is refused before any work.
        state.prepare().map_err(|e| match e {
            ConstraintError::Parser(m) => refused(format!("it admits no output ({})", m.lines().next().unwrap_or_default())),
            e => e,
        })?;
        Ok(state)
    }

    /// Computes the next token's mask now (e.g. while the GPU runs the step
    /// that produces the logits it will apply to).
    pub fn prepare(&mut self) -> Result<(), ConstraintError> {
        if self.mask.is_none() && !self.matcher.is_stopped() {
            let mut m = self.matcher.compute_mask().map_err(|e| ConstraintError::Parser(e.to_string()))?;
            let accepting = self.matcher.is_accepting().map_err(|e| ConstraintError::Parser(e.to_string()))?;
            for &id in &self.vocab.eog {
                if (id as usize) < m.len() {
                    if accepting {
                        m.allow_token(id);
                    } else {
                        m.disallow_token(id);
                    }
                }
            }
            self.mask = Some(m);
        }
        Ok(())
    }

    /// Sets the logit of every token the grammar does not allow next to −∞
    /// (`logits`: (n_vocab,), ids past the tokenizer's vocabulary included).
    pub fn mask_logits(&mut self, logits: &mut [f32]) -> Result<(), ConstraintError> {
        self.prepare()?;
        let Some(mask) = &self.mask else {
            return Err(ConstraintError::Parser("the grammar is complete: no token may follow".into()));
        };
        let words = mask.as_slice();
        for (w, chunk) in logits.chunks_mut(32).enumerate() {
            let bits = words.get(w).copied().unwrap_or(0);
            if bits == u32::MAX {
                continue;
            }
            for (b, l) in chunk.iter_mut().enumerate() {
                if bits >> b & 1 == 0 {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        if words.len() * 32 < self.vocab.vocab_size {
            return Err(ConstraintError::Parser("mask shorter than the vocabulary".into()));
        }
        Ok(())
    }

    /// Advances the grammar past the token the sampler picked.
    pub fn commit(&mut self, id: u32) -> Result<(), ConstraintError> {
        self.mask = None;
        if self.vocab.eog.contains(&id) {
            // End of generation: allowed only where the grammar accepts; nothing follows.
            return Ok(());
        }
        self.matcher.consume_token(id).map_err(|e| ConstraintError::Parser(e.to_string()))
    }

    /// Nothing can follow what has been committed: the output is complete.
    pub fn is_complete(&self) -> bool {
        self.matcher.is_stopped() && !self.matcher.is_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsupported_keywords_are_refused_by_name_and_place() {
        let e = Constraint::from_json_schema_at(&json!({"type": "array", "uniqueItems": true}), "response_format.json_schema.schema").unwrap_err();
        match &e {
            ConstraintError::UnsupportedKeyword { keyword, pointer, field } => {
                assert_eq!((keyword.as_str(), pointer.as_str(), field.as_str()), ("uniqueItems", "/uniqueItems", "response_format.json_schema.schema"));
            }
            e => panic!("{e:?}"),
        }
        assert!(e.to_string().contains("uniqueItems"), "{e}");
        assert!(matches!(Constraint::from_json_schema(&json!(3)), Err(ConstraintError::Field { .. })));
    }
}
