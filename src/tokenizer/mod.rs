//! Tokenizers built from GGUF metadata and incremental detokenization
//! (chat templates and messages are [`crate::chat`]).
//!
//! [`Tokenizer::from_metadata`] reads the `tokenizer.ggml.*` keys and builds
//! one of three models, matching llama.cpp (`llama-vocab.cpp`) token for token:
//! - byte-level BPE (`tokenizer.ggml.model == "gpt2"`): a pre-tokenizer chosen
//!   by `tokenizer.ggml.pre` splits text into words, merges by rank;
//!   Gemma 4's model (`"gemma4"`) is this BPE in SentencePiece dress: `▁`
//!   for spaces, raw UTF-8, `<0xNN>` byte fallback ([`PreKind::Gemma4`]);
//! - SentencePiece (`"llama"`): score-ordered merges over characters, `▁` for
//!   spaces, `<0xNN>` byte fallback;
//! - WordPiece (`"bert"`): BERT's normalization and greedy longest match
//!   (see `wpm.rs`). With special tokens, llama.cpp puts `[CLS]` (BOS) first
//!   and `[SEP]` last whatever `add_bos_token` / `add_eos_token` say
//!   ([`Tokenizer::add_bos`], [`Tokenizer::suffix_id`]).
//!
//! Special tokens (types CONTROL and USER_DEFINED) are split out of the text
//! before the model sees it, longest first; with `parse_special == false` only
//! USER_DEFINED ones are, and a control token's text is tokenized as plain
//! text, as llama.cpp does.
//!
//! Decoding follows llama.cpp's `token_to_piece(special = true)`: control,
//! unknown and user-defined tokens render as their text (`<|im_end|>`), byte
//! tokens as their byte, unused and undefined tokens as nothing. Pieces are
//! joined as bytes; [`Tokenizer::decode`] makes lossy UTF-8 of them and
//! [`StreamDecoder`] holds back an incomplete character until its last byte
//! arrives. Unlike llama.cpp's `detokenize`, no space clean-up and no
//! removal of a leading space is done.

mod bpe;
mod bytes;
mod eog;
mod pretokenize;
mod spm;
mod stream;
mod wpm;

use std::collections::HashMap;

use crate::gguf::{GgufError, Metadata};

pub use pretokenize::PreKind;
pub use stream::StreamDecoder;

/// Everything that can stop a tokenizer or a chat template from being built
/// or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error(
        "tokenizer model `{0}` is not supported (only \"gpt2\" and \"gemma4\" BPE, \"llama\" SentencePiece and \"bert\" WordPiece)"
    )]
    UnsupportedModel(String),
    #[error("BPE pre-tokenizer `{0}` is not supported")]
    UnsupportedPreTokenizer(String),
    #[error("metadata key `{0}` is missing")]
    Missing(&'static str),
    #[error("metadata key `{key}` has {got} entries, expected {expected} (one per token)")]
    LengthMismatch {
        key: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("the vocabulary is empty")]
    EmptyVocab,
    #[error("the vocabulary has {0} tokens, more than token ids can address")]
    VocabTooLarge(usize),
    #[error(transparent)]
    Metadata(#[from] GgufError),
    #[error("pre-tokenizer regex: {0}")]
    Regex(String),
    /// A WordPiece vocabulary without a token llama.cpp needs: `key` absent
    /// or out of range, and llama.cpp's default id past the vocabulary.
    #[error("the WordPiece vocabulary has no {token} token (`{key}` is absent or out of range, and the default id {default} is past the vocabulary)")]
    MissingSpecialToken {
        token: &'static str,
        key: &'static str,
        default: u32,
    },
    /// A WordPiece token longer than the matcher's bound (it bounds the work per character).
    #[error("token {id} is {bytes} bytes long, more than the {limit} a WordPiece vocabulary may have")]
    TokenTooLong { id: u32, bytes: usize, limit: usize },
}

/// Token types as GGUF stores them in `tokenizer.ggml.token_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TokenType {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    fn from_i64(v: i64) -> Self {
        match v {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Undefined,
        }
    }

    /// Split out of the text before tokenizing (llama.cpp's special-token cache).
    fn is_special(self) -> bool {
        matches!(self, Self::Control | Self::UserDefined | Self::Unknown)
    }
}

/// The token table shared by both models.
#[derive(Debug)]
pub(crate) struct Vocab {
    texts: Vec<Box<str>>,
    types: Vec<TokenType>,
    ids: HashMap<Box<str>, u32>,
}

impl Vocab {
    fn len(&self) -> usize {
        self.texts.len()
    }

    /// The id of a token by its exact text (for a repeated text, the last id).
    pub(crate) fn id_of(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }

    fn token_type(&self, id: u32) -> TokenType {
        self.types[id as usize]
    }
}

#[derive(Debug)]
enum Model {
    Bpe(bpe::Bpe),
    Spm(spm::Spm),
    Wpm(wpm::Wpm),
}

/// A piece of input text after special tokens are split out.
#[derive(Clone, Copy, Debug)]
enum Fragment {
    Text(usize, usize),
    Token(u32),
}

/// A tokenizer for one model, built from its GGUF metadata.
#[derive(Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    /// Ids split out before tokenizing, longest text first.
    special: Vec<u32>,
    /// Decoded bytes of every token, concatenated; `piece_ends[i]` ends token i.
    piece_bytes: Vec<u8>,
    piece_ends: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    /// `[SEP]` (`tokenizer.ggml.seperator_token_id`, sic).
    sep: Option<u32>,
    pad: Option<u32>,
    /// End-of-generation ids, sorted.
    eog: Vec<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

impl Tokenizer {
    /// Builds the tokenizer that `md` describes. Unknown tokenizer models and
    /// pre-tokenizers are errors, so that a model is never run with a
    /// tokenization that silently differs from llama.cpp's.
    pub fn from_metadata(md: &Metadata) -> Result<Self, TokenizerError> {
        let model_name = md
            .get_str("tokenizer.ggml.model")?
            .ok_or(TokenizerError::Missing("tokenizer.ggml.model"))?;
        let texts = md
            .get_str_array("tokenizer.ggml.tokens")?
            .ok_or(TokenizerError::Missing("tokenizer.ggml.tokens"))?;
        let n = texts.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if n > i32::MAX as usize {
            return Err(TokenizerError::VocabTooLarge(n));
        }
        let mut types = match md.get_i64_array("tokenizer.ggml.token_type")? {
            Some(t) if t.len() != n => {
                return Err(TokenizerError::LengthMismatch {
                    key: "tokenizer.ggml.token_type",
                    expected: n,
                    got: t.len(),
                })
            }
            Some(t) => t.into_iter().map(TokenType::from_i64).collect(),
            None => vec![TokenType::Normal; n],
        };

        let texts: Vec<Box<str>> = texts
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                if t.is_empty() {
                    format!("[EMPTY_{i}]").into()
                } else {
                    t.into()
                }
            })
            .collect();
        let mut ids = HashMap::with_capacity(n);
        for (i, t) in texts.iter().enumerate() {
            ids.insert(t.clone(), i as u32);
        }

        // Special ids: the file's, if in range, else llama.cpp's default for
        // the model if in range (`llama_vocab::impl::load`). For BPE
        // llama.cpp defaults BOS and EOS to 11; tabllm leaves them unset.
        let defaults = DefaultIds::of_model(model_name);
        let id_key = |key: &str| -> Result<Option<u32>, TokenizerError> {
            Ok(md.get_u32(key)?.filter(|&id| (id as usize) < n))
        };
        let default_id = |id: Option<u32>| id.filter(|&id| (id as usize) < n);
        let bos = id_key("tokenizer.ggml.bos_token_id")?.or(default_id(defaults.bos));
        let eos = id_key("tokenizer.ggml.eos_token_id")?.or(default_id(defaults.eos));
        let unk = id_key("tokenizer.ggml.unknown_token_id")?.or(default_id(defaults.unk));
        let sep = id_key("tokenizer.ggml.seperator_token_id")?.or(default_id(defaults.sep));
        let pad = id_key("tokenizer.ggml.padding_token_id")?.or(default_id(defaults.pad));

        let (model, default_add_bos, mut add_space_prefix, pre_kind) = match model_name {
            "gpt2" | "gemma4" => {
                // llama.cpp gives model "gemma4" the "gemma4" pre-tokenizer
                // whatever the file says; tabllm takes the key's absence or
                // that name, and refuses any other value by name.
                let kind = match (model_name, md.get_str("tokenizer.ggml.pre")?) {
                    ("gemma4", None | Some("gemma4")) => PreKind::Gemma4,
                    ("gemma4", Some(other)) => {
                        return Err(TokenizerError::UnsupportedPreTokenizer(other.to_string()))
                    }
                    (_, name) => {
                        let name = name.unwrap_or("default");
                        PreKind::from_name(name)
                            .ok_or_else(|| TokenizerError::UnsupportedPreTokenizer(name.to_string()))?
                    }
                };
                let merges = md
                    .get_str_array("tokenizer.ggml.merges")?
                    .ok_or(TokenizerError::Missing("tokenizer.ggml.merges"))?;
                let pre = pretokenize::PreTokenizer::new(kind)?;
                (
                    Model::Bpe(bpe::Bpe::new(pre, &merges)?),
                    kind.default_add_bos(),
                    false,
                    Some(kind),
                )
            }
            "llama" => {
                let scores = match md.get_f32_array("tokenizer.ggml.scores")? {
                    Some(s) if s.len() != n => {
                        return Err(TokenizerError::LengthMismatch {
                            key: "tokenizer.ggml.scores",
                            expected: n,
                            got: s.len(),
                        })
                    }
                    Some(s) => s,
                    None => vec![0.0; n],
                };
                (Model::Spm(spm::Spm::new(scores)), true, true, None)
            }
            "bert" => {
                // llama.cpp asserts on a missing [CLS] or [SEP] when adding
                // special tokens and writes id -1 for a missing [UNK];
                // tabllm refuses such a vocabulary when loading it.
                let require = |id: Option<u32>, token, key, default: Option<u32>| {
                    id.ok_or(TokenizerError::MissingSpecialToken { token, key, default: default.unwrap_or(0) })
                };
                let unk = require(unk, "[UNK]", "tokenizer.ggml.unknown_token_id", defaults.unk)?;
                require(bos, "[CLS]", "tokenizer.ggml.bos_token_id", defaults.bos)?;
                require(sep, "[SEP]", "tokenizer.ggml.seperator_token_id", defaults.sep)?;
                let (id, bytes) = texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (i as u32, t.len()))
                    .max_by_key(|&(i, len)| (len, std::cmp::Reverse(i)))
                    .unwrap_or((0, 0));
                if bytes > wpm::MAX_TOKEN_BYTES {
                    return Err(TokenizerError::TokenTooLong { id, bytes, limit: wpm::MAX_TOKEN_BYTES });
                }
                // `tokenizer.ggml.pre` (e.g. "bert-bge") names no pre-tokenizer
                // for WordPiece: llama.cpp ignores it, and so does tabllm.
                // llama.cpp's BertNormalizer options: lowercase by default,
                // strip accents when lowercasing unless the file says otherwise.
                let lowercase = md.get_bool("tokenizer.ggml.normalizer.lowercase")?.unwrap_or(true);
                let strip_accents = md.get_bool("tokenizer.ggml.normalizer.strip_accents")?.unwrap_or(lowercase);
                (Model::Wpm(wpm::Wpm::new(lowercase, strip_accents, bytes, unk)), true, false, None)
            }
            other => return Err(TokenizerError::UnsupportedModel(other.to_string())),
        };
        if let Some(v) = md.get_bool("tokenizer.ggml.add_space_prefix")? {
            add_space_prefix = v;
        }
        let is_wpm = matches!(model, Model::Wpm(_));
        let byte_level = matches!(&model, Model::Bpe(b) if b.byte_level());

        // End of generation and the token types it overrides: eog.rs (llama.cpp's rule).
        // llama.cpp reads the deprecated prefix / suffix / middle keys after
        // the fim_* ones, so they win when a file has both.
        let keyed = eog::KeyedIds {
            eos,
            eot: id_key("tokenizer.ggml.eot_token_id")?,
            eom: id_key("tokenizer.ggml.eom_token_id")?,
            fim_pre: id_key("tokenizer.ggml.prefix_token_id")?.or(id_key("tokenizer.ggml.fim_pre_token_id")?),
            fim_suf: id_key("tokenizer.ggml.suffix_token_id")?.or(id_key("tokenizer.ggml.fim_suf_token_id")?),
            fim_mid: id_key("tokenizer.ggml.middle_token_id")?.or(id_key("tokenizer.ggml.fim_mid_token_id")?),
            fim_pad: id_key("tokenizer.ggml.fim_pad_token_id")?,
            fim_rep: id_key("tokenizer.ggml.fim_rep_token_id")?,
            fim_sep: id_key("tokenizer.ggml.fim_sep_token_id")?,
        };
        let eog::SpecialTokens { eot, eog, .. } = eog::find(&ids, &texts, &mut types, keyed);

        // WordPiece: llama.cpp adds [CLS] with special tokens whatever the key says.
        let add_bos = md
            .get_bool("tokenizer.ggml.add_bos_token")?
            .unwrap_or(default_add_bos)
            || pre_kind.is_some_and(PreKind::forces_add_bos)
            || is_wpm;
        let add_eos = md
            .get_bool("tokenizer.ggml.add_eos_token")?
            .unwrap_or(false);

        let vocab = Vocab { texts, types, ids };

        let mut special: Vec<u32> = (0..n as u32)
            .filter(|&id| vocab.token_type(id).is_special())
            .collect();
        // Longest first; equal lengths by id, so that the order is fixed.
        special.sort_by(|&a, &b| {
            vocab
                .text(b)
                .len()
                .cmp(&vocab.text(a).len())
                .then(a.cmp(&b))
        });

        let mut piece_bytes = Vec::new();
        let mut piece_ends = Vec::with_capacity(n);
        for id in 0..n as u32 {
            token_piece(&vocab, byte_level, id, &mut piece_bytes);
            piece_ends.push(piece_bytes.len() as u32);
        }
        if piece_bytes.len() > u32::MAX as usize {
            return Err(TokenizerError::VocabTooLarge(n));
        }

        Ok(Self {
            vocab,
            model,
            special,
            piece_bytes,
            piece_ends,
            bos,
            eos,
            eot,
            unk,
            sep,
            pad,
            eog,
            add_bos,
            add_eos,
            add_space_prefix,
        })
    }

    /// Tokenizes `text`. Never adds BOS or EOS: the caller does that when
    /// [`Tokenizer::add_bos`] says so. With `parse_special`, the text of
    /// control tokens (`<|im_start|>`) becomes those tokens; without it, it
    /// is tokenized like any other text.
    pub fn encode(&self, text: &str, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        let mut prev_special = true;
        for frag in self.partition(text, parse_special) {
            match frag {
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Text(start, end) => {
                    let piece = &text[start..end];
                    match &self.model {
                        Model::Bpe(bpe) => bpe.encode(&self.vocab, piece, &mut out),
                        Model::Spm(spm) => {
                            let prefix = self.add_space_prefix && prev_special;
                            spm.encode(&self.vocab, piece, prefix, self.unk, &mut out)
                        }
                        Model::Wpm(wpm) => wpm.encode(&self.vocab, piece, &mut out),
                    }
                    prev_special = false;
                }
            }
        }
        out
    }

    /// Splits special tokens out of `text` (llama.cpp's `tokenizer_st_partition`):
    /// for each special token, longest first, every occurrence in the
    /// remaining text pieces becomes that token.
    fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        let mut frags = if text.is_empty() {
            Vec::new()
        } else {
            vec![Fragment::Text(0, text.len())]
        };
        let mut next = Vec::new();
        for &id in &self.special {
            let ty = self.vocab.token_type(id);
            if !parse_special && matches!(ty, TokenType::Control | TokenType::Unknown) {
                continue;
            }
            let pat = self.vocab.text(id);
            if !text.contains(pat) {
                continue;
            }
            next.clear();
            for &frag in &frags {
                let Fragment::Text(start, end) = frag else {
                    next.push(frag);
                    continue;
                };
                let mut pos = start;
                while let Some(m) = text[pos..end].find(pat) {
                    if m > 0 {
                        next.push(Fragment::Text(pos, pos + m));
                    }
                    next.push(Fragment::Token(id));
                    pos += m + pat.len();
                }
                if pos < end {
                    next.push(Fragment::Text(pos, end));
                }
            }
            std::mem::swap(&mut frags, &mut next);
        }
        frags
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// The end-of-turn token (`tokenizer.ggml.eot_token_id`, else found by text).
    pub fn eot_id(&self) -> Option<u32> {
        self.eot
    }

    pub fn unk_id(&self) -> Option<u32> {
        self.unk
    }

    pub fn pad_id(&self) -> Option<u32> {
        self.pad
    }

    /// Whether a prompt should start with BOS (`tokenizer.ggml.add_bos_token`,
    /// else llama.cpp's default for the tokenizer type).
    pub fn add_bos(&self) -> bool {
        self.add_bos && self.bos.is_some()
    }

    /// `tokenizer.ggml.add_eos_token` (never applied by [`Tokenizer::encode`]).
    pub fn add_eos(&self) -> bool {
        self.add_eos && self.eos.is_some()
    }

    /// `[SEP]`: `tokenizer.ggml.seperator_token_id` (sic), else 102 for
    /// WordPiece (llama.cpp's default), if in the vocabulary.
    pub fn sep_id(&self) -> Option<u32> {
        self.sep
    }

    /// A lower bound on the tokens `text` encodes to, without encoding it,
    /// or None where the vocabulary's longest token bounds it instead.
    /// WordPiece makes a whole unmatched word one `[UNK]`, however long, so
    /// bytes bound nothing there; but every whitespace-separated word is at
    /// least one token.
    pub fn min_tokens_by_words(&self, text: &str) -> Option<usize> {
        match self.model {
            Model::Wpm(_) => Some(text.split(char::is_whitespace).filter(|w| !w.is_empty()).count()),
            Model::Bpe(_) | Model::Spm(_) => None,
        }
    }

    /// The id llama.cpp's `tokenize(add_special = true)` ends a text with
    /// (`llama_vocab::impl::tokenize`): `[SEP]` for WordPiece, always; for
    /// the others EOS when [`Tokenizer::add_eos`]; else none. Never applied
    /// by [`Tokenizer::encode`].
    pub fn suffix_id(&self) -> Option<u32> {
        match self.model {
            Model::Wpm(_) => self.sep,
            Model::Bpe(_) | Model::Spm(_) => self.eos.filter(|_| self.add_eos),
        }
    }

    /// Whether generation stops at `id`: EOS, EOT, EOM, and every token llama.cpp
    /// treats as end of generation by its text (`<|im_end|>`, `<end_of_turn>`,
    /// `<|eot_id|>`, `<|endoftext|>`, …).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// All end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    /// The token's text as stored in the vocabulary (byte-level BPE tokens in
    /// their `Ġ` spelling, SentencePiece ones with `▁`).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(|t| &**t)
    }

    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.vocab.types.get(id as usize).copied()
    }

    /// The id of a token by its exact vocabulary text.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.id_of(text)
    }

    /// The bytes a token decodes to (see the module docs); empty for an
    /// out-of-range id. May be part of a UTF-8 character.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        if i >= self.piece_ends.len() {
            return &[];
        }
        let start = if i == 0 {
            0
        } else {
            self.piece_ends[i - 1] as usize
        };
        &self.piece_bytes[start..self.piece_ends[i] as usize]
    }

    /// Joins the tokens' bytes and makes lossy UTF-8 of them. Out-of-range ids
    /// decode to nothing.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut buf = Vec::new();
        for &id in ids {
            buf.extend_from_slice(self.token_bytes(id));
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// llama.cpp's default special ids for a tokenizer model (before the file's
/// keys; each used only if inside the vocabulary).
#[derive(Clone, Copy, Default)]
struct DefaultIds {
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    sep: Option<u32>,
    pad: Option<u32>,
}

impl DefaultIds {
    fn of_model(model: &str) -> Self {
        match model {
            "llama" => Self { bos: Some(1), eos: Some(2), unk: Some(0), ..Self::default() },
            "bert" => Self { bos: Some(101), unk: Some(100), sep: Some(102), pad: Some(0), ..Self::default() },
            _ => Self::default(),
        }
    }
}

/// Appends what token `id` decodes to: llama.cpp's `token_to_piece` with
/// `special = true`. `byte_level`: the texts are in GPT-2's byte-level
/// alphabet (byte-level BPE); otherwise (SentencePiece, Gemma 4's BPE,
/// WordPiece) they are UTF-8 with `▁` for spaces (WordPiece's word-start
/// marker, so continuation pieces join the piece before), and byte tokens
/// are `<0xNN>`.
fn token_piece(vocab: &Vocab, byte_level: bool, id: u32, out: &mut Vec<u8>) {
    let text = vocab.text(id);
    match vocab.token_type(id) {
        TokenType::Control | TokenType::Unknown | TokenType::UserDefined => {
            out.extend_from_slice(text.as_bytes())
        }
        TokenType::Normal if byte_level => bytes::decode_into(text, out),
        TokenType::Normal => out.extend_from_slice(text.replace('\u{2581}', " ").as_bytes()),
        TokenType::Byte if !byte_level => out.extend(spm::parse_byte_token(text)),
        TokenType::Byte | TokenType::Unused | TokenType::Undefined => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Value, ValueType};

    fn strings(items: &[&str]) -> Value {
        Value::Array(
            ValueType::String,
            items.iter().map(|s| Value::String(s.to_string())).collect(),
        )
    }

    /// A byte-level BPE vocabulary: `<s>` control, `<u>` user-defined, then
    /// ordinary tokens.
    fn toy(pre: &str, merges: &[&str]) -> Metadata {
        let tokens = [
            "<s>", "<u>", "a", "b", "c", "Ġ", "ab", "bc", "abc", "aa", "<", ">", "s", "u",
        ];
        let types = [3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let mut md = Metadata::default();
        md.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
        md.insert("tokenizer.ggml.pre".into(), Value::String(pre.into()));
        md.insert("tokenizer.ggml.tokens".into(), strings(&tokens));
        md.insert(
            "tokenizer.ggml.token_type".into(),
            Value::Array(
                ValueType::I32,
                types.iter().map(|&t| Value::I32(t)).collect(),
            ),
        );
        md.insert("tokenizer.ggml.merges".into(), strings(merges));
        md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(0));
        md
    }

    #[test]
    fn merges_apply_by_rank() {
        let tok = Tokenizer::from_metadata(&toy("gpt-2", &["a b", "b c", "ab c"])).unwrap();
        assert_eq!(tok.encode("abc", false), [8]);
        // "b c" outranks "ab c" only when "a b" cannot happen first.
        assert_eq!(tok.encode("bc", false), [7]);
        let tok = Tokenizer::from_metadata(&toy("gpt-2", &["b c", "a b", "ab c"])).unwrap();
        assert_eq!(tok.encode("abc", false), [2, 7]);
    }

    #[test]
    fn equal_ranks_merge_leftmost_first() {
        let tok = Tokenizer::from_metadata(&toy("gpt-2", &["a a"])).unwrap();
        assert_eq!(tok.encode("aaa", false), [9, 2]);
        assert_eq!(tok.encode("aaaa", false), [9, 9]);
    }

    #[test]
    fn special_tokens_split_out() {
        let tok = Tokenizer::from_metadata(&toy("gpt-2", &["a b"])).unwrap();
        // Control tokens only with parse_special; user-defined ones always.
        assert_eq!(tok.encode("ab<s>ab", true), [6, 0, 6]);
        assert_eq!(tok.encode("ab<s>ab", false), [6, 10, 12, 11, 6]);
        assert_eq!(tok.encode("<u>a", false), [1, 2]);
        assert_eq!(tok.decode(&[6, 0, 1, 5]), "ab<s><u> ");
        assert!(tok.is_eog(0));
    }

    #[test]
    fn errors_are_typed() {
        let mut md = toy("gpt-2", &[]);
        md.insert(
            "tokenizer.ggml.pre".into(),
            Value::String("no-such-pre".into()),
        );
        assert!(matches!(
            Tokenizer::from_metadata(&md),
            Err(TokenizerError::UnsupportedPreTokenizer(p)) if p == "no-such-pre"
        ));
        md.insert("tokenizer.ggml.model".into(), Value::String("t5".into()));
        assert!(
            matches!(Tokenizer::from_metadata(&md), Err(TokenizerError::UnsupportedModel(m)) if m == "t5")
        );
        assert!(matches!(
            Tokenizer::from_metadata(&Metadata::default()),
            Err(TokenizerError::Missing("tokenizer.ggml.model"))
        ));
        let mut md = toy("gpt-2", &[]);
        md.insert(
            "tokenizer.ggml.token_type".into(),
            Value::Array(ValueType::I32, vec![Value::I32(1)]),
        );
        assert!(matches!(
            Tokenizer::from_metadata(&md),
            Err(TokenizerError::LengthMismatch { .. })
        ));
        let mut md = toy("gpt-2", &[]);
        md.insert("tokenizer.ggml.tokens".into(), Value::U32(3));
        assert!(matches!(
            Tokenizer::from_metadata(&md),
            Err(TokenizerError::Metadata(_))
        ));
    }

    /// Gemma 4's SentencePiece-style BPE (tokenizer model `gemma4`).
    fn toy_gemma4() -> Metadata {
        let tokens = [
            "<pad>", "<eos>", "<bos>", "a", "b", "\u{2581}", "\u{2581}a", "ab", "\n\n", "\n", "<0xC3>",
            "<0xA9>", "\u{2581}ab",
        ];
        let types = [3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 6, 6, 1];
        let mut md = Metadata::default();
        md.insert("tokenizer.ggml.model".into(), Value::String("gemma4".into()));
        md.insert("tokenizer.ggml.tokens".into(), strings(&tokens));
        md.insert(
            "tokenizer.ggml.token_type".into(),
            Value::Array(ValueType::I32, types.iter().map(|&t| Value::I32(t)).collect()),
        );
        md.insert(
            "tokenizer.ggml.merges".into(),
            strings(&["\u{2581} a", "a b", "\u{2581}a b"]),
        );
        md.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(2));
        md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(1));
        md.insert("tokenizer.ggml.add_bos_token".into(), Value::Bool(false));
        md
    }

    #[test]
    fn gemma4_is_bpe_with_escaped_spaces_and_byte_tokens() {
        let tok = Tokenizer::from_metadata(&toy_gemma4()).unwrap();
        // Spaces as `▁` before merging; a run of newlines that is a token is
        // taken whole (no "\n \n" merge exists); `é` has no token, so its
        // two bytes become <0xC3> <0xA9>.
        assert_eq!(tok.encode(" ab\n\né", false), [12, 8, 10, 11]);
        assert_eq!(tok.encode("ab a", false), [7, 6]);
        assert_eq!(tok.decode(&[12, 8, 10, 11]), " ab\n\né");
        // llama.cpp adds BOS for Gemma 4 even when the file says not to.
        assert!(tok.add_bos());
        // The only pre-tokenizer of model "gemma4" is "gemma4".
        let mut md = toy_gemma4();
        md.insert("tokenizer.ggml.pre".into(), Value::String("gemma4".into()));
        assert!(Tokenizer::from_metadata(&md).is_ok());
        md.insert("tokenizer.ggml.pre".into(), Value::String("gpt-2".into()));
        assert!(matches!(
            Tokenizer::from_metadata(&md),
            Err(TokenizerError::UnsupportedPreTokenizer(p)) if p == "gpt-2"
        ));
    }

    /// llama.cpp's `tokenize(add_special = true)` ends with EOS for BPE only when `add_eos_token`.
    #[test]
    fn suffix_is_eos_only_when_the_file_adds_it() {
        let mut md = toy("gpt-2", &[]);
        assert_eq!(Tokenizer::from_metadata(&md).unwrap().suffix_id(), None);
        md.insert("tokenizer.ggml.add_eos_token".into(), Value::Bool(true));
        let tok = Tokenizer::from_metadata(&md).unwrap();
        assert_eq!((tok.suffix_id(), tok.sep_id()), (Some(0), None));
    }

    #[test]
    fn out_of_range_ids_decode_to_nothing() {
        let tok = Tokenizer::from_metadata(&toy("gpt-2", &[])).unwrap();
        assert_eq!(tok.decode(&[2, 999_999, 3]), "ab");
        assert_eq!(tok.token_text(999_999), None);
        assert!(!tok.is_eog(999_999));
    }
}
