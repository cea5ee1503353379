//! Which tokens end generation, and the token types llama.cpp overrides while
//! it finds them. The rule and every text list follow llama.cpp's
//! `llama_vocab::impl::load` (src/llama-vocab.cpp, the "auto-detect special
//! tokens by text" block and the `special_eog_ids` block after it; llama.cpp
//! as vendored by llama-cpp-python 0.3.36, 2026-10-01):
//!
//! 1. EOT, EOM and the six fill-in-the-middle ids come from their metadata key
//!    (`tokenizer.ggml.eot_token_id`, …) when it holds an id in the
//!    vocabulary, else from the first token whose text is in that role's list
//!    ([`EOT_TEXTS`], [`FIM_PRE_TEXTS`], …); a token found by its text becomes
//!    a control token.
//! 2. The end-of-generation set is the FIM pad, repo and file-separator ids,
//!    every token whose text is in [`EOG_TEXTS`] (each becomes a control
//!    token), and the EOS, EOT and EOM ids.
//! 3. `<|channel|>`, `<|message|>`, `<|start|>`, `<|constrain|>` become
//!    user-defined tokens (gpt-oss: always rendered).
//! 4. When the set holds `<|return|>` and `<|call|>` (o200k_harmony), or
//!    `<|calls|>` and `<|flush|>` (solar-open), `<|end|>` leaves it and becomes
//!    user-defined.
//! 5. When the set holds `<|tool_response>` (Gemma 4) or `<|plamo:eos|>`,
//!    `</s>` leaves it and becomes a normal token.
//!
//! llama.cpp scans an unordered map, so when several tokens fit one role in
//! step 1 which one it takes is unspecified; here it is the lowest id.

use std::collections::HashMap;

use super::TokenType;

/// Texts of an end-of-turn token, looked for when the file names none.
pub(crate) const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];

/// Texts of an end-of-message token (Llama 3.1 tool calls).
pub(crate) const EOM_TEXTS: &[&str] = &["<|eom_id|>"];

/// Fill-in-the-middle prefix.
pub(crate) const FIM_PRE_TEXTS: &[&str] =
    &["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];
/// Fill-in-the-middle suffix.
pub(crate) const FIM_SUF_TEXTS: &[&str] =
    &["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];
/// Fill-in-the-middle middle.
pub(crate) const FIM_MID_TEXTS: &[&str] =
    &["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];
/// Fill-in-the-middle pad (end of generation).
pub(crate) const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
/// Fill-in-the-middle repository name (end of generation).
pub(crate) const FIM_REP_TEXTS: &[&str] = &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
/// Fill-in-the-middle file separator (end of generation).
pub(crate) const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];

/// Texts that end generation wherever they are in a vocabulary.
pub(crate) const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Tokens always rendered as text (gpt-oss), made user-defined.
const ALWAYS_RENDERED: &[&str] = &["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/// Special ids as the metadata gives them (already checked to lie in the
/// vocabulary; `None` when the key is absent or out of range).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyedIds {
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

/// What [`find`] settles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpecialTokens {
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    /// End-of-generation ids, sorted, no repeats.
    pub eog: Vec<u32>,
}

/// Applies the module's rule to a vocabulary: `ids` maps each token text to
/// its id (the last id for a repeated text), `texts[id]` is a token's text and
/// `types[id]` its type, overridden in place as llama.cpp overrides it.
/// `ids`' values and the ids in `keyed` must be below `types.len()`.
pub(crate) fn find(ids: &HashMap<Box<str>, u32>, texts: &[Box<str>], types: &mut [TokenType], keyed: KeyedIds) -> SpecialTokens {
    // Step 1: a role's id from its key, else by text (made a control token).
    let mut by_text = |keyed: Option<u32>, list: &[&str]| -> Option<u32> {
        keyed.or_else(|| {
            let id = list.iter().filter_map(|t| ids.get(*t).copied()).min()?;
            types[id as usize] = TokenType::Control;
            Some(id)
        })
    };
    let eot = by_text(keyed.eot, EOT_TEXTS);
    let eom = by_text(keyed.eom, EOM_TEXTS);
    by_text(keyed.fim_pre, FIM_PRE_TEXTS);
    by_text(keyed.fim_suf, FIM_SUF_TEXTS);
    by_text(keyed.fim_mid, FIM_MID_TEXTS);
    let fim_pad = by_text(keyed.fim_pad, FIM_PAD_TEXTS);
    let fim_rep = by_text(keyed.fim_rep, FIM_REP_TEXTS);
    let fim_sep = by_text(keyed.fim_sep, FIM_SEP_TEXTS);

    // Step 2.
    let mut eog: Vec<u32> = [fim_pad, fim_rep, fim_sep].into_iter().flatten().collect();
    for t in EOG_TEXTS {
        if let Some(&id) = ids.get(*t) {
            types[id as usize] = TokenType::Control;
            eog.push(id);
        }
    }
    // Step 3 (before llama.cpp adds EOS / EOT / EOM, as there).
    for t in ALWAYS_RENDERED {
        if let Some(&id) = ids.get(*t) {
            types[id as usize] = TokenType::UserDefined;
        }
    }
    eog.extend([keyed.eos, eot, eom].into_iter().flatten());
    eog.sort_unstable();
    eog.dedup();

    // Steps 4 and 5 look at the texts of the set's members.
    let text_of = |id: u32| texts.get(id as usize).map_or("", |t| &**t);
    let holds = |eog: &[u32], want: &[&str]| eog.iter().any(|&id| want.contains(&text_of(id)));
    let last_with = |eog: &[u32], want: &str| eog.iter().rev().copied().find(|&id| text_of(id) == want);
    if let Some(end) = last_with(&eog, "<|end|>") {
        let call = holds(&eog, &["<|call|>", "<|calls|>"]);
        if call && (holds(&eog, &["<|return|>"]) || holds(&eog, &["<|flush|>"])) {
            eog.retain(|&id| id != end);
            types[end as usize] = TokenType::UserDefined;
        }
    }
    if let Some(s) = last_with(&eog, "</s>") {
        if holds(&eog, &["<|tool_response>", "<|plamo:eos|>"]) {
            eog.retain(|&id| id != s);
            types[s as usize] = TokenType::Normal;
        }
    }
    SpecialTokens { eot, eom, eog }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(texts: &[&str]) -> (HashMap<Box<str>, u32>, Vec<Box<str>>, Vec<TokenType>) {
        let texts: Vec<Box<str>> = texts.iter().map(|t| Box::from(*t)).collect();
        let ids = texts.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let types = vec![TokenType::Normal; texts.len()];
        (ids, texts, types)
    }

    /// Every text of llama.cpp's EOG list ends generation and becomes a
    /// control token, alone in a vocabulary and all together.
    #[test]
    fn every_eog_text_ends_generation() {
        for t in EOG_TEXTS {
            let (ids, texts, mut types) = vocab(&["a", t, "b"]);
            let s = find(&ids, &texts, &mut types, KeyedIds::default());
            assert_eq!(s.eog, [1], "{t}");
            assert_eq!(types[1], TokenType::Control, "{t}");
        }
        // The list, each named (llama.cpp knew them, tabllm did not).
        for t in ["</s>", "<eos>", "<turn|>", "[EOT]", "<|flush|>", "<|calls|>", "[EOS]", "<|tool_response>"] {
            assert!(EOG_TEXTS.contains(&t), "{t}");
        }
        let mut all: Vec<&str> = vec!["x"];
        all.extend(EOG_TEXTS);
        let (ids, texts, mut types) = vocab(&all);
        let s = find(&ids, &texts, &mut types, KeyedIds::default());
        let texts_in: Vec<&str> = s.eog.iter().map(|&id| &*texts[id as usize]).collect();
        // Rules 4 and 5 take `<|end|>` and `</s>` out when their partners are in.
        let want: Vec<&str> = EOG_TEXTS.iter().copied().filter(|t| !matches!(*t, "<|end|>" | "</s>")).collect();
        assert_eq!(texts_in, want);
        assert_eq!(types[ids["<|end|>"] as usize], TokenType::UserDefined);
        assert_eq!(types[ids["</s>"] as usize], TokenType::Normal);
    }

    #[test]
    fn roles_from_keys_or_texts_and_fim_tokens() {
        let (ids, texts, mut types) = vocab(&["<|fim_pad|>", "<fim_prefix>", "[PAD]", "<reponame>", "<|file_sep|>", "[EOT]", "<|eom_id|>", "z"]);
        let s = find(&ids, &texts, &mut types, KeyedIds { eos: Some(7), ..Default::default() });
        // [PAD] and <|fim_pad|> both fit FIM pad: the lowest id is taken, the
        // other is neither EOG nor made a control token.
        assert_eq!(s.eog, [0, 3, 4, 5, 6, 7]);
        assert_eq!((s.eot, s.eom), (Some(5), Some(6)));
        assert_eq!(types[1], TokenType::Control, "FIM prefix found by text");
        assert_eq!(types[2], TokenType::Normal);
        assert_eq!(types[7], TokenType::Normal, "a keyed id keeps its type");
        // A keyed role is not looked up by text.
        let (ids, texts, mut types) = vocab(&["<|fim_pad|>", "q", "<|endoftext|>"]);
        let s = find(&ids, &texts, &mut types, KeyedIds { fim_pad: Some(1), eot: Some(1), ..Default::default() });
        assert_eq!(s.eog, [1, 2]);
        assert_eq!(types[0], TokenType::Normal);
    }

    #[test]
    fn end_and_s_stay_without_their_partners() {
        let (ids, texts, mut types) = vocab(&["<|end|>", "<|return|>", "</s>"]);
        let s = find(&ids, &texts, &mut types, KeyedIds::default());
        assert_eq!(s.eog, [0, 1, 2]);
        // solar-open: <|calls|> and <|flush|>.
        let (ids, texts, mut types) = vocab(&["<|end|>", "<|calls|>", "<|flush|>"]);
        assert_eq!(find(&ids, &texts, &mut types, KeyedIds::default()).eog, [1, 2]);
        assert_eq!(types[0], TokenType::UserDefined);
        // gpt-oss's always-rendered tokens.
        let (ids, texts, mut types) = vocab(&["<|channel|>", "<|message|>"]);
        find(&ids, &texts, &mut types, KeyedIds::default());
        assert_eq!(types, [TokenType::UserDefined, TokenType::UserDefined]);
    }
}
