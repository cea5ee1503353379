//! Split GGUF models (llama.cpp's gguf-split layout, written here by the
//! `gguf` package's own writer through scripts/split_gguf.py): the parts
//! streamed one after another, in any order, load as one model that matches
//! llama.cpp's reference, and parts missing or repeated are a typed error.

mod common;
use common::*;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::{LoadOptions, ModelError, ModelLoader};

/// SmolLM2 split into 3 parts of at most 100 tensors, made once per target
/// dir: written into a scratch folder and renamed, and made by one test while
/// the others wait, so no test reads a half-written part.
fn parts() -> Vec<PathBuf> {
    static PARTS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    PARTS
        .get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("split");
            let names: Vec<PathBuf> = (1..=3).map(|i| dir.join(format!("smol-{i:05}-of-00003.gguf"))).collect();
            if !dir.exists() {
                let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("split-{}", std::process::id()));
                std::fs::create_dir_all(&scratch).unwrap();
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/split_gguf.py");
                let st = std::process::Command::new("python3")
                    .args([script, model_path("SmolLM2-135M-Instruct.Q4_1.gguf").to_str().unwrap(), scratch.join("smol").to_str().unwrap(), "100"])
                    .status()
                    .expect("python3 with the gguf package (scripts/install-deps.sh installs it)");
                assert!(st.success(), "split_gguf.py failed");
                // Another test binary may have won the race; either copy is whole.
                if std::fs::rename(&scratch, &dir).is_err() {
                    let _ = std::fs::remove_dir_all(&scratch);
                }
            }
            assert!(names.iter().all(|p| p.exists()), "split parts missing in {}", dir.display());
            names
        })
        .clone()
}

fn push_file(loader: &mut ModelLoader, path: &PathBuf) -> Result<(), ModelError> {
    for chunk in std::fs::read(path).unwrap().chunks(1 << 20) {
        loader.push(chunk)?;
    }
    Ok(())
}

fn loader(ctx: &Arc<GpuContext>) -> ModelLoader {
    ModelLoader::new(ctx.clone(), LoadOptions { n_ctx: Some(256), max_batch: 64, ..Default::default() })
}

#[test]
fn split_parts_load_as_one_model_matching_llama_cpp() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let parts = parts();
    let mut l = loader(&ctx);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            l.next_part().unwrap();
        }
        push_file(&mut l, p).unwrap();
        assert_eq!(l.parts(), 3);
    }
    let p = l.progress();
    assert_eq!(p.bytes_total, Some(parts.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum()));
    let m = l.finish().unwrap();
    // The configuration is known only once every part's header is in, after
    // the buffers were allocated: the 30 layers' groups are packed by copies.
    assert_eq!(m.packed_groups(), (0, 60));
    let cases = reference::cases("smollm2-135m-instruct-q4_1.json");
    reference::check_model(&m, &cases[..2]);
}

/// Which file is which part comes from its `split.no`: the parts load in any
/// order (the metadata of part 1 arriving last); a part missing, repeated or
/// of another split is a typed error naming it.
#[test]
fn split_parts_load_in_any_order_and_missing_or_repeated_are_errors() {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).unwrap());
    let parts = parts();

    let mut l = loader(&ctx);
    for (i, p) in [&parts[2], &parts[1], &parts[0]].into_iter().enumerate() {
        if i > 0 {
            l.next_part().unwrap();
        }
        push_file(&mut l, p).unwrap();
        assert_eq!((l.parts(), l.part_no()), (3, Some(2 - i as u32)));
        // The metadata (tokenizer, template) is there once part 1 is.
        assert_eq!(l.header().is_some(), i == 2);
    }
    let m = l.finish().unwrap();
    reference::check_model(&m, &reference::cases("smollm2-135m-instruct-q4_1.json")[..1]);

    let err_of = |order: &[usize], finish: bool| -> ModelError {
        let mut l = loader(&ctx);
        for (i, &p) in order.iter().enumerate() {
            if i > 0 {
                if let Err(e) = l.next_part() {
                    return e;
                }
            }
            if let Err(e) = push_file(&mut l, &parts[p]) {
                return e;
            }
        }
        assert!(finish, "{order:?} loaded without an error");
        match l.finish() {
            Err(e) => e,
            Ok(_) => panic!("{order:?} loaded"),
        }
    };
    for (order, finish, want) in [
        (&[0, 1][..], true, "the model has 3 parts but 2 arrived (missing part 3)"),
        (&[2, 1], true, "the model has 3 parts but 2 arrived (missing part 1; part 1 holds the model's metadata)"),
        (&[0, 0], false, "part 1 of 3 arrived twice"),
    ] {
        let err = err_of(order, finish);
        assert!(matches!(&err, ModelError::Config(m) if m == want), "{order:?}: {err}");
    }

    let mut l = loader(&ctx);
    push_file(&mut l, &model_path("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let err = l.next_part().unwrap_err();
    assert!(matches!(&err, ModelError::Config(m) if m.contains("no more were expected")), "{err}");
    let mut l = loader(&ctx);
    push_file(&mut l, &parts[0]).unwrap();
    l.next_part().unwrap();
    let err = push_file(&mut l, &model_path("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap_err();
    assert!(matches!(&err, ModelError::Config(m) if m == "this file is part 1 of 1, but the model's first file given was one of 3 parts"), "{err}");
}

/// "Will it run" on a split model: the first part's path names the others
/// (`gguf::split_part_paths`), and their headers appended size the whole
/// model exactly as the unsplit file does (whose sizes `tests/inspect.rs`
/// checks against an independent reading); one part alone gets no verdict.
#[test]
fn inspect_sizes_every_part_of_a_split_model() {
    use tabllm::gguf::{read_header_from_path, split_part_paths};
    use tabllm::inspect::{append_split_part, inspect, Fit, InspectOptions};
    let parts = parts();
    let opts = InspectOptions { context: Some(2048), available_bytes: Some(1 << 30), ..Default::default() };
    let whole = inspect(&read_header_from_path(model_path("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap(), &opts);
    assert_eq!(split_part_paths(&parts[0]).unwrap(), parts);
    let err = split_part_paths(&parts[1]).unwrap_err();
    assert!(
        matches!(&err, tabllm::gguf::GgufError::NotFirstSplit { part: 2, count: 3, first: Some(f), .. } if *f == parts[0].display().to_string()),
        "only the first part names the others: {err}"
    );
    let mut h = read_header_from_path(&parts[0]).unwrap();
    for (i, p) in parts.iter().enumerate().skip(1) {
        append_split_part(&mut h, &read_header_from_path(p).unwrap(), i as u32).unwrap();
    }
    let r = inspect(&h, &opts);
    assert_eq!((r.weight_bytes, r.parameters, r.kv_bytes, r.split_count), (whole.weight_bytes, whole.parameters, whole.kv_bytes, 3));
    assert_eq!((r.fits, whole.fits), (Fit::Fits, Fit::Fits));
    for (i, p) in parts.iter().enumerate() {
        let alone = inspect(&read_header_from_path(p).unwrap(), &opts);
        assert_eq!(alone.fits, Fit::Unknown, "part {} alone: {}", i + 1, alone.reason);
        assert!(alone.weight_bytes < whole.weight_bytes && alone.reason.contains("split into 3 files"), "{}", alone.reason);
    }
    let mut h = read_header_from_path(&parts[0]).unwrap();
    let err = append_split_part(&mut h, &read_header_from_path(&parts[2]).unwrap(), 1).unwrap_err();
    assert_eq!(err, "expected part 2 of 3, got part 3 of 3");
}
