//! The Hub over HTTP for the CLI: the file list of a repo
//! (`GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true`,
//! paginated with `Link: <…>; rel="next"`, as huggingface_hub reads it) and
//! the first bytes of a file through its `resolve` URL (which answers 302 to a
//! CDN; redirects are followed). Bounded: at most [`MAX_TREE_PAGES`] pages
//! of at most [`MAX_TREE_BYTES`] each, and a header read stops at
//! [`MAX_HEADER_BYTES`].

use super::{pick_model, resolve_url, HubError, HubFile, HubName};
use std::io::Read;
use std::time::Duration;

pub const MAX_TREE_BYTES: u64 = 16 << 20;
pub const MAX_TREE_PAGES: usize = 50;
/// Most files listed over all pages (pkg/hub.js MAX_TREE_FILES).
pub const MAX_TREE_FILES: usize = 100_000;
/// A GGUF header (metadata with a 262k-token vocabulary, tensor infos) is a
/// few MB; more than this is refused rather than read on.
pub const MAX_HEADER_BYTES: u64 = 256 << 20;

/// What a name resolved to: the repo, revision and the parts' paths, sizes,
/// sha256 and `resolve` URLs in order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    pub endpoint: String,
    pub repo: String,
    pub revision: String,
    /// The first part's path.
    pub file: String,
    pub files: Vec<String>,
    #[serde(skip)]
    pub parts: Vec<(HubFile, String)>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .max_redirects(10)
        .http_status_as_error(false)
        .user_agent(concat!("tabllm/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// An http(s) endpoint without a trailing slash, query or fragment; `Err` says what is wrong.
pub fn check_endpoint(endpoint: &str) -> Result<String, String> {
    let e = endpoint.trim_end_matches('/');
    let ok = (e.starts_with("https://") || e.starts_with("http://")) && e.len() > "https://".len() && !e.contains(['?', '#', ' ']);
    if ok {
        Ok(e.to_string())
    } else {
        Err(format!("--hf-endpoint must be an absolute http(s) URL such as {}, got {endpoint:?}", super::DEFAULT_ENDPOINT))
    }
}

/// The next page of a paginated answer, from its `Link` header
/// (`<url>; rel="next"`, among other links), resolved against `base` (the
/// page's URL) as a browser resolves it: absolute, origin-relative (`/…`) or
/// relative to the page's folder.
fn next_page(link: Option<&str>, base: &str) -> Option<String> {
    let mut rest = link?;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let url = &rest[open + 1..close];
        let params = rest[close + 1..].split('<').next().unwrap_or("");
        rest = &rest[close + 1..];
        if !params.split(';').any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\"") || p.trim().eq_ignore_ascii_case("rel=next")) {
            continue;
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return Some(url.to_string());
        }
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let origin_end = base[scheme_end..].find('/').map_or(base.len(), |j| scheme_end + j);
        if url.starts_with('/') {
            return Some(format!("{}{url}", &base[..origin_end]));
        }
        let path = base.split(['?', '#']).next().unwrap_or(base);
        let folder_end = path.rfind('/').filter(|&i| i >= origin_end).map_or(path.len(), |i| i + 1);
        let folder = if folder_end == path.len() { format!("{path}/") } else { path[..folder_end].to_string() };
        return Some(format!("{folder}{url}"));
    }
    None
}

#[cfg(test)]
pub(super) fn next_page_for_tests(link: Option<&str>, base: &str) -> Option<String> {
    next_page(link, base)
}

/// The repo's files at `revision` (see the module doc); errors name the URL
/// and what the Hub answered (404: no such repo or revision; 401 / 403: private or gated).
pub fn list_repo(endpoint: &str, repo: &str, revision: &str) -> Result<Vec<HubFile>, HubError> {
    let agent = agent();
    let mut url = Some(format!("{endpoint}/api/models/{repo}/tree/{}?recursive=true", super::encode_component(revision)));
    let mut files = Vec::new();
    let mut page = 0;
    while let Some(u) = url.take() {
        if page == MAX_TREE_PAGES {
            return Err(HubError::Http(format!("the file list of {repo} has over {MAX_TREE_PAGES} pages ({u})")));
        }
        page += 1;
        let mut res = agent.get(&u).call().map_err(|e| HubError::Http(format!("listing the files of {repo} ({u}) failed: {e}")))?;
        let status = res.status().as_u16();
        if status != 200 {
            let why = match status {
                404 => format!("no model repo {repo} at revision {revision} on {endpoint}"),
                401 | 403 => format!("{repo} is private or gated: tabllm downloads public models only"),
                s => format!("HTTP {s}"),
            };
            return Err(HubError::Http(format!("listing the files of {repo} failed: {why} ({u})")));
        }
        let link = res.headers().get("link").and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut body = Vec::new();
        res.body_mut().as_reader().take(MAX_TREE_BYTES + 1).read_to_end(&mut body).map_err(|e| HubError::Http(format!("reading the file list of {repo} ({u}): {e}")))?;
        if body.len() as u64 > MAX_TREE_BYTES {
            return Err(HubError::Http(format!("the file list of {repo} is over {MAX_TREE_BYTES} bytes ({u})")));
        }
        let list: serde_json::Value = serde_json::from_slice(&body).map_err(|e| HubError::Http(format!("the file list of {repo} ({u}) is not JSON: {e}")))?;
        let list = list.as_array().ok_or_else(|| HubError::Http(format!("the file list of {repo} ({u}) is not an array")))?;
        for e in list {
            let (Some("file"), Some(path)) = (e["type"].as_str(), e["path"].as_str()) else { continue };
            if files.len() == MAX_TREE_FILES {
                return Err(HubError::Http(format!("the file list of {repo} has over {MAX_TREE_FILES} files")));
            }
            if !super::safe_path(path) {
                continue; // never fetched: see safe_path
            }
            let lfs = e.get("lfs").filter(|l| l.is_object());
            let size = lfs.and_then(|l| l["size"].as_u64()).or_else(|| e["size"].as_u64());
            let sha256 = lfs.and_then(|l| l["oid"].as_str()).filter(|o| o.len() == 64 && o.bytes().all(|c| c.is_ascii_hexdigit())).map(|o| o.to_ascii_lowercase());
            files.push(HubFile { path: path.to_string(), size, sha256 });
        }
        url = next_page(link.as_deref(), &u);
    }
    Ok(files)
}

/// Resolves `name` through the Hub at `endpoint` (see [`pick_model`]).
pub fn resolve(name: &HubName, endpoint: &str) -> Result<Resolved, HubError> {
    let files = list_repo(endpoint, &name.repo, &name.revision)?;
    let picked = pick_model(&files, name)?;
    let parts: Vec<(HubFile, String)> = picked.iter().map(|f| ((*f).clone(), resolve_url(endpoint, &name.repo, &name.revision, &f.path))).collect();
    Ok(Resolved {
        endpoint: endpoint.to_string(),
        repo: name.repo.clone(),
        revision: name.revision.clone(),
        file: parts[0].0.path.clone(),
        files: parts.iter().map(|(f, _)| f.path.clone()).collect(),
        parts,
    })
}

/// Streams `url` from its first byte (`Range: bytes=0-`, redirects followed)
/// into `push` until it returns true (it has what it needs) or the file
/// ends; returns the bytes read. A `Content-Encoding` other than identity is
/// refused (a model file is never compressed on the wire by tabllm's rules);
/// so is a read past `max_bytes`.
pub fn read_prefix(url: &str, max_bytes: u64, mut push: impl FnMut(&[u8]) -> Result<bool, String>) -> Result<u64, HubError> {
    let mut res = agent().get(url).header("Range", "bytes=0-").call().map_err(|e| HubError::Http(format!("{url}: {e}")))?;
    let status = res.status().as_u16();
    if status != 200 && status != 206 {
        return Err(HubError::Http(format!("{url}: HTTP {status}")));
    }
    if let Some(enc) = res.headers().get("content-encoding").and_then(|v| v.to_str().ok()).filter(|e| !e.eq_ignore_ascii_case("identity")) {
        return Err(HubError::Http(format!("{url}: the server sent the file with Content-Encoding {enc}, not the file's own bytes")));
    }
    let mut reader = res.body_mut().as_reader();
    let mut buf = vec![0u8; 256 << 10];
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| HubError::Http(format!("{url}: {e}")))?;
        if n == 0 {
            return Ok(read);
        }
        read += n as u64;
        if push(&buf[..n]).map_err(|e| HubError::Http(format!("{url}: {e}")))? {
            return Ok(read);
        }
        if read > max_bytes {
            return Err(HubError::Http(format!("{url}: no whole GGUF header in its first {max_bytes} bytes")));
        }
    }
}
