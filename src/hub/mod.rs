//! Hugging Face models by name for the CLI (`tabllm info --model hf:…`):
//! `hf:OWNER/REPO[@REVISION][:QUANT]` or `hf:OWNER/REPO[@REVISION]/PATH.gguf`,
//! and which file(s) of the repo's list a name picks.
//!
//! The rules are the npm package's (pkg/hub.js), which follow llama.cpp's
//! `-hf` (common/download.cpp): the quant matched case-insensitively as
//! `QUANT` followed by `.` or `-` (and here preceded by the path's start or
//! `-` `.` `_` `/`, so `Q4_0` is not found inside `IQ4_0`), Q4_K_M then Q8_0
//! by default, mmproj / imatrix / draft files never taken, split parts found
//! by `-0000N-of-0000M` with the same prefix, a file path matched
//! case-insensitively. Unlike llama.cpp, a quant two models have, or no quant
//! where neither default is there and the repo has several models, is
//! refused with the list instead of taking the first. tests/fixtures/hub-names.json
//! is checked against both implementations.
//!
//! The network side (the Hub's file list, a header read over HTTP) is
//! [`http`], native only.

#[cfg(not(target_arch = "wasm32"))]
pub mod http;

/// The Hub's public endpoint (huggingface_hub's default `HF_ENDPOINT`).
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// llama.cpp's default quants, in order, when the name gives none.
const DEFAULT_QUANTS: [&str; 2] = ["Q4_K_M", "Q8_0"];
/// GGUFs that are not a model to load (llama.cpp's gguf_filename_is_model).
const NOT_MODEL: [&str; 6] = ["mmproj", "imatrix", "mtp-", "eagle3-", "dflash-", "dspark-"];

/// A parsed `hf:` name. `revision` is `main` when not given (the Hub's
/// default branch), percent-decoded; `quant` and `file` are exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubName {
    pub repo: String,
    pub revision: String,
    pub quant: Option<String>,
    pub file: Option<String>,
}

/// One file of a repo's list: `size` in bytes (the LFS object's), `sha256`
/// the LFS object id (lowercase hex) or None for a file kept in git itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    pub path: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{0:?} is not a Hugging Face model name: write hf:OWNER/REPO[:QUANT] (e.g. hf:ggml-org/gemma-3-1b-it-GGUF:Q4_K_M), hf:OWNER/REPO/FILE.gguf, with @REVISION after the repo for a branch, tag or commit")]
    NotAName(String),
    #[error("{repo}@{revision} has no file {file}; its GGUF models: {models}")]
    NoSuchFile { repo: String, revision: String, file: String, models: String },
    #[error("{repo} has no {quant} model: {has}")]
    NoSuchQuant { repo: String, quant: String, has: String },
    #[error("{quant} names {} models in {repo}: {}; give one as hf:{repo}/FILE.gguf", files.len(), names(files))]
    AmbiguousQuant { repo: String, quant: String, files: Vec<String> },
    #[error("{repo} has no Q4_K_M or Q8_0 model to take by default and {} others: give a quant (hf:{repo}:QUANT; {has})", files.len())]
    NoDefault { repo: String, has: String, files: Vec<String> },
    #[error("{repo}@{revision} has no GGUF model file")]
    NoModel { repo: String, revision: String },
    #[error("{path} is part {index} of {count} of a split model: give its first part ({prefix}-00001-of-{count:05}.gguf)")]
    LaterPart { path: String, prefix: String, index: u32, count: u32 },
    #[error("{repo} has part 1 of {count} of {path} but not part {missing} ({prefix}-{missing:05}-of-{count:05}.gguf)")]
    MissingPart { repo: String, path: String, prefix: String, missing: u32, count: u32 },
    #[error("{0}")]
    Http(String),
}

impl HubError {
    /// The refusal's name, as pkg/hub.js's `details.reason` says it (and
    /// `later_part`, `missing_part`, `not_a_name`, `http` for the others).
    pub fn reason(&self) -> &'static str {
        match self {
            HubError::NotAName(_) => "not_a_name",
            HubError::NoSuchFile { .. } => "no_such_file",
            HubError::NoSuchQuant { .. } => "no_such_quant",
            HubError::AmbiguousQuant { .. } | HubError::NoDefault { .. } => "ambiguous_quant",
            HubError::NoModel { .. } => "no_model",
            HubError::LaterPart { .. } => "later_part",
            HubError::MissingPart { .. } => "missing_part",
            HubError::Http(_) => "http",
        }
    }
}

/// Whether `s` is a Hugging Face name (starts `hf:`).
pub fn is_hub_name(s: &str) -> bool {
    s.starts_with("hf:")
}

/// A repo id part as the Hub allows it: letters, digits, `-`, `_`, `.`, at
/// most 96, starting with a letter or digit, never `..`.
fn is_id(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=96).contains(&b.len()) && b[0].is_ascii_alphanumeric() && b.iter().all(|&c| c.is_ascii_alphanumeric() || b"._-".contains(&c)) && !s.contains("..")
}

/// A path (or revision) with no empty, `.` or `..` segment and no control
/// character: what a name may ask for and a listing may offer (pkg/hub.js
/// safePath; a `..` would fetch outside `/resolve/`).
pub fn safe_path(p: &str) -> bool {
    !p.chars().any(|c| c.is_ascii_control()) && p.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Parses a name as pkg/hub.js parseHubName does; [`HubError::NotAName`] for any other shape.
pub fn parse(name: &str) -> Result<HubName, HubError> {
    let bad = || HubError::NotAName(name.to_string());
    let rest = name.strip_prefix("hf:").ok_or_else(bad)?;
    let (owner, rest) = rest.split_once('/').ok_or_else(bad)?;
    // The repo name runs to the first `@`, `:` or `/`.
    let end = rest.find(['@', ':', '/']).unwrap_or(rest.len());
    let (repo_name, mut rest) = rest.split_at(end);
    if !is_id(owner) || !is_id(repo_name) {
        return Err(bad());
    }
    let mut revision = "main".to_string();
    if let Some(r) = rest.strip_prefix('@') {
        let end = r.find([':', '/']).unwrap_or(r.len());
        let raw = &r[..end];
        if raw.is_empty() || raw.chars().count() > 256 {
            return Err(bad());
        }
        revision = percent_decode(raw).ok_or_else(bad)?;
        rest = &r[end..];
    }
    let (quant, file) = if rest.is_empty() {
        (None, None)
    } else if let Some(q) = rest.strip_prefix(':') {
        let ok = (1..=64).contains(&q.len()) && q.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
        if !ok {
            return Err(bad());
        }
        (Some(q.to_string()), None)
    } else if let Some(f) = rest.strip_prefix('/') {
        let n = f.chars().count();
        if !(6..=1005).contains(&n) || !f.to_ascii_lowercase().ends_with(".gguf") || f.contains('\n') || f.contains('\r') {
            return Err(bad());
        }
        (None, Some(f.to_string()))
    } else {
        return Err(bad());
    };
    if !safe_path(&revision) || file.as_deref().is_some_and(|f| !safe_path(f)) {
        return Err(bad());
    }
    Ok(HubName { repo: format!("{owner}/{repo_name}"), revision, quant, file })
}

/// `%XX` decoding as JS decodeURIComponent: None for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// gguf-split's part numbers and llama.cpp's quant tag of a path
/// (pkg/hub.js ggufNameInfo): `prefix` (the path without `.gguf` and the part
/// suffix), `tag` (the last `-` / `.` separated word of it, upper-cased),
/// `index` and `count` (1 and 1 for a whole file).
#[derive(Debug, PartialEq, Eq)]
pub struct NameInfo {
    pub prefix: String,
    pub tag: String,
    pub index: u32,
    pub count: u32,
}

pub fn gguf_name_info(path: &str) -> NameInfo {
    let mut prefix = if path.to_ascii_lowercase().ends_with(".gguf") { &path[..path.len() - 5] } else { path };
    let (mut index, mut count) = (1, 1);
    // `-NNNNN-of-NNNNN` at the end, with something before it.
    // (Sliced only on a char boundary and over ASCII: a path is any UTF-8 a listing sends.)
    let start = prefix.len().saturating_sub(15);
    if prefix.len() > 15 && prefix.is_char_boundary(start) && prefix[start..].is_ascii() {
        let tail = &prefix[start..];
        let digits = |s: &str| s.len() == 5 && s.bytes().all(|c| c.is_ascii_digit());
        if tail.starts_with('-') && digits(&tail[1..6]) && tail[6..10].eq_ignore_ascii_case("-of-") && digits(&tail[10..]) {
            let (i, n): (u32, u32) = (tail[1..6].parse().unwrap_or(0), tail[10..].parse().unwrap_or(0));
            // gguf-split numbers parts 1 … count; other numbers are just part of a name.
            if (1..=n).contains(&i) {
                (index, count) = (i, n);
                prefix = &prefix[..prefix.len() - 15];
            }
        }
    }
    let word = prefix.rsplit(['-', '.']).next().unwrap_or("");
    let tag = if word.len() < prefix.len() && !word.is_empty() && word.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') { word.to_ascii_uppercase() } else { String::new() };
    NameInfo { prefix: prefix.to_string(), tag, index, count }
}

/// A list of paths for a message: at most 20, each cut to 200 characters (pkg/hub.js names()).
fn names(paths: &[String]) -> String {
    let cut = |p: &String| if p.chars().count() > 200 { format!("{}…", p.chars().take(200).collect::<String>()) } else { p.clone() };
    let shown: Vec<String> = paths.iter().take(20).map(cut).collect();
    if paths.len() > 20 { format!("{} and {} more", shown.join(", "), paths.len() - 20) } else { shown.join(", ") }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_model_file(path: &str) -> bool {
    let base = base_name(path).to_ascii_lowercase();
    path.to_ascii_lowercase().ends_with(".gguf") && !NOT_MODEL.iter().any(|k| base.contains(k))
}

/// Whether `path` names `quant` as llama.cpp matches it (see the module doc).
fn has_quant(path: &str, quant: &str) -> bool {
    let (p, q) = (path.to_ascii_lowercase(), quant.to_ascii_lowercase());
    p.match_indices(&q).any(|(at, _)| {
        let before = at == 0 || b"-._/".contains(&p.as_bytes()[at - 1]);
        let after = p.as_bytes().get(at + q.len()).is_some_and(|c| b".-".contains(c));
        before && after
    })
}

/// Picks the model of `files` that `name` asks for: its files in part order.
/// Errors: the refusals of [`HubError`] (with what the repo has).
pub fn pick_model<'a>(files: &'a [HubFile], name: &HubName) -> Result<Vec<&'a HubFile>, HubError> {
    let models: Vec<&HubFile> = files.iter().filter(|f| is_model_file(&f.path) && gguf_name_info(&f.path).index == 1).collect();
    let paths = |v: &[&HubFile]| v.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    let mut quants: Vec<String> = models.iter().map(|f| gguf_name_info(&f.path).tag).filter(|t| !t.is_empty()).collect();
    quants.sort();
    quants.dedup();
    let has = if quants.is_empty() { "it has no quant-named model files".to_string() } else { format!("it has {}", names(&quants)) };
    let repo = name.repo.clone();
    let first = if let Some(file) = &name.file {
        let first = files.iter().find(|f| f.path.eq_ignore_ascii_case(file)).ok_or_else(|| HubError::NoSuchFile {
            repo: repo.clone(),
            revision: name.revision.clone(),
            file: file.clone(),
            models: if models.is_empty() { "none".into() } else { names(&paths(&models)) },
        })?;
        let info = gguf_name_info(&first.path);
        if info.index != 1 {
            return Err(HubError::LaterPart { path: first.path.clone(), prefix: info.prefix, index: info.index, count: info.count });
        }
        first
    } else {
        if models.is_empty() {
            return Err(HubError::NoModel { repo, revision: name.revision.clone() });
        }
        let asked: Vec<&str> = match &name.quant {
            Some(q) => vec![q.as_str()],
            None => DEFAULT_QUANTS.to_vec(),
        };
        let mut found = None;
        for q in asked {
            let matches: Vec<&HubFile> = models.iter().copied().filter(|f| has_quant(&f.path, q)).collect();
            if matches.len() > 1 {
                return Err(HubError::AmbiguousQuant { repo, quant: q.to_string(), files: paths(&matches) });
            }
            if let Some(m) = matches.first() {
                found = Some(*m);
                break;
            }
        }
        match (found, &name.quant) {
            (Some(f), _) => f,
            (None, Some(q)) => return Err(HubError::NoSuchQuant { repo, quant: q.clone(), has }),
            (None, None) if models.len() == 1 => models[0],
            (None, None) => return Err(HubError::NoDefault { repo, has, files: paths(&models) }),
        }
    };
    parts_of(files, first, &repo)
}

/// Every part of the split model whose first part is `first`, by part number.
fn parts_of<'a>(files: &'a [HubFile], first: &'a HubFile, repo: &str) -> Result<Vec<&'a HubFile>, HubError> {
    let info = gguf_name_info(&first.path);
    if info.count <= 1 {
        return Ok(vec![first]);
    }
    // Each file's part number once (the first listed wins): linear in the list.
    let mut by_part: std::collections::HashMap<u32, &HubFile> = std::collections::HashMap::new();
    for f in files {
        let i = gguf_name_info(&f.path);
        if i.prefix == info.prefix && i.count == info.count {
            by_part.entry(i.index).or_insert(f);
        }
    }
    (1..=info.count)
        .map(|k| {
            by_part
                .get(&k)
                .copied()
                .ok_or_else(|| HubError::MissingPart { repo: repo.to_string(), path: base_name(&first.path).to_string(), prefix: info.prefix.clone(), missing: k, count: info.count })
        })
        .collect()
}

/// `%`-encodes as JS encodeURIComponent (what pkg/hub.js puts in URLs).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// `{endpoint}/{repo}/resolve/{revision}/{path}`: where the Hub serves a file.
pub fn resolve_url(endpoint: &str, repo: &str, revision: &str, path: &str) -> String {
    let path: Vec<String> = path.split('/').map(encode_component).collect();
    format!("{endpoint}/{repo}/resolve/{}/{}", encode_component(revision), path.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tests/fixtures/hub-names.json: the same table pkg/hub.js is checked against.
    #[test]
    fn the_shared_name_rules() {
        let fx: serde_json::Value = serde_json::from_str(include_str!("../../tests/fixtures/hub-names.json")).unwrap();
        let cases = fx["cases"].as_array().unwrap();
        assert!(cases.len() >= 20);
        for c in cases {
            let name = c["name"].as_str().unwrap();
            let got = parse(name).and_then(|n| {
                let files: Vec<HubFile> = fx["repos"][c["repo"].as_str().unwrap()].as_array().unwrap().iter().map(|p| HubFile { path: p.as_str().unwrap().into(), size: Some(1), sha256: None }).collect();
                pick_model(&files, &n).map(|v| v.iter().map(|f| f.path.clone()).collect::<Vec<_>>())
            });
            match (&got, c.get("picks")) {
                (Ok(picked), Some(want)) => assert_eq!(serde_json::json!(picked), *want, "{name}"),
                (Err(e), None) => assert_eq!(e.reason(), c["refused"].as_str().unwrap(), "{name}: {e}"),
                _ => panic!("{name}: got {got:?}, want {c}"),
            }
        }
    }

    #[test]
    fn names_parse_into_their_parts() {
        assert_eq!(parse("hf:ggml-org/gemma-3-1b-it-GGUF").unwrap(), HubName { repo: "ggml-org/gemma-3-1b-it-GGUF".into(), revision: "main".into(), quant: None, file: None });
        let n = parse("hf:a/b@refs%2Fpr%2F1:Q4_K_M").unwrap();
        assert_eq!((n.revision.as_str(), n.quant.as_deref()), ("refs/pr/1", Some("Q4_K_M")));
        assert_eq!(parse("hf:a/b/dir/x.GGUF").unwrap().file.as_deref(), Some("dir/x.GGUF"));
        assert_eq!(resolve_url("https://h", "a/b", "refs/pr/1", "d/x y.gguf"), "https://h/a/b/resolve/refs%2Fpr%2F1/d/x%20y.gguf");
        let long = format!("hf:a/{}", "b".repeat(97));
        assert_eq!(parse(&long).unwrap_err().reason(), "not_a_name");
    }

    #[test]
    fn link_headers_as_browsers_read_them() {
        use super::http::next_page_for_tests as next;
        let base = "http://h:1/api/models/o/r/tree/main?recursive=true";
        assert_eq!(next(Some("<https://x/y?p=2>; rel=\"next\""), base).as_deref(), Some("https://x/y?p=2"));
        assert_eq!(next(Some("<a>, </api/p2>; rel=\"next\""), base).as_deref(), Some("http://h:1/api/p2"));
        assert_eq!(next(Some("<tree2?p=2>; rel=\"next\""), base).as_deref(), Some("http://h:1/api/models/o/r/tree/tree2?p=2"));
        assert_eq!(next(Some("</p0>; rel=\"prev\""), base), None);
        assert_eq!(next(None, base), None);
    }

    #[test]
    fn split_names_and_tags() {
        // Multi-byte characters where the part suffix would be: no panic, a whole file.
        assert_eq!(gguf_name_info("äääääääääää.gguf").index, 1);
        assert_eq!(gguf_name_info("x-ä0001-of-00002.gguf").count, 1);
        assert_eq!(gguf_name_info("d/t-Q4_0-00002-of-00003.gguf"), NameInfo { prefix: "d/t-Q4_0".into(), tag: "Q4_0".into(), index: 2, count: 3 });
        assert_eq!(gguf_name_info("model.gguf"), NameInfo { prefix: "model".into(), tag: String::new(), index: 1, count: 1 });
    }
}
