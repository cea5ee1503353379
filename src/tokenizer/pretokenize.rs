//! BPE pre-tokenization: splitting text into words before merges, chosen by
//! the GGUF key `tokenizer.ggml.pre` with the same regular expressions as
//! llama.cpp (`llm_tokenizer_bpe` in `llama-vocab.cpp`).
//!
//! A pre-tokenizer is a list of regexes applied one after the other. Each
//! regex refines the pieces left by the previous one: inside one piece (and
//! seeing only that piece, so `$` and `(?!\S)` stop at its end) every match
//! becomes a piece and so does every stretch of text between matches.

use fancy_regex::Regex;

use super::TokenizerError;

// The GPT-2 word pattern, shared by several pre-tokenizers.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

// Llama 3's pattern, with the case-insensitive group spelled out as llama.cpp does.
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

// Qwen 2: as Llama 3 but digits one at a time.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

// Qwen 3.5: as Qwen 2, but combining marks (\p{M}) stay inside words and
// out of punctuation runs.
const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

// DeepSeek LLM's explicit letter ranges (cased letters), escaped so that no
// editor normalization (U+212A KELVIN SIGN -> K, …) can change them.
const DEEPSEEK_LLM_LETTERS: &str = concat!(
    r"\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}",
    r"\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}",
    r"\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}",
    r"\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}",
    r"\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}",
    r"\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}",
    r"\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}",
    r"\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}",
    r"\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}",
    r"\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}",
    r"\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}",
    r"\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}",
    r"\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}",
    r"\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}",
    r"\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}",
    r"\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}",
    r"\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+",
);

/// The pre-tokenizers tabllm knows, by llama.cpp's names for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreKind {
    /// `default` (or no `tokenizer.ggml.pre` at all).
    Default,
    /// `gpt-2`, `phi-2`, `mpt`, `olmo`, `jais`, `roberta-bpe`, …
    Gpt2,
    /// `smollm`, `starcoder`, `refact`, `command-r`, `codeshell`, `exaone`, `minerva-7b`.
    Smollm,
    /// `llama3`, `llama-v3`, `llama-bpe`, `falcon3`, `dbrx`, `smaug-bpe`.
    Llama3,
    /// `qwen2`, `stablelm2`, `megrez`, `deepseek-r1-qwen`.
    Qwen2,
    /// `deepseek-llm`.
    DeepseekLlm,
    /// `deepseek-coder`.
    DeepseekCoder,
    /// `falcon`.
    Falcon,
    /// `chatglm-bpe`.
    ChatGlm4,
    /// `qwen35`.
    Qwen35,
    /// `gemma4` (also the only pre-tokenizer of tokenizer model `gemma4`),
    /// `granite-embed-multi-311m`: SentencePiece-style BPE. Spaces become
    /// `▁`, the text is split only into runs of newlines and runs of other
    /// characters, merges run on raw UTF-8 (no byte-level alphabet), and a
    /// symbol that is no token falls back to `<0xNN>` byte tokens.
    Gemma4,
}

impl PreKind {
    /// Looks up a `tokenizer.ggml.pre` value.
    pub fn from_name(name: &str) -> Option<Self> {
        use PreKind::*;
        Some(match name {
            "" | "default" => Default,
            "gpt-2" | "gpt2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v1-en"
            | "jina-v2-es" | "jina-v2-de" | "jina-v2-code" | "roberta-bpe" | "mpt" | "olmo"
            | "jais" | "trillion" => Gpt2,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => Smollm,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "dbrx" | "smaug-bpe" => Llama3,
            "qwen2" | "stablelm2" | "megrez" | "deepseek-r1-qwen" => Qwen2,
            "deepseek-llm" => DeepseekLlm,
            "deepseek-coder" => DeepseekCoder,
            "falcon" => Falcon,
            "chatglm-bpe" => ChatGlm4,
            "qwen35" => Qwen35,
            "gemma4" | "granite-embed-multi-311m" => Gemma4,
            _ => return None,
        })
    }

    /// Whether llama.cpp takes a word that is already a vocabulary entry as
    /// one token without running the merges (`ignore_merges`).
    pub fn ignore_merges(self) -> bool {
        self == PreKind::Llama3
    }

    /// llama.cpp's default for `add_bos` when the file does not say.
    pub fn default_add_bos(self) -> bool {
        matches!(self, PreKind::Llama3 | PreKind::Gemma4)
    }

    /// Whether llama.cpp adds BOS even when the file says
    /// `tokenizer.ggml.add_bos_token = false` (its Gemma 4 workaround,
    /// ggml-org/llama.cpp#21500).
    pub fn forces_add_bos(self) -> bool {
        self == PreKind::Gemma4
    }

    /// Whether words are spelled in GPT-2's byte-level alphabet before the
    /// merges (llama.cpp's `byte_encode`); if not, merges run on raw UTF-8
    /// and unknown symbols fall back to `<0xNN>` tokens.
    pub fn byte_level(self) -> bool {
        self != PreKind::Gemma4
    }

    /// Whether spaces are written `▁` (U+2581) before pre-tokenizing, and
    /// `▁` decodes to a space (llama.cpp's `escape_whitespaces`).
    pub fn escapes_spaces(self) -> bool {
        self == PreKind::Gemma4
    }

    fn patterns(self) -> Vec<&'static str> {
        use PreKind::*;
        match self {
            Default => vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
            Gpt2 => vec![GPT2],
            Smollm => vec![r"\p{N}", GPT2],
            Llama3 | ChatGlm4 => vec![LLAMA3],
            Qwen2 => vec![QWEN2],
            Qwen35 => vec![QWEN35],
            Gemma4 => vec![r"[^\n]+|\n+"],
            DeepseekLlm => vec![
                "[\r\n]",
                DEEPSEEK_LLM_LETTERS,
                r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+",
                r"\s+$",
                r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+",
                r"\p{N}+",
            ],
            DeepseekCoder => vec![
                "[\r\n]",
                r"\s?\p{L}+",
                r"\s?\p{P}+",
                r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+",
                r"\p{N}",
            ],
            Falcon => vec![r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"],
        }
    }
}

/// A compiled pre-tokenizer.
#[derive(Debug)]
pub struct PreTokenizer {
    kind: PreKind,
    regexes: Vec<Regex>,
}

impl PreTokenizer {
    pub fn new(kind: PreKind) -> Result<Self, TokenizerError> {
        let regexes = kind
            .patterns()
            .into_iter()
            .map(|p| Regex::new(p).map_err(|e| TokenizerError::Regex(format!("{kind:?}: {e}"))))
            .collect::<Result<_, _>>()?;
        Ok(Self { kind, regexes })
    }

    pub fn kind(&self) -> PreKind {
        self.kind
    }

    /// Splits `text` into words, as byte ranges that cover it in order.
    pub fn split(&self, text: &str) -> Vec<(usize, usize)> {
        let mut pieces = if text.is_empty() {
            Vec::new()
        } else {
            vec![(0, text.len())]
        };
        let mut next = Vec::new();
        for re in &self.regexes {
            next.clear();
            for &(start, end) in &pieces {
                split_piece(re, text, start, end, &mut next);
            }
            std::mem::swap(&mut pieces, &mut next);
        }
        pieces
    }
}

/// Splits `text[start..end]` by the matches of `re`, keeping the gaps.
fn split_piece(re: &Regex, text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let piece = &text[start..end];
    let mut last = 0;
    for m in re.find_iter(piece) {
        let m = match m {
            Ok(m) => m,
            // Backtracking limit hit: keep the rest of the piece whole.
            Err(_) => break,
        };
        if m.start() == m.end() {
            continue;
        }
        if m.start() > last {
            out.push((start + last, start + m.start()));
        }
        out.push((start + m.start(), start + m.end()));
        last = m.end();
    }
    if last < piece.len() {
        out.push((start + last, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(kind: PreKind, text: &str) -> Vec<String> {
        let pre = PreTokenizer::new(kind).unwrap();
        pre.split(text)
            .into_iter()
            .map(|(a, b)| text[a..b].to_string())
            .collect()
    }

    #[test]
    fn all_patterns_compile() {
        for kind in [
            PreKind::Default,
            PreKind::Gpt2,
            PreKind::Smollm,
            PreKind::Llama3,
            PreKind::Qwen2,
            PreKind::DeepseekLlm,
            PreKind::DeepseekCoder,
            PreKind::Falcon,
            PreKind::ChatGlm4,
            PreKind::Qwen35,
            PreKind::Gemma4,
        ] {
            PreTokenizer::new(kind).unwrap();
        }
    }

    #[test]
    fn smollm_splits_digits_and_spaces() {
        assert_eq!(words(PreKind::Smollm, "ab 123"), ["ab", " ", "1", "2", "3"]);
        assert_eq!(
            words(PreKind::Smollm, "Two  spaces"),
            ["Two", " ", " spaces"]
        );
        assert_eq!(words(PreKind::Smollm, "I'll go"), ["I", "'ll", " go"]);
    }

    #[test]
    fn llama3_groups_three_digits() {
        assert_eq!(
            words(PreKind::Llama3, "12345 x\n\ny"),
            ["123", "45", " x", "\n\n", "y"]
        );
    }

    #[test]
    fn qwen35_keeps_combining_marks_in_words() {
        // "e" + U+0301 COMBINING ACUTE ACCENT: one word for Qwen 3.5, while
        // Qwen 2 makes the mark a punctuation-like piece of its own.
        assert_eq!(words(PreKind::Qwen35, "re\u{301}sume\u{301} x"), ["re\u{301}sume\u{301}", " x"]);
        assert_eq!(words(PreKind::Qwen2, "re\u{301}sume\u{301} x"), ["re", "\u{301}sume", "\u{301}", " x"]);
        assert_eq!(words(PreKind::Qwen35, "\u{301}!"), ["\u{301}", "!"]);
    }

    #[test]
    fn gemma4_splits_only_at_newline_runs() {
        assert_eq!(
            words(PreKind::Gemma4, "a▁b,▁c\n\n d\n"),
            ["a▁b,▁c", "\n\n", " d", "\n"]
        );
    }

    #[test]
    fn empty_text_has_no_words() {
        assert!(words(PreKind::Smollm, "").is_empty());
    }
}
