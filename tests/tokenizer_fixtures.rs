//! llama.cpp's own tokenizer fixtures: its vocabulary-only GGUFs
//! `models/ggml-vocab-*.gguf` with `.inp` (test texts) and `.out` (the ids
//! llama.cpp gives each), as `tests/test-tokenizer-0.cpp` runs them:
//! `common_tokenize(text, add_special = false, parse_special = false)`, every
//! id equal. The files come from llama.cpp's tree in PyPI's
//! llama-cpp-python==0.3.36 (`scripts/fetch-llama-cpp-src.sh`, which
//! scripts/test.sh runs first); a missing file fails the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tabllm::gguf::read_header_from_path;
use tabllm::tokenizer::{Tokenizer, TokenizerError};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/llama.cpp-models")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nllama.cpp's vocab fixtures are missing: run scripts/fetch-llama-cpp-src.sh (scripts/test.sh does)",
            path.display()
        )
    })
}

/// The fixtures of one vocab file, read as test-tokenizer-0.cpp's
/// `read_tests` reads them: inputs separated by `"\n__ggml_vocab_test__\n"`
/// (a trailing separator ends the list), one output line per input, ids
/// separated by spaces; keyed by input, so a repeated input counts once.
fn read_fixtures(vocab: &Path) -> BTreeMap<String, Vec<u32>> {
    let inp = read(&PathBuf::from(format!("{}.inp", vocab.display())));
    let out = read(&PathBuf::from(format!("{}.out", vocab.display())));
    const SEP: &str = "\n__ggml_vocab_test__\n";
    let mut inputs = Vec::new();
    let mut pos = 0;
    while pos < inp.len() {
        match inp[pos..].find(SEP) {
            Some(next) => {
                inputs.push(&inp[pos..pos + next]);
                pos += next + SEP.len();
            }
            None => {
                inputs.push(&inp[pos..]);
                break;
            }
        }
    }
    let outputs: Vec<&str> = out.lines().collect();
    assert_eq!(inputs.len(), outputs.len(), "{}: inputs and outputs differ in number", vocab.display());
    inputs
        .into_iter()
        .zip(outputs)
        .map(|(text, ids)| {
            let ids = ids.split_whitespace().map(|t| t.parse().unwrap_or_else(|e| panic!("{}: id {t:?}: {e}", vocab.display())));
            (text.to_string(), ids.collect())
        })
        .collect()
}

/// Runs every fixture of `ggml-vocab-{name}.gguf`; panics listing each one
/// that differs. Checks that there are `expected` of them.
fn check_vocab(name: &str, expected: usize) {
    let path = fixtures_dir().join(format!("ggml-vocab-{name}.gguf"));
    let fixtures = read_fixtures(&path);
    let header = read_header_from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tok = Tokenizer::from_metadata(&header.metadata).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut failures = Vec::new();
    for (text, want) in &fixtures {
        let got = tok.encode(text, false);
        if &got != want {
            failures.push(format!("  {text:?}\n    tabllm:    {got:?}\n    llama.cpp: {want:?}"));
        }
    }
    let passed = fixtures.len() - failures.len();
    println!("ggml-vocab-{name}.gguf: {passed}/{} fixtures equal", fixtures.len());
    assert!(failures.is_empty(), "ggml-vocab-{name}.gguf: {passed}/{} fixtures equal; these differ:\n{}", fixtures.len(), failures.join("\n"));
    assert_eq!(fixtures.len(), expected, "ggml-vocab-{name}.gguf: number of fixtures");
}

#[test]
fn qwen35() {
    check_vocab("qwen35", 50);
}

#[test]
fn gemma_4() {
    check_vocab("gemma-4", 46);
}

#[test]
fn phi_3() {
    check_vocab("phi-3", 46);
}

#[test]
fn llama_bpe() {
    check_vocab("llama-bpe", 46);
}

#[test]
fn qwen2() {
    check_vocab("qwen2", 46);
}

#[test]
fn gpt_2() {
    check_vocab("gpt-2", 46);
}

/// WordPiece (`tokenizer.ggml.model == "bert"`, bge-small-en-v1.5's vocabulary).
#[test]
fn bert_bge() {
    check_vocab("bert-bge", 46);
}

/// A real vocabulary with a `tokenizer.ggml.pre` tabllm does not know is
/// refused by that name, not tokenized with some other pre-tokenizer.
#[test]
fn unknown_pre_tokenizer_is_refused_by_name() {
    let path = fixtures_dir().join("ggml-vocab-qwen35.gguf");
    let mut header = read_header_from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    header.metadata.insert("tokenizer.ggml.pre".into(), tabllm::gguf::Value::String("qwen99".into()));
    match Tokenizer::from_metadata(&header.metadata) {
        Err(TokenizerError::UnsupportedPreTokenizer(p)) => assert_eq!(p, "qwen99"),
        other => panic!("expected UnsupportedPreTokenizer(\"qwen99\"), got {other:?}"),
    }
}

/// all-MiniLM-L6-v2's own vocabulary (`models/all-MiniLM-L6-v2-f16.gguf`,
/// made by scripts/fetch-models.sh) on the 50 texts of its embedding
/// reference (`tests/reference/real/all-minilm-l6-v2.json`), tokenized as an
/// embedding is ([CLS] text [SEP]): equal to llama.cpp's ids, except where
/// the reference records Hugging Face's own (`st_ids`: the Korean text,
/// whose Hangul syllables tabllm decomposes as Hugging Face does, unlike
/// llama.cpp; see src/tokenizer/wpm.rs). A missing file fails the test.
#[test]
fn all_minilm_real_texts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/all-MiniLM-L6-v2-f16.gguf");
    let header = read_header_from_path(&model).unwrap_or_else(|e| panic!("{}: {e}\nrun scripts/fetch-models.sh (scripts/test.sh does)", model.display()));
    let tok = Tokenizer::from_metadata(&header.metadata).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&read(&root.join("tests/reference/real/all-minilm-l6-v2.json"))).unwrap();
    let texts = reference["texts"].as_array().unwrap();
    assert_eq!(texts.len(), 50);
    let ids = |v: &serde_json::Value| -> Vec<u32> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
    let (mut failures, mut hf_ids) = (Vec::new(), 0);
    for t in texts {
        let text = t["text"].as_str().unwrap();
        let want = match t.get("st_ids") {
            Some(v) => {
                hf_ids += 1;
                ids(v)
            }
            None => ids(&t["ids"]),
        };
        let mut got = vec![tok.bos_id().unwrap()];
        got.extend(tok.encode(text, true));
        got.extend(tok.suffix_id());
        if got != want {
            failures.push(format!("  {text:?}\n    tabllm:    {got:?}\n    reference: {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of 50 texts differ:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(hf_ids, 1, "texts checked against Hugging Face's ids");
}
