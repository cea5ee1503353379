//! GPT-2's byte-level alphabet: every byte is written as one printable
//! character so that BPE vocabularies can be stored as text.
//!
//! Bytes that are printable Latin-1 (`!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`) stand for
//! themselves; the other 68 bytes, in increasing order, become U+0100,
//! U+0101, … (so a space is `Ġ` U+0120 and a newline `Ċ` U+010A).

/// Whether byte `b` stands for itself in the byte-level alphabet.
const fn is_direct(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// byte -> character of the byte-level alphabet.
const BYTE_TO_CHAR: [char; 256] = {
    let mut table = ['\0'; 256];
    let mut next_shifted = 0u32;
    let mut b = 0usize;
    while b < 256 {
        let cp = if is_direct(b as u8) {
            b as u32
        } else {
            let cp = 256 + next_shifted;
            next_shifted += 1;
            cp
        };
        table[b] = match char::from_u32(cp) {
            Some(c) => c,
            None => panic!("byte-level alphabet stays below U+0144"),
        };
        b += 1;
    }
    table
};

/// The highest code point of the alphabet plus one (256 + 68 shifted bytes).
const ALPHABET_END: usize = 256 + 68;

/// code point -> byte, for code points below [`ALPHABET_END`]; -1 where none.
const CHAR_TO_BYTE: [i16; ALPHABET_END] = {
    let mut table = [-1i16; ALPHABET_END];
    let mut b = 0usize;
    while b < 256 {
        table[BYTE_TO_CHAR[b] as usize] = b as i16;
        b += 1;
    }
    table
};

/// Appends the byte-level spelling of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(BYTE_TO_CHAR[b as usize]);
    }
}

/// The byte a character of the alphabet stands for.
pub fn char_to_byte(c: char) -> Option<u8> {
    let i = c as usize;
    if i < ALPHABET_END && CHAR_TO_BYTE[i] >= 0 {
        Some(CHAR_TO_BYTE[i] as u8)
    } else {
        None
    }
}

/// Turns a byte-level token back into the bytes it spells. A character
/// outside the alphabet (a malformed vocabulary) is kept as its own UTF-8
/// bytes; llama.cpp writes `[UNK_BYTE_0x..]` there instead.
pub fn decode_into(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_characters() {
        assert_eq!(BYTE_TO_CHAR[b' ' as usize], 'Ġ');
        assert_eq!(BYTE_TO_CHAR[b'\n' as usize], 'Ċ');
        assert_eq!(BYTE_TO_CHAR[b'a' as usize], 'a');
        assert_eq!(BYTE_TO_CHAR[0xAD], 'Ń');
        assert_eq!(BYTE_TO_CHAR[0], 'Ā');
    }

    #[test]
    fn round_trip_all_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        let mut s = String::new();
        encode_into(&all, &mut s);
        assert_eq!(s.chars().count(), 256);
        let mut back = Vec::new();
        decode_into(&s, &mut back);
        assert_eq!(back, all);
    }
}
