//! tabllm's CPU kernels, their checks and benchmark, compiled from the main
//! crate's sources (see Cargo.toml for why). On wasm32 the module exports
//! `check() -> u32` (failed cases), `bench(all: u32)`, `bench_model()` and
//! `bench_attention()`, and imports
//! `host.log_line(ptr, len)` (one UTF-8 line) and `host.now() -> f64` (seconds);
//! `run.mjs` provides them.

/// The kernels alone (src/cpu/mod.rs also holds the CPU forward pass, which
/// needs the whole crate). A file, not an inline `mod cpu { #[path] … }`:
/// an inline module's path goes through `src/cpu/..`, which the OS resolves
/// only if that (untracked, empty) directory exists, so a fresh checkout
/// failed to build.
pub mod cpu;
#[path = "../../../src/quant/mod.rs"]
pub mod quant;
#[path = "../../../src/sampler/mod.rs"]
pub mod sampler;

use cpu::matmul::check;

/// Runs every check, emitting one line per failure and a summary; returns
/// the number of failures.
pub fn run_checks(emit: &mut dyn FnMut(String)) -> u32 {
    let cases = check::cases();
    let mut failed = 0;
    for c in &cases {
        if let Err(e) = check::run_case(c) {
            emit(format!("FAIL {e}"));
            failed += 1;
        }
    }
    if let Err(e) = check::error_cases() {
        emit(format!("FAIL error cases: {e}"));
        failed += 1;
    }
    if let Err(e) = check::extreme_cases() {
        emit(format!("FAIL extreme cases: {e}"));
        failed += 1;
    }
    emit(format!(
        "cpu matmul checks ({} path): {} cases + error cases + extreme cases, {failed} failed",
        cpu::matmul::simd::PATH,
        cases.len()
    ));
    failed + run_attention_checks(emit)
}

/// The attention checks (src/cpu/attention/check.rs): every case against
/// the f64 reference, the f16 store and the rejected requests.
fn run_attention_checks(emit: &mut dyn FnMut(String)) -> u32 {
    use cpu::attention::check;
    let cases = check::cases();
    let mut failed = 0;
    for c in &cases {
        if let Err(e) = check::run_case(c) {
            emit(format!("FAIL {e}"));
            failed += 1;
        }
    }
    for (what, r) in [("f16 store", check::store_cases()), ("error cases", check::error_cases()), ("SiLU", check::silu_cases())] {
        if let Err(e) = r {
            emit(format!("FAIL {what}: {e}"));
            failed += 1;
        }
    }
    emit(format!(
        "cpu attention checks ({} path): {} cases (largest error {:.2e}, tolerance {:.0e}) + f16 store + error cases + SiLU, {failed} failed",
        cpu::attention::simd::PATH,
        cases.len(),
        check::max_error(),
        check::TOLERANCE
    ));
    failed
}

/// The benchmark's (types, shapes): [`check::BENCH_TYPES`] at
/// [`check::BENCH_SHAPES`], or every supported type at 1536 × 576 (`all`).
pub fn bench_set(all: bool) -> (&'static [quant::GgmlType], &'static [(usize, usize)]) {
    if all {
        (&quant::SUPPORTED, &[(1536, 576)])
    } else {
        (&check::BENCH_TYPES, &check::BENCH_SHAPES)
    }
}

#[cfg(target_arch = "wasm32")]
mod exports {
    // Module "host", not "env": `log` in "env" would clash with libm's.
    #[link(wasm_import_module = "host")]
    extern "C" {
        fn log_line(ptr: *const u8, len: usize);
        fn now() -> f64;
    }

    fn emit(s: String) {
        // SAFETY: the host reads `len` bytes at `ptr` before we return.
        unsafe { log_line(s.as_ptr(), s.len()) }
    }

    fn hook() {
        std::panic::set_hook(Box::new(|info| emit(format!("panic: {info}"))));
    }

    #[no_mangle]
    pub extern "C" fn check() -> u32 {
        hook();
        super::run_checks(&mut emit)
    }

    #[no_mangle]
    pub extern "C" fn bench_attention() {
        hook();
        // SAFETY: a plain host function without arguments.
        crate::cpu::attention::check::bench(&|| unsafe { now() }, &mut emit);
    }

    #[no_mangle]
    pub extern "C" fn bench_model() {
        hook();
        // SAFETY: a plain host function without arguments.
        super::check::bench_smollm2(&|| unsafe { now() }, &mut emit);
    }

    /// `all == 0`: the SmolLM2/Gemma formats at SmolLM2's shapes; otherwise
    /// every supported format at one shape.
    #[no_mangle]
    pub extern "C" fn bench(all: u32) {
        hook();
        let (types, shapes) = super::bench_set(all != 0);
        // SAFETY: a plain host function without arguments.
        super::check::bench(types, shapes, &|| unsafe { now() }, "", &mut emit);
    }
}
