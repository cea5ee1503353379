//! SentencePiece-style BPE (GGUF `tokenizer.ggml.model == "llama"`), as
//! llama.cpp's `llm_tokenizer_spm_session` runs it.
//!
//! Spaces become `▁` (with one prepended after a special token or at the
//! start when `add_space_prefix`), the text is split into characters, and,
//! repeatedly, the adjacent pair whose concatenation is the vocabulary entry
//! with the highest score (ties: the leftmost) is merged. A symbol left that
//! is not a token is written as its bytes' `<0xNN>` tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::Vocab;

#[derive(Debug)]
pub struct Spm {
    scores: Vec<f32>,
}

#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: u32,
    len: u32,
    prev: i32,
    next: i32,
}

/// A candidate merge: higher score first, then the leftmost.
#[derive(Clone, Copy, Debug)]
struct Pair {
    score: f32,
    left: i32,
    right: i32,
    len: u32,
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pair {}
impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

/// The byte a `<0xNN>` token stands for.
pub fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl Spm {
    pub fn new(scores: Vec<f32>) -> Self {
        Self { scores }
    }

    /// Tokenizes plain text, appending ids to `out`.
    pub fn encode(
        &self,
        vocab: &Vocab,
        text: &str,
        space_prefix: bool,
        unk: Option<u32>,
        out: &mut Vec<u32>,
    ) {
        let mut s = String::with_capacity(text.len() + 3);
        if space_prefix {
            s.push('\u{2581}');
        }
        for c in text.chars() {
            s.push(if c == ' ' { '\u{2581}' } else { c });
        }
        if s.is_empty() {
            return;
        }
        let mut symbols: Vec<Symbol> = Vec::new();
        for (i, (start, c)) in s.char_indices().enumerate() {
            let len = c.len_utf8();
            symbols.push(Symbol {
                start: start as u32,
                len: len as u32,
                prev: i as i32 - 1,
                next: if start + len == s.len() {
                    -1
                } else {
                    i as i32 + 1
                },
            });
        }
        let mut heap = BinaryHeap::new();
        for i in 1..symbols.len() {
            self.push_pair(vocab, &s, &symbols, &mut heap, i as i32 - 1, i as i32);
        }
        while let Some(p) = heap.pop() {
            let (l, r) = (symbols[p.left as usize], symbols[p.right as usize]);
            if l.len == 0 || r.len == 0 || l.len + r.len != p.len {
                continue;
            }
            symbols[p.left as usize].len += r.len;
            symbols[p.left as usize].next = r.next;
            symbols[p.right as usize].len = 0;
            if r.next >= 0 {
                symbols[r.next as usize].prev = p.left;
            }
            self.push_pair(vocab, &s, &symbols, &mut heap, l.prev, p.left);
            self.push_pair(vocab, &s, &symbols, &mut heap, p.left, r.next);
        }
        let mut i = 0i32;
        while i >= 0 {
            let sym = symbols[i as usize];
            i = sym.next;
            let piece = &s[sym.start as usize..(sym.start + sym.len) as usize];
            match vocab.id_of(piece) {
                Some(id) => out.push(id),
                None => {
                    for b in piece.bytes() {
                        if let Some(id) = byte_token(vocab, b).or(unk) {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }

    fn push_pair(
        &self,
        vocab: &Vocab,
        s: &str,
        symbols: &[Symbol],
        heap: &mut BinaryHeap<Pair>,
        left: i32,
        right: i32,
    ) {
        if left < 0 || right < 0 {
            return;
        }
        let (l, r) = (symbols[left as usize], symbols[right as usize]);
        let len = l.len + r.len;
        let text = &s[l.start as usize..(l.start + len) as usize];
        if let Some(id) = vocab.id_of(text) {
            let score = self.scores.get(id as usize).copied().unwrap_or(0.0);
            heap.push(Pair {
                score,
                left,
                right,
                len,
            });
        }
    }
}

/// The token for one byte: `<0xNN>`, else the byte itself as a token.
fn byte_token(vocab: &Vocab, b: u8) -> Option<u32> {
    vocab.id_of(&format!("<0x{b:02X}>")).or_else(|| {
        let one = [b];
        std::str::from_utf8(&one).ok().and_then(|t| vocab.id_of(t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_tokens_parse() {
        assert_eq!(parse_byte_token("<0x0A>"), Some(10));
        assert_eq!(parse_byte_token("<0xff>"), Some(255));
        assert_eq!(parse_byte_token("<0x0>"), None);
        assert_eq!(parse_byte_token("hello"), None);
    }
}
