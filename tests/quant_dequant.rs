//! CPU dequantize against references made outside tabllm: llama.cpp's
//! `shared/reference/*.json` and the `gguf` Python package
//! (`scripts/dequant_reference.py`).

use std::path::{Path, PathBuf};

use half::f16;
use serde_json::Value;
use tabllm::gguf::{read_header_from_path, read_tensor_bytes};
use tabllm::quant::testing::random_tensor;
use tabllm::quant::{bytes_for, dequantize, is_supported, GgmlType, QuantError};

// First-64 values are compared exactly: decoding is the same f32 arithmetic
// as the reference. The JSON numbers are f32s written as f64 text; serde_json's
// parse can be one f64 ulp off, so they are rounded back to f32 first.
/// Whole-tensor sums differ only by f64 summation order.
const SUM_REL_TOL: f64 = 1e-6;

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// `shared/` sits beside the checkout; from a worktree in `wt/`, one level up.
fn shared_dir() -> PathBuf {
    let root = Path::new(MANIFEST);
    [root.join("../shared"), root.join("../../shared")]
        .into_iter()
        .find(|p| p.join("reference").is_dir())
        .unwrap_or_else(|| panic!("no shared/reference beside {MANIFEST}"))
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn type_by_name(name: &str) -> GgmlType {
    (0..64)
        .filter_map(GgmlType::from_id)
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unknown ggml type name {name}"))
}

/// What the references record about one tensor.
struct Summary {
    row0: Vec<f32>,
    row7: Vec<f32>,
    sum: f64,
    sum_sq: f64,
}

/// Dequantizes `bytes` row by row (rows of `ne0` weights), never holding the
/// whole f32 tensor (Gemma's embedding would be 670 MB).
fn summarize(ty: GgmlType, bytes: &[u8], ne0: usize) -> Summary {
    let row_bytes = bytes_for(ty, ne0).unwrap();
    assert_eq!(
        bytes.len() % row_bytes,
        0,
        "{ty}: bytes not a whole number of rows"
    );
    let mut row = vec![0.0f32; ne0];
    let mut s = Summary {
        row0: vec![],
        row7: vec![],
        sum: 0.0,
        sum_sq: 0.0,
    };
    for (r, chunk) in bytes.chunks_exact(row_bytes).enumerate() {
        dequantize(ty, chunk, &mut row).unwrap();
        match r {
            0 => s.row0 = row[..64.min(ne0)].to_vec(),
            7 => s.row7 = row[..64.min(ne0)].to_vec(),
            _ => {}
        }
        for &v in &row {
            s.sum += v as f64;
            s.sum_sq += v as f64 * v as f64;
        }
    }
    s
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Compares a [`Summary`] with a reference entry (`row0_first64`,
/// `row7_first64`, `sum`, `sum_sq`), naming `label` and the index on failure.
fn check(label: &str, got: &Summary, want: &Value) {
    for (key, row) in [("row0_first64", &got.row0), ("row7_first64", &got.row7)] {
        let expected = floats(&want[key]);
        assert_eq!(row.len(), expected.len(), "{label} {key}: length");
        for (i, (&g, &e)) in row.iter().zip(&expected).enumerate() {
            assert!(g == e as f32, "{label} {key}[{i}]: got {g}, want {e}");
        }
    }
    for (key, g) in [("sum", got.sum), ("sum_sq", got.sum_sq)] {
        let e = want[key].as_f64().expect("number");
        let rel = (g - e).abs() / e.abs().max(1e-12);
        assert!(
            rel <= SUM_REL_TOL,
            "{label} {key}: got {g}, want {e} (relative error {rel:e})"
        );
    }
}

/// Checks every `dequant[]` entry of a llama.cpp reference json against `model`.
fn check_model_reference(model: &Path, reference: &Value) -> Vec<GgmlType> {
    let header = read_header_from_path(model).unwrap();
    let mut seen = vec![];
    for want in reference["dequant"].as_array().expect("dequant[]") {
        let name = want["tensor"].as_str().unwrap();
        let (_, info) = header
            .tensor(name)
            .unwrap_or_else(|| panic!("{name} not in {}", model.display()));
        assert_eq!(
            info.ggml_type.name(),
            want["type"].as_str().unwrap(),
            "{name}: type"
        );
        let dims: Vec<u64> = floats(&want["shape_ggml"])
            .iter()
            .map(|&d| d as u64)
            .collect();
        assert_eq!(info.dims, dims, "{name}: shape");
        let bytes = read_tensor_bytes(model, name).unwrap();
        let got = summarize(info.ggml_type, &bytes, info.dims[0] as usize);
        check(
            &format!("{} {name} ({})", model.display(), info.ggml_type),
            &got,
            want,
        );
        seen.push(info.ggml_type);
    }
    seen
}

#[test]
fn smollm2_q8_0_and_q4_1_match_llama_cpp_reference() {
    let model = Path::new(MANIFEST).join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        model.exists(),
        "{} is missing: run scripts/fetch-models.sh (the test command does)",
        model.display()
    );
    let reference = load_json(&shared_dir().join("reference/smollm2-135m-instruct-q4_1.json"));
    let seen = check_model_reference(&model, &reference);
    assert_eq!(seen, [GgmlType::Q8_0, GgmlType::Q4_1]);
}

#[test]
fn gemma3_matches_llama_cpp_reference() {
    let model = Path::new(MANIFEST).join("models/gemma-3-270m-q4_k_m.gguf");
    assert!(
        model.exists(),
        "{} is missing: run scripts/fetch-models.sh (the test command does)",
        model.display()
    );
    let reference = load_json(&shared_dir().join("reference/gemma-3-270m-q4_k_m.json"));
    let seen = check_model_reference(&model, &reference);
    assert!(
        seen.contains(&GgmlType::Q5_0) && seen.contains(&GgmlType::Q6K),
        "{seen:?}"
    );
}

/// The output of `scripts/dequant_reference.py`; never skipped when missing.
fn gguf_package_reference() -> Value {
    let path = std::env::var_os("TABLLM_DEQUANT_REF")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST).join("target/dequant_reference.json"));
    if !path.exists() {
        panic!(
            "{} is missing: run `python3 scripts/dequant_reference.py {}` first \
             (scripts/test.sh does; needs `pip install gguf==0.19.0`), or point TABLLM_DEQUANT_REF at its output",
            path.display(),
            path.display()
        );
    }
    load_json(&path)
}

#[test]
fn tiny_models_match_gguf_package() {
    let reference = gguf_package_reference();
    let tiny = shared_dir().join("reference/tiny");
    let mut seen = vec![];
    for want in reference["dequant"].as_array().expect("dequant[]") {
        let (file, name) = (
            want["file"].as_str().unwrap(),
            want["tensor"].as_str().unwrap(),
        );
        let path = tiny.join(file);
        let header = read_header_from_path(&path).unwrap();
        let (_, info) = header
            .tensor(name)
            .unwrap_or_else(|| panic!("{name} not in {file}"));
        let ty = type_by_name(want["type"].as_str().unwrap());
        assert_eq!(info.ggml_type, ty, "{file} {name}: type");
        let bytes = read_tensor_bytes(&path, name).unwrap();
        let got = summarize(ty, &bytes, info.dims[0] as usize);
        check(&format!("{file} {name} ({ty})"), &got, want);
        seen.push(ty);
    }
    use GgmlType::*;
    for ty in [F32, BF16, Q4_0, Q5_1, Q2K, Q3K, Q4K, Q5K, Q6K, IQ4NL, IQ4XS] {
        assert!(
            seen.contains(&ty),
            "reference json has no {ty} tensor: regenerate it"
        );
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Blocks quantized by the `gguf` package itself (covers Q5_0, absent from the
/// tiny files): every value must match exactly.
#[test]
fn gguf_package_blocks_match_exactly() {
    let reference = gguf_package_reference();
    let entries = reference["synthetic"].as_array().expect("synthetic[]");
    assert!(
        entries.iter().any(|e| e["type"] == "Q5_0"),
        "synthetic[] lacks Q5_0"
    );
    for e in entries {
        let ty = type_by_name(e["type"].as_str().unwrap());
        let bytes = hex_bytes(e["bytes_hex"].as_str().unwrap());
        let want = floats(&e["values"]);
        let mut got = vec![0.0f32; e["n_elems"].as_u64().unwrap() as usize];
        dequantize(ty, &bytes, &mut got).unwrap();
        // The values are f32s; serde_json's float parsing can be an f64 ulp
        // off, which rounding back to f32 removes.
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                (w as f32).to_bits(),
                "{ty}[{i}]: got {g}, want {w}"
            );
        }
    }
}

#[test]
fn f16_decodes_exactly() {
    // (bits, value): one, negative, smallest subnormal, largest normal, 1/3
    // rounded, signed zero, smallest normal.
    let cases: [(u16, f32); 8] = [
        (0x3C00, 1.0),
        (0xC000, -2.0),
        (0x0001, 5.960_464_5e-8),
        (0x7BFF, 65504.0),
        (0x3555, 0.333_251_95),
        (0x8000, -0.0),
        (0x0400, 6.103_515_6e-5),
        (0x2E66, 0.099_975_586),
    ];
    let mut bytes: Vec<u8> = cases.iter().flat_map(|(b, _)| b.to_le_bytes()).collect();
    // Plus 248 values exactly representable in f16: k / 64 for k in −124..124.
    let exact: Vec<f32> = (-124..124).map(|k| k as f32 / 64.0).collect();
    bytes.extend(exact.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()));
    let mut out = vec![0.0f32; 256];
    dequantize(GgmlType::F16, &bytes, &mut out).unwrap();
    for (i, &(bits, want)) in cases.iter().enumerate() {
        assert_eq!(
            out[i].to_bits(),
            want.to_bits(),
            "f16 {bits:#06x}: got {}, want {want}",
            out[i]
        );
    }
    assert_eq!(&out[8..], &exact[..]);
}

/// Every supported type: seeded random blocks decode to finite, moderate
/// values, deterministically in the seed.
#[test]
fn random_tensor_round_trip_is_finite() {
    let types = (0..64)
        .filter_map(GgmlType::from_id)
        .filter(|&t| is_supported(t));
    let mut count = 0;
    for ty in types {
        let n = 4 * 256;
        let bytes = random_tensor(ty, n, 42);
        assert_eq!(bytes.len(), bytes_for(ty, n).unwrap(), "{ty}: byte length");
        assert_eq!(
            bytes,
            random_tensor(ty, n, 42),
            "{ty}: same seed, same bytes"
        );
        assert_ne!(bytes, random_tensor(ty, n, 43), "{ty}: new seed, new bytes");
        let mut out = vec![0.0f32; n];
        dequantize(ty, &bytes, &mut out).unwrap();
        for (i, &v) in out.iter().enumerate() {
            assert!(v.is_finite() && v.abs() < 4.0, "{ty}[{i}] = {v}");
        }
        assert!(out.iter().any(|&v| v != 0.0), "{ty}: all zero");
        count += 1;
    }
    assert_eq!(count, 15);
}

#[test]
fn errors_carry_their_data() {
    let mut out = [0.0f32; 32];
    assert_eq!(
        dequantize(GgmlType::Q8_1, &[0; 36], &mut out),
        Err(QuantError::Unsupported(GgmlType::Q8_1))
    );
    assert_eq!(
        dequantize(GgmlType::Q4_0, &[0; 17], &mut out),
        Err(QuantError::Length {
            expected: 18,
            got: 17
        })
    );
    assert_eq!(
        dequantize(GgmlType::Q4K, &[0; 144], &mut out),
        Err(QuantError::PartialBlock {
            ty: GgmlType::Q4K,
            n: 32
        })
    );
    assert!(dequantize(GgmlType::Q4_0, &[0; 18], &mut out).is_ok());
}
