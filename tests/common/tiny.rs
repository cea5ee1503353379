//! The tiny random-weight models in ../shared/reference/tiny/ against
//! llama.cpp run on the same weights dequantized to f32: every logit at the
//! last prompt position within the folder's stated tolerance, and the greedy
//! continuation exactly. Under every GPU kernel configuration
//! (`common::configs`) and on the CPU backend.

use super::{configs, shared};
use std::sync::Arc;
use tabllm::model::{self, Device, LoadOptions, Output};

/// ../shared/reference/README.md: "within 0.02 of logits_f32_activations".
pub const LOGIT_TOL: f32 = 0.02;

/// A tiny model of ../shared/reference/tiny/.
pub fn check_tiny(file: &str) {
    check_tiny_in(&shared("tiny"), file)
}

/// A tiny model of this repo's tests/reference/tiny/ (made by
/// scripts/reference/make_all.sh with llama.cpp).
pub fn check_tiny_repo(file: &str) {
    check_tiny_in(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/tiny"), file)
}

/// `dir/{file}.gguf` against `dir/{file}.json`.
pub fn check_tiny_in(dir: &std::path::Path, file: &str) {
    let json = dir.join(format!("{file}.json"));
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{}: {e}", json.display()))).unwrap();
    let gpu = configs().into_iter().map(|cfg| (cfg.label.to_string(), Device::Gpu(Arc::new(cfg.ctx)), cfg.fuse, cfg.prefill));
    // The CPU backend on one thread, and on three (the matmuls split across
    // them, the weights in the threads' own memory: tabllm::cpu::threads).
    let cpu = [None, Some(3)].map(|threads| {
        let t = threads.map(|n| Arc::new(tabllm::cpu::threads::NativeThreads::with_spin(n, 0).unwrap()) as Arc<dyn tabllm::cpu::CpuThreads>);
        (format!("cpu backend, {} thread(s)", threads.unwrap_or(1)), Device::Cpu, false, Default::default(), t)
    });
    let gpu = gpu.map(|(label, device, fuse, prefill)| (label, device, fuse, prefill, None));
    for (label, device, fuse, prefill, cpu_threads) in gpu.chain(cpu) {
        let what = format!("{file} {label}");
        // llama.cpp ran the references with a context of 256 (which picks
        // LongRoPE's long factors on the tiny Phi-3, whose original context is 128).
        let opts = LoadOptions { n_ctx: Some(256), max_batch: 16, fuse, prefill, cpu_threads };
        let (m, _) = model::load_path_on(device, &dir.join(format!("{file}.gguf")), opts, 4096).unwrap();
        for case in reference["cases"].as_array().unwrap() {
            let ids: Vec<u32> = serde_json::from_value(case["prompt_ids"].clone()).unwrap();
            let want_logits: Vec<f32> = serde_json::from_value(case["logits_f32_activations"].clone()).unwrap();
            let want_greedy: Vec<u32> = serde_json::from_value(case["greedy_ids_f32_activations"].clone()).unwrap();
            // Prefill in chunks smaller than the prompt when it is long enough, to cover chunking.
            let mut pos = 0u32;
            let chunks: Vec<&[u32]> = ids.chunks(5).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let out = if i + 1 == chunks.len() { Output::Logits } else { Output::None };
                let r = pollster::block_on(m.step(chunk, pos, out)).unwrap();
                pos += chunk.len() as u32;
                if i + 1 == chunks.len() {
                    let logits = r.logits.expect("a step with Output::Logits returns the logits");
                    let worst = logits.iter().zip(&want_logits).enumerate().map(|(i, (g, w))| (i, (g - w).abs())).fold((0, 0f32), |a, b| if b.1 > a.1 { b } else { a });
                    eprintln!("{what}: max |logit - reference| = {:.4} at id {}", worst.1, worst.0);
                    assert!(worst.1 <= LOGIT_TOL, "{what}: logit {} got {} want {} (tolerance {LOGIT_TOL})", worst.0, logits[worst.0], want_logits[worst.0]);
                }
            }
            // Greedy continuation, argmax on the GPU; re-prefill from scratch.
            let mut got = Vec::new();
            let mut tok = pollster::block_on(m.step(&ids, 0, Output::Argmax)).unwrap().token.unwrap();
            let mut pos = ids.len() as u32;
            while got.len() < want_greedy.len() {
                got.push(tok);
                tok = pollster::block_on(m.step(&[tok], pos, Output::Argmax)).unwrap().token.unwrap();
                pos += 1;
            }
            assert_eq!(got, want_greedy, "{what}: greedy ids for {:?}", case["prompt"]);
        }
    }
}
