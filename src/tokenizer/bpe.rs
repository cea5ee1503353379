//! Byte-level BPE (GGUF `tokenizer.ggml.model == "gpt2"`), merging as
//! llama.cpp's `llm_tokenizer_bpe_session` does.
//!
//! Each word from the pre-tokenizer is spelled in the byte-level alphabet and
//! split into characters; then, repeatedly, the adjacent pair with the lowest
//! merge rank (ties: the leftmost) is merged, until no adjacent pair has a
//! rank. A priority queue keeps this O(n log n) in the word length.
//!
//! Merges are keyed by interned strings: every string that appears in
//! `tokenizer.ggml.merges` gets a small id, so the merge loop compares
//! integers, not strings. A merge whose result is not a vocabulary entry is
//! still applied (llama.cpp keys merges by text too); such a leftover symbol
//! is emitted byte by byte where single bytes are tokens, as llama.cpp does.
//!
//! SentencePiece-style BPE (Gemma 4, [`PreKind::Gemma4`]) is the same merge
//! loop on other input: spaces written `▁`, words in raw UTF-8 rather than
//! the byte-level alphabet, a word made only of newlines taken whole when it
//! is a token, and `<0xNN>` byte tokens for a leftover symbol (llama.cpp's
//! `llm_tokenizer_bpe_session::tokenize` with `byte_encode == false`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::pretokenize::{PreKind, PreTokenizer};
use super::{bytes, TokenizerError, Vocab};

/// One merge rule, found by the interned ids of its two halves.
#[derive(Clone, Copy, Debug)]
struct Merge {
    rank: u32,
    /// Interned id of the concatenation.
    result: u32,
}

#[derive(Debug)]
pub struct Bpe {
    pre: PreTokenizer,
    ignore_merges: bool,
    /// Words spelled in the byte-level alphabet ([`PreKind::byte_level`]).
    byte_level: bool,
    /// Spaces written `▁` before splitting ([`PreKind::escapes_spaces`]).
    escape_spaces: bool,
    /// Every string that is a half or a result of some merge.
    interned: HashMap<Box<str>, u32>,
    merges: HashMap<(u32, u32), Merge>,
}

/// A symbol of a word being merged: a byte range of the spelled word plus
/// links to its live neighbours.
#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: u32,
    len: u32,
    /// Interned id of the text, if the text takes part in any merge.
    id: Option<u32>,
    prev: i32,
    next: i32,
}

impl Bpe {
    pub fn new(pre: PreTokenizer, merges: &[&str]) -> Result<Self, TokenizerError> {
        let mut interned: HashMap<Box<str>, u32> = HashMap::with_capacity(merges.len() * 2);
        let mut intern = |s: &str| -> u32 {
            if let Some(&id) = interned.get(s) {
                return id;
            }
            let id = interned.len() as u32;
            interned.insert(s.into(), id);
            id
        };
        let mut table = HashMap::with_capacity(merges.len());
        for (rank, line) in merges.iter().enumerate() {
            // As llama.cpp: split at the first space after the first byte; a
            // line without one is ignored.
            let Some(pos) = line.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else {
                continue;
            };
            let (left, right) = (&line[..pos], &line[pos + 1..]);
            let l = intern(left);
            let r = intern(right);
            let joined = format!("{left}{right}");
            let result = intern(&joined);
            // The first rank of a repeated pair wins.
            table.entry((l, r)).or_insert(Merge {
                rank: rank as u32,
                result,
            });
        }
        let kind = pre.kind();
        Ok(Self {
            ignore_merges: kind.ignore_merges(),
            byte_level: kind.byte_level(),
            escape_spaces: kind.escapes_spaces(),
            pre,
            interned,
            merges: table,
        })
    }

    /// Whether token texts are in the byte-level alphabet (else raw UTF-8
    /// with `▁` for spaces and `<0xNN>` byte tokens).
    pub fn byte_level(&self) -> bool {
        self.byte_level
    }

    /// Tokenizes plain text (no special tokens in it), appending ids to `out`.
    pub fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let escaped;
        let text = if self.escape_spaces {
            escaped = text.replace(' ', "\u{2581}");
            escaped.as_str()
        } else {
            text
        };
        let mut spelled = String::new();
        let mut symbols = Vec::new();
        let mut heap = BinaryHeap::new();
        for (start, end) in self.pre.split(text) {
            let word = if self.byte_level {
                spelled.clear();
                bytes::encode_into(&text.as_bytes()[start..end], &mut spelled);
                spelled.as_str()
            } else {
                &text[start..end]
            };
            self.encode_word(vocab, word, &mut symbols, &mut heap, out);
        }
    }

    fn encode_word(
        &self,
        vocab: &Vocab,
        word: &str,
        symbols: &mut Vec<Symbol>,
        heap: &mut BinaryHeap<Reverse<(u32, i32, i32)>>,
        out: &mut Vec<u32>,
    ) {
        // A whole word that is a token skips the merges: always under
        // `ignore_merges`; for Gemma 4 when the word is only newlines
        // (llama.cpp #21343).
        let whole = self.ignore_merges
            || (self.pre.kind() == PreKind::Gemma4 && word.bytes().all(|b| b == b'\n'));
        if whole {
            if let Some(id) = vocab.id_of(word) {
                out.push(id);
                return;
            }
        }
        symbols.clear();
        heap.clear();
        for (i, (start, c)) in word.char_indices().enumerate() {
            let len = c.len_utf8();
            let text = &word[start..start + len];
            symbols.push(Symbol {
                start: start as u32,
                len: len as u32,
                id: self.interned.get(text).copied(),
                prev: i as i32 - 1,
                next: if start + len == word.len() {
                    -1
                } else {
                    i as i32 + 1
                },
            });
        }
        for i in 1..symbols.len() {
            self.push_pair(symbols, heap, i as i32 - 1, i as i32);
        }
        while let Some(Reverse((rank, left, right))) = heap.pop() {
            let (l, r) = (symbols[left as usize], symbols[right as usize]);
            // Skip pairs made stale by an earlier merge: a merged-away
            // symbol has len 0; a symbol that grew has another text, so
            // its pair has another rank (each rank is one pair of texts).
            if l.len == 0 || r.len == 0 || l.next != right {
                continue;
            }
            let (Some(li), Some(ri)) = (l.id, r.id) else {
                continue;
            };
            let Some(merge) = self.merges.get(&(li, ri)) else {
                continue;
            };
            if merge.rank != rank {
                continue;
            }
            let merged = &mut symbols[left as usize];
            merged.len += r.len;
            merged.id = Some(merge.result);
            merged.next = r.next;
            symbols[right as usize].len = 0;
            if r.next >= 0 {
                symbols[r.next as usize].prev = left;
            }
            let prev = symbols[left as usize].prev;
            self.push_pair(symbols, heap, prev, left);
            self.push_pair(symbols, heap, left, r.next);
        }
        let mut i = if symbols.is_empty() { -1 } else { 0 };
        while i >= 0 {
            let s = symbols[i as usize];
            i = s.next;
            let text = &word[s.start as usize..(s.start + s.len) as usize];
            match vocab.id_of(text) {
                Some(id) => out.push(id),
                None if !self.byte_level => {
                    // As llama.cpp: `<0xNN>` tokens, dropping bytes that have none.
                    for b in text.bytes() {
                        if let Some(id) = vocab.id_of(&format!("<0x{b:02X}>")) {
                            out.push(id);
                        }
                    }
                }
                None => {
                    // As llama.cpp: fall back to single-byte tokens, dropping
                    // bytes that have none.
                    for b in text.bytes() {
                        if b.is_ascii() {
                            let one = [b];
                            if let Some(id) =
                                std::str::from_utf8(&one).ok().and_then(|s| vocab.id_of(s))
                            {
                                out.push(id);
                            }
                        }
                    }
                }
            }
        }
    }

    fn push_pair(
        &self,
        symbols: &[Symbol],
        heap: &mut BinaryHeap<Reverse<(u32, i32, i32)>>,
        left: i32,
        right: i32,
    ) {
        if left < 0 || right < 0 {
            return;
        }
        let (Some(l), Some(r)) = (symbols[left as usize].id, symbols[right as usize].id) else {
            return;
        };
        if let Some(m) = self.merges.get(&(l, r)) {
            heap.push(Reverse((m.rank, left, right)));
        }
    }
}
