//! Native runner:
//! `cargo run --release -p tabllm-cpu-kernel-check -- [check | bench [FILTER] | bench-all [FILTER] | bench-model | bench-attention]`.

use std::time::Instant;
use tabllm_cpu_kernel_check::{bench_set, cpu::matmul::check, run_checks};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str).unwrap_or("check") {
        "check" => {
            let failed = run_checks(&mut |l| println!("{l}"));
            std::process::exit(if failed == 0 { 0 } else { 1 });
        }
        cmd @ ("bench" | "bench-all") => {
            let start = Instant::now();
            let filter = args.get(1).map(String::as_str).unwrap_or("");
            let (types, shapes) = bench_set(cmd == "bench-all");
            let now = || start.elapsed().as_secs_f64();
            check::bench(types, shapes, &now, filter, &mut |l| println!("{l}"));
        }
        "bench-attention" => {
            let start = Instant::now();
            let now = || start.elapsed().as_secs_f64();
            tabllm_cpu_kernel_check::cpu::attention::check::bench(&now, &mut |l| println!("{l}"));
        }
        "bench-model" => {
            let start = Instant::now();
            let now = || start.elapsed().as_secs_f64();
            check::bench_smollm2(&now, &mut |l| println!("{l}"));
        }
        other => {
            eprintln!("unknown command {other:?}; use check, bench [FILTER], bench-all [FILTER], bench-model or bench-attention");
            std::process::exit(2);
        }
    }
}
