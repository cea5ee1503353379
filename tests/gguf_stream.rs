//! The stream parser on real files: whole-file, fixed and odd chunkings all
//! give the same header and the same tensor bytes, which match the file at
//! the offsets the header names; facts cross-checked with Python `gguf`.

use std::cell::Cell;
use std::path::PathBuf;

use tabllm::gguf::{self, Event, GgufError, Header, StreamParser};
use tabllm::quant::GgmlType;

const SHARED_TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/tiny");
/// From a git worktree two levels down, `shared/` is one level further up.
const SHARED_TINY_FROM_WORKTREE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/tiny");

fn tiny_dir() -> &'static str {
    [SHARED_TINY, SHARED_TINY_FROM_WORKTREE]
        .into_iter()
        .find(|d| std::path::Path::new(d).is_dir())
        .unwrap_or(SHARED_TINY)
}
const SMOLLM2: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
);

fn tiny_files() -> Vec<PathBuf> {
    let dir = tiny_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "expected the tiny models in {dir}");
    files
}

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h ^= b as u64;
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// What one streaming pass saw.
struct Pass {
    header: Header,
    /// Per tensor (index into header.tensors): FNV-1a of its bytes.
    hashes: Vec<u64>,
    peak: u64,
    n_events: usize,
}

/// Streams `data` in chunks of the given sizes (cycled), checking event
/// order and that every tensor slice points into the chunk just pushed.
fn stream(data: &[u8], sizes: &mut dyn FnMut() -> usize) -> Pass {
    let mut parser = StreamParser::new();
    let chunk_range = Cell::new((0usize, 0usize));
    let mut header: Option<Header> = None;
    let mut hashes: Vec<u64> = Vec::new();
    let mut next_offset: Vec<u64> = Vec::new();
    let mut done: Vec<bool> = Vec::new();
    let mut current: Option<usize> = None;
    let mut last_start = 0u64;
    let mut n_events = 0usize;
    let mut pos = 0usize;
    while pos < data.len() {
        let n = sizes().clamp(1, data.len() - pos);
        let chunk = &data[pos..pos + n];
        chunk_range.set((chunk.as_ptr() as usize, chunk.as_ptr() as usize + n));
        parser
            .push(chunk, &mut |ev: Event<'_>| -> Result<(), GgufError> {
                n_events += 1;
                match ev {
                    Event::Header(h) => {
                        assert!(header.is_none(), "two Header events");
                        hashes = vec![FNV_START; h.tensors.len()];
                        next_offset = vec![0; h.tensors.len()];
                        done = vec![false; h.tensors.len()];
                        header = Some(h.clone());
                    }
                    Event::TensorBytes {
                        index,
                        offset,
                        bytes,
                    } => {
                        let h = header.as_ref().expect("tensor bytes before the header");
                        let (lo, hi) = chunk_range.get();
                        let p = bytes.as_ptr() as usize;
                        assert!(
                            p >= lo && p + bytes.len() <= hi,
                            "tensor bytes not borrowed from the chunk"
                        );
                        assert!(!bytes.is_empty());
                        if current != Some(index) {
                            assert!(
                                current.is_none(),
                                "tensor {index} began before {current:?} was done"
                            );
                            let start = h.data_offset + h.tensors[index].offset;
                            assert!(start >= last_start, "tensors out of file order");
                            last_start = start;
                            current = Some(index);
                        }
                        assert_eq!(
                            offset, next_offset[index],
                            "gap or repeat in tensor {index}"
                        );
                        next_offset[index] += bytes.len() as u64;
                        fnv1a(&mut hashes[index], bytes);
                    }
                    Event::TensorDone { index } => {
                        let h = header.as_ref().expect("done before the header");
                        assert_eq!(current, Some(index));
                        assert_eq!(next_offset[index], h.tensors[index].n_bytes);
                        assert!(!done[index]);
                        done[index] = true;
                        current = None;
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("push at {pos}: {e}"));
        pos += n;
    }
    parser.finish().expect("finish");
    assert!(parser.is_complete());
    assert_eq!(parser.bytes_consumed(), data.len() as u64);
    assert!(done.iter().all(|&d| d), "some tensor never finished");
    assert_eq!(parser.header(), header.as_ref());
    Pass {
        header: header.expect("no header"),
        hashes,
        peak: parser.peak_buffered_bytes(),
        n_events,
    }
}

/// FNV of each tensor's bytes, sliced straight out of the file.
fn direct_hashes(data: &[u8], h: &Header) -> Vec<u64> {
    h.tensors
        .iter()
        .map(|t| {
            let s = (h.data_offset + t.offset) as usize;
            let mut x = FNV_START;
            fnv1a(&mut x, &data[s..s + t.n_bytes as usize]);
            x
        })
        .collect()
}

/// A small deterministic generator (xorshift64*).
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed.max(1);
    move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Every chunking of `data` gives what one whole-file push gives. Returns the
/// whole-file pass, with the highest peak any chunking reached.
fn check_chunkings(data: &[u8], seed: u64) -> Pass {
    let whole = stream(data, &mut || usize::MAX);
    assert_eq!(
        whole.hashes,
        direct_hashes(data, &whole.header),
        "hashes vs the file"
    );
    let expected_events = 1 + whole.header.tensors.len() * 2;
    assert_eq!(whole.n_events, expected_events);
    let mut r = rng(seed);
    type Sizes = Box<dyn FnMut() -> usize>;
    let chunkings: Vec<(&str, Sizes)> = vec![
        ("4 KiB", Box::new(|| 4096)),
        ("1-byte", Box::new(|| 1)),
        ("7-byte", Box::new(|| 7)),
        ("4093-byte", Box::new(|| 4093)),
        (
            "random 1..100000",
            Box::new(move || 1 + (r() % 100_000) as usize),
        ),
    ];
    let mut max_peak = whole.peak;
    for (name, mut sizes) in chunkings {
        let p = stream(data, &mut *sizes);
        assert_eq!(p.header, whole.header, "header differs with {name} chunks");
        assert_eq!(
            p.hashes, whole.hashes,
            "tensor bytes differ with {name} chunks"
        );
        assert!(p.n_events >= expected_events);
        // Chunking adds at most the one header item split across chunks.
        assert!(
            p.peak >= whole.peak && p.peak < whole.peak + (1 << 20),
            "{name}: peak {}",
            p.peak
        );
        max_peak = max_peak.max(p.peak);
    }
    Pass {
        peak: max_peak,
        ..whole
    }
}

/// (file, tensors, kv pairs, data offset, first tensor) as Python `gguf` reads them.
const PY_FACTS: &[(&str, usize, usize, u64, &str)] = &[
    ("tiny-llama-bf16.gguf", 20, 25, 28800, "output_norm.weight"),
    (
        "tiny-llama-iq4_nl.gguf",
        20,
        25,
        28800,
        "output_norm.weight",
    ),
    (
        "tiny-llama-iq4_xs.gguf",
        20,
        25,
        28800,
        "output_norm.weight",
    ),
    ("tiny-llama-q2_k.gguf", 20, 25, 28800, "output_norm.weight"),
    (
        "tiny-llama-q3_k_m.gguf",
        20,
        25,
        28800,
        "output_norm.weight",
    ),
    ("tiny-llama-q4_0.gguf", 20, 25, 28800, "output_norm.weight"),
    (
        "tiny-llama-q4_k_m.gguf",
        20,
        25,
        28800,
        "output_norm.weight",
    ),
    ("tiny-llama-q5_1.gguf", 20, 25, 28800, "output_norm.weight"),
    (
        "tiny-llama-q5_k_m.gguf",
        20,
        25,
        28800,
        "output_norm.weight",
    ),
    ("tiny-llama-q6_k.gguf", 20, 25, 28800, "output_norm.weight"),
    (
        "tiny-qwen2-q4_k_m.gguf",
        26,
        25,
        29088,
        "output_norm.weight",
    ),
    (
        "tiny-qwen3-q4_k_m.gguf",
        24,
        25,
        29024,
        "output_norm.weight",
    ),
    (
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        272,
        33,
        1785664,
        "token_embd.weight",
    ),
];

fn check_py_facts(file: &str, h: &Header) {
    let Some(&(_, n_t, n_kv, data_offset, first)) = PY_FACTS.iter().find(|f| f.0 == file) else {
        panic!("{file}: not in PY_FACTS; add what Python `gguf` reads from it");
    };
    assert_eq!(h.tensors.len(), n_t, "{file}: tensor count");
    assert_eq!(h.metadata.len(), n_kv, "{file}: kv count");
    assert_eq!(h.data_offset, data_offset, "{file}: data offset");
    assert_eq!(h.tensors[0].name, first, "{file}: first tensor");
    assert_eq!(h.alignment, 32);
}

/// The tensor types the reference index lists for each tiny file.
fn check_index_types(file: &str, h: &Header) {
    let index: serde_json::Value =
        serde_json::from_slice(&read(&PathBuf::from(format!("{}/index.json", tiny_dir()))))
            .unwrap();
    let entry = index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == file)
        .expect("file in index.json");
    let mut want: Vec<&str> = entry["tensor_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    want.sort();
    let mut got: Vec<&str> = h.tensors.iter().map(|t| t.ggml_type.name()).collect();
    got.sort();
    got.dedup();
    assert_eq!(got, want, "{file}: tensor types");
    assert_eq!(h.architecture().unwrap(), entry["arch"].as_str().unwrap());
}

#[test]
fn tiny_models_stream_identically_in_any_chunking() {
    for (i, path) in tiny_files().iter().enumerate() {
        let file = path.file_name().unwrap().to_str().unwrap();
        let data = read(path);
        let whole = check_chunkings(&data, 0x5eed + i as u64);
        let h = &whole.header;
        check_py_facts(file, h);
        check_index_types(file, h);
        assert!(matches!(h.version, 2 | 3));
        // The path helpers agree with the stream.
        assert_eq!(&gguf::read_header_from_path(path).unwrap(), h);
        for t in &h.tensors {
            let bytes = gguf::read_tensor_bytes(path, &t.name).unwrap();
            let s = (h.data_offset + t.offset) as usize;
            assert_eq!(
                bytes,
                &data[s..s + t.n_bytes as usize],
                "{file}: {}",
                t.name
            );
        }
        eprintln!(
            "{file}: {} tensors, header {} bytes, peak buffered {}",
            h.tensors.len(),
            h.data_offset,
            whole.peak
        );
    }
}

#[test]
fn smollm2_streams_identically_in_any_chunking() {
    let data = read(std::path::Path::new(SMOLLM2));
    assert_eq!(data.len(), 98_362_432);
    let whole = check_chunkings(&data, 0x5a011);
    let h = &whole.header;
    check_py_facts("SmolLM2-135M-Instruct.Q4_1.gguf", h);
    assert_eq!(h.version, 3);
    assert_eq!(h.tensors.len(), 272);
    assert_eq!(h.architecture().unwrap(), "llama");
    assert_eq!(h.metadata.require_u32("llama.block_count").unwrap(), 30);
    assert_eq!(
        h.metadata.require_u32("llama.embedding_length").unwrap(),
        576
    );
    assert_eq!(
        h.metadata
            .get_str_array("tokenizer.ggml.tokens")
            .unwrap()
            .unwrap()
            .len(),
        49152
    );
    assert_eq!(
        h.metadata
            .get_str_array("tokenizer.ggml.merges")
            .unwrap()
            .unwrap()
            .len(),
        48900
    );
    let (_, emb) = h.tensor("token_embd.weight").unwrap();
    assert_eq!(emb.ggml_type, GgmlType::Q8_0);
    assert_eq!(emb.dims, vec![576, 49152]);
    assert_eq!(emb.n_bytes, 576 * 49152 / 32 * 34);
    assert!(h
        .tensors
        .iter()
        .all(|t| matches!(t.ggml_type, GgmlType::Q4_1 | GgmlType::Q8_0 | GgmlType::F32)));
    let end = h
        .tensors
        .iter()
        .map(|t| h.data_offset + t.offset + t.n_bytes)
        .max()
        .unwrap();
    assert!(end <= data.len() as u64);
    assert!(h.total_tensor_bytes() <= data.len() as u64 - h.data_offset);

    eprintln!(
        "SmolLM2: header {} bytes, peak buffered {} bytes",
        h.data_offset, whole.peak
    );
    // The decoded header: 49,152 tokens and 48,900 merges, each a `Value`
    // with its string on the heap, about 3.6 times the 1.8 MB they take on
    // disk (6.4 MB); still far below the file.
    assert!(whole.peak < 8 << 20, "parser held {} bytes", whole.peak);
    assert!(whole.peak < data.len() as u64 / 12);

    let path = std::path::Path::new(SMOLLM2);
    assert_eq!(&gguf::read_header_from_path(path).unwrap(), h);
    let bytes = gguf::read_tensor_bytes(path, "output_norm.weight").unwrap();
    let (_, t) = h.tensor("output_norm.weight").unwrap();
    let s = (h.data_offset + t.offset) as usize;
    assert_eq!(bytes, &data[s..s + t.n_bytes as usize]);
}

#[test]
fn read_header_stops_after_the_header() {
    // A reader that fails once it is asked for data far past the header.
    struct Guard<'a> {
        data: &'a [u8],
        pos: usize,
        limit: usize,
    }
    impl std::io::Read for Guard<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            assert!(self.pos < self.limit, "read past the header");
            let n = buf.len().min(self.data.len() - self.pos).min(1000);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }
    let path = &tiny_files()[0];
    let data = read(path);
    let h = gguf::read_header(Guard {
        data: &data,
        pos: 0,
        limit: 28800,
    })
    .unwrap();
    assert_eq!(h.data_offset, 28800);
    assert!(
        matches!(gguf::read_tensor_bytes(path, "no.such.tensor"), Err(GgufError::TensorNotFound(n)) if n == "no.such.tensor")
    );
    assert!(matches!(
        gguf::read_header_from_path("/nonexistent/x.gguf"),
        Err(GgufError::Io(_))
    ));
}
