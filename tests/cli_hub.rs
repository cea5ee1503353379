//! `tabllm info --model hf:…` against a local imitation of the Hugging Face
//! Hub on 127.0.0.1 (std only): `GET /api/models/{repo}/tree/{rev}` lists the
//! files two per page with `Link: rel="next"` as the Hub paginates,
//! `/{repo}/resolve/{rev}/{path}` answers 302 to `/cdn/{n}`, which serves the
//! bytes from a `Range: bytes=0-`. The CLI resolves names as the page does
//! (tests/fixtures/hub-names.json checks the rules on both) and reads only the header.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

struct Hub {
    origin: String,
    /// Request lines seen, in order.
    log: Arc<Mutex<Vec<String>>>,
}

type Repos = HashMap<String, Vec<(String, Vec<u8>)>>;

fn start_hub(repos: Repos) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let (repos, log2) = (Arc::new(repos), log.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (repos, log) = (repos.clone(), log2.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut range = None;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if h.to_ascii_lowercase().starts_with("range:") {
                        range = Some(h[6..].trim().to_string());
                    }
                }
                let target = line.split(' ').nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(format!("{} range={}", target, range.as_deref().unwrap_or("-")));
                let _ = answer(&mut stream, &repos, &target, range.as_deref());
            });
        }
    });
    Hub { origin, log }
}

fn respond(s: &mut impl Write, status: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<()> {
    write!(s, "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len())?;
    for (k, v) in headers {
        write!(s, "{k}: {v}\r\n")?;
    }
    s.write_all(b"\r\n")?;
    s.write_all(body)
}

fn answer(s: &mut impl Write, repos: &Repos, target: &str, range: Option<&str>) -> std::io::Result<()> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if let Some(rest) = path.strip_prefix("/api/models/") {
        // {owner}/{name}/tree/{rev}
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        let repo = format!("{}/{}", parts[0], parts[1]);
        if repo == "tabllm-test/gated" {
            return respond(s, "401 Unauthorized", &[], b"{}");
        }
        let Some(files) = repos.get(&repo) else { return respond(s, "404 Not Found", &[], b"{\"error\":\"Repository not found\"}") };
        let from: usize = query.split('&').find_map(|kv| kv.strip_prefix("cursor=")).and_then(|c| c.parse().ok()).unwrap_or(0);
        let page: Vec<serde_json::Value> = files.iter().skip(from).take(2).map(|(p, b)| serde_json::json!({ "type": "file", "path": p, "size": 100, "lfs": { "size": b.len(), "oid": "0".repeat(64) } })).collect();
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        if from + 2 < files.len() {
            headers.push(("Link", format!("<{path}?recursive=true&cursor={}>; rel=\"next\"", from + 2)));
        }
        return respond(s, "200 OK", &headers, serde_json::Value::Array(page).to_string().as_bytes());
    }
    if let Some((repo, file)) = path.trim_start_matches('/').split_once("/resolve/main/") {
        let n = repos.get(repo).and_then(|fs| fs.iter().position(|(p, _)| p == file));
        return match n {
            Some(n) => respond(s, "302 Found", &[("Location", format!("/cdn/{}/{n}", repo.replace('/', "_")))], b""),
            None => respond(s, "404 Not Found", &[], b""),
        };
    }
    if let Some(rest) = path.strip_prefix("/cdn/") {
        let (repo, n) = rest.rsplit_once('/').unwrap();
        let bytes = &repos[&repo.replacen('_', "/", 1)][n.parse::<usize>().unwrap()].1;
        assert_eq!(range, Some("bytes=0-"), "the CLI asks for the file from its start");
        return respond(s, "206 Partial Content", &[("Content-Range", format!("bytes 0-{}/{}", bytes.len() - 1, bytes.len()))], bytes);
    }
    respond(s, "404 Not Found", &[], b"")
}

fn run(args: &[&str], env_endpoint: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tabllm"));
    cmd.args(args).env_remove("HF_ENDPOINT");
    if let Some(e) = env_endpoint {
        cmd.env("HF_ENDPOINT", e);
    }
    let out = cmd.output().expect("run tabllm");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn json(args: &[&str]) -> serde_json::Value {
    let (ok, out, err) = run(args, None);
    assert!(ok, "tabllm {args:?} failed: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn info_takes_hugging_face_names_as_the_page_does() {
    let qwen35 = root("tests/reference/tiny/tiny-qwen35-q4_k_m.gguf");
    let split: Vec<PathBuf> = (1..=3).map(|k| root(&format!("../shared/cases/field3/split/t-0000{k}-of-00003.gguf"))).collect();
    let mut repos = Repos::new();
    repos.insert(
        "unsloth/Qwen3.5-0.8B-GGUF".into(),
        vec![
            ("README.md".into(), b"# q".to_vec()),
            ("mmproj-F16.gguf".into(), b"never read".to_vec()),
            ("Qwen3.5-0.8B-Q8_0.gguf".into(), b"never read".to_vec()),
            ("Qwen3.5-0.8B-Q4_K_M.gguf".into(), std::fs::read(&qwen35).unwrap()),
        ],
    );
    repos.insert("tabllm-test/split-GGUF".into(), [3, 1, 2].iter().map(|&k| (format!("Q4_0/tiny-Q4_0-0000{k}-of-00003.gguf"), std::fs::read(&split[k - 1]).unwrap())).collect());
    let hub = start_hub(repos);
    let ep = hub.origin.as_str();

    // The default quant (Q4_K_M), through two pages of the list, the 302 and the CDN; only the header is read.
    let got = json(&["info", "--model", "hf:unsloth/Qwen3.5-0.8B-GGUF", "--hf-endpoint", ep, "--json"]);
    let local = json(&["info", "--model", qwen35.to_str().unwrap(), "--json"]);
    assert_eq!(got["hf"], serde_json::json!({ "endpoint": ep, "repo": "unsloth/Qwen3.5-0.8B-GGUF", "revision": "main", "file": "Qwen3.5-0.8B-Q4_K_M.gguf", "files": ["Qwen3.5-0.8B-Q4_K_M.gguf"] }));
    let size = std::fs::metadata(&qwen35).unwrap().len();
    let fetched = got["bytes_fetched"].as_u64().unwrap();
    assert!(fetched < size, "read {fetched} of {size} bytes: the header only");
    let mut report = got.clone();
    report.as_object_mut().unwrap().retain(|k, _| k != "hf" && k != "bytes_fetched");
    assert_eq!(report, local, "the same report as the local file's");
    let log = hub.log.lock().unwrap().clone();
    assert!(log.iter().any(|l| l.contains("cursor=2")), "the second page was followed: {log:?}");
    assert!(!log.iter().any(|l| l.contains("/cdn/unsloth_Qwen3.5-0.8B-GGUF/1") || l.contains("/cdn/unsloth_Qwen3.5-0.8B-GGUF/2")), "no other file fetched: {log:?}");

    // Text, from $HF_ENDPOINT: the repo and file first.
    let (ok, out, err) = run(&["info", "--model", "hf:unsloth/Qwen3.5-0.8B-GGUF:q4_k_m"], Some(ep));
    assert!(ok, "{err}");
    // (How many bytes were read before the header was whole depends on how TCP delivered them.)
    let first = out.lines().next().unwrap_or("");
    assert!(first.starts_with("Hugging Face: unsloth/Qwen3.5-0.8B-GGUF@main, Qwen3.5-0.8B-Q4_K_M.gguf (header read: ") && first.ends_with(&format!(" bytes from {ep})")), "{out}");
    assert!(out.contains("architecture: qwen35"), "{out}");

    // A split model: every part's header, in order, sized as the local first part (which brings the others).
    let got = json(&["info", "--model", "hf:tabllm-test/split-GGUF:Q4_0", "--hf-endpoint", ep, "--json"]);
    assert_eq!(got["hf"]["files"], serde_json::json!(["Q4_0/tiny-Q4_0-00001-of-00003.gguf", "Q4_0/tiny-Q4_0-00002-of-00003.gguf", "Q4_0/tiny-Q4_0-00003-of-00003.gguf"]));
    let local = json(&["info", "--model", split[0].to_str().unwrap(), "--json"]);
    assert_eq!(got["weight_bytes"], local["weight_bytes"]);
    assert_eq!(got["fits"], local["fits"]);

    // Refusals, in words, with what the repo has.
    let refused = |args: &[&str], want: &str| {
        let (ok, _, err) = run(args, None);
        assert!(!ok && err.contains(want), "{args:?}: {err}");
    };
    refused(&["info", "--model", "hf:unsloth/Qwen3.5-0.8B-GGUF:Q5_K_M", "--hf-endpoint", ep], "unsloth/Qwen3.5-0.8B-GGUF has no Q5_K_M model: it has Q4_K_M, Q8_0");
    refused(&["info", "--model", "hf:tabllm-test/gated", "--hf-endpoint", ep], "tabllm-test/gated is private or gated");
    refused(&["info", "--model", "hf:tabllm-test/nothing", "--hf-endpoint", ep], "no model repo tabllm-test/nothing at revision main");
    refused(&["info", "--model", "hf:just-a-name", "--hf-endpoint", ep], "is not a Hugging Face model name");
    refused(&["info", "--model", "hf:a/b", "--hf-endpoint", "ftp://mirror"], "--hf-endpoint must be an absolute http(s) URL");
    refused(&["info", "--model", "hf:a/b", "--hf-endpoint", "http://127.0.0.1:9"], "listing the files of a/b");
}
