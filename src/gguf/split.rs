//! Split GGUF models as llama.cpp's `gguf-split` writes them: every part
//! holds `split.no` (0-based), `split.count` and `split.tensors.count`; only
//! the first part (`split.no` 0) holds the model's metadata. Whether a file is
//! a part, and which one, is read from those keys, never from its name (as
//! llama.cpp's `llama_model_loader` does; a file named `x-00001-of-00003.gguf`
//! without them is a whole model).
//!
//! The name matters only to find the other parts from the first one's path
//! or URL: llama.cpp's `llama_split_path` names part `k` (1-based) of `n`
//! `PREFIX-%05d-of-%05d.gguf`. Files are also published with a suffix after
//! the numbers (`PREFIX-00001-of-00003-SUFFIX.gguf`); for those the same
//! suffix is tried first, then the standard name ([`part_names`]).

use super::{GgufError, Header};

/// Most parts a split model may have (five digits in the name).
pub const MAX_SPLIT_COUNT: u32 = 99_999;

/// `(split.no, split.count)` of a header: `(0, 1)` for a whole file (no
/// `split.count`, or 1). Errors: a key of the wrong type, `split.count` of 0
/// or above [`MAX_SPLIT_COUNT`], `split.no` not below `split.count`.
pub fn split_of(h: &Header) -> Result<(u32, u32), GgufError> {
    let count = h.metadata.get_u32("split.count")?.unwrap_or(1);
    let no = h.metadata.get_u32("split.no")?.unwrap_or(0);
    if count == 0 || count > MAX_SPLIT_COUNT || no >= count {
        return Err(GgufError::BadSplit { no, count });
    }
    Ok((no, count))
}

/// Refuses a part other than the first when it is all that was given
/// (`file` names it in the error): llama.cpp's "model must be loaded with
/// the first split". Returns `split.count` (1 for a whole file).
pub fn require_first(h: &Header, file: &str) -> Result<u32, GgufError> {
    let (no, count) = split_of(h)?;
    if no != 0 {
        let first = part_names(file, no, count, 1).and_then(|c| c.into_iter().next());
        return Err(GgufError::NotFirstSplit { file: file.to_string(), part: no + 1, count, first });
    }
    Ok(count)
}

/// The numbers and the rest of a gguf-split name: (prefix, part, count, suffix)
/// for `PREFIX-00002-of-00003SUFFIX.gguf`, the last such pattern in the name.
fn parse_name(name: &str) -> Option<(&str, u32, u32, &str)> {
    let stem = name.strip_suffix(".gguf")?;
    let five = |s: &str| (s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok()).flatten();
    let mut end = stem.len();
    while let Some(at) = stem[..end].rfind("-of-") {
        end = at;
        let (Some(before), Some(after)) = (at.checked_sub(6), stem.get(at + 4..at + 9)) else { continue };
        if !stem.is_char_boundary(before) || stem.as_bytes()[before] != b'-' {
            continue;
        }
        if let (Some(no), Some(count)) = (five(&stem[before + 1..at]), five(after)) {
            return Some((&stem[..before], no, count, &stem[at + 9..]));
        }
    }
    None
}

/// Names to try for part `k` (1-based) of a split model, given the file name
/// of its part `no + 1` (`no` 0-based, as `split.no`) of `count`: with the
/// name's suffix after the numbers (when it has one), then the standard
/// `PREFIX-0000k-of-0000N.gguf`. `None` when the name does not follow
/// gguf-split's naming for that part (its numbers are not `no + 1` and
/// `count`), so the other parts cannot be found from it.
pub fn part_names(name: &str, no: u32, count: u32, k: u32) -> Option<Vec<String>> {
    let (prefix, n, c, suffix) = parse_name(name)?;
    if n != no + 1 || c != count || k == 0 || k > count {
        return None;
    }
    let mut names = vec![format!("{prefix}-{k:05}-of-{count:05}{suffix}.gguf")];
    if !suffix.is_empty() {
        names.push(format!("{prefix}-{k:05}-of-{count:05}.gguf"));
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_other_parts() {
        assert_eq!(part_names("m-00001-of-00003.gguf", 0, 3, 2).unwrap(), ["m-00002-of-00003.gguf"]);
        assert_eq!(part_names("t-00001-of-00003-e3b5.gguf", 0, 3, 3).unwrap(), ["t-00003-of-00003-e3b5.gguf", "t-00003-of-00003.gguf"]);
        // The last pattern counts; dashes in the prefix are kept.
        assert_eq!(part_names("a-00009-of-00010-b-c-00001-of-00002.gguf", 0, 2, 2).unwrap(), ["a-00009-of-00010-b-c-00002-of-00002.gguf"]);
        assert_eq!(part_names("Q-00002-of-00003.gguf", 1, 3, 1).unwrap(), ["Q-00001-of-00003.gguf"]);
        // Numbers the metadata contradicts, or no pattern: not found from the name.
        for (name, no, count) in [("m-00001-of-00003.gguf", 0, 4), ("m-00002-of-00003.gguf", 0, 3), ("model.gguf", 0, 2), ("m-1-of-3.gguf", 0, 3), ("m-00001-of-00003.bin", 0, 3), ("-of-00003.gguf", 0, 3)] {
            assert_eq!(part_names(name, no, count, 2), None, "{name}");
        }
        assert_eq!(part_names("m-00001-of-00003.gguf", 0, 3, 4), None);
        assert_eq!(part_names("é-00001-of-00002é.gguf", 0, 2, 2).unwrap(), ["é-00002-of-00002é.gguf", "é-00002-of-00002.gguf"]);
    }
}
