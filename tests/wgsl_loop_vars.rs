//! A lint over every shader in `shaders/`: a `var` declared inside a loop body
//! has an initializer, or its line says `set before read`.
//!
//! Why: WGSL zeroes a `var` without initializer each time its declaration
//! runs, but Chromium's shader compiler (Tint, seen on SwiftShader) zeroed
//! one declared in a loop only once, at the function's start. A kernel that
//! relied on the zeroing then summed into the previous iteration's values:
//! `attention_position_lanes.wgsl` gave wrong tokens in the browser while
//! naga's native build was right, and only `tests/browser/package.mjs` saw
//! it. Explicit initializers (`var s = 0.0;`) are stored on every iteration
//! there. A declaration without one is accepted only where the author states
//! that every element is written before it is read, on the declaring line.

use std::path::{Path, PathBuf};

/// The note that accepts a loop-scoped `var` without initializer.
const NOTE: &str = "set before read";

/// `(line, declaration)` of each `var` without initializer, declared inside a
/// loop body (`for`, `while`, `loop`, and the blocks nested in them), whose
/// line lacks [`NOTE`]. A rough scanner, enough for this project's WGSL:
/// comments (`//` and `/* */`) and preprocessor lines (`#ifdef`, `#include`)
/// are skipped, `var<function>` is a local like `var`, and `var`s in a `for`
/// header (inside its parentheses) are not in the body.
fn loop_vars_without_initializer(src: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // Per open brace: whether the block is a loop body or inside one.
    let mut blocks: Vec<bool> = Vec::new();
    let mut parens = 0usize;
    let mut loop_pending = false;
    // An open `var` statement: its line, its text so far, whether the line had the note.
    let mut open: Option<(usize, String, bool)> = None;
    let mut in_block_comment = false;
    for (i, raw) in src.lines().enumerate() {
        if raw.trim_start().starts_with('#') {
            continue;
        }
        let noted = raw.contains(NOTE);
        let chars: Vec<char> = raw.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            let next_is = |ch: char| chars.get(k + 1) == Some(&ch);
            if in_block_comment {
                if c == '*' && next_is('/') {
                    in_block_comment = false;
                    k += 1;
                }
                k += 1;
                continue;
            }
            if c == '/' && next_is('*') {
                in_block_comment = true;
                k += 2;
                continue;
            }
            if c == '/' && next_is('/') {
                break;
            }
            if let Some((_, text, _)) = open.as_mut() {
                if c == ';' {
                    let (line, text, noted) = open.take().unwrap();
                    if !text.contains('=') && !noted {
                        found.push((line, format!("var{}", text.trim_end())));
                    }
                } else {
                    text.push(c);
                }
                k += 1;
                continue;
            }
            if c.is_alphanumeric() || c == '_' {
                let start = k;
                while k < chars.len() && (chars[k].is_alphanumeric() || chars[k] == '_') {
                    k += 1;
                }
                let word: String = chars[start..k].iter().collect();
                let rest: String = chars[k..].iter().collect::<String>().split_whitespace().collect();
                // A local: `var x` or `var<function> x` (the other address spaces are module scope).
                let local = !rest.starts_with('<') || rest.starts_with("<function>");
                match word.as_str() {
                    "for" | "while" | "loop" => loop_pending = true,
                    "var" if local && parens == 0 && blocks.last() == Some(&true) => {
                        open = Some((i + 1, String::new(), noted));
                    }
                    _ => {}
                }
                continue;
            }
            match c {
                '(' => parens += 1,
                ')' => parens = parens.saturating_sub(1),
                '{' => {
                    let inside = blocks.last().copied().unwrap_or(false);
                    blocks.push(inside || loop_pending);
                    loop_pending = false;
                }
                '}' => {
                    blocks.pop();
                }
                _ => {}
            }
            k += 1;
        }
    }
    found
}

fn wgsl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            wgsl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "wgsl") {
            out.push(path);
        }
    }
}

#[test]
fn every_loop_scoped_var_is_initialized_or_noted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files = Vec::new();
    wgsl_files(&root, &mut files);
    files.sort();
    assert!(files.len() >= 20, "found only {} shaders under {}", files.len(), root.display());
    let mut bad = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        for (line, decl) in loop_vars_without_initializer(&src) {
            bad.push(format!("{}:{line}: `{decl};`", f.strip_prefix(&root).unwrap().display()));
        }
    }
    assert!(
        bad.is_empty(),
        "a var declared in a loop without initializer (Chromium zeroes it once, not per iteration): give it one, or write \
         every element before reading it and say `{NOTE}` on its line:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_lint_flags_what_it_should_and_only_that() {
    let src = "
var<workgroup> shared_row: array<f32, 64>;
fn f(n: u32) -> f32 {
    var outside: array<f32, 4>;
    var total = 0.0;
    for (var i = 0u; i < n; i++) {
        var bad: array<f32, 4>;
        var scalar: f32;
        var fine = array<f32, 4>();
        var noted: array<f32, 4>; // set before read: the loop below writes all four
        if (i > 2u) {
            var nested: vec4<f32>;
        }
        total += bad[0] + fine[0] + noted[0] + scalar;
    }
    loop {
        var in_loop: u32;
        /* a comment with a } inside */
        var after_comment: u32;
        var<function> explicit: f32;
        continuing {
            var in_continuing: u32;
        }
    }
    while (total < 1.0) {
        var in_while: u32;
        var<function> fine_too: f32 = 1.0;
        total += 1.0;
    }
    return total + outside[0];
}
";
    let found: Vec<String> = loop_vars_without_initializer(src).into_iter().map(|(l, d)| format!("{l} {d}")).collect();
    assert_eq!(
        found,
        [
            "7 var bad: array<f32, 4>",
            "8 var scalar: f32",
            "12 var nested: vec4<f32>",
            "17 var in_loop: u32",
            "19 var after_comment: u32",
            "20 var<function> explicit: f32",
            "22 var in_continuing: u32",
            "26 var in_while: u32",
        ]
    );
}
