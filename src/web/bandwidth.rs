//! The device's memory bandwidth from the page: a read / write / copy sweep
//! (`bench::measure_bandwidth`) on a GPU device of its own, sized so that it
//! finishes in seconds even on a software rasterizer.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::bench::{self, BandwidthOptions, BandwidthReport, BwOp};
use crate::gpu::{DeviceOptions, GpuContext};

use super::error::{bad_request, internal, to_js};

/// Largest buffer of the default sweep (1 MiB doubling up to this or the device limit).
const DEFAULT_MAX_BYTES: u64 = 256 << 20;
const DEFAULT_RUNS: usize = 5;
const MAX_RUNS: usize = 50;
const DEFAULT_MIN_SAMPLE_SECS: f64 = 0.02;
const MAX_MIN_SAMPLE_SECS: f64 = 1.0;

/// `measure_bandwidth`'s options; every field is optional.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Options {
    /// Largest buffer size in bytes when `sizes` is not given.
    max_bytes: Option<u64>,
    /// Buffer sizes in bytes (rounded down to 16; those above the device limit are skipped).
    sizes: Option<Vec<u64>>,
    /// Any of "read", "write", "copy".
    ops: Option<Vec<BwOp>>,
    /// Timed samples per (op, size), after a warm-up that is not counted.
    runs: Option<usize>,
    /// Each sample repeats the dispatch until it lasts about this long.
    min_sample_secs: Option<f64>,
    /// Most dispatches per sample.
    max_reps: Option<u32>,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    report: BandwidthReport,
    /// How samples were timed: wall clock around submit + completion
    /// (`onSubmittedWorkDone`) over repeated dispatches, warm-up excluded.
    timing: &'static str,
}

/// Measures read / write / copy bandwidth on a new WebGPU device and resolves
/// to JSON: `{adapter: {name, backend, device_type, driver}, limits:
/// {max_buffer_size, max_storage_buffer_binding_size}, results: [{op, bytes,
/// size, reps, gbps: {median, min, max}}], peak_gbps, timing: "wall-clock"}`.
/// `options_json`: `{max_bytes?, sizes?, ops?, runs?, min_sample_secs?, max_reps?}`
/// (`{}` for defaults: all ops, 1 MiB to 256 MiB, 5 runs of at least 20 ms).
/// The browser leaves the adapter's name and driver empty; the page adds
/// `GPUAdapter.info` itself.
#[wasm_bindgen]
pub async fn measure_bandwidth(options_json: String) -> Result<String, JsValue> {
    let o: Options = serde_json::from_str(&options_json).map_err(|e| bad_request(format!("bandwidth options: {e}")))?;
    let d = BandwidthOptions::default();
    let min_sample_secs = o.min_sample_secs.unwrap_or(DEFAULT_MIN_SAMPLE_SECS);
    if !(0.0..=MAX_MIN_SAMPLE_SECS).contains(&min_sample_secs) {
        return Err(bad_request(format!("min_sample_secs must be between 0 and {MAX_MIN_SAMPLE_SECS}")));
    }
    let opts = BandwidthOptions {
        ops: o.ops.unwrap_or_else(|| BwOp::ALL.to_vec()),
        sizes: o.sizes.unwrap_or_default(),
        max_bytes: o.max_bytes.unwrap_or(DEFAULT_MAX_BYTES).min(bench::MAX_SWEEP_BYTES),
        runs: o.runs.unwrap_or(DEFAULT_RUNS).clamp(1, MAX_RUNS),
        min_sample_secs,
        max_reps: o.max_reps.unwrap_or(d.max_reps).max(1),
    };
    let ctx = GpuContext::new(&DeviceOptions::default()).await.map_err(|e| to_js(&e))?;
    let result = bench::measure_bandwidth(&ctx, &opts).await;
    // Release the sweep's buffers now rather than at garbage collection.
    ctx.destroy();
    let report = Report { report: result.map_err(|e| to_js(&e))?, timing: "wall-clock" };
    serde_json::to_string(&report).map_err(internal)
}
