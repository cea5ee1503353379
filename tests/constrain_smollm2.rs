//! Structured output on SmolLM2: generation under a JSON schema (or "any JSON
//! object") returns text that parses and validates against the schema, at
//! temperature 0 and sampled; the validator is Python's `jsonschema`, not
//! our code. A schema keyword the constraint cannot enforce is refused by
//! name before any token. Also without the GPU: random walks through the
//! grammar's masks over the real vocabulary always end in valid JSON.

mod common;
use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tabllm::constrain::{Constraint, ConstraintError, ResponseFormat};
use tabllm::engine::{load_engine, Engine, EngineError, FinishReason, GenerateParams};
use tabllm::gpu::{DeviceOptions, GpuContext};
use tabllm::model::LoadOptions;
use tabllm::sampler::{Rng, SamplerConfig};
use tabllm::chat::ChatMessage;
use tabllm::tokenizer::Tokenizer;

fn engine() -> Engine {
    let ctx = Arc::new(GpuContext::new_blocking(&DeviceOptions::default()).expect("GPU adapter (install mesa-vulkan-drivers)"));
    let path = model_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    load_engine(ctx, &path, LoadOptions { n_ctx: Some(256), max_batch: 64, ..Default::default() }, 1 << 20, &mut |_| {}).unwrap()
}

fn tokenizer() -> Tokenizer {
    let header = tabllm::gguf::read_header_from_path(model_path("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    Tokenizer::from_metadata(&header.metadata).unwrap()
}

/// Validates each (schema, text) with Python's jsonschema (Draft 2020-12);
/// the error names the case that fails.
fn validate_with_python(cases: &[(String, Value, String)]) {
    let input = json!(cases.iter().map(|(name, schema, text)| json!({"name": name, "schema": schema, "text": text})).collect::<Vec<_>>());
    let script = r#"
import json, sys, jsonschema
bad = []
for c in json.load(sys.stdin):
    try:
        v = jsonschema.Draft202012Validator(c["schema"], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        v.validate(json.loads(c["text"]))
    except Exception as e:
        bad.append(f'{c["name"]}: {c["text"]!r}: {type(e).__name__}: {str(e).splitlines()[0]}')
print("\n".join(bad))
sys.exit(1 if bad else 0)
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (with the jsonschema package) validates the output");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "outputs that do not validate:\n{}", String::from_utf8_lossy(&out.stdout));
}

fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "role": {"enum": ["student", "teacher", "engineer"]},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3}
        },
        "required": ["name", "age", "role"],
        "additionalProperties": false
    })
}

fn prompt(e: &Engine) -> Vec<u32> {
    let m = [ChatMessage::new("user", "Describe a person as JSON with a name, an age, a role and some tags.")];
    e.encode_chat(&m).unwrap()
}

fn params(temperature: f32, seed: u64, constraint: Option<Constraint>) -> GenerateParams {
    GenerateParams {
        max_tokens: 80,
        sampler: SamplerConfig { temperature, seed, ..SamplerConfig::default() },
        constraint,
        ..GenerateParams::default()
    }
}

#[test]
fn schema_output_parses_and_validates_greedy_and_sampled() {
    let mut e = engine();
    let ids = prompt(&e);
    let schema = person_schema();
    let c = Constraint::from_json_schema(&schema).unwrap();
    let mut cases = Vec::new();
    for (t, seed) in [(0.0, 0), (0.8, 1), (0.8, 2), (0.8, 3), (1.5, 4)] {
        let g = pollster::block_on(e.generate(&ids, &params(t, seed, Some(c.clone())), &mut |_| true)).unwrap();
        assert_eq!(g.finish_reason, FinishReason::Stop, "temperature {t} seed {seed}: the grammar completes within 80 tokens: {:?}", g.text);
        assert!(!g.ids.iter().any(|&i| e.tokenizer.is_eog(i)), "complete at the closing brace, without an end token: {:?}", g.ids);
        cases.push((format!("temperature {t} seed {seed}"), schema.clone(), g.text));
    }
    eprintln!("{:#?}", cases.iter().map(|c| &c.2).collect::<Vec<_>>());
    validate_with_python(&cases);

    // json_object: any object.
    let obj = ResponseFormat::from_value(&json!({"type": "json_object"})).unwrap().constraint();
    let g = pollster::block_on(e.generate(&ids, &GenerateParams { max_tokens: 120, ..params(0.0, 0, obj) }, &mut |_| true)).unwrap();
    if g.finish_reason == FinishReason::Stop {
        validate_with_python(&[("json_object".into(), json!({"type": "object"}), g.text)]);
    } else {
        // At the token budget the object may be unfinished, but it is an object's beginning.
        assert!(g.text.starts_with('{'), "{:?}", g.text);
    }
}

/// The same seed without a constraint and with `{"type": "text"}` is the
/// same generation: text format changes nothing.
#[test]
fn text_format_is_unconstrained() {
    let mut e = engine();
    let ids = prompt(&e);
    let text = ResponseFormat::from_value(&json!({"type": "text"})).unwrap().constraint();
    assert!(text.is_none());
    let a = pollster::block_on(e.generate(&ids, &params(0.8, 5, None), &mut |_| true)).unwrap();
    let b = pollster::block_on(e.generate(&ids, &params(0.8, 5, text), &mut |_| true)).unwrap();
    assert_eq!(a.ids, b.ids);
}

#[test]
fn max_tokens_and_stop_strings_end_a_constrained_generation() {
    let mut e = engine();
    let ids = prompt(&e);
    let c = Constraint::from_json_schema(&person_schema()).unwrap();
    let g = pollster::block_on(e.generate(&ids, &GenerateParams { max_tokens: 5, ..params(0.0, 0, Some(c.clone())) }, &mut |_| true)).unwrap();
    assert_eq!((g.finish_reason, g.ids.len()), (FinishReason::Length, 5), "{:?}", g.text);
    assert!(g.text.starts_with("{\""), "{:?}", g.text);
    let g = pollster::block_on(e.generate(&ids, &GenerateParams { stop: vec!["age".into()], ..params(0.0, 0, Some(c)) }, &mut |_| true)).unwrap();
    assert_eq!(g.finish_reason, FinishReason::Stop);
    assert!(!g.text.contains("age") && g.text.starts_with("{\""), "cut before the stop string: {:?}", g.text);
}

#[test]
fn unenforceable_schemas_are_refused_by_name_before_any_token() {
    let rf = json!({"type": "json_schema", "json_schema": {"name": "p", "schema":
        {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": true}}}}});
    match ResponseFormat::from_value(&rf) {
        Err(ConstraintError::UnsupportedKeyword { field, keyword, pointer }) => {
            assert_eq!(field, "response_format.json_schema.schema");
            assert_eq!(keyword, "uniqueItems");
            assert_eq!(pointer, "/properties/tags/uniqueItems");
        }
        r => panic!("{r:?}"),
    }
    // A format llguidance does not know: refused when the request is read,
    // naming the keyword and its place (it named neither).
    match Constraint::from_json_schema(&json!({"type": "object", "properties": {"homepage": {"type": "string", "format": "uri-reference"}}})) {
        Err(e @ ConstraintError::KeywordRefused { .. }) => {
            let ConstraintError::KeywordRefused { keyword, pointer, reason, .. } = &e else { unreachable!() };
            assert_eq!((keyword.as_str(), pointer.as_str()), ("format", "/properties/homepage/format"));
            assert!(reason.contains("uri-reference"), "{e}");
        }
        r => panic!("{r:?}"),
    }
    // What llguidance refuses only with the vocabulary (a Lark grammar)
    // is still refused before prefill.
    let mut e = engine();
    let ids = prompt(&e);
    let c = Constraint::from_lark("start: nothere");
    match pollster::block_on(e.generate(&ids, &params(0.0, 0, Some(c)), &mut |_| panic!("no text before the refusal"))) {
        Err(EngineError::Constraint(ConstraintError::Schema(m))) => assert!(m.contains("nothere"), "{m}"),
        r => panic!("{:?}", r.map(|g| g.text)),
    }
}

/// Each kind of keyword value llguidance refuses is named with its place:
/// an unknown format, a oneOf whose branches overlap, minProperties over
/// optional properties, a bad value inside a `$defs` entry a `$ref` reaches.
#[test]
fn refused_keyword_values_name_the_keyword_and_its_pointer() {
    let refused = |schema: serde_json::Value| match Constraint::from_json_schema(&schema) {
        Err(ConstraintError::KeywordRefused { keyword, pointer, .. }) => (keyword, pointer),
        r => panic!("{schema}: {r:?}"),
    };
    let cases = [
        (json!({"type": "string", "format": "uri-reference"}), "format", "/format"),
        (json!({"type": "object", "properties": {"a": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}}}}), "oneOf", "/properties/a/items/oneOf"),
        (json!({"type": "object", "properties": {"x": {"type": "integer"}}, "minProperties": 1}), "minProperties", "/minProperties"),
        (json!({"$defs": {"Url": {"type": "string", "format": "iri"}}, "type": "object", "properties": {"u": {"$ref": "#/$defs/Url"}}}), "format", "/$defs/Url/format"),
        (json!({"anyOf": [{"type": "null"}, {"type": "string", "format": "uri-template"}]}), "format", "/anyOf/1/format"),
    ];
    for (schema, keyword, pointer) in cases {
        assert_eq!(refused(schema.clone()), (keyword.to_string(), pointer.to_string()), "{schema}");
    }
    // A schema llguidance takes is not refused, and the known formats pass.
    for format in ["date-time", "date", "time", "email", "uuid", "uri", "ipv4"] {
        Constraint::from_json_schema(&json!({"type": "string", "format": format})).unwrap_or_else(|e| panic!("{format}: {e}"));
    }
}

/// Without the model: from the start, pick uniformly among the tokens the
/// mask allows (the real SmolLM2 vocabulary) until the grammar completes.
/// Whatever path the walk takes, the bytes validate.
#[test]
fn random_walks_through_the_mask_validate() {
    let tok = tokenizer();
    let vocab = Arc::new(tabllm::constrain::ConstraintVocab::new(&tok).unwrap());
    // Most enforced keywords: local $ref, anyOf / oneOf / allOf, const,
    // pattern, format, integer bounds and multipleOf, prefixItems, item counts.
    let keywords = json!({
        "$defs": {"tag": {"type": "string", "pattern": "^[a-z]{1,5}$"}},
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 1, "maxItems": 3},
            "id": {"anyOf": [{"type": "null"}, {"type": "integer", "exclusiveMinimum": 5, "maximum": 500, "multipleOf": 5}]},
            "kind": {"oneOf": [{"const": "a"}, {"const": "b"}]},
            "when": {"type": "string", "format": "date"},
            "pair": {"type": "array", "prefixItems": [{"type": "boolean"}, {"enum": [1, "x", null]}], "items": false, "minItems": 2},
            "both": {"allOf": [{"type": "integer", "minimum": -3}, {"maximum": 3}]}
        },
        "required": ["tags", "id", "kind", "when", "pair", "both"],
        "additionalProperties": false
    });
    let mut rng = Rng::new(7);
    let mut cases = Vec::new();
    let mut logits = vec![0.0f32; tok.vocab_size()];
    for walk in 0..30 {
        let schema = if walk % 2 == 0 { person_schema() } else { keywords.clone() };
        let c = Constraint::from_json_schema(&schema).unwrap();
        let mut s = tabllm::constrain::ConstraintState::new(vocab.clone(), &c).unwrap();
        let mut bytes = Vec::new();
        let mut ended = false;
        for _ in 0..400 {
            logits.fill(0.0);
            s.mask_logits(&mut logits).unwrap();
            let allowed: Vec<u32> = (0..logits.len() as u32).filter(|&i| logits[i as usize] == 0.0).collect();
            assert!(!allowed.is_empty(), "walk {walk}: a mask with no token after {:?}", String::from_utf8_lossy(&bytes));
            let id = allowed[rng.below(allowed.len() as u64) as usize];
            if tok.is_eog(id) {
                // Allowed only where the grammar accepts.
                ended = true;
                break;
            }
            s.commit(id).unwrap();
            bytes.extend_from_slice(tok.token_bytes(id));
            if s.is_complete() {
                break;
            }
        }
        assert!(ended || s.is_complete(), "walk {walk} did not finish in 400 tokens: {:?}", String::from_utf8_lossy(&bytes));
        cases.push((format!("walk {walk}"), schema.clone(), String::from_utf8(bytes).expect("UTF-8")));
    }
    validate_with_python(&cases);
}

/// Decode speed with and without a JSON schema in one run (ignored: a
/// measurement, not a check). Prints the figures and writes them to
/// bench-results/constrain-decode.json. Run with
/// `cargo test --test constrain_smollm2 -- --ignored --nocapture decode_speed`.
/// Each configuration decodes 64 tokens from the same prompt (the schema's
/// string has a minLength that keeps it going), alternated over `ROUNDS`
/// rounds; also the mask alone on the CPU, per token, from a random walk.
#[test]
#[ignore]
fn decode_speed_with_and_without_a_schema() {
    const ROUNDS: usize = 3;
    const TOKENS: u32 = 64;
    let mut e = engine();
    let ids = prompt(&e);
    let schema = json!({"type": "object", "properties": {"story": {"type": "string", "minLength": 1000}}, "required": ["story"]});
    let c = Constraint::from_json_schema(&schema).unwrap();
    let configs: Vec<(&str, GenerateParams)> = vec![
        ("greedy", GenerateParams { max_tokens: TOKENS, ..params(0.0, 0, None) }),
        ("greedy, logits read back (logprobs)", GenerateParams { max_tokens: TOKENS, logprobs: Some(0), ..params(0.0, 0, None) }),
        ("greedy + schema", GenerateParams { max_tokens: TOKENS, ..params(0.0, 0, Some(c.clone())) }),
        ("sampled 0.8", GenerateParams { max_tokens: TOKENS, ..params(0.8, 1, None) }),
        ("sampled 0.8 + schema", GenerateParams { max_tokens: TOKENS, ..params(0.8, 1, Some(c.clone())) }),
    ];
    // Warm-up (pipelines, the vocabulary trie).
    for (_, p) in &configs {
        pollster::block_on(e.generate(&ids, &GenerateParams { max_tokens: 4, ..p.clone() }, &mut |_| true)).unwrap();
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    for _ in 0..ROUNDS {
        for (i, (name, p)) in configs.iter().enumerate() {
            let g = pollster::block_on(e.generate(&ids, p, &mut |_| true)).unwrap();
            assert_eq!(g.ids.len() as u32, TOKENS, "{name}: {:?}", g.text);
            rates[i].push(g.decode_tok_s());
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;

    // The mask alone: compute + apply per token, on a random walk through the schema.
    let vocab = Arc::new(tabllm::constrain::ConstraintVocab::new(&e.tokenizer).unwrap());
    let mut s = tabllm::constrain::ConstraintState::new(vocab, &c).unwrap();
    let mut logits = vec![0.0f32; e.tokenizer.vocab_size()];
    let mut rng = Rng::new(3);
    let t = std::time::Instant::now();
    let steps = 200;
    for _ in 0..steps {
        logits.fill(0.0);
        s.mask_logits(&mut logits).unwrap();
        let allowed: Vec<u32> = (0..logits.len() as u32).filter(|&i| logits[i as usize] == 0.0 && !e.tokenizer.is_eog(i)).collect();
        s.commit(allowed[rng.below(allowed.len() as u64) as usize]).unwrap();
    }
    let mask_us = t.elapsed().as_secs_f64() * 1e6 / steps as f64;

    let rows: Vec<Value> = configs.iter().zip(&rates).map(|((name, _), r)| json!({"config": name, "decode_tok_s": r, "mean": mean(r)})).collect();
    for row in &rows {
        eprintln!("{:40} {:7.2} tok/s  {:?}", row["config"].as_str().unwrap(), row["mean"].as_f64().unwrap(), row["decode_tok_s"]);
    }
    let drop = |base: usize, with: usize| 100.0 * (1.0 - mean(&rates[with]) / mean(&rates[base]));
    let (greedy_drop, sampled_drop) = (drop(0, 2), drop(3, 4));
    eprintln!("schema costs {greedy_drop:.1} % greedy, {sampled_drop:.1} % sampled; mask (compute + apply, CPU) {mask_us:.0} µs per token");
    let out = json!({
        "model": "SmolLM2-135M-Instruct.Q4_1", "device": "native wgpu (lavapipe here)", "tokens": TOKENS, "rounds": ROUNDS,
        "schema": schema, "rows": rows, "drop_percent_greedy": greedy_drop, "drop_percent_sampled": sampled_drop, "mask_us_per_token": mask_us,
        "command": "cargo test --test constrain_smollm2 -- --ignored --nocapture decode_speed",
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("constrain-decode.json"), serde_json::to_string_pretty(&out).unwrap()).unwrap();
}

/// `Constraint::from_lark` (what `tool_choice` forcing builds on): random
/// walks over the real vocabulary end in a sentence of the grammar; a
/// syntax error is refused when compiled.
#[test]
fn lark_grammars_constrain_too() {
    let tok = tokenizer();
    let vocab = Arc::new(tabllm::constrain::ConstraintVocab::new(&tok).unwrap());
    let c = Constraint::from_lark(r#"start: "call " NAME "(" %json {"type": "integer", "minimum": 0, "maximum": 9} ")"
NAME: /[a-z]{1,6}/"#);
    let mut rng = Rng::new(11);
    let mut logits = vec![0.0f32; tok.vocab_size()];
    for walk in 0..10 {
        let mut s = tabllm::constrain::ConstraintState::new(vocab.clone(), &c).unwrap();
        let mut bytes = Vec::new();
        for _ in 0..100 {
            logits.fill(0.0);
            s.mask_logits(&mut logits).unwrap();
            let allowed: Vec<u32> = (0..logits.len() as u32).filter(|&i| logits[i as usize] == 0.0 && !tok.is_eog(i)).collect();
            if allowed.is_empty() {
                break;
            }
            let id = allowed[rng.below(allowed.len() as u64) as usize];
            s.commit(id).unwrap();
            bytes.extend_from_slice(tok.token_bytes(id));
            if s.is_complete() {
                break;
            }
        }
        let text = String::from_utf8(bytes).unwrap();
        let inner = text.strip_prefix("call ").and_then(|t| t.strip_suffix(')')).unwrap_or_else(|| panic!("walk {walk}: {text:?}"));
        let (name, arg) = inner.split_once('(').unwrap_or_else(|| panic!("walk {walk}: {text:?}"));
        assert!((1..=6).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase()), "walk {walk}: {text:?}");
        assert!(matches!(arg.parse::<i64>(), Ok(0..=9)), "walk {walk}: {text:?}");
    }
    assert!(matches!(
        tabllm::constrain::ConstraintState::new(vocab, &Constraint::from_lark("start: (")),
        Err(ConstraintError::Schema(_))
    ));
}
