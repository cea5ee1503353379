//! Benchmarks: the device's memory bandwidth (read / write / copy sweeps with
//! the kernels in `shaders/bandwidth.wgsl`), the bytes a decode step reads,
//! and the roofline that ties them together: decode is memory-bound, so
//! tok/s ≤ bandwidth ÷ bytes per token (see DESIGN.md, "Performance principles").
//!
//! Timing is wall clock around submit + wait with enough dispatches per
//! sample to hide the submission cost; it works the same on native and wasm.

use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::gpu::{self, Defines, Extent, GpuContext, GpuError, Op, OpBuilder, Precision};
use crate::model::Model;

/// Smallest size of a sweep.
pub const MIN_SWEEP_BYTES: u64 = 1 << 20;
/// Largest size of a sweep, whatever the device allows.
pub const MAX_SWEEP_BYTES: u64 = 1 << 30;
/// Threads per workgroup of the bandwidth kernels.
pub const BW_WG_SIZE: u32 = 256;
/// vec4 elements each thread handles in a default dispatch (fewer, larger
/// workgroups keep launch overhead low; enough of them fill a large GPU).
const ITEMS_PER_THREAD: u64 = 8;
/// Most workgroups a bandwidth dispatch uses (x only, never folded into y).
pub const MAX_BW_GROUPS: u32 = 8192;
/// Size of the `sums` buffer `read` needs: one u32 per thread.
pub const READ_SUMS_BYTES: u64 = MAX_BW_GROUPS as u64 * BW_WG_SIZE as u64 * 4;

/// One bandwidth kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BwOp {
    Read,
    Write,
    Copy,
}

impl BwOp {
    pub const ALL: [BwOp; 3] = [BwOp::Read, BwOp::Write, BwOp::Copy];

    pub fn name(self) -> &'static str {
        match self {
            BwOp::Read => "read",
            BwOp::Write => "write",
            BwOp::Copy => "copy",
        }
    }

    /// Bytes moved by one run over a buffer of `size` bytes (copy reads and writes).
    pub fn bytes_moved(self, size: u64) -> u64 {
        match self {
            BwOp::Read | BwOp::Write => size,
            BwOp::Copy => 2 * size,
        }
    }

    fn flag(self) -> &'static str {
        match self {
            BwOp::Read => "READ",
            BwOp::Write => "WRITE",
            BwOp::Copy => "COPY",
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct BwParams {
    n: u32,
    pattern: u32,
    _pad: [u32; 2],
}

/// Default workgroup count for `n_vec4` elements.
pub fn default_groups(n_vec4: u64) -> u32 {
    n_vec4.div_ceil(BW_WG_SIZE as u64 * ITEMS_PER_THREAD).clamp(1, MAX_BW_GROUPS as u64) as u32
}

/// The word `write` stores at u32 index `i` (the CPU reference for tests).
pub fn write_pattern(i: u32, pattern: u32) -> u32 {
    i ^ pattern
}

/// Buffers a bandwidth op binds: `a` is read (read, copy) or written (write),
/// `b` receives copies, `sums` one u32 per thread of `read` ([`READ_SUMS_BYTES`]).
pub struct BwBuffers<'a> {
    pub a: &'a wgpu::Buffer,
    pub b: &'a wgpu::Buffer,
    pub sums: &'a wgpu::Buffer,
}

/// Builds one bandwidth dispatch over the first `bytes` (a multiple of 16) of
/// the buffers, with `groups` workgroups (at most [`MAX_BW_GROUPS`]).
pub fn bandwidth_op(
    ctx: &GpuContext,
    op: BwOp,
    step: &wgpu::Buffer,
    bufs: &BwBuffers<'_>,
    bytes: u64,
    groups: u32,
    pattern: u32,
) -> Result<Op, GpuError> {
    assert!(bytes % 16 == 0 && bytes > 0, "bandwidth buffers are whole vec4<u32>s");
    let n = bytes / 16;
    assert!(n <= u32::MAX as u64 / 4, "at most 16 GiB");
    assert!((1..=MAX_BW_GROUPS).contains(&groups));
    let defines = Defines::new().u32("WG_SIZE", BW_WG_SIZE).flag(op.flag());
    let b = OpBuilder::new(ctx, format!("bandwidth.{}", op.name()), "bandwidth.wgsl", op.name(), defines)
        .params(&BwParams { n: n as u32, pattern, _pad: [0; 2] })
        .dispatch(Extent::Fixed(groups), Extent::Fixed(1), Extent::Fixed(1));
    let b = match op {
        BwOp::Read => b.range(bufs.a, 0, bytes).range(bufs.sums, 0, groups as u64 * BW_WG_SIZE as u64 * 4),
        BwOp::Write => b.range(bufs.a, 0, bytes),
        BwOp::Copy => b.range(bufs.a, 0, bytes).range(bufs.b, 0, bytes),
    };
    b.build(step)
}

/// Largest buffer a sweep may use on this device (one binding, 16-byte aligned).
pub fn device_max_bytes(ctx: &GpuContext) -> u64 {
    ctx.limits.max_buffer_size.min(ctx.limits.max_storage_buffer_binding_size as u64) / 16 * 16
}

/// Sweep sizes: 1 MiB doubling up to `max_bytes` (itself capped at 1 GiB).
/// Below 1 MiB the only size is `max_bytes` rounded down to 16 bytes.
pub fn sizes(max_bytes: u64) -> Vec<u64> {
    let max = max_bytes.min(MAX_SWEEP_BYTES);
    if max < MIN_SWEEP_BYTES {
        let s = max / 16 * 16;
        return if s > 0 { vec![s] } else { Vec::new() };
    }
    std::iter::successors(Some(MIN_SWEEP_BYTES), |&s| Some(s * 2)).take_while(|&s| s <= max).collect()
}

/// What [`measure_bandwidth`] measures.
#[derive(Clone, Debug)]
pub struct BandwidthOptions {
    pub ops: Vec<BwOp>,
    /// Buffer sizes in bytes (multiples of 16). Empty: [`sizes`] of the device
    /// maximum, capped by `max_bytes`.
    pub sizes: Vec<u64>,
    /// Cap on the buffer size when `sizes` is empty.
    pub max_bytes: u64,
    /// Timed samples per (op, size), after one warm-up that is not counted.
    pub runs: usize,
    /// Each sample repeats the dispatch until it lasts about this long
    /// (estimated from the warm-up), so submission cost is amortised.
    pub min_sample_secs: f64,
    /// Most dispatches per sample.
    pub max_reps: u32,
}

impl Default for BandwidthOptions {
    fn default() -> Self {
        Self {
            ops: BwOp::ALL.to_vec(),
            sizes: Vec::new(),
            max_bytes: MAX_SWEEP_BYTES,
            runs: 7,
            min_sample_secs: 0.02,
            max_reps: 256,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdapterReport {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

impl AdapterReport {
    pub fn of(ctx: &GpuContext) -> Self {
        let i = &ctx.adapter_info;
        let driver = match (i.driver.is_empty(), i.driver_info.is_empty()) {
            (false, false) => format!("{} {}", i.driver, i.driver_info),
            (false, true) => i.driver.clone(),
            _ => i.driver_info.clone(),
        };
        Self {
            name: i.name.clone(),
            backend: format!("{:?}", i.backend),
            device_type: format!("{:?}", i.device_type),
            driver,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LimitsReport {
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// Median (mean of the middle two for an even count), min and max; `None` when empty.
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Self { median, min: v[0], max: v[n - 1] })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BandwidthResult {
    pub op: BwOp,
    /// Bytes moved by one run (copy: twice the buffer size).
    pub bytes: u64,
    /// Buffer size in bytes.
    pub size: u64,
    /// Dispatches timed together in each sample.
    pub reps: u32,
    pub gbps: Stats,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BandwidthReport {
    pub adapter: AdapterReport,
    pub limits: LimitsReport,
    pub results: Vec<BandwidthResult>,
    /// Best median read bandwidth (decode reads weights), or the best median
    /// of any op when no read was measured; 0 when nothing was.
    pub peak_gbps: f64,
}

impl BandwidthReport {
    fn peak(results: &[BandwidthResult]) -> f64 {
        let best = |only_read: bool| {
            results.iter().filter(|r| !only_read || r.op == BwOp::Read).map(|r| r.gbps.median).fold(0.0, f64::max)
        };
        let r = best(true);
        if r > 0.0 {
            r
        } else {
            best(false)
        }
    }
}

/// Waits until everything submitted so far has finished.
async fn wait_idle(ctx: &GpuContext) -> Result<(), GpuError> {
    let (tx, rx) = futures_channel::oneshot::channel();
    ctx.queue.on_submitted_work_done(move || {
        let _ = tx.send(());
    });
    #[cfg(not(target_arch = "wasm32"))]
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    rx.await.map_err(|_| GpuError::Readback("work-done callback dropped".into()))?;
    ctx.check()
}

/// Submits `reps` dispatches of `op` in one pass and returns the seconds until they finished.
async fn time_reps(ctx: &GpuContext, op: &Op, reps: u32) -> Result<f64, GpuError> {
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        for _ in 0..reps {
            op.encode(&mut pass, &crate::gpu::Step::first(1));
        }
    }
    let cmd = enc.finish();
    let t = Instant::now();
    ctx.queue.submit([cmd]);
    wait_idle(ctx).await?;
    Ok(t.elapsed().as_secs_f64())
}

/// Runs the read / write / copy sweep and reports GB/s (10^9 bytes/s) per op and size.
pub async fn measure_bandwidth(ctx: &GpuContext, opts: &BandwidthOptions) -> Result<BandwidthReport, GpuError> {
    let dev_max = device_max_bytes(ctx);
    let sizes: Vec<u64> = if opts.sizes.is_empty() {
        self::sizes(dev_max.min(opts.max_bytes))
    } else {
        opts.sizes.iter().map(|&s| s / 16 * 16).filter(|&s| s > 0 && s <= dev_max).collect()
    };
    let mut results = Vec::new();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    if largest > 0 && !opts.ops.is_empty() {
        let needs_b = opts.ops.contains(&BwOp::Copy);
        let a = gpu::storage_buffer(ctx, "bandwidth.a", largest);
        let b = gpu::storage_buffer(ctx, "bandwidth.b", if needs_b { largest } else { 16 });
        let sums = gpu::storage_buffer(ctx, "bandwidth.sums", READ_SUMS_BYTES);
        let step = gpu::uniform_buffer(ctx, "bandwidth.step", bytemuck::bytes_of(&gpu::Step { n_tokens: 1, kv_len: 1, ..Default::default() }));
        let bufs = BwBuffers { a: &a, b: &b, sums: &sums };
        for &size in &sizes {
            for &kind in &opts.ops {
                let op = bandwidth_op(ctx, kind, &step, &bufs, size, default_groups(size / 16), 0x5a5a_5a5a)?;
                // Warm-up (pipeline compile, lazy zero-init, caches), not counted;
                // a second single run estimates how many dispatches fill a sample.
                time_reps(ctx, &op, 1).await?;
                let one = time_reps(ctx, &op, 1).await?.max(1e-7);
                let reps = ((opts.min_sample_secs / one).ceil() as u32).clamp(1, opts.max_reps.max(1));
                let moved = kind.bytes_moved(size);
                let mut gbps = Vec::with_capacity(opts.runs.max(1));
                for _ in 0..opts.runs.max(1) {
                    let secs = time_reps(ctx, &op, reps).await?.max(1e-9);
                    gbps.push(moved as f64 * reps as f64 / secs / 1e9);
                }
                let gbps = Stats::of(&gbps).expect("at least one run");
                results.push(BandwidthResult { op: kind, bytes: moved, size, reps, gbps });
            }
        }
    }
    Ok(BandwidthReport {
        adapter: AdapterReport::of(ctx),
        limits: LimitsReport {
            max_buffer_size: ctx.limits.max_buffer_size,
            max_storage_buffer_binding_size: ctx.limits.max_storage_buffer_binding_size as u64,
        },
        peak_gbps: BandwidthReport::peak(&results),
        results,
    })
}

/// Decode against the bandwidth roofline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Roofline {
    /// bytes per token × tokens per second, in GB/s.
    pub implied_gbps: f64,
    /// implied ÷ peak (1.0 = at the measured bandwidth); 0 when peak is not positive.
    pub efficiency: f64,
}

/// `weight_bytes_per_token` in bytes, `decode_tok_s` in tokens/s, `peak_gbps` in GB/s (10^9).
pub fn roofline(weight_bytes_per_token: f64, decode_tok_s: f64, peak_gbps: f64) -> Roofline {
    let implied_gbps = weight_bytes_per_token * decode_tok_s / 1e9;
    let efficiency = if peak_gbps > 0.0 { implied_gbps / peak_gbps } else { 0.0 };
    Roofline { implied_gbps, efficiency }
}

/// What one decode step reads from GPU memory.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct DecodeBytes {
    /// Every weight once, except an untied embedding matrix, of which only
    /// the token's row is read.
    pub weights: f64,
    /// K and V of every layer for `kv_len` positions (a sliding-window
    /// layer's window at most).
    pub kv: f64,
    pub total: f64,
}

/// Bytes a decode step reads with `kv_len` cached positions (pass the mean
/// over the measured steps). Activations are small and not counted.
pub fn decode_bytes_per_token(model: &Model, kv_len: f64) -> DecodeBytes {
    let c = &model.config;
    let weights: f64 = model
        .weight_sizes()
        .iter()
        .map(|(name, bytes)| {
            if name == "token_embd.weight" && !c.tied_output {
                *bytes as f64 / c.vocab.max(1) as f64
            } else {
                *bytes as f64
            }
        })
        .sum();
    let elem = match model.gpu_context().map(|ctx| ctx.precision) {
        Some(Precision::F16) => 2.0,
        // The CPU backend's cache is f32.
        Some(Precision::F32) | None => 4.0,
    };
    // A sliding-window layer reads its window at most (Gemma 3: 5 layers of 6).
    let kv: f64 = (0..c.n_layers)
        .filter_map(|l| c.layer_attention(l))
        .map(|a| {
            let positions = match a.window {
                0 => kv_len,
                w => kv_len.min(w as f64),
            };
            2.0 * (c.n_kv_heads * a.head_dim) as f64 * elem * positions
        })
        .sum();
    DecodeBytes { weights, kv, total: weights + kv }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_double_from_one_mib() {
        assert_eq!(sizes(8 << 20), vec![1 << 20, 2 << 20, 4 << 20, 8 << 20]);
        assert_eq!(sizes((8 << 20) - 1), vec![1 << 20, 2 << 20, 4 << 20]);
        assert_eq!(*sizes(u64::MAX).last().unwrap(), MAX_SWEEP_BYTES);
        assert_eq!(sizes(1000), vec![992]);
        assert!(sizes(15).is_empty());
    }

    #[test]
    fn stats_median_min_max() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Stats::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert!(Stats::of(&[]).is_none());
    }
}
