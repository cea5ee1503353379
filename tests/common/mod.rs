//! Shared test helpers: GPU contexts for both precisions, seeded data, paths.
#![allow(dead_code)]

pub mod cpu;
pub mod reference;
pub mod tiny;

use tabllm::gpu::{self, DeviceOptions, PrefillKernels, GpuContext, MatvecVariant, Op, Precision, Step};
use tabllm::model::PrefillPath;

/// Repository paths: models are fetched into `models/`, references live in
/// `../shared/reference/` (CI clones the repo with `shared/` beside it).
pub fn shared(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference").join(path)
}

pub fn model_path(file: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(file);
    assert!(p.exists(), "{} is missing: run scripts/fetch-models.sh (the test command does)", p.display());
    p
}

/// One context per precision the adapter offers: f32 always, f16 when it has shader-f16.
pub fn contexts() -> Vec<GpuContext> {
    let mut v = vec![GpuContext::new_blocking(&DeviceOptions { force_f32: true, ..Default::default() }).expect("GPU adapter (install mesa-vulkan-drivers)")];
    let f16 = GpuContext::new_blocking(&DeviceOptions::default()).expect("GPU adapter");
    if f16.precision == Precision::F16 {
        v.push(f16);
    } else {
        eprintln!("note: adapter has no shader-f16; f16 path not exercised");
    }
    v
}

/// Contexts for the prefill kernels (GEMM, flash attention): both layouts on
/// each precision the adapter offers (on lavapipe the adapter's own is
/// `TokenLanes`; `Tiled` is what a GPU runs, forced here so CI runs it too).
pub fn prefill_contexts() -> Vec<GpuContext> {
    let mut v = Vec::new();
    for gemm in [PrefillKernels::Tiled, PrefillKernels::TokenLanes] {
        for force_f32 in [true, false] {
            let ctx = GpuContext::new_blocking(&DeviceOptions { force_f32, prefill_kernels: Some(gemm), ..Default::default() }).expect("GPU adapter");
            assert_eq!(ctx.prefill_kernels, gemm);
            if force_f32 || ctx.precision == Precision::F16 {
                v.push(ctx);
            }
        }
    }
    v
}

/// One context per matvec variant a device runs, each forced, on each
/// precision the adapter offers: one invocation per row (CPU adapters), lanes
/// reduced in workgroup memory (GPUs without `subgroups`), lanes reduced with
/// subgroup shuffles (GPUs with them), for kernels built on
/// `common/matvec_core.wgsl`. Lavapipe has `subgroups`; an adapter without it
/// fails here rather than skip the variant.
pub fn matvec_contexts() -> Vec<GpuContext> {
    let mut v = Vec::new();
    for force_f32 in [true, false] {
        let own = GpuContext::new_blocking(&DeviceOptions { force_f32, ..Default::default() }).expect("GPU adapter");
        if !force_f32 && own.precision != Precision::F16 {
            eprintln!("note: adapter has no shader-f16; f16 path not exercised");
            break;
        }
        let min_subgroup = own.adapter_info.subgroup_min_size;
        // Lanes 1 would build the subgroup variant without its shuffles.
        assert!(min_subgroup >= 2, "the adapter's smallest subgroup is {min_subgroup}: the subgroup matvec would not be exercised");
        for matvec in [MatvecVariant::ThreadPerRow, MatvecVariant::SharedLanes { lanes: 16 }, MatvecVariant::SubgroupLanes { lanes: min_subgroup.min(16) }] {
            let ctx = GpuContext::new_blocking(&DeviceOptions { force_f32, matvec: Some(matvec), ..Default::default() })
                .unwrap_or_else(|e| panic!("forcing {matvec:?}: {e}"));
            assert_eq!(ctx.matvec, matvec);
            v.push(ctx);
        }
    }
    v
}

/// A device and model set-up a test runs under.
pub struct Config {
    pub ctx: GpuContext,
    /// `LoadOptions::fuse`.
    pub fuse: bool,
    /// `LoadOptions::prefill`.
    pub prefill: PrefillPath,
    pub label: String,
}

/// Every kernel path a device can take, each forced on this adapter: both
/// precisions with the adapter's own matvec (one invocation per row on
/// lavapipe), the unfused op list, and the two GPU matvecs (lanes reduced in
/// workgroup memory; lanes reduced with subgroup shuffles) on the f16 path a
/// real GPU runs; and the GEMM prefill list for every multi-token step, on
/// packed (fused) and separate (unfused) weights. Lavapipe has `subgroups`;
/// an adapter without it fails here rather than skip the variant.
pub fn configs() -> Vec<Config> {
    let mut v: Vec<Config> =
        contexts().into_iter().map(|ctx| Config { label: format!("{} {:?} fused", label(&ctx), ctx.matvec), ctx, fuse: true, prefill: PrefillPath::Matvec }).collect();
    let unfused = GpuContext::new_blocking(&DeviceOptions { force_f32: true, ..Default::default() }).unwrap();
    v.push(Config { label: format!("{} {:?} unfused, GEMM prefill {:?}", label(&unfused), unfused.matvec, unfused.prefill_kernels), ctx: unfused, fuse: false, prefill: PrefillPath::Gemm });
    for variant in [PrefillKernels::Tiled, PrefillKernels::TokenLanes] {
        let gemm = GpuContext::new_blocking(&DeviceOptions { prefill_kernels: Some(variant), ..Default::default() }).unwrap();
        v.push(Config { label: format!("{} {:?} fused, GEMM prefill {variant:?}", label(&gemm), gemm.matvec), ctx: gemm, fuse: true, prefill: PrefillPath::Gemm });
    }
    let min_subgroup = v[0].ctx.adapter_info.subgroup_min_size;
    for matvec in [MatvecVariant::SharedLanes { lanes: 16 }, MatvecVariant::SubgroupLanes { lanes: min_subgroup.min(16) }] {
        let ctx = GpuContext::new_blocking(&DeviceOptions { matvec: Some(matvec), ..Default::default() })
            .unwrap_or_else(|e| panic!("forcing {matvec:?}: {e}"));
        assert_eq!(ctx.matvec, matvec);
        v.push(Config { label: format!("{} {matvec:?} fused", label(&ctx)), ctx, fuse: true, prefill: PrefillPath::Matvec });
    }
    v
}

pub fn label(ctx: &GpuContext) -> &'static str {
    match ctx.precision {
        Precision::F32 => "f32",
        Precision::F16 => "f16",
    }
}

/// f32 data in a buffer made as the model's activations are
/// (`gpu::activation_buffer`: decode kernels on CPU adapters may read it as
/// a uniform window, so kernel tests take that path as the model does).
pub fn buffer_f32(ctx: &GpuContext, data: &[f32]) -> wgpu::Buffer {
    let b = gpu::activation_buffer(ctx, "test", (data.len() * 4) as u64);
    ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(data));
    b
}

pub fn buffer_bytes(ctx: &GpuContext, data: &[u8]) -> wgpu::Buffer {
    let b = gpu::storage_buffer(ctx, "test", data.len() as u64);
    let mut padded = data.to_vec();
    padded.resize(data.len().next_multiple_of(4), 0);
    ctx.queue.write_buffer(&b, 0, &padded);
    b
}

pub fn step_buffer(ctx: &GpuContext, pos0: u32, n_tokens: u32) -> wgpu::Buffer {
    let s = Step { pos0, n_tokens, kv_len: pos0 + n_tokens, _pad: 0 };
    gpu::uniform_buffer(ctx, "step", bytemuck::bytes_of(&s))
}

pub fn set_step(ctx: &GpuContext, step: &wgpu::Buffer, pos0: u32, n_tokens: u32) {
    let s = Step { pos0, n_tokens, kv_len: pos0 + n_tokens, _pad: 0 };
    ctx.queue.write_buffer(step, 0, bytemuck::bytes_of(&s));
}

pub fn run(ctx: &GpuContext, ops: &[Op], n_tokens: u32) {
    run_step(ctx, ops, &Step::first(n_tokens));
}

/// Encodes `ops` for step `s` (its n_tokens and kv_len choose the grids) and
/// submits them; the step uniform the kernels read is the caller's to write.
pub fn run_step(ctx: &GpuContext, ops: &[Op], s: &Step) {
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        for op in ops {
            op.encode(&mut pass, s);
        }
    }
    ctx.queue.submit([enc.finish()]);
    ctx.check().expect("GPU error");
}

pub fn read_f32(ctx: &GpuContext, buf: &wgpu::Buffer, n: usize) -> Vec<f32> {
    let bytes = pollster::block_on(gpu::read_buffer(ctx, buf, (n * 4) as u64)).expect("readback");
    bytemuck::cast_slice(&bytes).to_vec()
}

pub fn read_u32(ctx: &GpuContext, buf: &wgpu::Buffer, n: usize) -> Vec<u32> {
    let bytes = pollster::block_on(gpu::read_buffer(ctx, buf, (n * 4) as u64)).expect("readback");
    bytemuck::cast_slice(&bytes).to_vec()
}

/// Seeded inputs that are the same on every machine (the sampler's SplitMix64).
pub struct Rng(tabllm::sampler::Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(tabllm::sampler::Rng::new(seed))
    }


    /// n values uniform in [-scale, scale).
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.0.uniform(-scale, scale)).collect()
    }
}

/// Fails with the first index whose |got - want| > tol * (1 + |want|).
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0f32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs() / (1.0 + w.abs());
        if !(err <= tol) {
            panic!("{what}: index {i}: got {g}, want {w} (relative error {err} > tolerance {tol})");
        }
        if err > worst.1 {
            worst = (i, err);
        }
    }
    eprintln!("{what}: ok, worst relative error {:.2e} at {} (tolerance {tol})", worst.1, worst.0);
}

/// WebGPU's guaranteed `maxComputeWorkgroupStorageSize`. Native devices
/// (lavapipe: 32 KiB) take more, so a kernel over it would pass here and
/// fail on a browser at the default limit: [`assert_workgroup_memory_fits`]
/// checks it.
pub const WEBGPU_WORKGROUP_BYTES: u32 = 16384;

/// Workgroup memory of every pipeline `ctx` has built whose shader is
/// `shader`: per pipeline key, the workgroup variables its entry point
/// uses, each rounded up to 16 bytes as browsers count them (naga's
/// layout of the preprocessed source).
pub fn pipeline_workgroup_bytes(ctx: &GpuContext, shader: &str) -> Vec<(gpu::PipelineKey, u32)> {
    use wgpu::naga;
    let mut v = Vec::new();
    for key in ctx.pipelines.keys().into_iter().filter(|k| k.shader == shader) {
        let src = gpu::preprocess(key.shader, &key.defines).unwrap();
        let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{key:?}: {e}"));
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{key:?}: {e:?}"));
        let mut layout = naga::proc::Layouter::default();
        layout.update(module.to_ctx()).unwrap();
        let ep = module.entry_points.iter().position(|e| e.name == key.entry).unwrap();
        let uses = info.get_entry_point(ep);
        let bytes = module
            .global_variables
            .iter()
            .filter(|(h, g)| g.space == naga::AddressSpace::WorkGroup && !uses[*h].is_empty())
            .map(|(_, g)| layout[g.ty].size.next_multiple_of(16))
            .sum();
        v.push((key, bytes));
    }
    v
}

/// Every pipeline of `shader` that `ctx` has built fits WebGPU's default
/// workgroup memory. Returns the largest use (bytes).
pub fn assert_workgroup_memory_fits(ctx: &GpuContext, shader: &str) -> u32 {
    let all = pipeline_workgroup_bytes(ctx, shader);
    assert!(!all.is_empty(), "no pipeline of {shader} was built");
    for (key, bytes) in &all {
        assert!(*bytes <= WEBGPU_WORKGROUP_BYTES, "{shader} {} {:?}: {bytes} bytes of workgroup memory, over WebGPU's {WEBGPU_WORKGROUP_BYTES}", key.entry, key.defines);
    }
    all.iter().map(|(_, b)| *b).max().unwrap_or(0)
}
