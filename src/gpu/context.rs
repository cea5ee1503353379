//! Adapter and device: limits negotiated up to what the adapter offers,
//! optional features (`shader-f16`) detected, device loss and uncaptured
//! errors turned into typed errors instead of panics.

use std::sync::{Arc, Mutex};

use super::pipelines::PipelineCache;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no WebGPU/Vulkan adapter is available: {0}")]
    NoAdapter(String),
    #[error("could not create the GPU device: {0}")]
    RequestDevice(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
    #[error("GPU validation error: {0}")]
    Validation(String),
    #[error("tensor `{name}` needs {bytes} bytes in one buffer but this device allows at most {limit}; a smaller quantization of the model (or a smaller model) may fit")]
    TensorTooLarge { name: String, bytes: u64, limit: u64 },
    #[error("buffer read-back failed: {0}")]
    Readback(String),
    #[error(transparent)]
    Shader(#[from] super::preprocess::ShaderError),
}

/// Which arithmetic the kernels use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// f32 storage and arithmetic everywhere (any WebGPU device).
    F32,
    /// `shader-f16`: the KV cache stored in f16 (half the attention traffic and
    /// memory, as llama.cpp's default cache); arithmetic stays f32.
    F16,
}

/// How the dequantize-matmul kernels (`shaders/common/matvec_core.wgsl`)
/// spread one weight row over invocations. Chosen from the adapter; tests
/// force each in turn so the code a real GPU runs is the code CI checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatvecVariant {
    /// One invocation per row, no reduction: CPU adapters (lavapipe,
    /// SwiftShader), where barriers are costly.
    ThreadPerRow,
    /// `lanes` consecutive invocations per row (coalesced reads), summed by a
    /// tree in workgroup memory: GPUs without `subgroups`.
    SharedLanes { lanes: u32 },
    /// `lanes` invocations per row summed with `subgroupShuffleXor`: GPUs
    /// with `subgroups` whose smallest subgroup holds `lanes`.
    SubgroupLanes { lanes: u32 },
}

impl MatvecVariant {
    /// Invocations per weight row (`TPR` in the shaders).
    pub fn lanes(self) -> u32 {
        match self {
            MatvecVariant::ThreadPerRow => 1,
            MatvecVariant::SharedLanes { lanes } | MatvecVariant::SubgroupLanes { lanes } => lanes,
        }
    }

    /// Whether the fused decode kernels apply a pending post-norm residual
    /// add on their way in (`PENDING` in `shaders/common/matvec_x.wgsl`),
    /// or the forward pass runs it as its own rmsnorm_add (+ scale) ops
    /// first (`model::Recorder::folds_pending`). A folded kernel sums xb's
    /// squares (the rms) and computes x' = (x + rmsnorm(xb) · g) · s as it
    /// reads x (`pending_prologue`, `x_at` in
    /// `shaders/common/matvec_core.wgsl`): with lanes per row the lanes split
    /// that sum (GPUs: fewer dispatches for little more work), but with one
    /// invocation per row every invocation sums the whole of xb itself, once
    /// per weight row, which on CPU adapters costs more than the dispatches
    /// it saves (lavapipe, Gemma 3 270M decode, `tabllm bench
    /// --pp 0 --tg 16`: 1.04 tok/s folded in 93 dispatches, 1.98 as
    /// separate ops in 129).
    pub fn folds_pending_add(self) -> bool {
        !matches!(self, MatvecVariant::ThreadPerRow)
    }
}

/// How the prefill kernels (the GEMM, flash attention) divide their work.
/// Chosen from the adapter; tests force each in turn, as for
/// [`MatvecVariant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefillKernels {
    /// Tiles staged in workgroup memory (`shaders/gemm.wgsl`: weight rows x
    /// tokens, 8 x 8 outputs per invocation; `shaders/flash_attention.wgsl`:
    /// K/V blocks shared by a tile of queries): GPUs.
    Tiled,
    /// One SIMD vector of invocations per workgroup whose lanes take tokens
    /// and all read the same weight block or K/V row, with no workgroup
    /// memory or barrier (`shaders/gemm_token_lanes.wgsl`,
    /// `shaders/flash_attention_token_lanes.wgsl`): CPU adapters, where both
    /// cost a loop over the lanes. Their decode attention takes the lanes'
    /// layout too (`shaders/attention_position_lanes.wgsl`: each lane its own
    /// cache rows).
    TokenLanes,
}

/// Lanes per row on GPUs: 16 reads of a row's blocks in flight together.
const GPU_LANES: u32 = 16;

/// What the caller wants from the device.
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    /// Use f32 even when the adapter has `shader-f16`.
    pub force_f32: bool,
    /// Cap `maxStorageBufferBindingSize` (e.g. at WebGPU's default 128 MiB) to
    /// behave like a smaller device.
    pub max_binding_size: Option<u64>,
    /// Treat the adapter as a CPU rasterizer (or not), whatever it reports. In
    /// the browser wgpu sees no device type, but the page can tell SwiftShader
    /// from `GPUAdapterInfo`; kernels pick CPU-friendly shapes on such adapters.
    pub software_adapter: Option<bool>,
    /// Force a matvec variant (tests, diagnostics) instead of the adapter's.
    /// `SubgroupLanes` on an adapter without `subgroups`, or with more lanes
    /// than its smallest subgroup, is refused with `GpuError::RequestDevice`.
    pub matvec: Option<MatvecVariant>,
    /// Force the prefill kernels' layout (tests, diagnostics) instead of the adapter's.
    pub prefill_kernels: Option<PrefillKernels>,
    /// Browser: encode steps through wgpu calls instead of the one-call JS
    /// replay (diagnostics: the host cost per dispatch, before and after).
    pub no_web_replay: bool,
}

/// Device, queue, negotiated limits and the pipeline cache, shared by every kernel.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter_info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub precision: Precision,
    pub matvec: MatvecVariant,
    pub prefill_kernels: PrefillKernels,
    /// Browser: steps are encoded by one call into JavaScript
    /// (`gpu::web_replay`) instead of three wgpu calls per dispatch.
    pub web_replay: bool,
    pub pipelines: PipelineCache,
    /// Asynchronous failures, each kept apart so a loss is always told as a
    /// loss even when a validation error about the dead device came first.
    fault: Arc<Fault>,
}

/// What the device reported after the call that caused it returned.
#[derive(Default)]
struct Fault {
    /// Why the device was lost (`device.lost` resolved, or `destroy()`).
    lost: Mutex<Option<String>>,
    /// The first uncaptured error, or one caught by an allocation's error scope.
    error: Mutex<Option<String>>,
}

impl Fault {
    fn record(slot: &Mutex<Option<String>>, msg: String) {
        slot.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(msg);
    }
}

impl GpuContext {
    /// Picks the high-performance adapter and creates a device with its limits.
    pub async fn new(opts: &DeviceOptions) -> Result<Self, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if cfg!(not(target_arch = "wasm32")) && std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = wgpu::Backends::PRIMARY;
        }
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        Self::from_adapter(adapter, opts).await
    }

    pub async fn from_adapter(adapter: wgpu::Adapter, opts: &DeviceOptions) -> Result<Self, GpuError> {
        let offered = adapter.limits();
        let mut limits = wgpu::Limits::default();
        // Take every buffer-size limit the adapter offers: weights are large.
        limits.max_buffer_size = offered.max_buffer_size;
        limits.max_storage_buffer_binding_size = offered.max_storage_buffer_binding_size;
        if let Some(cap) = opts.max_binding_size {
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(cap);
        }
        limits.max_storage_buffers_per_shader_stage =
            offered.max_storage_buffers_per_shader_stage.min(16).max(8);
        limits.max_compute_workgroup_storage_size = offered.max_compute_workgroup_storage_size;
        limits.max_compute_invocations_per_workgroup = offered.max_compute_invocations_per_workgroup;
        limits.max_compute_workgroup_size_x = offered.max_compute_workgroup_size_x;

        let has_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let precision = if has_f16 && !opts.force_f32 { Precision::F16 } else { Precision::F32 };
        let mut features = wgpu::Features::empty();
        if precision == Precision::F16 {
            features |= wgpu::Features::SHADER_F16;
        }
        let info = adapter.get_info();
        let has_subgroups = adapter.features().contains(wgpu::Features::SUBGROUP);
        let cpu = match opts.software_adapter {
            Some(s) => s,
            None => info.device_type == wgpu::DeviceType::Cpu,
        };
        let matvec = match opts.matvec {
            Some(MatvecVariant::SubgroupLanes { lanes }) if !has_subgroups || lanes > info.subgroup_min_size || !lanes.is_power_of_two() => {
                return Err(GpuError::RequestDevice(format!(
                    "the subgroup matvec with {lanes} lanes needs `subgroups` and subgroups of at least {lanes} (adapter: {}, smallest subgroup {})",
                    if has_subgroups { "has subgroups" } else { "no subgroups" },
                    info.subgroup_min_size
                )))
            }
            Some(v) => v,
            // On a CPU adapter one invocation per row reads x at the same
            // element in every lane, which the decode kernels then take from a
            // uniform buffer (one load for all lanes, where a storage read is
            // a loop over them): SmolLM2 decode on lavapipe 7.96 tok/s, subgroup
            // lanes 4.85 (`tabllm bench --tg 16 --matvec row|subgroup`).
            None if cpu => MatvecVariant::ThreadPerRow,
            None if has_subgroups && info.subgroup_min_size >= 4 => MatvecVariant::SubgroupLanes { lanes: info.subgroup_min_size.min(GPU_LANES) },
            None => MatvecVariant::SharedLanes { lanes: GPU_LANES },
        };
        if matches!(matvec, MatvecVariant::SubgroupLanes { .. }) {
            features |= wgpu::Features::SUBGROUP;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("tabllm"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let mut info = info;
        match opts.software_adapter {
            Some(true) => info.device_type = wgpu::DeviceType::Cpu,
            Some(false) if info.device_type == wgpu::DeviceType::Cpu => info.device_type = wgpu::DeviceType::Other,
            _ => {}
        }
        let mut ctx = Self::from_device(device, queue, info, precision);
        ctx.matvec = matvec;
        ctx.prefill_kernels = opts.prefill_kernels.unwrap_or(if cpu { PrefillKernels::TokenLanes } else { PrefillKernels::Tiled });
        ctx.web_replay = cfg!(target_arch = "wasm32") && !opts.no_web_replay;
        Ok(ctx)
    }

    /// Wraps an existing device (tests pass their own).
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_info: wgpu::AdapterInfo,
        precision: Precision,
    ) -> Self {
        let fault = Arc::new(Fault::default());
        let lost = fault.clone();
        device.set_device_lost_callback(move |reason, msg| Fault::record(&lost.lost, format!("{reason:?}: {msg}")));
        let uncaptured = fault.clone();
        device.on_uncaptured_error(Arc::new(move |err: wgpu::Error| Fault::record(&uncaptured.error, err.to_string())));
        let limits = device.limits();
        let cpu = adapter_info.device_type == wgpu::DeviceType::Cpu;
        let matvec = if cpu { MatvecVariant::ThreadPerRow } else { MatvecVariant::SharedLanes { lanes: GPU_LANES } };
        Self {
            matvec,
            prefill_kernels: if cpu { PrefillKernels::TokenLanes } else { PrefillKernels::Tiled },
            web_replay: false,
            device,
            queue,
            adapter_info,
            limits,
            precision,
            pipelines: PipelineCache::default(),
            fault,
        }
    }

    /// Native convenience: block on [`GpuContext::new`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(opts: &DeviceOptions) -> Result<Self, GpuError> {
        pollster::block_on(Self::new(opts))
    }

    /// The first asynchronous failure, as an error: a lost device first
    /// (whatever else it caused), then a validation or out-of-memory error.
    pub fn check(&self) -> Result<(), GpuError> {
        if let Some(msg) = self.fault.lost.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Err(GpuError::DeviceLost(msg.clone()));
        }
        match self.fault.error.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            None => Ok(()),
            Some(msg) => Err(GpuError::Validation(msg.clone())),
        }
    }

    /// Destroys the device now (its memory is freed at once; every later call
    /// fails with [`GpuError::DeviceLost`]). Recorded here too, since the
    /// lost callback may run only later.
    pub fn destroy(&self) {
        Fault::record(&self.fault.lost, "Destroyed: the device was destroyed".into());
        self.device.destroy();
    }

    /// Creates buffers with `f` inside out-of-memory and validation error
    /// scopes, so a failed allocation is reported as that allocation's (named
    /// `what`) rather than blamed on whatever call checks next. The scopes'
    /// results arrive asynchronously in the browser: [`GpuContext::settle`]
    /// waits for them.
    pub fn allocating<T>(&self, what: &str, f: impl FnOnce() -> T) -> T {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let (validation, oom) = (validation.pop(), oom.pop());
        let fault = self.fault.clone();
        let what = what.to_string();
        let report = async move {
            for e in [validation.await, oom.await].into_iter().flatten() {
                Fault::record(&fault.error, format!("allocating {what}: {e}"));
            }
        };
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_futures::spawn_local(report);
        #[cfg(not(target_arch = "wasm32"))]
        pollster::block_on(report);
        out
    }

    /// After a call failed for no reason given: waits (up to half a second,
    /// in browser tasks) for `device.lost` to tell whether the device is
    /// gone, so the failure is reported as the loss it is.
    pub async fn wait_for_loss(&self) {
        let until = web_time::Instant::now() + std::time::Duration::from_millis(500);
        while self.fault.lost.lock().unwrap_or_else(|e| e.into_inner()).is_none() && web_time::Instant::now() < until {
            if cfg!(not(target_arch = "wasm32")) {
                break; // natively, wgpu reports a loss during `poll`
            }
            next_task().await;
        }
    }

    /// Waits until the GPU finished what was submitted and the browser
    /// delivered what it reports asynchronously (error scopes, device loss),
    /// then [`GpuContext::check`]s.
    pub async fn settle(&self) -> Result<(), GpuError> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
        let done = rx.await;
        next_task().await;
        self.check()?;
        done.map_err(|_| GpuError::DeviceLost("the device stopped before finishing its work".into()))
    }

    pub fn max_binding_size(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size as u64
    }

    pub fn has_f16(&self) -> bool {
        self.precision == Precision::F16
    }
}

/// Lets the browser run its pending tasks (promise callbacks such as
/// `device.lost` and popped error scopes) before going on. Nothing to wait
/// for natively: wgpu calls back during `poll`.
pub async fn next_task() {
    #[cfg(target_arch = "wasm32")]
    {
        use wasm_bindgen::JsCast;
        let p = js_sys::Promise::new(&mut |resolve, _| {
            let global = js_sys::global();
            match js_sys::Reflect::get(&global, &"setTimeout".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok()) {
                Some(set_timeout) => drop(set_timeout.call2(&global, &resolve, &0.into())),
                None => drop(resolve.call0(&wasm_bindgen::JsValue::NULL)),
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(p).await;
    }
}
