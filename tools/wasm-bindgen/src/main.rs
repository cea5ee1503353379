//! `wasm-bindgen` for tabllm: the subset of the upstream CLI that
//! `scripts/build-web.sh` uses, on top of `wasm-bindgen-cli-support`.
//!
//! Usage: `wasm-bindgen --target web --out-dir DIR [--out-name NAME] INPUT.wasm`
//!        `wasm-bindgen --version`
//! Settings follow the upstream CLI's defaults (`wasm-bindgen-cli`
//! `src/wasm_bindgen.rs`, `rmain`): TypeScript declarations emitted, symbol
//! names demangled, the default module path kept, reference types inferred
//! from the module's features.

use std::path::PathBuf;
use std::process::ExitCode;

/// Same as the crate we depend on (pinned with `=` in Cargo.toml).
const VERSION: &str = "0.2.130";

struct Args {
    input: PathBuf,
    out_dir: PathBuf,
    out_name: Option<String>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let (mut input, mut out_dir, mut out_name, mut target) = (None, None, None, None);
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--version" | "-V" => return Ok(None),
            "--target" => target = Some(value("--target")?),
            "--out-dir" => out_dir = Some(PathBuf::from(value("--out-dir")?)),
            "--out-name" => out_name = Some(value("--out-name")?),
            flag if flag.starts_with('-') => {
                return Err(format!("unsupported option {flag} (this build supports --target web, --out-dir, --out-name, --version)"))
            }
            path if input.is_none() => input = Some(PathBuf::from(path)),
            extra => return Err(format!("unexpected argument {extra}")),
        }
    }
    match target.as_deref() {
        Some("web") => {}
        Some(other) => return Err(format!("unsupported --target {other} (only web)")),
        None => return Err("--target web is required".into()),
    }
    Ok(Some(Args {
        input: input.ok_or("missing the input .wasm file")?,
        out_dir: out_dir.ok_or("--out-dir is required")?,
        out_name,
    }))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("wasm-bindgen {VERSION}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("wasm-bindgen: {e}");
            return ExitCode::from(2);
        }
    };
    let result = (|| {
        let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
        // Every setting the upstream CLI passes explicitly, at its default
        // value: `Bindgen::new()`'s own defaults differ (it omits the default
        // module path, so `init()` without arguments would not find the .wasm).
        bindgen
            .web(true)?
            .input_path(&args.input)
            .debug(false)
            .demangle(true)
            .keep_lld_exports(false)
            .keep_debug(false)
            .remove_name_section(false)
            .remove_producers_section(false)
            .typescript(true)
            .omit_imports(false)
            .omit_default_module_path(false)
            .split_linked_modules(false);
        if let Some(name) = &args.out_name {
            bindgen.out_name(name);
        }
        bindgen.generate(&args.out_dir)
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasm-bindgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
