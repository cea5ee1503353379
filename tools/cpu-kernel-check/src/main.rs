//! Native runner: `cargo run --release -p tabllm-cpu-kernel-check -- [check | bench [FILTER]]`.

use std::time::Instant;
use tabllm_cpu_kernel_check::{cpu::matmul::check, run_checks};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str).unwrap_or("check") {
        "check" => {
            let failed = run_checks(&mut |l| println!("{l}"));
            std::process::exit(if failed == 0 { 0 } else { 1 });
        }
        "bench" => {
            let start = Instant::now();
            let filter = args.get(1).map(String::as_str).unwrap_or("");
            check::bench(&|| start.elapsed().as_secs_f64(), filter, &mut |l| {
                println!("{l}")
            });
        }
        other => {
            eprintln!("unknown command {other:?}; use check or bench [FILTER]");
            std::process::exit(2);
        }
    }
}
