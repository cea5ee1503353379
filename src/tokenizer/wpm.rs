//! WordPiece (GGUF `tokenizer.ggml.model == "bert"`), as llama.cpp's
//! `llm_tokenizer_wpm_session` runs it (`src/llama-vocab.cpp`, llama.cpp in
//! llama-cpp-python 0.3.36).
//!
//! llama.cpp's converter (`conversion/bert.py`) stores a word-start piece
//! `hello` as `▁hello` and a continuation piece `##lo` as `lo`; control
//! tokens (`[CLS]`) keep their text. So a word is matched as `▁` + word.
//!
//! Per character, in order (llama.cpp's `preprocess`):
//! 1. with `strip_accents`, the character becomes the first code point of its
//!    canonical decomposition (`é` → `e`: llama.cpp's table keeps only that
//!    code point). **One deliberate difference**: a Hangul syllable becomes
//!    all of its jamo (`한` → `ᄒ ᅡ ᆫ`), as Hugging Face's BertNormalizer
//!    (NFD, then Mn marks dropped) gives them, where llama.cpp keeps only the
//!    leading one. The model was trained on Hugging Face's pieces: with
//!    llama.cpp's, all-MiniLM-L6-v2's embedding of a Korean sentence is at
//!    cosine 0.61 from sentence-transformers' (tests/reference/real/), with
//!    these it is equal. For every other character the two rules agree (the
//!    rest of a canonical decomposition is marks, dropped in step 4);
//! 2. whitespace (llama.cpp's list: U+0009–U+000D, U+0020, U+0085, U+00A0,
//!    U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) ends the
//!    word;
//! 3. NUL, U+FFFD and control characters (categories Cc, Cf, Co, Cs) are dropped;
//! 4. with `strip_accents`, marks (Mn, Mc, Me) are dropped;
//! 5. punctuation (P*), ASCII symbols (S* below U+007F) and CJK ideographs
//!    are words of their own; everything else joins the current word,
//!    lowercased with `lowercase` (the simple, one-code-point mapping).
//!
//! Each word is then matched greedily, longest vocabulary entry first, from
//! its start; if some position has no match the whole word is `[UNK]`.
//! Unlike Hugging Face's WordPiece, llama.cpp has no word-length limit (HF
//! makes a word over 100 characters `[UNK]`): a long word is matched like
//! any other. The cost per character is bounded by the longest token, which
//! the loader caps at [`MAX_TOKEN_BYTES`].

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

use super::Vocab;

/// The longest token text (bytes) a WordPiece vocabulary may have; the
/// longest in real BERT vocabularies is a few dozen. It bounds the matching
/// work per character.
pub const MAX_TOKEN_BYTES: usize = 256;

/// The start-of-word marker llama.cpp's converter puts before word-start pieces.
const WORD_START: char = '\u{2581}';

#[derive(Debug)]
pub struct Wpm {
    /// `tokenizer.ggml.normalizer.lowercase` (default true).
    lowercase: bool,
    /// `tokenizer.ggml.normalizer.strip_accents` (default: `lowercase`).
    strip_accents: bool,
    /// Bytes of the longest token text (at most [`MAX_TOKEN_BYTES`]).
    max_token_len: usize,
    /// `[UNK]`, for a word with no match.
    unk: u32,
}

impl Wpm {
    pub fn new(lowercase: bool, strip_accents: bool, max_token_len: usize, unk: u32) -> Self {
        Self { lowercase, strip_accents, max_token_len, unk }
    }

    /// Tokenizes plain text (special-token text already split out),
    /// appending ids to `out`; a word with no match becomes `[UNK]`.
    pub fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        // The current word, always starting with the word-start marker.
        let mut word = String::from(WORD_START);
        for c in text.chars() {
            if !self.strip_accents {
                self.push_char(vocab, c, &mut word, out);
            } else if is_hangul_syllable(c) {
                unicode_normalization::char::decompose_canonical(c, |jamo| self.push_char(vocab, jamo, &mut word, out));
            } else {
                self.push_char(vocab, first_of_nfd(c), &mut word, out);
            }
        }
        self.flush(vocab, &mut word, out);
    }

    /// Steps 2–5 for one (normalized) character: it ends the word, is
    /// dropped, is a word of its own, or joins `word`.
    fn push_char(&self, vocab: &Vocab, c: char, word: &mut String, out: &mut Vec<u32>) {
        if is_whitespace(c) {
            self.flush(vocab, word, out);
            return;
        }
        let cat = get_general_category(c);
        if c == '\0' || c == '\u{FFFD}' || is_control(cat) {
            return;
        }
        if self.strip_accents && is_mark(cat) {
            return;
        }
        let lower = if self.lowercase { simple_lowercase(c) } else { c };
        if is_punctuation(cat) || ((c as u32) < 0x7F && is_symbol(cat)) || is_cjk_ideograph(c) {
            self.flush(vocab, word, out);
            word.push(lower);
            self.flush(vocab, word, out);
        } else {
            word.push(lower);
        }
    }

    /// Matches the word in `word` (after its marker), if any, and empties it.
    fn flush(&self, vocab: &Vocab, word: &mut String, out: &mut Vec<u32>) {
        let marker = WORD_START.len_utf8();
        if word.len() > marker {
            self.match_word(vocab, word, out);
            word.truncate(marker);
        }
    }

    /// Greedy longest match over `word` (marker included): at each position
    /// the longest vocabulary entry that starts there; no entry at some
    /// position makes the whole word `[UNK]`.
    fn match_word(&self, vocab: &Vocab, word: &str, out: &mut Vec<u32>) {
        let start_len = out.len();
        let mut i = 0;
        while i < word.len() {
            let longest = word.len().min(i + self.max_token_len);
            let found = (i + 1..=longest)
                .rev()
                .filter(|&j| word.is_char_boundary(j))
                .find_map(|j| vocab.id_of(&word[i..j]).map(|id| (id, j)));
            match found {
                Some((id, j)) => {
                    out.push(id);
                    i = j;
                }
                None => {
                    out.truncate(start_len);
                    break;
                }
            }
        }
        if out.len() == start_len {
            out.push(self.unk);
        }
    }
}

/// A precomposed Hangul syllable (U+AC00–U+D7A3), whose canonical
/// decomposition is 2 or 3 conjoining jamo (Unicode §3.12).
fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// The first code point of `c`'s canonical decomposition (`c` itself when it
/// has none): llama.cpp's `unicode_cpts_normalize_nfd`, whose table keeps
/// only that code point.
fn first_of_nfd(c: char) -> char {
    let mut first = None;
    unicode_normalization::char::decompose_canonical(c, |d| {
        first.get_or_insert(d);
    });
    first.unwrap_or(c)
}

/// UnicodeData's simple lowercase mapping. `char::to_lowercase` differs from
/// it only for U+0130 (`i` + U+0307 instead of `i`), whose first code point
/// is the simple mapping, so the first is taken.
fn simple_lowercase(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// llama.cpp's whitespace set (`unicode_set_whitespace`: Unicode's White_Space).
fn is_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'..='\u{000D}'
            | '\u{0020}'
            | '\u{0085}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
    )
}

fn is_control(cat: Gc) -> bool {
    matches!(cat, Gc::Control | Gc::Format | Gc::PrivateUse | Gc::Surrogate)
}

fn is_mark(cat: Gc) -> bool {
    matches!(cat, Gc::NonspacingMark | Gc::SpacingMark | Gc::EnclosingMark)
}

fn is_punctuation(cat: Gc) -> bool {
    matches!(
        cat,
        Gc::ConnectorPunctuation
            | Gc::DashPunctuation
            | Gc::ClosePunctuation
            | Gc::FinalPunctuation
            | Gc::InitialPunctuation
            | Gc::OtherPunctuation
            | Gc::OpenPunctuation
    )
}

fn is_symbol(cat: Gc) -> bool {
    matches!(cat, Gc::CurrencySymbol | Gc::ModifierSymbol | Gc::MathSymbol | Gc::OtherSymbol)
}

/// The CJK ideograph blocks llama.cpp (after BERT) splits into one-character
/// words (`is_chinese_char`; its extension-B..E range starts at U+2B920, as
/// Hugging Face's Rust code does).
fn is_cjk_ideograph(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use crate::gguf::{Metadata, Value, ValueType};
    use crate::tokenizer::{Tokenizer, TokenizerError};

    /// Normal pieces of the toy vocabulary, after the 104 tokens that put
    /// `[PAD] [UNK] [CLS] [SEP] [MASK]` at llama.cpp's default ids 0, 100–103.
    const PIECES: &[&str] = &[
        "\u{2581}hello", "\u{2581}hel", "lo", "\u{2581}world", "\u{2581}cafe", "\u{2581},", "\u{2581}!",
        "\u{2581}$", "\u{2581}\u{4E2D}", "\u{2581}\u{56FD}", "\u{2581}\u{1112}", "\u{2581}\u{1112}\u{1161}\u{11AB}", "\u{2581}[", "\u{2581}]",
        "\u{2581}cls", "\u{2581}caf\u{E9}",
    ];

    fn toy_tokens() -> (Vec<String>, Vec<i32>) {
        let mut tokens: Vec<String> = (0..104).map(|i| format!("[unused{i}]")).collect();
        let mut types = vec![1; 104];
        for (id, name) in [(0, "[PAD]"), (100, "[UNK]"), (101, "[CLS]"), (102, "[SEP]"), (103, "[MASK]")] {
            tokens[id] = name.into();
            types[id] = 3;
        }
        tokens.extend(PIECES.iter().map(|p| p.to_string()));
        types.extend(PIECES.iter().map(|_| 1));
        (tokens, types)
    }

    fn bert(tokens: &[String], types: &[i32]) -> Metadata {
        let mut md = Metadata::default();
        md.insert("tokenizer.ggml.model".into(), Value::String("bert".into()));
        md.insert(
            "tokenizer.ggml.tokens".into(),
            Value::Array(ValueType::String, tokens.iter().map(|t| Value::String(t.clone())).collect()),
        );
        md.insert(
            "tokenizer.ggml.token_type".into(),
            Value::Array(ValueType::I32, types.iter().map(|&t| Value::I32(t)).collect()),
        );
        md
    }

    fn toy() -> Tokenizer {
        let (tokens, types) = toy_tokens();
        Tokenizer::from_metadata(&bert(&tokens, &types)).unwrap()
    }

    /// Ids of pieces by text (`▁` written as `_`).
    fn ids(tok: &Tokenizer, pieces: &[&str]) -> Vec<u32> {
        pieces
            .iter()
            .map(|p| tok.token_id(&p.replace('_', "\u{2581}")).unwrap_or_else(|| panic!("{p} not in the toy vocabulary")))
            .collect()
    }

    #[test]
    fn longest_match_with_continuations_and_case() {
        let tok = toy();
        assert_eq!(tok.encode("hello", false), ids(&tok, &["_hello"]));
        // `▁hello` is longer than `▁hel`; the rest is the continuation `lo`.
        assert_eq!(tok.encode("hellolo", false), ids(&tok, &["_hello", "lo"]));
        assert_eq!(tok.encode("  Hello\tWORLD\u{3000}", false), ids(&tok, &["_hello", "_world"]));
        assert!(tok.encode("", false).is_empty());
    }

    #[test]
    fn a_word_without_a_full_match_is_unk() {
        let tok = toy();
        assert_eq!(tok.encode("xyz hello", false), [100, ids(&tok, &["_hello"])[0]]);
        // `▁hello` matches, `x` does not: the whole word is [UNK].
        assert_eq!(tok.encode("hellox", false), [100]);
        // A symbol from U+007F on (`€`, Sc) stays inside the word.
        assert_eq!(tok.encode("hello\u{20AC}", false), [100]);
    }

    #[test]
    fn accents_are_stripped_after_decomposition() {
        let tok = toy();
        let cafe = ids(&tok, &["_cafe"]);
        // Precomposed é and e + U+0301 both become `e`.
        assert_eq!(tok.encode("Caf\u{E9}", false), cafe);
        assert_eq!(tok.encode("CAFE\u{301}", false), cafe);
        // A Hangul syllable becomes all its jamo (Hugging Face's rule, not
        // llama.cpp's leading jamo alone, which the vocabulary also holds).
        assert_eq!(tok.encode("\u{D55C}", false), ids(&tok, &["_\u{1112}\u{1161}\u{11AB}"]));
        // Format characters (Cf) are dropped inside a word.
        assert_eq!(tok.encode("hel\u{200B}lo", false), ids(&tok, &["_hello"]));
    }

    #[test]
    fn normalizer_keys_turn_lowercasing_and_stripping_off() {
        let (tokens, types) = toy_tokens();
        let mut md = bert(&tokens, &types);
        md.insert("tokenizer.ggml.normalizer.lowercase".into(), Value::Bool(false));
        let tok = Tokenizer::from_metadata(&md).unwrap();
        // Neither lowercased nor stripped (strip_accents follows lowercase).
        assert_eq!(tok.encode("Hello", false), [100]);
        assert_eq!(tok.encode("caf\u{E9}", false), ids(&tok, &["_caf\u{E9}"]));
        md.insert("tokenizer.ggml.normalizer.strip_accents".into(), Value::Bool(true));
        let tok = Tokenizer::from_metadata(&md).unwrap();
        assert_eq!(tok.encode("caf\u{E9}", false), ids(&tok, &["_cafe"]));
    }

    #[test]
    fn punctuation_ascii_symbols_and_cjk_are_words_of_their_own() {
        let tok = toy();
        assert_eq!(tok.encode("hello,world!", false), ids(&tok, &["_hello", "_,", "_world", "_!"]));
        assert_eq!(tok.encode("$hello", false), ids(&tok, &["_$", "_hello"]));
        assert_eq!(tok.encode("\u{4E2D}\u{56FD}", false), ids(&tok, &["_\u{4E2D}", "_\u{56FD}"]));
        assert_eq!(tok.encode("hello\u{4E2D}", false), ids(&tok, &["_hello", "_\u{4E2D}"]));
    }

    /// llama.cpp has no word-length limit (Hugging Face makes a word over
    /// 100 characters [UNK]): 1001 characters still match piece by piece.
    #[test]
    fn a_long_word_is_matched_like_any_other() {
        let tok = toy();
        let word = format!("hello{}", "lo".repeat(498));
        assert_eq!(word.chars().count(), 1001);
        let mut want = ids(&tok, &["_hello"]);
        want.extend(std::iter::repeat_n(ids(&tok, &["lo"])[0], 498));
        assert_eq!(tok.encode(&word, false), want);
    }

    #[test]
    fn special_token_text_is_parsed_only_when_asked() {
        let tok = toy();
        let hello = ids(&tok, &["_hello"])[0];
        assert_eq!(tok.encode("[CLS]hello [SEP]", true), [101, hello, 102]);
        assert_eq!(
            tok.encode("[CLS]hello", false),
            ids(&tok, &["_[", "_cls", "_]", "_hello"])
        );
    }

    #[test]
    fn special_tokens_around_a_text_are_cls_and_sep() {
        let tok = toy();
        // llama.cpp's defaults for "bert": [CLS] 101, [UNK] 100, [SEP] 102, [PAD] 0.
        assert_eq!((tok.bos_id(), tok.unk_id(), tok.sep_id(), tok.pad_id(), tok.eos_id()), (Some(101), Some(100), Some(102), Some(0), None));
        assert!(tok.add_bos());
        assert_eq!(tok.suffix_id(), Some(102));
        // The file's keys win, and add_bos_token / add_eos_token change nothing (as in llama.cpp).
        let (tokens, types) = toy_tokens();
        let mut md = bert(&tokens, &types);
        md.insert("tokenizer.ggml.seperator_token_id".into(), Value::U32(103));
        md.insert("tokenizer.ggml.add_bos_token".into(), Value::Bool(false));
        md.insert("tokenizer.ggml.add_eos_token".into(), Value::Bool(true));
        md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(0));
        let tok = Tokenizer::from_metadata(&md).unwrap();
        assert!(tok.add_bos());
        assert_eq!(tok.suffix_id(), Some(103));
    }

    /// llama.cpp's `token_to_piece`: `▁` is a space, continuations join, control tokens are their text.
    #[test]
    fn decoding_joins_continuations() {
        let tok = toy();
        let mut ids_ = vec![101];
        ids_.extend(ids(&tok, &["_hello", "lo", "_world", "_!"]));
        ids_.push(102);
        assert_eq!(tok.decode(&ids_), "[CLS] hellolo world ![SEP]");
    }

    #[test]
    fn hostile_vocabularies_are_typed_errors() {
        let (tokens, types) = toy_tokens();
        assert!(matches!(Tokenizer::from_metadata(&bert(&[], &[])), Err(TokenizerError::EmptyVocab)));
        // A token past the bound.
        let mut huge = tokens.clone();
        huge[5] = "x".repeat(super::MAX_TOKEN_BYTES + 1);
        assert!(matches!(
            Tokenizer::from_metadata(&bert(&huge, &types)),
            Err(TokenizerError::TokenTooLong { id: 5, bytes, .. }) if bytes == super::MAX_TOKEN_BYTES + 1
        ));
        // Too few tokens for the default ids and no keys: [UNK] is missing first.
        let short: Vec<String> = tokens[..50].to_vec();
        assert!(matches!(
            Tokenizer::from_metadata(&bert(&short, &types[..50])),
            Err(TokenizerError::MissingSpecialToken { token: "[UNK]", .. })
        ));
        let mut md = bert(&short, &types[..50]);
        md.insert("tokenizer.ggml.unknown_token_id".into(), Value::U32(1));
        assert!(matches!(
            Tokenizer::from_metadata(&md),
            Err(TokenizerError::MissingSpecialToken { token: "[CLS]", default: 101, .. })
        ));
        // An out-of-range key falls back to the default, here out of range too.
        md.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(2));
        md.insert("tokenizer.ggml.seperator_token_id".into(), Value::U32(9999));
        assert!(matches!(
            Tokenizer::from_metadata(&md),
            Err(TokenizerError::MissingSpecialToken { token: "[SEP]", .. })
        ));
        md.insert("tokenizer.ggml.seperator_token_id".into(), Value::U32(3));
        let tok = Tokenizer::from_metadata(&md).unwrap();
        assert_eq!(tok.encode("nothing here", false), [1, 1]);
        // A normalizer key of the wrong type is an error, not a default.
        md.insert("tokenizer.ggml.normalizer.lowercase".into(), Value::U32(1));
        assert!(matches!(Tokenizer::from_metadata(&md), Err(TokenizerError::Metadata(_))));
    }
}
