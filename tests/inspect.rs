//! "Will it run?" from the header alone: sizes checked against an independent
//! reading of the file (a small GGUF walker and ggml's block sizes written
//! out here, not tabllm's parser or type table), the KV cache against the
//! formula by hand and against what the runtime allocates on the GPU, the fit
//! verdicts under small limits, and the header parsed from a file's first
//! bytes as the browser does with HTTP Range requests.

mod common;
use common::shared;

use std::collections::HashMap;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use tabllm::gguf::{self, GgufError};
use tabllm::gpu::{DeviceOptions, GpuContext, Precision};
use tabllm::inspect::{binding_parts, inspect, Fit, HeaderProbe, InspectOptions, ModelReport};
use tabllm::model::{self, LoadOptions};

const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const GEMMA3: &str = "gemma-3-270m-q4_k_m.gguf";
const TINY: [&str; 6] = ["tiny-llama-q4_0", "tiny-llama-bf16", "tiny-llama-q4_k_m", "tiny-llama-iq4_xs", "tiny-qwen2-q4_k_m", "tiny-qwen3-q4_k_m"];

/// A real model from models/; fails, saying how to fetch it, when it is missing.
fn real_model(file: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(file);
    assert!(p.exists(), "{} is missing: run scripts/fetch-models.sh (the test command does)", p.display());
    p
}

fn tiny(name: &str) -> std::path::PathBuf {
    shared(&format!("tiny/{name}.gguf"))
}

// ---------------------------------------------------------------------------
// An independent reading of a GGUF file: just enough to list metadata
// integers/strings and tensor infos, with ggml's block sizes from the block
// structs in ggml-common.h.

/// (elements per block, bytes per block) by ggml type id.
fn ggml_block(id: u32) -> (u64, u64) {
    match id {
        0 => (1, 4),                            // F32
        1 | 30 => (1, 2),                       // F16, BF16
        2 => (32, 2 + 16),                      // Q4_0: d, 32 nibbles
        3 => (32, 2 + 2 + 16),                  // Q4_1: d, m, 32 nibbles
        6 => (32, 2 + 4 + 16),                  // Q5_0: d, qh, nibbles
        7 => (32, 2 + 2 + 4 + 16),              // Q5_1
        8 => (32, 2 + 32),                      // Q8_0
        10 => (256, 16 + 64 + 2 + 2),           // Q2_K: scales, qs, d, dmin
        11 => (256, 32 + 64 + 12 + 2),          // Q3_K: hmask, qs, scales, d
        12 => (256, 2 + 2 + 12 + 128),          // Q4_K: d, dmin, scales, qs
        13 => (256, 2 + 2 + 12 + 32 + 128),     // Q5_K: d, dmin, scales, qh, qs
        14 => (256, 128 + 64 + 16 + 2),         // Q6_K: ql, qh, scales, d
        20 => (32, 2 + 16),                     // IQ4_NL
        23 => (256, 2 + 2 + 4 + 128),           // IQ4_XS: d, scales_h, scales_l, qs
        other => panic!("ggml type {other} is not in the test's table"),
    }
}

#[derive(Debug)]
struct RawTensor {
    name: String,
    n_elements: u64,
    n_bytes: u64,
    offset: u64,
}

struct RawFile {
    ints: HashMap<String, u64>,
    strings: HashMap<String, String>,
    tensors: Vec<RawTensor>,
    alignment: u64,
    data_offset: u64,
    file_len: u64,
}

fn read_raw(path: &std::path::Path) -> RawFile {
    let f = std::fs::read(path).unwrap();
    let mut o = 0usize;
    let mut take = |n: usize| {
        let s = &f[o..o + n];
        o += n;
        s
    };
    fn u32_(b: &[u8]) -> u32 {
        u32::from_le_bytes(b.try_into().unwrap())
    }
    fn u64_(b: &[u8]) -> u64 {
        u64::from_le_bytes(b.try_into().unwrap())
    }
    assert_eq!(take(4), b"GGUF");
    assert_eq!(u32_(take(4)), 3);
    let n_tensors = u64_(take(8));
    let n_kv = u64_(take(8));
    let mut ints = HashMap::new();
    let mut strings = HashMap::new();
    // Returns an integer or string value when it is one; skips anything else.
    fn value(take: &mut dyn FnMut(usize) -> Vec<u8>, ty: u32) -> (Option<u64>, Option<String>) {
        let scalar = |ty: u32| match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            _ => 0,
        };
        match ty {
            8 => {
                let n = u64_(&take(8)) as usize;
                (None, Some(String::from_utf8(take(n)).unwrap()))
            }
            9 => {
                let et = u32_(&take(4));
                let n = u64_(&take(8));
                for _ in 0..n {
                    value(take, et);
                }
                (None, None)
            }
            0 | 2 | 4 | 10 => {
                let mut b = take(scalar(ty));
                b.resize(8, 0);
                (Some(u64_(&b)), None)
            }
            t => {
                take(scalar(t));
                (None, None)
            }
        }
    }
    let mut take_vec = |n: usize| take(n).to_vec();
    for _ in 0..n_kv {
        let n = u64_(&take_vec(8)) as usize;
        let key = String::from_utf8(take_vec(n)).unwrap();
        let ty = u32_(&take_vec(4));
        match value(&mut take_vec, ty) {
            (Some(i), _) => {
                ints.insert(key, i);
            }
            (_, Some(s)) => {
                strings.insert(key, s);
            }
            _ => {}
        }
    }
    let mut tensors = Vec::new();
    for _ in 0..n_tensors {
        let n = u64_(&take_vec(8)) as usize;
        let name = String::from_utf8(take_vec(n)).unwrap();
        let n_dims = u32_(&take_vec(4));
        let n_elements: u64 = (0..n_dims).map(|_| u64_(&take_vec(8))).product();
        let (be, bb) = ggml_block(u32_(&take_vec(4)));
        let offset = u64_(&take_vec(8));
        assert_eq!(n_elements % be, 0, "{name}");
        tensors.push(RawTensor { name, n_elements, n_bytes: n_elements / be * bb, offset });
    }
    let alignment = ints.get("general.alignment").copied().unwrap_or(32);
    let data_offset = (o as u64).next_multiple_of(alignment);
    RawFile { ints, strings, tensors, alignment, data_offset, file_len: f.len() as u64 }
}

impl RawFile {
    fn arch_int(&self, key: &str) -> u64 {
        let arch = &self.strings["general.architecture"];
        self.ints[&format!("{arch}.{key}")]
    }

    fn total_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }

    /// The sizes agree with the file's layout: between consecutive tensors
    /// (by offset) and after the last one there is less than one alignment
    /// of padding, so no size can be too small or too large.
    fn check_layout(&self, what: &str) {
        let mut by_offset: Vec<&RawTensor> = self.tensors.iter().collect();
        by_offset.sort_by_key(|t| t.offset);
        for w in by_offset.windows(2) {
            let end = w[0].offset + w[0].n_bytes;
            assert!(end <= w[1].offset && w[1].offset - end < self.alignment, "{what}: {} ends at {end}, {} starts at {}", w[0].name, w[1].name, w[1].offset);
        }
        let last = by_offset.last().unwrap();
        let end = self.data_offset + last.offset + last.n_bytes;
        assert!(end <= self.file_len && self.file_len - end < self.alignment, "{what}: last tensor ends at {end}, file has {} bytes", self.file_len);
    }
}

// ---------------------------------------------------------------------------

fn report(path: &std::path::Path, opts: &InspectOptions) -> ModelReport {
    inspect(&gguf::read_header_from_path(path).unwrap(), opts)
}

fn at_context(context: u32) -> InspectOptions {
    InspectOptions { context: Some(context), ..Default::default() }
}

fn check_sizes(path: &std::path::Path) -> (ModelReport, RawFile) {
    let what = path.file_name().unwrap().to_string_lossy().to_string();
    let raw = read_raw(path);
    raw.check_layout(&what);
    let r = report(path, &at_context(256));
    assert_eq!(r.weight_bytes, raw.total_bytes(), "{what}: weight_bytes");
    assert_eq!(r.parameters, raw.tensors.iter().map(|t| t.n_elements).sum::<u64>(), "{what}: parameters");
    assert_eq!(r.total_bytes, r.weight_bytes + r.kv_bytes, "{what}");
    let largest = raw.tensors.iter().max_by_key(|t| t.n_bytes).unwrap();
    assert_eq!(r.largest_tensor_bytes, largest.n_bytes, "{what}: largest tensor");
    assert_eq!(r.largest_tensor.as_ref().unwrap().bytes, largest.n_bytes, "{what}");
    assert_eq!(r.tensor_types.values().map(|t| t.count).sum::<u64>(), raw.tensors.len() as u64, "{what}");
    assert_eq!(r.tensor_types.values().map(|t| t.bytes).sum::<u64>(), raw.total_bytes(), "{what}");
    assert_eq!(r.architecture, raw.strings["general.architecture"], "{what}");
    assert_eq!(r.name.as_deref(), raw.strings.get("general.name").map(String::as_str), "{what}");
    (r, raw)
}

#[test]
fn tiny_models_sizes_and_kv_by_hand() {
    for name in TINY {
        let (r, raw) = check_sizes(&tiny(name));
        assert!(r.supported, "{name}: {:?}", r.unsupported_reason);
        // tiny/README: 2 layers, dim 256, 4 heads / 2 KV heads.
        let (layers, kv_heads, head_dim) = (raw.arch_int("block_count"), raw.arch_int("attention.head_count_kv"), raw.arch_int("embedding_length") / raw.arch_int("attention.head_count"));
        assert_eq!((layers, kv_heads, head_dim), (2, 2, 64), "{name}");
        assert_eq!(r.kv_bytes, 2 * layers * kv_heads * head_dim * 256 * 4, "{name}: kv_bytes");
        assert_eq!((r.n_layers, r.n_kv_heads, r.head_dim), (Some(2), Some(2), Some(64)));
        assert_eq!(r.fits, Fit::Fits, "{name}: no limits given");
    }
}

#[test]
fn smollm2_sizes_and_kv_by_hand() {
    let path = real_model(SMOLLM2);
    let (_, raw) = check_sizes(&path);
    let (layers, kv_heads, head_dim) = (raw.arch_int("block_count"), raw.arch_int("attention.head_count_kv"), raw.arch_int("embedding_length") / raw.arch_int("attention.head_count"));
    assert_eq!((layers, kv_heads, head_dim), (30, 3, 64));
    let r = report(&path, &at_context(4096));
    assert_eq!(r.kv_bytes, 2 * 30 * 3 * 64 * 4096 * 4);
    assert_eq!(r.context, 4096);
    assert_eq!(r.sliding_window, None);
    let f16 = report(&path, &InspectOptions { kv_bytes_per_element: 2, ..at_context(4096) });
    assert_eq!(f16.kv_bytes, 2 * 30 * 3 * 64 * 4096 * 2);
    // The runtime's default context: the training context (8192) capped at 4096.
    assert_eq!(raw.arch_int("context_length"), 8192);
    assert_eq!(report(&path, &InspectOptions::default()).context, 4096);
}

#[test]
fn gemma3_sizes_and_sliding_window_kv_by_hand() {
    let path = real_model(GEMMA3);
    let (_, raw) = check_sizes(&path);
    let (layers, kv_heads, head_dim, window) = (raw.arch_int("block_count"), raw.arch_int("attention.head_count_kv"), raw.arch_int("attention.key_length"), raw.arch_int("attention.sliding_window"));
    assert_eq!((layers, kv_heads, head_dim, window), (18, 1, 256, 512));
    // Layers 5, 11 and 17 are global (every 6th); the other 15 keep a ring of
    // window + max_batch (512 by default) positions.
    let per_position = 2 * kv_heads * head_dim * 4;
    let r = report(&path, &at_context(4096));
    assert_eq!(r.kv_bytes, per_position * (3 * 4096 + 15 * (512 + 512)));
    assert_eq!((r.sliding_window, r.n_local_layers), (Some(512), 15));
    assert_eq!(r.kv_layer_bytes_max, kv_heads * head_dim * 4096 * 4);
    // A context shorter than the ring: every layer holds the whole context.
    assert_eq!(report(&path, &at_context(300)).kv_bytes, per_position * 18 * 300);
    let small_batch = report(&path, &InspectOptions { max_batch: 64, ..at_context(4096) });
    assert_eq!(small_batch.kv_bytes, per_position * (3 * 4096 + 15 * (512 + 64)));
}

#[test]
fn fit_verdicts_under_small_limits() {
    let path = real_model(SMOLLM2);
    let h = gguf::read_header_from_path(&path).unwrap();
    let base = at_context(4096);
    let kv_per_position = 2 * 30 * 3 * 64 * 4;
    let w = h.total_tensor_bytes();

    let r = inspect(&h, &InspectOptions { max_storage_buffer_binding_size: Some(128 << 20), max_buffer_size: Some(256 << 20), available_bytes: Some(1 << 30), ..base.clone() });
    assert_eq!(r.fits, Fit::Fits, "{}", r.reason);
    assert!(r.split_tensors.is_empty());
    assert_eq!(r.max_context_that_fits, Some(8192), "up to the training context");
    eprintln!("fits: {}", r.reason);

    // token_embd.weight (Q8_0, 49152 rows of 576 → 612 bytes) is split by rows.
    let (_, embd) = h.tensor("token_embd.weight").unwrap();
    assert_eq!(embd.n_bytes, 49152 * 612);
    let r = inspect(&h, &InspectOptions { max_storage_buffer_binding_size: Some(16 << 20), ..base.clone() });
    assert_eq!(r.fits, Fit::Fits, "{}", r.reason);
    let per_part = (16u64 << 20) / 612; // rows; 612 is a multiple of 4
    assert_eq!(r.split_tensors.iter().find(|s| s.name == "token_embd.weight").map(|s| s.parts), Some(49152u64.div_ceil(per_part)));
    assert!(r.reason.contains("split by rows"), "{}", r.reason);

    // A binding smaller than one row.
    let r = inspect(&h, &InspectOptions { max_storage_buffer_binding_size: Some(600), ..base.clone() });
    assert_eq!(r.fits, Fit::DoesNotFit);
    assert_eq!(r.max_context_that_fits, None);
    assert!(r.reason.contains("600 bytes") && r.reason.contains("token_embd.weight"), "{}", r.reason);
    eprintln!("does not fit: {}", r.reason);

    // maxBufferSize below the binding size is the limit.
    let r = inspect(&h, &InspectOptions { max_storage_buffer_binding_size: Some(1 << 30), max_buffer_size: Some(600), ..base.clone() });
    assert_eq!(r.fits, Fit::DoesNotFit, "{}", r.reason);

    // Memory for the weights and exactly 1000 positions of KV cache.
    let r = inspect(&h, &InspectOptions { available_bytes: Some(w + 1000 * kv_per_position), ..base.clone() });
    assert_eq!(r.fits, Fit::FitsSmallerContext, "{}", r.reason);
    assert_eq!(r.max_context_that_fits, Some(1000));
    eprintln!("smaller context: {}", r.reason);

    let r = inspect(&h, &InspectOptions { available_bytes: Some(w - 1), ..base.clone() });
    assert_eq!(r.fits, Fit::DoesNotFit, "{}", r.reason);
    assert!(r.reason.contains("weights alone"), "{}", r.reason);

    let r = inspect(&h, &InspectOptions { available_bytes: Some(w + kv_per_position / 2), ..base.clone() });
    assert_eq!(r.fits, Fit::DoesNotFit, "not even one position: {}", r.reason);

    // Decode estimate: weights once (the tied embedding is the output matrix)
    // plus K and V at half the context.
    let r = inspect(&h, &InspectOptions { bandwidth_gbps: Some(100.0), ..base });
    let bytes = w as f64 + (kv_per_position * 2048) as f64;
    assert!((r.decode_bytes_per_token - bytes).abs() < 1.0, "{} vs {bytes}", r.decode_bytes_per_token);
    assert!((r.predicted_decode_tok_s.unwrap() - 100e9 / bytes).abs() < 1e-6);
}

#[test]
fn gemma3_kv_binding_limits_the_context() {
    let path = real_model(GEMMA3);
    let h = gguf::read_header_from_path(&path).unwrap();
    // A global layer's K cache at 4096 positions is 4 MiB (1 KV head × 256 × 4 bytes
    // per position); a 3 MiB binding holds 3072 positions. token_embd.weight
    // (rows of 640 Q8_0 = 680 bytes) splits into 3 MiB parts.
    let r = inspect(&h, &InspectOptions { max_storage_buffer_binding_size: Some(3 << 20), ..at_context(4096) });
    assert_eq!(r.fits, Fit::FitsSmallerContext, "{}", r.reason);
    assert_eq!(r.max_context_that_fits, Some(3072));
    eprintln!("gemma3: {}", r.reason);
}

// ---------------------------------------------------------------------------
// The header from the file's first bytes.

/// Pushes `file` in `chunk`-byte pieces until the probe has the header.
fn probe_prefix(file: &[u8], chunk: usize) -> HeaderProbe {
    let mut p = HeaderProbe::new();
    for piece in file.chunks(chunk) {
        assert!(p.bytes_needed_hint() > 0);
        if p.push(piece).unwrap() {
            break;
        }
    }
    assert!(p.is_complete());
    assert_eq!(p.bytes_needed_hint(), 0);
    p
}

#[test]
fn header_from_the_first_bytes_only() {
    let mut paths: Vec<_> = [SMOLLM2, GEMMA3].into_iter().map(real_model).collect();
    paths.push(tiny("tiny-llama-q4_k_m"));
    for path in paths {
        let full = gguf::read_header_from_path(&path).unwrap();
        // Only the header's bytes exist: the browser fetched a prefix.
        let prefix = {
            use std::io::Read;
            let mut v = Vec::new();
            std::fs::File::open(&path).unwrap().take(full.data_offset).read_to_end(&mut v).unwrap();
            v
        };
        for chunk in [64 << 10, 1 << 20, 7919] {
            let p = probe_prefix(&prefix, chunk);
            assert!(p.bytes_pushed() <= full.data_offset, "{}", path.display());
            let h = p.header().unwrap();
            assert_eq!(h, &full, "{}", path.display());
            let opts = InspectOptions { max_storage_buffer_binding_size: Some(128 << 20), ..at_context(4096) };
            assert_eq!(inspect(h, &opts), inspect(&full, &opts));
        }
        // Pushing past the header (into tensor data) is harmless.
        let mut p = HeaderProbe::new();
        let mut bytes = prefix.clone();
        bytes.extend_from_slice(&[0xAB; 1000]);
        assert!(p.push(&bytes).unwrap());
        assert!(p.push(&[1, 2, 3]).unwrap());
        assert_eq!(p.header().unwrap(), &full);
    }
    // One byte at a time: every item straddles a push.
    let path = tiny("tiny-llama-q4_0");
    let bytes = std::fs::read(&path).unwrap();
    let p = probe_prefix(&bytes, 1);
    assert_eq!(p.header().unwrap(), &gguf::read_header_from_path(&path).unwrap());
}

#[test]
fn hostile_headers_give_typed_errors() {
    let mut p = HeaderProbe::new();
    assert!(matches!(p.push(b"this is not a gguf file"), Err(GgufError::BadMagic(_))));
    assert!(matches!(p.push(b"GGUF"), Err(GgufError::AlreadyFailed)));

    // Truncated: never complete, never an error while bytes may still come.
    let bytes = std::fs::read(tiny("tiny-llama-q4_0")).unwrap();
    let data_offset = gguf::read_header_from_path(tiny("tiny-llama-q4_0")).unwrap().data_offset as usize;
    let mut p = HeaderProbe::new();
    assert!(!p.push(&bytes[..data_offset / 2]).unwrap());
    assert!(p.bytes_needed_hint() >= 1 << 20);

    // Corrupted bytes in the header: an error or a header that inspects
    // without panicking, whatever the corruption.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (mut errors, mut parsed) = (0, 0);
    for _ in 0..300 {
        let mut b = bytes[..data_offset].to_vec();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        let mut p = HeaderProbe::new();
        match p.push(&b) {
            Ok(true) => {
                let r = inspect(p.header().unwrap(), &InspectOptions { max_storage_buffer_binding_size: Some(1 << 16), available_bytes: Some(1 << 20), ..at_context(1 << 20) });
                serde_json::to_string(&r).unwrap();
                parsed += 1;
            }
            Ok(false) => {}
            Err(_) => errors += 1,
        }
    }
    eprintln!("corrupted headers: {errors} errors, {parsed} parsed");
    assert!(errors > 0 && parsed > 0);
}

/// A GGUF v3 header with u32 metadata and one F32 tensor.
fn synthetic_gguf(arch: &str, ints: &[(&str, u32)], dims: &[u64]) -> Vec<u8> {
    let mut b = Vec::new();
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend_from_slice(&(s.len() as u64).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    };
    b.extend_from_slice(b"GGUF");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&(ints.len() as u64 + 1).to_le_bytes());
    string(&mut b, "general.architecture");
    b.extend_from_slice(&8u32.to_le_bytes());
    string(&mut b, arch);
    for (k, v) in ints {
        string(&mut b, &format!("{arch}.{k}"));
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&v.to_le_bytes());
    }
    string(&mut b, "token_embd.weight");
    b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b.extend_from_slice(&0u32.to_le_bytes()); // F32
    b.extend_from_slice(&0u64.to_le_bytes());
    b.resize(b.len().next_multiple_of(32), 0);
    b
}

#[test]
fn unsupported_architecture_is_sized_from_generic_keys() {
    let ints = [("block_count", 24), ("attention.head_count", 16), ("attention.head_count_kv", 8), ("embedding_length", 2048), ("context_length", 8192)];
    let mut p = HeaderProbe::new();
    assert!(p.push(&synthetic_gguf("rwkv9", &ints, &[2048, 1000])).unwrap());
    let r = inspect(p.header().unwrap(), &at_context(1000));
    assert!(!r.supported);
    assert!(r.unsupported_reason.as_deref().unwrap().contains("rwkv9"), "{:?}", r.unsupported_reason);
    assert_eq!((r.n_layers, r.n_kv_heads, r.head_dim, r.context_train), (Some(24), Some(8), Some(128), Some(8192)));
    assert_eq!(r.kv_bytes, 2 * 24 * 8 * 128 * 1000 * 4);
    assert_eq!(r.weight_bytes, 2048 * 1000 * 4);

    // Absurd metadata saturates instead of overflowing or looping.
    let max = [("block_count", u32::MAX), ("attention.head_count", u32::MAX), ("attention.key_length", u32::MAX), ("context_length", u32::MAX)];
    let mut p = HeaderProbe::new();
    assert!(p.push(&synthetic_gguf("huge", &max, &[32])).unwrap());
    let r = inspect(p.header().unwrap(), &InspectOptions { available_bytes: Some(1 << 40), max_storage_buffer_binding_size: Some(1 << 30), ..at_context(u32::MAX) });
    assert_eq!(r.kv_bytes, u64::MAX);
    assert_eq!(r.fits, Fit::DoesNotFit, "{}", r.reason);
}

// ---------------------------------------------------------------------------
// What the runtime allocates (needs a GPU adapter; lavapipe in CI).

fn gpu(opts: &DeviceOptions) -> Arc<GpuContext> {
    Arc::new(GpuContext::new_blocking(opts).expect("a GPU adapter: install mesa-vulkan-drivers (lavapipe) where there is no GPU"))
}

fn check_against_runtime(path: &std::path::Path, ctx: Arc<GpuContext>, n_ctx: u32) {
    let what = path.file_name().unwrap().to_string_lossy().to_string();
    let elem = match ctx.precision {
        Precision::F16 => 2,
        Precision::F32 => 4,
    };
    let limit = ctx.max_binding_size().min(ctx.limits.max_buffer_size);
    let opts = InspectOptions { kv_bytes_per_element: elem, max_storage_buffer_binding_size: Some(ctx.max_binding_size()), max_buffer_size: Some(ctx.limits.max_buffer_size), ..at_context(n_ctx) };
    let r = report(path, &opts);
    // Unfused, every tensor keeps the buffers the loader gave it.
    let (m, _) = model::load_path(ctx, path, LoadOptions { n_ctx: Some(n_ctx), fuse: false, ..Default::default() }, 1 << 20).unwrap();
    assert_eq!(r.kv_bytes, m.kv_cache_bytes(), "{what}: KV cache bytes at {n_ctx}");
    assert_eq!(r.loaded_weight_bytes, m.weight_bytes(), "{what}: uploaded weights");
    for t in m.weights().expect("a GPU model").separate_tensors() {
        let name = t.name.as_str();
        let parts = binding_parts(&t.dims, t.n_bytes, limit).unwrap();
        assert_eq!(parts, t.parts.len() as u64, "{what}: {name} parts under {limit}");
        let listed = r.split_tensors.iter().find(|s| s.name == name).map_or(1, |s| s.parts);
        assert_eq!(listed, parts, "{what}: {name}");
    }
    eprintln!("{what}: {} split tensors under {limit} bytes, KV {} bytes at {n_ctx}: as allocated", r.split_tensors.len(), r.kv_bytes);
}

#[test]
fn runtime_allocates_what_inspect_predicts() {
    let ctx = gpu(&DeviceOptions { force_f32: true, ..Default::default() });
    check_against_runtime(&tiny("tiny-llama-q4_0"), ctx, 100);
    // Gemma 3: sliding-window rings, and token_embd.weight split under a 32 MiB binding.
    let path = real_model(GEMMA3);
    let ctx = gpu(&DeviceOptions { max_binding_size: Some(32 << 20), ..Default::default() });
    check_against_runtime(&path, ctx, 1024);
}

#[test]
fn cli_info_json_is_the_report() {
    let path = tiny("tiny-qwen2-q4_k_m");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tabllm"))
        .args(["info", "--model", path.to_str().unwrap(), "--context", "128", "--max-binding-size", "65536", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = report(&path, &InspectOptions { max_storage_buffer_binding_size: Some(65536), ..at_context(128) });
    assert_eq!(got, serde_json::to_value(&want).unwrap());
    assert_eq!(got["fits"], "fits");
    // Options as the page sends them; a misspelt limit is an error.
    let opts: InspectOptions = serde_json::from_str(r#"{"context": 128, "max_storage_buffer_binding_size": 65536}"#).unwrap();
    assert_eq!(opts, InspectOptions { max_storage_buffer_binding_size: Some(65536), ..at_context(128) });
    let e = serde_json::from_str::<InspectOptions>(r#"{"max_binding_size": 65536}"#).unwrap_err();
    assert!(e.to_string().contains("unknown field `max_binding_size`"), "{e}");
}
