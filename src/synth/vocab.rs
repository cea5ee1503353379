//! A small valid byte-level BPE ("gpt2") tokenizer padded to a model's
//! vocabulary size: the 256 byte tokens (GPT-2's byte-to-unicode map), a few
//! merges, the ChatML control tokens, then filler tokens up to `vocab`.

use crate::gguf::{Metadata, Value, ValueType};

/// GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the rest
/// to U+0100 upwards, in byte order.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    if printable(b) {
        return b as char;
    }
    let rank = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + rank).expect("below U+0200")
}

/// Merges of common English pieces, in rank order ("Ġ" is the space byte).
const MERGES: [(&str, &str); 8] = [("Ġ", "t"), ("h", "e"), ("i", "n"), ("Ġt", "he"), ("e", "r"), ("a", "n"), ("Ġ", "a"), ("o", "n")];
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// The fewest tokens a vocabulary needs: bytes, merged pieces, specials.
pub const MIN_VOCAB: u32 = 256 + MERGES.len() as u32 + SPECIALS.len() as u32;

/// Adds `tokenizer.*` keys describing a tokenizer of exactly `vocab` tokens
/// (at least [`MIN_VOCAB`]; fewer is clamped up, which the caller checks).
pub fn add_tokenizer(md: &mut Metadata, vocab: u32) {
    let n = vocab.max(MIN_VOCAB) as usize;
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    tokens.extend(MERGES.iter().map(|(l, r)| format!("{l}{r}")));
    let first_special = tokens.len() as u32;
    tokens.extend(SPECIALS.iter().map(|s| s.to_string()));
    // Filler: plain words " w<id>" (Ġ = space), never produced by the merges.
    let n_fixed = tokens.len();
    tokens.extend((n_fixed..n).map(|i| format!("Ġw{i}")));
    let types: Vec<Value> = (0..n as u32).map(|i| Value::I32(if (first_special..first_special + SPECIALS.len() as u32).contains(&i) { 3 } else { 1 })).collect();
    let strings = |v: Vec<String>| Value::Array(ValueType::String, v.into_iter().map(Value::String).collect());
    md.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
    md.insert("tokenizer.ggml.pre".into(), Value::String("default".into()));
    md.insert("tokenizer.ggml.tokens".into(), strings(tokens));
    md.insert("tokenizer.ggml.token_type".into(), Value::Array(ValueType::I32, types));
    md.insert("tokenizer.ggml.merges".into(), strings(MERGES.iter().map(|(l, r)| format!("{l} {r}")).collect()));
    md.insert("tokenizer.ggml.bos_token_id".into(), Value::U32(first_special));
    md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(first_special + 2));
    md.insert("tokenizer.ggml.add_bos_token".into(), Value::Bool(false));
    md.insert("tokenizer.chat_template".into(), Value::String(CHATML.into()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::Tokenizer;

    #[test]
    fn byte_map_is_gpt2s() {
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        assert_eq!(byte_char(b'a'), 'a');
        assert_eq!(byte_char(0xAD), 'Ń');
    }

    #[test]
    fn tokenizer_loads_and_round_trips() {
        let mut md = Metadata::default();
        add_tokenizer(&mut md, 1000);
        let tok = Tokenizer::from_metadata(&md).unwrap();
        let ids = tok.encode("hi there<|im_end|>", true);
        assert_eq!(tok.decode(&ids), "hi there<|im_end|>");
        assert!(ids.contains(&(256 + 3)), "the merge Ġt + he → Ġthe is used: {ids:?}");
    }
}
